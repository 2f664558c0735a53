import { spreadScaled } from '../ops.js';
import type { GradientContext, GradientRule } from '../registry.js';

/** GlobalAveragePool: d x = d y / (spatial size), broadcast over the spatial axes. */
export const globalAveragePoolRule: GradientRule = {
  opType: 'GlobalAveragePool',
  build(ctx: GradientContext): void {
    const dy = ctx.outputGradient(0);
    if (!dy || !ctx.needsGradient(0)) return;
    const g = ctx.graph;
    const x = ctx.inputs[0];
    const shape = ctx.shape(x);
    const spatial = shape.map((_, i) => i).slice(2);
    const size = spatial.reduce((n, a) => n * shape[a], 1);
    ctx.accumulate(x, spreadScaled(g, dy, shape, spatial, 1 / size));
  },
};
