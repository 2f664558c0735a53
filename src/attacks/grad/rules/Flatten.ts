import { reshapeLike } from '../ops.js';
import type { GradientContext, GradientRule } from '../registry.js';

/** Flatten only moves values: d x = d y reshaped to x's run-time shape (any batch size). */
export const flattenRule: GradientRule = {
  opType: 'Flatten',
  build(ctx: GradientContext): void {
    const dy = ctx.outputGradient(0);
    if (dy && ctx.needsGradient(0)) ctx.accumulate(ctx.inputs[0], reshapeLike(ctx.graph, dy, ctx.inputs[0]));
  },
};
