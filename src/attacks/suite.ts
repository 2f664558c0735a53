/**
 * The robustness estimate of an audit (SPEC §4): a preset or explicit set of attacks run on the
 * first samples, worst case per sample, perturbation spectrum and reliability flags.
 */
import { AdversarialExample, adversarialExample } from './examples.js';
import { AttackResult, fgsm, pgd } from './gradientAttacks.js';
import { PerturbationSpectrum, PerturbationSpectrumAccumulator } from './perturbationSpectrum.js';
import { squareAttack } from './square.js';
import { argmax, GradientClassifier, PixelClassifier, PIXELS_PER_IMAGE } from './types.js';

export type AttackName = 'fgsm' | 'pgd' | 'square';
export const ATTACK_NAMES: readonly AttackName[] = ['fgsm', 'pgd', 'square'];

export interface RobustnessPlan {
  preset: 'fast' | 'standard' | 'custom';
  attacks: AttackName[];
  /** The first `samples` images of the audit's samples. */
  samples: number;
  eps: number;
  /** As the user wrote it, e.g. "8/255". */
  epsText: string;
  seed: number;
  pgd: { steps: number; stepSize: number; restarts: number; randomStart: boolean };
  square: { queries: number; pInit: number };
}

export interface AttackReport {
  name: AttackName;
  norm: 'linf';
  parameters: Record<string, number | boolean | string>;
  seed: number;
  samples: number;
  /** Share of samples correct on the clean image and after this attack. */
  robustAccuracy: number;
  /** Samples the attack turned from correct to wrong. */
  fooled: number;
  /** Gradient evaluations (white-box) or forward queries (Square), over all samples. */
  evaluations: number;
  seconds: number;
}

export interface RobustnessReport {
  preset: RobustnessPlan['preset'];
  norm: 'linf';
  eps: number;
  epsText: string;
  samples: number;
  cleanAccuracy: number;
  attacks: AttackReport[];
  /** Correct on the clean image and under every attack run (worst case per sample). */
  robustAccuracy: number;
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

type Progress = (fraction: number, message: string) => void;

/**
 * Runs the plan. `gradient` is null where no gradient graph could be built (`why` says why):
 * then the white-box attacks are skipped and the Square Attack stands in for them.
 */
export async function runRobustness(
  forward: PixelClassifier,
  gradient: GradientClassifier | null,
  why: string | undefined,
  inputs: RobustnessInputs,
  plan: RobustnessPlan,
  progress: Progress = () => {},
  /** Index of the first sample in the test set (for the examples' captions). */
  firstIndex = 0,
): Promise<RobustnessReport> {
  const flags: string[] = [];
  const attacks = plan.attacks.filter((a) => gradient || a === 'square');
  if (!gradient) {
    if (!attacks.includes('square')) attacks.push('square');
    flags.push(`no input gradient (${why ?? 'unknown reason'}): white-box attacks skipped, the Square Attack stands in`);
  }
  const n = plan.samples;
  const cleanCorrect = new Uint8Array(n);
  const fooledBy = new Map<AttackName, Uint8Array>(attacks.map((a) => [a, new Uint8Array(n)]));
  const reports = new Map<AttackName, AttackReport>();
  const spectrum = new PerturbationSpectrumAccumulator();
  const spectrumAttack: AttackName = attacks.includes('pgd') ? 'pgd' : attacks.includes('fgsm') ? 'fgsm' : 'square';
  const examples: AdversarialExample[] = [];
  let zeroGradientSamples = 0;
  let nondeterministic = false;
  for (const a of attacks) reports.set(a, newReport(a, plan));

  for (let start = 0; start < n; start += inputs.batch) {
    const count = Math.min(inputs.batch, n - start);
    const clean = inputs.pixels(start, count);
    const labels = inputs.labels.subarray(start, start + count);
    const logits = await forward.logits(clean, count);
    if (start === 0) nondeterministic = !sameValues(logits, await forward.logits(clean, count));
    for (let i = 0; i < count; i++) cleanCorrect[start + i] = argmax(logits, i, forward.classes) === labels[i] ? 1 : 0;
    if (gradient) zeroGradientSamples += countZeroGradients((await gradient.lossGradient(clean, labels, count)).gradient, count);
    for (const name of attacks) {
      const t0 = performance.now();
      const result = await runAttack(name, forward, gradient, clean, labels, count, plan, start);
      const report = reports.get(name) as AttackReport;
      report.seconds += (performance.now() - t0) / 1000;
      report.evaluations += result.evaluations;
      const fooled = fooledBy.get(name) as Uint8Array;
      for (let i = 0; i < count; i++) fooled[start + i] = result.fooled[i];
      if (name === spectrumAttack) {
        spectrum.add(result.adversarial, clean, count);
        await collectExamples(examples, forward, clean, result, labels, count, start + firstIndex, cleanCorrect.subarray(start), name, plan.eps);
      }
      progress((start + count) / n, `${name}: ${start + count}/${n} images`);
    }
  }

  const robustUnder = (name: AttackName): Uint8Array => {
    const f = fooledBy.get(name) as Uint8Array;
    return cleanCorrect.map((c, i) => (c && !f[i] ? 1 : 0));
  };
  let worst = cleanCorrect.slice();
  for (const name of attacks) {
    const r = robustUnder(name);
    worst = worst.map((w, i) => (w && r[i] ? 1 : 0));
    const report = reports.get(name) as AttackReport;
    report.robustAccuracy = sum(r) / n;
    report.fooled = sum(cleanCorrect) - sum(r);
  }
  addReliabilityFlags(flags, reports, zeroGradientSamples, n, nondeterministic, Boolean(gradient), plan);
  return {
    preset: plan.preset,
    norm: 'linf',
    eps: plan.eps,
    epsText: plan.epsText,
    samples: n,
    cleanAccuracy: sum(cleanCorrect) / n,
    attacks: attacks.map((a) => reports.get(a) as AttackReport),
    robustAccuracy: sum(worst) / n,
    perturbationSpectrum: { ...spectrum.result(), attack: spectrumAttack },
    gradient: gradient ? { available: true } : { available: false, reason: why },
    examples,
    flags,
  };
}

/** Adds up to EXAMPLES samples that were correct and fooled, with both predictions. */
async function collectExamples(
  examples: AdversarialExample[],
  forward: PixelClassifier,
  clean: Float32Array,
  result: AttackResult,
  labels: Uint8Array,
  count: number,
  firstIndex: number,
  cleanCorrect: Uint8Array,
  attack: AttackName,
  eps: number,
): Promise<void> {
  if (examples.length >= EXAMPLES) return;
  const picked: number[] = [];
  for (let i = 0; i < count && examples.length + picked.length < EXAMPLES; i++) if (cleanCorrect[i] && result.fooled[i]) picked.push(i);
  if (picked.length === 0) return;
  const cleanLogits = await forward.logits(clean, count);
  const advLogits = await forward.logits(result.adversarial, count);
  for (const i of picked) {
    examples.push(
      adversarialExample(clean, result.adversarial, i, eps, {
        index: firstIndex + i,
        label: labels[i],
        cleanPrediction: argmax(cleanLogits, i, forward.classes),
        adversarialPrediction: argmax(advLogits, i, forward.classes),
        attack,
      }),
    );
  }
}

function newReport(name: AttackName, plan: RobustnessPlan): AttackReport {
  const parameters: Record<string, number | boolean | string> =
    name === 'fgsm'
      ? { eps: plan.eps, step: plan.eps }
      : name === 'pgd'
        ? { eps: plan.eps, steps: plan.pgd.steps, stepSize: plan.pgd.stepSize, restarts: plan.pgd.restarts, randomStart: plan.pgd.randomStart }
        : { eps: plan.eps, queries: plan.square.queries, pInit: plan.square.pInit };
  return { name, norm: 'linf', parameters, seed: plan.seed, samples: plan.samples, robustAccuracy: 0, fooled: 0, evaluations: 0, seconds: 0 };
}

function runAttack(
  name: AttackName,
  forward: PixelClassifier,
  gradient: GradientClassifier | null,
  clean: Float32Array,
  labels: Uint8Array,
  count: number,
  plan: RobustnessPlan,
  start: number,
): Promise<AttackResult> {
  // A seed per batch, derived from the plan's, keeps results independent of the batch size's luck.
  const seed = (plan.seed * 1000003 + start) >>> 0;
  switch (name) {
    case 'fgsm':
      return fgsm(gradient as GradientClassifier, clean, labels, count, { eps: plan.eps });
    case 'pgd':
      return pgd(gradient as GradientClassifier, clean, labels, count, { eps: plan.eps, ...plan.pgd, seed });
    case 'square':
      return squareAttack(forward, clean, labels, count, { eps: plan.eps, ...plan.square, seed });
  }
}

function addReliabilityFlags(
  flags: string[],
  reports: Map<AttackName, AttackReport>,
  zeroGradientSamples: number,
  n: number,
  nondeterministic: boolean,
  hasGradient: boolean,
  plan: RobustnessPlan,
): void {
  if (hasGradient && zeroGradientSamples > 0) {
    flags.push(`zero or vanishing input gradient on ${zeroGradientSamples} of ${n} samples: white-box attacks may overestimate robustness (gradient masking)`);
  }
  const square = reports.get('square');
  const whiteBox = [reports.get('pgd'), reports.get('fgsm')].filter((r): r is AttackReport => r !== undefined);
  const strongestWhite = whiteBox.length ? Math.min(...whiteBox.map((r) => r.robustAccuracy)) : undefined;
  if (square && strongestWhite !== undefined && square.robustAccuracy < strongestWhite) {
    flags.push(`the black-box Square Attack beats the white-box attacks (${pct(square.robustAccuracy)} vs ${pct(strongestWhite)}): a sign of gradient masking`);
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

const sum = (a: Uint8Array): number => a.reduce((s, v) => s + v, 0);
const pct = (v: number): string => `${(v * 100).toFixed(1)}%`;
