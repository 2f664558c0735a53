/**
 * Hostile ONNX pieces built byte by byte (with the test helpers' own protobuf writer, not the
 * code under test): tensors with external data, sparse tensors, Constant nodes, If bodies nested
 * deep, conv and pool ops with absurd geometry. Shared by the limit tests and the fuzz suite.
 */
import { appendToSubmessage, buildModel, concatBytes, lenField, varintField } from '../helpers/modelBuilder.js';

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const str = (field: number, s: string): Uint8Array => lenField(field, utf8(s));

/** Where a tensor's external data points, or how its data_location says so. */
export interface ExternalRef {
  /** external_data entries key -> value (e.g. location). Empty: only data_location = EXTERNAL. */
  entries?: Record<string, string>;
  /** data_location; default 1 (EXTERNAL) when entries are empty. */
  dataLocation?: number;
}

/** A float TensorProto with `dims`; with `external`, its data is said to live in a file. */
export function tensorBytes(name: string, dims: readonly (number | bigint)[], external?: ExternalRef): Uint8Array {
  const parts = dims.map((d) => varintField(1, d));
  parts.push(varintField(2, 1), str(8, name));
  if (external) {
    for (const [k, v] of Object.entries(external.entries ?? {})) parts.push(lenField(13, concatBytes(str(1, k), str(2, v))));
    const location = external.dataLocation ?? (Object.keys(external.entries ?? {}).length === 0 ? 1 : undefined);
    if (location !== undefined) parts.push(varintField(14, location));
  } else {
    const count = dims.reduce<number>((n, d) => n * Number(d), 1);
    parts.push(lenField(9, new Uint8Array(4 * Math.min(count, 1 << 16))));
  }
  return concatBytes(...parts);
}

/** SparseTensorProto: values tensor, indices tensor, dense dims. */
export function sparseTensorBytes(values: Uint8Array, indices: Uint8Array, dims: readonly (number | bigint)[]): Uint8Array {
  return concatBytes(lenField(1, values), lenField(2, indices), ...dims.map((d) => varintField(3, d)));
}

/** An int64 indices tensor of `n` entries, inline. */
export function indicesBytes(name: string, n: number): Uint8Array {
  return concatBytes(varintField(1, n), varintField(2, 7), str(8, name), lenField(9, new Uint8Array(8 * n)));
}

export type AttributeValue =
  | { t: Uint8Array }
  | { g: Uint8Array }
  | { sparse: Uint8Array }
  | { tensors: Uint8Array[] }
  | { graphs: Uint8Array[] }
  | { sparseTensors: Uint8Array[] }
  | { ints: readonly (number | bigint)[] }
  | { i: number | bigint };

/** AttributeProto with its type set. */
export function attributeBytes(name: string, value: AttributeValue): Uint8Array {
  const head = str(1, name);
  if ('t' in value) return concatBytes(head, varintField(20, 4), lenField(5, value.t));
  if ('g' in value) return concatBytes(head, varintField(20, 5), lenField(6, value.g));
  if ('sparse' in value) return concatBytes(head, varintField(20, 11), lenField(22, value.sparse));
  if ('tensors' in value) return concatBytes(head, varintField(20, 9), ...value.tensors.map((t) => lenField(10, t)));
  if ('graphs' in value) return concatBytes(head, varintField(20, 10), ...value.graphs.map((g) => lenField(11, g)));
  if ('sparseTensors' in value) return concatBytes(head, varintField(20, 12), ...value.sparseTensors.map((t) => lenField(23, t)));
  if ('ints' in value) return concatBytes(head, varintField(20, 7), ...value.ints.map((v) => varintField(8, v)));
  return concatBytes(head, varintField(20, 2), varintField(3, value.i));
}

/** NodeProto. */
export function nodeBytes(opType: string, inputs: readonly string[], outputs: readonly string[], attributes: readonly Uint8Array[] = [], name = ''): Uint8Array {
  return concatBytes(
    ...inputs.map((x) => str(1, x)),
    ...outputs.map((x) => str(2, x)),
    ...(name ? [str(3, name)] : []),
    str(4, opType),
    ...attributes.map((a) => lenField(5, a)),
  );
}

/** GraphProto with nodes, initializers and one output `out` (no type). */
export function graphBytes(nodes: readonly Uint8Array[], initializers: readonly Uint8Array[] = [], out = 'out'): Uint8Array {
  return concatBytes(...nodes.map((n) => lenField(1, n)), str(2, 'g'), ...initializers.map((t) => lenField(5, t)), lenField(12, str(1, out)));
}

/** A small valid CIFAR-shaped classifier: one strided conv, weights as initializers. */
export function baseModel(): Uint8Array {
  return buildModel({ ops: [{ op: 'Conv', kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }], stem: { kernel: [1, 1], channels: 4 }, initializers: true }).bytes;
}

/** `model` with `node` appended to its main graph. */
export function withNode(model: Uint8Array, node: Uint8Array): Uint8Array {
  return appendToSubmessage(model, [[7, 0]], lenField(1, node));
}

/** `model` with extra fields appended to its main graph (field numbers of GraphProto). */
export function withGraphField(model: Uint8Array, field: number, payload: Uint8Array): Uint8Array {
  return appendToSubmessage(model, [[7, 0]], lenField(field, payload));
}

/** An If whose then-branch holds an If whose then-branch ... `depth` graphs deep, innermost `inner`. */
export function nestedIf(depth: number, innerNodes: readonly Uint8Array[] = [nodeBytes('Identity', ['x'], ['out'])], innerInitializers: readonly Uint8Array[] = []): Uint8Array {
  let graph = graphBytes(innerNodes, innerInitializers);
  for (let level = 1; level < depth; level++) {
    graph = graphBytes([nodeBytes('If', ['cond'], ['out'], [attributeBytes('then_branch', { g: graph }), attributeBytes('else_branch', { g: graphBytes([nodeBytes('Identity', ['x'], ['out'])]) })])]);
  }
  return nodeBytes('If', ['cond'], ['if_out'], [attributeBytes('then_branch', { g: graph }), attributeBytes('else_branch', { g: graphBytes([nodeBytes('Identity', ['x'], ['out'])]) })], 'nested_if');
}

/**
 * Every place ONNX lets a tensor keep its data outside the file, as a model built on `base`:
 * initializers, sparse initializers' values and indices, Constant `value` and `sparse_value`,
 * tensor lists and sparse tensor lists of any node, an If body three levels down, a local
 * function's Constant, a training-info graph.
 */
export function externalDataPlaces(base: Uint8Array, ref: ExternalRef): { place: string; bytes: Uint8Array }[] {
  const ext = (name: string, dims: number[] = [4]): Uint8Array => tensorBytes(name, dims, ref);
  const inline = (name: string, dims: number[] = [4]): Uint8Array => tensorBytes(name, dims);
  const constant = (value: AttributeValue, name = 'const'): Uint8Array => nodeBytes('Constant', [], [`${name}_out`], [attributeBytes('sparse' in value ? 'sparse_value' : 'value', value)], name);
  const functionProto = concatBytes(str(1, 'fn'), str(10, 'local'), lenField(7, nodeBytes('Constant', [], ['y'], [attributeBytes('value', { t: ext('fn_w') })])), str(5, 'y'), lenField(9, concatBytes(varintField(2, 13))));
  const trainingInfo = lenField(1, graphBytes([nodeBytes('Identity', ['w'], ['out'])], [ext('train_w')]));
  return [
    { place: 'initializer', bytes: withGraphField(base, 5, ext('ext_w')) },
    { place: 'sparse initializer values', bytes: withGraphField(base, 15, sparseTensorBytes(ext('sparse_w', [2]), indicesBytes('sparse_i', 2), [4, 4])) },
    { place: 'sparse initializer indices', bytes: withGraphField(base, 15, sparseTensorBytes(inline('sparse_w2', [2]), tensorBytes('sparse_i2', [2], ref), [4, 4])) },
    { place: 'Constant value', bytes: withNode(base, constant({ t: ext('const_w') })) },
    { place: 'Constant sparse_value', bytes: withNode(base, constant({ sparse: sparseTensorBytes(ext('cs_w', [2]), indicesBytes('cs_i', 2), [4, 4]) })) },
    { place: 'tensors attribute', bytes: withNode(base, nodeBytes('Custom', ['x'], ['y'], [attributeBytes('ts', { tensors: [inline('a'), ext('tl_w')] })])) },
    { place: 'sparse tensors attribute', bytes: withNode(base, nodeBytes('Custom', ['x'], ['y'], [attributeBytes('sts', { sparseTensors: [sparseTensorBytes(ext('stl_w', [2]), indicesBytes('stl_i', 2), [4, 4])] })])) },
    { place: 'If body initializer, 3 deep', bytes: withNode(base, nestedIf(3, [nodeBytes('Identity', ['w'], ['out'])], [ext('deep_w')])) },
    { place: 'If body Constant, 3 deep', bytes: withNode(base, nestedIf(3, [nodeBytes('Constant', [], ['out'], [attributeBytes('value', { t: ext('deep_c') })])])) },
    { place: 'Loop body graphs attribute', bytes: withNode(base, nodeBytes('Custom', ['x'], ['y'], [attributeBytes('bodies', { graphs: [graphBytes([], [ext('gl_w')])] })])) },
    { place: 'local function Constant', bytes: appendToSubmessage(base, [], lenField(25, functionProto)) },
    { place: 'training info graph', bytes: appendToSubmessage(base, [], lenField(20, trainingInfo)) },
  ];
}
