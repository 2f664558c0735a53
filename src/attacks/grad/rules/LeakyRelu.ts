import { floatMask, scalar } from '../ops.js';
import type { GradientContext, GradientRule } from '../registry.js';

/** LeakyRelu: d x = d y where x > 0, else alpha * d y. */
export const leakyReluRule: GradientRule = {
  opType: 'LeakyRelu',
  build(ctx: GradientContext): void {
    const dy = ctx.outputGradient(0);
    if (!dy || !ctx.needsGradient(0)) return;
    const g = ctx.graph;
    const alpha = ctx.node.attr('alpha')?.f ?? 0.01;
    const positive = g.op('Greater', [ctx.inputs[0], scalar(g, 0)], [], 'grad_LeakyRelu');
    let dx: string;
    if (ctx.opset >= 9) dx = g.op('Where', [positive, dy, g.op('Mul', [dy, scalar(g, alpha)])]);
    else {
      // factor = alpha + (1 - alpha) * [x > 0], without Where (opset 9).
      const factor = g.op('Add', [g.op('Mul', [floatMask(g, positive), scalar(g, 1 - alpha)]), scalar(g, alpha)]);
      dx = g.op('Mul', [dy, factor]);
    }
    ctx.accumulate(ctx.inputs[0], dx);
  },
};
