import { unbroadcast } from '../ops.js';
import type { GradientContext, GradientRule } from '../registry.js';

/** Add (numpy broadcasting): each operand gets d y summed over the axes it was broadcast along. */
export const addRule: GradientRule = {
  opType: 'Add',
  build(ctx: GradientContext): void {
    const dy = ctx.outputGradient(0);
    if (!dy) return;
    const yShape = ctx.shape(ctx.outputs[0]);
    ctx.inputs.forEach((x, i) => {
      if (ctx.needsGradient(i)) ctx.accumulate(x, unbroadcast(ctx.graph, ctx.opset, dy, yShape, ctx.shape(x), x));
    });
  },
};
