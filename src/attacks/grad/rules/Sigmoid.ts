import { scalar } from '../ops.js';
import type { GradientContext, GradientRule } from '../registry.js';

/** Sigmoid: d x = d y * y * (1 - y), from the forward output. */
export const sigmoidRule: GradientRule = {
  opType: 'Sigmoid',
  build(ctx: GradientContext): void {
    const dy = ctx.outputGradient(0);
    if (!dy || !ctx.needsGradient(0)) return;
    const g = ctx.graph;
    const y = ctx.outputs[0];
    const slope = g.op('Mul', [y, g.op('Sub', [scalar(g, 1), y])], [], 'grad_Sigmoid');
    ctx.accumulate(ctx.inputs[0], g.op('Mul', [dy, slope]));
  },
};
