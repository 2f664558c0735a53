/**
 * A pixel-space classifier whose gradient is that of a chosen loss (cross-entropy or DLR,
 * untargeted or targeted, or the logit difference z_t - z_y): the gradient graph built with that
 * loss, in one ONNX Runtime session. APGD-DLR and APGD-T run on it, and FAB-T with the logit
 * difference (the cross-entropy attacks use GradientGraphClassifier, which also carries the
 * fused PGD step).
 */
import type { ApgdModel } from '../apgd.js';
import type { ModelInterface } from '../onnxClassifiers.js';
import { PIXELS_PER_IMAGE } from '../types.js';
import type { Model } from '../../onnx/ir.js';
import { FloatTensor, ModelSession } from '../../runtime/session.js';
import { buildGradientModel, GradientModel } from './gradientGraph.js';
import { ClassifierLoss, logitDifferenceRows } from './losses.js';
import { UnsupportedGradient } from './registry.js';
import { probeShapes } from './shapes.js';

export interface LossEvaluation {
  /** [count, classes]. */
  logits: Float32Array;
  /** [count]: the loss per image. */
  losses: Float32Array;
  /** [count,3,32,32]: d(sum of the losses)/d pixels. */
  gradient: Float32Array;
}

export class LossGraphClassifier implements ApgdModel {
  private constructor(
    private readonly session: ModelSession,
    readonly model: GradientModel,
    /** What `evaluate` returns as the loss (the graph's own, except for `logit-difference`). */
    readonly loss: ClassifierLoss,
  ) {}

  /**
   * Builds and opens the gradient graph of `source` with `loss` (`logit-difference`: the `ce`
   * graph fed the rows of {@link logitDifferenceRows}).
   *
   * @throws UnsupportedGradient when the graph cannot be built or ONNX Runtime refuses it.
   */
  static async open(source: Uint8Array | Model, m: Pick<ModelInterface, 'layout' | 'preprocessing' | 'logitsName' | 'ep'>, loss: ClassifierLoss): Promise<LossGraphClassifier> {
    const shapes = await probeShapes(source);
    const graphLoss = loss === 'logit-difference' ? 'ce' : loss;
    const model = buildGradientModel(source, { layout: m.layout, preprocessing: m.preprocessing, shapes, output: m.logitsName, loss: graphLoss });
    let session: ModelSession;
    try {
      session = await ModelSession.open(model.bytes, { ep: m.ep });
    } catch (err) {
      throw new UnsupportedGradient('runtime', `ONNX Runtime refused the gradient graph: ${(err as Error).message}`);
    }
    return new LossGraphClassifier(session, model, loss);
  }

  get classes(): number {
    return this.model.classes;
  }

  /** Feeds of `count` images padded to the model's fixed batch; absent labels/targets are zero rows. */
  private feeds(pixels: Float32Array, labels: Uint8Array | undefined, targets: Uint8Array | undefined, count: number): Record<string, FloatTensor> {
    const fixed = this.model.fixedBatch;
    if (fixed !== null && count > fixed) throw new Error(`batch of ${count} exceeds the model's fixed batch ${fixed}`);
    const rows = fixed ?? count;
    const k = this.model.classes;
    let px = pixels.subarray(0, count * PIXELS_PER_IMAGE);
    if (rows !== count) {
      px = new Float32Array(rows * PIXELS_PER_IMAGE);
      px.set(pixels.subarray(0, count * PIXELS_PER_IMAGE));
    }
    const oneHot = (classes: Uint8Array | undefined): FloatTensor => {
      const data = new Float32Array(rows * k);
      if (classes) for (let i = 0; i < count; i++) data[i * k + classes[i]] = 1;
      return { data, dims: [rows, k] };
    };
    let labelRows: FloatTensor;
    if (this.loss === 'logit-difference' && labels) {
      if (!targets) throw new Error('the logit difference needs target classes');
      labelRows = { data: logitDifferenceRows(labels, targets, count, rows, k), dims: [rows, k] };
    } else labelRows = oneHot(labels);
    const feeds: Record<string, FloatTensor> = {
      [this.model.inputs.pixels]: { data: px, dims: [rows, 3, 32, 32] },
      [this.model.inputs.labels]: labelRows,
    };
    if (this.model.inputs.targets) {
      if (labels && !targets) throw new Error('the targeted loss needs target classes');
      feeds[this.model.inputs.targets] = oneHot(targets);
    }
    return feeds;
  }

  async logits(pixels: Float32Array, count: number): Promise<Float32Array> {
    const name = this.model.outputs.logits;
    const out = await this.session.run(this.feeds(pixels, undefined, undefined, count), [name]);
    return out[name].data.subarray(0, count * this.model.classes);
  }

  /** Logits, per-image losses and the gradient of their sum (`targets` for the targeted losses). */
  async evaluate(pixels: Float32Array, labels: Uint8Array, count: number, targets?: Uint8Array): Promise<LossEvaluation> {
    const { logits, losses, gradient } = this.model.outputs;
    const out = await this.session.run(this.feeds(pixels, labels, targets, count), [logits, losses, gradient]);
    return {
      logits: out[logits].data.subarray(0, count * this.model.classes),
      losses: out[losses].data.subarray(0, count),
      gradient: out[gradient].data.subarray(0, count * PIXELS_PER_IMAGE),
    };
  }

  async lossGradient(pixels: Float32Array, labels: Uint8Array, count: number, targets?: Uint8Array): Promise<{ logits: Float32Array; gradient: Float32Array }> {
    const r = await this.evaluate(pixels, labels, count, targets);
    return { logits: r.logits, gradient: r.gradient };
  }

  release(): Promise<void> {
    return this.session.release();
  }
}
