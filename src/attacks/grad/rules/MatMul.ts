import { attr, Graph } from '../../../onnx/ir.js';
import { unbroadcast } from '../ops.js';
import type { GradientContext, GradientRule } from '../registry.js';

/** Swaps the last two axes. */
function transposeLast2(g: Graph, x: string, rank: number): string {
  const perm = Array.from({ length: rank }, (_, i) => i);
  perm[rank - 2] = rank - 1;
  perm[rank - 1] = rank - 2;
  return g.op('Transpose', [x], [attr.ints('perm', perm)]);
}

/**
 * MatMul (numpy semantics, rank >= 2 on both sides): d A = dY B^T and d B = A^T dY over the last
 * two axes, summed over batch axes the operand was broadcast along.
 */
export const matMulRule: GradientRule = {
  opType: 'MatMul',
  build(ctx: GradientContext): void {
    const dy = ctx.outputGradient(0);
    if (!dy) return;
    const g = ctx.graph;
    const [a, b] = ctx.inputs;
    const aShape = ctx.shape(a);
    const bShape = ctx.shape(b);
    const yShape = ctx.shape(ctx.outputs[0]);
    if (aShape.length < 2 || bShape.length < 2) ctx.unsupported('1-D operands (vector products)');
    const batch = yShape.slice(0, -2);
    if (ctx.needsGradient(0)) {
      const dA = g.op('MatMul', [dy, transposeLast2(g, b, bShape.length)], [], 'grad_MatMul');
      const dAShape = [...batch, aShape[aShape.length - 2], aShape[aShape.length - 1]];
      ctx.accumulate(a, unbroadcast(g, ctx.opset, dA, dAShape, aShape, a));
    }
    if (ctx.needsGradient(1)) {
      const dB = g.op('MatMul', [transposeLast2(g, a, aShape.length), dy], [], 'grad_MatMul');
      const dBShape = [...batch, bShape[bShape.length - 2], bShape[bShape.length - 1]];
      ctx.accumulate(b, unbroadcast(g, ctx.opset, dB, dBShape, bShape, b));
    }
  },
};
