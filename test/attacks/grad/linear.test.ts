/** Gemm and MatMul gradients against finite differences. */
import { test } from 'node:test';
import type { Attribute } from '../../../src/onnx/ir.js';
import { assertGradient, attr, opModel } from './helpers.js';

const gemmAttrs = (transA: number, transB: number, alpha: number, beta = 1): Attribute[] => [
  attr.int('transA', transA),
  attr.int('transB', transB),
  attr.float('alpha', alpha),
  attr.float('beta', beta),
];

for (const opset of [7, 9, 13]) {
  for (const [transA, transB, alpha] of [[0, 0, 1], [0, 1, 1], [1, 0, 0.5], [1, 1, 2]]) {
    test(`Gemm x=[2,6] A=x W=[4..] transA=${transA} transB=${transB} alpha=${alpha} C=[4] opset ${opset}`, async () => {
      const bytes = opModel({
        opset,
        input: ['N', 6],
        build: (g, x, w) => {
          // transA reads A as [K,M]: feed x transposed, so the op sees the same product.
          const a = transA ? g.op('Transpose', [x], [attr.ints('perm', [1, 0])]) : x;
          const b = w('w', transB ? [4, 6] : [6, 4], 0.5);
          return g.op('Gemm', [a, b, w('c', [4], 0.1)], gemmAttrs(transA, transB, alpha));
        },
      });
      await assertGradient(bytes, { elementwise: true });
    });
  }
  test(`Gemm x as B: W=[4,6] x^T transB=0 then x transB=1 opset ${opset}`, async () => {
    const bytes = opModel({
      opset,
      input: ['N', 6],
      build: (g, x, w) => {
        const xt = g.op('Transpose', [x], [attr.ints('perm', [1, 0])]);
        const y1 = g.op('Gemm', [w('w1', [4, 6], 0.5), xt, w('c1', [4, 1], 0.1)], gemmAttrs(0, 0, 1.5));
        const y2 = g.op('Gemm', [w('w2', [4, 6], 0.5), x, w('c2', [4, 1], 0.1)], gemmAttrs(0, 1, 1));
        return g.op('Transpose', [g.op('Add', [y1, y2])], [attr.ints('perm', [1, 0])]);
      },
    });
    await assertGradient(bytes, { elementwise: true });
  });
}

test('Gemm C on the path: Gemm(x, W, x W2) beta=0.5 opset 13', async () => {
  const bytes = opModel({
    opset: 13,
    input: ['N', 6],
    build: (g, x, w) => {
      const c = g.op('MatMul', [x, w('w2', [6, 4], 0.5)]);
      return g.op('Gemm', [x, w('w', [6, 4], 0.5), c], gemmAttrs(0, 0, 1, 0.5));
    },
  });
  await assertGradient(bytes, { elementwise: true });
});

test('Gemm x=[1,6] fixed batch 1, no C, opset 11', async () => {
  const bytes = opModel({ opset: 11, input: [1, 6], build: (g, x, w) => g.op('Gemm', [x, w('w', [4, 6], 0.5)], gemmAttrs(0, 1, 1)) });
  await assertGradient(bytes);
});

interface MatMulCase {
  label: string;
  input: (number | string)[];
  build: Parameters<typeof opModel>[0]['build'];
}

const matMulCases: MatMulCase[] = [
  { label: 'x=[2,6] @ W=[6,4]', input: ['N', 6], build: (g, x, w) => g.op('MatMul', [x, w('w', [6, 4], 0.5)]) },
  { label: 'x=[2,3,6] @ W=[6,4] (batched, W broadcast)', input: ['N', 3, 6], build: (g, x, w) => g.op('MatMul', [x, w('w', [6, 4], 0.5)]) },
  { label: 'x=[2,2,3,6] @ W=[2,6,4] (batch broadcast)', input: ['N', 2, 3, 6], build: (g, x, w) => g.op('MatMul', [x, w('w', [2, 6, 4], 0.5)]) },
  { label: 'x=[2,2,3,6] @ W=[1,6,4] (W batch 1)', input: ['N', 2, 3, 6], build: (g, x, w) => g.op('MatMul', [x, w('w', [1, 6, 4], 0.5)]) },
  { label: 'W=[4,3] @ x=[2,3,6] (x on the right)', input: ['N', 3, 6], build: (g, x, w) => g.op('MatMul', [w('w', [4, 3], 0.5), x]) },
  {
    label: 'x=[2,3,6] @ x^T (both operands on the path)',
    input: ['N', 3, 6],
    build: (g, x) => g.op('MatMul', [x, g.op('Transpose', [x], [attr.ints('perm', [0, 2, 1])])]),
  },
];

for (const opset of [9, 13]) {
  for (const c of matMulCases) {
    test(`MatMul ${c.label} opset ${opset}`, async () => {
      await assertGradient(opModel({ opset, input: c.input, build: c.build }), { elementwise: true });
    });
  }
}
