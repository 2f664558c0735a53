/**
 * A linear classifier over pixels whose cross-entropy gradient is known in closed form, and
 * images it classifies as their labels: a cheap, exact model for attack tests.
 */
import { SeededRandom } from '../../src/attacks/random.js';
import { argmax, GradientClassifier, PIXELS_PER_IMAGE } from '../../src/attacks/types.js';

const K = 10;

/** logits = W x + b, with W scaled so that small perturbations matter; `calls` counts forward passes. */
export function linearClassifier(seed: number): GradientClassifier & { calls: number } {
  const rng = new SeededRandom(seed);
  const w = Float32Array.from({ length: K * PIXELS_PER_IMAGE }, () => rng.uniform(-1, 1) * 0.05);
  const b = Float32Array.from({ length: K }, () => rng.uniform(-0.1, 0.1));
  const model = {
    classes: K,
    calls: 0,
    logits(pixels: Float32Array, count: number): Promise<Float32Array> {
      model.calls++;
      const out = new Float32Array(count * K);
      for (let i = 0; i < count; i++) {
        for (let k = 0; k < K; k++) {
          let s = b[k];
          for (let p = 0; p < PIXELS_PER_IMAGE; p++) s += w[k * PIXELS_PER_IMAGE + p] * pixels[i * PIXELS_PER_IMAGE + p];
          out[i * K + k] = s;
        }
      }
      return Promise.resolve(out);
    },
    async lossGradient(pixels: Float32Array, labels: Uint8Array, count: number) {
      const logits = await model.logits(pixels, count);
      const gradient = new Float32Array(count * PIXELS_PER_IMAGE);
      for (let i = 0; i < count; i++) {
        let max = -Infinity;
        for (let k = 0; k < K; k++) max = Math.max(max, logits[i * K + k]);
        let z = 0;
        for (let k = 0; k < K; k++) z += Math.exp(logits[i * K + k] - max);
        for (let k = 0; k < K; k++) {
          const dk = Math.exp(logits[i * K + k] - max) / z - (k === labels[i] ? 1 : 0);
          for (let p = 0; p < PIXELS_PER_IMAGE; p++) gradient[i * PIXELS_PER_IMAGE + p] += dk * w[k * PIXELS_PER_IMAGE + p];
        }
      }
      return { logits, gradient };
    },
  };
  return model;
}

/** Uniform images and the labels the model gives them, so every sample starts correctly classified. */
export async function correctlyClassified(model: GradientClassifier, count: number, seed: number): Promise<{ pixels: Float32Array; labels: Uint8Array }> {
  const rng = new SeededRandom(seed);
  const pixels = Float32Array.from({ length: count * PIXELS_PER_IMAGE }, () => rng.next());
  const logits = await model.logits(pixels, count);
  const labels = Uint8Array.from({ length: count }, (_, i) => argmax(logits, i, K));
  return { pixels, labels };
}
