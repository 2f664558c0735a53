/**
 * Small ONNX models built in memory with our own IR, for tests of graph surgery and of the
 * in-graph measurement on awkward geometries. Also: a synthetic CIFAR-shaped data set, a
 * seeded PRNG, and a minimal protobuf writer/splicer that does NOT use src/onnx/protobuf.ts,
 * so tests of the codec can build their fixtures independently of the code under test.
 */
import type { Cifar10Set } from '../../src/data/cifar10.js';
import { encodeModel } from '../../src/onnx/codec.js';
import { attr, Attribute, Constant, Dim, Graph, Model } from '../../src/onnx/ir.js';
import { DataType } from '../../src/onnx/schema.js';

// ---------------------------------------------------------------- randomness

/** mulberry32: deterministic uniform [0, 1) so failures reproduce. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` uniform values in [-scale, scale). */
export function randomFloats(n: number, seed: number, scale = 1): Float32Array {
  const r = prng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (r() * 2 - 1) * scale;
  return out;
}

/** A CIFAR-shaped set of random images (R,G,B planes of 32x32 bytes) and labels. */
export function syntheticDataset(count: number, seed = 1): Cifar10Set {
  const r = prng(seed);
  const images = new Uint8Array(count * 3072);
  for (let i = 0; i < images.length; i++) images[i] = Math.floor(r() * 256);
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) labels[i] = Math.floor(r() * 10);
  return { images, labels, count, source: 'synthetic:test' };
}

// ---------------------------------------------------------------- minimal protobuf (independent)

/** Varint encoding of a non-negative integer below 2^53, or a negative int64 (10 bytes). */
export function varintBytes(value: number | bigint): Uint8Array {
  let v = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  while (v > 0x7fn) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return Uint8Array.from(out);
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** One encoded varint field: tag (field, wire 0) then the value. */
export function varintField(field: number, value: number | bigint): Uint8Array {
  return concatBytes(varintBytes(field * 8), varintBytes(value));
}

/** One encoded length-delimited field. */
export function lenField(field: number, payload: Uint8Array): Uint8Array {
  return concatBytes(varintBytes(field * 8 + 2), varintBytes(payload.length), payload);
}

export interface RawField {
  field: number;
  wire: number;
  /** Value of a varint field, as an unsigned 64-bit integer. */
  value?: bigint;
  /** start/end of the whole field (tag included) and of its payload (LEN fields). */
  start: number;
  end: number;
  payloadStart: number;
}

function readVarint(buf: Uint8Array, pos: number): [bigint, number] {
  let v = 0n;
  let shift = 0n;
  for (;;) {
    const b = buf[pos++];
    if (b === undefined) throw new Error('test protobuf reader: truncated varint');
    v |= BigInt(b & 0x7f) << shift;
    shift += 7n;
    if ((b & 0x80) === 0) return [v, pos];
  }
}

/** Top-level fields of one message (independent of src/onnx/protobuf.ts). */
export function listFields(buf: Uint8Array): RawField[] {
  const out: RawField[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const start = pos;
    const [tag, p1] = readVarint(buf, pos);
    pos = p1;
    const field = Number(tag >> 3n);
    const wire = Number(tag & 7n);
    let payloadStart = pos;
    let value: bigint | undefined;
    if (wire === 0) [value, pos] = readVarint(buf, pos);
    else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else if (wire === 2) {
      const [len, p2] = readVarint(buf, pos);
      payloadStart = p2;
      pos = p2 + Number(len);
    } else throw new Error(`test protobuf reader: wire type ${wire}`);
    out.push({ field, wire, value, start, end: pos, payloadStart });
  }
  return out;
}

/** Payload of the `occurrence`-th LEN field `field` of `buf`. */
export function submessage(buf: Uint8Array, field: number, occurrence = 0): Uint8Array {
  const f = listFields(buf).filter((x) => x.field === field && x.wire === 2)[occurrence];
  if (!f) throw new Error(`test protobuf reader: no occurrence ${occurrence} of field ${field}`);
  return buf.subarray(f.payloadStart, f.end);
}

/** Values of varint field `field` of `buf`, as signed int64 (two's complement). */
export function varintValues(buf: Uint8Array, field: number): bigint[] {
  return listFields(buf)
    .filter((x) => x.field === field && x.wire === 0)
    .map((x) => BigInt.asIntN(64, x.value ?? 0n));
}

/** Values of a repeated int64 field, packed or not, as signed int64. */
export function repeatedInt64s(buf: Uint8Array, field: number): bigint[] {
  const out: bigint[] = [];
  for (const f of listFields(buf)) {
    if (f.field !== field) continue;
    if (f.wire === 0) out.push(BigInt.asIntN(64, f.value ?? 0n));
    else if (f.wire === 2) {
      let pos = f.payloadStart;
      while (pos < f.end) {
        const [v, next] = readVarint(buf, pos);
        out.push(BigInt.asIntN(64, v));
        pos = next;
      }
    }
  }
  return out;
}

/**
 * Rewrites the message at a path of (field number, occurrence) pairs below `buf` by appending
 * `extra` to its payload; lengths of every enclosing message are re-encoded. An empty path
 * appends to `buf` itself.
 */
export function appendToSubmessage(buf: Uint8Array, path: readonly (readonly [number, number])[], extra: Uint8Array): Uint8Array {
  if (path.length === 0) return concatBytes(buf, extra);
  const [field, occurrence] = path[0];
  const matches = listFields(buf).filter((f) => f.field === field && f.wire === 2);
  const target = matches[occurrence];
  if (!target) throw new Error(`test protobuf splicer: no occurrence ${occurrence} of field ${field}`);
  const inner = appendToSubmessage(buf.subarray(target.payloadStart, target.end), path.slice(1), extra);
  return concatBytes(buf.subarray(0, target.start), lenField(field, inner), buf.subarray(target.end));
}

/** Index of `needle` in `hay`, or -1. */
export function indexOfBytes(hay: Uint8Array, needle: Uint8Array, from = 0): number {
  outer: for (let i = from; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

// ---------------------------------------------------------------- models

/** Encodes a model built in memory (ir_version and producer_name come from the Model fields). */
export function encodeBuiltModel(graph: Graph, opset: number, irVersion: number, otherFields: Uint8Array[] = []): Uint8Array {
  const model: Model = { irVersion, opsetImports: [{ domain: '', version: opset }], graph, producerName: 'test', otherFields };
  return encodeModel(model);
}

export type PoolOrConv = 'Conv' | 'MaxPool' | 'AveragePool';

/** One strided (or not) op of a test model. */
export interface OpSpec {
  op: PoolOrConv;
  /** Node name (default `down0`, `down1`, ...). */
  name?: string;
  kernel: [number, number];
  strides: [number, number];
  /** Explicit [top, left, bottom, right]; omitted = no `pads` attribute. */
  pads?: [number, number, number, number];
  autoPad?: 'NOTSET' | 'SAME_UPPER' | 'SAME_LOWER' | 'VALID';
  dilations?: [number, number];
  /** Conv only. */
  group?: number;
  /** Conv only: output channels (default: input channels). */
  outChannels?: number;
  /** Conv only: add a bias input (default true). */
  bias?: boolean;
  /** Conv only: write `kernel_shape` (default true; false = inferred from the weight). */
  kernelShapeAttr?: boolean;
  /** Conv only: explicit weight values [Cout, Cin/group, kh, kw] (default random). */
  weight?: Float32Array;
  ceilMode?: boolean;
  /** AveragePool only; omitted = attribute absent (ONNX default 0). */
  countIncludePad?: 0 | 1;
  /** Read the output of op `from` (index into `ops`), or -1 for the stem output; default: previous op. */
  from?: number;
}

export interface ModelSpec {
  ops: OpSpec[];
  /** Stride-1 VALID conv before the ops: sets the channel count and the spatial size (32-k+1). */
  stem?: { kernel: [number, number]; channels: number };
  opset?: number;
  irVersion?: number;
  /** Batch dimension of the input: a number (fixed) or a symbolic name (default 'N'). */
  batch?: number | string;
  layout?: 'NCHW' | 'NHWC';
  /** Weights as graph initializers instead of Constant nodes (IR < 4: also listed as inputs). */
  initializers?: boolean;
  seed?: number;
  /** Head reads this op's output (default: last op). */
  headFrom?: number;
  /** Input spatial size (default 32; the audit needs 32). */
  inputHW?: [number, number];
  /** Input channels (default 3). */
  inputChannels?: number;
}

export interface BuiltModel {
  bytes: Uint8Array;
  graph: Graph;
  /** Node names of the ops, in spec order. */
  opNames: string[];
  /** Output value names of the ops, in spec order. */
  opOutputs: string[];
  inputName: string;
  logits: string;
}

/**
 * Builds `input -> [Transpose] -> [stem conv] -> ops... ` with the logits (GlobalAveragePool ->
 * Flatten -> MatMul [C,10]) as the FIRST graph output and every op's output exposed after it.
 */
export function buildModel(spec: ModelSpec): BuiltModel {
  const opset = spec.opset ?? 13;
  const irVersion = spec.irVersion ?? 8;
  const seed = spec.seed ?? 7;
  let seedCounter = seed * 1000;
  const [ih, iw] = spec.inputHW ?? [32, 32];
  const inC = spec.inputChannels ?? 3;
  const batch: Dim = spec.batch ?? 'N';
  const layout = spec.layout ?? 'NCHW';
  const graph = new Graph({ name: 'test_graph' });
  const inputName = 'image';
  graph.inputs.push({
    name: inputName,
    elemType: DataType.FLOAT,
    shape: layout === 'NCHW' ? [batch, inC, ih, iw] : [batch, ih, iw, inC],
  });

  const floatTensor = (name: string, dims: number[], values: Float32Array): string => {
    if (!spec.initializers) return graph.constantFloat(name, dims, values);
    const tensorName = graph.uniqueName(name);
    const t: Constant = { kind: 'constant', name: tensorName, dataType: DataType.FLOAT, dims, external: false, values };
    graph.initializers.set(tensorName, t);
    if (irVersion < 4) graph.inputs.push({ name: tensorName, elemType: DataType.FLOAT, shape: dims });
    return tensorName;
  };

  let x = inputName;
  if (layout === 'NHWC') x = graph.op('Transpose', [x], [attr.ints('perm', [0, 3, 1, 2])], 'to_nchw');
  let channels = inC;
  if (spec.stem) {
    const [kh, kw] = spec.stem.kernel;
    const c = spec.stem.channels;
    const w = floatTensor('stem_w', [c, channels, kh, kw], randomFloats(c * channels * kh * kw, ++seedCounter, 1 / Math.sqrt(channels * kh * kw)));
    x = graph.op('Conv', [x, w], [attr.ints('kernel_shape', [kh, kw]), attr.ints('strides', [1, 1])], 'stem');
    channels = c;
  }
  const stemOut = x;
  const stemChannels = channels;

  const opNames: string[] = [];
  const opOutputs: string[] = [];
  const opChannels: number[] = [];
  spec.ops.forEach((o, index) => {
    const from = o.from ?? index - 1;
    const input = from < 0 ? stemOut : opOutputs[from];
    const inChannels = from < 0 ? stemChannels : opChannels[from];
    const attributes: Attribute[] = [];
    const inputs = [input];
    let outChannels = inChannels;
    if (o.op === 'Conv') {
      const group = o.group ?? 1;
      outChannels = o.outChannels ?? inChannels;
      const [kh, kw] = o.kernel;
      const wDims = [outChannels, inChannels / group, kh, kw];
      const wCount = wDims.reduce((a, b) => a * b, 1);
      const weight = o.weight ?? randomFloats(wCount, ++seedCounter, 1 / Math.sqrt(wCount / outChannels));
      if (weight.length !== wCount) throw new Error(`weight of op ${index} has ${weight.length} values, expected ${wCount}`);
      inputs.push(floatTensor(`w${index}`, wDims, weight));
      if (o.bias ?? true) inputs.push(floatTensor(`b${index}`, [outChannels], randomFloats(outChannels, ++seedCounter, 0.1)));
      if (o.kernelShapeAttr ?? true) attributes.push(attr.ints('kernel_shape', o.kernel));
      if (group !== 1) attributes.push(attr.int('group', group));
    } else {
      attributes.push(attr.ints('kernel_shape', o.kernel));
    }
    attributes.push(attr.ints('strides', o.strides));
    if (o.pads) attributes.push(attr.ints('pads', o.pads));
    if (o.autoPad) attributes.push(attr.string('auto_pad', o.autoPad));
    if (o.dilations) attributes.push(attr.ints('dilations', o.dilations));
    if (o.ceilMode !== undefined) attributes.push(attr.int('ceil_mode', o.ceilMode ? 1 : 0));
    if (o.countIncludePad !== undefined) attributes.push(attr.int('count_include_pad', o.countIncludePad));
    const node = graph.addNode({ opType: o.op, inputs, attributes, name: o.name ?? `down${index}`, outputs: [`${o.name ?? `down${index}`}_out`] });
    opNames.push(node.name);
    opOutputs.push(node.outputs[0]);
    opChannels.push(outChannels);
  });

  const headFrom = spec.headFrom ?? spec.ops.length - 1;
  const headInput = headFrom < 0 ? stemOut : opOutputs[headFrom];
  const headChannels = headFrom < 0 ? stemChannels : opChannels[headFrom];
  const pooled = graph.op('GlobalAveragePool', [headInput], [], 'head_pool');
  const flat = graph.op('Flatten', [pooled], [attr.int('axis', 1)], 'head_flatten');
  const fc = floatTensor('head_fc', [headChannels, 10], randomFloats(headChannels * 10, ++seedCounter, 1));
  const logits = graph.addNode({ opType: 'MatMul', inputs: [flat, fc], name: 'head_matmul', outputs: ['logits'] }).outputs[0];
  graph.outputs.push({ name: logits, elemType: DataType.FLOAT, shape: [batch, 10] });
  for (const o of opOutputs) graph.addOutput(o);
  return { bytes: encodeBuiltModel(graph, opset, irVersion), graph, opNames, opOutputs, inputName, logits };
}
