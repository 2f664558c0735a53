/**
 * The robustness half of an audit (SPEC §4): opens the model and its gradient graph as
 * pixel-space classifiers and runs the attack plan on the first samples.
 */
import { LossGraphClassifier } from '../attacks/grad/lossClassifier.js';
import type { ClassifierLoss } from '../attacks/grad/losses.js';
import { GradientGraphClassifier, ModelInterface, SessionClassifier } from '../attacks/onnxClassifiers.js';
import { UnsupportedGradient } from '../attacks/grad/registry.js';
import { robustnessPlan } from '../attacks/presets.js';
import { RobustnessReport, runRobustness } from '../attacks/suite.js';
import { Cifar10Set } from '../data/cifar10.js';
import { pixelsInUnitRange } from '../data/preprocess.js';
import { ModelError } from '../onnx/codec.js';
import type { Model } from '../onnx/ir.js';
import { AuditOptions } from './options.js';

export async function auditRobustness(
  modelBytes: Uint8Array,
  /** The same model decoded (left as it is): the gradient graph is built on a copy of it. */
  decoded: Model,
  model: ModelInterface,
  options: AuditOptions,
  dataset: Cifar10Set,
  samples: number,
  batch: number,
  progress: (fraction: number, message: string) => void,
): Promise<RobustnessReport> {
  if (options.robustness === 'none') throw new Error('robustness not requested');
  const plan = robustnessPlan(options.robustness, options.attack, samples);
  const forward = await SessionClassifier.open(modelBytes, model);
  let gradient: GradientGraphClassifier | null = null;
  let why: string | undefined;
  try {
    gradient = await GradientGraphClassifier.open(decoded, model);
  } catch (err) {
    if (!(err instanceof UnsupportedGradient || err instanceof ModelError)) throw err;
    why = err instanceof UnsupportedGradient ? `no gradient for ${err.opType}: ${err.reason}` : err.message;
  }
  // Gradient graphs of other losses, each built only when its attack runs on an image; where one
  // cannot be built, why.
  const lossGraphs = new Map<ClassifierLoss, LossGraphClassifier | string>();
  const lossGraph = async (loss: ClassifierLoss): Promise<LossGraphClassifier | string> => {
    let graph = lossGraphs.get(loss);
    if (graph === undefined) {
      try {
        graph = await LossGraphClassifier.open(decoded, model, loss);
      } catch (err) {
        if (!(err instanceof UnsupportedGradient || err instanceof ModelError)) throw err;
        graph = err instanceof UnsupportedGradient ? `no gradient for ${err.opType}: ${err.reason}` : err.message;
      }
      lossGraphs.set(loss, graph);
    }
    return graph;
  };
  const models = { forward, gradient, why, targetedDlr: () => lossGraph('dlr-targeted'), logitDifference: () => lossGraph('logit-difference') };
  try {
    const report = await runRobustness(
      models,
      { pixels: (start, count) => pixelsInUnitRange(dataset, start, count), labels: dataset.labels, batch },
      plan,
      progress,
    );
    if (gradient?.outputKind === 'softmax') {
      report.flags.push('the model outputs probabilities (Softmax): the loss is taken on its input; saturated outputs can still hide gradients');
    }
    return report;
  } finally {
    await forward.release();
    await gradient?.release();
    for (const graph of lossGraphs.values()) if (graph instanceof LossGraphClassifier) await graph.release();
  }
}
