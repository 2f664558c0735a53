import type { GradientContext, GradientRule } from '../registry.js';

/** Identity: d x = d y (no node needed). */
export const identityRule: GradientRule = {
  opType: 'Identity',
  build(ctx: GradientContext): void {
    const dy = ctx.outputGradient(0);
    if (dy && ctx.needsGradient(0)) ctx.accumulate(ctx.inputs[0], dy);
  },
};
