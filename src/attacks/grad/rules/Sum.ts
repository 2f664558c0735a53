import { unbroadcast } from '../ops.js';
import type { GradientContext, GradientRule } from '../registry.js';

/** Sum (variadic, broadcasting from opset 8): every operand gets d y summed over its broadcast axes. */
export const sumRule: GradientRule = {
  opType: 'Sum',
  build(ctx: GradientContext): void {
    const dy = ctx.outputGradient(0);
    if (!dy) return;
    const yShape = ctx.shape(ctx.outputs[0]);
    ctx.inputs.forEach((x, i) => {
      if (ctx.needsGradient(i)) ctx.accumulate(x, unbroadcast(ctx.graph, ctx.opset, dy, yShape, ctx.shape(x), x));
    });
  },
};
