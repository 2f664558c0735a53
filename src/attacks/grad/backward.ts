/**
 * Reverse-mode differentiation over the IR: from a seed gradient of one value (the logits),
 * walk the nodes backwards and let each op's rule emit its backward nodes into the same graph.
 * Only nodes on a path from the source (the image) to the target get rules run; everything
 * else (weights, shape computations, branches that do not reach the logits) is a constant for
 * the gradient and costs nothing.
 */
import { tensorFloats, tensorInt64s } from '../../onnx/codec.js';
import { Constant, Graph, Node, outerReferences } from '../../onnx/ir.js';
import { DataType } from '../../onnx/schema.js';
import { GradientContext, GradientRule, ShapeTable, UnsupportedGradient } from './registry.js';

/**
 * Ops of the default domain whose outputs carry no gradient even when their inputs depend on
 * the image: shape and index computations, comparisons and logic (booleans), and piecewise
 * constant functions, whose derivative is 0 almost everywhere (their zero gradient is exact, but
 * it may mask the gradient: the black-box check of the attacks covers that case).
 */
const NON_DIFFERENTIABLE = new Set([
  'Shape', 'Size', 'Constant', 'ConstantOfShape', 'Range', 'EyeLike', 'OneHot', 'NonZero',
  'ArgMax', 'ArgMin', 'Equal', 'Less', 'LessOrEqual', 'Greater', 'GreaterOrEqual', 'Not', 'And', 'Or', 'Xor',
  'IsNaN', 'IsInf', 'BitShift', 'Floor', 'Ceil', 'Round', 'Sign',
  'RandomNormalLike', 'RandomUniformLike', 'Bernoulli', 'Multinomial',
]);

/** Outputs other than the first that are indices or statistics, not values of the input. */
const INDEX_OUTPUTS: Readonly<Record<string, number>> = { MaxPool: 1, Dropout: 1, TopK: 1, BatchNormalization: 1 };

const FLOAT_TYPES = new Set<number>([DataType.FLOAT, DataType.DOUBLE, DataType.FLOAT16, DataType.BFLOAT16]);

const isDefaultDomain = (n: Node): boolean => n.domain === '' || n.domain === 'ai.onnx';

/** Whether output `index` of `node` can carry a gradient back to its inputs. */
export function differentiableOutput(node: Node, index: number): boolean {
  if (!isDefaultDomain(node)) return true;
  if (NON_DIFFERENTIABLE.has(node.opType)) return false;
  const firstIndexOutput = INDEX_OUTPUTS[node.opType];
  if (firstIndexOutput !== undefined && index >= firstIndexOutput) return false;
  if (node.opType === 'Cast') return FLOAT_TYPES.has(node.int('to', DataType.UNDEFINED));
  return true;
}

export interface BackwardRequest {
  graph: Graph;
  opset: number;
  /** The value to differentiate with respect to (the model's image input). */
  source: string;
  /** The value whose gradient is seeded (the logits). */
  target: string;
  /** Name of d loss / d target. */
  seed: string;
  shapes: ShapeTable;
  registry: ReadonlyMap<string, GradientRule>;
}

/** Values that depend on the source through differentiable outputs, in node order. */
function dependents(nodes: readonly Node[], source: string): Set<string> {
  const marked = new Set([source]);
  for (const n of nodes) {
    if (![...n.inputs, ...outerReferences(n)].some((x) => x && marked.has(x))) continue;
    n.outputs.forEach((o, i) => {
      if (o && differentiableOutput(n, i)) marked.add(o);
    });
  }
  return marked;
}

/** Values the target depends on (any kind of dependence). */
function ancestors(nodes: readonly Node[], target: string): Set<string> {
  const needed = new Set([target]);
  for (let k = nodes.length - 1; k >= 0; k--) {
    const n = nodes[k];
    if (!n.outputs.some((o) => o && needed.has(o))) continue;
    for (const x of [...n.inputs, ...outerReferences(n)]) if (x) needed.add(x);
  }
  return needed;
}

/** Initializers and Constant-node values by name. */
function constantIndex(g: Graph): Map<string, Constant> {
  const m = new Map(g.initializers);
  for (const n of g.nodes) {
    if (n.opType !== 'Constant' || !isDefaultDomain(n)) continue;
    const t = n.attr('value')?.t;
    if (t) m.set(n.outputs[0], t);
    const ints = n.attr('value_ints')?.ints ?? (n.attr('value_int')?.i !== undefined ? [n.attr('value_int')?.i as number] : undefined);
    if (ints) m.set(n.outputs[0], { kind: 'constant', name: n.outputs[0], dataType: DataType.INT64, dims: n.attr('value_int') ? [] : [ints.length], external: false, values: ints });
  }
  return m;
}

/** Sums gradient contributions with Add (valid in every opset, broadcast-free here). */
function sum(g: Graph, parts: readonly string[]): string {
  return parts.reduce((acc, p) => g.op('Add', [acc, p], [], 'grad_sum'));
}

/**
 * Emits the backward pass of `graph` (already in topological order) into it and returns the
 * name of d loss / d source, or undefined when no gradient reaches the source.
 *
 * @throws UnsupportedGradient for an op on the path without a rule, in a custom domain, with a
 *   subgraph (control flow), or with attributes its rule does not do exactly.
 */
export function buildBackward(req: BackwardRequest): string | undefined {
  const { graph: g, opset, shapes, registry } = req;
  const nodes = [...g.nodes];
  const fromSource = dependents(nodes, req.source);
  const toTarget = ancestors(nodes, req.target);
  const constants = constantIndex(g);
  const grads = new Map<string, string[]>([[req.target, [req.seed]]]);

  const accumulate = (value: string, grad: string): void => {
    // A gradient for a value that does not depend on the image is not needed: drop it.
    if (!fromSource.has(value)) return;
    const list = grads.get(value);
    if (list) list.push(grad);
    else grads.set(value, [grad]);
  };
  const gradientOf = (value: string): string | undefined => {
    const parts = grads.get(value);
    return parts && parts.length ? sum(g, parts) : undefined;
  };

  for (let k = nodes.length - 1; k >= 0; k--) {
    const node = nodes[k];
    if (!node.outputs.some((o) => o && fromSource.has(o) && toTarget.has(o))) continue;
    const outputGrads = node.outputs.map((o) => (o && fromSource.has(o) ? gradientOf(o) : undefined));
    if (outputGrads.every((d) => d === undefined)) continue;
    const where = node.name || node.outputs[0];
    if (!isDefaultDomain(node)) throw new UnsupportedGradient(node.opType, `custom domain "${node.domain}": no gradient rule`, where);
    if (node.subgraphs().length) throw new UnsupportedGradient(node.opType, 'control flow (subgraphs): no gradient rule', where);
    const rule = registry.get(node.opType);
    if (!rule) throw new UnsupportedGradient(node.opType, 'no gradient rule', where);
    const ctx: GradientContext = {
      node,
      graph: g,
      opset,
      inputs: node.inputs,
      outputs: node.outputs,
      outputGradient: (index = 0) => outputGrads[index],
      needsGradient: (index) => Boolean(node.inputs[index]) && fromSource.has(node.inputs[index]),
      accumulate,
      shape: (value) => {
        const s = shapes.get(value) ?? constants.get(value)?.dims;
        if (!s) throw new UnsupportedGradient(node.opType, `shape of "${value}" unknown (not in the shape probe)`, where);
        return s;
      },
      constantInts: (value) => {
        const t = constants.get(value);
        return t && t.dataType === DataType.INT64 ? tensorInt64s(t) : undefined;
      },
      constantFloats: (value) => {
        const t = constants.get(value);
        if (!t || t.dataType !== DataType.FLOAT) return undefined;
        // Decode from a plain copy: for a Node Buffer source, tensorFloats' `slice()` of raw_data
        // is a view of the whole file, not a copy, and would read the wrong bytes.
        return tensorFloats(t.source ? { ...t, source: new Uint8Array(t.source) } : t);
      },
      unsupported: (reason) => {
        throw new UnsupportedGradient(node.opType, reason, where);
      },
    };
    rule.build(ctx);
  }
  return gradientOf(req.source);
}
