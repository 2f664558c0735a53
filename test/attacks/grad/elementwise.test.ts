/** Broadcasting arithmetic and activation gradients against finite differences. */
import { test } from 'node:test';
import type { Graph } from '../../../src/onnx/ir.js';
import { reduce } from '../../../src/onnx/builders.js';
import { assertGradient, attr, opModel, WeightMaker } from './helpers.js';

type Build = (g: Graph, x: string, w: WeightMaker, opset: number) => string;

/** Keeps divisors away from zero: 2 + x with x in [-0.5, 0.5]. */
const positive = (g: Graph, x: string): string => g.op('Add', [x, g.constantFloat('two', [], Float32Array.of(2))]);

const binaryCases: { label: string; input: (number | string)[]; build: (op: string) => Build }[] = [
  { label: 'x=[2,3,4,5] op c=[5]', input: ['N', 3, 4, 5], build: (op) => (g, x, w) => g.op(op, [x, positive(g, w('c', [5], 0.5))]) },
  { label: 'x=[2,3,4,5] op c=[4,1]', input: ['N', 3, 4, 5], build: (op) => (g, x, w) => g.op(op, [x, positive(g, w('c', [4, 1], 0.5))]) },
  { label: 'x=[2,3,4,5] op c=[1,3,1,1]', input: ['N', 3, 4, 5], build: (op) => (g, x, w) => g.op(op, [x, positive(g, w('c', [1, 3, 1, 1], 0.5))]) },
  { label: 'x=[2,3,4,5] op scalar', input: ['N', 3, 4, 5], build: (op) => (g, x) => g.op(op, [x, g.constantFloat('s', [], Float32Array.of(1.5))]) },
  { label: 'c=[3,1,5] op x=[2,1,4,5] (x broadcast too)', input: ['N', 1, 4, 5], build: (op) => (g, x, w) => g.op(op, [w('c', [3, 1, 5], 0.5), positive(g, x)]) },
  {
    label: 'x=[2,3,4,5] op mean(x)=[2,3,1,1] (both on the path)',
    input: ['N', 3, 4, 5],
    build: (op) => (g, x, _w, opset) => g.op(op, [x, positive(g, reduce(g, opset, 'ReduceMean', x, [2, 3], true))]),
  },
  { label: 'x op x (same value twice)', input: ['N', 3, 4], build: (op) => (g, x) => g.op(op, [positive(g, x), positive(g, x)]) },
];

for (const op of ['Add', 'Sub', 'Mul', 'Div']) {
  for (const opset of [7, 9, 13]) {
    for (const c of binaryCases) {
      test(`${op} ${c.label} opset ${opset}`, async () => {
        const bytes = opModel({ opset, input: c.input, build: c.build(op) });
        // x - x and x / x do not depend on x at all.
        const constant = c.label.startsWith('x op x') && (op === 'Sub' || op === 'Div');
        if (constant) return;
        await assertGradient(bytes, { elementwise: true });
      });
    }
  }
}

for (const opset of [8, 13]) {
  test(`Sum x=[2,3,4] + c=[4] + mean(x)=[2,1,1] opset ${opset}`, async () => {
    const bytes = opModel({
      opset,
      input: ['N', 3, 4],
      build: (g, x, w) => g.op('Sum', [x, w('c', [4], 0.5), reduce(g, opset, 'ReduceMean', x, [1, 2], true)]),
    });
    await assertGradient(bytes, { elementwise: true });
  });
}

test('Neg x=[2,3,4] opset 13', async () => {
  await assertGradient(opModel({ opset: 13, input: ['N', 3, 4], build: (g, x) => g.op('Mul', [g.op('Neg', [x]), x]) }), { elementwise: true });
});

// Activations on the grid of distinct pixels: kinks at 0 stay 0.25/n away (see distinctPixels).
const n = 3 * 4 * 5;
/** A value in centred pixel units that sits halfway between two grid points. */
const between = (k: number): number => (k + 0.75) / n - 0.5;

const activationCases: { label: string; opsets: number[]; build: Build; piecewise?: boolean }[] = [
  { label: 'Relu', opsets: [7, 9, 13], build: (g, x) => g.op('Relu', [x]), piecewise: true },
  { label: 'LeakyRelu alpha=0.1', opsets: [7, 9, 13], build: (g, x) => g.op('LeakyRelu', [x], [attr.float('alpha', 0.1)]), piecewise: true },
  { label: 'LeakyRelu default alpha', opsets: [13], build: (g, x) => g.op('LeakyRelu', [x]), piecewise: true },
  { label: 'PRelu slope=[3,1,1]', opsets: [7, 9, 13], build: (g, x, w) => g.op('PRelu', [x, w('slope', [3, 1, 1], 0.5)]), piecewise: true },
  {
    label: `Clip attrs min=${between(18)} max=${between(45)}`,
    opsets: [7, 9],
    build: (g, x) => g.op('Clip', [x], [attr.float('min', between(18)), attr.float('max', between(45))]),
    piecewise: true,
  },
  {
    label: 'Clip inputs min and max',
    opsets: [11, 13],
    build: (g, x) => g.op('Clip', [x, g.constantFloat('lo', [], Float32Array.of(between(18))), g.constantFloat('hi', [], Float32Array.of(between(45)))]),
    piecewise: true,
  },
  { label: 'Clip input min only', opsets: [13], build: (g, x) => g.op('Clip', [x, g.constantFloat('lo', [], Float32Array.of(between(18)))]), piecewise: true },
  { label: 'Clip input max only', opsets: [13], build: (g, x) => g.op('Clip', [x, '', g.constantFloat('hi', [], Float32Array.of(between(45)))]), piecewise: true },
  { label: 'Clip no bounds', opsets: [13], build: (g, x) => g.op('Clip', [x]) },
  { label: 'Sigmoid', opsets: [7, 13], build: (g, x) => g.op('Sigmoid', [g.op('Mul', [x, g.constantFloat('k', [], Float32Array.of(4))])]) },
  { label: 'Tanh', opsets: [7, 13], build: (g, x) => g.op('Tanh', [g.op('Mul', [x, g.constantFloat('k', [], Float32Array.of(4))])]) },
];

for (const c of activationCases) {
  for (const opset of c.opsets) {
    test(`${c.label} x=[2,3,4,5] opset ${opset}`, async () => {
      const bytes = opModel({ opset, input: ['N', 3, 4, 5], build: c.build });
      await assertGradient(bytes, { elementwise: true, piecewise: c.piecewise });
    });
  }
}

for (const opset of [9, 13]) {
  test(`Relu x=[2,16,3,4] (d y times a per-channel Conv mask) opset ${opset}`, async () => {
    await assertGradient(opModel({ opset, input: ['N', 16, 3, 4], build: (g, x) => g.op('Relu', [x]) }), { elementwise: true, piecewise: true });
  });
}

test('Relu x=[1,3,4,5] fixed batch 1 opset 13', async () => {
  await assertGradient(opModel({ opset: 13, input: [1, 3, 4, 5], build: (g, x) => g.op('Relu', [x]) }), { piecewise: true });
});
