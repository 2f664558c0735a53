/**
 * Opset-aware builders for the backward pass. Gradient nodes go into the model's own graph and
 * must stay valid in the model's opset (7 and later): bumping it would change the semantics of
 * the model's own ops. Each builder picks the signature of the op as of that opset.
 */
import { reduce } from '../../onnx/builders.js';
import { attr, Graph } from '../../onnx/ir.js';
import { DataType } from '../../onnx/schema.js';

/** Lowest opset we emit for: Cast's `to` is an int, and Add/Mul broadcast numpy-style, from 7. */
export const MIN_OPSET = 7;

/** Largest int64, the "to the end" bound of Slice. */
const INT64_MAX = Number.MAX_SAFE_INTEGER;

/** A float scalar constant (rank 0, broadcasts everywhere). */
export function scalar(g: Graph, value: number, name = 'grad_scalar'): string {
  return g.constantFloat(name, [], Float32Array.of(value));
}

/** ReduceSum over `axes` (axes attribute before opset 13, input from 13). */
export function reduceSum(g: Graph, opset: number, x: string, axes: readonly number[], keepdims: boolean): string {
  return reduce(g, opset, 'ReduceSum', x, axes, keepdims);
}

/** Unsqueeze (axes attribute before opset 13, input from 13). */
export function unsqueeze(g: Graph, opset: number, x: string, axes: readonly number[]): string {
  if (opset >= 13) return g.op('Unsqueeze', [x, g.constantInt64('grad_axes', [axes.length], axes)]);
  return g.op('Unsqueeze', [x], [attr.ints('axes', axes)]);
}

/** Slice with constant bounds (attributes before opset 10, inputs from 10); ends may be INT64 max. */
export function slice(g: Graph, opset: number, x: string, starts: readonly number[], ends: readonly number[], axes: readonly number[]): string {
  if (opset >= 10) {
    const n = axes.length;
    return g.op('Slice', [
      x,
      g.constantInt64('grad_starts', [n], starts),
      g.constantInt64('grad_ends', [n], ends),
      g.constantInt64('grad_axes', [n], axes),
    ]);
  }
  return g.op('Slice', [x], [attr.ints('starts', starts), attr.ints('ends', ends), attr.ints('axes', axes)]);
}

/** The end bound of a Slice that runs to the end of the axis. */
export const SLICE_TO_END = INT64_MAX;

/** Zero padding, pads as [begin..., end...] over all axes (attribute before opset 11, input from 11). */
export function padZeros(g: Graph, opset: number, x: string, pads: readonly number[]): string {
  if (opset >= 11) return g.op('Pad', [x, g.constantInt64('grad_pads', [pads.length], pads)]);
  return g.op('Pad', [x], [attr.ints('pads', pads), attr.string('mode', 'constant'), attr.float('value', 0)]);
}

/** `x` reshaped to the (runtime) shape of `like`: works for any batch size. */
export function reshapeLike(g: Graph, x: string, like: string): string {
  return g.op('Reshape', [x, g.op('Shape', [like])]);
}

/**
 * `x` (size 1 on `axes`) times `factor`, spread over `axes` to the sizes in `shape`: one Mul with
 * a constant of those sizes. Unlike an Expand to a run-time shape, the result's shape is known
 * to ONNX shape inference (the batch axis, never in `axes`, comes from `x`), which lets ONNX
 * Runtime keep later elementwise ops in its blocked layout.
 */
export function spreadScaled(g: Graph, x: string, shape: readonly number[], axes: readonly number[], factor: number): string {
  const dims = shape.map((d, i) => (axes.includes(i) ? d : 1));
  const values = new Float32Array(dims.reduce((a, b) => a * b, 1)).fill(factor);
  return g.op('Mul', [x, g.constantFloat('grad_spread', dims, values)]);
}

/** `x` broadcast to the runtime shape of `like` (Expand from opset 8; Tile before). */
export function expandLike(g: Graph, opset: number, x: string, like: string): string {
  const target = g.op('Shape', [like]);
  if (opset >= 8) return g.op('Expand', [x, target]);
  // Tile by target / current: every axis of x is either 1 or already the target size.
  return g.op('Tile', [x, g.op('Div', [target, g.op('Shape', [x])])]);
}

/** `x` where `cond` holds, else 0 (Where from opset 9; a float mask product before). */
export function maskWhere(g: Graph, opset: number, cond: string, x: string): string {
  if (opset >= 9) return g.op('Where', [cond, x, scalar(g, 0)]);
  return g.op('Mul', [x, g.op('Cast', [cond], [attr.int('to', DataType.FLOAT)])]);
}

/** A float mask (1 where `cond`, else 0), for blending two gradients in any opset. */
export function floatMask(g: Graph, cond: string): string {
  return g.op('Cast', [cond], [attr.int('to', DataType.FLOAT)]);
}

/** Inverse of a permutation. */
export function inversePermutation(perm: readonly number[]): number[] {
  const inv = new Array<number>(perm.length);
  perm.forEach((p, i) => (inv[p] = i));
  return inv;
}

/**
 * Sums a gradient of shape `gradShape` down to `targetShape` under numpy broadcasting: over the
 * leading axes `target` lacks and the axes where `target` has 1 and the gradient does not.
 * Static shapes come from a probe whose batch is 2 (when the batch is dynamic), so a batch axis
 * broadcast from 1 is told apart from a real one. `like` (a value of the target's shape) lets the
 * result be reshaped at run time, so any batch size works.
 */
export function unbroadcast(
  g: Graph,
  opset: number,
  grad: string,
  gradShape: readonly number[],
  targetShape: readonly number[],
  like: string,
): string {
  const lead = gradShape.length - targetShape.length;
  if (lead < 0) throw new Error(`cannot unbroadcast rank ${gradShape.length} to rank ${targetShape.length}`);
  const axes: number[] = [];
  for (let i = 0; i < gradShape.length; i++) {
    if (i < lead || (targetShape[i - lead] === 1 && gradShape[i] !== 1)) axes.push(i);
  }
  if (axes.length === 0) return lead === 0 ? grad : reshapeLike(g, grad, like);
  const summed = reduceSum(g, opset, grad, axes, true);
  return lead === 0 ? summed : reshapeLike(g, summed, like);
}

/** Geometry of the ConvTranspose that scatters a windowed op's output gradient back onto its input. */
export interface ScatterGeometry {
  padBegin: number;
  padEnd: number;
  outputPadding: number;
}

/**
 * For one spatial axis of a windowed op (Conv, pooling) with input size `inSize`, output size
 * `outSize`, stride `s`, dilated kernel extent `dk` and begin pad `padBegin`: the pads and
 * output_padding of a ConvTranspose whose output is exactly `inSize`. Windows reach
 * `s*(outSize-1) + dk` positions of the padded input; the part past the end is cropped (end
 * pad), and input rows no window reaches are filled with zeros (output_padding, always < s for
 * a valid op; ceil_mode windows that hang past the end only crop).
 */
export function scatterGeometry(inSize: number, outSize: number, s: number, dk: number, padBegin: number): ScatterGeometry {
  const reach = s * (outSize - 1) + dk - padBegin;
  if (reach >= inSize) return { padBegin, padEnd: reach - inSize, outputPadding: 0 };
  return { padBegin, padEnd: 0, outputPadding: inSize - reach };
}

/** A 2-D pooling window's geometry, as the scatter back onto the input needs it. */
export interface PoolWindow {
  kernel: readonly number[];
  strides: readonly number[];
  dilations: readonly number[];
  /** Dilated kernel extent per axis. */
  extents: readonly number[];
  begin: readonly number[];
  xShape: readonly number[];
  yShape: readonly number[];
  channels: number;
}

/**
 * Scatters per-window values `y` (one per output position, or `taps` stacked per channel) back
 * onto the input grid: a ConvTranspose with the pool's own geometry, grouped per channel, whose
 * `weight` says where in the window each value lands.
 */
export function scatterWindows(g: Graph, y: string, weight: string, w: PoolWindow, name: string): string {
  const geometry = [0, 1].map((a) => scatterGeometry(w.xShape[a + 2], w.yShape[a + 2], w.strides[a], w.extents[a], w.begin[a]));
  return g.op('ConvTranspose', [y, weight], [
    attr.ints('kernel_shape', w.kernel),
    attr.ints('strides', w.strides),
    attr.ints('dilations', w.dilations),
    attr.int('group', w.channels),
    attr.ints('pads', [geometry[0].padBegin, geometry[1].padBegin, geometry[0].padEnd, geometry[1].padEnd]),
    attr.ints('output_padding', [geometry[0].outputPadding, geometry[1].outputPadding]),
  ], name);
}

/**
 * Begin pads per spatial axis of a windowed op, resolving auto_pad from the probed sizes:
 * SAME_* split the total padding (ONNX: SAME_UPPER puts the extra one at the end).
 */
export function beginPads(
  autoPad: string,
  pads: readonly number[] | undefined,
  inSizes: readonly number[],
  outSizes: readonly number[],
  strides: readonly number[],
  extents: readonly number[],
): number[] {
  return inSizes.map((size, i) => {
    if (autoPad === 'VALID') return 0;
    if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
      const total = Math.max((outSizes[i] - 1) * strides[i] + extents[i] - size, 0);
      return autoPad === 'SAME_UPPER' ? Math.floor(total / 2) : Math.ceil(total / 2);
    }
    return pads?.[i] ?? 0;
  });
}
