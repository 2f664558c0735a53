import type { GradientContext, GradientRule } from '../registry.js';
import { reductionGradient } from './reduction.js';

/** ReduceSum: d x = d y broadcast over the reduced axes (axes an input from opset 13). */
export const reduceSumRule: GradientRule = {
  opType: 'ReduceSum',
  build(ctx: GradientContext): void {
    reductionGradient(ctx, 13, false);
  },
};
