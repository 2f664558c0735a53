import type { GradientContext, GradientRule } from '../registry.js';

/** Neg: d x = -d y. */
export const negRule: GradientRule = {
  opType: 'Neg',
  build(ctx: GradientContext): void {
    const dy = ctx.outputGradient(0);
    if (dy && ctx.needsGradient(0)) ctx.accumulate(ctx.inputs[0], ctx.graph.op('Neg', [dy], [], 'grad_Neg'));
  },
};
