/** MaxPool, AveragePool and GlobalAveragePool gradients against finite differences. */
import { test } from 'node:test';
import { assertGradient, attr, opModel } from './helpers.js';

interface PoolCase {
  x: [number, number, number, number];
  k: [number, number];
  s: [number, number];
  pads?: [number, number, number, number];
  autoPad?: string;
  ceil?: boolean;
  dilations?: [number, number];
  countIncludePad?: 0 | 1;
}

const describe = (c: PoolCase): string =>
  `x=[${c.x.join(',')}] k=${c.k.join('x')} s=${c.s.join('x')} ${c.autoPad ? `auto_pad=${c.autoPad}` : `pad=${(c.pads ?? [0, 0, 0, 0]).join(',')}`}` +
  `${c.ceil ? ' ceil_mode' : ''}${c.dilations ? ` dil=${c.dilations.join('x')}` : ''}${c.countIncludePad !== undefined ? ` count_include_pad=${c.countIncludePad}` : ''}`;

function poolModel(op: 'MaxPool' | 'AveragePool', c: PoolCase, opset: number, batch: number | string = 'N'): Uint8Array {
  return opModel({
    opset,
    input: [batch, ...c.x.slice(1)],
    build: (g, x) => {
      const attributes = [attr.ints('kernel_shape', c.k), attr.ints('strides', c.s)];
      if (c.pads) attributes.push(attr.ints('pads', c.pads));
      if (c.autoPad) attributes.push(attr.string('auto_pad', c.autoPad));
      if (c.ceil) attributes.push(attr.int('ceil_mode', 1));
      if (c.dilations) attributes.push(attr.ints('dilations', c.dilations));
      if (c.countIncludePad !== undefined) attributes.push(attr.int('count_include_pad', c.countIncludePad));
      // A Relu in front, as in real networks: ties among zeros must not break the gradient.
      return g.op(op, [g.op('Relu', [x])], attributes);
    },
  });
}

// MaxPool: non-overlapping (MaxUnpool from opset 9) and overlapping (mask + ConvTranspose).
const maxCases: { c: PoolCase; opsets: number[] }[] = [
  { c: { x: [2, 3, 8, 8], k: [2, 2], s: [2, 2] }, opsets: [8, 9, 13] },
  { c: { x: [2, 3, 9, 9], k: [2, 2], s: [2, 2] }, opsets: [9, 13] },
  { c: { x: [2, 3, 9, 9], k: [2, 2], s: [2, 2], ceil: true }, opsets: [10, 13] },
  { c: { x: [2, 3, 8, 8], k: [3, 3], s: [2, 2], pads: [1, 1, 1, 1] }, opsets: [8, 9, 13] },
  { c: { x: [2, 3, 9, 9], k: [3, 3], s: [2, 2] }, opsets: [9, 13] },
  { c: { x: [2, 3, 8, 8], k: [3, 3], s: [1, 1], pads: [1, 1, 1, 1] }, opsets: [9, 13] },
  { c: { x: [2, 3, 10, 10], k: [3, 3], s: [2, 2], ceil: true }, opsets: [10, 13] },
  { c: { x: [2, 3, 8, 8], k: [3, 3], s: [2, 2], autoPad: 'SAME_UPPER' }, opsets: [9, 13] },
  { c: { x: [2, 3, 9, 9], k: [3, 2], s: [2, 3], pads: [1, 0, 1, 1] }, opsets: [13] },
  { c: { x: [2, 3, 9, 9], k: [2, 2], s: [2, 2], dilations: [2, 2] }, opsets: [12, 13] },
];

for (const { c, opsets } of maxCases) {
  for (const opset of opsets) {
    test(`MaxPool ${describe(c)} opset ${opset}`, async () => {
      await assertGradient(poolModel('MaxPool', c, opset), { piecewise: true, elementwise: true });
    });
  }
}

test('MaxPool x=[1,3,8,8] k=3 s=2 pad=1 fixed batch 1 opset 13', async () => {
  await assertGradient(poolModel('MaxPool', { x: [1, 3, 8, 8], k: [3, 3], s: [2, 2], pads: [1, 1, 1, 1] }, 13, 1), { piecewise: true });
});

const avgCases: { c: PoolCase; opsets: number[] }[] = [
  { c: { x: [2, 3, 8, 8], k: [2, 2], s: [2, 2] }, opsets: [9, 13] },
  { c: { x: [2, 3, 8, 8], k: [3, 3], s: [2, 2], pads: [1, 1, 1, 1] }, opsets: [9, 13] },
  { c: { x: [2, 3, 8, 8], k: [3, 3], s: [2, 2], pads: [1, 1, 1, 1], countIncludePad: 1 }, opsets: [9, 13] },
  { c: { x: [2, 3, 9, 9], k: [3, 3], s: [2, 2], pads: [1, 1, 1, 1], countIncludePad: 0 }, opsets: [13] },
  { c: { x: [2, 3, 9, 9], k: [3, 3], s: [1, 1] }, opsets: [13] },
  { c: { x: [2, 3, 10, 10], k: [3, 3], s: [2, 2], ceil: true }, opsets: [10, 13] },
  { c: { x: [2, 3, 10, 10], k: [3, 3], s: [2, 2], pads: [1, 1, 1, 1], ceil: true, countIncludePad: 1 }, opsets: [13] },
  { c: { x: [2, 3, 8, 8], k: [3, 3], s: [2, 2], autoPad: 'SAME_UPPER' }, opsets: [13] },
  { c: { x: [2, 3, 9, 8], k: [2, 3], s: [2, 1], autoPad: 'SAME_LOWER', countIncludePad: 1 }, opsets: [13] },
  { c: { x: [2, 3, 11, 11], k: [3, 3], s: [2, 2], pads: [1, 1, 1, 1], dilations: [2, 2] }, opsets: [19] },
];

for (const { c, opsets } of avgCases) {
  for (const opset of opsets) {
    test(`AveragePool ${describe(c)} opset ${opset}`, async () => {
      await assertGradient(poolModel('AveragePool', c, opset), { piecewise: true, elementwise: true });
    });
  }
}

for (const opset of [9, 13]) {
  test(`GlobalAveragePool x=[2,3,6,5] opset ${opset}`, async () => {
    const bytes = opModel({ opset, input: ['N', 3, 6, 5], build: (g, x) => g.op('GlobalAveragePool', [x]) });
    await assertGradient(bytes, { elementwise: true });
  });
}

test('GlobalAveragePool x=[2,3,6,5] opset 7 (Tile instead of Expand)', async () => {
  const bytes = opModel({ opset: 7, input: ['N', 3, 6, 5], build: (g, x) => g.op('GlobalAveragePool', [x]) });
  await assertGradient(bytes, { elementwise: true });
});
