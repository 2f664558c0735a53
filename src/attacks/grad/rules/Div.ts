import { unbroadcast } from '../ops.js';
import type { GradientContext, GradientRule } from '../registry.js';

/**
 * Div (numpy broadcasting): d a = d y / b and d b = -d y * y / b (y = a / b, reused rather than
 * recomputing a / b^2), each summed over its broadcast axes.
 */
export const divRule: GradientRule = {
  opType: 'Div',
  build(ctx: GradientContext): void {
    const dy = ctx.outputGradient(0);
    if (!dy) return;
    const g = ctx.graph;
    const [a, b] = ctx.inputs;
    const y = ctx.outputs[0];
    const yShape = ctx.shape(y);
    const quotient = g.op('Div', [dy, b], [], 'grad_Div');
    if (ctx.needsGradient(0)) ctx.accumulate(a, unbroadcast(g, ctx.opset, quotient, yShape, ctx.shape(a), a));
    if (ctx.needsGradient(1)) {
      const prod = g.op('Neg', [g.op('Mul', [quotient, y], [], 'grad_Div')]);
      ctx.accumulate(b, unbroadcast(g, ctx.opset, prod, yShape, ctx.shape(b), b));
    }
  },
};
