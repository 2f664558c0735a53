/**
 * The importer (bytes -> IR) and exporter (IR -> bytes). With limits.ts, which checks the raw
 * bytes before the importer reads them, the only place that uses protobuf field numbers
 * (schema.ts); everything else edits the IR.
 */
import { Attribute, cloneModel, Constant, Dim, Graph, Model, Node, OpsetImport, ValueInfo } from './ir.js';
import { checkModelBytes, ExternalDataError, ModelLimitError } from './limits.js';
import {
  decodeString,
  fixed32Float,
  ProtobufError,
  ProtoWriter,
  pushFloats,
  pushInt64s,
  readFields,
  WIRE_LEN,
  WIRE_VARINT,
} from './protobuf.js';
import {
  AttributeField,
  AttributeType,
  DATA_LOCATION_EXTERNAL,
  DataType,
  DimField,
  GraphField,
  ModelField,
  NodeField,
  OpsetField,
  ShapeField,
  TensorField,
  TensorTypeField,
  TypeField,
  ValueInfoField,
} from './schema.js';

export type ModelErrorCode =
  | 'EMPTY_FILE'
  | 'NOT_ONNX'
  | 'TRUNCATED'
  | 'EXTERNAL_DATA'
  | 'MODEL_LIMIT'
  | 'NO_IMAGE_INPUT'
  | 'MULTIPLE_IMAGE_INPUTS'
  | 'UNSUPPORTED_MODEL';

/** A model the audit cannot take; `message` is one line naming the problem. */
export class ModelError extends Error {
  constructor(readonly code: ModelErrorCode, message: string) {
    super(message);
    this.name = 'ModelError';
  }
}

// ---------------------------------------------------------------- import

/**
 * Decodes ONNX model bytes. Throws ModelError for anything that is not a usable ONNX model, for
 * external data anywhere in it and for a model over one of MODEL_LIMITS (src/onnx/limits.ts);
 * those are checked on the raw bytes first, which also bounds the decoder's recursion.
 */
export function decodeModel(bytes: Uint8Array): Model {
  modelDecodes++;
  if (bytes.length === 0) throw new ModelError('EMPTY_FILE', 'the model file is empty');
  let model: Model;
  try {
    checkModelBytes(bytes);
    model = decodeModelProto(bytes);
  } catch (err) {
    if (err instanceof ModelError) throw err;
    if (err instanceof ExternalDataError) throw new ModelError('EXTERNAL_DATA', err.message);
    if (err instanceof ModelLimitError) throw new ModelError('MODEL_LIMIT', `the model is over a limit: ${err.message}`);
    if (err instanceof ProtobufError) {
      const truncated = /truncated|runs past the end/.test(err.message) && looksLikeOnnxPrefix(bytes);
      throw truncated
        ? new ModelError('TRUNCATED', `the model file is truncated or corrupt (${err.message})`)
        : new ModelError('NOT_ONNX', `not an ONNX model: the bytes are not an ONNX protobuf (${err.message})`);
    }
    throw err;
  }
  return model;
}

let modelDecodes = 0;

/** Models decoded by this process so far: what tests and benches read to see that an audit decodes its model once. */
export function modelDecodeCount(): number {
  return modelDecodes;
}

/**
 * A model that the caller may edit: decoded from bytes, or a copy of an already decoded one
 * (which stays as it was). Lets an audit decode its model once and hand it to every graph it builds.
 */
export function editableModel(source: Uint8Array | Model): Model {
  return source instanceof Uint8Array ? decodeModel(source) : cloneModel(source);
}

/** An ONNX file starts with ir_version (field 1, varint): tag byte 0x08 and a small value. */
function looksLikeOnnxPrefix(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x08 && bytes[1] > 0 && bytes[1] < 32;
}

function decodeModelProto(bytes: Uint8Array): Model {
  let irVersion = 0;
  let graph: Graph | undefined;
  let producerName = '';
  const opsetImports: OpsetImport[] = [];
  const otherFields: Uint8Array[] = [];
  let sawIr = false;
  for (const f of readFields(bytes)) {
    switch (f.field) {
      case ModelField.irVersion:
        expectWire(f.wire, WIRE_VARINT, 'ModelProto.ir_version');
        irVersion = f.varint;
        sawIr = true;
        break;
      case ModelField.graph:
        expectWire(f.wire, WIRE_LEN, 'ModelProto.graph');
        graph = decodeGraph(f.bytes);
        break;
      case ModelField.opsetImport:
        expectWire(f.wire, WIRE_LEN, 'ModelProto.opset_import');
        opsetImports.push(decodeOpset(f.bytes));
        break;
      case ModelField.producerName:
        producerName = decodeString(f.bytes);
        break;
      default:
        otherFields.push(f.raw);
    }
  }
  if (!sawIr || irVersion < 1 || irVersion > 100) {
    throw new ModelError('NOT_ONNX', 'not an ONNX model: no valid ir_version field');
  }
  if (!graph) throw new ModelError('NOT_ONNX', 'not an ONNX model: it has no graph');
  if (irVersion >= 3 && opsetImports.length === 0) {
    throw new ModelError('NOT_ONNX', 'not an ONNX model: it imports no operator set');
  }
  if (graph.nodes.length === 0 || graph.outputs.length === 0) {
    throw new ModelError('NOT_ONNX', 'not a usable ONNX model: the graph has no nodes or no outputs');
  }
  return { irVersion, opsetImports, graph, producerName, otherFields };
}

function expectWire(actual: number, expected: number, what: string): void {
  if (actual !== expected) throw new ProtobufError(`${what} has wire type ${actual}, expected ${expected}`, 0);
}

function decodeOpset(bytes: Uint8Array): OpsetImport {
  let domain = '';
  let version = 0;
  for (const f of readFields(bytes)) {
    if (f.field === OpsetField.domain) domain = decodeString(f.bytes);
    else if (f.field === OpsetField.version) version = f.varint;
  }
  return { domain, version, source: bytes };
}

export function decodeGraph(bytes: Uint8Array): Graph {
  const nodes: Node[] = [];
  const inputs: ValueInfo[] = [];
  const outputs: ValueInfo[] = [];
  const valueInfo: ValueInfo[] = [];
  const initializers = new Map<string, Constant>();
  const unknownFields: Uint8Array[] = [];
  let name = '';
  for (const f of readFields(bytes)) {
    switch (f.field) {
      case GraphField.node:
        expectWire(f.wire, WIRE_LEN, 'GraphProto.node');
        nodes.push(decodeNode(f.bytes));
        break;
      case GraphField.name:
        name = decodeString(f.bytes);
        break;
      case GraphField.initializer: {
        expectWire(f.wire, WIRE_LEN, 'GraphProto.initializer');
        const t = decodeTensorHeader(f.bytes);
        initializers.set(t.name, t);
        break;
      }
      case GraphField.input:
        inputs.push(decodeValueInfo(f.bytes));
        break;
      case GraphField.output:
        outputs.push(decodeValueInfo(f.bytes));
        break;
      case GraphField.valueInfo:
        valueInfo.push(decodeValueInfo(f.bytes));
        break;
      default:
        unknownFields.push(f.raw);
    }
  }
  return new Graph({ name, nodes, inputs, outputs, valueInfo, initializers, unknownFields });
}

function decodeNode(bytes: Uint8Array): Node {
  const inputs: string[] = [];
  const outputs: string[] = [];
  const attributes: Attribute[] = [];
  let name = '';
  let opType = '';
  let domain = '';
  let docString = '';
  for (const f of readFields(bytes)) {
    switch (f.field) {
      case NodeField.input:
        inputs.push(decodeString(f.bytes));
        break;
      case NodeField.output:
        outputs.push(decodeString(f.bytes));
        break;
      case NodeField.name:
        name = decodeString(f.bytes);
        break;
      case NodeField.opType:
        opType = decodeString(f.bytes);
        break;
      case NodeField.domain:
        domain = decodeString(f.bytes);
        break;
      case NodeField.docString:
        docString = decodeString(f.bytes);
        break;
      case NodeField.attribute:
        expectWire(f.wire, WIRE_LEN, 'NodeProto.attribute');
        attributes.push(decodeAttribute(f.bytes));
        break;
      default:
        break; // kept through `source`
    }
  }
  if (!opType) throw new ProtobufError('a node has no op_type', 0);
  return new Node(opType, name, domain, inputs, outputs, attributes, docString, bytes);
}

function decodeAttribute(bytes: Uint8Array): Attribute {
  let name = '';
  let type = AttributeType.UNDEFINED;
  let f: number | undefined;
  let i: number | undefined;
  let s: Uint8Array | undefined;
  let t: Constant | undefined;
  let g: Graph | undefined;
  const floats: number[] = [];
  const ints: number[] = [];
  const graphs: Graph[] = [];
  for (const fld of readFields(bytes)) {
    switch (fld.field) {
      case AttributeField.name:
        name = decodeString(fld.bytes);
        break;
      case AttributeField.type:
        type = fld.varint;
        break;
      case AttributeField.f:
        f = fixed32Float(fld);
        break;
      case AttributeField.i:
        i = fld.varint;
        break;
      case AttributeField.s:
        s = fld.bytes;
        break;
      case AttributeField.t:
        t = decodeTensorHeader(fld.bytes);
        break;
      case AttributeField.g:
        g = decodeGraph(fld.bytes);
        break;
      case AttributeField.floats:
        pushFloats(fld, floats);
        break;
      case AttributeField.ints:
        pushInt64s(fld, ints);
        break;
      case AttributeField.graphs:
        graphs.push(decodeGraph(fld.bytes));
        break;
      default:
        break;
    }
  }
  // Files from old exporters may omit `type`; infer it from the field that is set.
  if (type === AttributeType.UNDEFINED) {
    if (f !== undefined) type = AttributeType.FLOAT;
    else if (i !== undefined) type = AttributeType.INT;
    else if (s !== undefined) type = AttributeType.STRING;
    else if (t) type = AttributeType.TENSOR;
    else if (g) type = AttributeType.GRAPH;
    else if (floats.length) type = AttributeType.FLOATS;
    else if (ints.length) type = AttributeType.INTS;
  }
  return {
    name,
    type,
    f,
    i,
    s,
    t,
    g,
    floats: type === AttributeType.FLOATS ? floats : undefined,
    ints: type === AttributeType.INTS ? ints : undefined,
    graphs: graphs.length ? graphs : undefined,
    source: bytes,
  };
}

/** Reads a TensorProto's name, type and dims; the data stays in `source` until asked for. */
export function decodeTensorHeader(bytes: Uint8Array): Constant {
  const dims: number[] = [];
  let name = '';
  let dataType = DataType.UNDEFINED;
  let external = false;
  for (const f of readFields(bytes)) {
    switch (f.field) {
      case TensorField.dims:
        pushInt64s(f, dims);
        break;
      case TensorField.dataType:
        dataType = f.varint;
        break;
      case TensorField.name:
        name = decodeString(f.bytes);
        break;
      case TensorField.dataLocation:
        external = external || f.varint === DATA_LOCATION_EXTERNAL;
        break;
      case TensorField.externalData:
        external = true;
        break;
      default:
        break;
    }
  }
  return { kind: 'constant', name, dataType, dims, external, source: bytes };
}

/** Decodes a float32 tensor's values (raw_data or float_data). */
export function tensorFloats(t: Constant): Float32Array {
  if (t.values instanceof Float32Array) return t.values;
  if (t.dataType !== DataType.FLOAT) throw new Error(`tensor ${t.name} is not float32 (data type ${t.dataType})`);
  if (!t.source) return Float32Array.from((t.values ?? []));
  const floats: number[] = [];
  for (const f of readFields(t.source)) {
    if (f.field === TensorField.rawData) {
      // Copy: raw_data may be unaligned inside the file buffer. (Not .slice(): on a Node Buffer
      // that is a view, not a copy.)
      const copy = new Uint8Array(f.bytes);
      return new Float32Array(copy.buffer, 0, copy.byteLength / 4);
    }
    if (f.field === TensorField.floatData) pushFloats(f, floats);
  }
  return Float32Array.from(floats);
}

/** Decodes an int64 tensor's values (raw_data or int64_data) as numbers. */
export function tensorInt64s(t: Constant): number[] {
  if (t.values && !(t.values instanceof Float32Array)) return [...t.values];
  if (!t.source) return [];
  const out: number[] = [];
  for (const f of readFields(t.source)) {
    if (f.field === TensorField.rawData) {
      const view = new DataView(f.bytes.buffer, f.bytes.byteOffset, f.bytes.byteLength);
      for (let i = 0; i + 8 <= f.bytes.length; i += 8) out.push(Number(view.getBigInt64(i, true)));
      return out;
    }
    if (f.field === TensorField.int64Data) pushInt64s(f, out);
  }
  return out;
}

function decodeValueInfo(bytes: Uint8Array): ValueInfo {
  let name = '';
  let elemType: DataType | undefined;
  let shape: Dim[] | undefined;
  for (const f of readFields(bytes)) {
    if (f.field === ValueInfoField.name) name = decodeString(f.bytes);
    else if (f.field === ValueInfoField.type) {
      for (const tf of readFields(f.bytes)) {
        if (tf.field !== TypeField.tensorType) continue;
        for (const tt of readFields(tf.bytes)) {
          if (tt.field === TensorTypeField.elemType) elemType = tt.varint;
          else if (tt.field === TensorTypeField.shape) shape = decodeShape(tt.bytes);
        }
      }
    }
  }
  return { name, elemType, shape, source: bytes };
}

function decodeShape(bytes: Uint8Array): Dim[] {
  const dims: Dim[] = [];
  for (const f of readFields(bytes)) {
    if (f.field !== ShapeField.dim) continue;
    let dim: Dim = null;
    for (const d of readFields(f.bytes)) {
      if (d.field === DimField.value) dim = d.varint;
      else if (d.field === DimField.param) dim = decodeString(d.bytes);
    }
    dims.push(dim);
  }
  return dims;
}

// ---------------------------------------------------------------- export

/** Encodes a model. Unedited nodes, tensors and value infos are written from their source bytes. */
export function encodeModel(model: Model): Uint8Array {
  const w = new ProtoWriter().int64(ModelField.irVersion, model.irVersion);
  if (model.producerName) w.string(ModelField.producerName, model.producerName);
  for (const raw of model.otherFields) w.raw(raw);
  for (const o of model.opsetImports) {
    w.bytes(ModelField.opsetImport, o.source ?? new ProtoWriter().string(OpsetField.domain, o.domain).int64(OpsetField.version, o.version).finish());
  }
  w.bytes(ModelField.graph, graphWriter(model.graph));
  return w.finish();
}

export function encodeGraph(g: Graph): Uint8Array {
  return graphWriter(g).finish();
}

/** A graph's encoding, its weights still by reference: its parent copies them once. */
function graphWriter(g: Graph): ProtoWriter {
  const w = new ProtoWriter();
  for (const n of g.nodes) w.bytes(GraphField.node, encodeNode(n));
  w.string(GraphField.name, g.name);
  for (const t of g.initializers.values()) w.bytes(GraphField.initializer, encodeTensor(t));
  for (const v of g.inputs) w.bytes(GraphField.input, encodeValueInfo(v));
  for (const v of g.outputs) w.bytes(GraphField.output, encodeValueInfo(v));
  for (const v of g.valueInfo) w.bytes(GraphField.valueInfo, encodeValueInfo(v));
  for (const raw of g.unknownFields) w.raw(raw);
  return w;
}

function encodeNode(n: Node): Uint8Array {
  if (n.source) return n.source;
  const w = new ProtoWriter();
  for (const x of n.inputs) w.string(NodeField.input, x);
  for (const x of n.outputs) w.string(NodeField.output, x);
  if (n.name) w.string(NodeField.name, n.name);
  w.string(NodeField.opType, n.opType);
  if (n.domain) w.string(NodeField.domain, n.domain);
  for (const a of n.attributes) w.bytes(NodeField.attribute, encodeAttribute(a));
  if (n.docString) w.string(NodeField.docString, n.docString);
  return w.finish();
}

function encodeAttribute(a: Attribute): Uint8Array {
  if (a.source) return a.source;
  const w = new ProtoWriter().string(AttributeField.name, a.name).int64(AttributeField.type, a.type);
  if (a.f !== undefined) w.float(AttributeField.f, a.f);
  if (a.i !== undefined) w.int64(AttributeField.i, a.i);
  if (a.s !== undefined) w.bytes(AttributeField.s, a.s);
  if (a.t) w.bytes(AttributeField.t, encodeTensor(a.t));
  if (a.g) w.bytes(AttributeField.g, graphWriter(a.g));
  if (a.floats) w.packedFloats(AttributeField.floats, a.floats);
  if (a.ints) w.packedInt64s(AttributeField.ints, a.ints);
  for (const g of a.graphs ?? []) w.bytes(AttributeField.graphs, graphWriter(g));
  return w.finish();
}

function encodeTensor(t: Constant): Uint8Array | ProtoWriter {
  if (t.source) return t.source;
  const w = new ProtoWriter().packedInt64s(TensorField.dims, t.dims).int64(TensorField.dataType, t.dataType);
  w.string(TensorField.name, t.name);
  const values = t.values ?? [];
  if (t.dataType === DataType.FLOAT) {
    const f32 = values instanceof Float32Array ? values : Float32Array.from(values);
    w.bytes(TensorField.rawData, new Uint8Array(f32.buffer, f32.byteOffset, f32.byteLength));
  } else if (t.dataType === DataType.INT64) {
    const raw = new BigInt64Array(values.length);
    for (let i = 0; i < values.length; i++) raw[i] = BigInt(Math.trunc(values[i]));
    w.bytes(TensorField.rawData, new Uint8Array(raw.buffer));
  } else throw new Error(`cannot encode tensor ${t.name} of data type ${t.dataType}`);
  return w;
}

function encodeValueInfo(v: ValueInfo): Uint8Array {
  if (v.source) return v.source;
  const w = new ProtoWriter().string(ValueInfoField.name, v.name);
  if (v.elemType !== undefined) {
    const tt = new ProtoWriter().int64(TensorTypeField.elemType, v.elemType);
    if (v.shape) {
      const sw = new ProtoWriter();
      for (const d of v.shape) {
        const dw = new ProtoWriter();
        if (typeof d === 'number') dw.int64(DimField.value, d);
        else if (typeof d === 'string') dw.string(DimField.param, d);
        sw.bytes(ShapeField.dim, dw.finish());
      }
      tt.bytes(TensorTypeField.shape, sw.finish());
    }
    w.bytes(ValueInfoField.type, new ProtoWriter().bytes(TypeField.tensorType, tt.finish()).finish());
  }
  return w.finish();
}
