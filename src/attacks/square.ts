/**
 * The Square Attack (Andriushchenko et al., ECCV 2020): score-based, forward passes only. A
 * random search over localised square updates of the perturbation, each kept when it lowers the
 * margin (true logit minus the best other). It needs no gradient, so it is the fallback where no
 * gradient graph can be built, and a check for gradient masking where one can.
 *
 * L-infinity: vertical stripes of ±eps to start; a proposal sets one random window to ±eps per
 * channel. L2 (the paper's Section 3.2, written from its description): the start is a grid of
 * centred windows with random signs scaled to ||delta||_2 = eps; a proposal takes the mass of
 * two windows W1, W2 per channel (their union: they may overlap, as in AutoAttack's version;
 * plus the channel's share of the budget the clip to [0,1] left unused), puts it into W1 as the
 * old W1 direction plus a new centred +/- pattern, and zeroes the rest of W2, so every iterate
 * stays in the ball. Window sides follow AutoAttack's rule (odd, at least 3).
 */
import { AttackResult } from './gradientAttacks.js';
import { SeededRandom } from './random.js';
import { LinfBall, margin, PixelClassifier, PIXELS_PER_IMAGE, storeImage } from './types.js';

export interface SquareOptions extends LinfBall {
  /** Forward passes per sample, the initialisation included. */
  queries: number;
  /** Initial share of pixels a window covers, before the schedule halves it (the presets: 0.8, as AutoAttack). */
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

/**
 * The Square Attack in `o.norm` (default L-infinity) on `count` images: `o.queries` forward
 * passes per image at most (the start included), fooled images stop. `adversarial` holds the
 * point of lowest margin per image; `evaluations` counts forward queries summed over images.
 */
export async function squareAttack(model: PixelClassifier, clean: Float32Array, labels: Uint8Array, count: number, o: SquareOptions): Promise<AttackResult> {
  const rng = new SeededRandom(o.seed);
  const best = new Float32Array(count * PIXELS_PER_IMAGE);
  if ((o.norm ?? 'linf') === 'l2') {
    for (let i = 0; i < count; i++) l2Start(clean, i * PIXELS_PER_IMAGE, o.eps, rng, best);
    return search(model, clean, labels, count, o, best, (share) => {
      const side = l2Side(share);
      return (src, candidate, dst) => l2Proposal(clean, best, src, o.eps, side, rng, candidate, dst);
    });
  }
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
  return search(model, clean, labels, count, o, best, (share) => {
    const side = Math.min(Math.max(Math.round(Math.sqrt(share * SIDE * SIDE)), 1), SIDE - 1);
    return (src, candidate, dst) => {
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
    };
  });
}

/** Writes a proposal for the image at offset `src` (of clean and best) into candidate[dst..]. */
type Proposal = (src: number, candidate: Float32Array, dst: number) => void;

/**
 * The random search shared by both norms: `best` holds the initialisation; per iteration the
 * images whose margin is still positive get a proposal from `proposer(share)` and keep it when
 * it lowers their margin.
 */
async function search(model: PixelClassifier, clean: Float32Array, labels: Uint8Array, count: number, o: SquareOptions, best: Float32Array, proposer: (share: number) => Proposal): Promise<AttackResult> {
  const bestMargin = new Float64Array(count);
  const logits0 = await model.logits(best, count);
  for (let i = 0; i < count; i++) bestMargin[i] = margin(logits0, i, model.classes, labels[i]);
  let evaluations = count;
  const candidate = new Float32Array(count * PIXELS_PER_IMAGE);
  for (let iteration = 1; iteration < o.queries; iteration++) {
    const active: number[] = [];
    for (let i = 0; i < count; i++) if (bestMargin[i] > 0) active.push(i);
    if (active.length === 0) break;
    const propose = proposer(squareShare(o.pInit, iteration, o.queries));
    active.forEach((idx, j) => propose(idx * PIXELS_PER_IMAGE, candidate, j * PIXELS_PER_IMAGE));
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

/**
 * The paper's centred pattern on a rows x cols block: eta_{r,s} = sum_{k=0}^{M(r,s)} 1/(n+1-k)^2
 * with n = floor(max(rows, cols)/2) and M(r,s) = n - (Chebyshev distance of (r,s) from the
 * block's centre), clipped at 0: the mass peaks in the middle and decays towards the border.
 * Row-major, not normalised.
 */
export function centredPattern(rows: number, cols: number): Float64Array {
  const n = Math.floor(Math.max(rows, cols) / 2);
  const cr = Math.floor(rows / 2);
  const cc = Math.floor(cols / 2);
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const m = Math.max(n - Math.max(Math.abs(r - cr), Math.abs(c - cc)), 0);
      let v = 0;
      for (let k = 0; k <= m; k++) v += 1 / (n + 1 - k) ** 2;
      out[r * cols + c] = v;
    }
  }
  return out;
}

/**
 * The L2 update's shape on an h x h window, unit L2 norm: a centred pattern on the first
 * ceil(h/2) columns and its negative on the rest (so the update moves mass without shifting the
 * window's mean much), transposed with probability 1/2. Row-major.
 */
export function windowPattern(h: number, rng: SeededRandom): Float64Array {
  const k = Math.ceil(h / 2);
  const left = centredPattern(h, k);
  const right = h - k > 0 ? centredPattern(h, h - k) : new Float64Array(0);
  const out = new Float64Array(h * h);
  const transpose = rng.next() < 0.5;
  let s = 0;
  for (let r = 0; r < h; r++) {
    for (let c = 0; c < h; c++) {
      const v = c < k ? left[r * k + c] : -right[r * (h - k) + (c - k)];
      out[transpose ? c * h + r : r * h + c] = v;
      s += v * v;
    }
  }
  const norm = Math.sqrt(s);
  for (let i = 0; i < out.length; i++) out[i] /= norm;
  return out;
}

/**
 * L2 windows: the share's side, at least 3 and odd (so the +/- halves of the pattern differ by
 * one row and the pattern has a centre), at most the image: AutoAttack's rule.
 */
export function l2Side(share: number): number {
  const side = Math.max(Math.round(Math.sqrt(share * SIDE * SIDE)), 3);
  return Math.min(side % 2 === 0 ? side + 1 : side, SIDE);
}

/** Tiles of the L2 start: a 5 x 5 grid of 6 x 6 windows, centred in the 32 x 32 image. */
const L2_TILES = 5;
const L2_TILE = Math.floor(SIDE / L2_TILES);

/**
 * The L2 start of the image at offset o: per channel and tile a centred pattern with a random
 * sign, the whole scaled to ||delta||_2 = eps and clipped to [0,1] (which only lowers the norm).
 */
function l2Start(clean: Float32Array, o: number, eps: number, rng: SeededRandom, best: Float32Array): void {
  const pattern = centredPattern(L2_TILE, L2_TILE);
  const delta = new Float64Array(PIXELS_PER_IMAGE);
  const margin0 = Math.floor((SIDE - L2_TILES * L2_TILE) / 2);
  let s = 0;
  for (let c = 0; c < CHANNELS; c++) {
    for (let tr = 0; tr < L2_TILES; tr++) {
      for (let tc = 0; tc < L2_TILES; tc++) {
        const sign = rng.sign();
        for (let r = 0; r < L2_TILE; r++) {
          for (let q = 0; q < L2_TILE; q++) {
            const v = sign * pattern[r * L2_TILE + q];
            delta[c * SIDE * SIDE + (margin0 + tr * L2_TILE + r) * SIDE + margin0 + tc * L2_TILE + q] = v;
            s += v * v;
          }
        }
      }
    }
  }
  const scale = eps / Math.sqrt(s);
  for (let i = 0; i < PIXELS_PER_IMAGE; i++) delta[i] = clamp01(clean[o + i] + scale * delta[i]);
  storeImage('l2', delta, clean, o, best, o);
}

/**
 * The paper's L2 proposal for the image at offset src: nu = best - clean; per channel the mass of
 * nu on W1 and W2 (their union) plus a third of the unused budget eps^2 - ||nu||^2 goes into
 * W1, in the direction rho eta* + nu_W1 / ||nu_W1|| (rho = ±1, eta* the unit window pattern),
 * and W2 outside W1 is zeroed; then clean + nu is clipped to [0,1].
 */
function l2Proposal(clean: Float32Array, best: Float32Array, src: number, eps: number, h: number, rng: SeededRandom, candidate: Float32Array, dst: number): void {
  const nu = new Float64Array(PIXELS_PER_IMAGE);
  let used = 0;
  for (let i = 0; i < PIXELS_PER_IMAGE; i++) {
    nu[i] = best[src + i] - clean[src + i];
    used += nu[i] * nu[i];
  }
  const unused = eps * eps - used; // rounding can make it slightly negative, which corrects itself
  const r1 = rng.int(SIDE - h + 1);
  const s1 = rng.int(SIDE - h + 1);
  const r2 = rng.int(SIDE - h + 1);
  const s2 = rng.int(SIDE - h + 1);
  const inW1 = (r: number, q: number): boolean => r >= r1 && r < r1 + h && q >= s1 && q < s1 + h;
  const eta = windowPattern(h, rng);
  const temp = new Float64Array(h * h);
  for (let c = 0; c < CHANNELS; c++) {
    const base = c * SIDE * SIDE;
    const at1 = (r: number, q: number): number => base + (r1 + r) * SIDE + s1 + q;
    const at2 = (r: number, q: number): number => base + (r2 + r) * SIDE + s2 + q;
    let m1 = 0;
    let m2 = 0; // W2 outside W1
    for (let r = 0; r < h; r++) {
      for (let q = 0; q < h; q++) {
        m1 += nu[at1(r, q)] ** 2;
        if (!inW1(r2 + r, s2 + q)) m2 += nu[at2(r, q)] ** 2;
      }
    }
    const available = Math.sqrt(Math.max(m1 + m2 + unused / CHANNELS, 0));
    const rho = rng.sign();
    const n1 = Math.sqrt(m1);
    let t = 0;
    for (let r = 0; r < h; r++) {
      for (let q = 0; q < h; q++) {
        const v = rho * eta[r * h + q] + (n1 > 0 ? nu[at1(r, q)] / n1 : 0);
        temp[r * h + q] = v;
        t += v * v;
      }
    }
    // temp = 0 only if the old W1 direction is exactly -rho eta*: then the new pattern alone.
    const useEta = !(t > 0);
    const scale = available / (useEta ? 1 : Math.sqrt(t));
    // W2 first: where the windows overlap, W1's new values win.
    for (let r = 0; r < h; r++) for (let q = 0; q < h; q++) nu[at2(r, q)] = 0;
    for (let r = 0; r < h; r++) for (let q = 0; q < h; q++) nu[at1(r, q)] = scale * (useEta ? rho * eta[r * h + q] : temp[r * h + q]);
  }
  for (let i = 0; i < PIXELS_PER_IMAGE; i++) nu[i] = clamp01(clean[src + i] + nu[i]);
  storeImage('l2', nu, clean, src, candidate, dst);
}

function clamp01(v: number): number {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}
