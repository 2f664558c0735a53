import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  addSums,
  aliasingMetrics,
  emptySums,
  featureMapAliasing,
  mapAliasing,
  subsample,
  twinError,
  type AliasingSums,
} from '../../src/metrics/aliasing.js';

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

/** Samples g(m, n) on an h x w grid, row-major, float64. */
function grid(h: number, w: number, g: (m: number, n: number) => number): Float64Array {
  const out = new Float64Array(h * w);
  for (let m = 0; m < h; m++) for (let n = 0; n < w; n++) out[m * w + n] = g(m, n);
  return out;
}

function close(actual: number, expected: number, tol: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: ${actual} vs ${expected} (tol ${tol})`);
}

/**
 * Reference sums built another way: direct O(N^4) DFT of the twin, then D[u,v] as the sum of
 * every twin bin congruent to (u,v) mod (nh,nw) except the one nearest DC (the low-band
 * representative, |k| < N/2 with the ceil/floor split of SPEC §2), and F2 as the sum of all of
 * them. Uses modular arithmetic, not lowBandIndices, so it checks the index lists too.
 */
function referenceSums(f1: Float64Array, nh: number, nw: number, sh: number, sw: number): AliasingSums {
  const h1 = sh * nh;
  const w1 = sw * nw;
  const re1 = new Float64Array(h1 * w1);
  const im1 = new Float64Array(h1 * w1);
  for (let k = 0; k < h1; k++) {
    for (let l = 0; l < w1; l++) {
      let sr = 0;
      let si = 0;
      for (let m = 0; m < h1; m++) {
        for (let n = 0; n < w1; n++) {
          const phase = -2 * Math.PI * (((k * m) % h1) / h1 + ((l * n) % w1) / w1);
          sr += f1[m * w1 + n] * Math.cos(phase);
          si += f1[m * w1 + n] * Math.sin(phase);
        }
      }
      re1[k * w1 + l] = sr / (h1 * w1);
      im1[k * w1 + l] = si / (h1 * w1);
    }
  }
  // Low band on an axis of length s*n: signed frequency f = k or k - s*n with -floor(n/2) <= f < ceil(n/2).
  const isLow = (k: number, n: number, s: number): boolean =>
    k < Math.ceil(n / 2) || k >= s * n - Math.floor(n / 2);
  const dRe = new Float64Array(nh * nw);
  const dIm = new Float64Array(nh * nw);
  const fRe = new Float64Array(nh * nw);
  const fIm = new Float64Array(nh * nw);
  for (let k = 0; k < h1; k++) {
    for (let l = 0; l < w1; l++) {
      const bin = (k % nh) * nw + (l % nw);
      fRe[bin] += re1[k * w1 + l];
      fIm[bin] += im1[k * w1 + l];
      if (!(isLow(k, nh, sh) && isLow(l, nw, sw))) {
        dRe[bin] += re1[k * w1 + l];
        dIm[bin] += im1[k * w1 + l];
      }
    }
  }
  const s = emptySums();
  s.maps = 1;
  for (let i = 0; i < nh * nw; i++) {
    s.sumAbsD += Math.hypot(dRe[i], dIm[i]);
    s.sumAbsF2 += Math.hypot(fRe[i], fIm[i]);
    s.sumSqD += dRe[i] ** 2 + dIm[i] ** 2;
    s.sumSqF2 += fRe[i] ** 2 + fIm[i] ** 2;
  }
  return s;
}

/** f1 and f2 = f1[::sh, ::sw] for a twin defined by g on the (sh*nh) x (sw*nw) grid. */
function twinPair(nh: number, nw: number, sh: number, sw: number, g: (m: number, n: number) => number) {
  const f1 = grid(sh * nh, sw * nw, g);
  const f2 = grid(nh, nw, (u, v) => g(u * sh, v * sw));
  return { f1, f2 };
}

describe('mapAliasing: folding identity on random twins', () => {
  const cases: [number, number, number, number][] = [
    [4, 4, 2, 2],
    [5, 3, 2, 2],
    [3, 4, 3, 2],
    [4, 3, 1, 2],
  ];
  for (const [nh, nw, sh, sw] of cases) {
    it(`matches fold-by-congruence sums for ${nh}x${nw}, stride ${sh}x${sw}`, () => {
      const next = rng(nh * 1000 + nw * 100 + sh * 10 + sw);
      const f1 = new Float32Array(sh * nh * sw * nw).map(() => next());
      const f2 = subsample(f1, sh * nh, sw * nw, sh, sw);
      const got = mapAliasing(f2, f1, nh, nw, sh, sw);
      const want = referenceSums(Float64Array.from(f1), nh, nw, sh, sw);
      assert.equal(got.maps, 1);
      close(got.sumAbsD, want.sumAbsD, 1e-12, 'sumAbsD');
      close(got.sumAbsF2, want.sumAbsF2, 1e-12, 'sumAbsF2');
      close(got.sumSqD, want.sumSqD, 1e-12, 'sumSqD');
      close(got.sumSqF2, want.sumSqF2, 1e-12, 'sumSqF2');
      assert.ok(got.sumAbsD > 0.01, 'random twins alias');
    });
  }
});

describe('mapAliasing: band-limited twins are alias-free', () => {
  /**
   * Random sum of 2-D sinusoids cos(2*pi*(kh*m/(sh*nh) + kw*n/(sw*nw)) + phase) whose signed
   * frequencies satisfy |kh| < nh/2 and |kw| < nw/2: all inside the low band.
   */
  function bandLimited(nh: number, nw: number, sh: number, sw: number, seed: number) {
    const next = rng(seed);
    const maxH = Math.ceil(nh / 2) - 1;
    const maxW = Math.ceil(nw / 2) - 1;
    const terms: { kh: number; kw: number; amp: number; phase: number }[] = [
      // The band edges themselves, to catch off-by-one bands.
      { kh: maxH, kw: -maxW, amp: 0.7, phase: 0.3 },
      { kh: -maxH, kw: maxW, amp: 0.4, phase: -1.1 },
      { kh: 0, kw: 0, amp: 0.25, phase: 0 },
    ];
    for (let t = 0; t < 5; t++) {
      terms.push({
        kh: Math.round(next() * maxH),
        kw: Math.round(next() * maxW),
        amp: next(),
        phase: Math.PI * next(),
      });
    }
    const g = (m: number, n: number): number => {
      let sum = 0;
      for (const { kh, kw, amp, phase } of terms) {
        sum += amp * Math.cos(2 * Math.PI * ((kh * m) / (sh * nh) + (kw * n) / (sw * nw)) + phase);
      }
      return sum;
    };
    return twinPair(nh, nw, sh, sw, g);
  }

  const cases: [number, number, number, number][] = [
    [16, 16, 2, 2],
    [15, 15, 2, 2],
    [6, 5, 2, 3],
    [8, 8, 4, 4],
  ];
  for (const [nh, nw, sh, sw] of cases) {
    it(`${sh * nh}x${sw * nw} -> ${nh}x${nw}: am, amRel, aliasEnergy are 0`, () => {
      const { f1, f2 } = bandLimited(nh, nw, sh, sw, nh * 31 + nw);
      const s = mapAliasing(f2, f1, nh, nw, sh, sw);
      assert.ok(s.sumAbsF2 > 0.1, 'the test map has content');
      const m = aliasingMetrics(s);
      close(m.am, 0, 1e-12, 'am');
      close(m.amRel, 0, 1e-12, 'amRel');
      close(m.aliasEnergy, 0, 1e-12, 'aliasEnergy');
    });
  }

  it('stride 1 never aliases, even for random maps', () => {
    const next = rng(99);
    const f = grid(5, 6, () => next());
    const m = aliasingMetrics(mapAliasing(f, f, 5, 6, 1, 1));
    close(m.am, 0, 1e-12, 'am');
  });
});

describe('mapAliasing: sinusoids above Nyquist (hand-derived values)', () => {
  it('N=16, s=2, k=11 on rows: am = amRel = aliasEnergy = 1', () => {
    // f1 = cos(2*pi*11*m/32): F1 = 0.5 at rows 11 and 21 (col 0), both outside
    // L(16,2) = [0..7, 24..31], so Ffree = 0. f2 = cos(2*pi*11*m/16) has F2 = 0.5 at rows 11
    // and 5. D = F2: sum|D| = 1 = sum|F2|, sum|D|^2 = 0.5 = sum|F2|^2.
    const { f1, f2 } = twinPair(16, 16, 2, 2, (m) => Math.cos((2 * Math.PI * 11 * m) / 32));
    const s = mapAliasing(f2, f1, 16, 16, 2, 2);
    close(s.sumAbsF2, 1, 1e-12, 'sumAbsF2');
    close(s.sumSqF2, 0.5, 1e-12, 'sumSqF2');
    const m = aliasingMetrics(s);
    close(m.am, 1, 1e-12, 'am');
    close(m.amRel, 1, 1e-12, 'amRel');
    close(m.aliasEnergy, 1, 1e-12, 'aliasEnergy');
  });

  it('N=15 -> 30, k=10 on columns (sine, imaginary bins): all 1', () => {
    // sin(2*pi*10*n/30): F1 = -i/2 at col 10, +i/2 at col 20; L(15,2) = [0..7, 23..29]
    // holds neither, so Ffree = 0 and D = F2 with two bins of modulus 0.5.
    const { f1, f2 } = twinPair(15, 15, 2, 2, (_m, n) => Math.sin((2 * Math.PI * 10 * n) / 30));
    const m = aliasingMetrics(mapAliasing(f2, f1, 15, 15, 2, 2));
    close(m.am, 1, 1e-12, 'am');
    close(m.amRel, 1, 1e-12, 'amRel');
    close(m.aliasEnergy, 1, 1e-12, 'aliasEnergy');
  });

  it('separable 2-D cosine, high on columns only: four bins of 1/4, all alias', () => {
    // cos(2*pi*3m/32) * cos(2*pi*11n/32) = 1/4 at (+-3, +-11); columns 11 and 21 lie outside
    // L(16,2), so Ffree = 0 and sum|D| = 4 * 1/4 = 1, sum|D|^2 = 4/16.
    const { f1, f2 } = twinPair(16, 16, 2, 2, (m, n) =>
      Math.cos((2 * Math.PI * 3 * m) / 32) * Math.cos((2 * Math.PI * 11 * n) / 32),
    );
    const s = mapAliasing(f2, f1, 16, 16, 2, 2);
    close(s.sumAbsD, 1, 1e-12, 'sumAbsD');
    close(s.sumSqD, 0.25, 1e-12, 'sumSqD');
    const m = aliasingMetrics(s);
    close(m.amRel, 1, 1e-12, 'amRel');
    close(m.aliasEnergy, 1, 1e-12, 'aliasEnergy');
  });

  it('exactly at Nyquist (k = N/2) half the content is alias', () => {
    // cos(2*pi*8m/32): F1 = 0.5 at rows 8 and 24. L(16,2) keeps 24 (as output bin 8) but not 8.
    // f2 = cos(pi*m) = (-1)^m, F2[8] = 1. Ffree[8] = F1[24] = 0.5, so D[8] = 0.5:
    // am = 0.5, amRel = 0.5/1, aliasEnergy = 0.25/1.
    const { f1, f2 } = twinPair(16, 16, 2, 2, (m) => Math.cos((2 * Math.PI * 8 * m) / 32));
    const m = aliasingMetrics(mapAliasing(f2, f1, 16, 16, 2, 2));
    close(m.am, 0.5, 1e-12, 'am');
    close(m.amRel, 0.5, 1e-12, 'amRel');
    close(m.aliasEnergy, 0.25, 1e-12, 'aliasEnergy');
  });

  it('a*cos(low) + b*cos(high), disjoint bins', () => {
    // f1 = a cos(2*pi*3m/32) + b cos(2*pi*11m/32), N=16, s=2.
    // F1: a/2 at rows 3, 29 (both in L(16,2) = [0..7, 24..31]); b/2 at rows 11, 21 (outside).
    // Ffree: a/2 at output rows 3 and 13 (29 sits at position 29-16=13).
    // F2 folds mod 16: a/2 at 3, 13; b/2 at 11, 5 (21 mod 16).
    // D = b/2 at rows 11 and 5.  sum|D| = |b|, sum|F2| = |a| + |b|,
    // sum|D|^2 = b^2/2, sum|F2|^2 = (a^2 + b^2)/2.
    // a = 2, b = 0.5: am = 0.5, amRel = 0.5/2.5 = 0.2, aliasEnergy = 0.25/4.25 = 1/17.
    const a = 2;
    const b = 0.5;
    const { f1, f2 } = twinPair(16, 16, 2, 2, (m) =>
      a * Math.cos((2 * Math.PI * 3 * m) / 32) + b * Math.cos((2 * Math.PI * 11 * m) / 32),
    );
    const m = aliasingMetrics(mapAliasing(f2, f1, 16, 16, 2, 2));
    close(m.am, 0.5, 1e-12, 'am');
    close(m.amRel, 0.2, 1e-12, 'amRel');
    close(m.aliasEnergy, 1 / 17, 1e-12, 'aliasEnergy');
  });

  it('a*cos(low) + b*sin(high) folding onto the same bins (complex difference, not |F2|-|Ffree|)', () => {
    // f1 = a cos(2*pi*3m/32) + b sin(2*pi*13m/32), N=16, s=2.
    // F1: a/2 at rows 3, 29 (low band); b/(2i) = -ib/2 at row 13, +ib/2 at row 19 (high band).
    // Fold mod 16: 19 -> 3, 13 -> 13, so F2[3] = a/2 + ib/2, F2[13] = a/2 - ib/2.
    // Ffree[3] = a/2, Ffree[13] = F1[29] = a/2, so D = +-ib/2: |D| = |b|/2 at two bins.
    // |F2| = sqrt(a^2 + b^2)/2 at two bins.
    // a = 0.6, b = 0.8: |F2| = 0.5 each, sum|F2| = 1, sum|D| = 0.8 -> am = 0.8, amRel = 0.8,
    // aliasEnergy = (2 * 0.16) / (2 * 0.25) = 0.64.
    // (A magnitude difference ||F2| - |Ffree|| would give 2 * 0.2 = 0.4 instead.)
    const a = 0.6;
    const b = 0.8;
    const { f1, f2 } = twinPair(16, 16, 2, 2, (m) =>
      a * Math.cos((2 * Math.PI * 3 * m) / 32) + b * Math.sin((2 * Math.PI * 13 * m) / 32),
    );
    const m = aliasingMetrics(mapAliasing(f2, f1, 16, 16, 2, 2));
    close(m.am, 0.8, 1e-12, 'am');
    close(m.amRel, 0.8, 1e-12, 'amRel');
    close(m.aliasEnergy, 0.64, 1e-12, 'aliasEnergy');
  });

  it('rejects maps of the wrong size', () => {
    assert.throws(() => mapAliasing(new Float32Array(16), new Float32Array(60), 4, 4, 2, 2), RangeError);
    assert.throws(() => mapAliasing(new Float32Array(15), new Float32Array(64), 4, 4, 2, 2), RangeError);
  });
});

describe('featureMapAliasing, dead maps and accumulation', () => {
  const nh = 16;
  const nw = 16;
  const alias = twinPair(nh, nw, 2, 2, (m) => Math.cos((2 * Math.PI * 11 * m) / 32)); // am 1
  const low = twinPair(nh, nw, 2, 2, (m, n) => Math.cos((2 * Math.PI * (3 * m + 2 * n)) / 32)); // am 0

  /** Concatenates maps into one [maps, ...] buffer, as float32 like ONNX outputs. */
  function stack(maps: Float64Array[]): Float32Array {
    const out = new Float32Array(maps.reduce((n, m) => n + m.length, 0));
    let o = 0;
    for (const m of maps) {
      out.set(m, o);
      o += m.length;
    }
    return out;
  }

  it('a dead map counts in maps, adds 0, and halves am', () => {
    const zero2 = new Float64Array(nh * nw);
    const zero1 = new Float64Array(4 * nh * nw);
    const one = featureMapAliasing(stack([alias.f2]), stack([alias.f1]), 1, 1, nh, nw, 2, 2);
    const two = featureMapAliasing(stack([alias.f2, zero2]), stack([alias.f1, zero1]), 1, 2, nh, nw, 2, 2);
    assert.equal(one.maps, 1);
    assert.equal(two.maps, 2);
    assert.deepEqual({ ...two, maps: 1 }, one, 'sums unchanged by the dead map');
    const m1 = aliasingMetrics(one);
    const m2 = aliasingMetrics(two);
    close(m1.am, 1, 1e-6, 'am with one map'); // float32 inputs
    close(m2.am, m1.am / 2, 1e-15, 'am halves');
    assert.equal(m2.amRel, m1.amRel);
    assert.equal(m2.aliasEnergy, m1.aliasEnergy);
  });

  it('all-dead maps give 0 for every metric', () => {
    const s = featureMapAliasing(new Float32Array(3 * 4), new Float32Array(3 * 16), 3, 1, 2, 2, 2, 2);
    assert.deepEqual(s, { sumAbsD: 0, sumAbsF2: 0, sumSqD: 0, sumSqF2: 0, maps: 3 });
    assert.deepEqual(aliasingMetrics(s), { am: 0, amRel: 0, aliasEnergy: 0 });
    assert.deepEqual(aliasingMetrics(emptySums()), { am: 0, amRel: 0, aliasEnergy: 0 });
  });

  it('a zero output with a non-zero twin is not alias-free: ratio is Infinity, not 0', () => {
    // 1x1 output, stride 2 on rows: f1 = [0, 1], f2 = f1[::2] = [0]. F1 = [0.5, -0.5],
    // L(1,2) = [0], Ffree = 0.5, F2 = 0, D = -0.5: sum|D| = 0.5 over sum|F2| = 0.
    const s = mapAliasing(new Float32Array([0]), new Float32Array([0, 1]), 1, 1, 2, 1);
    const m = aliasingMetrics(s);
    close(m.am, 0.5, 1e-15, 'am');
    assert.equal(m.amRel, Infinity);
    assert.equal(m.aliasEnergy, Infinity);
  });

  it('batch layout: [B,C,...] maps are split correctly', () => {
    // B=2, C=2: maps in order (b0c0, b0c1, b1c0, b1c1) = (alias, low, low, alias).
    const f2 = stack([alias.f2, low.f2, low.f2, alias.f2]);
    const f1 = stack([alias.f1, low.f1, low.f1, alias.f1]);
    const s = featureMapAliasing(f2, f1, 2, 2, nh, nw, 2, 2);
    assert.equal(s.maps, 4);
    const m = aliasingMetrics(s);
    // sum|D| = 2 * 1 (alias maps) + 0; am = 2/4. Each map has sum|F2| = 1 (two 0.5 bins for the
    // alias map, two 0.5 bins for the low map), so amRel = 2/4; sum|F2|^2 = 0.5 per map and
    // sum|D|^2 = 0.5 per alias map, so aliasEnergy = 1/2.
    close(m.am, 0.5, 1e-6, 'am');
    close(m.amRel, 0.5, 1e-6, 'amRel');
    close(m.aliasEnergy, 0.5, 1e-6, 'aliasEnergy');
  });

  it('addSums over two batches equals the sums over the whole set', () => {
    const next = rng(5);
    const f1 = new Float32Array(3 * 2 * 12 * 10).map(() => next());
    const f2 = subsample(f1, 12, 10, 2, 2);
    const whole = featureMapAliasing(f2, f1, 3, 2, 6, 5, 2, 2);
    const first = featureMapAliasing(f2.subarray(0, 2 * 2 * 30), f1.subarray(0, 2 * 2 * 120), 2, 2, 6, 5, 2, 2);
    const second = featureMapAliasing(f2.subarray(2 * 2 * 30), f1.subarray(2 * 2 * 120), 1, 2, 6, 5, 2, 2);
    const merged = addSums(addSums(emptySums(), first), second);
    assert.equal(merged.maps, 6);
    for (const key of ['sumAbsD', 'sumAbsF2', 'sumSqD', 'sumSqF2'] as const) {
      close(merged[key], whole[key], 1e-12, key);
    }
  });

  it('addSums is pure and emptySums is its identity', () => {
    const a: AliasingSums = { sumAbsD: 1, sumAbsF2: 2, sumSqD: 3, sumSqF2: 4, maps: 5 };
    const b: AliasingSums = { sumAbsD: 10, sumAbsF2: 20, sumSqD: 30, sumSqF2: 40, maps: 50 };
    assert.deepEqual(addSums(a, b), { sumAbsD: 11, sumAbsF2: 22, sumSqD: 33, sumSqF2: 44, maps: 55 });
    assert.deepEqual(a, { sumAbsD: 1, sumAbsF2: 2, sumSqD: 3, sumSqF2: 4, maps: 5 });
    assert.deepEqual(addSums(emptySums(), a), a);
  });

  it('aliasingMetrics from hand sums', () => {
    const m = aliasingMetrics({ sumAbsD: 3, sumAbsF2: 12, sumSqD: 1, sumSqF2: 8, maps: 6 });
    assert.deepEqual(m, { am: 0.5, amRel: 0.25, aliasEnergy: 0.125 });
  });

  it('rejects buffers that do not match [B,C,H,W]', () => {
    assert.throws(
      () => featureMapAliasing(new Float32Array(8), new Float32Array(30), 2, 1, 2, 2, 2, 2),
      RangeError,
    );
  });
});

describe('subsample and twinError', () => {
  it('subsample takes f1[::sh, ::sw]', () => {
    // 3x4 map 0..11, stride 2x2: rows 0, 2 and cols 0, 2.
    const f1 = new Float32Array(12).map((_, i) => i);
    assert.deepEqual(Array.from(subsample(f1, 3, 4, 2, 2)), [0, 2, 8, 10]);
  });

  it('subsample keeps ceil(h/sh) x ceil(w/sw) per map, over leading dims', () => {
    // Two 5x5 maps, stride 2x3: rows 0, 2, 4 and cols 0, 3 of each.
    const f1 = new Float64Array(50).map((_, i) => i);
    assert.deepEqual(Array.from(subsample(f1, 5, 5, 2, 3)), [0, 3, 10, 13, 20, 23, 25, 28, 35, 38, 45, 48]);
  });

  it('subsample rejects a partial map', () => {
    assert.throws(() => subsample(new Float32Array(11), 3, 4, 2, 2), RangeError);
  });

  it('twinError is 0 for an exact twin and the max |difference| otherwise', () => {
    const f1 = new Float32Array(16).map((_, i) => i); // 4x4, f1[::2, ::2] = [0, 2, 8, 10]
    assert.equal(twinError(f1, new Float32Array([0, 2, 8, 10]), 2, 2, 2, 2), 0);
    assert.equal(twinError(f1, new Float32Array([0, 2.25, 8, 10.5]), 2, 2, 2, 2), 0.5);
    assert.equal(twinError(f1, new Float32Array([-0.75, 2, 8, 10]), 2, 2, 2, 2), 0.75);
  });

  it('twinError uses the strides per axis and covers every map', () => {
    // Two 2x6 twins of 1x2 outputs with stride (2, 3): picks cols 0 and 3 of row 0 per map.
    const f1 = new Float64Array(24).map((_, i) => i);
    assert.equal(twinError(f1, new Float64Array([0, 3, 12, 15]), 1, 2, 2, 3), 0);
    assert.equal(twinError(f1, new Float64Array([0, 3, 12, 16]), 1, 2, 2, 3), 1);
  });

  it('twinError reports NaN when a value is NaN, so tolerance checks fail', () => {
    const f1 = new Float32Array(16);
    assert.ok(Number.isNaN(twinError(f1, new Float32Array([NaN, 0, 0, 0]), 2, 2, 2, 2)));
  });

  it('twinError rejects mismatched sizes', () => {
    assert.throws(() => twinError(new Float32Array(15), new Float32Array(4), 2, 2, 2, 2), RangeError);
  });
});
