/** Field numbers and enums of the ONNX protobuf schema (onnx.proto3), as far as we model them. */

export const ModelField = {
  irVersion: 1,
  producerName: 2,
  producerVersion: 3,
  domain: 4,
  modelVersion: 5,
  docString: 6,
  graph: 7,
  opsetImport: 8,
  trainingInfo: 20,
  functions: 25,
} as const;

export const FunctionField = { node: 7, attributeProto: 11, valueInfo: 12 } as const;
export const TrainingInfoField = { initialization: 1, algorithm: 2 } as const;
export const SparseTensorField = { values: 1, indices: 2, dims: 3 } as const;

export const OpsetField = { domain: 1, version: 2 } as const;

export const GraphField = {
  node: 1,
  name: 2,
  initializer: 5,
  docString: 10,
  input: 11,
  output: 12,
  valueInfo: 13,
  sparseInitializer: 15,
} as const;

export const NodeField = {
  input: 1,
  output: 2,
  name: 3,
  opType: 4,
  attribute: 5,
  docString: 6,
  domain: 7,
} as const;

export const AttributeField = {
  name: 1,
  f: 2,
  i: 3,
  s: 4,
  t: 5,
  g: 6,
  floats: 7,
  ints: 8,
  strings: 9,
  tensors: 10,
  graphs: 11,
  tp: 14,
  typeProtos: 15,
  type: 20,
  sparseTensor: 22,
  sparseTensors: 23,
} as const;

export enum AttributeType {
  UNDEFINED = 0,
  FLOAT = 1,
  INT = 2,
  STRING = 3,
  TENSOR = 4,
  GRAPH = 5,
  FLOATS = 6,
  INTS = 7,
  STRINGS = 8,
  TENSORS = 9,
  GRAPHS = 10,
  SPARSE_TENSOR = 11,
  SPARSE_TENSORS = 12,
  TYPE_PROTO = 13,
  TYPE_PROTOS = 14,
}

export const ValueInfoField = { name: 1, type: 2, docString: 3 } as const;
export const TypeField = { tensorType: 1, sequenceType: 4, mapType: 5, sparseTensorType: 8, optionalType: 9 } as const;
/** The element type of TypeProto.Sequence and TypeProto.Optional. */
export const WrappedTypeField = { elemType: 1 } as const;
export const MapTypeField = { valueType: 2 } as const;
export const TensorTypeField = { elemType: 1, shape: 2 } as const;
export const ShapeField = { dim: 1 } as const;
export const DimField = { value: 1, param: 2 } as const;

export const TensorField = {
  dims: 1,
  dataType: 2,
  floatData: 4,
  int32Data: 5,
  int64Data: 7,
  name: 8,
  rawData: 9,
  doubleData: 10,
  externalData: 13,
  dataLocation: 14,
} as const;

export enum DataType {
  UNDEFINED = 0,
  FLOAT = 1,
  UINT8 = 2,
  INT8 = 3,
  UINT16 = 4,
  INT16 = 5,
  INT32 = 6,
  INT64 = 7,
  STRING = 8,
  BOOL = 9,
  FLOAT16 = 10,
  DOUBLE = 11,
  UINT32 = 12,
  UINT64 = 13,
  BFLOAT16 = 16,
}

/** TensorProto.DataLocation.DEFAULT: the data is in the tensor itself. */
export const DATA_LOCATION_DEFAULT = 0;
/** TensorProto.DataLocation.EXTERNAL */
export const DATA_LOCATION_EXTERNAL = 1;
