import { attr } from '../../../onnx/ir.js';
import { DataType } from '../../../onnx/schema.js';
import { reduceSum, unsqueeze } from '../ops.js';
import type { GradientContext, GradientRule } from '../registry.js';
import { reducedAxes } from './reduction.js';

/**
 * ReduceMax (axes an input from opset 18): d y goes to the positions that hold the maximum,
 * split evenly among ties (as torch.amax). x == max is tested as not(x < max): Equal takes
 * floats only from opset 11, Less from 7.
 */
export const reduceMaxRule: GradientRule = {
  opType: 'ReduceMax',
  build(ctx: GradientContext): void {
    const dy = ctx.outputGradient(0);
    if (!dy || !ctx.needsGradient(0)) return;
    const { graph: g, opset } = ctx;
    const x = ctx.inputs[0];
    const axes = reducedAxes(ctx, ctx.shape(x).length, 18);
    if (axes === null) {
      ctx.accumulate(x, dy);
      return;
    }
    const keep = ctx.node.int('keepdims', 1) === 1;
    const y = keep ? ctx.outputs[0] : unsqueeze(g, opset, ctx.outputs[0], axes);
    const grad = keep ? dy : unsqueeze(g, opset, dy, axes);
    const atMax = g.op('Cast', [g.op('Not', [g.op('Less', [x, y], [], 'grad_ReduceMax')])], [attr.int('to', DataType.FLOAT)]);
    const share = g.op('Div', [grad, reduceSum(g, opset, atMax, axes, true)]);
    ctx.accumulate(x, g.op('Mul', [atMax, share], [], 'grad_ReduceMax'));
  },
};
