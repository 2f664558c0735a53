import { attr } from '../../../onnx/ir.js';
import { inversePermutation } from '../ops.js';
import type { GradientContext, GradientRule } from '../registry.js';

/** Transpose: d x = Transpose(d y) with the inverse permutation (default perm reverses the axes). */
export const transposeRule: GradientRule = {
  opType: 'Transpose',
  build(ctx: GradientContext): void {
    const dy = ctx.outputGradient(0);
    if (!dy || !ctx.needsGradient(0)) return;
    const rank = ctx.shape(ctx.inputs[0]).length;
    const perm = ctx.node.ints('perm') ?? Array.from({ length: rank }, (_, i) => rank - 1 - i);
    const dx = ctx.graph.op('Transpose', [dy], [attr.ints('perm', inversePermutation(perm))], 'grad_Transpose');
    ctx.accumulate(ctx.inputs[0], dx);
  },
};
