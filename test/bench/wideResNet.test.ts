/**
 * The benchmark WRN generator: small WRNs decode with our codec, run in ONNX Runtime with finite
 * [batch, 10] logits, have the parameter count of the closed formula below, and expose exactly
 * the four strided convs the audit measures; WRN-28-10 has about 36.5M parameters.
 *
 * Closed formula (trainable parameters, BN = scale + shift), n = (depth-4)/6, widths
 * w = [16k, 32k, 64k], channels entering group g: c_g = [16, w0, w1]:
 *   stem 3*16*9
 *   per group g: first block 2*c_g + 9*c_g*w_g + 2*w_g + 9*w_g^2 (+ c_g*w_g when the shape
 *                changes: c_g != w_g or stride 2), then (n-1) blocks of 2*(2*w_g + 9*w_g^2)
 *   head 2*64k + 64k*10 + 10
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { buildWideResNet, countParameters } from '../../src/bench/wideResNet.js';
import { decodeModel } from '../../src/onnx/codec.js';
import { findDownsamplingOps } from '../../src/onnx/inspect.js';
import { ModelSession } from '../../src/runtime/session.js';

function expectedParameters(depth: number, widen: number): number {
  const n = (depth - 4) / 6;
  const widths = [16 * widen, 32 * widen, 64 * widen];
  const strides = [1, 2, 2];
  let total = 3 * 16 * 9;
  let c = 16;
  for (let g = 0; g < 3; g++) {
    const w = widths[g];
    total += 2 * c + 9 * c * w + 2 * w + 9 * w * w;
    if (c !== w || strides[g] !== 1) total += c * w;
    total += (n - 1) * 2 * (2 * w + 9 * w * w);
    c = w;
  }
  return total + 2 * c + c * 10 + 10;
}

describe('buildWideResNet', () => {
  for (const widen of [1, 2]) {
    test(`WRN-10-${widen} decodes, runs in ORT and has the formula's parameter count`, async () => {
      const bytes = buildWideResNet({ depth: 10, widen, seed: 3 });
      const model = decodeModel(bytes);
      assert.equal(model.graph.inputs[0].name, 'input');
      assert.deepEqual(model.graph.inputs[0].shape, ['N', 3, 32, 32]);
      assert.deepEqual(model.graph.outputs.map((o) => o.name), ['logits']);
      assert.equal(countParameters(bytes).trainable, expectedParameters(10, widen));

      const session = await ModelSession.open(bytes, { ep: 'cpu' });
      try {
        const batch = 3;
        const data = new Float32Array(batch * 3 * 32 * 32);
        for (let i = 0; i < data.length; i++) data[i] = Math.sin(i * 0.37);
        const { logits } = await session.run({ input: { data, dims: [batch, 3, 32, 32] } }, ['logits']);
        assert.deepEqual([...logits.dims], [batch, 10]);
        assert.ok(logits.data.every(Number.isFinite), 'logits are finite');
        assert.ok(logits.data.some((v) => v !== 0), 'logits are not all zero');
      } finally {
        await session.release();
      }
    });
  }

  for (const depth of [10, 16]) {
    test(`WRN-${depth}-2 has two strided 3x3 convs and two strided 1x1 shortcuts`, () => {
      const { ops, unsupported } = findDownsamplingOps(decodeModel(buildWideResNet({ depth, widen: 2 })));
      assert.deepEqual(unsupported, []);
      assert.equal(ops.length, 4);
      assert.ok(ops.every((o) => o.op === 'Conv' && o.strides[0] === 2 && o.strides[1] === 2));
      assert.equal(ops.filter((o) => o.kernel[0] === 3 && o.kernel[1] === 3).length, 2);
      assert.equal(ops.filter((o) => o.kernel[0] === 1 && o.kernel[1] === 1).length, 2);
    });
  }

  test('a fixed batch is declared on input and output; the same seed gives the same bytes', () => {
    const a = buildWideResNet({ depth: 10, widen: 1, seed: 5, batch: 4 });
    const m = decodeModel(a);
    assert.deepEqual(m.graph.inputs[0].shape, [4, 3, 32, 32]);
    assert.deepEqual(m.graph.outputs[0].shape, [4, 10]);
    assert.deepEqual(buildWideResNet({ depth: 10, widen: 1, seed: 5, batch: 4 }), a);
    assert.notDeepEqual(buildWideResNet({ depth: 10, widen: 1, seed: 6, batch: 4 }), a);
  });

  test('rejects depths that are not 6n+4', () => {
    assert.throws(() => buildWideResNet({ depth: 12 }), /6n\+4/);
  });

  test('WRN-28-10 has about 36.5M parameters', () => {
    assert.equal(expectedParameters(28, 10), 36_479_194);
    const { trainable } = countParameters(buildWideResNet({ depth: 28, widen: 10 }));
    assert.ok(trainable > 36_400_000 && trainable < 36_600_000, `${trainable} parameters`);
    assert.equal(trainable, expectedParameters(28, 10));
  });
});
