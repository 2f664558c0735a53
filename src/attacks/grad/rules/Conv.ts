import { attr } from '../../../onnx/ir.js';
import { beginPads, reduceSum, scatterGeometry } from '../ops.js';
import type { GradientContext, GradientRule } from '../registry.js';

/**
 * Conv: d x = ConvTranspose(d y, W) with the same weights, group, strides and dilations, and
 * pads/output_padding chosen so its output is exactly x's spatial size (auto_pad resolved from
 * the probed shapes first); at stride 1 with constant weights, the equivalent Conv with flipped
 * weights instead (faster). The weights are constants for the gradient; a bias that depends on
 * the image gets the sum of d y over all axes but the channels.
 */
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
      const weights = ctx.constantFloats(ctx.inputs[1]);
      const correlation = weights && strides.every((s) => s === 1) && begin.every((p, i) => p <= extents[i] - 1 && geometry[i].padEnd <= extents[i] - 1);
      if (correlation) {
        ctx.accumulate(ctx.inputs[0], correlationGradient(ctx, dy, weights, wShape, group, dilations, begin, geometry.map((q) => q.padEnd), extents));
        return bias(ctx, dy, spatial);
      }
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
    bias(ctx, dy, spatial);
  },
};

/** A bias that depends on the image gets d y summed over every axis but the channels. */
function bias(ctx: GradientContext, dy: string, spatial: number): void {
  if (!ctx.inputs[2] || !ctx.needsGradient(2)) return;
  const axes = [0, ...Array.from({ length: spatial }, (_, i) => i + 2)];
  ctx.accumulate(ctx.inputs[2], reduceSum(ctx.graph, ctx.opset, dy, axes, false));
}

/**
 * Stride 1 with constant weights: d x is the correlation of d y with the weights flipped in
 * space and with input/output channels swapped per group, padded by (extent - 1 - pad). The
 * same numbers as the ConvTranspose, but run by the runtime's Conv kernels, which are much
 * faster (ConvTranspose is a GEMM plus col2im); the weights are rearranged here, once.
 */
function correlationGradient(
  ctx: GradientContext,
  dy: string,
  w: Float32Array,
  wShape: readonly number[],
  group: number,
  dilations: readonly number[],
  padBegin: readonly number[],
  padEnd: readonly number[],
  extents: readonly number[],
): string {
  const [m, cg, ...kernel] = wShape;
  const mg = m / group;
  const taps = kernel.reduce((a, b) => a * b, 1);
  const flipped = new Float32Array(w.length);
  // W [M, C/g, k...] -> W' [C, M/g, k...]: W'[gi*Cg + c, o, t] = W[gi*Mg + o, c, taps-1-t].
  for (let gi = 0; gi < group; gi++) {
    for (let o = 0; o < mg; o++) {
      for (let c = 0; c < cg; c++) {
        const src = ((gi * mg + o) * cg + c) * taps;
        const dst = ((gi * cg + c) * mg + o) * taps;
        for (let t = 0; t < taps; t++) flipped[dst + t] = w[src + taps - 1 - t];
      }
    }
  }
  const weight = ctx.graph.constantFloat('grad_conv_flipped', [cg * group, mg, ...kernel], flipped);
  return ctx.graph.op('Conv', [dy, weight], [
    attr.ints('kernel_shape', kernel),
    attr.ints('dilations', dilations),
    attr.int('group', group),
    attr.ints('pads', [...padBegin.map((p, i) => extents[i] - 1 - p), ...padEnd.map((p, i) => extents[i] - 1 - p)]),
  ], 'grad_Conv');
}
