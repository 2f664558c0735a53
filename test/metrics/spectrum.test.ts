import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import ndarray from 'ndarray';
import fft from 'ndarray-fft';
import { aliasFreeSpectrum, dft2, lowBandIndices } from '../../src/metrics/spectrum.js';

/** Deterministic uniform [-1, 1) generator (mulberry32) so failures reproduce. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  };
}

/** Textbook O(N^4) forward-normalised DFT with numpy's exp(-2*pi*i*...) sign, in float64. */
function directDft2(x: ArrayLike<number>, h: number, w: number): { re: Float64Array; im: Float64Array } {
  const re = new Float64Array(h * w);
  const im = new Float64Array(h * w);
  for (let u = 0; u < h; u++) {
    for (let v = 0; v < w; v++) {
      let sr = 0;
      let si = 0;
      for (let m = 0; m < h; m++) {
        for (let n = 0; n < w; n++) {
          const phase = -2 * Math.PI * (((u * m) % h) / h + ((v * n) % w) / w);
          sr += x[m * w + n] * Math.cos(phase);
          si += x[m * w + n] * Math.sin(phase);
        }
      }
      re[u * w + v] = sr / (h * w);
      im[u * w + v] = si / (h * w);
    }
  }
  return { re, im };
}

function assertAllClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(
      Math.abs(actual[i] - expected[i]) <= tol,
      `${what}[${i}]: ${actual[i]} vs ${expected[i]} (tol ${tol})`,
    );
  }
}

describe('ndarray-fft sign convention (what dft2 relies on)', () => {
  // A unit impulse at n=1 has numpy spectrum exp(-2*pi*i*k/n): imaginary part -sin(2*pi*k/n).
  for (const n of [8, 5]) {
    it(`dir=-1 gives numpy's exp(-...) sign scaled by 1/n (n=${n})`, () => {
      const re = new Float64Array(n);
      const im = new Float64Array(n);
      re[1] = 1;
      fft(-1, ndarray(re, [n]), ndarray(im, [n]));
      for (let k = 0; k < n; k++) {
        assert.ok(Math.abs(re[k] - Math.cos((2 * Math.PI * k) / n) / n) < 1e-14);
        assert.ok(Math.abs(im[k] + Math.sin((2 * Math.PI * k) / n) / n) < 1e-14);
      }
    });
    it(`dir=+1 gives the opposite exp(+...) sign, unscaled (n=${n})`, () => {
      const re = new Float64Array(n);
      const im = new Float64Array(n);
      re[1] = 1;
      fft(1, ndarray(re, [n]), ndarray(im, [n]));
      for (let k = 0; k < n; k++) {
        assert.ok(Math.abs(re[k] - Math.cos((2 * Math.PI * k) / n)) < 1e-14);
        assert.ok(Math.abs(im[k] - Math.sin((2 * Math.PI * k) / n)) < 1e-14);
      }
    });
  }
});

describe('dft2', () => {
  const sizes: [number, number][] = [[4, 4], [5, 3], [3, 5], [15, 15], [16, 16], [30, 30], [6, 10]];
  for (const [h, w] of sizes) {
    it(`equals a direct float64 DFT for a random ${h}x${w} map`, () => {
      const next = rng(h * 100 + w);
      const x = new Float64Array(h * w).map(() => next());
      const got = dft2(x, h, w);
      const want = directDft2(x, h, w);
      assertAllClose(got.re, want.re, 1e-12, 're');
      assertAllClose(got.im, want.im, 1e-12, 'im');
    });
  }

  it('pins the sign on a hand case: impulse at (0,1) of a 4x4 map', () => {
    // F[u,v] = (1/16) exp(-2*pi*i*v/4): v=1 -> -i/16, v=3 -> +i/16, v=2 -> -1/16.
    const x = new Float32Array(16);
    x[1] = 1;
    const F = dft2(x, 4, 4);
    assert.ok(Math.abs(F.re[1]) < 1e-15 && Math.abs(F.im[1] + 1 / 16) < 1e-15);
    assert.ok(Math.abs(F.re[3]) < 1e-15 && Math.abs(F.im[3] - 1 / 16) < 1e-15);
    assert.ok(Math.abs(F.re[2] + 1 / 16) < 1e-15 && Math.abs(F.im[2]) < 1e-15);
    // The transform runs along both axes: row index u does not change the value here.
    assert.ok(Math.abs(F.im[2 * 4 + 1] + 1 / 16) < 1e-15);
  });

  it('accepts Float32Array input and leaves it unchanged', () => {
    const next = rng(7);
    const x32 = new Float32Array(15 * 15).map(() => next());
    const copy = Float32Array.from(x32);
    const got = dft2(x32, 15, 15);
    const want = directDft2(x32, 15, 15);
    assertAllClose(got.re, want.re, 1e-12, 're');
    assertAllClose(got.im, want.im, 1e-12, 'im');
    assert.deepEqual(x32, copy);
  });

  it('puts the mean at bin 0 (forward normalisation)', () => {
    const x = new Float64Array(5 * 3).fill(2.5);
    const F = dft2(x, 5, 3);
    assert.ok(Math.abs(F.re[0] - 2.5) < 1e-14);
  });

  it('rejects a size mismatch', () => {
    assert.throws(() => dft2(new Float64Array(10), 3, 3), RangeError);
  });
});

describe('lowBandIndices', () => {
  it('(16,2): [0..7] ++ [24..31]', () => {
    assert.deepEqual(lowBandIndices(16, 2), [0, 1, 2, 3, 4, 5, 6, 7, 24, 25, 26, 27, 28, 29, 30, 31]);
  });
  it('(15,2): [0..7] ++ [23..29] (odd N: ceil/floor split)', () => {
    assert.deepEqual(lowBandIndices(15, 2), [0, 1, 2, 3, 4, 5, 6, 7, 23, 24, 25, 26, 27, 28, 29]);
  });
  it('(8,2): [0..3] ++ [12..15]', () => {
    assert.deepEqual(lowBandIndices(8, 2), [0, 1, 2, 3, 12, 13, 14, 15]);
  });
  it('(4,4): [0,1] ++ [14,15]', () => {
    assert.deepEqual(lowBandIndices(4, 4), [0, 1, 14, 15]);
  });
  it('(1,2): only DC', () => {
    assert.deepEqual(lowBandIndices(1, 2), [0]);
  });
  it('(5,1): stride 1 keeps every bin in order', () => {
    assert.deepEqual(lowBandIndices(5, 1), [0, 1, 2, 3, 4]);
  });
  it('rejects non-integer or non-positive sizes', () => {
    assert.throws(() => lowBandIndices(0, 2), RangeError);
    assert.throws(() => lowBandIndices(4, 1.5), RangeError);
  });
});

describe('aliasFreeSpectrum', () => {
  it('picks F1[L(nh,sh), L(nw,sw)] on a labelled non-square twin spectrum', () => {
    // nh=3, sh=2 -> twin 6 rows, L(3,2) = [0,1,5]; nw=2, sw=3 -> twin 6 cols, L(2,3) = [0,5].
    const re = new Float64Array(36).map((_, i) => i);
    const im = new Float64Array(36).map((_, i) => -i);
    const free = aliasFreeSpectrum({ re, im }, 3, 2, 2, 3);
    const want = [0 * 6 + 0, 0 * 6 + 5, 1 * 6 + 0, 1 * 6 + 5, 5 * 6 + 0, 5 * 6 + 5];
    assert.deepEqual(Array.from(free.re), want);
    assert.deepEqual(Array.from(free.im), want.map((v) => -v));
  });

  it('is the identity for stride 1', () => {
    const next = rng(3);
    const re = new Float64Array(12).map(() => next());
    const im = new Float64Array(12).map(() => next());
    const free = aliasFreeSpectrum({ re, im }, 3, 4, 1, 1);
    assert.deepEqual(free.re, re);
    assert.deepEqual(free.im, im);
  });

  it('rejects a twin spectrum of the wrong size', () => {
    const z = new Float64Array(30);
    assert.throws(() => aliasFreeSpectrum({ re: z, im: z }, 4, 4, 2, 2), RangeError);
  });
});
