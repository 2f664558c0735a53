import { unbroadcast } from '../ops.js';
import type { GradientContext, GradientRule } from '../registry.js';

/** Mul (numpy broadcasting): d a = d y * b, d b = d y * a, each summed over its broadcast axes. */
export const mulRule: GradientRule = {
  opType: 'Mul',
  build(ctx: GradientContext): void {
    const dy = ctx.outputGradient(0);
    if (!dy) return;
    const g = ctx.graph;
    const [a, b] = ctx.inputs;
    const yShape = ctx.shape(ctx.outputs[0]);
    if (ctx.needsGradient(0)) {
      // x*x needs no special case: both operands accumulate x dy into the same value.
      const prod = g.op('Mul', [dy, b], [], 'grad_Mul');
      ctx.accumulate(a, unbroadcast(g, ctx.opset, prod, yShape, ctx.shape(a), a));
    }
    if (ctx.needsGradient(1)) {
      const prod = g.op('Mul', [dy, a], [], 'grad_Mul');
      ctx.accumulate(b, unbroadcast(g, ctx.opset, prod, yShape, ctx.shape(b), b));
    }
  },
};
