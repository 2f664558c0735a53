import type { Graph } from '../../../onnx/ir.js';
import { attr } from '../../../onnx/ir.js';
import { maskWhere, scalar } from '../ops.js';
import type { GradientContext, GradientRule } from '../registry.js';

/**
 * Relu: d x = d y where y > 0 (0 at x = 0, as PyTorch). On NCHW maps whose channels fill ONNX
 * Runtime's blocked NCHWc layout (16 or 8 channels a block), as d y times a mask from per-channel
 * Convs, which that layout keeps, instead of Greater and Where, which need the maps reordered to
 * NCHW and back around them.
 */
export const reluRule: GradientRule = {
  opType: 'Relu',
  build(ctx: GradientContext): void {
    const dy = ctx.outputGradient(0);
    if (!dy || !ctx.needsGradient(0)) return;
    const g = ctx.graph;
    const y = ctx.outputs[0];
    const shape = ctx.shape(y);
    if (shape.length === 4 && shape[1] % 16 === 0) {
      ctx.accumulate(ctx.inputs[0], g.op('Mul', [dy, positiveMask(g, y, shape[1])]));
      return;
    }
    const positive = g.op('Greater', [y, scalar(g, 0)], [], 'grad_Relu');
    ctx.accumulate(ctx.inputs[0], maskWhere(g, ctx.opset, positive, dy));
  },
};

const HUGE = 2 ** 127;

/**
 * 1 where y > 0, else 0, for NCHW maps y >= 0 with `channels` channels: a per-channel 1x1 Conv
 * scales y by 2^127 and a HardSigmoid (alpha 2^127, beta 0; ONNX Runtime fuses it into the Conv)
 * by 2^127 again and clips to [0, 1]. The product is 0 for y = 0 and at least 2^105 for the
 * smallest positive float (infinite for large y), so the clip gives the mask exactly.
 */
export function positiveMask(g: Graph, y: string, channels: number): string {
  const weight = g.constantFloat('grad_relu_scale', [channels, 1, 1, 1], new Float32Array(channels).fill(HUGE));
  const scaled = g.op('Conv', [y, weight], [attr.ints('kernel_shape', [1, 1]), attr.int('group', channels)], 'grad_Relu');
  return g.op('HardSigmoid', [scaled], [attr.float('alpha', HUGE), attr.float('beta', 0)], 'grad_Relu');
}
