// Minimal types for ndarray-fft@1.0.3, which ships none.
declare module 'ndarray-fft' {
  import type { NdArray } from 'ndarray';

  /**
   * In-place complex FFT over every axis of `re`/`im` (same shape).
   *
   * Measured (see test/metrics/spectrum.test.ts): `dir = -1` computes
   * `(1/N) * sum x[n] exp(-2*pi*i*k*n/N)` per axis (numpy's sign, forward-normalised);
   * `dir = +1` computes the unnormalised `sum x[n] exp(+2*pi*i*k*n/N)`. The package README's
   * "forward"/"inverse" names describe scaling only and are the reverse of numpy's sign.
   * Scratch precision follows the data: pass float64 arrays for float64 arithmetic.
   */
  function fft(dir: 1 | -1, re: NdArray, im: NdArray): void;
  export = fft;
}
