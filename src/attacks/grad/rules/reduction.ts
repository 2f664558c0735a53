/**
 * Shared backward of ReduceSum and ReduceMean: d y, with the reduced axes put back when
 * keepdims = 0, broadcast to x's shape (and divided by the count for the mean).
 */
import { attr } from '../../../onnx/ir.js';
import { DataType } from '../../../onnx/schema.js';
import { expandLike, spreadScaled, unsqueeze } from '../ops.js';
import type { GradientContext } from '../registry.js';

/**
 * Reduced axes (normalised, sorted) of a Reduce* node: the `axes` attribute before
 * `axesInputFrom`, else the optional constant second input; none means all axes, unless
 * noop_with_empty_axes makes the op an identity (then null).
 */
export function reducedAxes(ctx: GradientContext, rank: number, axesInputFrom: number): number[] | null {
  const { node } = ctx;
  let axes: readonly number[] | undefined;
  if (ctx.opset >= axesInputFrom) {
    const input = ctx.inputs[1];
    if (input) {
      axes = ctx.constantInts(input);
      if (!axes) ctx.unsupported('axes computed at run time');
    }
  } else axes = node.ints('axes');
  if (!axes || axes.length === 0) {
    if (ctx.opset >= axesInputFrom && node.int('noop_with_empty_axes', 0) === 1) return null;
    return Array.from({ length: rank }, (_, i) => i);
  }
  return [...new Set(axes.map((a) => (a < 0 ? a + rank : a)))].sort((a, b) => a - b);
}

/** Builds d x for ReduceSum (mean = false) or ReduceMean (mean = true). */
export function reductionGradient(ctx: GradientContext, axesInputFrom: number, mean: boolean): void {
  const dy = ctx.outputGradient(0);
  if (!dy || !ctx.needsGradient(0)) return;
  const g = ctx.graph;
  const x = ctx.inputs[0];
  const xShape = ctx.shape(x);
  const axes = reducedAxes(ctx, xShape.length, axesInputFrom);
  if (axes === null) {
    ctx.accumulate(x, dy);
    return;
  }
  let grad = ctx.node.int('keepdims', 1) === 1 ? dy : unsqueeze(g, ctx.opset, dy, axes);
  if (!axes.includes(0)) {
    const count = axes.reduce((n, a) => n * xShape[a], 1);
    ctx.accumulate(x, spreadScaled(g, grad, xShape, axes, mean ? 1 / count : 1));
    return;
  }
  if (mean) {
    // The probe's batch size is not the run's: a mean over the batch axis takes its count at run time.
    const factor = g.op('Div', [g.op('Cast', [g.op('Size', [ctx.outputs[0]])], [castFloat]), g.op('Cast', [g.op('Size', [x])], [castFloat])]);
    grad = g.op('Mul', [grad, factor], [], `grad_${ctx.node.opType}`);
  }
  ctx.accumulate(x, expandLike(g, ctx.opset, grad, x));
}

const castFloat = attr.int('to', DataType.FLOAT);
