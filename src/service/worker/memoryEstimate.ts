/**
 * How much memory an audit will need, from what a one-image probe run measured: each strided
 * op's stride-1 twin holds a map `s_h*s_w` times its output per image, and a batch holds the
 * model's values for each of its images. Pure arithmetic; the constants were measured under
 * RLIMIT_DATA (below): the estimate errs high (by 20-30% on the models measured), so that what
 * it refuses could not have fitted.
 */
import { PROBE_KEPT_OPEN_MAX_BYTES } from '../../audit/preprocessingChoice.js';

/** A strided op as the probe saw it, per image: [C, H, W] in and out. */
export interface ProbedOp {
  node: string;
  inputShape: readonly number[];
  outputShape: readonly number[];
  strides: readonly [number, number];
  kernel: readonly [number, number];
}

export interface MemoryEstimateInput {
  modelBytes: number;
  /** Images per inference call (the model's fixed batch, or the audit's). */
  batch: number;
  /** Bytes of every value the model computes for one image, summed (the probe exposes them all). */
  activationBytesPerImage: number;
  ops: readonly ProbedOp[];
}

export interface MemoryEstimate {
  /** Everything together (bytes). */
  bytes: number;
  /** The largest twin's share, and its op. */
  largestTwin: { node: string; bytes: number } | null;
  /** The batch's activations. */
  activationBytes: number;
  batch: number;
}

const FLOAT = 4;
/** Node, V8, ONNX Runtime and the samples before any model (measured: ~170-200 MiB). */
export const BASE_BYTES = 224 * 2 ** 20;
/** Copies of the model alive at once: the upload's bytes, the decoded graph, the probe's and the audit graph's encodings, ORT's own. */
const MODEL_COPIES = 6;
/**
 * Per image: the largest twin and the other twins (the runtime frees a twin's tensors after
 * their last use, so the largest dominates), and every value the model computes. Measured with
 * RLIMIT_DATA: 5.75 MiB per image for one 2.25 MiB twin (this gives 7.0), 1.54 MiB for
 * preact_resnet_standard (values 0.97 MiB, twins 2x128 + 2x64 KiB: this gives 1.95).
 */
const LARGEST_TWIN_COPIES = 3;
const OTHER_TWIN_COPIES = 0.5;
const ACTIVATION_COPIES = 1.5;

/** Estimates an audit's peak memory (bytes) from its probed geometry; errs high. */
export function estimateAuditMemory(input: MemoryEstimateInput): MemoryEstimate {
  const { batch } = input;
  let twinsPerImage = 0;
  let largestTwinPerImage = 0;
  let im2col = 0;
  let largestTwin: MemoryEstimate['largestTwin'] = null;
  for (const op of input.ops) {
    const [c, nh, nw] = op.outputShape;
    const twinHW = op.strides[0] * nh * op.strides[1] * nw;
    const twinElements = c * twinHW;
    twinsPerImage += twinElements;
    // A stride-1 Conv may unfold its input once per image: C_in*k_h*k_w values per output pixel.
    im2col = Math.max(im2col, op.inputShape[0] * op.kernel[0] * op.kernel[1] * twinHW * FLOAT);
    if (twinElements > largestTwinPerImage) {
      largestTwinPerImage = twinElements;
      largestTwin = { node: op.node, bytes: twinElements * batch * FLOAT * LARGEST_TWIN_COPIES };
    }
  }
  const activationBytes = (input.activationBytesPerImage + 3 * 32 * 32 * FLOAT) * batch * ACTIVATION_COPIES;
  const twinBytes = (largestTwinPerImage * LARGEST_TWIN_COPIES + (twinsPerImage - largestTwinPerImage) * OTHER_TWIN_COPIES) * batch * FLOAT + im2col;
  // a small model's probe session stays open through the measurement pass: ORT's copy of it too
  const probeKept = input.modelBytes <= PROBE_KEPT_OPEN_MAX_BYTES ? input.modelBytes : 0;
  return { bytes: BASE_BYTES + input.modelBytes * MODEL_COPIES + probeKept + activationBytes + twinBytes, largestTwin, activationBytes, batch };
}
