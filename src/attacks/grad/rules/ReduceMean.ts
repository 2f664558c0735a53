import type { GradientContext, GradientRule } from '../registry.js';
import { reductionGradient } from './reduction.js';

/** ReduceMean: d x = d y / count broadcast over the reduced axes (axes an input from opset 18). */
export const reduceMeanRule: GradientRule = {
  opType: 'ReduceMean',
  build(ctx: GradientContext): void {
    reductionGradient(ctx, 18, true);
  },
};
