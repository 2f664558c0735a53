import { maskWhere, reduceSum, unsqueeze } from '../ops.js';
import type { GradientContext, GradientRule } from '../registry.js';

/**
 * TopK: each of the k picked values passes its gradient back to the position it came from,
 * read from the node's own Indices output (ties go where the runtime put them). With the k
 * axis unsqueezed next to it, Equal(indices, 0..n-1) is a one-hot [.., k, n, ..] routing mask;
 * summing over k scatters d values onto x. k is an attribute before opset 10 and an input from
 * 10; the rule does not need it (it is the size of the Indices axis). `largest` and `sorted`
 * (opset 11) only change which positions are picked, which the indices already say.
 */
export const topKRule: GradientRule = {
  opType: 'TopK',
  build(ctx: GradientContext): void {
    const dy = ctx.outputGradient(0);
    if (!dy || !ctx.needsGradient(0)) return;
    const { node, graph: g, opset } = ctx;
    const x = ctx.inputs[0];
    const indices = ctx.outputs[1];
    if (!indices) ctx.unsupported('no Indices output');
    const xShape = ctx.shape(x);
    const rank = xShape.length;
    const axis = node.int('axis', -1) < 0 ? node.int('axis', -1) + rank : node.int('axis', -1);
    if (axis < 0 || axis >= rank) ctx.unsupported(`axis out of range for rank ${rank}`);
    if (axis === 0) ctx.unsupported('top-k over the batch axis');
    const n = xShape[axis];
    const dims = new Array<number>(rank + 1).fill(1);
    dims[axis + 1] = n;
    const positions = g.constantInt64('grad_topk_positions', dims, Array.from({ length: n }, (_, i) => i));
    const picked = g.op('Equal', [unsqueeze(g, opset, indices, [axis + 1]), positions], [], 'grad_TopK');
    const routed = maskWhere(g, opset, picked, unsqueeze(g, opset, dy, [axis + 1]));
    ctx.accumulate(x, reduceSum(g, opset, routed, [axis], false));
  },
};
