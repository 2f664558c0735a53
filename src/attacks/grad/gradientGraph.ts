/**
 * The gradient graph (SPEC §4): the model itself, fed pixels in [0,1] (NCHW) and one-hot labels,
 * with the preprocessing and layout transpose in front, the cross-entropy loss behind, and the
 * reverse-mode backward pass from the loss to the pixels. ONNX Runtime runs it like the model,
 * in the model's own opset.
 */
import { reduce, reshape } from '../../onnx/builders.js';
import { editableModel, encodeModel } from '../../onnx/codec.js';
import { attr, defaultOpset, Dim, Graph, Model, Node } from '../../onnx/ir.js';
import { DataType } from '../../onnx/schema.js';
import type { Layout, Preprocessing } from '../../data/preprocess.js';
import { buildBackward } from './backward.js';
import { addDlrLoss, LossKind } from './losses.js';
import { MIN_OPSET, scalar } from './ops.js';
import { GRADIENT_REGISTRY, ShapeTable, UnsupportedGradient } from './registry.js';
import { imageInput } from './shapes.js';

export interface GradientSpec {
  /** Layout of the model's image input; pixels are always fed NCHW. */
  layout: Layout;
  /** `(x*scale - mean) / std` per channel, applied in the graph. */
  preprocessing: Pick<Preprocessing, 'mean' | 'std' | 'scale'>;
  /** Shapes of the model's values, from {@link probeShapes}. */
  shapes: ShapeTable;
  /** The output to attack (default: the model's first output). */
  output?: string;
  /** The loss behind the logits (default `ce`); see losses.ts. */
  loss?: LossKind;
}

/**
 * `logits`: the loss reads the model's output as logits. `softmax`: the output is a Softmax over
 * the classes; the loss -log p_y is then evaluated on that Softmax's input z (the same value,
 * -log softmax(z)_y, but stable), so its gradient is what the Softmax rule gives analytically
 * (p - onehot at z) without dividing by p, which would vanish or overflow where p_y underflows.
 * Evaluations of such models should still be flagged (SPEC §4). A LogSoftmax output counts as
 * logits: cross-entropy on log-probabilities is -log p_y exactly.
 */
export type OutputKind = 'logits' | 'softmax';

export interface GradientModel {
  /** The graph encoded (on first read). */
  readonly bytes: Uint8Array;
  /** The graph itself, for a caller that extends it before encoding. */
  model: Model;
  inputs: {
    /** float [B,3,H,W] in [0,1], NCHW whatever the model's layout. */
    pixels: string;
    /**
     * float [B,K]: one-hot rows (any non-negative weights for `ce`; one-hot or all-zero for
     * `dlr`; an all-zero row adds nothing, e.g. padding).
     */
    labels: string;
    /** float [B,K]: one-hot target rows, for the `dlr-targeted` loss only. */
    targets?: string;
  };
  outputs: {
    /** [B,K]: what the loss reads (for a `softmax` model the Softmax's input; argmax unchanged). */
    logits: string;
    /** Scalar: sum over the batch of the losses. */
    loss: string;
    /** [B]: loss per image. */
    losses: string;
    /** [B,3,H,W]: d loss / d pixels. */
    gradient: string;
  };
  outputKind: OutputKind;
  loss: LossKind;
  /** K, the number of classes (columns of the logits). */
  classes: number;
  /** Declared pixel input shape: the model's batch (fixed or symbolic), 3, H, W. */
  pixelShape: readonly Dim[];
  /** The model's fixed batch size, or null when any batch size runs. */
  fixedBatch: number | null;
  opset: number;
}

const IDENTITY_PRE = (p: GradientSpec['preprocessing']): boolean =>
  p.scale === 1 && p.mean.every((m) => m === 0) && p.std.every((s) => s === 1);

/**
 * Builds the gradient model of an ONNX classifier.
 *
 * @throws UnsupportedGradient when an op on the path from the image to the output has no exact
 *   gradient rule (the caller falls back to a black-box attack), or the opset is below 7.
 * @throws ModelError when the model has not exactly one non-weight input.
 */
export function buildGradientModel(source: Uint8Array | Model, spec: GradientSpec): GradientModel {
  const model = editableModel(source);
  const opset = defaultOpset(model);
  if (opset < MIN_OPSET) throw new UnsupportedGradient('opset', `opset ${opset} is older than ${MIN_OPSET}`);
  const g = model.graph;
  const image = imageInput(g);
  const shapes = new Map(spec.shapes);
  const imageDims = image.shape ?? shapes.get(image.name) ?? [];
  const pixelShape = spec.layout === 'NHWC' ? [imageDims[0], imageDims[3], imageDims[1], imageDims[2]] : [...imageDims];
  const batchDim = pixelShape[0] ?? 'N';
  const fixedBatch = typeof batchDim === 'number' && batchDim > 0 ? batchDim : null;

  const pixels = g.uniqueName('pixels');
  const labels = g.uniqueName('labels');
  g.inputs = g.inputs.filter((i) => i !== image);
  g.inputs.push({ name: pixels, elemType: DataType.FLOAT, shape: pixelShape });
  addPreprocessing(g, pixels, image.name, spec);

  const out = spec.output ?? g.outputs[0]?.name;
  if (!out) throw new UnsupportedGradient('model', 'the model has no output');
  const { logits, outputKind } = lossInput(g, out, opset, shapes);
  const logitsShape = shapes.get(logits);
  if (!logitsShape) throw new UnsupportedGradient('model', `shape of the output "${out}" unknown (not in the shape probe)`);
  const classes = logitsShape[1];
  g.inputs.push({ name: labels, elemType: DataType.FLOAT, shape: [batchDim, classes] });

  const lossKind = spec.loss ?? 'ce';
  let targets: string | undefined;
  if (lossKind === 'dlr-targeted') {
    targets = g.uniqueName('targets');
    g.inputs.push({ name: targets, elemType: DataType.FLOAT, shape: [batchDim, classes] });
  }
  let loss: { total: string; perImage: string };
  let backwardFrom: { target: string; seed: string };
  if (lossKind === 'ce') {
    const ce = addLoss(g, opset, logits, labels);
    loss = ce;
    backwardFrom = { target: logits, seed: ce.seed };
  } else {
    // The DLR losses are differentiated by the rules, from d total / d total = 1.
    loss = addDlrLoss(g, opset, logits, labels, targets, shapes, logitsShape[0], classes);
    backwardFrom = { target: loss.total, seed: scalar(g, 1, 'loss_seed') };
  }
  g.toposort();
  const imageGrad = buildBackward({ graph: g, opset, source: image.name, ...backwardFrom, shapes, registry: GRADIENT_REGISTRY });
  const gradient = pixelGradient(g, imageGrad, pixels, spec);

  const names = {
    loss: g.addNode({ opType: 'Identity', inputs: [loss.total], outputs: ['loss'] }).outputs[0],
    losses: g.addNode({ opType: 'Identity', inputs: [loss.perImage], outputs: ['losses'] }).outputs[0],
    gradient: g.addNode({ opType: 'Identity', inputs: [gradient], outputs: ['gradient'] }).outputs[0],
  };
  const kept = g.outputs.find((o) => o.name === logits);
  g.outputs = [kept ?? { name: logits, elemType: DataType.FLOAT }];
  for (const name of Object.values(names)) g.addOutput(name);
  g.cleanup().toposort();
  let bytes: Uint8Array | undefined;
  return {
    // Encoded on first use: a caller that extends the graph (the PGD step) encodes its own once.
    get bytes() {
      bytes ??= encodeModel(model);
      return bytes;
    },
    model,
    inputs: targets ? { pixels, labels, targets } : { pixels, labels },
    outputs: { logits, ...names },
    outputKind,
    loss: lossKind,
    classes,
    pixelShape,
    fixedBatch,
    opset,
  };
}

/**
 * pixels -> (x*scale - mean)/std -> [NHWC transpose] -> the model's input name. Float32 Mul,
 * Sub and Div in this order: the steps of normalisedPixel (data/preprocess.ts), bit for bit.
 */
function addPreprocessing(g: Graph, pixels: string, imageName: string, spec: GradientSpec): void {
  const p = spec.preprocessing;
  let v = pixels;
  if (!IDENTITY_PRE(p)) {
    if (spec.shapes.get(imageName)?.length !== 4) throw new Error('per-channel preprocessing needs a 4-D image input');
    const channel = (values: readonly number[], name: string): string => g.constantFloat(name, [1, 3, 1, 1], Float32Array.from(values));
    if (p.scale !== 1) v = g.op('Mul', [v, g.constantFloat('pre_scale', [], Float32Array.of(p.scale))], [], 'pre_scale');
    if (p.mean.some((m) => m !== 0)) v = g.op('Sub', [v, channel(p.mean, 'pre_mean')], [], 'pre_mean');
    if (p.std.some((s) => s !== 1)) v = g.op('Div', [v, channel(p.std, 'pre_std')], [], 'pre_std');
  }
  if (spec.layout === 'NHWC') v = g.op('Transpose', [v], [attr.ints('perm', [0, 2, 3, 1])], 'pre_to_nhwc');
  // The model's nodes keep reading their input by its name; addNode would rename a used name.
  g.nodes.push(new Node('Identity', g.uniqueName('pre_image'), '', [v], [imageName], []));
}

/** The value the loss reads, [B,K]: the output, the input of a final class Softmax, or a flattening. */
function lossInput(g: Graph, out: string, opset: number, shapes: Map<string, readonly number[]>): { logits: string; outputKind: OutputKind } {
  const shape = shapes.get(out);
  if (!shape) throw new UnsupportedGradient('model', `shape of the output "${out}" unknown (not in the shape probe)`);
  const producer = g.producers().get(out);
  if (producer && producer.opType === 'Softmax' && (producer.domain === '' || producer.domain === 'ai.onnx') && shape.length === 2) {
    const axis = producer.int('axis', opset < 13 ? 1 : -1);
    if (axis === 1 || axis === -1) return { logits: producer.inputs[0], outputKind: 'softmax' };
  }
  if (shape.length === 2) return { logits: out, outputKind: 'logits' };
  // [B, ...] outputs (e.g. [B,K,1,1]) are read as [B, prod(...)].
  const flat = g.op('Flatten', [out], [attr.int('axis', 1)], 'loss_flatten');
  shapes.set(flat, [shape[0] ?? 1, shape.slice(1).reduce((a, b) => a * b, 1)]);
  return { logits: flat, outputKind: 'logits' };
}

/**
 * Cross-entropy per image, stable: with s = z - max(z), t the label row and T = sum(t),
 * loss = T * log(sum(exp(s))) - sum(t * s), and d loss / d z = T * softmax(z) - t.
 */
function addLoss(g: Graph, opset: number, z: string, t: string): { total: string; perImage: string; seed: string } {
  const shifted = g.op('Sub', [z, reduce(g, opset, 'ReduceMax', z, [1], true)], [], 'loss_shift');
  const e = g.op('Exp', [shifted], [], 'loss_exp');
  const partition = reduce(g, opset, 'ReduceSum', e, [1], true);
  const weight = reduce(g, opset, 'ReduceSum', t, [1], true);
  const picked = reduce(g, opset, 'ReduceSum', g.op('Mul', [t, shifted]), [1], true);
  const perRow = g.op('Sub', [g.op('Mul', [weight, g.op('Log', [partition])]), picked], [], 'loss_per_image');
  const perImage = reshape(g, perRow, [-1]);
  // No axes: every axis, in every opset; keepdims 0 makes it a scalar.
  const total = g.op('ReduceSum', [perImage], [attr.int('keepdims', 0)], 'loss_total');
  const probabilities = g.op('Div', [e, partition], [], 'loss_softmax');
  const seed = g.op('Sub', [g.op('Mul', [probabilities, weight]), t], [], 'loss_seed');
  return { total, perImage, seed };
}

/** d loss / d pixels from d loss / d model input: undo the layout, times scale/std per channel. */
function pixelGradient(g: Graph, imageGrad: string | undefined, pixels: string, spec: GradientSpec): string {
  // No path from the image to the output: the gradient is exactly zero.
  if (!imageGrad) return g.op('Sub', [pixels, pixels], [], 'grad_zero');
  let v = imageGrad;
  if (spec.layout === 'NHWC') v = g.op('Transpose', [v], [attr.ints('perm', [0, 3, 1, 2])], 'grad_to_nchw');
  const p = spec.preprocessing;
  const factor = p.std.map((s) => p.scale / s);
  if (factor.some((f) => f !== 1)) v = g.op('Mul', [v, g.constantFloat('grad_pre', [1, 3, 1, 1], Float32Array.from(factor))], [], 'grad_pre');
  return v;
}
