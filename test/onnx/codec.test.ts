/**
 * The ONNX codec (src/onnx/codec.ts): round trips of real third-party models keep the graph
 * and ONNX Runtime's logits bit for bit; fields our schema does not know survive an edit of
 * the graph; negative and large int64 values survive. Fixtures that hold unknown fields are
 * spliced with the test's own protobuf writer (test/helpers/modelBuilder.ts), not the codec's.
 */
import { sharedModels, sharedModelsMissing } from '../helpers/shared.js';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { decodeModel, encodeModel, tensorFloats, tensorInt64s } from '../../src/onnx/codec.js';
import { attr, Attribute, Constant, Graph, Model, Node } from '../../src/onnx/ir.js';
import { ProtoWriter } from '../../src/onnx/protobuf.js';
import { AttributeType, DataType } from '../../src/onnx/schema.js';
import { ModelSession } from '../../src/runtime/session.js';
import {
  appendToSubmessage,
  concatBytes,
  encodeBuiltModel,
  indexOfBytes,
  lenField,
  listFields,
  randomFloats,
  repeatedInt64s,
  submessage,
  varintBytes,
  varintField,
  varintValues,
} from '../helpers/modelBuilder.js';

const modelFiles = sharedModelsMissing ? [] : readdirSync(sharedModels).filter((f) => f.endsWith('.onnx')).sort();

// ---------------------------------------------------------------- helpers

/** Everything about a graph the audit relies on, as plain data (tensor values included). */
function describeGraph(g: Graph): unknown {
  const attribute = (a: Attribute): unknown => ({
    name: a.name,
    type: a.type,
    f: a.f,
    i: a.i,
    s: a.s ? [...a.s] : undefined,
    floats: a.floats ? [...a.floats] : undefined,
    ints: a.ints ? [...a.ints] : undefined,
    t: a.t ? { name: a.t.name, dataType: a.t.dataType, dims: [...a.t.dims], values: tensorValues(a.t) } : undefined,
    g: a.g ? describeGraph(a.g) : undefined,
  });
  return {
    name: g.name,
    nodes: g.nodes.map((n) => ({
      opType: n.opType,
      name: n.name,
      domain: n.domain,
      inputs: [...n.inputs],
      outputs: [...n.outputs],
      attributes: n.attributes.map(attribute),
    })),
    initializers: [...g.initializers.values()].map((t) => ({ name: t.name, dataType: t.dataType, dims: [...t.dims], values: tensorValues(t) })),
    inputs: g.inputs.map((v) => ({ name: v.name, elemType: v.elemType, shape: v.shape ? [...v.shape] : undefined })),
    outputs: g.outputs.map((v) => ({ name: v.name, elemType: v.elemType, shape: v.shape ? [...v.shape] : undefined })),
    valueInfo: g.valueInfo.map((v) => ({ name: v.name, elemType: v.elemType, shape: v.shape ? [...v.shape] : undefined })),
  };
}

function tensorValues(t: Parameters<typeof tensorFloats>[0]): number[] | string {
  if (t.dataType === DataType.FLOAT) return [...tensorFloats(t)];
  if (t.dataType === DataType.INT64) return tensorInt64s(t);
  return `data type ${t.dataType}`;
}

/** A random float input for the model's first non-initializer input (symbolic dims -> 2). */
function randomInput(model: Model, seed: number): { name: string; data: Float32Array; dims: number[] } {
  const input = model.graph.inputs.find((i) => !model.graph.initializers.has(i.name));
  assert.ok(input?.shape, 'model has a shaped input');
  const dims = input.shape.map((d) => (typeof d === 'number' && d > 0 ? d : 2));
  return { name: input.name, data: randomFloats(dims.reduce((a, b) => a * b, 1), seed), dims };
}

async function runModel(bytes: Uint8Array, feed: { name: string; data: Float32Array; dims: number[] }, fetches: string[]): Promise<Float32Array[]> {
  const session = await ModelSession.open(bytes, { ep: 'cpu' });
  try {
    const out = await session.run({ [feed.name]: { data: feed.data, dims: feed.dims } }, fetches);
    return fetches.map((f) => Float32Array.from(out[f].data));
  } finally {
    await session.release();
  }
}

/** Bitwise equality of float32 arrays (NaN payloads and -0 included). */
function assertSameBits(actual: Float32Array, expected: Float32Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  const a = new Uint32Array(actual.buffer, actual.byteOffset, actual.length);
  const e = new Uint32Array(expected.buffer, expected.byteOffset, expected.length);
  for (let i = 0; i < a.length; i++) assert.equal(a[i], e[i], `${what}: element ${i} ${actual[i]} vs ${expected[i]}`);
}

function countOf(hay: Uint8Array, needle: Uint8Array): number {
  let n = 0;
  for (let i = indexOfBytes(hay, needle); i >= 0; i = indexOfBytes(hay, needle, i + 1)) n++;
  return n;
}

// ---------------------------------------------------------------- shared models

describe('round trip of the shared third-party models', { skip: sharedModelsMissing }, () => {
  assert.ok(sharedModelsMissing || modelFiles.length >= 4, `models found in ${sharedModels.pathname}`);
  for (const file of modelFiles) {
    const bytes = new Uint8Array(readFileSync(new URL(file, sharedModels)));

    test(`${file}: decode -> encode -> decode gives the same graph`, () => {
      const model = decodeModel(bytes);
      const again = decodeModel(encodeModel(model));
      assert.equal(again.irVersion, model.irVersion);
      assert.deepEqual(again.opsetImports, model.opsetImports);
      assert.equal(again.producerName, model.producerName);
      assert.ok(model.graph.nodes.length > 0 && model.graph.initializers.size > 0);
      assert.deepEqual(describeGraph(again.graph), describeGraph(model.graph));
    });

    test(`${file}: encoding is stable (encode(decode(encode(decode(b)))) == encode(decode(b)))`, () => {
      const once = encodeModel(decodeModel(bytes));
      const twice = encodeModel(decodeModel(once));
      assert.ok(Buffer.from(once).equals(Buffer.from(twice)));
    });

    test(`${file}: ONNX Runtime gives bit-identical logits before and after the round trip`, async () => {
      const model = decodeModel(bytes);
      const feed = randomInput(model, 5);
      const logits = model.graph.outputs[0].name;
      const [expected] = await runModel(bytes, feed, [logits]);
      const [roundTrip] = await runModel(encodeModel(decodeModel(bytes)), feed, [logits]);
      assertSameBits(roundTrip, expected, 'round trip');

      // Every node re-encoded from the IR (what an edit of each node would do).
      const reencoded = decodeModel(bytes);
      for (const n of reencoded.graph.nodes) n.source = undefined;
      const [fromIr] = await runModel(encodeModel(reencoded), feed, [logits]);
      assertSameBits(fromIr, expected, 'nodes re-encoded');

      // An edit: one node added (as surgery does), then toposort; logits unchanged.
      const edited = decodeModel(bytes);
      const copy = edited.graph.op('Identity', [logits], [], 'test_identity');
      edited.graph.addOutput(copy);
      edited.graph.toposort();
      const [editedLogits, copied] = await runModel(encodeModel(edited), feed, [logits, copy]);
      assertSameBits(editedLogits, expected, 'edited graph');
      assertSameBits(copied, expected, 'added Identity');
    });
  }
});

// ---------------------------------------------------------------- unknown fields

/**
 * image [N,3,8,8] -> Conv (weight initializer) -> Add (Constant node) -> GlobalAveragePool
 * -> Flatten -> logits. Node 0 is the Constant, node 1 the Conv.
 */
function smallModel(): { bytes: Uint8Array; logits: string } {
  const g = new Graph({ name: 'unknown_fields', inputs: [{ name: 'image', elemType: DataType.FLOAT, shape: ['N', 3, 8, 8] }] });
  const bias = g.constantFloat('shift', [1, 4, 1, 1], randomFloats(4, 2));
  g.initializers.set('w', { kind: 'constant', name: 'w', dataType: DataType.FLOAT, dims: [4, 3, 3, 3], external: false, values: randomFloats(108, 3) });
  const conv = g.op('Conv', ['image', 'w'], [attr.ints('kernel_shape', [3, 3]), attr.ints('strides', [2, 2]), attr.ints('pads', [1, 1, 1, 1])], 'conv');
  const shifted = g.op('Add', [conv, bias], [], 'add');
  const flat = g.op('Flatten', [g.op('GlobalAveragePool', [shifted], [], 'gap')], [attr.int('axis', 1)], 'flatten');
  const logits = g.addNode({ opType: 'Identity', inputs: [flat], outputs: ['logits'], name: 'out' }).outputs[0];
  g.outputs.push({ name: logits, elemType: DataType.FLOAT, shape: ['N', 4] });
  assert.equal(g.nodes[0].opType, 'Constant');
  assert.equal(g.nodes[1].opType, 'Conv');
  return { bytes: encodeBuiltModel(g, 13, 8), logits };
}

/** Unknown varint field 99 with a value unique to `k` (a 2-byte tag and a 6-byte value). */
const marker = (k: number): Uint8Array => varintField(99, 0x5a5a5a5a00 + k);

// Where unknown fields are spliced: (field number, occurrence) paths below ModelProto.
const UNKNOWN_SITES: { what: string; path: [number, number][] }[] = [
  { what: 'ModelProto', path: [] },
  { what: 'GraphProto', path: [[7, 0]] },
  { what: 'NodeProto (Conv)', path: [[7, 0], [1, 1]] },
  { what: 'NodeProto (Constant)', path: [[7, 0], [1, 0]] },
  { what: 'AttributeProto (Conv strides)', path: [[7, 0], [1, 1], [5, 1]] },
  { what: 'TensorProto in a Constant node', path: [[7, 0], [1, 0], [5, 0], [5, 0]] },
  { what: 'TensorProto initializer', path: [[7, 0], [5, 0]] },
  { what: 'ValueInfoProto (graph input)', path: [[7, 0], [11, 0]] },
  { what: 'ValueInfoProto (graph output)', path: [[7, 0], [12, 0]] },
];

describe('fields the schema does not know survive decode -> edit -> encode', () => {
  test('unknown field 99 in every kind of message: still present once after adding a node', async () => {
    const { bytes, logits } = smallModel();
    let spliced = bytes;
    UNKNOWN_SITES.forEach((site, k) => {
      assert.equal(indexOfBytes(spliced, marker(k)), -1, `marker ${k} is unique before splicing`);
      spliced = appendToSubmessage(spliced, site.path, marker(k));
      assert.equal(countOf(spliced, marker(k)), 1, `spliced into ${site.what}`);
    });
    // The spliced file is valid ONNX: ONNX Runtime ignores unknown fields.
    const feed = { name: 'image', data: randomFloats(2 * 3 * 64, 9), dims: [2, 3, 8, 8] };
    const [expected] = await runModel(bytes, feed, [logits]);
    const [withUnknown] = await runModel(spliced, feed, [logits]);
    assertSameBits(withUnknown, expected, 'spliced model');

    const model = decodeModel(spliced);
    const extra = model.graph.op('Relu', [logits], [], 'added_relu');
    model.graph.addOutput(extra);
    model.graph.toposort();
    const out = encodeModel(model);
    UNKNOWN_SITES.forEach((site, k) => {
      assert.equal(countOf(out, marker(k)), 1, `unknown field in ${site.what} survives the edit`);
    });
    const [after, relu] = await runModel(out, feed, [logits, extra]);
    assertSameBits(after, expected, 'edited model');
    assert.deepEqual([...relu], [...expected].map((v) => Math.max(v, 0)));
  });

  test('unknown fields sit in the same message after the edit (not moved to another level)', () => {
    const { bytes } = smallModel();
    const nodeMarker = marker(1);
    const modelMarker = marker(2);
    let spliced = appendToSubmessage(bytes, [[7, 0], [1, 1]], nodeMarker);
    spliced = appendToSubmessage(spliced, [], modelMarker);
    const model = decodeModel(spliced);
    model.graph.addOutput(model.graph.op('Identity', ['logits'], [], 'added'));
    const out = encodeModel(model);
    // ModelProto: field 99 at top level; the Conv NodeProto holds the other.
    const top = listFields(out).filter((f) => f.field === 99);
    assert.equal(top.length, 1, 'one unknown field at ModelProto level');
    assert.equal(top[0].value, 0x5a5a5a5a00n + 2n);
    const conv = nodeMessages(out).get('conv');
    assert.ok(conv, 'Conv node found');
    const unknown = listFields(conv).filter((f) => f.field === 99);
    assert.equal(unknown.length, 1, 'Conv NodeProto still holds field 99');
    assert.equal(unknown[0].value, 0x5a5a5a5a00n + 1n);
  });

  test('unknown field in OperatorSetIdProto survives', () => {
    const { bytes } = smallModel();
    const spliced = appendToSubmessage(bytes, [[8, 0]], marker(8));
    assert.equal(countOf(encodeModel(decodeModel(spliced)), marker(8)), 1);
  });
});

// ---------------------------------------------------------------- int64 values

const TWO_40 = 2 ** 40;

/**
 * opset 13: x [2,5] -> Softmax(axis=-1) -> Slice(starts [0], ends [2^40], axes [-1], steps
 * [1], all int64 Constant nodes) -> Flatten(axis=-1) -> y.
 */
function int64Model13(): Uint8Array {
  const g = new Graph({ name: 'int64_13', inputs: [{ name: 'x', elemType: DataType.FLOAT, shape: [2, 5] }] });
  const sm = g.op('Softmax', ['x'], [attr.int('axis', -1)], 'softmax');
  const starts = g.constantInt64('starts', [1], [0]);
  const ends = g.constantInt64('ends', [1], [TWO_40]);
  const axes = g.constantInt64('axes', [1], [-1]);
  const steps = g.constantInt64('steps', [1], [1]);
  const sl = g.op('Slice', [sm, starts, ends, axes, steps], [], 'slice');
  const y = g.addNode({ opType: 'Flatten', inputs: [sl], outputs: ['y'], attributes: [attr.int('axis', -1)], name: 'flatten' }).outputs[0];
  g.outputs.push({ name: y, elemType: DataType.FLOAT });
  return encodeBuiltModel(g, 13, 8);
}

/** opset 9: x [2,5] -> Slice(starts=[-3], ends=[2^40], axes=[1]) attributes -> y = x[:, 2:]. */
function int64Model9(): Uint8Array {
  const g = new Graph({ name: 'int64_9', inputs: [{ name: 'x', elemType: DataType.FLOAT, shape: [2, 5] }] });
  const y = g.addNode({
    opType: 'Slice',
    inputs: ['x'],
    outputs: ['y'],
    name: 'slice_attrs',
    attributes: [attr.ints('starts', [-3]), attr.ints('ends', [TWO_40]), attr.ints('axes', [1])],
  }).outputs[0];
  g.outputs.push({ name: y, elemType: DataType.FLOAT });
  return encodeBuiltModel(g, 9, 8);
}

/** NodeProto payloads of a model, by node name. */
function nodeMessages(bytes: Uint8Array): Map<string, Uint8Array> {
  const graph = submessage(bytes, 7);
  const out = new Map<string, Uint8Array>();
  for (const f of listFields(graph).filter((x) => x.field === 1 && x.wire === 2)) {
    const node = graph.subarray(f.payloadStart, f.end);
    const name = new TextDecoder().decode(submessage(node, 3));
    out.set(name, node);
  }
  return out;
}

/** AttributeProto payload named `name` inside a NodeProto. */
function attributeMessage(node: Uint8Array, name: string): Uint8Array {
  for (const f of listFields(node).filter((x) => x.field === 5 && x.wire === 2)) {
    const a = node.subarray(f.payloadStart, f.end);
    if (new TextDecoder().decode(submessage(a, 1)) === name) return a;
  }
  throw new Error(`no attribute ${name}`);
}

/** Every way the codec writes a model: as built, decoded and re-encoded, edited, nodes re-encoded. */
function variants(bytes: Uint8Array): { what: string; bytes: Uint8Array }[] {
  const edited = decodeModel(bytes);
  edited.graph.addOutput(edited.graph.op('Identity', [edited.graph.outputs[0].name], [], 'added'));
  edited.graph.toposort();
  const fromIr = decodeModel(bytes);
  for (const n of fromIr.graph.nodes) n.source = undefined;
  return [
    { what: 'as built', bytes },
    { what: 'decode -> encode', bytes: encodeModel(decodeModel(bytes)) },
    { what: 'decode -> add node -> encode', bytes: encodeModel(edited) },
    { what: 'nodes re-encoded from the IR', bytes: encodeModel(fromIr) },
  ];
}

describe('negative and large int64 values survive', () => {
  const x = Float32Array.from([0.5, -1, 2, 0, 3, -0.25, 1.5, 1.5, -2, 0.75]);
  const softmaxRows = (v: Float32Array): number[] => {
    const out: number[] = [];
    for (let r = 0; r < 2; r++) {
      const row = [...v.subarray(r * 5, r * 5 + 5)];
      const m = Math.max(...row);
      const e = row.map((a) => Math.exp(a - m));
      const s = e.reduce((a, b) => a + b, 0);
      out.push(...e.map((a) => a / s));
    }
    return out;
  };

  for (const v of variants(int64Model13())) {
    test(`opset 13 Softmax axis=-1, Slice ends=2^40 axes=-1 (int64 tensors), Flatten axis=-1: ${v.what}`, async () => {
      // Wire level, read by the test's own parser: axis is the 10-byte two's complement of -1.
      const nodes = nodeMessages(v.bytes);
      const axisAttr = attributeMessage(nodes.get('softmax') as Uint8Array, 'axis');
      assert.deepEqual(varintValues(axisAttr, 3), [-1n]);
      assert.ok(indexOfBytes(axisAttr, concatBytes(Uint8Array.of(3 << 3), varintBytes(-1))) >= 0, 'axis = -1 as a 10-byte varint');
      // IR level.
      const model = decodeModel(v.bytes);
      const byName = new Map(model.graph.nodes.map((n) => [n.name, n]));
      assert.equal(byName.get('softmax')?.attr('axis')?.i, -1);
      assert.equal(byName.get('softmax')?.attr('axis')?.type, AttributeType.INT);
      assert.equal(byName.get('flatten')?.attr('axis')?.i, -1);
      const constants = new Map(model.graph.nodes.filter((n) => n.opType === 'Constant').map((n) => [n.outputs[0], n.attr('value')?.t]));
      const slice = byName.get('slice') as Node;
      const valueOf = (i: number): number[] => {
        const t = constants.get(slice.inputs[i]);
        assert.ok(t, `Slice input ${i} is a Constant`);
        assert.equal(t.dataType, DataType.INT64);
        return tensorInt64s(t);
      };
      assert.deepEqual(valueOf(2), [TWO_40]);
      assert.deepEqual(valueOf(3), [-1]);
      // Runtime level: the values mean what they say.
      const [y] = await runModel(v.bytes, { name: 'x', data: x, dims: [2, 5] }, ['y']);
      const expected = softmaxRows(x);
      assert.equal(y.length, 10, 'Slice to 2^40 keeps the whole last axis');
      y.forEach((a, i) => assert.ok(Math.abs(a - expected[i]) < 1e-6, `y[${i}] = ${a} vs ${expected[i]}`));
    });
  }

  for (const v of variants(int64Model9())) {
    test(`opset 9 Slice attributes starts=[-3] ends=[2^40] axes=[1]: ${v.what}`, async () => {
      const sliceAttr = (name: string): bigint[] => repeatedInt64s(attributeMessage(nodeMessages(v.bytes).get('slice_attrs') as Uint8Array, name), 8);
      assert.deepEqual(sliceAttr('starts'), [-3n]);
      assert.deepEqual(sliceAttr('ends'), [BigInt(TWO_40)]);
      const node = decodeModel(v.bytes).graph.nodes.find((n) => n.name === 'slice_attrs') as Node;
      assert.deepEqual(node.ints('starts'), [-3]);
      assert.deepEqual(node.ints('ends'), [TWO_40]);
      const [y] = await runModel(v.bytes, { name: 'x', data: x, dims: [2, 5] }, ['y']);
      assert.deepEqual([...y], [2, 0, 3, 1.5, -2, 0.75]);
    });
  }

  test('extreme int64 attribute values decode exactly: -1, +-2^40, +-(2^53-1), packed and unpacked', () => {
    const values = [-1, TWO_40, -TWO_40, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 0, 127, 128, -128];
    const g = new Graph({ name: 'ints', inputs: [{ name: 'x', elemType: DataType.FLOAT, shape: [1] }] });
    g.addNode({
      opType: 'Identity',
      inputs: ['x'],
      outputs: ['y'],
      name: 'holder',
      attributes: values.map((v, i) => attr.int(`i${i}`, v)).concat([attr.ints('all', values)]),
    });
    g.outputs.push({ name: 'y', elemType: DataType.FLOAT });
    const bytes = encodeBuiltModel(g, 13, 8);
    const node = nodeMessages(bytes).get('holder') as Uint8Array;
    values.forEach((v, i) => assert.deepEqual(varintValues(attributeMessage(node, `i${i}`), 3), [BigInt(v)], `wire value of ${v}`));
    assert.deepEqual(repeatedInt64s(attributeMessage(node, 'all'), 8), values.map(BigInt));
    // Unpacked repeated ints (as some exporters write them), built by hand.
    const unpacked = concatBytes(
      ...[new TextEncoder().encode('unpacked')].map((s) => concatBytes(varintBytes((1 << 3) | 2), varintBytes(s.length), s)),
      ...values.map((v) => varintField(8, v)),
      varintField(20, AttributeType.INTS),
    );
    const spliced = appendToSubmessage(bytes, [[7, 0], [1, 0]], concatBytes(varintBytes((5 << 3) | 2), varintBytes(unpacked.length), unpacked));
    for (const b of [bytes, spliced, encodeModel(decodeModel(spliced))]) {
      const holder = decodeModel(b).graph.nodes[0];
      values.forEach((v, i) => assert.equal(holder.attr(`i${i}`)?.i, v));
      assert.deepEqual(holder.ints('all'), values);
    }
    assert.deepEqual(decodeModel(spliced).graph.nodes[0].ints('unpacked'), values);
  });

  test('INT64_MAX (PyTorch\'s "to the end" in Slice ends) survives decode -> edit -> encode byte for byte', () => {
    // Slice-1 attribute ends = [INT64_MAX], written by the test's own encoder.
    const g = new Graph({ name: 'max', inputs: [{ name: 'x', elemType: DataType.FLOAT, shape: [2, 5] }] });
    g.addNode({ opType: 'Slice', inputs: ['x'], outputs: ['y'], name: 'slice_max', attributes: [attr.ints('starts', [1]), attr.ints('axes', [1])] });
    g.outputs.push({ name: 'y', elemType: DataType.FLOAT });
    const int64Max = 2n ** 63n - 1n;
    const endsAttr = concatBytes(
      concatBytes(varintBytes((1 << 3) | 2), varintBytes(4), new TextEncoder().encode('ends')),
      varintField(8, int64Max),
      varintField(20, AttributeType.INTS),
    );
    const bytes = appendToSubmessage(encodeBuiltModel(g, 9, 8), [[7, 0], [1, 0]], concatBytes(varintBytes((5 << 3) | 2), varintBytes(endsAttr.length), endsAttr));
    const model = decodeModel(bytes);
    model.graph.addOutput(model.graph.op('Identity', ['y'], [], 'added'));
    const out = encodeModel(model);
    const ends = repeatedInt64s(attributeMessage(nodeMessages(out).get('slice_max') as Uint8Array, 'ends'), 8);
    assert.deepEqual(ends, [int64Max]);
  });

  test('an int64 attribute value of 2^63 (how INT64_MAX decodes to a JS number) re-encodes as INT64_MAX, not INT64_MIN', () => {
    const g = new Graph({ name: 'max', inputs: [{ name: 'x', elemType: DataType.FLOAT, shape: [1] }] });
    g.addNode({ opType: 'Identity', inputs: ['x'], outputs: ['y'], name: 'holder', attributes: [attr.ints('ends', [2 ** 63])] });
    g.outputs.push({ name: 'y', elemType: DataType.FLOAT });
    const ends = repeatedInt64s(attributeMessage(nodeMessages(encodeBuiltModel(g, 13, 8)).get('holder') as Uint8Array, 'ends'), 8);
    assert.deepEqual(ends, [2n ** 63n - 1n]);
  });
});

// ---------------------------------------------------------------- model header

describe('ModelProto header fields', () => {
  test('ir_version and producer_name are written from the Model fields (built in memory, or edited)', () => {
    const { bytes } = smallModel();
    assert.deepEqual(varintValues(bytes, 1), [8n], 'exactly one ir_version');
    const model = decodeModel(bytes);
    assert.equal(model.irVersion, 8);
    assert.equal(model.producerName, 'test');
    model.irVersion = 7;
    model.producerName = 'edited';
    const out = encodeModel(model);
    assert.deepEqual(varintValues(out, 1), [7n], 'edited ir_version, written once');
    const producers = listFields(out).filter((f) => f.field === 2);
    assert.equal(producers.length, 1, 'one producer_name');
    assert.equal(new TextDecoder().decode(submessage(out, 2)), 'edited');
    assert.equal(decodeModel(out).irVersion, 7);
  });

  test('other ModelProto fields (producer_version, doc_string, metadata_props) are kept', () => {
    const { bytes } = smallModel();
    const text = (field: number, s: string): Uint8Array => {
      const b = new TextEncoder().encode(s);
      return concatBytes(varintBytes((field << 3) | 2), varintBytes(b.length), b);
    };
    const entry = concatBytes(text(1, 'key'), text(2, 'value'));
    const props = concatBytes(varintBytes((14 << 3) | 2), varintBytes(entry.length), entry);
    const extra = concatBytes(text(3, '9.9.9-test'), text(6, 'doc string of the test model'), props);
    const out = encodeModel(decodeModel(concatBytes(bytes, extra)));
    for (const [field, s] of [[3, '9.9.9-test'], [6, 'doc string of the test model']] as const) {
      assert.equal(new TextDecoder().decode(submessage(out, field)), s);
    }
    assert.ok(indexOfBytes(out, props) >= 0, 'metadata_props entry kept');
  });
});

describe('the protobuf writer keeps large payloads by reference and copies them once', () => {
  test('small and large fields, nested writers two deep: the bytes of a plain encoder, in one exact buffer', () => {
    const big = new Uint8Array(200_000).map((_, i) => (i * 31) % 251);
    const big2 = new Uint8Array(70_000).map((_, i) => (i * 7) % 13);
    const small = Uint8Array.from([1, 2, 3]);
    const innermost = new ProtoWriter().int64(1, 300).bytes(2, big2);
    const inner = new ProtoWriter().int64(1, 5).bytes(2, big).bytes(3, innermost).bytes(4, small);
    const out = new ProtoWriter().int64(1, 7).bytes(3, inner).bytes(4, small).bytes(5, big2).int64(6, 2 ** 40).finish();
    const expected = concatBytes(
      varintField(1, 7),
      lenField(3, concatBytes(varintField(1, 5), lenField(2, big), lenField(3, concatBytes(varintField(1, 300), lenField(2, big2))), lenField(4, small))),
      lenField(4, small),
      lenField(5, big2),
      varintField(6, 2 ** 40),
    );
    assert.deepEqual(out, expected);
    assert.equal(out.byteOffset, 0);
    assert.equal(out.buffer.byteLength, out.length, 'one buffer of the exact size');
  });

  test('a model with a large built initializer and a large weight in an If branch survives encode -> decode', () => {
    const weights = randomFloats(50_000, 3);
    const bias = randomFloats(50_000, 4);
    const scale = randomFloats(50_000, 6);
    // an initializer, a Constant node's tensor attribute, and a Constant inside an If branch
    const initializers = new Map<string, Constant>([['w', { kind: 'constant', name: 'w', dataType: DataType.FLOAT, dims: [1, 50_000], external: false, values: weights }]]);
    const g = new Graph({ name: 'large', inputs: [{ name: 'x', elemType: DataType.FLOAT, shape: [1, 50_000] }, { name: 'c', elemType: DataType.BOOL, shape: [] }], initializers });
    const w = g.op('Mul', ['w', g.constantFloat('scale', [1, 50_000], scale)]);
    const branch = (name: string, values: Float32Array | null): Graph => {
      const b = new Graph({ name });
      b.addOutput(values ? b.op('Add', ['x', b.constantFloat(`${name}_bias`, [1, 50_000], values)]) : b.op('Identity', ['x']));
      return b;
    };
    const branches: Attribute[] = [
      { name: 'then_branch', type: AttributeType.GRAPH, g: branch('then', bias) },
      { name: 'else_branch', type: AttributeType.GRAPH, g: branch('else', null) },
    ];
    g.addOutput(g.op('Mul', [g.op('If', ['c'], branches), w]));
    const bytes = encodeModel({ irVersion: 8, opsetImports: [{ domain: '', version: 13 }], graph: g, producerName: 'test', otherFields: [] });
    assert.equal(bytes.buffer.byteLength, bytes.length, 'one buffer of the exact size');
    const decoded = decodeModel(bytes);
    const constantOf = (graph: Graph): Constant => graph.nodes.find((n) => n.opType === 'Constant')!.attr('value')!.t!;
    assert.deepEqual(tensorFloats(decoded.graph.initializers.get('w')!), weights);
    assert.deepEqual(tensorFloats(constantOf(decoded.graph)), scale);
    assert.deepEqual(tensorFloats(constantOf(decoded.graph.nodes.find((n) => n.opType === 'If')!.attr('then_branch')!.g!)), bias);
    assert.deepEqual(encodeModel(decoded), bytes);
  });
});
