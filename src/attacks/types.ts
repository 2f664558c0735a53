/**
 * What the attacks need from a model, in pixel space: images [B,3,32,32] in [0,1], NCHW, the
 * preprocessing and layout applied inside (by the gradient graph or by the caller).
 */
import type { SeededRandom } from './random.js';

/** Forward passes only (the Square Attack's view of a model). */
export interface PixelClassifier {
  /** Classes per output row. */
  readonly classes: number;
  /** Logits (or scores) of `count` images laid out [count,3,32,32]; returns [count, classes]. */
  logits(pixels: Float32Array, count: number): Promise<Float32Array>;
}

/** A classifier whose input gradient we can evaluate (white-box attacks). */
export interface GradientClassifier extends PixelClassifier {
  /**
   * Logits and d(sum of cross-entropy losses)/d pixels for `count` images with true classes
   * `labels`; gradient laid out like the pixels.
   */
  lossGradient(pixels: Float32Array, labels: Uint8Array, count: number): Promise<{ logits: Float32Array; gradient: Float32Array }>;
  /**
   * One whole PGD step inside the runtime, where it can: the logits of `x` and
   * clip(project(x + stepSize * sign(gradient))) into the eps ball around `clean` and [0,1].
   * Keeps the step on the device; absent where the model's opset has no Sign.
   */
  signedStep?(x: Float32Array, clean: Float32Array, labels: Uint8Array, count: number, ball: { eps: number; stepSize: number }): Promise<{ logits: Float32Array; next: Float32Array }>;
}

/** The norm of the perturbation budget. */
export type Norm = 'linf' | 'l2';

/**
 * Options every attack shares: a ball of radius eps around the clean image, in the L-infinity
 * norm unless `norm` says otherwise. (The name predates the L2 norm; kept for its callers.)
 */
export interface LinfBall {
  eps: number;
  /** Default 'linf'. */
  norm?: Norm;
}

export const PIXELS_PER_IMAGE = 3 * 32 * 32;

/** Copies image `from` of `src` into slot `to` of `dst`. */
export function copyImage(src: Float32Array, from: number, dst: Float32Array, to: number): void {
  dst.set(src.subarray(from * PIXELS_PER_IMAGE, (from + 1) * PIXELS_PER_IMAGE), to * PIXELS_PER_IMAGE);
}

/** Index of the largest logit of row i. */
export function argmax(logits: Float32Array, i: number, classes: number): number {
  let best = 0;
  const o = i * classes;
  for (let k = 1; k < classes; k++) if (logits[o + k] > logits[o + best]) best = k;
  return best;
}

/** logit of the true class minus the largest other logit: < 0 means misclassified. */
export function margin(logits: Float32Array, i: number, classes: number, label: number): number {
  const o = i * classes;
  let other = Number.NEGATIVE_INFINITY;
  for (let k = 0; k < classes; k++) if (k !== label && logits[o + k] > other) other = logits[o + k];
  return logits[o + label] - other;
}

/** Clamps x into [clean - eps, clean + eps] ∩ [0, 1], elementwise, in place. */
export function projectLinf(x: Float32Array, clean: Float32Array, eps: number, offset = 0, length = x.length - offset): void {
  for (let i = offset; i < offset + length; i++) {
    const lo = Math.max(0, clean[i] - eps);
    const hi = Math.min(1, clean[i] + eps);
    const v = x[i];
    x[i] = v < lo ? lo : v > hi ? hi : v;
  }
}

/** An image's values: the attacks keep iterates in float32, the per-image arithmetic in float64. */
type Values = Float32Array | Float64Array;

/** ||x[o..] - clean[o..]|| in `norm` over one image, float64. */
export function perturbationNorm(norm: Norm, x: Values, clean: Float32Array, o = 0, co = o): number {
  let acc = 0;
  for (let i = 0; i < PIXELS_PER_IMAGE; i++) {
    const d = x[o + i] - clean[co + i];
    acc = norm === 'linf' ? Math.max(acc, Math.abs(d)) : acc + d * d;
  }
  return norm === 'linf' ? acc : Math.sqrt(acc);
}

/** ||g[o..]||_2 over one image, float64. */
function l2(g: Values, o: number): number {
  let s = 0;
  for (let i = 0; i < PIXELS_PER_IMAGE; i++) s += g[o + i] * g[o + i];
  return Math.sqrt(s);
}

/** A standard normal draw (Box-Muller on two uniforms; the generator has no Gaussian of its own). */
export function gaussian(rng: SeededRandom): number {
  const u = 1 - rng.next(); // (0, 1]: log stays finite
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.next());
}

/**
 * out[i] = x[o+i] + eta * d[i], i < PIXELS_PER_IMAGE, d the steepest-ascent direction of the
 * gradient g[o..] for the norm's unit ball: sign(g) for L-infinity, g / ||g||_2 for L2. A zero
 * gradient gives d = 0 (the iterate stays).
 */
export function ascend(norm: Norm, x: Values, g: Values, o: number, eta: number, out: Float64Array): void {
  if (norm === 'linf') {
    for (let i = 0; i < PIXELS_PER_IMAGE; i++) out[i] = x[o + i] + eta * Math.sign(g[o + i]);
    return;
  }
  const n = l2(g, o);
  const scale = n > 0 && Number.isFinite(n) ? eta / n : 0;
  for (let i = 0; i < PIXELS_PER_IMAGE; i++) out[i] = x[o + i] + scale * g[o + i];
}

/**
 * out = a point drawn uniformly from the eps ball around clean[o..] (not yet intersected with
 * [0,1]; project afterwards). L-infinity: each pixel uniform in [-eps, eps). L2: a Gaussian
 * direction normalised, radius eps * U^(1/d) with d = 3072, which is uniform in the ball (its
 * radius is almost always above 0.99 eps; AutoAttack starts on the sphere, radius eps).
 */
export function randomInBall(norm: Norm, clean: Float32Array, o: number, eps: number, rng: SeededRandom, out: Float64Array): void {
  if (norm === 'linf') {
    for (let i = 0; i < PIXELS_PER_IMAGE; i++) out[i] = clean[o + i] + rng.uniform(-eps, eps);
    return;
  }
  let s = 0;
  for (let i = 0; i < PIXELS_PER_IMAGE; i++) {
    out[i] = gaussian(rng);
    s += out[i] * out[i];
  }
  const radius = eps * Math.pow(rng.next(), 1 / PIXELS_PER_IMAGE);
  const scale = s > 0 ? radius / Math.sqrt(s) : 0;
  for (let i = 0; i < PIXELS_PER_IMAGE; i++) out[i] = clean[o + i] + scale * out[i];
}

/**
 * Projects v (one image, v[0..PIXELS_PER_IMAGE)) onto the eps ball around clean[o..] intersected
 * with [0,1], in place. Both are exact Euclidean projections: for L-infinity the clamp; for L2 see
 * {@link projectL2}.
 */
export function projectToBall(norm: Norm, v: Float64Array, clean: Float32Array, o: number, eps: number): void {
  if (norm === 'l2') {
    projectL2(v, clean, o, eps);
    return;
  }
  for (let i = 0; i < PIXELS_PER_IMAGE; i++) {
    const lo = Math.max(0, clean[o + i] - eps);
    const hi = Math.min(1, clean[o + i] + eps);
    const u = v[i];
    v[i] = u < lo ? lo : u > hi ? hi : u;
  }
}

/**
 * The exact Euclidean projection of v (one image) onto {x : ||x - c||_2 <= eps, 0 <= x <= 1},
 * c = clean[o..], in place. Projecting onto the ball and then clipping (AutoAttack's practice) is
 * feasible but not the nearest point. The KKT conditions give the nearest point as
 * c + clip(t d, -c, 1 - c), d = v - c, for the t in (0, 1] where the ball constraint is tight
 * (t = 1 when clip(d) is inside already); ||clip(t d)|| is piecewise sqrt(A + t^2 S) between the
 * t where coordinates reach their bound, so t is found exactly by sorting those breakpoints.
 */
export function projectL2(v: Float64Array, clean: Float32Array, o: number, eps: number): void {
  const n = PIXELS_PER_IMAGE;
  const radius = Math.max(eps, 0);
  let clipped = 0;
  for (let i = 0; i < n; i++) {
    const c = clean[o + i];
    const d = Math.min(Math.max(v[i] - c, -c), 1 - c);
    clipped += d * d;
  }
  let t = 1;
  if (clipped > radius * radius) {
    // Breakpoints below 1: where coordinate i reaches its bound (bound / d_i); beyond, it stays there.
    const marks: number[] = [];
    let free = 0; // sum of d_i^2 over coordinates never clipped for t < 1
    for (let i = 0; i < n; i++) {
      const c = clean[o + i];
      const d = v[i] - c;
      const bound = d > 0 ? 1 - c : -c;
      if (d !== 0 && bound / d < 1) marks.push(i);
      else free += d * d;
    }
    const at = (i: number): number => {
      const c = clean[o + i];
      const d = v[i] - c;
      return (d > 0 ? 1 - c : -c) / d;
    };
    const order = Float64Array.from(marks, at);
    const index = Int32Array.from(marks.keys()).sort((a, b) => order[a] - order[b]);
    // suffix[j]: sum of d^2 over the marked coordinates index[j..], still free below order[index[j]]
    const suffix = new Float64Array(marks.length + 1);
    for (let j = marks.length - 1; j >= 0; j--) {
      const i = marks[index[j]];
      const d = v[i] - clean[o + i];
      suffix[j] = suffix[j + 1] + d * d;
    }
    let bounded = 0; // sum of bound^2 over the coordinates clipped so far
    t = -1;
    for (let j = 0; j <= marks.length && t < 0; j++) {
      const s = free + suffix[j];
      const end = j < marks.length ? order[index[j]] : 1;
      // On [previous breakpoint, end): ||.||^2 = bounded + t^2 s; tight where it equals eps^2.
      if (bounded + end * end * s >= radius * radius) t = s > 0 ? Math.sqrt(Math.max(radius * radius - bounded, 0) / s) : 0;
      else if (j < marks.length) {
        const i = marks[index[j]];
        const c = clean[o + i];
        const bound = v[i] - c > 0 ? 1 - c : -c;
        bounded += bound * bound;
      }
    }
    if (t < 0) t = 1; // not reached: ||clip(d)|| > eps means the norm reaches eps before t = 1
  }
  let norm2 = 0;
  for (let i = 0; i < n; i++) {
    const c = clean[o + i];
    const d = Math.min(Math.max(t * (v[i] - c), -c), 1 - c);
    v[i] = d;
    norm2 += d * d;
  }
  // Rounding can leave the norm a few ulps above eps; shrinking stays inside the box (0 is in it).
  const shrink = norm2 > radius * radius ? radius / Math.sqrt(norm2) : 1;
  for (let i = 0; i < n; i++) v[i] = clean[o + i] + shrink * v[i];
}

const f32 = new Float32Array(1);
const f32Bits = new Int32Array(f32.buffer);

/**
 * Writes one image v (float64) into x[xo..] as float32. For L2 each value is rounded to the
 * float32 neighbour nearer the clean pixel where round-to-nearest would move it away, so
 * |x - clean| <= |v - clean| pixel by pixel and a v inside the ball and [0,1] stays inside in
 * float32 (nearest rounding can add ~1e-8 per pixel, over 1e-6 of a small eps). L-infinity
 * rounds to nearest (its clamp bounds are float32 rounded already).
 */
export function storeImage(norm: Norm, v: Float64Array, clean: Float32Array, co: number, x: Float32Array, xo: number): void {
  if (norm === 'linf') {
    x.set(v.subarray(0, PIXELS_PER_IMAGE), xo);
    return;
  }
  for (let i = 0; i < PIXELS_PER_IMAGE; i++) {
    const c = clean[co + i];
    const f = Math.fround(v[i]);
    if (Math.abs(f - c) <= Math.abs(v[i] - c)) x[xo + i] = f;
    else {
      // f lies beyond v seen from c (a float32 itself): its neighbour towards c lies between c and v.
      x[xo + i] = nextFloat32(f, f > c ? -1 : 1);
    }
  }
}

/** The float32 next to the float32 f, below (direction -1) or above (+1). */
function nextFloat32(f: number, direction: -1 | 1): number {
  if (f === 0) return direction * 2 ** -149;
  f32[0] = f;
  // Float32 bit patterns grow with the magnitude: away from 0 is +1 on the pattern.
  f32Bits[0] += (f > 0) === (direction > 0) ? 1 : -1;
  return f32[0];
}
