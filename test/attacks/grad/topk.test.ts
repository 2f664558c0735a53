/** TopK and ReduceMax gradients (the DLR loss's sort and max) against finite differences. */
import { test } from 'node:test';
import { reduce } from '../../../src/onnx/builders.js';
import type { Graph } from '../../../src/onnx/ir.js';
import { assertGradient, attr, opModel } from './helpers.js';

/** TopK of the k largest (k an attribute before opset 10, an input from 10); returns the values. */
function topK(g: Graph, x: string, k: number, axis: number, opset: number, largest = true): string {
  const attributes = [attr.int('axis', axis)];
  if (opset < 10) attributes.push(attr.int('k', k));
  if (opset >= 11 && !largest) attributes.push(attr.int('largest', 0));
  const inputs = opset >= 10 ? [x, g.constantInt64('k', [1], [k])] : [x];
  return g.addNode({ opType: 'TopK', inputs, attributes, outputs: ['values', 'indices'] }).outputs[0];
}

// The pixels are distinct (distinctPixels), so the picks do not change within the steps.
for (const opset of [9, 10, 11, 13]) {
  test(`TopK k=5 of x=[N,12] axis 1 opset ${opset}`, async () => {
    await assertGradient(opModel({ opset, input: ['N', 12], build: (g, x) => topK(g, x, 5, 1, opset) }), { piecewise: true, elementwise: true });
  });
  test(`TopK k=2 of x=[N,3,4,5] axis -1, flattened, opset ${opset}`, async () => {
    const bytes = opModel({
      opset,
      input: ['N', 3, 4, 5],
      build: (g, x) => g.op('Flatten', [topK(g, x, 2, -1, opset)], [attr.int('axis', 1)]),
    });
    await assertGradient(bytes, { piecewise: true, elementwise: true });
  });
  test(`TopK k=3 of x=[N,3,4,5] axis 2 times weights, flattened, opset ${opset}`, async () => {
    const bytes = opModel({
      opset,
      input: ['N', 3, 4, 5],
      build: (g, x, w) => g.op('Flatten', [g.op('Mul', [topK(g, x, 3, 2, opset), w('c', [3, 3, 5])])], [attr.int('axis', 1)]),
    });
    await assertGradient(bytes, { piecewise: true, elementwise: true });
  });
}

test('TopK smallest (largest=0) k=4 of x=[N,10] opset 11', async () => {
  await assertGradient(opModel({ opset: 11, input: ['N', 10], build: (g, x) => topK(g, x, 4, 1, 11, false) }), { piecewise: true, elementwise: true });
});

test('TopK with a fixed batch of 3, opset 9', async () => {
  await assertGradient(opModel({ opset: 9, input: [3, 12], build: (g, x) => topK(g, x, 6, 1, 9) }), { piecewise: true });
});

for (const opset of [7, 9, 13, 18]) {
  test(`ReduceMax x=[N,3,4,5] axes [3] keepdims 0, flattened, opset ${opset}`, async () => {
    const bytes = opModel({
      opset,
      input: ['N', 3, 4, 5],
      build: (g, x) => g.op('Flatten', [reduce(g, opset, 'ReduceMax', x, [3], false)], [attr.int('axis', 1)]),
    });
    await assertGradient(bytes, { piecewise: true, elementwise: true });
  });
  test(`ReduceMax x=[N,3,4,5] axes [2,3] keepdims 1 plus x, flattened, opset ${opset}`, async () => {
    const bytes = opModel({
      opset,
      input: ['N', 3, 4, 5],
      build: (g, x) => g.op('Flatten', [g.op('Add', [x, reduce(g, opset, 'ReduceMax', x, [2, 3], true)])], [attr.int('axis', 1)]),
    });
    await assertGradient(bytes, { piecewise: true, elementwise: true });
  });
}

test('ReduceMax over [x, x]: each maximum is tied with its copy, opset 13', async () => {
  // The two copies share d y; anything but shares that sum to 1 shows as a wrong gradient.
  const bytes = opModel({
    opset: 13,
    input: ['N', 4, 6],
    build: (g, x) => {
      const doubled = g.op('Concat', [x, x], [attr.int('axis', 2)]);
      return g.op('Flatten', [reduce(g, 13, 'ReduceMax', doubled, [2], true)], [attr.int('axis', 1)]);
    },
  });
  await assertGradient(bytes, { piecewise: true, elementwise: true });
});
