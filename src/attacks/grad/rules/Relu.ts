import { maskWhere, scalar } from '../ops.js';
import type { GradientContext, GradientRule } from '../registry.js';

/** Relu: d x = d y where y > 0 (0 at x = 0, as PyTorch). */
export const reluRule: GradientRule = {
  opType: 'Relu',
  build(ctx: GradientContext): void {
    const dy = ctx.outputGradient(0);
    if (!dy || !ctx.needsGradient(0)) return;
    const g = ctx.graph;
    const positive = g.op('Greater', [ctx.outputs[0], scalar(g, 0)], [], 'grad_Relu');
    ctx.accumulate(ctx.inputs[0], maskWhere(g, ctx.opset, positive, dy));
  },
};
