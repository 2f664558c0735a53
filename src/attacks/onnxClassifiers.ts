/**
 * The attacks' view of an ONNX model: pixel-space classifiers backed by ONNX Runtime sessions,
 * one for forward passes (the model itself) and one for input gradients (the gradient graph).
 */
import { Layout, normalisation, normalisedPixel, Preprocessing } from '../data/preprocess.js';
import { encodeModel } from '../onnx/codec.js';
import type { Model } from '../onnx/ir.js';
import { DataType } from '../onnx/schema.js';
import { ExecutionProviderChoice, FloatTensor, ModelSession } from '../runtime/session.js';
import { buildGradientModel, GradientModel } from './grad/gradientGraph.js';
import { UnsupportedGradient } from './grad/registry.js';
import { probeShapes } from './grad/shapes.js';
import { GradientClassifier, PixelClassifier, PIXELS_PER_IMAGE } from './types.js';

export interface ModelInterface {
  inputName: string;
  logitsName: string;
  layout: Layout;
  preprocessing: Preprocessing;
  /** A fixed batch size the model insists on, or null. */
  fixedBatch: number | null;
  ep: ExecutionProviderChoice;
}

/** Writes (x*scale - mean)/std of NCHW pixels into the model's layout (the one {@link normalisedPixel}). */
export function pixelsToModelInput(pixels: Float32Array, count: number, pre: Preprocessing, layout: Layout, out: Float32Array): void {
  const k = normalisation(pre);
  for (let i = 0; i < count; i++) {
    const base = i * PIXELS_PER_IMAGE;
    for (let c = 0; c < 3; c++) {
      for (let p = 0; p < 1024; p++) {
        const v = normalisedPixel(pixels[base + c * 1024 + p], k, c);
        if (layout === 'NCHW') out[base + c * 1024 + p] = v;
        else out[base + p * 3 + c] = v;
      }
    }
  }
}

/** Rows of a fixed-batch model are padded; this is how many rows a call of `count` sends. */
function rowsFor(count: number, fixedBatch: number | null): number {
  if (fixedBatch === null) return count;
  if (count > fixedBatch) throw new Error(`batch of ${count} exceeds the model's fixed batch ${fixedBatch}`);
  return fixedBatch;
}

export class SessionClassifier implements PixelClassifier {
  private buffer = new Float32Array(0);

  private constructor(private readonly session: ModelSession, private readonly m: ModelInterface, readonly classes: number) {}

  static async open(modelBytes: Uint8Array, m: ModelInterface): Promise<SessionClassifier> {
    const session = await ModelSession.open(modelBytes, { ep: m.ep });
    const probe = new SessionClassifier(session, m, 0);
    const logits = await probe.run(new Float32Array(PIXELS_PER_IMAGE), 1);
    return new SessionClassifier(session, m, logits.data.length / logits.dims[0]);
  }

  get provider(): string {
    return this.session.provider;
  }

  private async run(pixels: Float32Array, count: number): Promise<FloatTensor> {
    const rows = rowsFor(count, this.m.fixedBatch);
    if (this.buffer.length < rows * PIXELS_PER_IMAGE) this.buffer = new Float32Array(rows * PIXELS_PER_IMAGE);
    const input = this.buffer.subarray(0, rows * PIXELS_PER_IMAGE);
    pixelsToModelInput(pixels, count, this.m.preprocessing, this.m.layout, input);
    input.fill(0, count * PIXELS_PER_IMAGE);
    const dims = this.m.layout === 'NCHW' ? [rows, 3, 32, 32] : [rows, 32, 32, 3];
    const out = await this.session.run({ [this.m.inputName]: { data: input, dims } }, [this.m.logitsName]);
    return out[this.m.logitsName];
  }

  async logits(pixels: Float32Array, count: number): Promise<Float32Array> {
    const t = await this.run(pixels, count);
    const classes = t.data.length / t.dims[0];
    return t.data.subarray(0, count * classes);
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

const NO_STEP = { eps: 0, stepSize: 0 };

/** Names of the PGD step appended to the gradient graph. */
interface StepGraph {
  clean: string;
  eps: string;
  stepSize: string;
  next: string;
}

/**
 * Appends one PGD step to the gradient graph: next = clip(min(max(x + a*sign(g), clean - eps),
 * clean + eps), 0, 1). eps and a are inputs, so one session serves every budget. Needs Sign
 * (opset 9); Max/Min broadcast from opset 8.
 */
function withSignedStep(model: GradientModel): { bytes: Uint8Array; step: StepGraph } | undefined {
  if (model.opset < 9) return undefined;
  const m = model.model; // extended in place: the gradient graph without the step is never encoded
  const g = m.graph;
  const clean = g.uniqueName('clean');
  const eps = g.uniqueName('eps');
  const stepSize = g.uniqueName('step_size');
  g.inputs.push({ name: clean, elemType: DataType.FLOAT, shape: model.pixelShape }, { name: eps, elemType: DataType.FLOAT, shape: [1] }, { name: stepSize, elemType: DataType.FLOAT, shape: [1] });
  const moved = g.op('Add', [model.inputs.pixels, g.op('Mul', [g.op('Sign', [model.outputs.gradient]), stepSize])]);
  const inBall = g.op('Min', [g.op('Max', [moved, g.op('Sub', [clean, eps])]), g.op('Add', [clean, eps])]);
  const zero = g.constantFloat('zero', [1], Float32Array.of(0));
  const one = g.constantFloat('one', [1], Float32Array.of(1));
  const next = g.addNode({ opType: 'Min', inputs: [g.op('Max', [inBall, zero]), one], outputs: ['next_pixels'] }).outputs[0];
  g.addOutput(next);
  g.toposort();
  return { bytes: encodeModel(m), step: { clean, eps, stepSize, next } };
}

export class GradientGraphClassifier implements GradientClassifier {
  private pixelBuffer = new Float32Array(0);
  private labelBuffer = new Float32Array(0);
  private cleanBuffer = new Float32Array(0);
  readonly signedStep?: GradientClassifier['signedStep'];

  private constructor(private readonly session: ModelSession, private readonly model: GradientModel, private readonly step: StepGraph | undefined) {
    if (step) this.signedStep = (x, clean, labels, count, ball) => this.runStep(x, clean, labels, count, ball);
  }

  /** Builds and opens the gradient graph; throws UnsupportedGradient when it cannot be built. */
  /** `source`: the model's bytes, or the audit's decoded model (left as it is). */
  static async open(source: Uint8Array | Model, m: ModelInterface): Promise<GradientGraphClassifier> {
    const shapes = await probeShapes(source);
    const model = buildGradientModel(source, { layout: m.layout, preprocessing: m.preprocessing, shapes, output: m.logitsName });
    const stepped = withSignedStep(model);
    let session: ModelSession;
    try {
      session = await ModelSession.open(stepped?.bytes ?? model.bytes, { ep: m.ep });
    } catch (err) {
      throw new UnsupportedGradient('runtime', `ONNX Runtime refused the gradient graph: ${(err as Error).message}`);
    }
    return new GradientGraphClassifier(session, model, stepped?.step);
  }

  get classes(): number {
    return this.model.classes;
  }

  get outputKind(): GradientModel['outputKind'] {
    return this.model.outputKind;
  }

  /** The step's extra inputs; zero eps and step (a no-op step) when only the gradient is wanted. */
  private stepFeeds(clean: Float32Array | undefined, count: number, ball: { eps: number; stepSize: number }, pixels: FloatTensor): Record<string, FloatTensor> {
    if (!this.step) return {};
    let c = pixels;
    if (clean) {
      const rows = pixels.dims[0];
      if (rows === count) c = { data: clean.subarray(0, count * PIXELS_PER_IMAGE), dims: pixels.dims };
      else {
        if (this.cleanBuffer.length < rows * PIXELS_PER_IMAGE) this.cleanBuffer = new Float32Array(rows * PIXELS_PER_IMAGE);
        const buf = this.cleanBuffer.subarray(0, rows * PIXELS_PER_IMAGE).fill(0);
        buf.set(clean.subarray(0, count * PIXELS_PER_IMAGE));
        c = { data: buf, dims: pixels.dims };
      }
    }
    return {
      [this.step.clean]: c,
      [this.step.eps]: { data: Float32Array.of(ball.eps), dims: [1] },
      [this.step.stepSize]: { data: Float32Array.of(ball.stepSize), dims: [1] },
    };
  }

  private async runStep(x: Float32Array, clean: Float32Array, labels: Uint8Array, count: number, ball: { eps: number; stepSize: number }): Promise<{ logits: Float32Array; next: Float32Array }> {
    const step = this.step as StepGraph;
    const feeds = this.feeds(x, labels, count);
    const out = await this.session.run({ ...feeds, ...this.stepFeeds(clean, count, ball, feeds[this.model.inputs.pixels]) }, [this.model.outputs.logits, step.next]);
    return {
      logits: out[this.model.outputs.logits].data.subarray(0, count * this.model.classes),
      next: out[step.next].data.subarray(0, count * PIXELS_PER_IMAGE),
    };
  }

  private feeds(pixels: Float32Array, labels: Uint8Array | undefined, count: number): Record<string, FloatTensor> {
    const rows = rowsFor(count, this.model.fixedBatch);
    const k = this.model.classes;
    if (this.labelBuffer.length < rows * k) this.labelBuffer = new Float32Array(rows * k);
    let px: Float32Array;
    if (rows === count) {
      // The preprocessing is inside the graph: the caller's pixels go in as they are, uncopied.
      px = pixels.subarray(0, count * PIXELS_PER_IMAGE);
    } else {
      if (this.pixelBuffer.length < rows * PIXELS_PER_IMAGE) this.pixelBuffer = new Float32Array(rows * PIXELS_PER_IMAGE);
      px = this.pixelBuffer.subarray(0, rows * PIXELS_PER_IMAGE);
      px.set(pixels.subarray(0, count * PIXELS_PER_IMAGE));
      px.fill(0, count * PIXELS_PER_IMAGE);
    }
    const onehot = this.labelBuffer.subarray(0, rows * k).fill(0);
    // padding rows keep all-zero labels, so they add nothing to the loss or its gradient
    if (labels) for (let i = 0; i < count; i++) onehot[i * k + labels[i]] = 1;
    return {
      [this.model.inputs.pixels]: { data: px, dims: [rows, 3, 32, 32] },
      [this.model.inputs.labels]: { data: onehot, dims: [rows, k] },
    };
  }

  async logits(pixels: Float32Array, count: number): Promise<Float32Array> {
    const feeds = this.feeds(pixels, undefined, count);
    const out = await this.session.run({ ...feeds, ...this.stepFeeds(undefined, count, NO_STEP, feeds[this.model.inputs.pixels]) }, [this.model.outputs.logits]);
    return out[this.model.outputs.logits].data.subarray(0, count * this.model.classes);
  }

  async lossGradient(pixels: Float32Array, labels: Uint8Array, count: number): Promise<{ logits: Float32Array; gradient: Float32Array }> {
    const { logits, gradient } = this.model.outputs;
    const feeds = this.feeds(pixels, labels, count);
    const out = await this.session.run({ ...feeds, ...this.stepFeeds(undefined, count, NO_STEP, feeds[this.model.inputs.pixels]) }, [logits, gradient]);
    return {
      logits: out[logits].data.subarray(0, count * this.model.classes),
      gradient: out[gradient].data.subarray(0, count * PIXELS_PER_IMAGE),
    };
  }

  release(): Promise<void> {
    return this.session.release();
  }
}
