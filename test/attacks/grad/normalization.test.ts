/** BatchNormalization, Softmax/LogSoftmax and ReduceMean/ReduceSum gradients against finite differences. */
import { test } from 'node:test';
import type { Attribute, Graph } from '../../../src/onnx/ir.js';
import { assertGradient, attr, opModel, WeightMaker } from './helpers.js';

type Build = (g: Graph, x: string, w: WeightMaker, opset: number) => string;

/** BN with variance in [0.5, 1.5] (weights are uniform in [-scale, scale)). */
function batchNorm(g: Graph, x: string, w: WeightMaker, channels: number, attributes: Attribute[] = []): string {
  const variance = g.op('Add', [w('var', [channels], 0.5), g.constantFloat('one', [], Float32Array.of(1))]);
  return g.op('BatchNormalization', [x, w('scale', [channels], 2), w('bias', [channels], 0.5), w('mean', [channels], 0.5), variance], attributes);
}

const bnCases: { label: string; input: (number | string)[]; opsets: number[]; build: Build }[] = [
  { label: 'x=[2,3,4,5]', input: ['N', 3, 4, 5], opsets: [7, 9, 13, 15], build: (g, x, w) => batchNorm(g, x, w, 3) },
  { label: 'x=[2,3,4,5] epsilon=0.1', input: ['N', 3, 4, 5], opsets: [9, 13], build: (g, x, w) => batchNorm(g, x, w, 3, [attr.float('epsilon', 0.1)]) },
  { label: 'x=[2,4] (rank 2)', input: ['N', 4], opsets: [9, 13], build: (g, x, w) => batchNorm(g, x, w, 4) },
  { label: 'x=[2,3,6] (rank 3)', input: ['N', 3, 6], opsets: [13], build: (g, x, w) => batchNorm(g, x, w, 3) },
  // 16 channels: d x as a per-channel 1x1 Conv
  { label: 'x=[2,16,3,4]', input: ['N', 16, 3, 4], opsets: [9, 13], build: (g, x, w) => batchNorm(g, x, w, 16) },
];

for (const c of bnCases) {
  for (const opset of c.opsets) {
    test(`BatchNormalization ${c.label} opset ${opset}`, async () => {
      await assertGradient(opModel({ opset, input: c.input, build: c.build }), { elementwise: true });
    });
  }
}

test('BatchNormalization weights as initializers x=[2,3,4,5] opset 9', async () => {
  await assertGradient(opModel({ opset: 9, input: ['N', 3, 4, 5], initializers: true, build: (g, x, w) => batchNorm(g, x, w, 3) }), { elementwise: true });
});

/** The loss sees the softmax through a fixed Mul, so the model's output is not itself a Softmax. */
const afterSoftmax = (g: Graph, y: string, w: WeightMaker, dims: number[]): string => g.op('Mul', [y, w('k', dims, 4)]);

const softmaxCases: { label: string; opsets: number[]; input: (number | string)[]; dims: number[]; attrs: Attribute[] }[] = [
  { label: 'x=[2,6] default axis', opsets: [9, 13], input: ['N', 6], dims: [6], attrs: [] },
  { label: 'x=[2,3,4] axis=1 (opset < 13: over axes 1,2; 13: over axis 1)', opsets: [9, 11, 13], input: ['N', 3, 4], dims: [3, 4], attrs: [attr.int('axis', 1)] },
  { label: 'x=[2,3,4] default axis', opsets: [11, 13], input: ['N', 3, 4], dims: [3, 4], attrs: [] },
  { label: 'x=[2,3,4] axis=-1', opsets: [13], input: ['N', 3, 4], dims: [3, 4], attrs: [attr.int('axis', -1)] },
  { label: 'x=[2,3,4] axis=2', opsets: [9, 13], input: ['N', 3, 4], dims: [3, 4], attrs: [attr.int('axis', 2)] },
];

for (const op of ['Softmax', 'LogSoftmax']) {
  for (const c of softmaxCases) {
    for (const opset of c.opsets) {
      test(`${op} ${c.label} opset ${opset}`, async () => {
        const scale = (g: Graph, x: string): string => g.op('Mul', [x, g.constantFloat('s', [], Float32Array.of(3))]);
        const bytes = opModel({ opset, input: c.input, build: (g, x, w) => afterSoftmax(g, g.op(op, [scale(g, x)], c.attrs), w, c.dims) });
        await assertGradient(bytes, { elementwise: true });
      });
    }
  }
}

/** ReduceSum/ReduceMean with axes as the attribute or the input its opset wants. */
function reduceOp(g: Graph, op: string, x: string, opset: number, axes: number[] | undefined, keepdims: number, extra: Attribute[] = []): string {
  const inputFrom = op === 'ReduceSum' ? 13 : 18;
  const attrs = [attr.int('keepdims', keepdims), ...extra];
  if (opset >= inputFrom) return g.op(op, axes ? [x, g.constantInt64('axes', [axes.length], axes)] : [x], attrs);
  return g.op(op, [x], axes ? [attr.ints('axes', axes), ...attrs] : attrs);
}

const reduceCases: { label: string; axes: number[]; keepdims: number; dims: number[] }[] = [
  { label: 'axes=[2,3] keepdims=0', axes: [2, 3], keepdims: 0, dims: [3] },
  { label: 'axes=[2,3] keepdims=1', axes: [2, 3], keepdims: 1, dims: [3, 1, 1] },
  { label: 'axes=[1] keepdims=0', axes: [1], keepdims: 0, dims: [4, 5] },
  { label: 'axes=[-1,1] keepdims=0', axes: [-1, 1], keepdims: 0, dims: [4] },
];

for (const op of ['ReduceMean', 'ReduceSum']) {
  for (const c of reduceCases) {
    for (const opset of [9, 13, 18]) {
      test(`${op} x=[2,3,4,5] ${c.label} opset ${opset}`, async () => {
        const bytes = opModel({ opset, input: ['N', 3, 4, 5], build: (g, x, w) => g.op('Mul', [reduceOp(g, op, x, opset, c.axes, c.keepdims), w('k', c.dims, 2)]) });
        await assertGradient(bytes, { elementwise: true });
      });
    }
  }
  test(`${op} over the batch axis: x + ${op}(x, axes=[0,2], keepdims=1) opset 13`, async () => {
    const bytes = opModel({ opset: 13, input: ['N', 3, 4], build: (g, x, w) => g.op('Mul', [g.op('Add', [x, reduceOp(g, op, x, 13, [0, 2], 1)]), w('k', [3, 4], 2)]) });
    // Images are coupled through the batch mean: directional checks only, at batch 3.
    await assertGradient(bytes, { batch: 3 });
  });
}

test('ReduceSum opset 13 noop_with_empty_axes=1 without axes is the identity', async () => {
  const bytes = opModel({ opset: 13, input: ['N', 3, 4], build: (g, x, w) => g.op('Mul', [reduceOp(g, 'ReduceSum', x, 13, undefined, 1, [attr.int('noop_with_empty_axes', 1)]), w('k', [3, 4], 2)]) });
  await assertGradient(bytes, { elementwise: true });
});
