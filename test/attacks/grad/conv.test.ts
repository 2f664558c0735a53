/** Conv's gradient (ConvTranspose with matched geometry) against finite differences. */
import { test } from 'node:test';
import { assertGradient, attr, opModel } from './helpers.js';

interface ConvCase {
  x: [number, number, number, number];
  k: [number, number];
  out: number;
  s?: [number, number];
  pads?: [number, number, number, number];
  autoPad?: string;
  group?: number;
  dilations?: [number, number];
  bias?: boolean;
  kernelShapeAttr?: boolean;
}

const name = (c: ConvCase): string =>
  `x=[${c.x.join(',')}] k=${c.k.join('x')} s=${(c.s ?? [1, 1]).join('x')} ${c.autoPad ? `auto_pad=${c.autoPad}` : `pad=${(c.pads ?? [0, 0, 0, 0]).join(',')}`} group=${c.group ?? 1} dil=${(c.dilations ?? [1, 1]).join('x')}`;

function convModel(c: ConvCase, opset: number, batch: number | string): Uint8Array {
  return opModel({
    opset,
    input: [batch, c.x[1], c.x[2], c.x[3]],
    build: (g, x, w) => {
      const group = c.group ?? 1;
      const inputs = [x, w('w', [c.out, c.x[1] / group, c.k[0], c.k[1]], 0.5)];
      if (c.bias ?? true) inputs.push(w('b', [c.out], 0.1));
      const attributes = [attr.ints('strides', c.s ?? [1, 1])];
      if (c.kernelShapeAttr ?? true) attributes.push(attr.ints('kernel_shape', c.k));
      if (c.pads) attributes.push(attr.ints('pads', c.pads));
      if (c.autoPad) attributes.push(attr.string('auto_pad', c.autoPad));
      if (c.group) attributes.push(attr.int('group', c.group));
      if (c.dilations) attributes.push(attr.ints('dilations', c.dilations));
      return g.op('Conv', inputs, attributes);
    },
  });
}

const cases: ConvCase[] = [
  { x: [2, 3, 8, 8], k: [3, 3], out: 4, s: [2, 2], pads: [1, 1, 1, 1] },
  { x: [2, 3, 8, 8], k: [3, 3], out: 4, s: [1, 1], pads: [1, 1, 1, 1] },
  { x: [2, 3, 9, 9], k: [3, 3], out: 4, s: [2, 2], pads: [1, 1, 1, 1] },
  { x: [2, 3, 8, 8], k: [1, 1], out: 5, s: [2, 2], bias: false },
  { x: [2, 3, 8, 8], k: [4, 4], out: 4, s: [2, 2], pads: [1, 1, 1, 1] },
  { x: [2, 3, 10, 7], k: [3, 2], out: 4, s: [3, 2], pads: [0, 1, 2, 0] },
  { x: [2, 4, 8, 8], k: [3, 3], out: 6, s: [1, 1], pads: [1, 1, 1, 1], group: 2 },
  { x: [2, 4, 8, 8], k: [3, 3], out: 4, s: [2, 2], pads: [1, 1, 1, 1], group: 4 },
  { x: [2, 3, 9, 9], k: [3, 3], out: 4, s: [1, 1], pads: [2, 2, 2, 2], dilations: [2, 2] },
  { x: [2, 3, 11, 11], k: [3, 3], out: 4, s: [2, 2], dilations: [2, 2] },
  { x: [2, 3, 8, 8], k: [3, 3], out: 4, s: [2, 2], autoPad: 'SAME_UPPER' },
  { x: [2, 3, 9, 8], k: [4, 4], out: 4, s: [2, 2], autoPad: 'SAME_LOWER' },
  { x: [2, 3, 9, 9], k: [3, 3], out: 4, s: [2, 2], autoPad: 'VALID' },
  { x: [2, 3, 8, 8], k: [3, 3], out: 4, s: [2, 2], pads: [1, 1, 1, 1], kernelShapeAttr: false },
  // strides 3 and 4, kernels wider than the stride, unequal kernel sides, crops and end pads
  { x: [2, 3, 10, 10], k: [3, 3], out: 4, s: [3, 3], pads: [0, 1, 2, 0] },
  { x: [2, 3, 11, 9], k: [5, 5], out: 4, s: [2, 2], pads: [2, 2, 2, 2] },
  { x: [2, 3, 8, 8], k: [2, 2], out: 4, s: [2, 2] },
  { x: [2, 3, 10, 10], k: [1, 1], out: 4, s: [3, 3] },
  { x: [2, 3, 9, 10], k: [3, 5], out: 4, s: [2, 2], pads: [0, 2, 1, 1] },
  { x: [2, 3, 7, 7], k: [4, 2], out: 4, s: [4, 4], pads: [3, 1, 0, 0] },
];

for (const opset of [9, 13]) {
  for (const c of cases) {
    test(`Conv ${name(c)} opset ${opset}`, async () => {
      await assertGradient(convModel(c, opset, 'N'), { elementwise: true });
    });
  }
}

test('Conv x=[1,3,8,8] k=3 s=2 pad=1 fixed batch 1 opset 13', async () => {
  await assertGradient(convModel({ x: [1, 3, 8, 8], k: [3, 3], out: 4, s: [2, 2], pads: [1, 1, 1, 1] }, 13, 1));
});

test('Conv 1-D x=[2,3,12] k=3 s=2 pad=1 opset 13', async () => {
  const bytes = opModel({
    opset: 13,
    input: ['N', 3, 12],
    build: (g, x, w) => g.op('Conv', [x, w('w', [4, 3, 3], 0.5)], [attr.ints('strides', [2]), attr.ints('pads', [1, 1])]),
  });
  await assertGradient(bytes, { elementwise: true });
});

for (const [label, initializers, computed] of [['weights as initializers', true, false], ['computed weights (ConvTranspose path)', false, true]] as const) {
  test(`Conv x=[2,4,7,7] k=3 s=1 pad=1 group=2 ${label} opset 13`, async () => {
    const bytes = opModel({
      opset: 13,
      input: ['N', 4, 7, 7],
      initializers,
      build: (g, x, w) => {
        let weight = w('w', [6, 2, 3, 3], 0.5);
        if (computed) weight = g.op('Mul', [weight, g.constantFloat('two', [], Float32Array.of(2))]);
        return g.op('Conv', [x, weight], [attr.ints('pads', [1, 1, 1, 1]), attr.int('group', 2)]);
      },
    });
    await assertGradient(bytes, { elementwise: true });
  });
}

test('Conv x=[2,3,6,6] k=3 s=1 pad=1 initializers, model bytes in a Node Buffer (as read from a file) opset 13', async () => {
  const bytes = opModel({ opset: 13, input: ['N', 3, 6, 6], initializers: true, build: (g, x, w) => g.op('Conv', [x, w('w', [4, 3, 3, 3], 0.5)], [attr.ints('pads', [1, 1, 1, 1])]) });
  // Buffer.slice is a view, not a copy: decoding raw_data from it must still read the right bytes.
  await assertGradient(Buffer.from(bytes), { elementwise: true });
});

