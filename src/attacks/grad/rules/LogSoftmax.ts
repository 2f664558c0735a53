import { reduceSum } from '../ops.js';
import type { GradientContext, GradientRule } from '../registry.js';
import { softmaxAxes } from './Softmax.js';

/** LogSoftmax: d x = d y - exp(y) * sum(d y) over the softmax axes (axis semantics as Softmax). */
export const logSoftmaxRule: GradientRule = {
  opType: 'LogSoftmax',
  build(ctx: GradientContext): void {
    const dy = ctx.outputGradient(0);
    if (!dy || !ctx.needsGradient(0)) return;
    const g = ctx.graph;
    const total = reduceSum(g, ctx.opset, dy, softmaxAxes(ctx), true);
    const probabilities = g.op('Exp', [ctx.outputs[0]], [], 'grad_LogSoftmax');
    ctx.accumulate(ctx.inputs[0], g.op('Sub', [dy, g.op('Mul', [probabilities, total])]));
  },
};
