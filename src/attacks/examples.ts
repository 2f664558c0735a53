/**
 * A few adversarial examples for people to look at: clean image, adversarial image and the
 * perturbation magnified to the full pixel range, as small PNGs (base64) in the report.
 */
import { PNG } from 'pngjs';
import { PIXELS_PER_IMAGE } from './types.js';

export interface AdversarialExample {
  /** Index in the CIFAR-10 test set. */
  index: number;
  label: number;
  cleanPrediction: number;
  adversarialPrediction: number;
  attack: string;
  /** data: URLs of 32x32 PNGs. */
  cleanPng: string;
  adversarialPng: string;
  /** (adversarial - clean) / (2 eps) + 0.5, so the eps ball spans black to white. */
  perturbationPng: string;
}

/** Encodes image `i` of NCHW pixels in [0,1] (optionally mapped by `f`) as a PNG data URL. */
export function pngDataUrl(pixels: Float32Array, i: number, f: (v: number, p: number) => number = (v) => v): string {
  const png = new PNG({ width: 32, height: 32 });
  const base = i * PIXELS_PER_IMAGE;
  for (let p = 0; p < 1024; p++) {
    for (let c = 0; c < 3; c++) {
      const v = f(pixels[base + c * 1024 + p], base + c * 1024 + p);
      png.data[p * 4 + c] = Math.round(Math.min(1, Math.max(0, v)) * 255);
    }
    png.data[p * 4 + 3] = 255;
  }
  return `data:image/png;base64,${PNG.sync.write(png).toString('base64')}`;
}

export function adversarialExample(
  clean: Float32Array,
  adversarial: Float32Array,
  i: number,
  eps: number,
  meta: Omit<AdversarialExample, 'cleanPng' | 'adversarialPng' | 'perturbationPng'>,
): AdversarialExample {
  return {
    ...meta,
    cleanPng: pngDataUrl(clean, i),
    adversarialPng: pngDataUrl(adversarial, i),
    perturbationPng: pngDataUrl(adversarial, i, (v, idx) => (v - clean[idx]) / (2 * eps) + 0.5),
  };
}
