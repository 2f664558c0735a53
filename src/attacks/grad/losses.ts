/**
 * The losses the gradient graph can put behind the logits z [B,K], fed one-hot rows y (the true
 * class) and, for the targeted loss, t (the target class):
 * - `ce`: cross-entropy (gradientGraph.ts builds it, with its gradient in closed form);
 * - `dlr`: the Difference of Logits Ratio of Croce & Hein (2020),
 *   -(z_y - max_{i≠y} z_i) / (z_π1 - z_π3 + 1e-12), π the logits sorted descending;
 * - `dlr-targeted`: -(z_y - z_t) / (z_π1 - (z_π3 + z_π4)/2 + 1e-12).
 * The DLR losses are plain ONNX ops (TopK, ReduceMax, Slice, arithmetic) differentiated by the
 * gradient rules like the model itself, in the model's opset.
 *
 * LossGraphClassifier (lossClassifier.ts) also evaluates {@link ClassifierLoss} `logit-difference`,
 * z_t - z_y per image (FAB's linearised decision boundary), on the `ce` graph: see
 * {@link logitDifferenceRows}.
 */
import { reduce, reshape } from '../../onnx/builders.js';
import { attr, Graph } from '../../onnx/ir.js';
import { scalar, slice } from './ops.js';

export type LossKind = 'ce' | 'dlr' | 'dlr-targeted';

/**
 * The losses LossGraphClassifier evaluates: a graph's own {@link LossKind}, or `logit-difference`,
 * z_t - z_y per image (t the target, y the true class), with its gradient.
 */
export type ClassifierLoss = LossKind | 'logit-difference';

/**
 * The label rows that make the `ce` graph compute the logit difference: r = e_y - e_t per image.
 * The graph's loss per row is T log(sum exp(s)) - sum(r * s), s = z - max(z), T = sum(r); a row
 * summing to 0 drops the log-partition term (0 times a finite log), so the loss is
 * -(s_y - s_t) = z_t - z_y, and its seed gradient T softmax(z) - r is -r = e_t - e_y exactly: the
 * linear loss and its exact gradient, with no new ops in the graph. Rows of images at or beyond
 * `count` (padding to a fixed batch) stay zero.
 *
 * @throws Error when an image's target is its true class (the difference would be 0).
 */
export function logitDifferenceRows(labels: Uint8Array, targets: Uint8Array, count: number, rows: number, classes: number): Float32Array {
  const data = new Float32Array(rows * classes);
  for (let i = 0; i < count; i++) {
    if (labels[i] === targets[i]) throw new Error(`image ${i}: the target class is the true class ${labels[i]}`);
    data[i * classes + labels[i]] = 1;
    data[i * classes + targets[i]] = -1;
  }
  return data;
}

/** The denominators' guard against equal top logits, as in the paper. */
export const DLR_EPSILON = 1e-12;

/** Subtracted from the true class's logit before the max over the others: no logit comes near it. */
const MASKED = 1e30;

export interface LossNodes {
  /** Scalar: sum over the batch. */
  total: string;
  /** [B]: per image. */
  perImage: string;
}

/** The `k` largest entries along axis 1, descending (TopK with `k` an attribute before opset 10). */
function topValues(g: Graph, opset: number, z: string, k: number): string {
  const inputs = opset >= 10 ? [z, g.constantInt64('dlr_k', [1], [k])] : [z];
  const attributes = opset >= 10 ? [attr.int('axis', 1)] : [attr.int('axis', 1), attr.int('k', k)];
  const node = g.addNode({ opType: 'TopK', inputs, attributes, outputs: ['dlr_sorted', 'dlr_sorted_indices'] });
  return node.outputs[0]; // Indices: the TopK rule reads them from the node
}

/**
 * Adds a DLR loss. `shapes` receives the static shape of every new value (the gradient rules
 * read them; `batch` is the probe's batch, as for the model's values).
 *
 * @throws Error when the model has fewer classes than the loss's sort needs (3, or 4 targeted).
 */
export function addDlrLoss(
  g: Graph,
  opset: number,
  z: string,
  y: string,
  t: string | undefined,
  shapes: Map<string, readonly number[]>,
  batch: number,
  classes: number,
): LossNodes {
  const k = t ? 4 : 3;
  if (classes < k) throw new Error(`the ${t ? 'targeted ' : ''}DLR loss needs at least ${k} classes (the model has ${classes})`);
  const row = [batch, classes];
  const col = [batch, 1];
  const shaped = (name: string, dims: readonly number[]): string => {
    shapes.set(name, dims);
    return name;
  };
  shapes.set(y, row);
  if (t) shapes.set(t, row);
  const pick = (onehot: string): string => shaped(reduce(g, opset, 'ReduceSum', shaped(g.op('Mul', [z, onehot], [], 'dlr_pick'), row), [1], true), col);
  const values = topValues(g, opset, z, k);
  shaped(values, [batch, k]);
  const top = (i: number): string => shaped(slice(g, opset, values, [i], [i + 1], [1]), col);
  const zy = pick(y);
  let numerator: string;
  let denominator: string;
  if (t) {
    numerator = shaped(g.op('Sub', [zy, pick(t)]), col);
    const lower = shaped(g.op('Mul', [shaped(g.op('Add', [top(2), top(3)]), col), scalar(g, 0.5)]), col);
    denominator = shaped(g.op('Sub', [top(0), lower]), col);
  } else {
    const masked = shaped(g.op('Sub', [z, g.op('Mul', [y, scalar(g, MASKED)])], [], 'dlr_others'), row);
    numerator = shaped(g.op('Sub', [zy, shaped(reduce(g, opset, 'ReduceMax', masked, [1], true), col)]), col);
    denominator = shaped(g.op('Sub', [top(0), top(2)]), col);
  }
  const guarded = shaped(g.op('Add', [denominator, scalar(g, DLR_EPSILON)]), col);
  const dlr = shaped(g.op('Neg', [shaped(g.op('Div', [numerator, guarded]), col)], [], 'dlr'), col);
  // All-zero label rows (batch padding) weigh 0, as with the cross-entropy.
  const weight = shaped(reduce(g, opset, 'ReduceSum', y, [1], true), col);
  const perRow = shaped(g.op('Mul', [dlr, weight], [], 'loss_per_image'), col);
  const perImage = shaped(reshape(g, perRow, [-1]), [batch]);
  const total = shaped(g.op('ReduceSum', [perImage], [attr.int('keepdims', 0)], 'loss_total'), []);
  return { total, perImage };
}
