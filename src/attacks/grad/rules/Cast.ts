import { DataType } from '../../../onnx/schema.js';
import type { GradientContext, GradientRule } from '../registry.js';

// The `to` attribute is a plain number; compare it with the enum's value as a number.
const FLOAT: number = DataType.FLOAT;

/**
 * Cast to float32 of a float32 value: the identity. Casts to integer or bool types cut the
 * gradient before any rule runs (see differentiableOutput); other float types (mixed precision)
 * are not supported, since the backward pass would need their types.
 */
export const castRule: GradientRule = {
  opType: 'Cast',
  build(ctx: GradientContext): void {
    const dy = ctx.outputGradient(0);
    if (!dy || !ctx.needsGradient(0)) return;
    const to = ctx.node.int('to', DataType.UNDEFINED);
    if (to !== FLOAT) ctx.unsupported(`cast to data type ${to} (mixed precision)`);
    const producer = ctx.graph.producers().get(ctx.inputs[0]);
    if (producer?.opType === 'Cast' && producer.int('to', FLOAT) !== FLOAT) {
      ctx.unsupported(`cast back to float32 from data type ${producer.int('to', 0)} (mixed precision)`);
    }
    ctx.accumulate(ctx.inputs[0], dy);
  },
};
