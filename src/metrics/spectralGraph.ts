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
import { attr, Graph } from '../onnx/ir.js';
import { lowBandIndices } from './spectrum.js';

/**
 * Output names of one op's measurement. `sums` is [B, C, 4]: per map sum|D|, sum|F2|, sum|D|^2
 * and sum|F2|^2 (SPEC §2); `twinError` and `outputMaxAbs` are [1], for the batch's first image.
 */
export interface AliasingOutputs {
  sums: string;
  twinError: string;
  /** max |f2| of the batch's first image, the scale the twin error is judged against. */
  outputMaxAbs: string;
}

/** Order of the last axis of `sums`. */
export const SUM_FIELDS = ['sumAbsD', 'sumAbsF2', 'sumSqD', 'sumSqF2'] as const;

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

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/**
 * Left factor of a height transform, [2R, h]: row 2u is the real part and row 2u + 1 the
 * imaginary part of DFT row freqs[u]. Interleaved so that the product with [B,C,h,w] maps,
 * [B,C,2R,w], reshapes for free to [B,C,R,2w]: row u, columns (part, x).
 */
function heightRows(freqs: readonly number[], h: number): Float32Array {
  const { re, im } = dftRows(freqs, h);
  const m = new Float32Array(2 * freqs.length * h);
  for (let u = 0; u < freqs.length; u++) {
    m.set(re.subarray(u * h, (u + 1) * h), 2 * u * h);
    m.set(im.subarray(u * h, (u + 1) * h), (2 * u + 1) * h);
  }
  return m;
}

/**
 * Right factor of a width transform of complex rows laid out as [re | im], [2w, 2K]: output
 * columns are the real then the imaginary parts at frequencies freqs. The complex product
 * (yr + i yi)(cr + i ci) = (yr cr - yi ci) + i (yr ci + yi cr) is written out as real blocks.
 */
function complexWidthTransform(freqs: readonly number[], w: number): Float32Array {
  const { re, im } = dftRows(freqs, w);
  const k = freqs.length;
  const m = new Float32Array(2 * w * 2 * k);
  for (let j = 0; j < k; j++) {
    for (let x = 0; x < w; x++) {
      const cr = re[j * w + x];
      const ci = im[j * w + x];
      m[x * 2 * k + j] = cr;
      m[x * 2 * k + k + j] = ci;
      m[(w + x) * 2 * k + j] = -ci;
      m[(w + x) * 2 * k + k + j] = cr;
    }
  }
  return m;
}

/**
 * Maps are real, so a spectrum's values at (u, v) and (-u, -v) are conjugates. We keep the
 * columns v = 0..floor(Nw/2) and count the others through their mirror (weight 2). The low band
 * L(N, s) mirrors onto itself except at an even N's Nyquist position N/2, whose mirror in the
 * twin's spectrum is frequency N/2 itself, outside the band. So for even Nh the mirrored
 * columns of D's Nyquist row are measured directly, as one extra row
 * E(v) = F2(Nh/2, v) - F1(Nh/2, L(v)) whose modulus equals that of the mirrored D values.
 */
export interface HalfSpectrumPlan {
  /** Kept columns: floor(Nw/2) + 1. */
  k: number;
  /** Rows of the height transform: Nh, plus the row E when Nh is even. */
  rows: number;
  /** [rows, k] weights of |F2| and of |D| per kept position. */
  f2Weights: Float32Array;
  dWeights: Float32Array;
}

export function halfSpectrumPlan(nh: number, nw: number): HalfSpectrumPlan {
  const k = Math.floor(nw / 2) + 1;
  const evenH = nh % 2 === 0;
  const rows = nh + (evenH ? 1 : 0);
  const selfMirrored = (v: number): boolean => v === 0 || (nw % 2 === 0 && v === nw / 2);
  const f2Weights = new Float32Array(k * rows);
  const dWeights = new Float32Array(k * rows);
  for (let v = 0; v < k; v++) {
    const w = selfMirrored(v) ? 1 : 2;
    for (let u = 0; u < nh; u++) {
      f2Weights[u * k + v] = w;
      dWeights[u * k + v] = evenH && u === nh / 2 ? 1 : w;
    }
    if (evenH) dWeights[nh * k + v] = selfMirrored(v) ? 0 : 1;
  }
  return { k, rows, f2Weights, dWeights };
}

/** [2K, K]: adds squared real and imaginary columns into squared moduli. */
function modulusPairs(r: number): Float32Array {
  const m = new Float32Array(2 * r * r);
  for (let u = 0; u < r; u++) {
    m[u * r + u] = 1;
    m[(r + u) * r + u] = 1;
  }
  return m;
}

/**
 * The 2-D DFT rows `rowFreqs` x columns `colFreqs` as one [h*w, R*2K] matrix, columns (u, part,
 * v): the Kronecker product of the height and width factors, for maps small enough that one large
 * GEMM on the flattened maps beats two small products per map.
 */
function kroneckerTransform(rowFreqs: readonly number[], colFreqs: readonly number[], h: number, w: number): Float32Array {
  const rows = dftRows(rowFreqs, h);
  const cols = dftRows(colFreqs, w);
  const r = rowFreqs.length;
  const k = colFreqs.length;
  const m = new Float32Array(h * w * r * 2 * k);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const at = (y * w + x) * r * 2 * k;
      for (let u = 0; u < r; u++) {
        const ar = rows.re[u * h + y];
        const ai = rows.im[u * h + y];
        for (let v = 0; v < k; v++) {
          const br = cols.re[v * w + x];
          const bi = cols.im[v * w + x];
          m[at + u * 2 * k + v] = ar * br - ai * bi;
          m[at + u * 2 * k + k + v] = ar * bi + ai * br;
        }
      }
    }
  }
  return m;
}

/**
 * Multiply-adds of the Kronecker form over those of the separable one below which the
 * Kronecker form runs faster on the CPU provider. Measured on the bundled model's sizes (2-core
 * EPYC): 8x8 maps (ratio 2.2) were faster as one GEMM, 16x16 maps (ratios 3.1 and 4.2) slower.
 */
const KRONECKER_MAX_COST_RATIO = 2.5;

/**
 * The spectrum rows `rowFreqs` x columns `colFreqs` of [B,C,h,w] maps, as [B,C,R,2K] (real then
 * imaginary parts). Separable: the height transform as a left product (one small GEMM per map),
 * a free reshape, the width transform as one large right GEMM. No transpose: transposing the
 * width-transformed maps (the earlier layout) took 44% of the measurement pass's kernel time on
 * the bundled model, more than all the products. Width first, then a left product on the
 * narrower maps and a GEMM combining the four real parts, measured 10-15% slower. Small maps
 * take the Kronecker form instead.
 */
function spectrum(graph: Graph, x: string, h: number, w: number, rowFreqs: readonly number[], colFreqs: readonly number[], name: string): string {
  const r = rowFreqs.length;
  const k = colFreqs.length;
  const separableCost = 2 * r * h * w + r * 2 * w * 2 * k;
  if (h * w * r * 2 * k <= KRONECKER_MAX_COST_RATIO * separableCost) {
    const transform = graph.constantFloat(`${name}_dft_hw`, [h * w, r * 2 * k], kroneckerTransform(rowFreqs, colFreqs, h, w));
    return reshape(graph, graph.op('MatMul', [reshape(graph, x, [0, 0, h * w]), transform]), [0, 0, r, 2 * k]);
  }
  const left = graph.constantFloat(`${name}_dft_h`, [2 * r, h], heightRows(rowFreqs, h));
  const right = graph.constantFloat(`${name}_dft_w`, [2 * w, 2 * k], complexWidthTransform(colFreqs, w));
  const rows = reshape(graph, graph.op('MatMul', [left, x]), [0, 0, r, 2 * w]);
  return graph.op('MatMul', [rows, right]);
}

/**
 * Adds the measurement of one downsampling op: `f2` is its output [B,C,Nh,Nw], `f1` its
 * stride-1 twin [B,C,sh*Nh,sw*Nw]. Every product has a constant 2-D right operand, so the
 * runtime runs each as one large GEMM; the one transpose per map moves a single axis, which
 * the runtime does fast. Returns the names of the new outputs (already exposed).
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
  const plan = halfSpectrumPlan(nh, nw);
  const { k, rows } = plan;
  const extraRow = rows > nh ? [nh / 2] : [];
  // F2 (and its Nyquist row again, for E) and the low band of F1, each [B,C,R,2K]
  const spectrum2 = spectrum(graph, f2, nh, nw, [...range(nh), ...extraRow], range(k), `${tag}_f2`);
  const spectrum1 = spectrum(graph, f1, sh * nh, sw * nw, [...lowBandIndices(nh, sh), ...extraRow], lowBandIndices(nw, sw).slice(0, k), `${tag}_f1`);
  const alias = graph.op('Sub', [spectrum2, spectrum1]); // D (and E)
  const pairs = graph.constantFloat(`${tag}_modulus_pairs`, [2 * k, k], modulusPairs(k));
  const squaredModulus = (x: string): string => graph.op('MatMul', [graph.op('Mul', [x, x]), pairs]);
  const sqD = squaredModulus(alias);
  const sqF2 = squaredModulus(spectrum2);
  const dWeights = graph.constantFloat(`${tag}_d_weights`, [rows, k], plan.dWeights);
  const f2Weights = graph.constantFloat(`${tag}_f2_weights`, [rows, k], plan.f2Weights);
  const total = (x: string, weights: string): string => reduce(graph, opset, 'ReduceSum', graph.op('Mul', [x, weights]), [2, 3], true);
  const perMap = graph.op(
    'Concat',
    [total(graph.op('Sqrt', [sqD]), dWeights), total(graph.op('Sqrt', [sqF2]), f2Weights), total(sqD, dWeights), total(sqF2, f2Weights)],
    [attr.int('axis', 3)],
  );
  // [B,C,1,4] -> [B,C,4]: sum|D|, sum|F2|, sum|D|^2, sum|F2|^2
  const sums = reshape(graph, perMap, [0, 0, 4]);
  const outputs: AliasingOutputs = { sums, ...addTwinError(graph, opset, f2, f1, outputHW, strides) };
  for (const name of [outputs.sums, outputs.twinError, outputs.outputMaxAbs]) graph.addOutput(name);
  return outputs;
}

/**
 * max |f1[..., ::sh, ::sw] - f2| and max |f2| over the first image of the batch. The
 * subsampling is a strided slice (or a reshape and an index pick), so it is exact: no
 * arithmetic touches the values.
 */
function addTwinError(graph: Graph, opset: number, f2: string, f1: string, outputHW: readonly [number, number], strides: readonly [number, number]): { twinError: string; outputMaxAbs: string } {
  const [nh, nw] = outputHW;
  const [sh, sw] = strides;
  // The first image of each batch: a twin's geometry does not depend on the image, and checking
  // every image cost as much as a tenth of the audit.
  let sub: string;
  let first: string;
  if (opset >= 10) {
    const c = (name: string, values: number[]): string => graph.constantInt64(name, [values.length], values);
    sub = graph.op('Slice', [f1, c('starts', [0, 0, 0]), c('ends', [1, sh * nh, sw * nw]), c('axes', [0, 2, 3]), c('steps', [1, sh, sw])]);
    first = graph.op('Slice', [f2, c('starts', [0]), c('ends', [1]), c('axes', [0])]);
  } else {
    // Slice takes attributes and no steps before opset 10: split each axis into (N, s) and pick index 0.
    const firstOf = (x: string): string => graph.op('Slice', [x], [attr.ints('starts', [0]), attr.ints('ends', [1]), attr.ints('axes', [0])]);
    const split = reshape(graph, firstOf(f1), [0, 0, nh, sh, nw, sw]);
    sub = takeIndex(graph, takeIndex(graph, split, 5, 0), 3, 0);
    first = firstOf(f2);
  }
  const diff = graph.op('Abs', [graph.op('Sub', [sub, first])]);
  return {
    twinError: reduce(graph, opset, 'ReduceMax', diff, [1, 2, 3]),
    outputMaxAbs: reduce(graph, opset, 'ReduceMax', graph.op('Abs', [first]), [1, 2, 3]),
  };
}
