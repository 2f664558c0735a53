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
