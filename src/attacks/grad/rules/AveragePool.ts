import { Graph, Node } from '../../../onnx/ir.js';
import { beginPads, scalar, scatterWindows } from '../ops.js';
import type { GradientContext, GradientRule } from '../registry.js';

/** Input positions a window covers on one axis, for output positions 0..outSize-1. */
function coverage(inSize: number, outSize: number, kernel: number, stride: number, dilation: number, begin: number): number[] {
  return Array.from({ length: outSize }, (_, p) => {
    let n = 0;
    for (let i = 0; i < kernel; i++) {
      const r = p * stride + i * dilation - begin;
      if (r >= 0 && r < inSize) n++;
    }
    return n;
  });
}

/** 1/divisor per output position as a [1,1,Ho,Wo] value, or a scalar when every window is whole. */
function divisorFactor(g: Graph, node: Node, sizes: { h: number; w: number; ho: number; wo: number }, rows: number[], cols: number[], kernel: readonly number[]): string {
  // Whole windows everywhere: the divisor is the kernel size whatever count_include_pad says.
  if (rows.every((r) => r === kernel[0]) && cols.every((c) => c === kernel[1])) return scalar(g, 1 / (kernel[0] * kernel[1]));
  const ones = g.constantFloat('grad_ones', [1, 1, sizes.h, sizes.w], new Float32Array(sizes.h * sizes.w).fill(1));
  const pooled = g.op('AveragePool', [ones], node.attributes, 'grad_AveragePool');
  const inverseCount = new Float32Array(sizes.ho * sizes.wo);
  for (let p = 0; p < sizes.ho; p++) for (let q = 0; q < sizes.wo; q++) inverseCount[p * sizes.wo + q] = rows[p] * cols[q] > 0 ? 1 / (rows[p] * cols[q]) : 0;
  return g.op('Mul', [pooled, g.constantFloat('grad_inverse_count', [1, 1, sizes.ho, sizes.wo], inverseCount)]);
}

/**
 * AveragePool (2-D): d x = ConvTranspose(d y * weight, ones kernel per channel, group = C), the
 * adjoint of "sum the window, divide by its divisor". The divisor per output position is the
 * runtime's own: where windows touch padding or hang past the end (count_include_pad, ceil_mode)
 * the per-position factor 1/divisor = AveragePool(ones)/realCount, with AveragePool(ones) run by
 * the same node attributes on a constant (folded when the session loads) and realCount the
 * number of input positions the window covers, counted here.
 */
export const averagePoolRule: GradientRule = {
  opType: 'AveragePool',
  build(ctx: GradientContext): void {
    const dy = ctx.outputGradient(0);
    if (!dy || !ctx.needsGradient(0)) return;
    const { node, graph: g } = ctx;
    const x = ctx.inputs[0];
    const xShape = ctx.shape(x);
    const yShape = ctx.shape(ctx.outputs[0]);
    if (xShape.length !== 4) ctx.unsupported(`${xShape.length - 2}-D pooling (only 2-D)`);
    const kernel = node.ints('kernel_shape');
    if (!kernel || kernel.length !== 2) ctx.unsupported('no 2-D kernel_shape');
    const strides = node.ints('strides') ?? [1, 1];
    const dilations = node.ints('dilations') ?? [1, 1];
    const [, channels, h, w] = xShape;
    const [, , ho, wo] = yShape;
    const extents = kernel.map((k, i) => dilations[i] * (k - 1) + 1);
    const begin = beginPads(node.string('auto_pad', 'NOTSET'), node.ints('pads'), [h, w], [ho, wo], strides, extents);
    const rows = coverage(h, ho, kernel[0], strides[0], dilations[0], begin[0]);
    const cols = coverage(w, wo, kernel[1], strides[1], dilations[1], begin[1]);
    const factor = divisorFactor(g, node, { h, w, ho, wo }, rows, cols, kernel);
    const weighted = g.op('Mul', [dy, factor], [], 'grad_AveragePool');
    const ones = g.constantFloat('grad_window', [channels, 1, kernel[0], kernel[1]], new Float32Array(channels * kernel[0] * kernel[1]).fill(1));
    const dx = scatterWindows(g, weighted, ones, { kernel, strides, dilations, extents, begin, xShape, yShape, channels }, 'grad_AveragePool');
    ctx.accumulate(x, dx);
  },
};
