/**
 * Where in frequency adversarial perturbations live (SPEC §4): mean |DFT2| of the perturbations
 * per channel, centred, and the share of their energy above half the Nyquist band.
 */
import { dft2 } from '../metrics/spectrum.js';
import { PIXELS_PER_IMAGE } from './types.js';

const SIDE = 32;

export interface PerturbationSpectrum {
  /** Images whose perturbation went in. */
  samples: number;
  size: number;
  /** Per channel (R, G, B): size x size mean |DFT2| (forward-normalised), zero frequency at [size/2][size/2]. */
  channels: number[][][];
  /** Share of the perturbations' energy at frequencies with max(|u|,|v|) > size/4. */
  highFrequencyShare: number;
}

/** Signed frequency of DFT index k on an n-point grid, in [-n/2, n/2). */
function signedFrequency(k: number, n: number): number {
  return k < n / 2 ? k : k - n;
}

/** Accumulates perturbations (adversarial - clean) image by image. */
export class PerturbationSpectrumAccumulator {
  private readonly magnitude = new Float64Array(3 * SIDE * SIDE);
  private highEnergy = 0;
  private totalEnergy = 0;
  private samples = 0;
  private readonly map = new Float64Array(SIDE * SIDE);

  add(adversarial: Float32Array, clean: Float32Array, count: number): void {
    for (let i = 0; i < count; i++) {
      for (let c = 0; c < 3; c++) {
        const base = i * PIXELS_PER_IMAGE + c * SIDE * SIDE;
        for (let p = 0; p < SIDE * SIDE; p++) this.map[p] = adversarial[base + p] - clean[base + p];
        const { re, im } = dft2(this.map, SIDE, SIDE);
        for (let u = 0; u < SIDE; u++) {
          const fu = signedFrequency(u, SIDE);
          for (let v = 0; v < SIDE; v++) {
            const fv = signedFrequency(v, SIDE);
            const k = u * SIDE + v;
            const energy = re[k] * re[k] + im[k] * im[k];
            // centre: frequency 0 lands at index size/2
            const centred = (fu + SIDE / 2) * SIDE + (fv + SIDE / 2);
            this.magnitude[c * SIDE * SIDE + centred] += Math.sqrt(energy);
            this.totalEnergy += energy;
            if (Math.max(Math.abs(fu), Math.abs(fv)) > SIDE / 4) this.highEnergy += energy;
          }
        }
      }
      this.samples++;
    }
  }

  result(): PerturbationSpectrum {
    const n = Math.max(this.samples, 1);
    const channels = [0, 1, 2].map((c) =>
      Array.from({ length: SIDE }, (_, r) => Array.from({ length: SIDE }, (_, col) => this.magnitude[c * SIDE * SIDE + r * SIDE + col] / n)),
    );
    return {
      samples: this.samples,
      size: SIDE,
      channels,
      highFrequencyShare: this.totalEnergy > 0 ? this.highEnergy / this.totalEnergy : 0,
    };
  }
}
