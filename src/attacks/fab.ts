/**
 * FAB-T, the targeted Fast Adaptive Boundary attack (Croce & Hein 2020, "Minimally distorted
 * adversarial examples with a fast adaptive boundary attack"), in the L-infinity or the L2 norm.
 * FAB looks for the adversarial closest to the clean image x0: at the iterate x it linearises
 * the decision boundary between the true class y and the target t, the hyperplane
 * {v : b + <w, v - x> = 0} with b = z_t(x) - z_y(x) and w its gradient, and projects both x and
 * x0 onto it within the box [0,1] (the minimal-norm projection, {@link projectOntoHyperplane});
 * the next iterate is the clipped convex combination
 *   (1 - alpha) (x + eta d) + alpha (x0 + eta d0),  alpha = min(|d| / (|d| + |d0|), alpha_max),
 * d, d0 the two projections' perturbations: it overshoots the boundary by eta and is pulled
 * towards x0 the nearer x already is to the boundary. A misclassified iterate is kept when it is
 * the closest so far and then moved back towards x0: x <- (1 - beta) x0 + beta x.
 * FAB-T (as AutoAttack runs it) does this for each of the k classes with the highest clean logits
 * other than the true one, `restarts` runs per target, on the images not yet fooled.
 *
 * Batched with per-image state; an image leaves once it has an adversarial within eps (unless
 * `minimise`). Each iteration needs the linearisation at x (a gradient evaluation) and the class
 * of the next iterate: from the gradient evaluation at it, which serves the next iteration when it
 * is not adversarial, or, after an adversarial iterate (when the next one likely is too and is
 * moved back), from a forward pass; the last iterate is only classified.
 * Choices the paper leaves open: restarts after the first (and the first with `randomStart`)
 * start at a random point at radius min(eps, closest distance found)/2 around x0 (L-infinity:
 * uniform in that cube; L2: on that sphere), clipped to [0,1]; the point moved back is
 * classified too (from its gradient evaluation) and kept if it is misclassified.
 */
import { targetClass } from './apgd.js';
import type { AttackResult } from './gradientAttacks.js';
import { SeededRandom } from './random.js';
import { argmax, copyImage, PixelClassifier, PIXELS_PER_IMAGE } from './types.js';

export type FabNorm = 'linf' | 'l2';

/**
 * The model FAB needs: logits and d(sum over the images of z_t - z_y)/d pixels, the images'
 * true classes y and targets t given (LossGraphClassifier opened with `logit-difference`).
 */
export interface FabModel extends PixelClassifier {
  lossGradient(pixels: Float32Array, labels: Uint8Array, count: number, targets: Uint8Array): Promise<{ logits: Float32Array; gradient: Float32Array }>;
  /** Checked when present: a LossGraphClassifier must have been opened with `logit-difference`. */
  readonly loss?: string;
}

export interface FabOptions {
  /** The budget: an image is fooled by an adversarial within eps of it. */
  eps: number;
  /** Default L-infinity. */
  norm?: FabNorm;
  /** FAB iterations per run (AutoAttack: 100). */
  iterations: number;
  /** Target classes, the top-k by clean logit other than the true class (AutoAttack: 9). */
  targets: number;
  /** Runs per target (AutoAttack's FAB-T: 1). */
  restarts: number;
  /** Start the first run of each target at a random point too (later runs always do). */
  randomStart: boolean;
  seed: number;
  /** alpha_max, the largest weight of the step from x0 (default 0.1). */
  alphaMax?: number;
  /** eta, the overshoot of the projections (default 1.05). */
  eta?: number;
  /** beta, how far a misclassified iterate is moved back towards x0 (default 0.9). */
  beta?: number;
  /**
   * Keep iterating after an adversarial within eps to find closer ones (FAB as a minimum-norm
   * attack; `distance` of the result is then the closest found), instead of leaving.
   */
  minimise?: boolean;
  /** The classifier of the final check (e.g. the plain model's session; default: `model`). */
  check?: PixelClassifier;
  /** Observes the iterates (tests, diagnostics). */
  trace?: (event: FabEvent) => void;
}

/** FAB-T's parameters as AutoAttack's standard evaluation runs it, and the paper's step constants. */
export const FAB_T_DEFAULTS = { iterations: 100, targets: 9, restarts: 1, alphaMax: 0.1, eta: 1.05, beta: 0.9 } as const;

/**
 * Image `image` (index in the call) has classified iterate k of run `run` (targets, then
 * restarts, counted together; k = 0 the start, and the point moved back from iterate k carries
 * k as well) at `distance` from its clean image; `closest` is the distance of its closest
 * adversarial so far (Infinity: none).
 */
export interface FabEvent {
  run: number;
  image: number;
  target: number;
  k: number;
  distance: number;
  adversarial: boolean;
  closest: number;
}

export interface FabResult extends AttackResult {
  /**
   * Per image, the distance (in the norm) of the closest adversarial found: 0 for an image the
   * model misclassifies already, Infinity where none was found (or none passed the final check).
   */
  distance: Float64Array;
}

/** An image's values: iterates are float32, the per-image arithmetic float64. */
type Values = Float32Array | Float64Array;

/** Scratch of {@link projectOntoHyperplane} (synchronous, so one set serves every call). */
const scratch = {
  magnitude: new Float64Array(PIXELS_PER_IMAGE),
  cap: new Float64Array(PIXELS_PER_IMAGE),
  rate: new Float64Array(PIXELS_PER_IMAGE),
  knot: new Float64Array(PIXELS_PER_IMAGE),
};

/**
 * The perturbation d of smallest `norm` with <w, d> = c and x + d in [0,1] (one image: w[wo..],
 * x[xo..]), written into out; returns ||d||. Where no d in the box reaches the hyperplane, the
 * box corner going furthest towards it (d_i = 1 - x_i or -x_i by the sign of c w_i).
 *
 * With s_i = sign(c w_i) and d_i = s_i u_i, u_i in [0, cap_i] (cap_i = 1 - x_i where s_i > 0, x_i
 * where s_i < 0), the problem is: minimise ||u|| subject to sum |w_i| u_i = |c|. The minimiser
 * is u_i = min(lambda r_i, cap_i), r_i = |w_i| for L2 (the KKT conditions) and r_i = 1 for
 * L-infinity (every coordinate moves by the same amount until its bound); lambda solves
 * h(lambda) = sum |w_i| min(lambda r_i, cap_i) = |c|. h is concave, piecewise linear and
 * increasing, so Newton's method from lambda = 0 rises monotonically to the root and stops on
 * the root's piece (each step either lands there or passes at least one more kink).
 */
export function projectOntoHyperplane(norm: FabNorm, w: Values, wo: number, c: number, x: Values, xo: number, out: Float64Array): number {
  const n = PIXELS_PER_IMAGE;
  out.fill(0, 0, n);
  if (c === 0 || !Number.isFinite(c)) return 0;
  const { magnitude, cap, rate, knot } = scratch;
  const sc = Math.sign(c);
  const target = Math.abs(c);
  let reach = 0;
  for (let i = 0; i < n; i++) {
    const wi = w[wo + i];
    const a = Math.abs(wi);
    magnitude[i] = a;
    const xi = x[xo + i];
    const room = sc * wi > 0 ? 1 - xi : xi;
    cap[i] = room > 0 ? room : 0;
    rate[i] = norm === 'l2' ? a : a > 0 ? 1 : 0;
    knot[i] = a > 0 ? cap[i] / rate[i] : Infinity;
    reach += a * cap[i];
  }
  let lambda = Infinity;
  if (reach > target) {
    lambda = 0;
    let cappedBefore = -1;
    // At most n + 1 rounds: the capped set grows each round until the root's piece.
    for (let round = 0; round <= n + 1; round++) {
      let fixed = 0; // sum of |w_i| cap_i over capped coordinates
      let slope = 0; // sum of |w_i| r_i over the others
      let capped = 0;
      for (let i = 0; i < n; i++) {
        if (magnitude[i] === 0) continue;
        if (knot[i] <= lambda) {
          fixed += magnitude[i] * cap[i];
          capped++;
        } else slope += magnitude[i] * rate[i];
      }
      if (capped === cappedBefore || slope === 0) break;
      cappedBefore = capped;
      lambda = Math.max(lambda, (target - fixed) / slope);
    }
  }
  let acc = 0;
  for (let i = 0; i < n; i++) {
    if (magnitude[i] === 0) continue;
    const u = Math.min(lambda * rate[i], cap[i]);
    out[i] = sc * Math.sign(w[wo + i]) * u;
    acc = norm === 'linf' ? Math.max(acc, u) : acc + u * u;
  }
  return norm === 'linf' ? acc : Math.sqrt(acc);
}

/** ||x[o..] - clean[co..]|| over one image, float64. */
export function distanceOf(norm: FabNorm, x: Values, o: number, clean: Float32Array, co: number): number {
  let acc = 0;
  for (let i = 0; i < PIXELS_PER_IMAGE; i++) {
    const d = x[o + i] - clean[co + i];
    acc = norm === 'linf' ? Math.max(acc, Math.abs(d)) : acc + d * d;
  }
  return norm === 'linf' ? acc : Math.sqrt(acc);
}

/** A standard normal draw (Box-Muller). */
function gaussian(rng: SeededRandom): number {
  const u = 1 - rng.next(); // (0, 1]: the log stays finite
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.next());
}

const clip01 = (v: number): number => (v < 0 ? 0 : v > 1 ? 1 : v);

interface Context {
  model: FabModel;
  clean: Float32Array;
  labels: Uint8Array;
  o: FabOptions;
  norm: FabNorm;
  rng: SeededRandom;
  fooled: Uint8Array;
  distance: Float64Array;
  /** Per image, the closest adversarial found. */
  closest: Float32Array;
  /** Per image, the last iterate of its last run. */
  last: Float32Array;
}

/**
 * One FAB run towards `targets` over `images`; returns the gradient evaluations it spent. The
 * closest adversarial per image goes into the context; the final check is the caller's.
 */
async function fabRun(c: Context, images: readonly number[], targets: Uint8Array, randomStart: boolean, run: number): Promise<number> {
  const { o, norm, clean } = c;
  const P = PIXELS_PER_IMAGE;
  const m = images.length;
  const k = c.model.classes;
  const alphaMax = o.alphaMax ?? FAB_T_DEFAULTS.alphaMax;
  const eta = o.eta ?? FAB_T_DEFAULTS.eta;
  const beta = o.beta ?? FAB_T_DEFAULTS.beta;
  const x = new Float32Array(m * P);
  const next = new Float32Array(m * P);
  const g = new Float32Array(m * P);
  const margin = new Float64Array(m); // z_t - z_y at x
  const fresh = new Uint8Array(m); // g and margin belong to x
  const expectAdversarial = new Uint8Array(m); // the slot's last iterate was adversarial
  const d = new Float64Array(P);
  const d0 = new Float64Array(P);
  for (let s = 0; s < m; s++) {
    const co = images[s] * P;
    const radius = randomStart ? Math.min(o.eps, c.distance[images[s]]) / 2 : 0;
    if (!(radius > 0) || !Number.isFinite(radius)) {
      copyImage(clean, images[s], x, s);
      continue;
    }
    if (norm === 'linf') {
      for (let i = 0; i < P; i++) x[s * P + i] = clip01(clean[co + i] + c.rng.uniform(-radius, radius));
    } else {
      for (let i = 0; i < P; i++) d[i] = gaussian(c.rng);
      let sq = 0;
      for (let i = 0; i < P; i++) sq += d[i] * d[i];
      const scale = sq > 0 ? radius / Math.sqrt(sq) : 0;
      for (let i = 0; i < P; i++) x[s * P + i] = clip01(clean[co + i] + scale * d[i]);
    }
  }
  let evaluations = 0;
  const done = new Uint8Array(m);

  /** Evaluates the rows `slots` of `from` (gradients into g unless `forwardOnly`); returns the logits. */
  const evaluate = async (from: Float32Array, slots: readonly number[], forwardOnly: boolean): Promise<Float32Array> => {
    const pixels = new Float32Array(slots.length * P);
    const labels = new Uint8Array(slots.length);
    const rowTargets = new Uint8Array(slots.length);
    slots.forEach((s, j) => {
      copyImage(from, s, pixels, j);
      labels[j] = c.labels[images[s]];
      rowTargets[j] = targets[images[s]];
    });
    if (forwardOnly) return c.model.logits(pixels, slots.length);
    const r = await c.model.lossGradient(pixels, labels, slots.length, rowTargets);
    evaluations += slots.length;
    slots.forEach((s, j) => g.set(r.gradient.subarray(j * P, (j + 1) * P), s * P));
    return r.logits;
  };

  /** Slot s's point row j of `logits` (row s of `from`): keeps it if it is the closest adversarial; returns whether it is adversarial. */
  const classify = (from: Float32Array, s: number, logits: Float32Array, j: number, step: number): boolean => {
    const i = images[s];
    const adversarial = argmax(logits, j, k) !== c.labels[i];
    const dist = distanceOf(norm, from, s * P, clean, i * P);
    if (adversarial && dist < c.distance[i]) {
      c.distance[i] = dist;
      copyImage(from, s, c.closest, i);
      if (dist <= o.eps && !o.minimise) done[s] = 1;
    }
    o.trace?.({ run, image: i, target: targets[i], k: step, distance: dist, adversarial, closest: c.distance[i] });
    return adversarial;
  };

  const readMargin = (s: number, logits: Float32Array, j: number): void => {
    const i = images[s];
    margin[s] = logits[j * k + targets[i]] - logits[j * k + c.labels[i]];
    fresh[s] = 1;
  };

  let live = [...Array(m).keys()];
  for (let step = 0; step < o.iterations && live.length > 0; step++) {
    const stale = live.filter((s) => !fresh[s]);
    if (stale.length > 0) {
      const logits = await evaluate(x, stale, false);
      stale.forEach((s, j) => {
        readMargin(s, logits, j);
        classify(x, s, logits, j, step); // the start, or the point moved back
      });
      live = live.filter((s) => !done[s]);
      if (live.length === 0) break;
    }
    for (const s of live) {
      const off = s * P;
      const co = images[s] * P;
      const b = margin[s];
      // The same hyperplane, seen from x0: b + <w, x0 - x> + <w, d0> = 0.
      let b0 = b;
      for (let i = 0; i < P; i++) b0 += g[off + i] * (clean[co + i] - x[off + i]);
      const size = projectOntoHyperplane(norm, g, off, -b, x, off, d);
      const size0 = projectOntoHyperplane(norm, g, off, -b0, clean, co, d0);
      const alpha = size + size0 > 0 ? Math.min(size / (size + size0), alphaMax) : 0;
      for (let i = 0; i < P; i++) {
        next[off + i] = clip01((1 - alpha) * (x[off + i] + eta * d[i]) + alpha * (clean[co + i] + eta * d0[i]));
      }
    }
    // A slot whose last iterate was adversarial likely has another: a forward pass classifies
    // it (its gradient would be discarded); the others get their gradient with their logits.
    const lastStep = step + 1 === o.iterations;
    const withGradient = lastStep ? [] : live.filter((s) => !expectAdversarial[s]);
    const forwardOnly = lastStep ? live : live.filter((s) => expectAdversarial[s]);
    for (const [slots, gradient] of [[withGradient, true], [forwardOnly, false]] as const) {
      if (slots.length === 0) continue;
      const logits = await evaluate(next, slots, !gradient);
      slots.forEach((s, j) => {
        const off = s * P;
        const co = images[s] * P;
        const adversarial = classify(next, s, logits, j, step + 1);
        expectAdversarial[s] = adversarial ? 1 : 0;
        if (adversarial) {
          for (let i = 0; i < P; i++) x[off + i] = (1 - beta) * clean[co + i] + beta * next[off + i];
          fresh[s] = 0;
        } else {
          x.set(next.subarray(off, off + P), off);
          if (gradient) readMargin(s, logits, j);
          else fresh[s] = 0;
        }
      });
    }
    live = live.filter((s) => !done[s]);
  }
  for (let s = 0; s < m; s++) copyImage(x, s, c.last, images[s]);
  return evaluations;
}

/**
 * Moves image i of `x` radially towards clean[i] until it lies within eps (in place); a convex
 * combination of two points of [0,1] stays there.
 */
function pullIntoBall(norm: FabNorm, x: Float32Array, clean: Float32Array, i: number, eps: number): void {
  const o = i * PIXELS_PER_IMAGE;
  const from = x.slice(o, o + PIXELS_PER_IMAGE);
  const dist = distanceOf(norm, from, 0, clean, o);
  // Rounding to float32 can leave the distance a few ulps above eps: shrink a little more then.
  for (let shrink = 1; distanceOf(norm, x, o, clean, o) > eps; shrink *= 1 - 2 ** -20) {
    const scale = (eps / dist) * shrink;
    for (let p = 0; p < PIXELS_PER_IMAGE; p++) x[o + p] = Math.min(Math.max(clean[o + p] + scale * (from[p] - clean[o + p]), 0), 1);
  }
}

/**
 * FAB-T on `count` images in one batch. `fooled`: an adversarial within eps was found and a
 * forward pass confirmed it misclassified; `adversarial`: for those the closest adversarial,
 * else the closest one found (or the last iterate) pulled into the eps ball towards the clean
 * image; `distance`: see {@link FabResult}; `evaluations`: gradient evaluations summed over
 * images (forward passes, for the clean logits, the last iterates and the final checks, are
 * not counted, as with APGD).
 *
 * @throws Error for bad options or a model whose loss is not the logit difference.
 */
export async function fabTargeted(model: FabModel, clean: Float32Array, labels: Uint8Array, count: number, o: FabOptions): Promise<FabResult> {
  if (!(o.iterations >= 1) || !Number.isInteger(o.iterations)) throw new Error(`FAB needs a whole number of iterations >= 1 (got ${o.iterations})`);
  if (!(o.eps >= 0)) throw new Error(`FAB needs eps >= 0 (got ${o.eps})`);
  if (!Number.isInteger(o.targets) || o.targets < 1) throw new Error(`FAB-T needs a whole number of targets >= 1 (got ${o.targets})`);
  if (!Number.isInteger(o.restarts) || o.restarts < 1) throw new Error(`FAB needs a whole number of restarts >= 1 (got ${o.restarts})`);
  if (model.loss !== undefined && model.loss !== 'logit-difference') throw new Error(`FAB needs the logit-difference gradient (the model's loss is ${model.loss})`);
  const P = PIXELS_PER_IMAGE;
  const norm = o.norm ?? 'linf';
  const k = model.classes;
  const c: Context = {
    model,
    clean,
    labels,
    o,
    norm,
    rng: new SeededRandom(o.seed),
    fooled: new Uint8Array(count),
    distance: new Float64Array(count).fill(Infinity),
    closest: clean.slice(0, count * P),
    last: clean.slice(0, count * P),
  };
  const cleanLogits = (await model.logits(clean.subarray(0, count * P), count)).slice();
  for (let i = 0; i < count; i++) {
    if (argmax(cleanLogits, i, k) === labels[i]) continue;
    c.fooled[i] = 1;
    c.distance[i] = 0;
  }
  let evaluations = 0;
  let run = 0;
  const pending = (): number[] => [...Array(count).keys()].filter((i) => (o.minimise ? c.distance[i] > 0 : !c.fooled[i]));
  for (let rank = 1; rank <= Math.min(o.targets, k - 1); rank++) {
    const targets = new Uint8Array(count);
    for (let i = 0; i < count; i++) targets[i] = Math.max(targetClass(cleanLogits, i, k, labels[i], rank), 0);
    for (let r = 0; r < o.restarts; r++) {
      const images = pending();
      if (images.length === 0) break;
      evaluations += await fabRun(c, images, targets, o.randomStart || r > 0, run++);
      await confirm(c, images);
    }
  }
  const adversarial = c.closest;
  for (let i = 0; i < count; i++) {
    if (c.fooled[i]) continue;
    if (!Number.isFinite(c.distance[i])) copyImage(c.last, i, adversarial, i);
    pullIntoBall(norm, adversarial, clean, i, o.eps);
  }
  return { fooled: c.fooled, adversarial, evaluations, distance: c.distance };
}

/**
 * The final check of the images' candidates within eps: a forward pass (of `check`, else the
 * model) must classify the candidate wrongly (the runs classified it from the gradient graph's logits); a candidate that
 * fails is dropped (distance back to Infinity) so later runs can find another.
 */
async function confirm(c: Context, images: readonly number[]): Promise<void> {
  const P = PIXELS_PER_IMAGE;
  // With `minimise` a fooled image's candidate may have been replaced by a closer one: checked again.
  const check = images.filter((i) => c.distance[i] > 0 && c.distance[i] <= c.o.eps);
  if (check.length === 0) return;
  const pixels = new Float32Array(check.length * P);
  check.forEach((i, j) => copyImage(c.closest, i, pixels, j));
  const classifier = c.o.check ?? c.model;
  const logits = await classifier.logits(pixels, check.length);
  check.forEach((i, j) => {
    const within = distanceOf(c.norm, c.closest, i * P, c.clean, i * P) <= c.o.eps;
    if (within && argmax(logits, j, classifier.classes) !== c.labels[i]) c.fooled[i] = 1;
    else {
      c.fooled[i] = 0;
      c.distance[i] = Infinity;
      copyImage(c.clean, i, c.closest, i);
    }
  });
}
