/**
 * A small in-memory IR for ONNX graphs: `Model`, `Graph`, `Node` and tensors
 * (`Variable | Constant`). Protobuf is touched only by the importer and exporter in codec.ts;
 * surgery edits this IR and then calls `graph.cleanup().toposort()`.
 *
 * Every element decoded from a file keeps its original encoding (`source`) and is written back
 * byte for byte unless it was edited, so fields our schema does not know are never lost.
 */
import { AttributeType, DataType } from './schema.js';

/** A dimension: a fixed size, a symbolic name, or unknown. */
export type Dim = number | string | null;

export interface ValueInfo {
  readonly name: string;
  readonly elemType?: DataType;
  /** undefined when the type has no shape (rank unknown). */
  readonly shape?: readonly Dim[];
  /** Original encoding; present only for decoded, unedited entries. */
  readonly source?: Uint8Array;
}

/** A named tensor produced by a node or fed as a graph input. */
export interface Variable {
  readonly kind: 'variable';
  readonly name: string;
}

/** A tensor whose value is in the model (initializer or Constant node value). */
export interface Constant {
  readonly kind: 'constant';
  readonly name: string;
  readonly dataType: DataType;
  readonly dims: readonly number[];
  /** True when the data lives in an external file; such models are rejected. */
  readonly external: boolean;
  /** Original TensorProto encoding, for decoded tensors. */
  readonly source?: Uint8Array;
  /** Values of tensors we created (float32 or int64 as numbers). */
  readonly values?: Float32Array | readonly number[];
}

export type Tensor = Variable | Constant;

export interface Attribute {
  readonly name: string;
  readonly type: AttributeType;
  readonly f?: number;
  readonly i?: number;
  readonly s?: Uint8Array;
  readonly floats?: readonly number[];
  readonly ints?: readonly number[];
  readonly t?: Constant;
  readonly g?: Graph;
  readonly graphs?: readonly Graph[];
  readonly source?: Uint8Array;
}

export interface NodeSpec {
  opType: string;
  inputs: readonly string[];
  /** Output names; generated from the node name when omitted. */
  outputs?: readonly string[];
  /** Number of outputs to generate when `outputs` is omitted (default 1). */
  outputCount?: number;
  name?: string;
  domain?: string;
  attributes?: readonly Attribute[];
}

export class Node {
  /** Original NodeProto encoding; dropped by any edit so the exporter re-encodes the node. */
  source: Uint8Array | undefined;

  constructor(
    readonly opType: string,
    readonly name: string,
    readonly domain: string,
    private readonly inputList: string[],
    private readonly outputList: string[],
    private readonly attributeList: Attribute[],
    readonly docString: string = '',
    source?: Uint8Array,
  ) {
    this.source = source;
  }

  get inputs(): readonly string[] {
    return this.inputList;
  }

  get outputs(): readonly string[] {
    return this.outputList;
  }

  get attributes(): readonly Attribute[] {
    return this.attributeList;
  }

  attr(name: string): Attribute | undefined {
    return this.attributeList.find((a) => a.name === name);
  }

  int(name: string, fallback: number): number {
    return this.attr(name)?.i ?? fallback;
  }

  ints(name: string): readonly number[] | undefined {
    return this.attr(name)?.ints;
  }

  string(name: string, fallback: string): string {
    const s = this.attr(name)?.s;
    return s ? new TextDecoder().decode(s) : fallback;
  }

  /** Graphs held by attributes (If/Loop/Scan bodies). */
  subgraphs(): Graph[] {
    const out: Graph[] = [];
    for (const a of this.attributeList) {
      if (a.g) out.push(a.g);
      if (a.graphs) out.push(...a.graphs);
    }
    return out;
  }
}

/** Attribute constructors for nodes we create. */
export const attr = {
  int: (name: string, i: number): Attribute => ({ name, type: AttributeType.INT, i }),
  ints: (name: string, ints: readonly number[]): Attribute => ({ name, type: AttributeType.INTS, ints }),
  float: (name: string, f: number): Attribute => ({ name, type: AttributeType.FLOAT, f }),
  string: (name: string, s: string): Attribute => ({ name, type: AttributeType.STRING, s: new TextEncoder().encode(s) }),
  tensor: (name: string, t: Constant): Attribute => ({ name, type: AttributeType.TENSOR, t }),
};

export class Graph {
  name: string;
  nodes: Node[];
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  valueInfo: ValueInfo[];
  initializers: Map<string, Constant>;
  /** Encoded fields of GraphProto that we do not model (doc string, sparse initializers, ...). */
  unknownFields: Uint8Array[];
  private usedNames: Set<string> | undefined;
  private counter = 0;

  constructor(init: {
    name?: string;
    nodes?: Node[];
    inputs?: ValueInfo[];
    outputs?: ValueInfo[];
    valueInfo?: ValueInfo[];
    initializers?: Map<string, Constant>;
    unknownFields?: Uint8Array[];
  }) {
    this.name = init.name ?? 'graph';
    this.nodes = init.nodes ?? [];
    this.inputs = init.inputs ?? [];
    this.outputs = init.outputs ?? [];
    this.valueInfo = init.valueInfo ?? [];
    this.initializers = init.initializers ?? new Map<string, Constant>();
    this.unknownFields = init.unknownFields ?? [];
  }

  /** Names of node, tensor and value names in use, so new ones never collide. */
  private names(): Set<string> {
    if (!this.usedNames) {
      const s = new Set<string>();
      for (const n of this.nodes) {
        s.add(n.name);
        for (const x of n.inputs) s.add(x);
        for (const x of n.outputs) s.add(x);
      }
      for (const v of [...this.inputs, ...this.outputs, ...this.valueInfo]) s.add(v.name);
      for (const k of this.initializers.keys()) s.add(k);
      this.usedNames = s;
    }
    return this.usedNames;
  }

  /** A name not yet used in this graph, derived from `prefix`. */
  uniqueName(prefix: string): string {
    const used = this.names();
    let name = prefix;
    while (used.has(name)) name = `${prefix}_${++this.counter}`;
    used.add(name);
    return name;
  }

  /** Appends a node; names it and its outputs uniquely. Returns the node. */
  addNode(spec: NodeSpec): Node {
    const name = this.uniqueName(spec.name ?? `aa_${spec.opType}`);
    const outputs =
      spec.outputs?.map((o) => this.uniqueName(o)) ??
      Array.from({ length: spec.outputCount ?? 1 }, (_, i) => this.uniqueName(`${name}_out${i}`));
    const node = new Node(spec.opType, name, spec.domain ?? '', [...spec.inputs], outputs, [...(spec.attributes ?? [])]);
    this.nodes.push(node);
    return node;
  }

  /** Adds a node and returns its single output name; for building arithmetic chains. */
  op(opType: string, inputs: readonly string[], attributes: readonly Attribute[] = [], name?: string): string {
    return this.addNode({ opType, inputs, attributes, name }).outputs[0];
  }

  /** A float32 constant as a Constant node (valid in every opset and IR version). */
  constantFloat(name: string, dims: readonly number[], values: Float32Array): string {
    const tensorName = this.uniqueName(name);
    const t: Constant = { kind: 'constant', name: tensorName, dataType: DataType.FLOAT, dims, external: false, values };
    const node = new Node('Constant', this.uniqueName(`${tensorName}_node`), '', [], [tensorName], [attr.tensor('value', t)]);
    this.nodes.push(node);
    return tensorName;
  }

  /** An int64 constant as a Constant node (shapes, indices). */
  constantInt64(name: string, dims: readonly number[], values: readonly number[]): string {
    const tensorName = this.uniqueName(name);
    const t: Constant = { kind: 'constant', name: tensorName, dataType: DataType.INT64, dims, external: false, values };
    const node = new Node('Constant', this.uniqueName(`${tensorName}_node`), '', [], [tensorName], [attr.tensor('value', t)]);
    this.nodes.push(node);
    return tensorName;
  }

  /** Exposes a value as a graph output (float32 unless said otherwise). */
  addOutput(name: string, elemType: DataType = DataType.FLOAT): void {
    if (this.outputs.some((o) => o.name === name)) return;
    this.outputs.push({ name, elemType });
  }

  tensor(name: string): Tensor {
    return this.initializers.get(name) ?? { kind: 'variable', name };
  }

  /** Producer index: value name -> node. Built on demand; valid until the node list changes. */
  producers(): Map<string, Node> {
    const m = new Map<string, Node>();
    for (const n of this.nodes) for (const o of n.outputs) if (o) m.set(o, n);
    return m;
  }

  /** Consumer index: value name -> nodes that read it (subgraph reads included). */
  consumers(): Map<string, Node[]> {
    const m = new Map<string, Node[]>();
    for (const n of this.nodes) {
      for (const x of [...n.inputs, ...outerReferences(n)]) {
        if (!x) continue;
        const list = m.get(x);
        if (list) list.push(n);
        else m.set(x, [n]);
      }
    }
    return m;
  }

  /**
   * Removes nodes none of whose outputs reach a graph output, then initializers nothing reads.
   * Initializers that are also graph inputs (IR < 4 style) stay: they are part of the interface.
   */
  cleanup(): this {
    const needed = new Set(this.outputs.map((o) => o.name));
    const keep = new Set<Node>();
    const producers = this.producers();
    const stack = [...needed];
    while (stack.length) {
      const name = stack.pop() as string;
      const node = producers.get(name);
      if (!node || keep.has(node)) continue;
      keep.add(node);
      for (const x of [...node.inputs, ...outerReferences(node)]) if (x && !needed.has(x)) {
        needed.add(x);
        stack.push(x);
      }
    }
    this.nodes = this.nodes.filter((n) => keep.has(n));
    const inputNames = new Set(this.inputs.map((i) => i.name));
    for (const name of [...this.initializers.keys()]) {
      if (!needed.has(name) && !inputNames.has(name)) this.initializers.delete(name);
    }
    this.usedNames = undefined;
    return this;
  }

  /**
   * Orders nodes so each comes after the producers of its inputs (Kahn's algorithm, stable:
   * nodes keep their relative order where the data allows). Throws on a cycle.
   */
  toposort(): this {
    const producers = this.producers();
    const indegree = new Map<Node, number>();
    const dependents = new Map<Node, Node[]>();
    for (const n of this.nodes) {
      const deps = new Set<Node>();
      for (const x of [...n.inputs, ...outerReferences(n)]) {
        const p = x ? producers.get(x) : undefined;
        if (p && p !== n) deps.add(p);
      }
      indegree.set(n, deps.size);
      for (const p of deps) {
        const list = dependents.get(p);
        if (list) list.push(n);
        else dependents.set(p, [n]);
      }
    }
    const order = new Map(this.nodes.map((n, i) => [n, i]));
    const ready = this.nodes.filter((n) => indegree.get(n) === 0);
    const sorted: Node[] = [];
    while (ready.length) {
      // Take the earliest ready node in original order to keep the sort stable.
      let best = 0;
      for (let i = 1; i < ready.length; i++) if ((order.get(ready[i]) ?? 0) < (order.get(ready[best]) ?? 0)) best = i;
      const n = ready.splice(best, 1)[0];
      sorted.push(n);
      for (const d of dependents.get(n) ?? []) {
        const left = (indegree.get(d) ?? 0) - 1;
        indegree.set(d, left);
        if (left === 0) ready.push(d);
      }
    }
    if (sorted.length !== this.nodes.length) throw new Error('graph has a cycle: cannot sort it topologically');
    this.nodes = sorted;
    return this;
  }
}

/** Values from the enclosing scope that a node's subgraphs read. */
export function outerReferences(node: Node): string[] {
  const graphs = node.subgraphs();
  if (graphs.length === 0) return [];
  const out: string[] = [];
  for (const g of graphs) {
    const local = new Set<string>([...g.inputs.map((i) => i.name), ...g.initializers.keys()]);
    for (const n of g.nodes) for (const o of n.outputs) local.add(o);
    for (const n of g.nodes) {
      for (const x of [...n.inputs, ...outerReferences(n)]) if (x && !local.has(x)) out.push(x);
    }
  }
  return out;
}

export interface OpsetImport {
  domain: string;
  version: number;
  /** Original encoding, written back as is. */
  source?: Uint8Array;
}

export interface Model {
  irVersion: number;
  opsetImports: OpsetImport[];
  graph: Graph;
  producerName: string;
  /** Encoded ModelProto fields other than ir_version, producer_name, graph and opset_import, in file order. */
  otherFields: Uint8Array[];
}

/**
 * A copy of the model that graph edits (surgery, the gradient graph, a probe's extra outputs)
 * can change without touching the original: new lists, value infos and initializer map, the
 * same nodes and tensors, which no edit changes in place. Weights are not copied, so one decoded
 * model serves every graph an audit builds.
 */
export function cloneModel(model: Model): Model {
  const g = model.graph;
  const graph = new Graph({
    name: g.name,
    nodes: [...g.nodes],
    inputs: g.inputs.map((v) => ({ ...v })),
    outputs: g.outputs.map((v) => ({ ...v })),
    valueInfo: g.valueInfo.map((v) => ({ ...v })),
    initializers: new Map(g.initializers),
    unknownFields: [...g.unknownFields],
  });
  return { ...model, opsetImports: model.opsetImports.map((o) => ({ ...o })), graph, otherFields: [...model.otherFields] };
}

/** The version of the default ONNX operator set the model imports. */
export function defaultOpset(model: Model): number {
  const entry = model.opsetImports.find((o) => o.domain === '' || o.domain === 'ai.onnx');
  return entry?.version ?? 1;
}
