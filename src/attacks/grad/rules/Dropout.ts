import type { GradientContext, GradientRule } from '../registry.js';

/**
 * Dropout at inference is the identity: d x = d y. From opset 12 a `training_mode` input may
 * switch it on; a constant false (or none) is fine, anything else makes the model random.
 */
export const dropoutRule: GradientRule = {
  opType: 'Dropout',
  build(ctx: GradientContext): void {
    const dy = ctx.outputGradient(0);
    if (!dy || !ctx.needsGradient(0)) return;
    const training = ctx.opset >= 12 ? ctx.inputs[2] : undefined;
    if (training) {
      const value = ctx.constantInts(training);
      if (!value || value.some((v) => v !== 0)) ctx.unsupported('training_mode may be true (random masks)');
    }
    ctx.accumulate(ctx.inputs[0], dy);
  },
};
