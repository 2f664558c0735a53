/**
 * What a model is, as the audit needs to know it: its image input, and its downsampling ops
 * (SPEC §1) with the ones we cannot twin listed as unsupported.
 */
import { ModelError, tensorInt64s } from './codec.js';
import { Constant, defaultOpset, Dim, Graph, Model, Node } from './ir.js';
import { MODEL_LIMITS, ModelLimitError } from './limits.js';
import { DataType } from './schema.js';

export interface ImageInput {
  name: string;
  /** Declared shape; the batch entry may be symbolic or fixed (often 1). */
  shape: Dim[];
  /** Fixed batch size, or null when the batch dimension is dynamic. */
  fixedBatch: number | null;
}

export interface ModelSummary {
  opset: number;
  irVersion: number;
  producer: string;
  input: ImageInput;
  outputs: string[];
}

/** Pooling/conv geometry of a strided op, with auto_pad still unresolved. */
export interface DownsamplingOp {
  node: Node;
  op: 'Conv' | 'MaxPool' | 'AveragePool';
  input: string;
  output: string;
  strides: [number, number];
  kernel: [number, number];
  dilations: [number, number];
  /** [top, left, bottom, right] as declared; meaningful when autoPad is NOTSET. */
  pads: [number, number, number, number];
  autoPad: 'NOTSET' | 'SAME_UPPER' | 'SAME_LOWER' | 'VALID';
  ceilMode: boolean;
}

export interface UnsupportedOp {
  node: string;
  op: string;
  reason: string;
}

/** Checks the model can be audited and describes its interface. Throws ModelError otherwise. */
export function summarizeModel(model: Model): ModelSummary {
  const g = model.graph;
  rejectExternalData(g);
  const realInputs = g.inputs.filter((i) => !g.initializers.has(i.name));
  const images = realInputs.filter(isImageLike);
  if (images.length === 0) {
    const described = realInputs.map((i) => `${i.name} ${formatShape(i.shape)}`).join(', ') || 'none';
    throw new ModelError(
      'NO_IMAGE_INPUT',
      `not an image classifier: no float input of shape [N,3,H,W] or [N,H,W,3] (inputs: ${described})`,
    );
  }
  if (images.length > 1) {
    throw new ModelError('MULTIPLE_IMAGE_INPUTS', `the model has ${images.length} image inputs (${images.map((i) => i.name).join(', ')}); only one is supported`);
  }
  if (realInputs.length > 1) {
    const others = realInputs.filter((i) => i !== images[0]).map((i) => i.name);
    throw new ModelError('UNSUPPORTED_MODEL', `the model needs inputs besides the image: ${others.join(', ')}`);
  }
  const image = images[0];
  const shape = [...(image.shape ?? [])];
  const batch = shape[0];
  if (typeof batch === 'number' && batch > MODEL_LIMITS.maxFixedBatch) {
    // Every batch of the audit has this size: its input alone would need batch x 12 kB.
    const err = new ModelLimitError('maxFixedBatch', `the image input "${image.name}" has a fixed batch of ${batch}`);
    throw new ModelError('MODEL_LIMIT', `the model is over a limit: ${err.message}`);
  }
  return {
    opset: defaultOpset(model),
    irVersion: model.irVersion,
    producer: model.producerName,
    input: { name: image.name, shape, fixedBatch: typeof batch === 'number' && batch > 0 ? batch : null },
    outputs: g.outputs.map((o) => o.name),
  };
}

/** Refuses a model whose fixed input size is not CIFAR-10's 32x32 (cheap: no runtime). */
export function checkSpatialSize(summary: ModelSummary, layout: 'NCHW' | 'NHWC'): void {
  const s = summary.input.shape;
  const [c, h, w] = layout === 'NCHW' ? [s[1], s[2], s[3]] : [s[3], s[1], s[2]];
  const other = layout === 'NCHW' ? 'NHWC' : 'NCHW';
  // Only an explicit --layout puts the channels elsewhere; say so rather than report odd sizes.
  if (typeof c === 'number' && c !== 3 && (layout === 'NCHW' ? s[3] : s[1]) === 3) {
    throw new ModelError('UNSUPPORTED_MODEL', `layout ${layout} does not fit the model's input ${formatShape(s)}, which is ${other}: use --layout ${other} or auto`);
  }
  if ((typeof h === 'number' && h !== 32) || (typeof w === 'number' && w !== 32)) {
    throw new ModelError('UNSUPPORTED_MODEL', `the model takes ${h}x${w} images; CIFAR-10 samples are 32x32`);
  }
}

function isImageLike(v: { elemType?: DataType; shape?: readonly Dim[] }): boolean {
  if (v.elemType !== undefined && v.elemType !== DataType.FLOAT) return false;
  const s = v.shape;
  if (!s || s.length !== 4) return false;
  return s[1] === 3 || s[3] === 3 || (typeof s[1] !== 'number' && typeof s[3] !== 'number');
}

function formatShape(shape?: readonly Dim[]): string {
  return shape ? `[${shape.map((d) => d ?? '?').join(',')}]` : '[?]';
}

function rejectExternalData(g: Graph): void {
  for (const t of g.initializers.values()) {
    if (t.external) {
      throw new ModelError('EXTERNAL_DATA', `the model keeps tensor "${t.name}" in an external data file; upload a self-contained model (onnx.save with save_as_external_data=False)`);
    }
  }
  for (const n of g.nodes) {
    for (const a of n.attributes) {
      if (a.t?.external) throw new ModelError('EXTERNAL_DATA', `node "${n.name}" holds a tensor in an external data file; upload a self-contained model`);
    }
    n.subgraphs().forEach(rejectExternalData);
  }
}

/** Finds every strided 2-D Conv/MaxPool/AveragePool, in graph order, and other downsampling. */
export function findDownsamplingOps(model: Model): { ops: DownsamplingOp[]; unsupported: UnsupportedOp[] } {
  const g = model.graph;
  const ops: DownsamplingOp[] = [];
  const unsupported: UnsupportedOp[] = [];
  const constants = constantIndex(g);
  for (const node of g.nodes) {
    const name = node.name || node.outputs[0];
    switch (node.opType) {
      case 'Conv':
      case 'MaxPool':
      case 'AveragePool': {
        if (node.domain !== '' && node.domain !== 'ai.onnx') break;
        const strides = node.ints('strides') ?? [];
        if (!strides.some((s) => s > 1)) break;
        const kernel = node.ints('kernel_shape') ?? (node.opType === 'Conv' ? constants.get(node.inputs[1])?.dims.slice(2) : undefined);
        if (strides.length !== 2) {
          unsupported.push({ node: name, op: node.opType, reason: `${strides.length}-D ${node.opType} with stride ${strides.join('x')}: only 2-D ops are measured` });
          break;
        }
        if (!kernel || kernel.length !== 2) {
          unsupported.push({ node: name, op: node.opType, reason: 'kernel size unknown (no kernel_shape and the weight is not a constant)' });
          break;
        }
        const pads = node.ints('pads') ?? [0, 0, 0, 0];
        const dilations = node.ints('dilations') ?? [1, 1];
        const autoPad = node.string('auto_pad', 'NOTSET') as DownsamplingOp['autoPad'];
        ops.push({
          node,
          op: node.opType,
          input: node.inputs[0],
          output: node.outputs[0],
          strides: [strides[0], strides[1]],
          kernel: [kernel[0], kernel[1]],
          dilations: [dilations[0], dilations[1]],
          pads: [pads[0], pads[1], pads[2], pads[3]],
          autoPad: autoPad === 'NOTSET' || autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER' || autoPad === 'VALID' ? autoPad : 'NOTSET',
          ceilMode: node.int('ceil_mode', 0) === 1,
        });
        break;
      }
      case 'LpPool':
      case 'ConvInteger':
      case 'QLinearConv':
      case 'ConvTranspose': {
        const strides = node.ints('strides') ?? [];
        if (node.opType !== 'ConvTranspose' && strides.some((s) => s > 1)) {
          unsupported.push({ node: name, op: node.opType, reason: `strided ${node.opType} (stride ${strides.join('x')}) is not measured` });
        }
        break;
      }
      case 'SpaceToDepth':
        unsupported.push({ node: name, op: node.opType, reason: 'SpaceToDepth subsamples without a stride-1 equivalent' });
        break;
      case 'Resize':
      case 'Upsample':
        unsupported.push({ node: name, op: node.opType, reason: `${node.opType} may change the resolution; its aliasing is not measured` });
        break;
      case 'Slice': {
        const steps = node.inputs[4] ? constants.get(node.inputs[4]) : undefined;
        const values = steps ? tensorInt64s(steps) : [];
        if (values.some((s) => Math.abs(s) > 1)) {
          unsupported.push({ node: name, op: node.opType, reason: `strided Slice (steps ${values.join(',')}) subsamples without a filter; not measured` });
        } else if (node.inputs[4] && !steps) {
          unsupported.push({ node: name, op: node.opType, reason: 'Slice with computed steps may subsample; not measured' });
        }
        break;
      }
      default:
        break;
    }
  }
  return { ops, unsupported };
}

/** Initializers and Constant-node values by name. */
function constantIndex(g: Graph): Map<string, Constant> {
  const m = new Map(g.initializers);
  for (const n of g.nodes) {
    if (n.opType === 'Constant') {
      const t = n.attr('value')?.t;
      if (t) m.set(n.outputs[0], t);
    }
  }
  return m;
}
