/**
 * The gradient rules of reverse-mode differentiation over our ONNX IR, one per op type (like
 * TensorFlow.js core's `gradients/*_grad.ts`). Each rule emits the ONNX nodes of its op's
 * backward pass into the model's own graph, in the model's own opset, and only for the inputs
 * that lie on the path back to the image.
 */
import type { Graph, Node } from '../../onnx/ir.js';
import { addRule } from './rules/Add.js';
import { averagePoolRule } from './rules/AveragePool.js';
import { batchNormalizationRule } from './rules/BatchNormalization.js';
import { castRule } from './rules/Cast.js';
import { clipRule } from './rules/Clip.js';
import { concatRule } from './rules/Concat.js';
import { convRule } from './rules/Conv.js';
import { divRule } from './rules/Div.js';
import { dropoutRule } from './rules/Dropout.js';
import { expandRule } from './rules/Expand.js';
import { flattenRule } from './rules/Flatten.js';
import { gemmRule } from './rules/Gemm.js';
import { globalAveragePoolRule } from './rules/GlobalAveragePool.js';
import { identityRule } from './rules/Identity.js';
import { leakyReluRule } from './rules/LeakyRelu.js';
import { logSoftmaxRule } from './rules/LogSoftmax.js';
import { matMulRule } from './rules/MatMul.js';
import { maxPoolRule } from './rules/MaxPool.js';
import { mulRule } from './rules/Mul.js';
import { negRule } from './rules/Neg.js';
import { preluRule } from './rules/PRelu.js';
import { padRule } from './rules/Pad.js';
import { reduceMaxRule } from './rules/ReduceMax.js';
import { reduceMeanRule } from './rules/ReduceMean.js';
import { reduceSumRule } from './rules/ReduceSum.js';
import { reluRule } from './rules/Relu.js';
import { reshapeRule } from './rules/Reshape.js';
import { sigmoidRule } from './rules/Sigmoid.js';
import { sliceRule } from './rules/Slice.js';
import { softmaxRule } from './rules/Softmax.js';
import { squeezeRule } from './rules/Squeeze.js';
import { subRule } from './rules/Sub.js';
import { sumRule } from './rules/Sum.js';
import { tanhRule } from './rules/Tanh.js';
import { topKRule } from './rules/TopK.js';
import { transposeRule } from './rules/Transpose.js';
import { unsqueezeRule } from './rules/Unsqueeze.js';

/** Static shapes of values, from a probe run of the model (see shapes.ts). */
export type ShapeTable = ReadonlyMap<string, readonly number[]>;

/**
 * The model cannot be differentiated here: an op without a rule, or an attribute or input
 * combination a rule does not do exactly. The caller names it in the report and falls back to
 * a black-box attack.
 */
export class UnsupportedGradient extends Error {
  /**
   * @param opType the op (or `opset` for a model too old to differentiate)
   * @param reason why, one line
   * @param node the node's name (or first output) where one is involved
   */
  constructor(readonly opType: string, readonly reason: string, readonly node?: string) {
    super(`no input gradient through ${opType}${node ? ` (node ${node})` : ''}: ${reason}`);
    this.name = 'UnsupportedGradient';
  }
}

/** What a rule sees of the node it differentiates and of the graph being built. */
export interface GradientContext {
  readonly node: Node;
  /** The graph the backward nodes go into (the model's own graph). */
  readonly graph: Graph;
  /** The model's default-domain opset: every emitted op must be valid in it. */
  readonly opset: number;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  /** Name of d loss / d outputs[index], or undefined when no gradient reaches that output. */
  outputGradient(index?: number): string | undefined;
  /** True when inputs[index] depends on the image (only those need a gradient). */
  needsGradient(inputIndex: number): boolean;
  /** Adds `gradName` to the gradient of `valueName` (summed with Add over several consumers). */
  accumulate(valueName: string, gradName: string): void;
  /** Static shape of a value (probe run, initializer or Constant). Throws UnsupportedGradient when unknown. */
  shape(valueName: string): readonly number[];
  /** Values of an int64 initializer or Constant (axes, pads, shapes), or undefined when computed. */
  constantInts(valueName: string): number[] | undefined;
  /** Values of a float initializer or Constant, or undefined when computed. */
  constantFloats(valueName: string): Float32Array | undefined;
  /** Throws UnsupportedGradient for this node's op type. */
  unsupported(reason: string): never;
}

/** The backward pass of one op type of the default ONNX domain. */
export interface GradientRule {
  readonly opType: string;
  build(ctx: GradientContext): void;
}

/** Op type -> rule. Throws on a duplicate op type: two rules for one op would be a silent choice. */
export function makeRegistry(rules: readonly GradientRule[]): ReadonlyMap<string, GradientRule> {
  const m = new Map<string, GradientRule>();
  for (const r of rules) {
    if (m.has(r.opType)) throw new Error(`duplicate gradient rule for op type ${r.opType}`);
    m.set(r.opType, r);
  }
  return m;
}

/**
 * Every rule, explicitly. Rules import only types from this module (they throw through
 * `ctx.unsupported`), so the list can live here without an import cycle at run time.
 */
export const GRADIENT_RULES: readonly GradientRule[] = [
  convRule,
  gemmRule,
  matMulRule,
  addRule,
  subRule,
  mulRule,
  divRule,
  sumRule,
  negRule,
  reluRule,
  leakyReluRule,
  preluRule,
  clipRule,
  sigmoidRule,
  tanhRule,
  batchNormalizationRule,
  maxPoolRule,
  averagePoolRule,
  globalAveragePoolRule,
  reduceMeanRule,
  reduceSumRule,
  reduceMaxRule,
  topKRule,
  flattenRule,
  reshapeRule,
  squeezeRule,
  unsqueezeRule,
  transposeRule,
  concatRule,
  padRule,
  sliceRule,
  expandRule,
  identityRule,
  dropoutRule,
  castRule,
  softmaxRule,
  logSoftmaxRule,
];

/** The registry the gradient graph uses. */
export const GRADIENT_REGISTRY: ReadonlyMap<string, GradientRule> = makeRegistry(GRADIENT_RULES);
