/**
 * Aliasing of a strided downsampling op, measured against its stride-1 twin (SPEC §2).
 *
 * For one map, `F2 = DFT2(f2)/(Nh*Nw)` and `F1 = DFT2(f1)/(sh*Nh*sw*Nw)`. With this
 * normalisation `F2[u,v]` is the sum of all `F1` bins congruent to `(u,v)` mod `(Nh,Nw)`, so
 * `D = F2 - F1[L(Nh,sh), L(Nw,sw)]` is exactly the high band folded onto the output grid.
 */
import { aliasFreeSpectrum, dft2, type RealMap } from './spectrum.js';

/**
 * Running sums over maps, from which every reported metric is derived. Kept as sums (not
 * means) so batches, including ones computed elsewhere (e.g. in-graph), merge exactly.
 */
export interface AliasingSums {
  /** sum over maps and bins of |D| (complex modulus). */
  sumAbsD: number;
  /** sum over maps and bins of |F2|. */
  sumAbsF2: number;
  /** sum over maps and bins of |D|^2. */
  sumSqD: number;
  /** sum over maps and bins of |F2|^2. */
  sumSqF2: number;
  /** number of maps (images x channels), dead maps included. */
  maps: number;
}

/** The per-op metrics of SPEC §2. */
export interface AliasingMetrics {
  /** Paper's AM: mean over maps of sum |D|. */
  am: number;
  /** sum |D| / sum |F2|: alias share of the output spectrum. */
  amRel: number;
  /** sum |D|^2 / sum |F2|^2: alias share of the output energy. */
  aliasEnergy: number;
}

/** Sums of zero maps: the identity of {@link addSums}. */
export function emptySums(): AliasingSums {
  return { sumAbsD: 0, sumAbsF2: 0, sumSqD: 0, sumSqF2: 0, maps: 0 };
}

/** Merges two sets of sums (e.g. two batches) into a new object. */
export function addSums(a: AliasingSums, b: AliasingSums): AliasingSums {
  return {
    sumAbsD: a.sumAbsD + b.sumAbsD,
    sumAbsF2: a.sumAbsF2 + b.sumAbsF2,
    sumSqD: a.sumSqD + b.sumSqD,
    sumSqF2: a.sumSqF2 + b.sumSqF2,
    maps: a.maps + b.maps,
  };
}

/**
 * Aliasing sums of one map.
 *
 * @param f2 - the op's output map, `nh x nw`, row-major.
 * @param f1 - the stride-1 twin's map, `(sh*nh) x (sw*nw)`, row-major.
 * @returns sums with `maps: 1`; all sums are 0 for a dead (all-zero) map.
 */
export function mapAliasing(
  f2: RealMap,
  f1: RealMap,
  nh: number,
  nw: number,
  sh: number,
  sw: number,
): AliasingSums {
  checkMapSizes(f2, f1, nh, nw, sh, sw);
  const sums = emptySums();
  sums.maps = 1;
  // Dead maps (common after ReLU) need no FFTs: every spectrum is 0.
  if (allZero(f2) && allZero(f1)) return sums;
  const F2 = dft2(f2, nh, nw);
  const free = aliasFreeSpectrum(dft2(f1, sh * nh, sw * nw), nh, nw, sh, sw);
  for (let i = 0; i < nh * nw; i++) {
    const dRe = F2.re[i] - free.re[i];
    const dIm = F2.im[i] - free.im[i];
    const sqD = dRe * dRe + dIm * dIm;
    const sqF2 = F2.re[i] * F2.re[i] + F2.im[i] * F2.im[i];
    sums.sumAbsD += Math.sqrt(sqD);
    sums.sumAbsF2 += Math.sqrt(sqF2);
    sums.sumSqD += sqD;
    sums.sumSqF2 += sqF2;
  }
  return sums;
}

/**
 * Aliasing sums over a whole batch of feature maps.
 *
 * @param f2 - the op's output, `[batch, channels, nh, nw]`, row-major.
 * @param f1 - the twin's output, `[batch, channels, sh*nh, sw*nw]`, row-major.
 * @returns sums with `maps = batch*channels`; dead maps count in `maps` and add 0 to the sums.
 */
export function featureMapAliasing(
  f2: RealMap,
  f1: RealMap,
  batch: number,
  channels: number,
  nh: number,
  nw: number,
  sh: number,
  sw: number,
): AliasingSums {
  const maps = batch * channels;
  const size2 = nh * nw;
  const size1 = sh * nh * sw * nw;
  if (!Number.isInteger(maps) || maps < 0) {
    throw new RangeError(`featureMapAliasing: bad batch/channels ${batch}x${channels}`);
  }
  if (f2.length !== maps * size2 || f1.length !== maps * size1) {
    throw new RangeError(
      `featureMapAliasing: got ${f2.length} output / ${f1.length} twin values, expected ` +
        `${maps}x${nh}x${nw}=${maps * size2} / ${maps}x${sh * nh}x${sw * nw}=${maps * size1}`,
    );
  }
  let sums = emptySums();
  for (let k = 0; k < maps; k++) {
    const map2 = f2.subarray(k * size2, (k + 1) * size2);
    const map1 = f1.subarray(k * size1, (k + 1) * size1);
    sums = addSums(sums, mapAliasing(map2, map1, nh, nw, sh, sw));
  }
  return sums;
}

/**
 * The reported metrics from accumulated sums.
 *
 * Zero denominators: with no maps `am` is 0; when all outputs are dead (`sumAbsF2`/`sumSqF2`
 * is 0 and so is the numerator) `amRel`/`aliasEnergy` are 0, consistent with "dead maps add 0".
 * If a numerator is positive over a zero denominator (every output is zero but a twin is not,
 * so all output content is folded alias that cancelled to 0) the ratio is `Infinity`, not 0:
 * the op is not alias-free and must not be reported as such. NaN sums propagate.
 */
export function aliasingMetrics(s: AliasingSums): AliasingMetrics {
  return {
    am: ratio(s.sumAbsD, s.maps),
    amRel: ratio(s.sumAbsD, s.sumAbsF2),
    aliasEnergy: ratio(s.sumSqD, s.sumSqF2),
  };
}

/**
 * `f1[..., ::sh, ::sw]`: strided subsampling of every `h1 x w1` map in `f1` (leading dims are
 * flattened). Each output map is `ceil(h1/sh) x ceil(w1/sw)`.
 */
export function subsample(f1: RealMap, h1: number, w1: number, sh: number, sw: number): Float32Array {
  for (const [name, v] of [['h1', h1], ['w1', w1], ['sh', sh], ['sw', sw]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`subsample: ${name}=${v} must be an integer >= 1`);
  }
  const size1 = h1 * w1;
  if (f1.length % size1 !== 0) {
    throw new RangeError(`subsample: ${f1.length} values is not a whole number of ${h1}x${w1} maps`);
  }
  const maps = f1.length / size1;
  const h2 = Math.ceil(h1 / sh);
  const w2 = Math.ceil(w1 / sw);
  const out = new Float32Array(maps * h2 * w2);
  let o = 0;
  for (let k = 0; k < maps; k++) {
    for (let m = 0; m < h1; m += sh) {
      const row = k * size1 + m * w1;
      for (let n = 0; n < w1; n += sw) out[o++] = f1[row + n];
    }
  }
  return out;
}

/**
 * Twin invariant check (SPEC §1): `max |f1[..., ::sh, ::sw] - f2|` over all maps, where each
 * `f1` map is `(sh*nh) x (sw*nw)` and each `f2` map is `nh x nw`.
 *
 * @returns the largest absolute difference (0 for no maps); NaN if any difference is NaN
 *   (NaN or opposite infinities), so a caller's `err <= tol` test fails.
 */
export function twinError(
  f1: RealMap,
  f2: RealMap,
  nh: number,
  nw: number,
  sh: number,
  sw: number,
): number {
  const size2 = nh * nw;
  const w1 = sw * nw;
  const size1 = sh * nh * w1;
  const maps = f2.length / size2;
  if (!Number.isInteger(maps) || f1.length !== maps * size1) {
    throw new RangeError(
      `twinError: ${f2.length} output / ${f1.length} twin values do not form ` +
        `${nh}x${nw} / ${sh * nh}x${w1} map pairs`,
    );
  }
  let worst = 0;
  for (let k = 0; k < maps; k++) {
    for (let u = 0; u < nh; u++) {
      const row1 = k * size1 + u * sh * w1;
      const row2 = k * size2 + u * nw;
      for (let v = 0; v < nw; v++) {
        const diff = Math.abs(f1[row1 + v * sw] - f2[row2 + v]);
        if (Number.isNaN(diff)) return NaN;
        if (diff > worst) worst = diff;
      }
    }
  }
  return worst;
}

/** `n/d`, except 0/0 = 0 (dead maps only); positive/0 stays Infinity, NaN stays NaN. */
function ratio(numerator: number, denominator: number): number {
  if (numerator === 0 && denominator === 0) return 0;
  return numerator / denominator;
}

function allZero(map: RealMap): boolean {
  for (let i = 0; i < map.length; i++) if (map[i] !== 0) return false;
  return true;
}

function checkMapSizes(f2: RealMap, f1: RealMap, nh: number, nw: number, sh: number, sw: number): void {
  for (const [name, v] of [['nh', nh], ['nw', nw], ['sh', sh], ['sw', sw]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`${name}=${v} must be an integer >= 1`);
  }
  if (f2.length !== nh * nw || f1.length !== sh * nh * sw * nw) {
    throw new RangeError(
      `mapAliasing: got ${f2.length} output / ${f1.length} twin values, expected ` +
        `${nh}x${nw} / ${sh * nh}x${sw * nw}`,
    );
  }
}
