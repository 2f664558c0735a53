/**
 * Auto-PGD (Croce & Hein 2020, "Reliable evaluation of adversarial robustness with an ensemble
 * of diverse parameter-free attacks"), Algorithm 1: steps of size 2 eps with momentum 0.75, the
 * step size halved at checkpoints where the loss stopped rising, each halving restarting from
 * the best point so far. Losses: cross-entropy or DLR (untargeted); APGD-T runs the targeted DLR
 * loss once per target, the k classes with the highest clean logits other than the true one.
 * L-infinity or L2: the norm only enters through {@link BallGeometry} (the start, the step
 * direction and the projection; momentum, checkpoints and the step size 2 eps are shared).
 *
 * Batched with per-image state; an image leaves the batch at its first misclassified iterate
 * (early exit, as PGD). The details the paper leaves open are fixed as
 * scripts/reference/apgd_reference.py (the independent reference the tests compare with) does:
 * - every iterate x(0..N) is evaluated, x(N) by a forward pass only;
 * - at checkpoint w_j, after evaluating x(w_j): condition 1 counts f(x(i)) > f(x(i-1)) for i in
 *   (w_{j-1}, w_j]; condition 2 holds when the step size was not halved at w_{j-1} and the best
 *   loss is unchanged since then (at w_1: since x(0));
 * - a restart sets x(w_j) to the best point with its loss and gradient; the next momentum term
 *   is then x_best - x(w_j - 1), as AutoAttack has it.
 */
import type { AttackResult } from './gradientAttacks.js';
import { SeededRandom } from './random.js';
import { argmax, ascend, copyImage, LinfBall, Norm, PixelClassifier, PIXELS_PER_IMAGE, projectToBall, randomInBall, storeImage } from './types.js';

export type ApgdLoss = 'ce' | 'dlr';

/**
 * The model APGD needs: logits and d(sum of the per-image losses)/d pixels, the loss being the
 * one the attack runs with (cross-entropy: any GradientClassifier; DLR: a gradient graph built
 * with that loss, see grad/lossClassifier.ts). `targets` are given for the targeted DLR loss.
 */
export interface ApgdModel extends PixelClassifier {
  lossGradient(pixels: Float32Array, labels: Uint8Array, count: number, targets?: Uint8Array): Promise<{ logits: Float32Array; gradient: Float32Array }>;
}

export interface ApgdOptions extends LinfBall {
  /** N, gradient evaluations per run and image (AutoAttack: 100). */
  iterations: number;
  /** Runs per image (per target for APGD-T) from fresh starts, for the images not yet fooled. */
  restarts: number;
  /** The ball's norm (default L-infinity). */
  norm?: ApgdNorm;
  /** Start uniformly in the ball (else at the clean image). */
  randomStart: boolean;
  seed: number;
  loss: ApgdLoss;
  /** APGD-T: the number of target classes (AutoAttack: 9); absent or 0 for the untargeted attack. */
  targets?: number;
  /** Momentum alpha (default 0.75). */
  momentum?: number;
  /** rho of condition 1 (default 0.75). */
  rho?: number;
  /** Observes the runs (tests, diagnostics). */
  trace?: (event: ApgdEvent) => void;
}

/**
 * `iterate`: image `image` (index in the call) has evaluated x(k) of run `run` (restarts, then
 * targets, counted together); `bestLoss` is the largest loss of the run so far. `halve`: its
 * step size was halved at checkpoint k (now `stepSize`) and it restarted from its best point.
 */
export type ApgdEvent =
  | { kind: 'iterate'; run: number; image: number; k: number; loss: number; bestLoss: number; fooled: boolean }
  | { kind: 'halve'; run: number; image: number; k: number; stepSize: number };

/** The paper's checkpoints p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06), while p_j <= 1. */
export function checkpointFractions(): number[] {
  const p = [0, 0.22];
  for (;;) {
    const j = p.length - 1;
    const next = p[j] + Math.max(p[j] - p[j - 1] - 0.03, 0.06);
    if (next > 1) return p;
    p.push(next);
  }
}

/** The iterations w_j = ceil(p_j N) of the checkpoints, 0 < w_j < N, strictly increasing. */
export function checkpoints(iterations: number): number[] {
  const out: number[] = [];
  for (const p of checkpointFractions()) {
    // p_j is a sum of decimals: 0.41 * 100 is 41.000000000000007 and must give 41.
    const w = Math.ceil(p * iterations - 1e-9);
    if (w > 0 && w < iterations && (out.length === 0 || w > out[out.length - 1])) out.push(w);
  }
  return out;
}

/** The ball's geometry: the random start, the steepest-ascent step and the projection, per image. */
export interface BallGeometry {
  /** out[i] = a random point of the eps ball around clean[o..] (before projection onto [0,1]). */
  randomPoint(clean: Float32Array, o: number, eps: number, rng: SeededRandom, out: Float64Array): void;
  /** out[i] = x[o+i] + eta * (steepest ascent direction of g for this norm)[i], i < PIXELS_PER_IMAGE. */
  ascend(x: Float32Array, g: Float32Array, o: number, eta: number, out: Float64Array): void;
  /** Projects v (one image) onto the eps ball around clean[o..] intersected with [0,1], in place. */
  project(v: Float64Array, clean: Float32Array, o: number, eps: number): void;
  /** Stores the projected v as float32 into x[xo..] without leaving the ball around clean[o..]. */
  store(v: Float64Array, clean: Float32Array, o: number, x: Float32Array, xo: number): void;
}

/** The norms APGD runs in. */
export type ApgdNorm = Norm;

/** The geometry of a norm from the per-norm functions of types.ts. */
function geometryOf(norm: Norm): BallGeometry {
  return {
    randomPoint: (clean, o, eps, rng, out) => randomInBall(norm, clean, o, eps, rng, out),
    ascend: (x, g, o, eta, out) => ascend(norm, x, g, o, eta, out),
    project: (v, clean, o, eps) => projectToBall(norm, v, clean, o, eps),
    store: (v, clean, o, x, xo) => storeImage(norm, v, clean, o, x, xo),
  };
}

/** L-infinity: uniform start in the box, signed steps, the clamp. */
export const LINF_GEOMETRY: BallGeometry = geometryOf('linf');

/**
 * L2 (APGD-L2 as AutoAttack runs it, step size starting at 2 eps too): a start uniform in the
 * ball, steps along g / ||g||_2, and the exact projection onto the ball intersected with [0,1]
 * (projectL2 in types.ts; AutoAttack projects onto the ball and then clips, which is not the nearest
 * point, so iterates can differ from AutoAttack's where the box binds); iterates are rounded to
 * float32 towards the clean image ({@link storeImage}).
 */
export const L2_GEOMETRY: BallGeometry = geometryOf('l2');

const GEOMETRIES: Readonly<Record<ApgdNorm, BallGeometry>> = { linf: LINF_GEOMETRY, l2: L2_GEOMETRY };

/** Cross-entropy of row r, float64. */
export function crossEntropyLoss(z: Float32Array, r: number, k: number, y: number): number {
  const o = r * k;
  let max = -Infinity;
  for (let j = 0; j < k; j++) max = Math.max(max, z[o + j]);
  let sum = 0;
  for (let j = 0; j < k; j++) sum += Math.exp(z[o + j] - max);
  return Math.log(sum) + max - z[o + y];
}

/** The row's logits sorted descending (float64). */
function sortedRow(z: Float32Array, r: number, k: number): number[] {
  return Array.from(z.subarray(r * k, (r + 1) * k)).sort((a, b) => b - a);
}

const DLR_EPSILON = 1e-12;

/** Untargeted DLR of row r: -(z_y - max_{i≠y} z_i) / (z_π1 - z_π3 + 1e-12), float64. */
export function dlrLoss(z: Float32Array, r: number, k: number, y: number): number {
  const o = r * k;
  let other = -Infinity;
  for (let j = 0; j < k; j++) if (j !== y) other = Math.max(other, z[o + j]);
  const s = sortedRow(z, r, k);
  return -(z[o + y] - other) / (s[0] - s[2] + DLR_EPSILON);
}

/** Targeted DLR of row r: -(z_y - z_t) / (z_π1 - (z_π3 + z_π4)/2 + 1e-12), float64. */
export function targetedDlrLoss(z: Float32Array, r: number, k: number, y: number, t: number): number {
  const s = sortedRow(z, r, k);
  return -(z[r * k + y] - z[r * k + t]) / (s[0] - (s[2] + s[3]) / 2 + DLR_EPSILON);
}

/** The `rank`-th (1-based) class by clean logit among those other than `label`, or -1. */
export function targetClass(logits: Float32Array, r: number, k: number, label: number, rank: number): number {
  const order = Array.from({ length: k }, (_, j) => j)
    .filter((j) => j !== label)
    .sort((a, b) => logits[r * k + b] - logits[r * k + a] || a - b);
  return rank <= order.length ? order[rank - 1] : -1;
}

interface RunContext {
  model: ApgdModel;
  clean: Float32Array;
  labels: Uint8Array;
  /** Per image of the call, the target class (targeted runs). */
  targets?: Uint8Array;
  o: ApgdOptions;
  geometry: BallGeometry;
  rng: SeededRandom;
  fooled: Uint8Array;
  adversarial: Float32Array;
  run: number;
}

/** Per-image state of one run, slot s for image images[s]. */
class RunState {
  readonly x: Float32Array;
  readonly xPrev: Float32Array;
  readonly g: Float32Array;
  readonly xBest: Float32Array;
  readonly gBest: Float32Array;
  readonly loss: Float64Array;
  readonly bestLoss: Float64Array;
  readonly stepSize: Float64Array;
  readonly increases: Int32Array;
  readonly bestAtCheck: Float64Array;
  readonly halvedAtCheck: Uint8Array;

  constructor(readonly images: readonly number[]) {
    const m = images.length;
    const n = m * PIXELS_PER_IMAGE;
    this.x = new Float32Array(n);
    this.xPrev = new Float32Array(n);
    this.g = new Float32Array(n);
    this.xBest = new Float32Array(n);
    this.gBest = new Float32Array(n);
    this.loss = new Float64Array(m);
    this.bestLoss = new Float64Array(m);
    this.stepSize = new Float64Array(m);
    this.increases = new Int32Array(m);
    this.bestAtCheck = new Float64Array(m);
    this.halvedAtCheck = new Uint8Array(m);
  }
}

/**
 * Evaluates the live slots' iterates (gradients unless `forwardOnly`): returns per live slot its
 * loss and whether it is misclassified; gradients go into state.g.
 */
async function evaluate(c: RunContext, s: RunState, live: readonly number[], forwardOnly: boolean): Promise<{ loss: number[]; wrong: boolean[] }> {
  const m = live.length;
  const pixels = new Float32Array(m * PIXELS_PER_IMAGE);
  const labels = new Uint8Array(m);
  const targets = c.targets ? new Uint8Array(m) : undefined;
  live.forEach((slot, j) => {
    copyImage(s.x, slot, pixels, j);
    labels[j] = c.labels[s.images[slot]];
    if (targets && c.targets) targets[j] = c.targets[s.images[slot]];
  });
  let logits: Float32Array;
  if (forwardOnly) logits = await c.model.logits(pixels, m);
  else {
    const r = targets ? await c.model.lossGradient(pixels, labels, m, targets) : await c.model.lossGradient(pixels, labels, m);
    logits = r.logits;
    live.forEach((slot, j) => copyImage(r.gradient, j, s.g, slot));
  }
  const k = c.model.classes;
  const loss = live.map((_, j) => {
    if (targets) return targetedDlrLoss(logits, j, k, labels[j], targets[j]);
    return c.o.loss === 'dlr' ? dlrLoss(logits, j, k, labels[j]) : crossEntropyLoss(logits, j, k, labels[j]);
  });
  const wrong = live.map((_, j) => argmax(logits, j, k) !== labels[j]);
  return { loss, wrong };
}

/** One APGD run over the images not yet fooled; returns the gradient evaluations it spent. */
async function apgdRun(c: RunContext, images: readonly number[]): Promise<number> {
  const { o, geometry } = c;
  const n = o.iterations;
  const alpha = o.momentum ?? 0.75;
  const rho = o.rho ?? 0.75;
  const marks = new Set(checkpoints(n));
  const s = new RunState(images);
  const m = images.length;
  const work = new Float64Array(PIXELS_PER_IMAGE);
  const z = new Float64Array(PIXELS_PER_IMAGE);
  for (let slot = 0; slot < m; slot++) {
    copyImage(c.clean, images[slot], s.x, slot);
    if (o.randomStart) {
      const cleanOff = images[slot] * PIXELS_PER_IMAGE;
      geometry.randomPoint(c.clean, cleanOff, o.eps, c.rng, work);
      geometry.project(work, c.clean, cleanOff, o.eps);
      geometry.store(work, c.clean, cleanOff, s.x, slot * PIXELS_PER_IMAGE);
    }
    s.stepSize[slot] = 2 * o.eps;
  }
  let live = [...Array(m).keys()];
  let evaluations = 0;

  /** Records the evaluated iterate k of the live slots; drops the fooled ones. Returns their losses (by slot). */
  const record = (k: number, r: { loss: number[]; wrong: boolean[] }): Map<number, number> => {
    const losses = new Map<number, number>();
    const keep: number[] = [];
    live.forEach((slot, j) => {
      const f = r.loss[j];
      if (k === 0 || f > s.bestLoss[slot]) {
        s.bestLoss[slot] = f;
        copyImage(s.x, slot, s.xBest, slot);
        copyImage(s.g, slot, s.gBest, slot);
      }
      o.trace?.({ kind: 'iterate', run: c.run, image: images[slot], k, loss: f, bestLoss: s.bestLoss[slot], fooled: r.wrong[j] });
      if (r.wrong[j]) {
        c.fooled[images[slot]] = 1;
        copyImage(s.x, slot, c.adversarial, images[slot]);
      } else keep.push(slot);
      losses.set(slot, f);
    });
    live = keep;
    return losses;
  };

  const first = record(0, await evaluate(c, s, live, false));
  evaluations += m;
  for (const slot of live) {
    s.loss[slot] = first.get(slot) as number;
    s.bestAtCheck[slot] = s.bestLoss[slot];
  }
  let lastCheck = 0;
  for (let k = 0; k < n && live.length > 0; k++) {
    for (const slot of live) {
      const off = slot * PIXELS_PER_IMAGE;
      const cleanOff = images[slot] * PIXELS_PER_IMAGE;
      geometry.ascend(s.x, s.g, off, s.stepSize[slot], z);
      geometry.project(z, c.clean, cleanOff, o.eps);
      if (k > 0) {
        for (let i = 0; i < PIXELS_PER_IMAGE; i++) {
          const xi = s.x[off + i];
          z[i] = xi + alpha * (z[i] - xi) + (1 - alpha) * (xi - s.xPrev[off + i]);
        }
        geometry.project(z, c.clean, cleanOff, o.eps);
      }
      s.xPrev.set(s.x.subarray(off, off + PIXELS_PER_IMAGE), off);
      geometry.store(z, c.clean, cleanOff, s.x, off);
    }
    const last = k + 1 === n;
    const evaluatedCount = live.length;
    const losses = record(k + 1, await evaluate(c, s, live, last));
    if (!last) evaluations += evaluatedCount;
    for (const slot of live) {
      const f = losses.get(slot) as number;
      if (f > s.loss[slot]) s.increases[slot]++;
      s.loss[slot] = f;
    }
    if (!marks.has(k + 1)) continue;
    const span = k + 1 - lastCheck;
    for (const slot of live) {
      const oscillating = s.increases[slot] < rho * span;
      const stalled = !s.halvedAtCheck[slot] && s.bestLoss[slot] === s.bestAtCheck[slot];
      const halve = oscillating || stalled;
      if (halve) {
        s.stepSize[slot] /= 2;
        copyImage(s.xBest, slot, s.x, slot);
        copyImage(s.gBest, slot, s.g, slot);
        s.loss[slot] = s.bestLoss[slot];
        o.trace?.({ kind: 'halve', run: c.run, image: images[slot], k: k + 1, stepSize: s.stepSize[slot] });
      }
      s.increases[slot] = 0;
      s.bestAtCheck[slot] = s.bestLoss[slot];
      s.halvedAtCheck[slot] = halve ? 1 : 0;
    }
    lastCheck = k + 1;
  }
  // Images that survived: the point of largest loss.
  for (let slot = 0; slot < m; slot++) if (!c.fooled[images[slot]]) copyImage(s.xBest, slot, c.adversarial, images[slot]);
  return evaluations;
}

/**
 * APGD (untargeted, or APGD-T when `o.targets` > 0) on `count` images in one batch. The result's
 * `adversarial` holds the fooling iterate, else the point of largest loss of the last run;
 * `evaluations` counts gradient evaluations summed over images.
 *
 * @throws Error for a targeted cross-entropy run (APGD-T uses the DLR loss) or bad options.
 */
export async function apgd(model: ApgdModel, clean: Float32Array, labels: Uint8Array, count: number, o: ApgdOptions): Promise<AttackResult> {
  if (!(o.iterations >= 1) || !Number.isInteger(o.iterations)) throw new Error(`APGD needs a whole number of iterations >= 1 (got ${o.iterations})`);
  const targeted = (o.targets ?? 0) > 0;
  if (targeted && o.loss !== 'dlr') throw new Error('targeted APGD runs the DLR loss');
  const fooled = new Uint8Array(count);
  const adversarial = clean.slice(0, count * PIXELS_PER_IMAGE);
  const c: RunContext = { model, clean, labels, o, geometry: GEOMETRIES[o.norm ?? 'linf'], rng: new SeededRandom(o.seed), fooled, adversarial, run: 0 };
  let evaluations = 0;
  const unfooled = (): number[] => [...Array(count).keys()].filter((i) => !fooled[i]);
  if (!targeted) {
    for (let r = 0; r < o.restarts; r++) {
      const images = unfooled();
      if (images.length === 0) break;
      evaluations += await apgdRun({ ...c, run: r }, images);
    }
    return { fooled, adversarial, evaluations };
  }
  const cleanLogits = (await model.logits(clean.subarray(0, count * PIXELS_PER_IMAGE), count)).slice();
  let run = 0;
  for (let rank = 1; rank <= (o.targets ?? 0); rank++) {
    if (rank > model.classes - 1) break;
    const targets = new Uint8Array(count);
    for (let i = 0; i < count; i++) targets[i] = targetClass(cleanLogits, i, model.classes, labels[i], rank);
    for (let r = 0; r < o.restarts; r++) {
      const images = unfooled();
      if (images.length === 0) return { fooled, adversarial, evaluations };
      evaluations += await apgdRun({ ...c, targets, run: run++ }, images);
    }
  }
  return { fooled, adversarial, evaluations };
}
