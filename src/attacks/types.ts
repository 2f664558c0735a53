/**
 * What the attacks need from a model, in pixel space: images [B,3,32,32] in [0,1], NCHW, the
 * preprocessing and layout applied inside (by the gradient graph or by the caller).
 */

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

/** Options every attack shares: an L-infinity ball of radius eps around the clean image. */
export interface LinfBall {
  eps: number;
}

export const PIXELS_PER_IMAGE = 3 * 32 * 32;

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
