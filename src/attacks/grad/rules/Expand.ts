import { unbroadcast } from '../ops.js';
import type { GradientContext, GradientRule } from '../registry.js';

/** Expand: d x = d y summed over the axes x was broadcast along. */
export const expandRule: GradientRule = {
  opType: 'Expand',
  build(ctx: GradientContext): void {
    const dy = ctx.outputGradient(0);
    if (!dy || !ctx.needsGradient(0)) return;
    const x = ctx.inputs[0];
    ctx.accumulate(x, unbroadcast(ctx.graph, ctx.opset, dy, ctx.shape(ctx.outputs[0]), ctx.shape(x), x));
  },
};
