import { scalar } from '../ops.js';
import type { GradientContext, GradientRule } from '../registry.js';

/** Tanh: d x = d y * (1 - y^2), from the forward output. */
export const tanhRule: GradientRule = {
  opType: 'Tanh',
  build(ctx: GradientContext): void {
    const dy = ctx.outputGradient(0);
    if (!dy || !ctx.needsGradient(0)) return;
    const g = ctx.graph;
    const y = ctx.outputs[0];
    const slope = g.op('Sub', [scalar(g, 1), g.op('Mul', [y, y])], [], 'grad_Tanh');
    ctx.accumulate(ctx.inputs[0], g.op('Mul', [dy, slope]));
  },
};
