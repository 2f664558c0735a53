/**
 * The aliasing measurement (SPEC §2) built as ONNX ops inside the audited graph.
 *
 * Both spectra are separable DFTs, i.e. matrix products: F2 = A_h f2 A_w^T and the low band of
 * the twin's spectrum Ffree = B_h f1 B_w^T, with B the rows L(N, s) of the s*N-point DFT
 * matrix. So the runtime (CPU or GPU provider) computes D = F2 - Ffree and its sums next to
 * the model, and only a few numbers per map come back to JavaScript: no feature maps are
 * copied out and no FFT runs on the server's event loop.
 */
import { reduce, reshape, takeIndex } from '../onnx/builders.js';
import { Graph } from '../onnx/ir.js';
import { lowBandIndices } from './spectrum.js';

/** Output names of one op's measurement. Each sum is [B, C]; twinError and outputMaxAbs are [B]. */
export interface AliasingOutputs {
  sumAbsD: string;
  sumAbsF2: string;
  sumSqD: string;
  sumSqF2: string;
  twinError: string;
  /** max |f2| per image [B], the scale the twin error is judged against. */
  outputMaxAbs: string;
}

/** Forward-normalised DFT rows `freqs` of an n-point DFT, as real and imaginary matrices. */
export function dftRows(freqs: readonly number[], n: number): { re: Float32Array; im: Float32Array } {
  const re = new Float32Array(freqs.length * n);
  const im = new Float32Array(freqs.length * n);
  freqs.forEach((u, row) => {
    for (let m = 0; m < n; m++) {
      // Reduce u*m mod n first so the angle stays small and float64 trig stays exact enough.
      const angle = (-2 * Math.PI * ((u * m) % n)) / n;
      re[row * n + m] = Math.cos(angle) / n;
      im[row * n + m] = Math.sin(angle) / n;
    }
  });
  return { re, im };
}

function transpose(m: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(m.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = m[r * cols + c];
  return t;
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/**
 * Adds the separable 2-D DFT of `x` ([B,C,h,w]) restricted to frequency rows `rowFreqs` (of an
 * h-point DFT) and columns `colFreqs` (of a w-point DFT). Returns [re, im] names.
 */
function addPartialDft2(graph: Graph, x: string, h: number, w: number, rowFreqs: readonly number[], colFreqs: readonly number[], tag: string): [string, string] {
  const cols = dftRows(colFreqs, w);
  const rows = dftRows(rowFreqs, h);
  const k = colFreqs.length;
  // right product: x @ C^T, C is (k x w) so C^T is (w x k)
  const cRe = graph.constantFloat(`${tag}_dft_w_re`, [w, k], transpose(cols.re, k, w));
  const cIm = graph.constantFloat(`${tag}_dft_w_im`, [w, k], transpose(cols.im, k, w));
  const rRe = graph.constantFloat(`${tag}_dft_h_re`, [rowFreqs.length, h], rows.re);
  const rIm = graph.constantFloat(`${tag}_dft_h_im`, [rowFreqs.length, h], rows.im);
  const xr = graph.op('MatMul', [x, cRe]);
  const xi = graph.op('MatMul', [x, cIm]);
  // (R_re + i R_im)(X_re + i X_im)
  const re = graph.op('Sub', [graph.op('MatMul', [rRe, xr]), graph.op('MatMul', [rIm, xi])]);
  const im = graph.op('Add', [graph.op('MatMul', [rRe, xi]), graph.op('MatMul', [rIm, xr])]);
  return [re, im];
}

/**
 * Adds the measurement of one downsampling op: `f2` is its output [B,C,Nh,Nw], `f1` its
 * stride-1 twin [B,C,sh*Nh,sw*Nw]. Returns the names of the new outputs (already exposed).
 */
export function addAliasingMeasurement(
  graph: Graph,
  opset: number,
  f2: string,
  f1: string,
  outputHW: readonly [number, number],
  strides: readonly [number, number],
  tag: string,
): AliasingOutputs {
  const [nh, nw] = outputHW;
  const [sh, sw] = strides;
  const [f2Re, f2Im] = addPartialDft2(graph, f2, nh, nw, range(nh), range(nw), `${tag}_f2`);
  const [frRe, frIm] = addPartialDft2(graph, f1, sh * nh, sw * nw, lowBandIndices(nh, sh), lowBandIndices(nw, sw), `${tag}_f1`);
  const dRe = graph.op('Sub', [f2Re, frRe]);
  const dIm = graph.op('Sub', [f2Im, frIm]);
  const sq = (re: string, im: string): string => graph.op('Add', [graph.op('Mul', [re, re]), graph.op('Mul', [im, im])]);
  const sqD = sq(dRe, dIm);
  const sqF2 = sq(f2Re, f2Im);
  const perMap = (x: string): string => reduce(graph, opset, 'ReduceSum', x, [2, 3]);
  const outputs: AliasingOutputs = {
    sumAbsD: perMap(graph.op('Sqrt', [sqD])),
    sumAbsF2: perMap(graph.op('Sqrt', [sqF2])),
    sumSqD: perMap(sqD),
    sumSqF2: perMap(sqF2),
    twinError: addTwinError(graph, opset, f2, f1, outputHW, strides),
    outputMaxAbs: reduce(graph, opset, 'ReduceMax', graph.op('Abs', [f2]), [1, 2, 3]),
  };
  for (const name of Object.values(outputs)) graph.addOutput(name);
  return outputs;
}

/**
 * max |f1[..., ::sh, ::sw] - f2| per image. The subsampling is a reshape and an index pick, so
 * it is exact (no arithmetic touches the values).
 */
function addTwinError(graph: Graph, opset: number, f2: string, f1: string, outputHW: readonly [number, number], strides: readonly [number, number]): string {
  const [nh, nw] = outputHW;
  const [sh, sw] = strides;
  const split = reshape(graph, f1, [0, 0, nh, sh, nw, sw]);
  const sub = takeIndex(graph, takeIndex(graph, split, 5, 0), 3, 0);
  const diff = graph.op('Abs', [graph.op('Sub', [sub, f2])]);
  return reduce(graph, opset, 'ReduceMax', diff, [1, 2, 3]);
}
