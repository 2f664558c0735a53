import { unbroadcast } from '../ops.js';
import type { GradientContext, GradientRule } from '../registry.js';

/** Sub (numpy broadcasting): d a = d y, d b = -d y, each summed over its broadcast axes. */
export const subRule: GradientRule = {
  opType: 'Sub',
  build(ctx: GradientContext): void {
    const dy = ctx.outputGradient(0);
    if (!dy) return;
    const g = ctx.graph;
    const [a, b] = ctx.inputs;
    const yShape = ctx.shape(ctx.outputs[0]);
    if (ctx.needsGradient(0)) ctx.accumulate(a, unbroadcast(g, ctx.opset, dy, yShape, ctx.shape(a), a));
    if (ctx.needsGradient(1)) {
      // Reduce first, then negate: the negation then runs on the smaller tensor.
      const reduced = unbroadcast(g, ctx.opset, dy, yShape, ctx.shape(b), b);
      ctx.accumulate(b, g.op('Neg', [reduced], [], 'grad_Sub'));
    }
  },
};
