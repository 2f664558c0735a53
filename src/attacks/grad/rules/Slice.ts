import { padZeros } from '../ops.js';
import type { GradientContext, GradientRule } from '../registry.js';

function bounds(ctx: GradientContext, rank: number): { starts: number[]; ends: number[]; axes: number[]; steps: number[] } {
  const { node } = ctx;
  if (ctx.opset < 10) {
    const starts = node.ints('starts');
    const ends = node.ints('ends');
    if (!starts || !ends) ctx.unsupported('no starts/ends attributes');
    const axes = node.ints('axes') ?? starts.map((_, i) => i);
    return { starts: [...starts], ends: [...ends], axes: [...axes], steps: starts.map(() => 1) };
  }
  const read = (i: number): number[] | undefined => (ctx.inputs[i] ? ctx.constantInts(ctx.inputs[i]) : undefined);
  const starts = read(1);
  const ends = read(2);
  if (!starts || !ends) ctx.unsupported('starts/ends computed at run time');
  if (ctx.inputs[3] && !read(3)) ctx.unsupported('axes computed at run time');
  if (ctx.inputs[4] && !read(4)) ctx.unsupported('steps computed at run time');
  const axes = read(3) ?? starts.map((_, i) => i);
  return { starts, ends, axes: axes.map((a) => (a < 0 ? a + rank : a)), steps: read(4) ?? starts.map(() => 1) };
}

/**
 * Slice with unit steps: d x = d y padded with zeros back to x's size. Bounds are attributes
 * before opset 10 and constant inputs from 10; they are resolved against the probed shape, so
 * slicing the batch axis is not supported. Strided slices would need a scatter: not supported.
 */
export const sliceRule: GradientRule = {
  opType: 'Slice',
  build(ctx: GradientContext): void {
    const dy = ctx.outputGradient(0);
    if (!dy) return;
    if (ctx.inputs.slice(1).some((_, i) => ctx.needsGradient(i + 1))) ctx.unsupported('bounds depend on the image');
    if (!ctx.needsGradient(0)) return;
    const xShape = ctx.shape(ctx.inputs[0]);
    const rank = xShape.length;
    const { starts, ends, axes, steps } = bounds(ctx, rank);
    if (steps.some((s) => s !== 1)) ctx.unsupported(`steps ${steps.join(',')} (only 1)`);
    const pads = new Array<number>(2 * rank).fill(0);
    axes.forEach((axis, i) => {
      if (axis === 0) ctx.unsupported('slicing the batch axis');
      const size = xShape[axis];
      const clamp = (v: number): number => Math.min(Math.max(v < 0 ? v + size : v, 0), size);
      const begin = clamp(starts[i]);
      const end = Math.max(clamp(ends[i]), begin);
      pads[axis] = begin;
      pads[axis + rank] = size - end;
    });
    ctx.accumulate(ctx.inputs[0], pads.some((p) => p > 0) ? padZeros(ctx.graph, ctx.opset, dy, pads) : dy);
  },
};
