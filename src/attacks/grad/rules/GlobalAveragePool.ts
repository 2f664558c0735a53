import { expandLike, scalar } from '../ops.js';
import type { GradientContext, GradientRule } from '../registry.js';

/** GlobalAveragePool: d x = d y / (spatial size), broadcast over the spatial axes. */
export const globalAveragePoolRule: GradientRule = {
  opType: 'GlobalAveragePool',
  build(ctx: GradientContext): void {
    const dy = ctx.outputGradient(0);
    if (!dy || !ctx.needsGradient(0)) return;
    const g = ctx.graph;
    const x = ctx.inputs[0];
    const size = ctx.shape(x).slice(2).reduce((a, b) => a * b, 1);
    const scaled = g.op('Mul', [dy, scalar(g, 1 / size)], [], 'grad_GlobalAveragePool');
    ctx.accumulate(x, expandLike(g, ctx.opset, scaled, x));
  },
};
