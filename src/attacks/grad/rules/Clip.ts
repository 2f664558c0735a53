import { maskWhere, scalar } from '../ops.js';
import type { GradientContext, GradientRule } from '../registry.js';

/**
 * Clip: d x = d y where min <= x <= max (the bounds included, as torch.clamp). Bounds are
 * attributes before opset 11 and optional inputs from 11; bounds that depend on the image are
 * not supported.
 */
export const clipRule: GradientRule = {
  opType: 'Clip',
  build(ctx: GradientContext): void {
    const dy = ctx.outputGradient(0);
    if (!dy) return;
    if (ctx.needsGradient(1) || ctx.needsGradient(2)) ctx.unsupported('min or max depends on the image');
    if (!ctx.needsGradient(0)) return;
    const { node, graph: g } = ctx;
    const x = ctx.inputs[0];
    let lo: string | undefined;
    let hi: string | undefined;
    if (ctx.opset >= 11) {
      lo = ctx.inputs[1] || undefined;
      hi = ctx.inputs[2] || undefined;
    } else {
      const min = node.attr('min')?.f;
      const max = node.attr('max')?.f;
      lo = min === undefined ? undefined : scalar(g, min);
      hi = max === undefined ? undefined : scalar(g, max);
    }
    const conditions: string[] = [];
    if (lo) conditions.push(g.op('Not', [g.op('Less', [x, lo], [], 'grad_Clip')]));
    if (hi) conditions.push(g.op('Not', [g.op('Greater', [x, hi], [], 'grad_Clip')]));
    if (conditions.length === 0) {
      ctx.accumulate(x, dy);
      return;
    }
    const inside = conditions.length === 2 ? g.op('And', conditions) : conditions[0];
    ctx.accumulate(x, maskWhere(g, ctx.opset, inside, dy));
  },
};
