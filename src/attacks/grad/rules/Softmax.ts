import { reduceSum } from '../ops.js';
import type { GradientContext, GradientRule } from '../registry.js';

/** The axes a Softmax/LogSoftmax normalises over, per its opset's semantics. */
export function softmaxAxes(ctx: GradientContext): number[] {
  const rank = ctx.shape(ctx.inputs[0]).length;
  const legacy = ctx.opset < 13;
  let axis = ctx.node.int('axis', legacy ? 1 : -1);
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank) ctx.unsupported(`axis ${axis} out of range for rank ${rank}`);
  return legacy ? Array.from({ length: rank - axis }, (_, i) => axis + i) : [axis];
}

/**
 * Softmax: d x = y * (d y - sum(d y * y)) over the softmax axes. Before opset 13 the op
 * flattens the input to 2-D at `axis` (default 1), so it normalises over all axes from `axis`
 * on; from 13 over `axis` alone (default -1). For 2-D [B,K] with axis 1 the two agree.
 */
export const softmaxRule: GradientRule = {
  opType: 'Softmax',
  build(ctx: GradientContext): void {
    const dy = ctx.outputGradient(0);
    if (!dy || !ctx.needsGradient(0)) return;
    const g = ctx.graph;
    const y = ctx.outputs[0];
    const dot = reduceSum(g, ctx.opset, g.op('Mul', [dy, y], [], 'grad_Softmax'), softmaxAxes(ctx), true);
    ctx.accumulate(ctx.inputs[0], g.op('Mul', [y, g.op('Sub', [dy, dot])]));
  },
};
