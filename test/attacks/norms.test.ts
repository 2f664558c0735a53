/**
 * The per-norm functions of src/attacks/types.ts by property tests: the projections onto the eps
 * ball intersected with [0,1] (feasible, nearest point, idempotent), the steepest-ascent steps and
 * the random starts, for L-infinity and L2.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SeededRandom } from '../../src/attacks/random.js';
import { ascend, gaussian, Norm, perturbationNorm, PIXELS_PER_IMAGE, projectL2, projectToBall, randomInBall, storeImage } from '../../src/attacks/types.js';

const N = PIXELS_PER_IMAGE;
const NORMS: readonly Norm[] = ['linf', 'l2'];

/** A clean image: uniform pixels, a share of them exactly 0 or 1 (where the box binds). */
function cleanImage(rng: SeededRandom, saturated = 0.3): Float32Array {
  return Float32Array.from({ length: N }, () => {
    const u = rng.next();
    if (u < saturated / 2) return 0;
    if (u < saturated) return 1;
    return rng.next();
  });
}

/** clean + scale * Gaussian noise: a point anywhere, mostly outside the ball and the box. */
function around(clean: Float32Array, scale: number, rng: SeededRandom): Float64Array {
  return Float64Array.from(clean, (c) => c + scale * gaussian(rng));
}

function distance(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return Math.sqrt(s);
}

function assertFeasible(norm: Norm, v: Float64Array | Float32Array, clean: Float32Array, eps: number, what: string): void {
  for (let i = 0; i < N; i++) assert.ok(v[i] >= 0 && v[i] <= 1, `${what}: pixel ${i} = ${v[i]} outside [0,1]`);
  const n = perturbationNorm(norm, v, clean);
  const slack = norm === 'l2' ? eps * 1e-6 : 1e-6;
  assert.ok(n <= eps + slack, `${what}: ||delta|| = ${n} > eps = ${eps}`);
}

/** The L2 projection by bisection on t of clean + clip(t d): an independent check of the exact one. */
function projectL2Bisection(v: Float64Array, clean: Float32Array, eps: number): Float64Array {
  const at = (t: number): Float64Array => Float64Array.from(clean, (c, i) => c + Math.min(Math.max(t * (v[i] - c), -c), 1 - c));
  const norm = (t: number): number => perturbationNorm('l2', at(t), clean);
  if (norm(1) <= eps) return at(1);
  let lo = 0;
  let hi = 1;
  for (let k = 0; k < 100; k++) {
    const mid = (lo + hi) / 2;
    if (norm(mid) <= eps) lo = mid;
    else hi = mid;
  }
  return at(lo);
}

describe('projections onto the eps ball and [0,1]', () => {
  for (const norm of NORMS) {
    for (const eps of norm === 'l2' ? [0, 1e-4, 0.1, 0.5, 2, 60] : [0, 1 / 255, 8 / 255, 0.5]) {
      test(`${norm}, eps ${eps}: feasible, idempotent, and no farther from v than random feasible points`, () => {
        const rng = new SeededRandom(Math.round(eps * 1e4) + (norm === 'l2' ? 1 : 2));
        for (let trial = 0; trial < 6; trial++) {
          const clean = cleanImage(rng);
          const scale = [0.001, 0.01, 0.05, 0.2, 1, 3][trial];
          const v = around(clean, scale, rng);
          const p = v.slice();
          projectToBall(norm, p, clean, 0, eps);
          assertFeasible(norm, p, clean, eps, `trial ${trial}`);
          const again = p.slice();
          projectToBall(norm, again, clean, 0, eps);
          assert.ok(distance(again, p) <= 1e-12 * Math.max(1, eps), 'projecting twice changes nothing');
          // Nearest point: every feasible y (random, then projected) is at least as far from v.
          const dp = distance(v, p);
          for (let k = 0; k < 5; k++) {
            const y = around(clean, scale, rng);
            projectToBall(norm, y, clean, 0, eps);
            assert.ok(distance(v, y) >= dp - 1e-9, `a feasible point is nearer: ${distance(v, y)} < ${dp}`);
          }
          // ... and every feasible point on the segment from p towards another feasible one.
          const y = around(clean, scale, rng);
          projectToBall(norm, y, clean, 0, eps);
          for (const s of [1e-3, 1e-2, 0.1]) {
            const q = Float64Array.from(p, (pi, i) => pi + s * (y[i] - pi));
            assert.ok(distance(v, q) >= dp - 1e-9, `moving towards a feasible point gets nearer (s ${s})`);
          }
        }
      });
    }
  }

  test('l2: equals the bisection solution of the KKT conditions, binds the ball where it must', () => {
    const rng = new SeededRandom(5);
    let binding = 0;
    for (let trial = 0; trial < 20; trial++) {
      const clean = cleanImage(rng, trial % 2 ? 0.5 : 0.05);
      const eps = [0.05, 0.3, 1, 4][trial % 4];
      const v = around(clean, [0.005, 0.02, 0.1][trial % 3], rng);
      const p = v.slice();
      projectL2(p, clean, 0, eps);
      const ref = projectL2Bisection(v, clean, eps);
      assert.ok(distance(p, ref) <= 1e-9, `trial ${trial}: ${distance(p, ref)} from the bisection`);
      const n = perturbationNorm('l2', p, clean);
      // Either the ball binds (norm eps) or the clip alone was the answer.
      const clipOnly = Float64Array.from(clean, (c, i) => Math.min(Math.max(v[i], 0), 1));
      if (perturbationNorm('l2', clipOnly, clean) > eps) {
        binding++;
        assert.ok(Math.abs(n - eps) <= 1e-9 * eps, `trial ${trial}: norm ${n} should be eps ${eps}`);
      } else assert.ok(distance(p, clipOnly) <= 1e-12);
    }
    assert.ok(binding >= 8, `the ball bound in ${binding} trials`);
  });

  test('l2: at an offset, only that image is read and written; not ball-then-clip where the box binds', () => {
    const rng = new SeededRandom(9);
    const clean = new Float32Array(3 * N);
    clean.set(cleanImage(rng, 0.6), N);
    const v = around(clean.subarray(N, 2 * N), 0.05, rng);
    const p = v.slice();
    projectL2(p, clean, N, 0.5);
    assertFeasible('l2', p, clean.subarray(N, 2 * N), 0.5, 'offset');
    // Ball then clip (AutoAttack's practice) is feasible, but farther from v than ours here.
    const d = Float64Array.from(v, (x, i) => x - clean[N + i]);
    const len = Math.sqrt(d.reduce((s, x) => s + x * x, 0));
    const ballThenClip = Float64Array.from(d, (x, i) => Math.min(Math.max(clean[N + i] + (x * 0.5) / len, 0), 1));
    assert.ok(distance(v, p) < distance(v, ballThenClip) - 1e-6, `ours ${distance(v, p)}, ball-then-clip ${distance(v, ballThenClip)}`);
  });

  test('linf: the clamp into [clean - eps, clean + eps] and [0,1]', () => {
    const rng = new SeededRandom(2);
    const clean = cleanImage(rng);
    const v = around(clean, 0.1, rng);
    const p = v.slice();
    projectToBall('linf', p, clean, 0, 0.03);
    for (let i = 0; i < N; i++) assert.equal(p[i], Math.min(Math.max(v[i], Math.max(0, clean[i] - 0.03)), Math.min(1, clean[i] + 0.03)));
  });
});

describe('steepest-ascent steps', () => {
  test('l2: a step of length eta along g / ||g||_2, per image; linf: eta sign(g)', () => {
    const rng = new SeededRandom(3);
    const x = Float32Array.from({ length: 2 * N }, () => rng.next());
    const g = Float32Array.from({ length: 2 * N }, () => gaussian(rng) * 1e-3);
    const out = new Float64Array(N);
    ascend('l2', x, g, N, 0.7, out);
    const step = Float64Array.from(out, (v, i) => v - x[N + i]);
    assert.ok(Math.abs(Math.sqrt(step.reduce((s, d) => s + d * d, 0)) - 0.7) < 1e-9);
    let gn = 0;
    for (let i = 0; i < N; i++) gn += g[N + i] ** 2;
    gn = Math.sqrt(gn);
    for (let i = 0; i < N; i++) assert.ok(Math.abs(step[i] - (0.7 * g[N + i]) / gn) < 1e-12);
    ascend('linf', x, g, 0, 0.01, out);
    for (let i = 0; i < N; i++) assert.equal(out[i], x[i] + 0.01 * Math.sign(g[i]));
  });

  test('a zero gradient leaves the iterate where it is (both norms)', () => {
    const x = Float32Array.from({ length: N }, (_, i) => (i % 7) / 7);
    const out = new Float64Array(N);
    for (const norm of NORMS) {
      ascend(norm, x, new Float32Array(N), 0, 0.5, out);
      for (let i = 0; i < N; i++) assert.equal(out[i], x[i]);
    }
  });

  test('l2: the step does not depend on the gradient scale', () => {
    const rng = new SeededRandom(4);
    const x = Float32Array.from({ length: N }, () => rng.next());
    const g = Float32Array.from({ length: N }, () => gaussian(rng));
    const a = new Float64Array(N);
    const b = new Float64Array(N);
    ascend('l2', x, g, 0, 0.2, a);
    ascend('l2', x, Float32Array.from(g, (v) => v * 1e-20), 0, 0.2, b);
    assert.ok(distance(a, b) < 1e-6);
  });
});

describe('random starts', () => {
  test('l2: inside the ball, radius near eps (uniform in 3072 dimensions), isotropic; seeded', () => {
    const rng = new SeededRandom(6);
    const clean = Float32Array.from({ length: N }, () => 0.5);
    const out = new Float64Array(N);
    const eps = 0.5;
    const radii: number[] = [];
    const mean = new Float64Array(N);
    const draws = 40;
    for (let k = 0; k < draws; k++) {
      randomInBall('l2', clean, 0, eps, rng, out);
      const r = perturbationNorm('l2', out, clean);
      assert.ok(r <= eps * (1 + 1e-12));
      radii.push(r);
      for (let i = 0; i < N; i++) mean[i] += (out[i] - 0.5) / draws;
      // Clean 0.5 and eps 0.5: the box never binds, the projection changes nothing.
      const p = out.slice();
      projectToBall('l2', p, clean, 0, eps);
      assert.ok(distance(p, out) < 1e-12);
    }
    // E[radius] = eps d / (d + 1); 0.99 eps is ~30 standard deviations below.
    assert.ok(Math.min(...radii) > 0.99 * eps, `smallest radius ${Math.min(...radii)}`);
    // The mean of 40 isotropic draws has norm ~ eps / sqrt(40); a biased direction would not.
    assert.ok(Math.sqrt(mean.reduce((s, v) => s + v * v, 0)) < (2 * eps) / Math.sqrt(draws));
    const a = new Float64Array(N);
    const b = new Float64Array(N);
    randomInBall('l2', clean, 0, eps, new SeededRandom(11), a);
    randomInBall('l2', clean, 0, eps, new SeededRandom(11), b);
    assert.deepEqual(a, b);
  });

  test('linf: uniform in [-eps, eps) per pixel', () => {
    const rng = new SeededRandom(7);
    const clean = Float32Array.from({ length: N }, () => 0.5);
    const out = new Float64Array(N);
    randomInBall('linf', clean, 0, 0.1, rng, out);
    let sum = 0;
    for (let i = 0; i < N; i++) {
      assert.ok(Math.abs(out[i] - 0.5) <= 0.1);
      sum += out[i] - 0.5;
    }
    assert.ok(Math.abs(sum / N) < 0.005);
  });

  test('gaussian: mean 0, variance 1', () => {
    const rng = new SeededRandom(8);
    const n = 20000;
    let s = 0;
    let s2 = 0;
    for (let i = 0; i < n; i++) {
      const z = gaussian(rng);
      s += z;
      s2 += z * z;
    }
    assert.ok(Math.abs(s / n) < 0.03);
    assert.ok(Math.abs(s2 / n - 1) < 0.04);
  });
});

describe('storing float32 iterates', () => {
  test('l2: rounded towards the clean pixel, so the ball holds in float32 even at eps 1e-5', () => {
    const rng = new SeededRandom(12);
    for (const eps of [1e-5, 1e-3, 0.5]) {
      for (let trial = 0; trial < 5; trial++) {
        const clean = cleanImage(rng);
        const v = around(clean, 1, rng);
        projectToBall('l2', v, clean, 0, eps);
        const x = new Float32Array(2 * N);
        storeImage('l2', v, clean, 0, x, N);
        const stored = x.subarray(N);
        for (let i = 0; i < N; i++) {
          assert.ok(Math.abs(stored[i] - clean[i]) <= Math.abs(v[i] - clean[i]), `pixel ${i} moved away from clean`);
          // ... by at most one float32 step from v
          assert.ok(Math.abs(stored[i] - v[i]) <= 2 ** -23 * Math.max(Math.abs(v[i]), 2 ** -126), `pixel ${i}`);
        }
        assertFeasible('l2', stored, clean, eps, `eps ${eps}`);
        assert.ok(perturbationNorm('l2', stored, clean) <= eps, 'within eps exactly');
      }
    }
  });

  test('linf: plain rounding to nearest', () => {
    const v = Float64Array.from({ length: N }, (_, i) => i / N / 3);
    const x = new Float32Array(N);
    storeImage('linf', v, new Float32Array(N), 0, x, 0);
    for (let i = 0; i < N; i++) assert.equal(x[i], Math.fround(v[i]));
  });
});

test('perturbationNorm: the largest |delta| for linf, the Euclidean length for l2', () => {
  const clean = new Float32Array(2 * N);
  const x = new Float32Array(2 * N);
  x[N + 3] = 0.3;
  x[N + 4] = -0.4;
  assert.ok(Math.abs(perturbationNorm('linf', x, clean, N) - 0.4) < 1e-7);
  assert.ok(Math.abs(perturbationNorm('l2', x, clean, N) - 0.5) < 1e-7);
  assert.equal(perturbationNorm('l2', x, clean, 0), 0);
});
