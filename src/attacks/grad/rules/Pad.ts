import { padZeros, slice, SLICE_TO_END } from '../ops.js';
import type { GradientContext, GradientRule } from '../registry.js';

/** [begin..., end...] over all axes of x. */
function fullPads(ctx: GradientContext, rank: number): number[] {
  if (ctx.opset < 11) {
    const pads = ctx.node.ints('pads');
    if (!pads) ctx.unsupported('no pads attribute');
    return [...pads];
  }
  const pads = ctx.constantInts(ctx.inputs[1]);
  if (!pads) ctx.unsupported('pads computed at run time');
  const axesInput = ctx.opset >= 18 ? ctx.inputs[3] : undefined;
  if (!axesInput) return pads;
  const axes = ctx.constantInts(axesInput);
  if (!axes) ctx.unsupported('axes computed at run time');
  const full = new Array<number>(2 * rank).fill(0);
  axes.forEach((a, i) => {
    const axis = a < 0 ? a + rank : a;
    full[axis] = pads[i];
    full[axis + rank] = pads[i + axes.length];
  });
  return full;
}

/**
 * Pad (constant mode): d x = d y with the padding cut off again; negative pads (crops) become
 * zero padding of d y. Pads are an attribute before opset 11 and a constant input from 11 (with
 * optional axes from 18). Slices use bounds relative to the end, so any batch size works.
 * reflect/edge/wrap modes are not supported.
 */
export const padRule: GradientRule = {
  opType: 'Pad',
  build(ctx: GradientContext): void {
    const dy = ctx.outputGradient(0);
    if (!dy) return;
    const mode = ctx.node.string('mode', 'constant');
    if (mode !== 'constant') ctx.unsupported(`mode ${mode}`);
    if (ctx.inputs.slice(1).some((_, i) => ctx.needsGradient(i + 1))) ctx.unsupported('pads or the pad value depends on the image');
    if (!ctx.needsGradient(0)) return;
    const g = ctx.graph;
    const rank = ctx.shape(ctx.inputs[0]).length;
    const pads = fullPads(ctx, rank);
    let grad = dy;
    const crops = pads.map((p) => Math.max(-p, 0));
    if (crops.some((c) => c > 0)) grad = padZeros(g, ctx.opset, grad, crops);
    const axes: number[] = [];
    const starts: number[] = [];
    const ends: number[] = [];
    for (let a = 0; a < rank; a++) {
      const begin = Math.max(pads[a], 0);
      const end = Math.max(pads[a + rank], 0);
      if (begin === 0 && end === 0) continue;
      axes.push(a);
      starts.push(begin);
      ends.push(end > 0 ? -end : SLICE_TO_END);
    }
    if (axes.length) grad = slice(g, ctx.opset, grad, starts, ends, axes);
    ctx.accumulate(ctx.inputs[0], grad);
  },
};
