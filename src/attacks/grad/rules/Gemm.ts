import { attr, Graph } from '../../../onnx/ir.js';
import { scalar, unbroadcast } from '../ops.js';
import type { GradientContext, GradientRule } from '../registry.js';

function transpose(g: Graph, x: string): string {
  return g.op('Transpose', [x], [attr.ints('perm', [1, 0])]);
}

function scaled(g: Graph, x: string, factor: number): string {
  return factor === 1 ? x : g.op('Mul', [x, scalar(g, factor)]);
}

/**
 * Gemm: Y = alpha * A' B' + beta * C with A' = transA ? A^T : A (likewise B'). Built from MatMul
 * and Transpose rather than Gemm, because Gemm requires C before opset 11; transposes of
 * constant weights are folded by ONNX Runtime when the session loads.
 */
export const gemmRule: GradientRule = {
  opType: 'Gemm',
  build(ctx: GradientContext): void {
    const dy = ctx.outputGradient(0);
    if (!dy) return;
    const { node, graph: g } = ctx;
    const [a, b, c] = ctx.inputs;
    const transA = node.int('transA', 0) === 1;
    const transB = node.int('transB', 0) === 1;
    const alpha = node.attr('alpha')?.f ?? 1;
    const beta = node.attr('beta')?.f ?? 1;
    if (ctx.needsGradient(0)) {
      // d A' = alpha * dY B'^T, and B'^T is B itself when transB.
      const bT = transB ? b : transpose(g, b);
      let dA = g.op('MatMul', [dy, bT], [], 'grad_Gemm');
      if (transA) dA = transpose(g, dA);
      ctx.accumulate(a, scaled(g, dA, alpha));
    }
    if (ctx.needsGradient(1)) {
      // d B' = alpha * A'^T dY, and A'^T is A itself when transA.
      const aT = transA ? a : transpose(g, a);
      let dB = g.op('MatMul', [aT, dy], [], 'grad_Gemm');
      if (transB) dB = transpose(g, dB);
      ctx.accumulate(b, scaled(g, dB, alpha));
    }
    if (c && ctx.needsGradient(2)) {
      const dC = unbroadcast(g, ctx.opset, dy, ctx.shape(ctx.outputs[0]), ctx.shape(c), c);
      ctx.accumulate(c, scaled(g, dC, beta));
    }
  },
};
