/**
 * Conv: d x = ConvTranspose(d y, W) with the same weights, group, strides and dilations, and
 * pads/output_padding chosen so its output is exactly x's spatial size (auto_pad resolved from
 * the probed shapes first). The weights are constants for the gradient; a bias that depends on
 * the image gets the sum of d y over all axes but the channels.
 */
import { attr } from '../../../onnx/ir.js';
import { beginPads, reduceSum, scatterGeometry } from '../ops.js';
import type { GradientContext, GradientRule } from '../registry.js';

export const convRule: GradientRule = {
  opType: 'Conv',
  build(ctx: GradientContext): void {
    const dy = ctx.outputGradient(0);
    if (!dy) return;
    const { node, graph: g } = ctx;
    if (ctx.needsGradient(1)) ctx.unsupported('the weights depend on the image');
    const xShape = ctx.shape(ctx.inputs[0]);
    const yShape = ctx.shape(ctx.outputs[0]);
    const wShape = ctx.shape(ctx.inputs[1]);
    const spatial = xShape.length - 2;
    if (spatial < 1) ctx.unsupported(`input of rank ${xShape.length}`);
    const kernel = node.ints('kernel_shape') ?? wShape.slice(2);
    const strides = node.ints('strides') ?? new Array<number>(spatial).fill(1);
    const dilations = node.ints('dilations') ?? new Array<number>(spatial).fill(1);
    const group = node.int('group', 1);
    const inSizes = xShape.slice(2);
    const outSizes = yShape.slice(2);
    const extents = kernel.map((k, i) => dilations[i] * (k - 1) + 1);
    const begin = beginPads(node.string('auto_pad', 'NOTSET'), node.ints('pads'), inSizes, outSizes, strides, extents);
    const geometry = inSizes.map((size, i) => scatterGeometry(size, outSizes[i], strides[i], extents[i], begin[i]));

    if (ctx.needsGradient(0)) {
      const dx = g.op('ConvTranspose', [dy, ctx.inputs[1]], [
        attr.ints('kernel_shape', kernel),
        attr.ints('strides', strides),
        attr.ints('dilations', dilations),
        attr.int('group', group),
        attr.ints('pads', [...geometry.map((q) => q.padBegin), ...geometry.map((q) => q.padEnd)]),
        attr.ints('output_padding', geometry.map((q) => q.outputPadding)),
      ], 'grad_Conv');
      ctx.accumulate(ctx.inputs[0], dx);
    }
    if (ctx.inputs[2] && ctx.needsGradient(2)) {
      const axes = [0, ...Array.from({ length: spatial }, (_, i) => i + 2)];
      ctx.accumulate(ctx.inputs[2], reduceSum(g, ctx.opset, dy, axes, false));
    }
  },
};
