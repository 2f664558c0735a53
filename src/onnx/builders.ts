/**
 * Builders for ops whose signature changed across opsets, so helper graphs we add work in a
 * model of any opset without bumping it (bumping would change the semantics of its own ops).
 */
import { attr, Graph } from './ir.js';

type Reduce = 'ReduceSum' | 'ReduceMax' | 'ReduceMean';

/** Opset from which the reduction takes `axes` as an input instead of an attribute. */
const AXES_AS_INPUT_FROM: Record<Reduce, number> = { ReduceSum: 13, ReduceMax: 18, ReduceMean: 18 };

export function reduce(graph: Graph, opset: number, op: Reduce, x: string, axes: readonly number[], keepdims = false): string {
  const keep = attr.int('keepdims', keepdims ? 1 : 0);
  if (opset >= AXES_AS_INPUT_FROM[op]) {
    const axesName = graph.constantInt64(`${op}_axes`, [axes.length], axes);
    return graph.op(op, [x, axesName], [keep]);
  }
  return graph.op(op, [x], [attr.ints('axes', axes), keep]);
}

/** Gathers index `index` along `axis`, dropping that axis. */
export function takeIndex(graph: Graph, x: string, axis: number, index: number): string {
  const idx = graph.constantInt64('take_index', [], [index]);
  return graph.op('Gather', [x, idx], [attr.int('axis', axis)]);
}

/** Reshape with a constant target shape (0 copies the input's dimension). */
export function reshape(graph: Graph, x: string, shape: readonly number[]): string {
  const s = graph.constantInt64('reshape_to', [shape.length], shape);
  return graph.op('Reshape', [x, s]);
}
