/**
 * Inputs refused early and precisely (issue 11, point 5): external data wherever ONNX allows
 * it, and absurd sizes, each refused by the decoder with a ModelError that names the limit.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { decodeModel, ModelError } from '../../src/onnx/codec.js';
import { findDownsamplingOps, summarizeModel } from '../../src/onnx/inspect.js';
import { MODEL_LIMITS } from '../../src/onnx/limits.js';
import { appendToSubmessage, buildModel, concatBytes, lenField, varintField } from '../helpers/modelBuilder.js';
import { baseModel, externalDataPlaces, type ExternalRef, nestedIf, nodeBytes, tensorBytes, withGraphField, withNode } from '../fuzz/onnxParts.js';

function refusal(bytes: Uint8Array): ModelError {
  try {
    summarizeModel(decodeModel(bytes));
  } catch (err) {
    if (err instanceof ModelError) return err;
    throw err;
  }
  assert.fail('the model was accepted');
}

test('the base model of these tests is accepted', () => {
  const model = decodeModel(baseModel());
  assert.equal(summarizeModel(model).input.name, 'image');
  assert.equal(findDownsamplingOps(model).ops.length, 1);
});

test('the committed models are within every limit', () => {
  for (const f of ['models/preact_resnet_standard.onnx', 'models/preact_resnet_fgsm.onnx']) {
    assert.doesNotThrow(() => summarizeModel(decodeModel(readFileSync(f))), f);
  }
});

test('external data is refused in every place ONNX allows it, without reading the file, whether it exists or not', () => {
  const dir = mkdtempSync(join(tmpdir(), 'alias-audit-ext-'));
  try {
    const existing = join(dir, 'weights.bin');
    writeFileSync(existing, new Uint8Array(64));
    const before = statSync(existing).atimeMs;
    const refs: ExternalRef[] = [
      { entries: { location: existing } },
      { entries: { location: join(dir, 'missing.bin') } },
      { entries: { location: '../../../../etc/passwd', offset: '0', length: '16' } },
      {}, // data_location EXTERNAL with no entries
      { dataLocation: 7 }, // a location ONNX does not define
    ];
    const messages = new Map<string, string[]>();
    for (const ref of refs) {
      for (const { place, bytes } of externalDataPlaces(baseModel(), ref)) {
        const err = refusal(bytes);
        assert.equal(err.code, 'EXTERNAL_DATA', `${place}: ${err.message}`);
        assert.doesNotMatch(err.message, /weights\.bin|missing\.bin|passwd|alias-audit-ext/, place);
        messages.set(place, [...(messages.get(place) ?? []), err.message]);
      }
    }
    assert.equal(messages.size, 12);
    // The same answer whether the file exists or not: no oracle for the server's files.
    for (const [place, list] of messages) assert.equal(new Set(list).size, 1, `${place}: ${list.join(' | ')}`);
    assert.equal(statSync(existing).atimeMs, before);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a stride-1024 conv (and 2^20) is refused with the stride limit named', () => {
  for (const s of [1024, 2 ** 20]) {
    const bytes = buildModel({ ops: [{ op: 'Conv', kernel: [3, 3], strides: [s, s] }] }).bytes;
    const err = refusal(bytes);
    assert.equal(err.code, 'MODEL_LIMIT');
    assert.match(err.message, new RegExp(`strides ${s}.*limit of 64 \\(maxStride\\)`));
  }
  // The largest stride allowed passes the decoder.
  assert.doesNotThrow(() => decodeModel(buildModel({ ops: [{ op: 'MaxPool', kernel: [2, 2], strides: [64, 64] }] }).bytes));
});

test('absurd kernels, pads and dilations are refused, each with its limit', () => {
  const cases: [Parameters<typeof buildModel>[0]['ops'][number], string][] = [
    [{ op: 'AveragePool', kernel: [65, 65], strides: [2, 2] }, 'maxKernel'],
    [{ op: 'MaxPool', kernel: [2, 2], strides: [2, 2], pads: [0, 0, 4096, 0] }, 'maxPad'],
    [{ op: 'Conv', kernel: [3, 3], strides: [2, 2], dilations: [100, 1] }, 'maxDilation'],
  ];
  for (const [op, limit] of cases) {
    const err = refusal(buildModel({ ops: [op] }).bytes);
    assert.equal(err.code, 'MODEL_LIMIT');
    assert.match(err.message, new RegExp(`\\(${limit}\\)$`));
  }
});

test('If bodies nested 3,000 deep are refused (no stack overflow); 4 deep are fine', () => {
  const deep = withNode(baseModel(), nestedIf(3000));
  const err = refusal(deep);
  assert.equal(err.code, 'MODEL_LIMIT');
  assert.match(err.message, /nested 17 deep.*maxGraphNesting/);
  assert.doesNotThrow(() => decodeModel(withNode(baseModel(), nestedIf(4))));
});

test('a batch dimension of 2^31 is refused by the dimension limit, a fixed batch of 20,000 by the batch limit', () => {
  let err = refusal(buildModel({ ops: [{ op: 'Conv', kernel: [3, 3], strides: [2, 2] }], batch: 2 ** 31 }).bytes);
  assert.equal(err.code, 'MODEL_LIMIT');
  assert.match(err.message, /dimension of 2147483648.*maxDim/);
  err = refusal(buildModel({ ops: [{ op: 'Conv', kernel: [3, 3], strides: [2, 2] }], batch: 20_000 }).bytes);
  assert.match(err.message, /fixed batch of 20000.*limit of 10,000 \(maxFixedBatch\)/);
  assert.equal(summarizeModel(decodeModel(buildModel({ ops: [{ op: 'Conv', kernel: [3, 3], strides: [2, 2] }], batch: 128 }).bytes)).input.fixedBatch, 128);
});

test('initializers, sparse dense shapes and attribute lists over their limits are refused', () => {
  const big = withGraphField(baseModel(), 5, tensorBytes('huge', [2 ** 20, 2 ** 20]));
  assert.match(refusal(big).message, /tensor "huge" has 1099511627776 elements.*maxTensorElements/);
  const rank = withGraphField(baseModel(), 5, tensorBytes('deep', new Array<number>(17).fill(1)));
  assert.match(refusal(rank).message, /maxRank/);
  // packed: one byte per value
  const packed = concatBytes(lenField(1, new TextEncoder().encode('values')), varintField(20, 7), lenField(8, new Uint8Array(MODEL_LIMITS.maxAttributeValues + 1).fill(1)));
  const list = withNode(baseModel(), nodeBytes('Custom', ['x'], ['y'], [packed]));
  assert.match(refusal(list).message, /maxAttributeValues/);
});

test('node counts over the limit are refused', () => {
  const node = lenField(1, nodeBytes('Identity', ['x'], ['y']));
  const many = new Uint8Array(node.length * (MODEL_LIMITS.maxNodes + 1));
  for (let i = 0; i <= MODEL_LIMITS.maxNodes; i++) many.set(node, i * node.length);
  const bytes = appendToSubmessage(baseModel(), [[7, 0]], many);
  assert.match(refusal(bytes).message, /more than 100000 nodes.*maxNodes/);
});

test('a graph field repeated (which protobuf parsers merge) cannot hide an external tensor', () => {
  const hidden = appendToSubmessage(baseModel(), [], lenField(7, lenField(5, tensorBytes('merged_w', [4], { entries: { location: 'w.bin' } }))));
  assert.equal(refusal(hidden).code, 'EXTERNAL_DATA');
  // Control: the same extra graph with an inline tensor is not refused for external data.
  const inline = appendToSubmessage(baseModel(), [], lenField(7, lenField(5, tensorBytes('merged_w', [4]))));
  assert.notEqual(refusal(inline).code, 'EXTERNAL_DATA');
});
