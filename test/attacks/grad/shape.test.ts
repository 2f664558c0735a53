/**
 * Gradients of ops that move values (Flatten, Reshape, Transpose, Squeeze/Unsqueeze, Concat,
 * Pad, Slice, Expand, Identity, Dropout, Cast) and of shape computations that carry none.
 */
import { test } from 'node:test';
import type { Graph } from '../../../src/onnx/ir.js';
import { DataType } from '../../../src/onnx/schema.js';
import { assertGradient, attr, opModel, WeightMaker } from './helpers.js';

type Build = (g: Graph, x: string, w: WeightMaker, opset: number) => string;

const ints = (g: Graph, values: number[]): string => g.constantInt64('ints', [values.length], values);
/** Makes the loss depend on every element non-uniformly, so a misplaced gradient shows. */
const scramble = (g: Graph, y: string, w: WeightMaker, dims: number[]): string => g.op('Mul', [y, w('scramble', dims, 2)]);

const unsqueezeOp = (g: Graph, x: string, axes: number[], opset: number): string =>
  opset >= 13 ? g.op('Unsqueeze', [x, ints(g, axes)]) : g.op('Unsqueeze', [x], [attr.ints('axes', axes)]);
const squeezeOp = (g: Graph, x: string, axes: number[], opset: number): string =>
  opset >= 13 ? g.op('Squeeze', [x, ints(g, axes)]) : g.op('Squeeze', [x], [attr.ints('axes', axes)]);

const cases: { label: string; input: (number | string)[]; opsets: number[]; build: Build; elementwise?: boolean }[] = [
  { label: 'Flatten axis=1 x=[2,3,4,5]', input: ['N', 3, 4, 5], opsets: [9, 13], build: (g, x, w) => scramble(g, g.op('Flatten', [x], [attr.int('axis', 1)]), w, [60]) },
  {
    label: 'Flatten axis=2 x=[2,3,4,5] then Reshape [-1,60]',
    input: ['N', 3, 4, 5],
    opsets: [9, 13],
    build: (g, x, w) => g.op('Reshape', [scramble(g, g.op('Flatten', [x], [attr.int('axis', 2)]), w, [20]), ints(g, [-1, 60])]),
  },
  { label: 'Reshape x=[2,3,4,5] to [0,-1,5]', input: ['N', 3, 4, 5], opsets: [9, 13], build: (g, x, w) => scramble(g, g.op('Reshape', [x, ints(g, [0, -1, 5])]), w, [12, 5]) },
  { label: 'Reshape x=[2,3,4,5] to [-1,20]', input: ['N', 3, 4, 5], opsets: [13], build: (g, x, w) => g.op('Reshape', [g.op('Reshape', [scramble(g, x, w, [3, 4, 5]), ints(g, [-1, 20])]), ints(g, [-1, 60])]) },
  { label: 'Transpose perm=[0,2,3,1] x=[2,3,4,5]', input: ['N', 3, 4, 5], opsets: [9, 13], build: (g, x, w) => scramble(g, g.op('Transpose', [x], [attr.ints('perm', [0, 2, 3, 1])]), w, [4, 5, 3]) },
  { label: 'Transpose default perm twice x=[2,3,4]', input: ['N', 3, 4], opsets: [13], build: (g, x, w) => scramble(g, g.op('Transpose', [g.op('Transpose', [x])]), w, [3, 4]) },
  { label: 'Unsqueeze axes=[1,3] then Squeeze axes=[3]', input: ['N', 3, 4], opsets: [9, 13], build: (g, x, w, o) => scramble(g, squeezeOp(g, unsqueezeOp(g, x, [1, 3], o), [3], o), w, [1, 3, 4]) },
  { label: 'Squeeze axes=[2] x=[2,3,1,4]', input: ['N', 3, 1, 4], opsets: [9, 13], build: (g, x, w, o) => scramble(g, squeezeOp(g, x, [2], o), w, [3, 4]) },
  {
    label: 'Concat axis=1 [x, c expanded to the batch (off the path), sigmoid(x)]',
    input: ['N', 3, 4],
    opsets: [9, 13],
    build: (g, x, w, o) => {
      const batch = unsqueezeOp(g, g.op('Gather', [g.op('Shape', [x]), g.constantInt64('zero', [], [0])]), [0], o);
      const c = g.op('Expand', [w('c', [1, 2, 4]), g.op('Concat', [batch, ints(g, [2, 4])], [attr.int('axis', 0)])]);
      return scramble(g, g.op('Concat', [x, c, g.op('Sigmoid', [x])], [attr.int('axis', 1)]), w, [8, 4]);
    },
  },
  {
    label: 'Concat axis=-1 [x, x]',
    input: ['N', 3, 4],
    opsets: [13],
    build: (g, x, w) => scramble(g, g.op('Concat', [x, x], [attr.int('axis', -1)]), w, [3, 8]),
  },
  {
    label: 'Pad attr pads=[0,1,2,0, 0,2,0,1] value=0.5',
    input: ['N', 3, 4, 5],
    opsets: [9],
    build: (g, x, w) => scramble(g, g.op('Pad', [x], [attr.ints('pads', [0, 1, 2, 0, 0, 2, 0, 1]), attr.float('value', 0.5)]), w, [6, 6, 6]),
  },
  {
    label: 'Pad input pads=[0,1,2,0, 0,2,0,1]',
    input: ['N', 3, 4, 5],
    opsets: [11, 13],
    build: (g, x, w) => scramble(g, g.op('Pad', [x, ints(g, [0, 1, 2, 0, 0, 2, 0, 1])]), w, [6, 6, 6]),
  },
  {
    label: 'Pad negative pads (crop) [0,0,-1,1, 0,-1,1,-2]',
    input: ['N', 3, 4, 5],
    opsets: [9, 13],
    build: (g, x, w, o) => {
      const pads = [0, 0, -1, 1, 0, -1, 1, -2];
      const y = o >= 11 ? g.op('Pad', [x, ints(g, pads)]) : g.op('Pad', [x], [attr.ints('pads', pads)]);
      return scramble(g, y, w, [2, 4, 4]);
    },
  },
  {
    label: 'Pad opset 18 axes=[2,3] pads=[1,2,0,1]',
    input: ['N', 3, 4, 5],
    opsets: [18],
    build: (g, x, w) => scramble(g, g.op('Pad', [x, ints(g, [1, 2, 0, 1]), '', ints(g, [2, 3])]), w, [3, 5, 8]),
  },
  {
    label: 'Slice axes=[1,3] starts=[1,-4] ends=[3,1000]',
    input: ['N', 3, 4, 5],
    opsets: [9, 13],
    build: (g, x, w, o) => {
      const y = o >= 10
        ? g.op('Slice', [x, ints(g, [1, -4]), ints(g, [3, 1000]), ints(g, [1, 3])])
        : g.op('Slice', [x], [attr.ints('starts', [1, -4]), attr.ints('ends', [3, 1000]), attr.ints('axes', [1, 3])]);
      return scramble(g, y, w, [2, 4, 4]);
    },
  },
  {
    label: 'Slice steps=[1] ends=-1 axis 2',
    input: ['N', 3, 4, 5],
    opsets: [13],
    build: (g, x, w) => scramble(g, g.op('Slice', [x, ints(g, [0]), ints(g, [-1]), ints(g, [2]), ints(g, [1])]), w, [3, 3, 5]),
  },
  { label: 'Expand x=[2,1,5] to [3,5]', input: ['N', 1, 5], opsets: [8, 13], build: (g, x, w) => scramble(g, g.op('Expand', [x, ints(g, [3, 5])]), w, [3, 5]) },
  { label: 'Identity', input: ['N', 3, 4], opsets: [9, 13], build: (g, x, w) => scramble(g, g.op('Identity', [x]), w, [3, 4]) },
  { label: 'Dropout ratio=0.5 (inference)', input: ['N', 3, 4], opsets: [9], build: (g, x, w) => scramble(g, g.op('Dropout', [x], [attr.float('ratio', 0.5)]), w, [3, 4]) },
  {
    label: 'Dropout ratio input (inference)',
    input: ['N', 3, 4],
    opsets: [13],
    build: (g, x, w) => scramble(g, g.op('Dropout', [x, g.constantFloat('ratio', [], Float32Array.of(0.5))]), w, [3, 4]),
  },
  { label: 'Cast to float (identity)', input: ['N', 3, 4], opsets: [9, 13], build: (g, x, w) => scramble(g, g.op('Cast', [x], [attr.int('to', DataType.FLOAT)]), w, [3, 4]) },
  {
    label: 'shape path: Reshape(x, Concat(Gather(Shape(x),0), [-1])) + ConstantOfShape + Cast to int',
    input: ['N', 3, 4],
    opsets: [9, 13],
    build: (g, x, w, o) => {
      const batch = unsqueezeOp(g, g.op('Gather', [g.op('Shape', [x]), g.constantInt64('zero', [], [0])]), [0], o);
      const flat = g.op('Reshape', [x, g.op('Concat', [batch, ints(g, [-1])], [attr.int('axis', 0)])]);
      const zeros = g.op('ConstantOfShape', [g.op('Shape', [flat])]);
      // Cast to int64 and back: piecewise constant, its branch adds no gradient.
      const truncated = g.op('Cast', [g.op('Cast', [flat], [attr.int('to', DataType.INT64)])], [attr.int('to', DataType.FLOAT)]);
      return scramble(g, g.op('Add', [g.op('Add', [flat, zeros]), truncated]), w, [12]);
    },
  },
];

for (const c of cases) {
  for (const opset of c.opsets) {
    test(`${c.label} opset ${opset}`, async () => {
      await assertGradient(opModel({ opset, input: c.input, build: c.build }), { elementwise: c.elementwise ?? true });
    });
  }
}
