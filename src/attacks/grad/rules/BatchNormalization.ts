import { reshape } from '../../../onnx/builders.js';
import { attr } from '../../../onnx/ir.js';
import { scalar } from '../ops.js';
import type { GradientContext, GradientRule } from '../registry.js';

/**
 * BatchNormalization in inference mode: y = (x - mean) / sqrt(var + eps) * scale + B, so
 * d x = d y * scale / sqrt(var + eps) per channel (axis 1). The factor is built from the
 * model's own tensors; ONNX Runtime folds it to a constant when they are initializers.
 * Training mode (batch statistics) and the old per-activation `spatial = 0` are not supported;
 * the optional statistics outputs carry no gradient (see differentiableOutput).
 */
export const batchNormalizationRule: GradientRule = {
  opType: 'BatchNormalization',
  build(ctx: GradientContext): void {
    const dy = ctx.outputGradient(0);
    const { node, graph: g } = ctx;
    if (!dy) return;
    if (node.int('training_mode', 0) === 1) ctx.unsupported('training_mode = 1 (batch statistics)');
    if (node.int('spatial', 1) === 0) ctx.unsupported('spatial = 0 (per-activation statistics)');
    if ([1, 2, 3, 4].some((i) => ctx.needsGradient(i))) ctx.unsupported('scale, bias, mean or variance depends on the image');
    if (!ctx.needsGradient(0)) return;
    const [x, scale, , , variance] = ctx.inputs;
    const rank = ctx.shape(x).length;
    const eps = node.attr('epsilon')?.f ?? 1e-5;
    let factor = g.op('Div', [scale, g.op('Sqrt', [g.op('Add', [variance, scalar(g, eps)])])], [], 'grad_BatchNormalization');
    const channels = ctx.shape(x)[1];
    if (rank === 4 && channels % 16 === 0) {
      // as a per-channel 1x1 Conv, which ONNX Runtime keeps in its blocked layout (see Relu)
      const weight = reshape(g, factor, [-1, 1, 1, 1]);
      ctx.accumulate(x, g.op('Conv', [dy, weight], [attr.ints('kernel_shape', [1, 1]), attr.int('group', channels)], 'grad_BatchNormalization'));
      return;
    }
    // Per channel on axis 1: shape [C, 1, ..., 1] broadcasts against [N, C, ...].
    if (rank > 2) factor = reshape(g, factor, [-1, ...new Array<number>(rank - 2).fill(1)]);
    ctx.accumulate(x, g.op('Mul', [dy, factor]));
  },
};
