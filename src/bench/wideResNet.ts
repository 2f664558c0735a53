/**
 * A pre-activation Wide ResNet (Zagoruyko & Komodakis, WRN-depth-widen) for CIFAR-10 with seeded
 * random weights, built with our own IR and encoder: the large model the benchmarks audit
 * (WRN-28-10: 36,479,194 trainable parameters, about 146 MB).
 *
 * Layout: conv3x3 3->16; three groups of n = (depth-4)/6 blocks of widths 16k, 32k, 64k with
 * strides 1, 2, 2 on the group's first block; block = BN-ReLU-Conv3x3(stride)-BN-ReLU-Conv3x3 plus
 * the identity, or plus a 1x1 conv (same stride) of the first BN-ReLU's output when the shape
 * changes; then BN-ReLU-GlobalAveragePool-Flatten-Gemm(10). Convs have no bias.
 *
 * Weights are He-normal. BN running variances are set to the variance the residual sums reach
 * (each block adds about one unit), as a calibrated network would have them, so activations and
 * logits stay near unit scale instead of doubling per block.
 *
 *   node dist/bench/wideResNet.js --out FILE [--depth 28] [--widen 10] [--seed 1] [--batch N]
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { decodeModel, encodeModel } from '../onnx/codec.js';
import { attr, Constant, Dim, Graph, Model } from '../onnx/ir.js';
import { DataType } from '../onnx/schema.js';

export interface WideResNetOptions {
  /** Total depth; (depth - 4) must be a positive multiple of 6 (default 28). */
  depth?: number;
  /** Width multiplier k (default 10). */
  widen?: number;
  /** PRNG seed for the weights (default 1). */
  seed?: number;
  /** Fixed batch size, or null/undefined for a symbolic 'N'. */
  batch?: number | null;
}

/** The opset and IR version our fixtures use (models/*.onnx import opset 13). */
const OPSET = 13;
const IR_VERSION = 8;
const BN_EPSILON = 1e-5;

/**
 * Seeded normal deviates: xorshift128 uniforms through Box-Muller. The state lives in locals
 * inside `fill` so tens of millions of values take well under a second.
 */
class NormalSource {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(seed: number) {
    // splitmix-style scrambling so nearby seeds give unrelated streams; never all-zero.
    let x = (seed >>> 0) ^ 0x9e3779b9;
    const next = (): number => {
      x = (x + 0x6d2b79f5) >>> 0;
      let t = Math.imul(x ^ (x >>> 15), x | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return (t ^ (t >>> 14)) >>> 0;
    };
    this.s0 = next() | 1;
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
  }

  /** Fills `out` with mean + std * N(0, 1). */
  fill(out: Float32Array, std: number, mean = 0): Float32Array {
    let s0 = this.s0;
    let s1 = this.s1;
    let s2 = this.s2;
    let s3 = this.s3;
    const scale = 1 / 4294967296;
    const n = out.length;
    for (let i = 0; i < n; i += 2) {
      let t = s3 ^ (s3 << 11);
      s3 = s2;
      s2 = s1;
      s1 = s0;
      s0 = (s0 ^ (s0 >>> 19) ^ t ^ (t >>> 8)) | 0;
      // (0, 1]: log never sees 0.
      const u1 = ((s0 >>> 0) + 1) * scale;
      t = s3 ^ (s3 << 11);
      s3 = s2;
      s2 = s1;
      s1 = s0;
      s0 = (s0 ^ (s0 >>> 19) ^ t ^ (t >>> 8)) | 0;
      const u2 = (s0 >>> 0) * scale;
      const r = std * Math.sqrt(-2 * Math.log(u1));
      const a = 2 * Math.PI * u2;
      out[i] = mean + r * Math.cos(a);
      if (i + 1 < n) out[i + 1] = mean + r * Math.sin(a);
    }
    this.s0 = s0;
    this.s1 = s1;
    this.s2 = s2;
    this.s3 = s3;
    return out;
  }
}

/** Builds the graph; the model bytes come from `buildWideResNet`. */
export function buildWideResNetGraph(opts: WideResNetOptions = {}): Graph {
  const depth = opts.depth ?? 28;
  const widen = opts.widen ?? 10;
  const seed = opts.seed ?? 1;
  if (!Number.isInteger(depth) || depth < 10 || (depth - 4) % 6 !== 0) {
    throw new Error(`WRN depth must be 6n+4 with n >= 1 (10, 16, 22, 28, ...), got ${depth}`);
  }
  if (!Number.isInteger(widen) || widen < 1) throw new Error(`WRN widen must be a positive integer, got ${widen}`);
  const batch: Dim = opts.batch ?? 'N';
  const blocksPerGroup = (depth - 4) / 6;
  const rng = new NormalSource(seed);

  const g = new Graph({ name: `wrn_${depth}_${widen}` });
  g.inputs.push({ name: 'input', elemType: DataType.FLOAT, shape: [batch, 3, 32, 32] });

  const weight = (name: string, dims: number[], values: Float32Array): string => {
    const t: Constant = { kind: 'constant', name, dataType: DataType.FLOAT, dims, external: false, values };
    g.initializers.set(name, t);
    return name;
  };
  const conv = (name: string, x: string, cin: number, cout: number, kernel: number, stride: number, fanInGain: number): string => {
    const count = cout * cin * kernel * kernel;
    // He-normal on fan-in: gain 2 after a ReLU, 1 on the raw image.
    const w = weight(`${name}.weight`, [cout, cin, kernel, kernel], rng.fill(new Float32Array(count), Math.sqrt(fanInGain / (cin * kernel * kernel))));
    const pad = (kernel - 1) / 2;
    return g.addNode({
      opType: 'Conv',
      name,
      inputs: [x, w],
      outputs: [`${name}_out`],
      attributes: [
        attr.ints('kernel_shape', [kernel, kernel]),
        attr.ints('strides', [stride, stride]),
        attr.ints('pads', [pad, pad, pad, pad]),
        attr.ints('dilations', [1, 1]),
        attr.int('group', 1),
      ],
    }).outputs[0];
  };
  /** BN (inference form) then ReLU; `variance` is the expected variance of `x` per channel. */
  const bnRelu = (name: string, x: string, channels: number, variance: number): string => {
    const gamma = weight(`${name}.weight`, [channels], rng.fill(new Float32Array(channels), 0.05, 1));
    const beta = weight(`${name}.bias`, [channels], rng.fill(new Float32Array(channels), 0.05));
    const mean = weight(`${name}.running_mean`, [channels], new Float32Array(channels));
    const varValues = new Float32Array(channels).fill(variance);
    const v = weight(`${name}.running_var`, [channels], varValues);
    const y = g.addNode({
      opType: 'BatchNormalization',
      name,
      inputs: [x, gamma, beta, mean, v],
      outputs: [`${name}_out`],
      attributes: [attr.float('epsilon', BN_EPSILON)],
    }).outputs[0];
    return g.addNode({ opType: 'Relu', name: `${name}_relu`, inputs: [y], outputs: [`${name}_relu_out`] }).outputs[0];
  };

  let x = conv('conv1', 'input', 3, 16, 3, 1, 1);
  let channels = 16;
  let variance = 1;
  const widths = [16 * widen, 32 * widen, 64 * widen];
  const groupStrides = [1, 2, 2];
  for (let group = 0; group < 3; group++) {
    for (let b = 0; b < blocksPerGroup; b++) {
      const p = `block${group + 1}.${b}`;
      const out = widths[group];
      const stride = b === 0 ? groupStrides[group] : 1;
      const a = bnRelu(`${p}.bn1`, x, channels, variance);
      const h = conv(`${p}.conv1`, a, channels, out, 3, stride, 2);
      const h2 = bnRelu(`${p}.bn2`, h, out, 1);
      const r = conv(`${p}.conv2`, h2, out, out, 3, 1, 2);
      const equal = channels === out && stride === 1;
      const shortcut = equal ? x : conv(`${p}.shortcut`, a, channels, out, 1, stride, 2);
      x = g.addNode({ opType: 'Add', name: `${p}.add`, inputs: [shortcut, r], outputs: [`${p}.add_out`] }).outputs[0];
      // The branch adds about one unit of variance; a projected shortcut restarts at one.
      variance = (equal ? variance : 1) + 1;
      channels = out;
    }
  }
  const f = bnRelu('bn_final', x, channels, variance);
  const pooled = g.addNode({ opType: 'GlobalAveragePool', name: 'pool', inputs: [f], outputs: ['pool_out'] }).outputs[0];
  const flat = g.addNode({ opType: 'Flatten', name: 'flatten', inputs: [pooled], outputs: ['flatten_out'], attributes: [attr.int('axis', 1)] }).outputs[0];
  const fcW = weight('fc.weight', [10, channels], rng.fill(new Float32Array(10 * channels), Math.sqrt(1 / channels)));
  const fcB = weight('fc.bias', [10], new Float32Array(10));
  g.addNode({ opType: 'Gemm', name: 'fc', inputs: [flat, fcW, fcB], outputs: ['logits'], attributes: [attr.int('transB', 1)] });
  g.outputs.push({ name: 'logits', elemType: DataType.FLOAT, shape: [batch, 10] });
  return g;
}

/** ONNX model bytes (opset 13, IR 8) of a randomly initialised pre-activation WRN. */
export function buildWideResNet(opts: WideResNetOptions = {}): Uint8Array {
  const model: Model = {
    irVersion: IR_VERSION,
    opsetImports: [{ domain: '', version: OPSET }],
    graph: buildWideResNetGraph(opts),
    producerName: 'alias-audit-wrn',
    otherFields: [],
  };
  return encodeModel(model);
}

export interface ParameterCount {
  /** Learned parameters (conv and fc weights, fc bias, BN scale and shift), as PyTorch counts them. */
  trainable: number;
  /** Every value stored in initializers, BN running statistics included. */
  stored: number;
}

/** Counts the parameters of a model's initializers; BN running mean/variance are not trainable. */
export function countParameters(modelBytes: Uint8Array): ParameterCount {
  const g = decodeModel(modelBytes).graph;
  const statistics = new Set<string>();
  for (const n of g.nodes) {
    if (n.opType === 'BatchNormalization') {
      if (n.inputs[3]) statistics.add(n.inputs[3]);
      if (n.inputs[4]) statistics.add(n.inputs[4]);
    }
  }
  let trainable = 0;
  let stored = 0;
  for (const [name, t] of g.initializers) {
    const size = t.dims.reduce((a, b) => a * b, 1);
    stored += size;
    if (!statistics.has(name)) trainable += size;
  }
  return { trainable, stored };
}

function isDirectRun(): boolean {
  const entry = process.argv[1];
  return entry !== undefined && fileURLToPath(import.meta.url) === resolve(entry);
}

function main(): void {
  const { values } = parseArgs({
    options: {
      out: { type: 'string' },
      depth: { type: 'string', default: '28' },
      widen: { type: 'string', default: '10' },
      seed: { type: 'string', default: '1' },
      batch: { type: 'string' },
    },
  });
  if (!values.out) {
    console.error('usage: node dist/bench/wideResNet.js --out FILE [--depth 28] [--widen 10] [--seed 1] [--batch N]');
    process.exit(2);
  }
  const depth = Number(values.depth);
  const widen = Number(values.widen);
  const start = performance.now();
  const bytes = buildWideResNet({ depth, widen, seed: Number(values.seed), batch: values.batch === undefined ? null : Number(values.batch) });
  const built = performance.now();
  writeFileSync(values.out, bytes);
  const { trainable, stored } = countParameters(bytes);
  console.log(
    `WRN-${depth}-${widen}: ${trainable.toLocaleString('en-US')} parameters (${stored.toLocaleString('en-US')} stored values with BN statistics), ` +
      `${bytes.length.toLocaleString('en-US')} bytes -> ${values.out} (built in ${((built - start) / 1000).toFixed(2)} s)`,
  );
}

if (isDirectRun()) main();
