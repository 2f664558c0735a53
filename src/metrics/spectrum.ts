/**
 * Forward-normalised 2-D DFT and the alias-free (low-band) part of a twin's spectrum,
 * as defined in SPEC §2.
 */
import ndarray from 'ndarray';
import fft from 'ndarray-fft';

/** A complex 2-D spectrum stored row-major as separate real and imaginary planes. */
export interface Spectrum {
  re: Float64Array;
  im: Float64Array;
}

/** Real-valued 2-D map in row-major order. */
export type RealMap = Float32Array | Float64Array;

/**
 * ndarray-fft's `dir` that yields numpy's `exp(-2*pi*i*...)` kernel. The same direction also
 * scales each axis by 1/n, which is exactly SPEC's forward normalisation (1/(h*w) overall).
 * Pinned against a direct DFT in test/metrics/spectrum.test.ts.
 */
const NUMPY_SIGN_NORMALISED = -1;

/**
 * Forward-normalised 2-D DFT of a real `h x w` map:
 * `F[u,v] = (1/(h*w)) * sum_{m,n} x[m,n] * exp(-2*pi*i*(u*m/h + v*n/w))`.
 *
 * Any sizes work (non-powers of two go through ndarray-fft's Bluestein path); arithmetic is
 * float64 whatever the input type.
 *
 * @param map - `h*w` values, row-major.
 * @param h - rows.
 * @param w - columns.
 * @returns the spectrum, row-major `h x w`, no fftshift.
 */
export function dft2(map: RealMap, h: number, w: number): Spectrum {
  checkDims(h, w);
  if (map.length !== h * w) {
    throw new RangeError(`dft2: map has ${map.length} values, expected ${h}x${w}=${h * w}`);
  }
  const re = Float64Array.from(map);
  const im = new Float64Array(h * w);
  fft(NUMPY_SIGN_NORMALISED, ndarray(re, [h, w]), ndarray(im, [h, w]));
  return { re, im };
}

/**
 * Low-band indices, per axis, of a twin grid of `s*n` samples that survive an alias-free
 * downsampling to `n` samples: `[0 .. ceil(n/2)-1] ++ [s*n - floor(n/2) .. s*n-1]` (SPEC §2).
 * Position `j` of the result is the twin frequency congruent to `j` mod `n`, so the result
 * lines up bin for bin with the `n`-point DFT of the downsampled map.
 *
 * @param n - output size on this axis.
 * @param s - stride on this axis.
 */
export function lowBandIndices(n: number, s: number): number[] {
  if (!Number.isInteger(n) || n < 1 || !Number.isInteger(s) || s < 1) {
    throw new RangeError(`lowBandIndices: need integers n >= 1, s >= 1, got n=${n}, s=${s}`);
  }
  const positive = Math.ceil(n / 2);
  const negative = Math.floor(n / 2);
  const indices: number[] = [];
  for (let k = 0; k < positive; k++) indices.push(k);
  for (let k = s * n - negative; k < s * n; k++) indices.push(k);
  return indices;
}

/**
 * The spectrum an alias-free downsampling would produce: `F1[L(nh,sh), L(nw,sw)]`, where `F1`
 * is the forward-normalised spectrum of the stride-1 twin (`(sh*nh) x (sw*nw)`).
 *
 * @returns an `nh x nw` spectrum, row-major, in the same bin order as `dft2` of the output.
 */
export function aliasFreeSpectrum(
  F1: Spectrum,
  nh: number,
  nw: number,
  sh: number,
  sw: number,
): Spectrum {
  checkDims(nh, nw);
  const w1 = sw * nw;
  if (F1.re.length !== sh * nh * w1 || F1.im.length !== F1.re.length) {
    throw new RangeError(
      `aliasFreeSpectrum: twin spectrum has ${F1.re.length}/${F1.im.length} values, ` +
        `expected ${sh * nh}x${w1}=${sh * nh * w1}`,
    );
  }
  const rows = lowBandIndices(nh, sh);
  const cols = lowBandIndices(nw, sw);
  const re = new Float64Array(nh * nw);
  const im = new Float64Array(nh * nw);
  for (let u = 0; u < nh; u++) {
    const src = rows[u] * w1;
    const dst = u * nw;
    for (let v = 0; v < nw; v++) {
      re[dst + v] = F1.re[src + cols[v]];
      im[dst + v] = F1.im[src + cols[v]];
    }
  }
  return { re, im };
}

function checkDims(h: number, w: number): void {
  if (!Number.isInteger(h) || h < 1 || !Number.isInteger(w) || w < 1) {
    throw new RangeError(`need integer sizes >= 1, got ${h}x${w}`);
  }
}
