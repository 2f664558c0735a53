/**
 * Which preprocessing fits a model (SPEC §3): every audit scores the presets on the first
 * samples; `auto` keeps the best one, and any choice that scores well below the best, or an
 * `auto` choice that the samples cannot tell from another, is flagged. Pure functions of the
 * scores, so the rule is tested without a model.
 */
import { AUTO_PRESETS } from '../data/preprocess.js';

/** One preprocessing scored on the first `samples` images. */
export interface PreprocessingCandidate {
  name: string;
  accuracy: number;
  samples: number;
}

/** Images the candidates are scored on (or all of them when an audit takes fewer). */
export const CANDIDATE_SAMPLES = 256;
/**
 * With the preprocessing given (a preset or mean/std), the scores only check it: a first look on
 * this many images, taken to {@link CANDIDATE_SAMPLES} only when {@link worthConfirming} says so.
 * Scoring three presets on 256 images cost a WideResNet-28-10 audit of 200 images more than its
 * measurement pass (issue 13).
 */
export const CHECK_SAMPLES = 64;
/**
 * Clean accuracy below this (20%) is near chance for ten classes: flagged on its own (SPEC §3),
 * and a candidate scoring below it is no better fit to name than the preprocessing it beats.
 */
export const CHANCE_ACCURACY = 0.2;
/** A choice this far below the best candidate (10 points) probably does not match the model. */
export const MISMATCH_MARGIN = 0.1;
/**
 * Candidates this close to the best (3 points) are a tie: about one standard error of an
 * accuracy near 50% on 256 images, so the samples cannot tell them apart.
 */
export const AMBIGUITY_MARGIN = 0.03;
/** Accuracies are multiples of 1/samples; this keeps a difference of exactly the margin on its side. */
const ROUNDING = 1e-9;

/** The presets scoring within {@link AMBIGUITY_MARGIN} of the best, in {@link AUTO_PRESETS} order. */
function tiedWithBest(candidates: readonly PreprocessingCandidate[]): PreprocessingCandidate[] {
  const presets = candidates.filter((c) => (AUTO_PRESETS as readonly string[]).includes(c.name));
  if (presets.length === 0) throw new RangeError('no preset was scored');
  const best = Math.max(...presets.map((c) => c.accuracy));
  const order = (c: PreprocessingCandidate): number => (AUTO_PRESETS as readonly string[]).indexOf(c.name);
  return presets.filter((c) => best - c.accuracy <= AMBIGUITY_MARGIN + ROUNDING).sort((a, b) => order(a) - order(b));
}

/**
 * The `auto` choice: the best-scoring preset, or, when others score within 3 points of it, the
 * first of those in the order none, cifar10, imagenet. A tie is noise, and breaking it by a
 * fixed order rather than by one or two images keeps the choice stable between similar models
 * (the checkpoints of one training run).
 */
export function autoPreset(candidates: readonly PreprocessingCandidate[]): string {
  return tiedWithBest(candidates)[0].name;
}

/**
 * Whether a first look at the scores ({@link CHECK_SAMPLES} images) could end in a mismatch flag:
 * some candidate that is not near chance scores more than half the {@link MISMATCH_MARGIN} above
 * the given preprocessing. Then every candidate is scored on up to {@link CANDIDATE_SAMPLES}
 * images, so that a flag rests on as many images as before; a gap that small on 64 images rarely
 * grows past 10 points on 256. Models near chance under every preset (random weights) are not
 * confirmed: their scores differ by noise.
 */
export function worthConfirming(given: string, candidates: readonly PreprocessingCandidate[]): boolean {
  const mine = candidates.find((c) => c.name === given);
  if (!mine) throw new RangeError(`${given} was not scored`);
  return candidates.some((c) => c.accuracy >= CHANCE_ACCURACY && c.accuracy - mine.accuracy > MISMATCH_MARGIN / 2 + ROUNDING);
}

/**
 * A candidate part-way through its scoring: `correct` answers on the first `scored` of the
 * `total` images it is to be scored on.
 */
export interface PartialScore {
  name: string;
  correct: number;
  scored: number;
  total: number;
}

/** What the report lists: the accuracy on the images scored, and how many they were. */
export function scoredSoFar(p: PartialScore): PreprocessingCandidate {
  return { name: p.name, accuracy: p.correct / p.scored, samples: p.scored };
}

/** The highest final score still possible: every image not yet scored answered right. */
function bestCase(p: PartialScore): PreprocessingCandidate {
  return { name: p.name, accuracy: (p.correct + p.total - p.scored) / p.total, samples: p.total };
}

/**
 * Whether scoring a candidate of a given preprocessing's check further can still change what
 * the check decides: `decides` is the rule of the stage ({@link worthConfirming} on the first
 * look, a mismatch flag of {@link preprocessingFlags} on the final scores) applied to the given
 * preprocessing and one candidate. Both rules only grow more likely as the candidate's accuracy
 * grows, so once even its best case does not trigger the rule, no final score would, and neither
 * does the accuracy on the images scored so far (never above the best case): the check decides
 * as if every candidate had been scored on every image.
 */
export function couldChallenge(
  decides: (candidates: PreprocessingCandidate[]) => boolean,
  given: PreprocessingCandidate,
  candidate: PartialScore,
): boolean {
  return decides([given, bestCase(candidate)]);
}

/**
 * Under `auto`: whether a preset can still end up the best or tied with it ({@link autoPreset}).
 * Each other preset will score at least what it has so far (every remaining image wrong); a
 * preset whose best case stays more than {@link AMBIGUITY_MARGIN} below that is neither chosen
 * nor listed as a tie, whatever the remaining images say, and its accuracy so far is lower still.
 */
export function couldTieBest(preset: PartialScore, others: readonly PartialScore[]): boolean {
  const leaderAtLeast = Math.max(0, ...others.map((o) => o.correct / o.total));
  return leaderAtLeast - bestCase(preset).accuracy <= AMBIGUITY_MARGIN + ROUNDING;
}

/**
 * Scores candidate `index` on some more of its images (at least one, at most up to
 * `score.total`) and adds them to `score`. The audit runs the model; the tests read made-up answers.
 */
export type ScoreMore = (index: number, score: PartialScore) => Promise<void>;

/**
 * The presets under `auto`, each on up to `n` images. A preset stops being scored once it can no
 * longer be the best or tie with it ({@link couldTieBest}), so {@link autoPreset} and the flags
 * come out as if every preset had been scored on every image. Each preset gets a first look, then
 * the leader so far is scored on: once its score is known, the others fall out of reach soonest.
 */
export async function scoreAutoPresets(names: readonly string[], n: number, more: ScoreMore): Promise<PartialScore[]> {
  const scores = names.map((name): PartialScore => ({ name, correct: 0, scored: 0, total: n }));
  const rate = (i: number): number => scores[i].correct / scores[i].scored;
  for (;;) {
    const open = scores.map((_, i) => i).filter((i) => scores[i].scored < n && couldTieBest(scores[i], scores.filter((_, j) => j !== i)));
    if (open.length === 0) return scores;
    const next = open.find((i) => scores[i].scored === 0) ?? open.reduce((a, b) => (rate(b) > rate(a) ? b : a));
    await more(next, scores[next]);
  }
}

/**
 * Largest model whose probe session stays open through the measurement pass for the check of a
 * given preprocessing. A bigger one is closed and opened again after it, so that its weights are
 * not held twice while the measurement pass peaks. For the WideResNet-28-10 (146 MB) keeping it
 * open is the better trade: opening it again cost 1.2 to 2.1 s of a 29 to 33 s audit, keeping it
 * costs 0.15 to 0.2 GB of peak RSS (2.03 to 2.08 GB; 3 audits each, 2026-12-03). Here rather
 * than in the audit, so that the worker's memory estimate reads it without loading the runtime.
 */
export const PROBE_KEPT_OPEN_MAX_BYTES = 256 * 2 ** 20;

/** A given preprocessing (slot `given` of `names`) and its own correct answers from the measurement pass. */
export interface GivenPreprocessing {
  names: readonly string[];
  given: number;
  chosenBy: 'preset' | 'explicit';
  /** The audit's images. */
  samples: number;
  /** Its correct answers on the first {@link CHECK_SAMPLES} and the first {@link CANDIDATE_SAMPLES} images (or all, when fewer). */
  correctFirst: { check: number; candidate: number };
}

/**
 * The check of a given preprocessing: the other candidates get a first look on
 * {@link CHECK_SAMPLES} images, and are scored on {@link CANDIDATE_SAMPLES} when that look could
 * end in a flag ({@link worthConfirming}). A candidate stops once it can no longer change the
 * outcome ({@link couldChallenge}); every candidate is scored on at least one image, so that the
 * report has a score for each. Returns the candidates as the report lists them, in `names` order.
 */
export async function checkGivenPreprocessing(g: GivenPreprocessing, more: ScoreMore): Promise<PreprocessingCandidate[]> {
  const name = g.names[g.given];
  const mismatch = (candidates: PreprocessingCandidate[]): boolean => preprocessingFlags({ name, chosenBy: g.chosenBy }, candidates).length > 0;
  const scores = g.names.map((n): PartialScore => ({ name: n, correct: 0, scored: 0, total: 0 }));
  const look = async (n: number, correct: number, decides: (candidates: PreprocessingCandidate[]) => boolean): Promise<PreprocessingCandidate[]> => {
    const mine = { name, accuracy: correct / n, samples: n };
    for (const [i, score] of scores.entries()) {
      if (i === g.given) continue;
      score.total = n;
      while (score.scored < n && (score.scored === 0 || couldChallenge(decides, mine, score))) await more(i, score);
    }
    return scores.map((s, i) => (i === g.given ? mine : scoredSoFar(s)));
  };
  const firstLook = Math.min(g.samples, CHECK_SAMPLES);
  // with no more images than the first look, its scores are final and decide the flag directly
  const candidates = await look(firstLook, g.correctFirst.check, g.samples <= CHECK_SAMPLES ? mismatch : (c) => worthConfirming(name, c));
  if (g.samples <= CHECK_SAMPLES || !worthConfirming(name, candidates)) return candidates;
  return look(Math.min(g.samples, CANDIDATE_SAMPLES), g.correctFirst.candidate, mismatch);
}

const pct = (v: number): string => `${(v * 100).toFixed(1)}%`;

/** How to ask for a preprocessing on the command line (the same name, without dashes, over HTTP). */
function optionFor(name: string): string {
  return `--preprocess ${name}`;
}

/**
 * Flags for the report (one sentence each): the preprocessing used scores more than 10 points
 * below the best candidate (it names the better preset and the option to pass), or an `auto`
 * choice had a runner-up within 3 points (it says to pass the preprocessing explicitly).
 */
export function preprocessingFlags(used: { name: string; chosenBy: 'auto' | 'preset' | 'explicit' }, candidates: readonly PreprocessingCandidate[]): string[] {
  const flags: string[] = [];
  const mine = candidates.find((c) => c.name === used.name);
  const ranked = [...candidates].sort((a, b) => b.accuracy - a.accuracy);
  const best = ranked[0];
  // A best candidate near chance fits no better: the near-chance flag says what there is to say.
  if (mine && best && best.name !== mine.name && best.accuracy >= CHANCE_ACCURACY && best.accuracy - mine.accuracy > MISMATCH_MARGIN + ROUNDING) {
    const given = used.chosenBy === 'explicit' ? ' (--mean/--std)' : '';
    const instead = used.chosenBy === 'explicit' ? ' instead of --mean/--std' : '';
    flags.push(
      `preprocessing ${used.name}${given} scores ${pct(mine.accuracy)} on the first ${mine.samples} images, ` +
        `${((best.accuracy - mine.accuracy) * 100).toFixed(1)} points below ${best.name} (${pct(best.accuracy)}): ` +
        `the model probably expects ${best.name}; pass ${optionFor(best.name)}${instead}`,
    );
  }
  if (used.chosenBy === 'auto') {
    const tied = tiedWithBest(candidates);
    if (tied.length > 1) {
      const names = tied.map((c) => `${c.name} (${pct(c.accuracy)})`);
      const listed = `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
      const options = tied.map((c) => optionFor(c.name));
      flags.push(
        `auto preprocessing is ambiguous: ${listed} score within ${AMBIGUITY_MARGIN * 100} points of each other on the first ${tied[0].samples} images ` +
          `and ${used.name} was kept; pass the one the model expects explicitly (${options.slice(0, -1).join(', ')} or ${options[options.length - 1]})`,
      );
    }
  }
  return flags;
}
