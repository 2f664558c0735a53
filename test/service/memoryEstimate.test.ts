/**
 * The liveness walk behind the worker's memory estimate: what a batch holds at once is the
 * largest set of values between their writer and their last reader, not the sum of every value.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseAuditOptions } from '../../src/audit/options.js';
import { decodeModel } from '../../src/onnx/codec.js';
import { estimateAuditMemory, peakLiveBytes, ValueFlow } from '../../src/service/worker/memoryEstimate.js';
import { probeAuditMemory } from '../../src/service/worker/memoryProbe.js';
import { bundledModel, STANDARD } from '../helpers/models.js';

const node = (reads: string[], writes: string[]): ValueFlow => ({ reads, writes });

describe('peakLiveBytes', () => {
  test('a chain holds one input and one output at a time', () => {
    const flow = [node(['x'], ['a']), node(['a'], ['b']), node(['b'], ['c']), node(['c'], ['y'])];
    const sizes = new Map([['a', 100], ['b', 10], ['c', 1000], ['y', 1]]);
    // c is written while b is alive (1010), then read while y is written (1001)
    assert.equal(peakLiveBytes(flow, sizes, new Set(['y'])), 1010);
    assert.ok(peakLiveBytes(flow, sizes, new Set(['y'])) < [...sizes.values()].reduce((s, v) => s + v, 0));
  });

  test('a skip connection stays alive until the node that adds it back', () => {
    // a -> conv1 -> conv2 -> add(a, conv2): a lives across both convs
    const flow = [node(['x'], ['a']), node(['a', 'w1'], ['h1']), node(['h1', 'w2'], ['h2']), node(['a', 'h2'], ['y'])];
    const sizes = new Map([['a', 50], ['h1', 40], ['h2', 30], ['y', 20]]);
    // while conv2 runs: a + h1 + h2 = 120; while the add runs: a + h2 + y = 100
    assert.equal(peakLiveBytes(flow, sizes, new Set(['y'])), 120);
    // read again by a later node, h1 would stay alive to the end too
    const longer = [...flow, node(['y', 'h1'], ['z'])];
    assert.equal(peakLiveBytes(longer, new Map([...sizes, ['z', 5]]), new Set(['z'])), 140);
  });

  test('graph outputs stay to the end; an output nobody reads is freed after its node', () => {
    const flow = [node(['x'], ['a', 'unused']), node(['a'], ['b']), node(['b'], ['c'])];
    const sizes = new Map([['a', 10], ['unused', 500], ['b', 20], ['c', 30]]);
    assert.equal(peakLiveBytes(flow, sizes, new Set(['c'])), 510);
    // kept: a stays alive through the rest (10 + 20 + 30)
    const noUnused = new Map([...sizes, ['unused', 0]]);
    assert.equal(peakLiveBytes(flow, noUnused, new Set(['a', 'c'])), 60);
    assert.equal(peakLiveBytes(flow, noUnused, new Set(['c'])), 50);
  });

  test("a value read only inside a later node's subgraph lives until that node", () => {
    // the If node (last) reads `a` through its branch: its outer references are among its reads
    const flow = [node(['x'], ['a']), node(['x'], ['b']), node(['b'], ['c']), node(['cond', 'a'], ['y'])];
    const sizes = new Map([['a', 100], ['b', 10], ['c', 10], ['y', 1]]);
    assert.equal(peakLiveBytes(flow, sizes, new Set(['y'])), 120);
  });
});

describe('the probe behind the estimate, on the bundled model', () => {
  test('reads its four strided ops and the values alive at once: at least a 16x32x32 layer in and out, far below a batch of them all', async () => {
    const bytes = bundledModel(STANDARD);
    const input = await probeAuditMemory(bytes.length, decodeModel(bytes), parseAuditOptions({ batch: '100' }), 1000);
    assert.equal(input.batch, 100);
    assert.equal(input.ops.length, 4);
    const layer = 16 * 32 * 32 * 4;
    assert.ok(input.activationBytesPerImage >= 2 * layer, `${input.activationBytesPerImage} bytes alive at once`);
    // the network has about 20 layers of that size or smaller; all of them alive would be a bug
    assert.ok(input.activationBytesPerImage <= 6 * layer, `${input.activationBytesPerImage} bytes alive at once`);
    const estimate = estimateAuditMemory(input);
    const atFive = estimateAuditMemory({ ...input, batch: 500 });
    assert.ok(atFive.bytes > estimate.bytes + 400 * (input.activationBytesPerImage + 3 * 32 * 32 * 4));
  });
});
