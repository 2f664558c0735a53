import { attr, Node } from '../../../onnx/ir.js';
import { beginPads, maskWhere, scatterWindows, unsqueeze } from '../ops.js';
import type { GradientContext, GradientRule } from '../registry.js';

/** The Indices output of the node, adding it (by replacing the node) when the model does not use it. */
function indicesOf(ctx: GradientContext): string {
  const { node, graph: g } = ctx;
  if (node.outputs[1] && node.int('storage_order', 0) === 0) return node.outputs[1];
  if (node.outputs[1]) ctx.unsupported('column-major Indices (storage_order = 1) already in use');
  const indices = g.uniqueName(`${node.outputs[0]}_indices`);
  const attributes = node.attributes.filter((a) => a.name !== 'storage_order');
  const replacement = new Node('MaxPool', node.name, node.domain, [...node.inputs], [node.outputs[0], indices], attributes, node.docString);
  const at = g.nodes.indexOf(node);
  if (at < 0) throw new Error(`MaxPool node ${node.name} is not in the graph`);
  g.nodes[at] = replacement;
  return indices;
}

/**
 * MaxPool (2-D): the gradient goes to the element each window picked, ties as the runtime broke
 * them, because we read the picks from MaxPool's own Indices output (opset 8+): the forward node
 * is replaced by one that also returns Indices, so the max is computed once.
 * - Windows that cannot overlap (dilated extent <= stride on both axes, opset 9+): MaxUnpool
 *   scatters d y to the picked positions, exact since no position is picked twice.
 * - Overlapping windows (3x3 stride 2, ...), or opset 8: for each kernel offset t, a mask of the
 *   windows whose pick sits at offset t; a grouped ConvTranspose with a one-hot kernel per offset
 *   then scatter-adds, so positions picked by several windows get the sum. ceil_mode, auto_pad
 *   and dilations only change which index each offset means, fixed from the probed shapes.
 */
export const maxPoolRule: GradientRule = {
  opType: 'MaxPool',
  build(ctx: GradientContext): void {
    const dy = ctx.outputGradient(0);
    if (!dy || !ctx.needsGradient(0)) return;
    const { node, graph: g, opset } = ctx;
    const x = ctx.inputs[0];
    const xShape = ctx.shape(x);
    const yShape = ctx.shape(ctx.outputs[0]);
    if (xShape.length !== 4) ctx.unsupported(`${xShape.length - 2}-D pooling (only 2-D)`);
    if (opset < 8) ctx.unsupported(`opset ${opset} has no Indices output (needs 8)`);
    const kernel = node.ints('kernel_shape');
    if (!kernel || kernel.length !== 2) ctx.unsupported('no 2-D kernel_shape');
    const strides = node.ints('strides') ?? [1, 1];
    const dilations = node.ints('dilations') ?? [1, 1];
    const [, channels, h, w] = xShape;
    const [, , ho, wo] = yShape;
    const extents = kernel.map((k, i) => dilations[i] * (k - 1) + 1);
    const begin = beginPads(node.string('auto_pad', 'NOTSET'), node.ints('pads'), [h, w], [ho, wo], strides, extents);
    const indices = indicesOf(ctx);

    if (opset >= 9 && extents.every((e, i) => e <= strides[i])) {
      // MaxUnpool insists that output_shape is at least the size its attributes imply; end pads
      // bring that down to x's size where ceil_mode windows hang past the end. Indices are
      // absolute, so the pads move nothing.
      const [endH, endW] = [0, 1].map((a) => Math.max(0, (yShape[a + 2] - 1) * strides[a] + kernel[a] - xShape[a + 2]));
      const dx = g.op('MaxUnpool', [dy, indices, g.op('Shape', [x])], [
        attr.ints('kernel_shape', kernel),
        attr.ints('strides', strides),
        attr.ints('pads', [0, 0, endH, endW]),
      ], 'grad_MaxPool');
      ctx.accumulate(x, dx);
      return;
    }

    // Position of each window's pick within its image plane (Indices count over N*C*H*W).
    const plane = g.constantInt64('grad_plane', [], [h * w]);
    const within = g.op('Sub', [indices, g.op('Mul', [g.op('Div', [indices, plane]), plane])], [], 'grad_MaxPool');
    const taps = kernel[0] * kernel[1];
    const expected = new Array<number>(taps * ho * wo);
    for (let i = 0; i < kernel[0]; i++) {
      for (let j = 0; j < kernel[1]; j++) {
        for (let p = 0; p < ho; p++) {
          for (let q = 0; q < wo; q++) {
            const r = p * strides[0] + i * dilations[0] - begin[0];
            const c = q * strides[1] + j * dilations[1] - begin[1];
            const inside = r >= 0 && r < h && c >= 0 && c < w;
            expected[((i * kernel[1] + j) * ho + p) * wo + q] = inside ? r * w + c : -1;
          }
        }
      }
    }
    const offsets = g.constantInt64('grad_pick_offsets', [taps, ho, wo], expected);
    const picked = g.op('Equal', [unsqueeze(g, opset, within, [2]), offsets]);
    const routed = maskWhere(g, opset, picked, unsqueeze(g, opset, dy, [2]));
    const stacked = g.op('Reshape', [routed, g.constantInt64('grad_shape', [4], [0, channels * taps, ho, wo])]);
    // One-hot kernel: input channel c*taps + t writes to its channel c at kernel offset t.
    const oneHot = new Float32Array(channels * taps * taps);
    for (let c = 0; c < channels; c++) for (let t = 0; t < taps; t++) oneHot[(c * taps + t) * taps + t] = 1;
    const weight = g.constantFloat('grad_pick_kernel', [channels * taps, 1, kernel[0], kernel[1]], oneHot);
    const dx = scatterWindows(g, stacked, weight, { kernel, strides, dilations, extents, begin, xShape, yShape, channels }, 'grad_MaxPool');
    ctx.accumulate(x, dx);
  },
};
