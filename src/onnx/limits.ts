/**
 * What a model file may declare, and the check that enforces it on the raw protobuf before
 * anything else reads the model (our decoder, then ONNX Runtime).
 *
 * Every limit is here, in one place (the README's "Limits on models" lists the same numbers).
 * Each is generous for any real CIFAR-10 classifier and bounds work or memory that a tiny hostile
 * file could otherwise demand: a 1.6 kB model with one stride-1024 Conv asks for a 1024x1024
 * stride-1 twin per channel, a batch dimension of 2^31 for a 26 TB input, If bodies nested
 * 3,000 deep for a recursion that overflows the stack.
 *
 * The walk is iterative (an explicit stack), so nesting is refused, never recursed into; it
 * visits every occurrence of every field, so a repeated singular message (which protobuf
 * parsers merge) cannot hide a tensor from it.
 */
import { ProtobufError, pushInt64s, readFields, WIRE_FIXED32, WIRE_LEN, WIRE_VARINT, WireField } from './protobuf.js';
import {
  AttributeField,
  DATA_LOCATION_DEFAULT,
  DimField,
  FunctionField,
  GraphField,
  MapTypeField,
  ModelField,
  NodeField,
  ShapeField,
  SparseTensorField,
  TensorField,
  TensorTypeField,
  TrainingInfoField,
  TypeField,
  ValueInfoField,
  WrappedTypeField,
} from './schema.js';

export const MODEL_LIMITS = {
  /** Subgraphs (If/Loop/Scan bodies) inside subgraphs; classifiers have none or one level. */
  maxGraphNesting: 16,
  /** Protobuf messages inside messages; ONNX Runtime's parser stops at 100 as well. */
  maxMessageDepth: 100,
  /** Nodes in all graphs, subgraphs and functions together; a ResNet-152 has about 500. */
  maxNodes: 100_000,
  /** Any declared dimension of a tensor, of a graph input/output or of a value's shape. */
  maxDim: 2 ** 24,
  /** Rank of a tensor. */
  maxRank: 16,
  /** Elements of one tensor (of a sparse tensor's dense shape): 512 MiB of float32. */
  maxTensorElements: 2 ** 27,
  /** Values in one attribute list (`ints`, `floats`). */
  maxAttributeValues: 2 ** 20,
  /** `strides` of any op: the stride-1 twin of a stride-s op is s^2 times its output. */
  maxStride: 64,
  /** `kernel_shape` of any op. */
  maxKernel: 64,
  /** `dilations` of any op. */
  maxDilation: 64,
  /** `pads` of any op, in absolute value (Pad-2 crops with negative pads). */
  maxPad: 64,
  /** A fixed batch dimension of the image input: CIFAR-10's test set has 10,000 images. */
  maxFixedBatch: 10_000,
} as const;

export type ModelLimit = keyof typeof MODEL_LIMITS;

/** One limit broken; `message` names the limit and its value. */
export class ModelLimitError extends Error {
  constructor(readonly limit: ModelLimit, what: string) {
    super(`${what}: over the limit of ${MODEL_LIMITS[limit].toLocaleString('en-US')} (${limit})`);
    this.name = 'ModelLimitError';
  }
}

/** Refused because a tensor keeps its data in a file: such a model reads the server's disk. */
export class ExternalDataError extends Error {
  constructor(readonly tensor: string) {
    super(
      `the model keeps tensor "${tensor}" in an external data file; upload a self-contained model (onnx.save with save_as_external_data=False)`,
    );
    this.name = 'ExternalDataError';
  }
}

/** The message types the walk descends into: every one that can hold, or lead to, a tensor, a graph or a shape. */
type Kind =
  | 'model'
  | 'graph'
  | 'function'
  | 'trainingInfo'
  | 'node'
  | 'attribute'
  | 'tensor'
  | 'sparseTensor'
  | 'valueInfo'
  | 'type'
  | 'tensorType'
  | 'typeWrapper'
  | 'mapType'
  | 'shape'
  | 'dim';

/** Field number -> message kind, per kind (onnx.proto). Fields not listed hold no messages we check. */
const CHILDREN: Record<Kind, Readonly<Record<number, Kind>>> = {
  model: { [ModelField.graph]: 'graph', [ModelField.trainingInfo]: 'trainingInfo', [ModelField.functions]: 'function' },
  graph: {
    [GraphField.node]: 'node',
    [GraphField.initializer]: 'tensor',
    [GraphField.sparseInitializer]: 'sparseTensor',
    [GraphField.input]: 'valueInfo',
    [GraphField.output]: 'valueInfo',
    [GraphField.valueInfo]: 'valueInfo',
  },
  function: { [FunctionField.node]: 'node', [FunctionField.attributeProto]: 'attribute', [FunctionField.valueInfo]: 'valueInfo' },
  trainingInfo: { [TrainingInfoField.initialization]: 'graph', [TrainingInfoField.algorithm]: 'graph' },
  node: { [NodeField.attribute]: 'attribute' },
  attribute: {
    [AttributeField.t]: 'tensor',
    [AttributeField.g]: 'graph',
    [AttributeField.tensors]: 'tensor',
    [AttributeField.graphs]: 'graph',
    [AttributeField.tp]: 'type',
    [AttributeField.typeProtos]: 'type',
    [AttributeField.sparseTensor]: 'sparseTensor',
    [AttributeField.sparseTensors]: 'sparseTensor',
  },
  tensor: {},
  sparseTensor: { [SparseTensorField.values]: 'tensor', [SparseTensorField.indices]: 'tensor' },
  valueInfo: { [ValueInfoField.type]: 'type' },
  type: {
    [TypeField.tensorType]: 'tensorType',
    [TypeField.sparseTensorType]: 'tensorType', // its shape is field 2 as well
    [TypeField.sequenceType]: 'typeWrapper',
    [TypeField.optionalType]: 'typeWrapper',
    [TypeField.mapType]: 'mapType',
  },
  tensorType: { [TensorTypeField.shape]: 'shape' },
  typeWrapper: { [WrappedTypeField.elemType]: 'type' },
  mapType: { [MapTypeField.valueType]: 'type' },
  shape: { [ShapeField.dim]: 'dim' },
  dim: {},
};

/** Integer attributes of conv and pooling ops whose size drives memory, and the limit of each. */
const GEOMETRY_LIMITS: Readonly<Record<string, ModelLimit>> = {
  strides: 'maxStride',
  kernel_shape: 'maxKernel',
  dilations: 'maxDilation',
  pads: 'maxPad',
};

interface Pending {
  bytes: Uint8Array;
  kind: Kind;
  /** Messages above this one. */
  depth: number;
  /** Graphs above (and including) this message's graph. */
  graphs: number;
  /** Where it is, for messages: the node that holds an attribute, a tensor's owner. */
  where: string;
}

/**
 * Walks the whole model and throws ExternalDataError or ModelLimitError at the first problem,
 * ProtobufError for bytes that are not protobuf. Linear in the file's size; no recursion.
 */
export function checkModelBytes(bytes: Uint8Array): void {
  const stack: Pending[] = [{ bytes, kind: 'model', depth: 1, graphs: 0, where: 'the model' }];
  let nodes = 0;
  for (let item = stack.pop(); item; item = stack.pop()) {
    const { kind, depth } = item;
    const graphs = kind === 'graph' ? item.graphs + 1 : item.graphs;
    if (kind === 'graph' && graphs > MODEL_LIMITS.maxGraphNesting) {
      throw new ModelLimitError('maxGraphNesting', `subgraphs are nested ${graphs} deep`);
    }
    if (kind === 'node' && ++nodes > MODEL_LIMITS.maxNodes) throw new ModelLimitError('maxNodes', `the model has more than ${MODEL_LIMITS.maxNodes} nodes`);
    const where = kind === 'node' ? describeNode(item.bytes) : item.where;
    const children = CHILDREN[kind];
    const fields = [...readFields(item.bytes)];
    for (const f of fields) {
      const child = children[f.field];
      // A message field with another wire type is an unknown field to protobuf parsers: it holds nothing.
      if (child !== undefined && f.wire === WIRE_LEN) {
        if (depth + 1 > MODEL_LIMITS.maxMessageDepth) {
          throw new ModelLimitError('maxMessageDepth', `protobuf messages are nested more than ${MODEL_LIMITS.maxMessageDepth} deep`);
        }
        stack.push({ bytes: f.bytes, kind: child, depth: depth + 1, graphs, where });
      }
    }
    if (kind === 'tensor') checkTensor(fields, where);
    else if (kind === 'sparseTensor') checkDims(fields, SparseTensorField.dims, `sparse tensor in ${where}`);
    else if (kind === 'attribute') checkAttribute(fields, where);
    else if (kind === 'dim') checkShapeDim(fields, where);
  }
}

function describeNode(bytes: Uint8Array): string {
  let name = '';
  let opType = '';
  for (const f of readFields(bytes)) {
    if (f.wire !== WIRE_LEN) continue;
    if (f.field === NodeField.name) name = clip(new TextDecoder().decode(f.bytes));
    else if (f.field === NodeField.opType) opType = clip(new TextDecoder().decode(f.bytes));
  }
  return `${opType || 'node'} node${name ? ` "${name}"` : ''}`;
}

/** Names from the file go into messages: keep them short and on one line. */
function clip(s: string): string {
  // eslint-disable-next-line no-control-regex -- control characters are what is being removed
  const line = s.replace(/[\u0000-\u001f\u007f]/g, '?');
  return line.length > 80 ? `${line.slice(0, 77)}...` : line;
}

function checkTensor(fields: readonly WireField[], where: string): void {
  let name = '';
  let external = false;
  for (const f of fields) {
    if (f.field === TensorField.name && f.wire === WIRE_LEN) name = clip(new TextDecoder().decode(f.bytes));
    // Any location but DEFAULT (0), and any external_data entry, whatever it points at.
    else if (f.field === TensorField.dataLocation && (f.wire !== WIRE_VARINT || f.varint !== DATA_LOCATION_DEFAULT)) external = true;
    else if (f.field === TensorField.externalData) external = true;
  }
  const label = name ? `tensor "${name}"` : `a tensor of ${where}`;
  if (external) throw new ExternalDataError(name || `(unnamed, in ${where})`);
  checkDims(fields, TensorField.dims, label);
}

/** Dims of a tensor (packed or not): rank, each dim, and the element count. */
function checkDims(fields: readonly WireField[], field: number, label: string): void {
  const dims: number[] = [];
  for (const f of fields) {
    if (f.field !== field) continue;
    if (f.wire === WIRE_VARINT) dims.push(f.varint);
    else if (f.wire === WIRE_LEN) {
      if (countVarints(f.bytes) > MODEL_LIMITS.maxRank) throw new ModelLimitError('maxRank', `${label} has more than ${MODEL_LIMITS.maxRank} dimensions`);
      pushInt64s(f, dims);
    }
    if (dims.length > MODEL_LIMITS.maxRank) throw new ModelLimitError('maxRank', `${label} has more than ${MODEL_LIMITS.maxRank} dimensions`);
  }
  let elements = 1;
  for (const d of dims) {
    if (d < 0) throw new ProtobufError(`${label} has a negative dimension ${d}`, 0);
    if (d > MODEL_LIMITS.maxDim) throw new ModelLimitError('maxDim', `${label} has a dimension of ${d}`);
    elements *= d;
  }
  if (elements > MODEL_LIMITS.maxTensorElements) throw new ModelLimitError('maxTensorElements', `${label} has ${elements} elements (shape [${dims.join(',')}])`);
}

function checkAttribute(fields: readonly WireField[], where: string): void {
  let name = '';
  for (const f of fields) if (f.field === AttributeField.name && f.wire === WIRE_LEN) name = new TextDecoder().decode(f.bytes);
  const limit = Object.hasOwn(GEOMETRY_LIMITS, name) ? GEOMETRY_LIMITS[name] : undefined;
  let values = 0;
  for (const f of fields) {
    if (f.field === AttributeField.floats) values += f.wire === WIRE_LEN ? f.bytes.length / 4 : f.wire === WIRE_FIXED32 ? 1 : 0;
    if (f.field === AttributeField.ints) values += f.wire === WIRE_LEN ? countVarints(f.bytes) : f.wire === WIRE_VARINT ? 1 : 0;
    if (values > MODEL_LIMITS.maxAttributeValues) {
      throw new ModelLimitError('maxAttributeValues', `attribute "${clip(name)}" of ${where} has more than ${MODEL_LIMITS.maxAttributeValues} values`);
    }
    if (limit === undefined) continue;
    const ints: number[] = [];
    if ((f.field === AttributeField.ints || f.field === AttributeField.i) && f.wire === WIRE_VARINT) ints.push(f.varint);
    else if (f.field === AttributeField.ints && f.wire === WIRE_LEN) pushInt64s(f, ints);
    for (const v of ints) {
      if (Math.abs(v) > MODEL_LIMITS[limit]) throw new ModelLimitError(limit, `${where} has ${name} ${v}`);
    }
  }
}

function checkShapeDim(fields: readonly WireField[], where: string): void {
  for (const f of fields) {
    if (f.field === DimField.value && f.wire === WIRE_VARINT && f.varint > MODEL_LIMITS.maxDim) {
      throw new ModelLimitError('maxDim', `a shape in ${where} has a dimension of ${f.varint}`);
    }
  }
}

/** Varints in a packed field: the bytes without a continuation bit. */
function countVarints(bytes: Uint8Array): number {
  let n = 0;
  for (const b of bytes) if ((b & 0x80) === 0) n++;
  return n;
}
