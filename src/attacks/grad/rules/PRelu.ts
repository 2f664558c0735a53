import { floatMask, scalar } from '../ops.js';
import type { GradientContext, GradientRule } from '../registry.js';

/** PRelu: d x = d y where x > 0, else slope * d y (slope broadcasts to x). The slope is a constant. */
export const preluRule: GradientRule = {
  opType: 'PRelu',
  build(ctx: GradientContext): void {
    const dy = ctx.outputGradient(0);
    if (!dy) return;
    if (ctx.needsGradient(1)) ctx.unsupported('the slope depends on the image');
    if (!ctx.needsGradient(0)) return;
    const g = ctx.graph;
    const [x, slope] = ctx.inputs;
    const positive = g.op('Greater', [x, scalar(g, 0)], [], 'grad_PRelu');
    let dx: string;
    if (ctx.opset >= 9) dx = g.op('Where', [positive, dy, g.op('Mul', [dy, slope])]);
    else {
      // factor = slope + (1 - slope) * [x > 0], without Where (opset 9).
      const m = floatMask(g, positive);
      const factor = g.op('Add', [g.op('Mul', [m, g.op('Sub', [scalar(g, 1), slope])]), slope]);
      dx = g.op('Mul', [dy, factor]);
    }
    ctx.accumulate(x, dx);
  },
};
