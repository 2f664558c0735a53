/**
 * Test support for the gradient graph: tiny one-op models built with our IR, and a checker that
 * compares the graph's gradient with central finite differences of the cross-entropy loss,
 * computed in float64 here from the float32 logits the model returns.
 */
import assert from 'node:assert/strict';
import { buildGradientModel, GradientModel, GradientSpec } from '../../../src/attacks/grad/gradientGraph.js';
import { probeShapes } from '../../../src/attacks/grad/shapes.js';
import { attr, Dim, Graph } from '../../../src/onnx/ir.js';
import { DataType } from '../../../src/onnx/schema.js';
import { ModelSession } from '../../../src/runtime/session.js';
import { encodeBuiltModel, prng, randomFloats } from '../../helpers/modelBuilder.js';

export { attr };

/** An IR version ONNX Runtime accepts with each opset we test. */
const IR_FOR_OPSET: Readonly<Record<number, number>> = { 7: 3, 8: 3, 9: 4, 10: 5, 11: 6, 12: 7, 13: 7, 17: 8, 18: 8 };

/** Adds seeded random float constants: `w('conv_w', [4,3,3,3])`, uniform in [-scale, scale). */
export type WeightMaker = (name: string, dims: readonly number[], scale?: number) => string;

export interface OpModelSpec {
  opset: number;
  /** Declared input shape, batch first (a number fixes it; a string makes it dynamic). */
  input: readonly Dim[];
  /** Adds the op(s) under test reading `x`; returns the output value. */
  build: (g: Graph, x: string, w: WeightMaker, opset: number) => string;
  /** Subtract 0.5 first so the op sees values of both signs (default true). */
  center?: boolean;
  seed?: number;
  /** Weights as initializers instead of Constant nodes. */
  initializers?: boolean;
}

/** A one-input model: input x -> [x - 0.5] -> build(...) -> output. */
export function opModel(spec: OpModelSpec): Uint8Array {
  const g = new Graph({ name: 'grad_test' });
  g.inputs.push({ name: 'x', elemType: DataType.FLOAT, shape: [...spec.input] });
  let seed = (spec.seed ?? 11) * 1000;
  const irVersion = IR_FOR_OPSET[spec.opset] ?? 8;
  const w: WeightMaker = (name, dims, scale = 1) => {
    const values = randomFloats(dims.reduce((a, b) => a * b, 1), ++seed, scale);
    if (!spec.initializers) return g.constantFloat(name, dims, values);
    const tensorName = g.uniqueName(name);
    g.initializers.set(tensorName, { kind: 'constant', name: tensorName, dataType: DataType.FLOAT, dims, external: false, values });
    if (irVersion < 4) g.inputs.push({ name: tensorName, elemType: DataType.FLOAT, shape: [...dims] });
    return tensorName;
  };
  const x = spec.center === false ? 'x' : g.op('Sub', ['x', g.constantFloat('half', [], Float32Array.of(0.5))]);
  const y = spec.build(g, x, w, spec.opset);
  g.outputs.push({ name: y, elemType: DataType.FLOAT });
  return encodeBuiltModel(g, spec.opset, irVersion);
}

export interface CheckOptions {
  /** Batch for a dynamic-batch model (default 2). */
  batch?: number;
  /** Finite-difference step in pixel units (default 1e-2, or 0.1/n with `piecewise`). */
  h?: number;
  /** The op has kinks right on the pixels (Relu, max): step 0.1/n, see {@link distinctPixels}. */
  piecewise?: boolean;
  /** Directions u_i * sign(g_i) (u uniform in [0,1)) instead of uniform in [-1,1]: see checkGradient. */
  aligned?: boolean;
  /** Random directions to compare (default 3). */
  directions?: number;
  seed?: number;
  /** Also compare every element of image 0's gradient with a coordinate difference (dynamic batch only). */
  elementwise?: boolean;
  /** Also compare the `topPixels` largest |g_i| each with its own coordinate difference (step `pixelH`, default 3e-3). */
  topPixels?: number;
  pixelH?: number;
  spec?: Partial<Omit<GradientSpec, 'shapes'>>;
}

export interface CheckResult {
  model: GradientModel;
  /** Relative errors |fd - <g,d>| / max(|fd|, |<g,d>|) per direction. */
  directional: { fd: number; analytic: number; relative: number }[];
  /** Largest |loss output - float64 loss of the logits| relative to the latter. */
  lossError: number;
  /** Elementwise: largest |fd_i - g_i| and largest |g_i| of image 0. */
  elementwise?: { maxError: number; maxGradient: number };
  /** Per pixel (topPixels): largest |fd_i - g_i| / |g_i|. */
  pixels?: { maxRelative: number; checked: number };
  /** Sum of |g| over the batch (to tell an all-zero gradient apart). */
  gradientL1: number;
}

/** Cross-entropy of row `r` in float64. */
export function crossEntropy(logits: Float32Array, r: number, k: number, label: number): number {
  let max = -Infinity;
  for (let j = 0; j < k; j++) max = Math.max(max, logits[r * k + j]);
  let sum = 0;
  for (let j = 0; j < k; j++) sum += Math.exp(logits[r * k + j] - max);
  return Math.log(sum) + max - logits[r * k + label];
}

function oneHot(labels: readonly number[], k: number): Float32Array {
  const t = new Float32Array(labels.length * k);
  labels.forEach((l, i) => (t[i * k + l] = 1));
  return t;
}

/**
 * Per image, the values (i + 0.25)/n for i < n in random order: all distinct, 1/n apart and at
 * least 0.25/n from 0.5 (where a centred Relu has its kink). With steps h*|d| up to 0.1/n, no
 * Relu and no max of two pixels changes its choice between x - h*d and x + h*d, so the finite
 * differences of piecewise-linear ops on the pixels are exact up to rounding.
 */
export function distinctPixels(batch: number, n: number, rand: () => number): Float32Array {
  const x = new Float32Array(batch * n);
  for (let b = 0; b < batch; b++) {
    const order = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    for (let i = 0; i < n; i++) x[b * n + i] = (order[i] + 0.25) / n;
  }
  return x;
}

/** Runs the gradient graph of `bytes` and compares it with finite differences. */
export async function checkGradient(bytes: Uint8Array, options: CheckOptions = {}): Promise<CheckResult> {
  const shapes = await probeShapes(bytes, { intraOpThreads: 1 });
  const model = buildGradientModel(bytes, {
    layout: options.spec?.layout ?? 'NCHW',
    preprocessing: options.spec?.preprocessing ?? { mean: [0, 0, 0], std: [1, 1, 1], scale: 1 },
    output: options.spec?.output,
    shapes,
  });
  const session = await ModelSession.open(model.bytes, { ep: 'cpu', intraOpThreads: 1 });
  try {
    const rand = prng(options.seed ?? 5);
    const batch = model.fixedBatch ?? options.batch ?? 2;
    const k = model.classes;
    const imageDims = model.pixelShape.slice(1).map((d) => (typeof d === 'number' ? d : 32));
    const n = imageDims.reduce((a, b) => a * b, 1);
    const x = distinctPixels(batch, n, rand);
    const labels = Array.from({ length: batch }, () => Math.floor(rand() * k));
    const run = async (pixels: Float32Array, rows: readonly number[]) => {
      const feeds = {
        [model.inputs.pixels]: { data: pixels, dims: [rows.length, ...imageDims] },
        [model.inputs.labels]: { data: oneHot(rows, k), dims: [rows.length, k] },
      };
      return session.run(feeds, [model.outputs.logits, model.outputs.loss, model.outputs.losses, model.outputs.gradient]);
    };
    const lossOf = (logits: Float32Array, rows: readonly number[]): number => rows.reduce((s, l, i) => s + crossEntropy(logits, i, k, l), 0);

    const base = await run(x, labels);
    const g = base[model.outputs.gradient].data;
    assert.deepEqual([...base[model.outputs.gradient].dims], [batch, ...imageDims], 'gradient shape');
    const expectedLoss = lossOf(base[model.outputs.logits].data, labels);
    const lossError = Math.abs(base[model.outputs.loss].data[0] - expectedLoss) / Math.max(1, Math.abs(expectedLoss));
    const h = options.h ?? (options.piecewise ? 0.1 / n : 1e-2);
    const directional: CheckResult['directional'] = [];
    for (let t = 0; t < (options.directions ?? 3); t++) {
      // Aligned: d_i = u_i sign(g_i), u uniform in [0,1): <g,d> ~ |g|_1 rather than |g|_2, far
      // above the float32 rounding of the loss, so h can stay small where kinks are dense.
      const d = options.aligned
        ? Float32Array.from(g, (v) => rand() * Math.sign(v))
        : Float32Array.from({ length: x.length }, () => rand() * 2 - 1);
      const plus = Float32Array.from(x, (v, i) => v + h * d[i]);
      const minus = Float32Array.from(x, (v, i) => v - h * d[i]);
      const lp = lossOf((await run(plus, labels))[model.outputs.logits].data, labels);
      const lm = lossOf((await run(minus, labels))[model.outputs.logits].data, labels);
      const fd = (lp - lm) / (2 * h);
      let analytic = 0;
      for (let i = 0; i < x.length; i++) analytic += g[i] * d[i];
      directional.push({ fd, analytic, relative: Math.abs(fd - analytic) / Math.max(Math.abs(fd), Math.abs(analytic), 1e-9) });
    }
    let elementwise: CheckResult['elementwise'];
    if (options.elementwise && model.fixedBatch === null) {
      const copies = new Float32Array(2 * n * n);
      for (let i = 0; i < n; i++) {
        copies.set(x.subarray(0, n), 2 * i * n);
        copies.set(x.subarray(0, n), (2 * i + 1) * n);
        copies[2 * i * n + i] += h;
        copies[(2 * i + 1) * n + i] -= h;
      }
      const rows = new Array<number>(2 * n).fill(labels[0]);
      const logits = (await run(copies, rows))[model.outputs.logits].data;
      let maxError = 0;
      let maxGradient = 0;
      for (let i = 0; i < n; i++) {
        const fd = (crossEntropy(logits, 2 * i, k, labels[0]) - crossEntropy(logits, 2 * i + 1, k, labels[0])) / (2 * h);
        maxError = Math.max(maxError, Math.abs(fd - g[i]));
        maxGradient = Math.max(maxGradient, Math.abs(g[i]));
      }
      elementwise = { maxError, maxGradient };
    }
    let pixels: CheckResult['pixels'];
    if (options.topPixels) {
      // One pixel moves only a few units across a kink, so larger steps stay exact here.
      const ph = options.pixelH ?? 3e-3;
      const order = Array.from(g.keys()).sort((a, b) => Math.abs(g[b]) - Math.abs(g[a])).slice(0, options.topPixels);
      let maxRelative = 0;
      for (const i of order) {
        const moved = Float32Array.from(x);
        moved[i] = x[i] + ph;
        const lp = lossOf((await run(moved, labels))[model.outputs.logits].data, labels);
        moved[i] = x[i] - ph;
        const lm = lossOf((await run(moved, labels))[model.outputs.logits].data, labels);
        maxRelative = Math.max(maxRelative, Math.abs((lp - lm) / (2 * ph) - g[i]) / Math.abs(g[i]));
      }
      pixels = { maxRelative, checked: order.length };
    }
    const gradientL1 = g.reduce((s, v) => s + Math.abs(v), 0);
    return { model, directional, lossError, elementwise, pixels, gradientL1 };
  } finally {
    await session.release();
  }
}

/**
 * Asserts the gradient matches: every direction within `rtol` (default 1e-2), the loss output
 * within 1e-5, the gradient not all zero, and elementwise (when asked) within
 * `etol * max|g|` per element (default 2e-3: a wrong or missing element shows far above it).
 */
export async function assertGradient(bytes: Uint8Array, options: CheckOptions & { rtol?: number; etol?: number } = {}): Promise<CheckResult> {
  const r = await checkGradient(bytes, options);
  const rtol = options.rtol ?? 1e-2;
  const etol = options.etol ?? 2e-3;
  assert.ok(r.gradientL1 > 0, 'the gradient is all zero');
  assert.ok(r.lossError < 1e-5, `loss output off by ${r.lossError}`);
  for (const d of r.directional) {
    assert.ok(d.relative < rtol, `directional derivative: finite differences ${d.fd}, gradient ${d.analytic} (relative error ${d.relative.toExponential(2)})`);
  }
  if (r.elementwise) {
    const { maxError, maxGradient } = r.elementwise;
    assert.ok(maxError <= etol * maxGradient, `elementwise: largest error ${maxError.toExponential(2)} vs largest gradient ${maxGradient.toExponential(2)}`);
  }
  if (r.pixels) assert.ok(r.pixels.maxRelative < rtol, `per pixel: largest relative error ${r.pixels.maxRelative.toExponential(2)}`);
  return r;
}
