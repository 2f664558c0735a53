import { slice } from '../ops.js';
import type { GradientContext, GradientRule } from '../registry.js';

/**
 * Concat: each input on the path gets its slice of d y along the axis. Offsets are static (from
 * the probe), so concatenation along the batch axis, whose size differs between runs, is not
 * supported.
 */
export const concatRule: GradientRule = {
  opType: 'Concat',
  build(ctx: GradientContext): void {
    const dy = ctx.outputGradient(0);
    if (!dy) return;
    const rank = ctx.shape(ctx.outputs[0]).length;
    let axis = ctx.node.int('axis', 1);
    if (axis < 0) axis += rank;
    if (axis === 0) ctx.unsupported('concatenation along the batch axis');
    let offset = 0;
    ctx.inputs.forEach((x, i) => {
      const size = ctx.shape(x)[axis];
      if (ctx.needsGradient(i)) ctx.accumulate(x, slice(ctx.graph, ctx.opset, dy, [offset], [offset + size], [axis]));
      offset += size;
    });
  },
};
