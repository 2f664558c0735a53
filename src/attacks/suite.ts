/**
 * The robustness estimate of an audit (SPEC §4): a preset or explicit list of attacks run on the
 * first samples in order, each only on the images that are still correctly classified and that
 * no earlier attack broke (as AutoAttack runs its ensemble), so the worst case per image costs
 * no more than it must; per attack what it broke, the worst case per image, the perturbation
 * spectrum and the reliability flags.
 */
import { apgd, ApgdModel } from './apgd.js';
import { AdversarialExample, adversarialExample } from './examples.js';
import { FAB_T_DEFAULTS, FabModel, fabTargeted } from './fab.js';
import { AttackResult, fgsm, pgd } from './gradientAttacks.js';
import { PerturbationSpectrum, PerturbationSpectrumAccumulator } from './perturbationSpectrum.js';
import { squareAttack } from './square.js';
import { argmax, copyImage, GradientClassifier, Norm, PixelClassifier, PIXELS_PER_IMAGE } from './types.js';

export type AttackName = 'fgsm' | 'pgd' | 'apgd-ce' | 'apgd-t' | 'fab-t' | 'square';
export const ATTACK_NAMES: readonly AttackName[] = ['fgsm', 'pgd', 'apgd-ce', 'apgd-t', 'fab-t', 'square'];
/** The attacks that need no gradient. */
const BLACK_BOX: readonly AttackName[] = ['square'];
/** Attacks whose success does not hang on the scale of the cross-entropy's gradient. */
const SCALE_FREE: readonly AttackName[] = ['apgd-t', 'fab-t', 'square'];

export interface RobustnessPlan {
  preset: 'fast' | 'standard' | 'custom';
  /** In the order they run. */
  attacks: AttackName[];
  /** The first `samples` images of the audit's samples. */
  samples: number;
  /** The ball every attack works in: L-infinity or L2, radius eps, in [0,1] pixels. */
  norm: Norm;
  eps: number;
  /** As the user wrote it, e.g. "8/255". */
  epsText: string;
  seed: number;
  pgd: { steps: number; stepSize: number; restarts: number; randomStart: boolean };
  /** APGD-CE and APGD-T: iterations per run, runs per image (per target), target classes of APGD-T. */
  apgd: { iterations: number; restarts: number; targets: number };
  /** FAB-T: iterations per run, runs per target, target classes. */
  fab: { iterations: number; restarts: number; targets: number };
  square: { queries: number; pInit: number };
}

export interface AttackReport {
  name: AttackName;
  norm: Norm;
  parameters: Record<string, number | boolean | string>;
  seed: number;
  /** The evaluation's samples (the same for every attack). */
  samples: number;
  /** Images this attack ran on: correct on the clean image and not broken by an earlier attack. */
  attacked: number;
  /** Share of the samples still correct after this attack and every one before it. */
  robustAccuracy: number;
  /** Images this attack broke, which no earlier attack had. */
  fooled: number;
  /** Their indices in the CIFAR-10 test set: the images only this attack broke. */
  broke: number[];
  /** Gradient evaluations (white-box) or forward queries (Square), over its images. */
  evaluations: number;
  seconds: number;
}

/** Per image: what broke it, `misclassified` when the clean image already was, null when robust. */
export type ImageOutcome = AttackName | 'misclassified' | null;

export interface RobustnessReport {
  preset: RobustnessPlan['preset'];
  norm: Norm;
  eps: number;
  epsText: string;
  samples: number;
  cleanAccuracy: number;
  attacks: AttackReport[];
  /** Correct on the clean image and under every attack run (worst case per sample). */
  robustAccuracy: number;
  /** The worst case per image, in sample order (test-set index = `firstIndex` + position). */
  perImage: ImageOutcome[];
  /** Test-set index of the first sample. */
  firstIndex: number;
  perturbationSpectrum: (PerturbationSpectrum & { attack: AttackName }) | null;
  gradient: { available: boolean; reason?: string };
  /** A few samples the spectrum's attack turned from correct to wrong, as PNGs. */
  examples: AdversarialExample[];
  flags: string[];
}

const EXAMPLES = 4;

export interface RobustnessInputs {
  /** Pixels [count,3,32,32] in [0,1] of images [start, start+count). */
  pixels(start: number, count: number): Float32Array;
  labels: Uint8Array;
  /** Images per model call (a fixed-batch model's size, else the audit's batch). */
  batch: number;
}

/** The model as the attacks see it. */
export interface AttackModels {
  forward: PixelClassifier;
  /** The cross-entropy gradient graph; null where none could be built (`why` says why). */
  gradient: GradientClassifier | null;
  why?: string;
  /** The targeted DLR gradient graph (APGD-T), opened on first use; a string says why there is none. */
  targetedDlr(): Promise<ApgdModel | string>;
  /** The logit-difference gradient graph (FAB-T), likewise. */
  logitDifference(): Promise<FabModel | string>;
}

type Progress = (fraction: number, message: string) => void;

/**
 * Runs the plan. Without a gradient graph the white-box attacks are skipped and the Square
 * Attack stands in for them.
 */
export async function runRobustness(
  models: AttackModels,
  inputs: RobustnessInputs,
  plan: RobustnessPlan,
  progress: Progress = () => {},
  /** Index of the first sample in the test set (for the examples' captions). */
  firstIndex = 0,
): Promise<RobustnessReport> {
  const { forward, gradient } = models;
  const flags: string[] = [];
  const attacks = plan.attacks.filter((a) => gradient || BLACK_BOX.includes(a));
  if (!gradient) {
    if (!attacks.includes('square')) attacks.push('square');
    flags.push(`no input gradient (${models.why ?? 'unknown reason'}): white-box attacks skipped, the Square Attack stands in`);
  }
  const n = plan.samples;
  const outcome: ImageOutcome[] = new Array<ImageOutcome>(n).fill(null);
  const reports = new Map<AttackName, AttackReport>(attacks.map((a) => [a, newReport(a, plan)]));
  const spectrum = new PerturbationSpectrumAccumulator();
  const spectrumAttack = attacks.find((a) => !BLACK_BOX.includes(a)) ?? 'square';
  const examples: AdversarialExample[] = [];
  let zeroGradientSamples = 0;
  let nondeterministic = false;

  for (let start = 0; start < n; start += inputs.batch) {
    const count = Math.min(inputs.batch, n - start);
    const clean = inputs.pixels(start, count);
    const labels = inputs.labels.subarray(start, start + count);
    const logits = await forward.logits(clean, count);
    if (start === 0) nondeterministic = !sameValues(logits, await forward.logits(clean, count));
    let alive: number[] = [];
    for (let i = 0; i < count; i++) {
      if (argmax(logits, i, forward.classes) === labels[i]) alive.push(i);
      else outcome[start + i] = 'misclassified';
    }
    if (gradient) zeroGradientSamples += countZeroGradients((await gradient.lossGradient(clean, labels, count)).gradient, count);
    for (const name of attacks) {
      if (alive.length === 0) break;
      const images = gather(clean, alive);
      const imageLabels = Uint8Array.from(alive, (i) => labels[i]);
      const t0 = performance.now();
      const result = await runAttack(name, models, images, imageLabels, alive.length, plan, start);
      const report = reports.get(name) as AttackReport;
      report.seconds += (performance.now() - t0) / 1000;
      report.evaluations += result.evaluations;
      report.attacked += alive.length;
      alive.forEach((i, j) => {
        if (!result.fooled[j]) return;
        outcome[start + i] = name;
        report.broke.push(firstIndex + start + i);
      });
      if (name === spectrumAttack) {
        spectrum.add(result.adversarial, images, alive.length);
        await collectExamples(examples, forward, images, result, imageLabels, alive.map((i) => firstIndex + start + i), name, plan.eps);
      }
      alive = alive.filter((_, j) => !result.fooled[j]);
      progress((start + count) / n, `${name}: ${start + count}/${n} images`);
    }
  }

  const correct = outcome.filter((o) => o !== 'misclassified').length;
  let standing = correct;
  for (const name of attacks) {
    const report = reports.get(name) as AttackReport;
    report.fooled = report.broke.length;
    standing -= report.fooled;
    report.robustAccuracy = standing / n;
  }
  // Already opened (or refused) when they ran.
  if ((reports.get('apgd-t')?.attacked ?? 0) > 0) {
    const dlr = await models.targetedDlr();
    if (typeof dlr === 'string') flags.push(`APGD-T did not run: no gradient graph with the DLR loss (${dlr})`);
  }
  if ((reports.get('fab-t')?.attacked ?? 0) > 0) {
    const difference = await models.logitDifference();
    if (typeof difference === 'string') flags.push(`FAB-T did not run: no gradient graph of the logit difference (${difference})`);
  }
  addReliabilityFlags(flags, attacks, reports, zeroGradientSamples, n, nondeterministic, Boolean(gradient), plan);
  return {
    preset: plan.preset,
    norm: plan.norm,
    eps: plan.eps,
    epsText: plan.epsText,
    samples: n,
    cleanAccuracy: correct / n,
    attacks: attacks.map((a) => reports.get(a) as AttackReport),
    robustAccuracy: standing / n,
    perImage: outcome,
    firstIndex,
    perturbationSpectrum: { ...spectrum.result(), attack: spectrumAttack },
    gradient: gradient ? { available: true } : { available: false, reason: models.why },
    examples,
    flags,
  };
}

/** Images `which` of a batch, packed. */
function gather(pixels: Float32Array, which: readonly number[]): Float32Array {
  const out = new Float32Array(which.length * PIXELS_PER_IMAGE);
  which.forEach((i, j) => copyImage(pixels, i, out, j));
  return out;
}

/** Adds up to EXAMPLES of the images the attack broke (all were correct), with both predictions. */
async function collectExamples(
  examples: AdversarialExample[],
  forward: PixelClassifier,
  clean: Float32Array,
  result: AttackResult,
  labels: Uint8Array,
  testIndices: readonly number[],
  attack: AttackName,
  eps: number,
): Promise<void> {
  if (examples.length >= EXAMPLES) return;
  const count = testIndices.length;
  const picked: number[] = [];
  for (let i = 0; i < count && examples.length + picked.length < EXAMPLES; i++) if (result.fooled[i]) picked.push(i);
  if (picked.length === 0) return;
  const cleanLogits = await forward.logits(clean, count);
  const advLogits = await forward.logits(result.adversarial, count);
  for (const i of picked) {
    examples.push(
      adversarialExample(clean, result.adversarial, i, eps, {
        index: testIndices[i],
        label: labels[i],
        cleanPrediction: argmax(cleanLogits, i, forward.classes),
        adversarialPrediction: argmax(advLogits, i, forward.classes),
        attack,
      }),
    );
  }
}

function newReport(name: AttackName, plan: RobustnessPlan): AttackReport {
  const { eps } = plan;
  const apgd = { eps, iterations: plan.apgd.iterations, restarts: plan.apgd.restarts };
  const parameters: Record<AttackName, Record<string, number | boolean | string>> = {
    fgsm: { eps, step: eps },
    pgd: { eps, steps: plan.pgd.steps, stepSize: plan.pgd.stepSize, restarts: plan.pgd.restarts, randomStart: plan.pgd.randomStart },
    'apgd-ce': { ...apgd, loss: 'ce' },
    'apgd-t': { ...apgd, loss: 'dlr-targeted', targets: plan.apgd.targets },
    'fab-t': { eps, iterations: plan.fab.iterations, restarts: plan.fab.restarts, targets: plan.fab.targets, alphaMax: FAB_T_DEFAULTS.alphaMax, eta: FAB_T_DEFAULTS.eta, beta: FAB_T_DEFAULTS.beta },
    square: { eps, queries: plan.square.queries, pInit: plan.square.pInit },
  };
  return { name, norm: plan.norm, parameters: parameters[name], seed: plan.seed, samples: plan.samples, attacked: 0, robustAccuracy: 0, fooled: 0, broke: [], evaluations: 0, seconds: 0 };
}

async function runAttack(name: AttackName, models: AttackModels, clean: Float32Array, labels: Uint8Array, count: number, plan: RobustnessPlan, start: number): Promise<AttackResult> {
  // A seed per batch, derived from the plan's, keeps results independent of the batch size's luck.
  const seed = (plan.seed * 1000003 + start) >>> 0;
  const gradient = models.gradient as GradientClassifier;
  const { eps, norm } = plan;
  const apgdRun = { eps, norm, iterations: plan.apgd.iterations, restarts: plan.apgd.restarts, randomStart: true, seed };
  switch (name) {
    case 'fgsm':
      return fgsm(gradient, clean, labels, count, { eps, norm });
    case 'pgd':
      return pgd(gradient, clean, labels, count, { eps, norm, ...plan.pgd, seed });
    case 'apgd-ce':
      return apgd(gradient, clean, labels, count, { ...apgdRun, loss: 'ce' });
    case 'apgd-t': {
      const model = await models.targetedDlr();
      if (typeof model === 'string') return { fooled: new Uint8Array(count), adversarial: clean.slice(), evaluations: 0 };
      return apgd(model, clean, labels, count, { ...apgdRun, loss: 'dlr', targets: plan.apgd.targets });
    }
    case 'fab-t': {
      const model = await models.logitDifference();
      if (typeof model === 'string') return { fooled: new Uint8Array(count), adversarial: clean.slice(), evaluations: 0 };
      return fabTargeted(model, clean, labels, count, { eps, norm, ...plan.fab, randomStart: false, seed, check: models.forward });
    }
    case 'square':
      return squareAttack(models.forward, clean, labels, count, { eps, norm, ...plan.square, seed });
  }
}

const attackList = (names: readonly AttackName[]): string => names.map((a) => a.toUpperCase()).join(', ');

/**
 * One sentence per reason to doubt the estimate, saying whether the attacks that ran overcame it:
 * gradient masking shows as vanishing cross-entropy gradients or as the black-box attack breaking
 * images the white-box ones left; the scale-free attacks (APGD-T's DLR loss, Square) do not rely
 * on the cross-entropy's gradient, so when they ran their breaks are in the worst case.
 */
function addReliabilityFlags(
  flags: string[],
  attacks: readonly AttackName[],
  reports: Map<AttackName, AttackReport>,
  zeroGradientSamples: number,
  n: number,
  nondeterministic: boolean,
  hasGradient: boolean,
  plan: RobustnessPlan,
): void {
  const scaleFree = attacks.filter((a) => SCALE_FREE.includes(a));
  const overcome =
    scaleFree.length > 0
      ? `the worst case also counts ${attackList(scaleFree)}, which do not rely on that gradient`
      : 'not overcome: run --robustness standard, whose APGD-T (DLR loss), FAB-T and Square attacks do not rely on that gradient';
  if (hasGradient && zeroGradientSamples > 0) {
    flags.push(`zero or vanishing input gradient on ${zeroGradientSamples} of ${n} samples: cross-entropy attacks may overestimate robustness (gradient masking); ${overcome}`);
  }
  const square = reports.get('square');
  const before = attacks.slice(0, attacks.indexOf('square')).filter((a) => !BLACK_BOX.includes(a));
  if (square && square.fooled > 0 && before.length > 0) {
    flags.push(
      `the black-box Square Attack broke ${square.fooled} of the images that ${attackList(before)} left: a sign of gradient masking in the white-box attacks; those images count in the worst case`,
    );
  }
  if (nondeterministic) flags.push('the model gives different outputs for the same input: randomness inside the model makes attacks unreliable');
  flags.push(`attacks are seeded (seed ${plan.seed}): another seed may give a point or two of difference`);
}

function countZeroGradients(g: Float32Array, count: number): number {
  let zero = 0;
  for (let i = 0; i < count; i++) {
    let norm = 0;
    for (let p = i * PIXELS_PER_IMAGE; p < (i + 1) * PIXELS_PER_IMAGE; p++) norm += Math.abs(g[p]);
    if (!(norm > 1e-12)) zero++;
  }
  return zero;
}

function sameValues(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

