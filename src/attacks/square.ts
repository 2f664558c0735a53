/**
 * The Square Attack (Andriushchenko et al., ECCV 2020), L-infinity version: score-based, forward
 * passes only. Random square windows of the perturbation are set to ±eps per channel and kept
 * when they lower the margin (true logit minus the best other). It needs no gradient, so it is
 * the fallback where no gradient graph can be built, and a check for gradient masking where
 * one can.
 */
import { AttackResult } from './gradientAttacks.js';
import { SeededRandom } from './random.js';
import { LinfBall, margin, PixelClassifier, PIXELS_PER_IMAGE } from './types.js';

export interface SquareOptions extends LinfBall {
  /** Forward passes per sample, the initialisation included. */
  queries: number;
  /** Initial share of pixels a window covers. */
  pInit: number;
  seed: number;
}

const SIDE = 32;
const CHANNELS = 3;

/** The paper's schedule: the window's share halves at fixed fractions of a 10,000-query run. */
export function squareShare(pInit: number, iteration: number, queries: number): number {
  const it = Math.floor((iteration / queries) * 10000);
  const cuts = [10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000];
  let halvings = 0;
  for (const c of cuts) if (it > c) halvings++;
  return pInit / 2 ** halvings;
}

export async function squareAttack(model: PixelClassifier, clean: Float32Array, labels: Uint8Array, count: number, o: SquareOptions): Promise<AttackResult> {
  const rng = new SeededRandom(o.seed);
  const best = new Float32Array(count * PIXELS_PER_IMAGE);
  // Initialisation: vertical stripes of ±eps, one sign per channel and column.
  for (let i = 0; i < count; i++) {
    for (let c = 0; c < CHANNELS; c++) {
      for (let col = 0; col < SIDE; col++) {
        const delta = o.eps * rng.sign();
        for (let row = 0; row < SIDE; row++) {
          const p = i * PIXELS_PER_IMAGE + c * SIDE * SIDE + row * SIDE + col;
          best[p] = clamp01(clean[p] + delta);
        }
      }
    }
  }
  const bestMargin = new Float64Array(count);
  const logits0 = await model.logits(best, count);
  for (let i = 0; i < count; i++) bestMargin[i] = margin(logits0, i, model.classes, labels[i]);
  let evaluations = count;
  const candidate = new Float32Array(count * PIXELS_PER_IMAGE);
  for (let iteration = 1; iteration < o.queries; iteration++) {
    const active: number[] = [];
    for (let i = 0; i < count; i++) if (bestMargin[i] > 0) active.push(i);
    if (active.length === 0) break;
    const share = squareShare(o.pInit, iteration, o.queries);
    const side = Math.min(Math.max(Math.round(Math.sqrt(share * SIDE * SIDE)), 1), SIDE - 1);
    active.forEach((idx, j) => {
      const src = idx * PIXELS_PER_IMAGE;
      const dst = j * PIXELS_PER_IMAGE;
      candidate.set(best.subarray(src, src + PIXELS_PER_IMAGE), dst);
      const top = rng.int(SIDE - side + 1);
      const left = rng.int(SIDE - side + 1);
      for (let c = 0; c < CHANNELS; c++) {
        const delta = o.eps * rng.sign();
        for (let r = top; r < top + side; r++) {
          for (let col = left; col < left + side; col++) {
            const off = c * SIDE * SIDE + r * SIDE + col;
            candidate[dst + off] = clamp01(clean[src + off] + delta);
          }
        }
      }
    });
    const logits = await model.logits(candidate.subarray(0, active.length * PIXELS_PER_IMAGE), active.length);
    evaluations += active.length;
    active.forEach((idx, j) => {
      const m = margin(logits, j, model.classes, labels[idx]);
      if (m < bestMargin[idx]) {
        bestMargin[idx] = m;
        best.set(candidate.subarray(j * PIXELS_PER_IMAGE, (j + 1) * PIXELS_PER_IMAGE), idx * PIXELS_PER_IMAGE);
      }
    });
  }
  const fooled = new Uint8Array(count);
  for (let i = 0; i < count; i++) fooled[i] = bestMargin[i] < 0 ? 1 : 0;
  return { fooled, adversarial: best, evaluations };
}

function clamp01(v: number): number {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}
