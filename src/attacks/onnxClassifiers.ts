/**
 * The attacks' view of an ONNX model: pixel-space classifiers backed by ONNX Runtime sessions,
 * one for forward passes (the model itself) and one for input gradients (the gradient graph).
 */
import { Layout, Preprocessing } from '../data/preprocess.js';
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

/** Writes (x*scale - mean)/std of NCHW pixels into the model's layout. */
export function pixelsToModelInput(pixels: Float32Array, count: number, pre: Preprocessing, layout: Layout, out: Float32Array): void {
  for (let i = 0; i < count; i++) {
    const base = i * PIXELS_PER_IMAGE;
    for (let c = 0; c < 3; c++) {
      const scale = pre.scale / pre.std[c];
      const shift = pre.mean[c] / pre.std[c];
      for (let p = 0; p < 1024; p++) {
        const v = pixels[base + c * 1024 + p] * scale - shift;
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

export class GradientGraphClassifier implements GradientClassifier {
  private pixelBuffer = new Float32Array(0);
  private labelBuffer = new Float32Array(0);

  private constructor(private readonly session: ModelSession, private readonly model: GradientModel) {}

  /** Builds and opens the gradient graph; throws UnsupportedGradient when it cannot be built. */
  static async open(modelBytes: Uint8Array, m: ModelInterface): Promise<GradientGraphClassifier> {
    const shapes = await probeShapes(modelBytes);
    const model = buildGradientModel(modelBytes, { layout: m.layout, preprocessing: m.preprocessing, shapes, output: m.logitsName });
    let session: ModelSession;
    try {
      session = await ModelSession.open(model.bytes, { ep: m.ep });
    } catch (err) {
      throw new UnsupportedGradient('runtime', `ONNX Runtime refused the gradient graph: ${(err as Error).message}`);
    }
    return new GradientGraphClassifier(session, model);
  }

  get classes(): number {
    return this.model.classes;
  }

  get outputKind(): GradientModel['outputKind'] {
    return this.model.outputKind;
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
    const out = await this.session.run(this.feeds(pixels, undefined, count), [this.model.outputs.logits]);
    return out[this.model.outputs.logits].data.subarray(0, count * this.model.classes);
  }

  async lossGradient(pixels: Float32Array, labels: Uint8Array, count: number): Promise<{ logits: Float32Array; gradient: Float32Array }> {
    const { logits, gradient } = this.model.outputs;
    const out = await this.session.run(this.feeds(pixels, labels, count), [logits, gradient]);
    return {
      logits: out[logits].data.subarray(0, count * this.model.classes),
      gradient: out[gradient].data.subarray(0, count * PIXELS_PER_IMAGE),
    };
  }

  release(): Promise<void> {
    return this.session.release();
  }
}
