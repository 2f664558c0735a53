/** The Relu gradient's mask from per-channel Convs is exactly 1 for every positive float, 0 at 0. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { positiveMask } from '../../../src/attacks/grad/rules/Relu.js';
import { encodeModel } from '../../../src/onnx/codec.js';
import { Graph } from '../../../src/onnx/ir.js';
import { DataType } from '../../../src/onnx/schema.js';
import { ModelSession } from '../../../src/runtime/session.js';

test('the mask is 1 from the smallest subnormal to infinity and 0 at 0, on every channel', async () => {
  const channels = 16;
  // per channel: 0, the smallest subnormal, a larger subnormal, the smallest normal, 1, the largest float, infinity, 0
  const row = [0, 2 ** -149, 1e-40, 2 ** -126, 1, 3.4028234663852886e38, Number.POSITIVE_INFINITY, 0];
  const g = new Graph({ name: 'mask', inputs: [{ name: 'y', elemType: DataType.FLOAT, shape: [1, channels, 1, row.length] }] });
  g.addOutput(positiveMask(g, 'y', channels));
  g.toposort();
  for (const opset of [9, 13]) {
    const bytes = encodeModel({ irVersion: 7, opsetImports: [{ domain: '', version: opset }], graph: g, producerName: 'test', otherFields: [] });
    const session = await ModelSession.open(bytes, { ep: 'cpu' });
    try {
      const y = new Float32Array(channels * row.length);
      for (let c = 0; c < channels; c++) y.set(row, c * row.length);
      assert.ok(y[1] > 0 && y[2] > 0, 'the subnormals survive as float32');
      const out = await session.run({ y: { data: y, dims: [1, channels, 1, row.length] } }, [g.outputs[0].name]);
      const expected = Array.from(y, (v) => (v > 0 ? 1 : 0));
      assert.deepEqual(Array.from(out[g.outputs[0].name].data), expected, `opset ${opset}`);
    } finally {
      await session.release();
    }
  }
});
