/**
 * How much memory an audit will need, from what a one-image probe run measured: each strided
 * op's stride-1 twin holds a map `s_h*s_w` times its output per image, and a batch holds the
 * model's values alive at once for each of its images. Pure arithmetic; the constants were
 * measured under RLIMIT_DATA (below). The estimate errs high, by 15-35% on the models measured,
 * so that an audit it lets through does not meet the limit half-way; erring by more would
 * refuse audits that fit (summing every value, it once asked 4.3 GiB for a WideResNet audit
 * that needed 1.6).
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
  /** The most bytes of the model's values alive at once for one image ({@link peakLiveBytes}). */
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

/** A node as the liveness walk sees it: the values it reads (its subgraphs' outer reads too) and writes. */
export interface ValueFlow {
  reads: readonly string[];
  writes: readonly string[];
}

/**
 * The most bytes of values alive at once while the nodes run in this order (topological): a
 * value lives from the node that writes it to the last node that reads it, a `kept` one (the
 * graph's outputs) to the end. ONNX Runtime's allocation planner frees or reuses a buffer after
 * its last use, so a batch holds about this much, not the sum of every value: for a
 * WideResNet-28-10 the sum is 32 MiB per image, the peak 1.9 MiB. Values without a size
 * (weights, the graph's inputs) count 0.
 */
export function peakLiveBytes(flow: readonly ValueFlow[], sizes: ReadonlyMap<string, number>, kept: ReadonlySet<string>): number {
  const lastRead = new Map<string, number>();
  flow.forEach((node, i) => {
    for (const name of node.reads) lastRead.set(name, i);
  });
  const written = new Set<string>();
  let live = 0;
  let peak = 0;
  flow.forEach((node, i) => {
    for (const name of node.writes) {
      if (written.has(name)) continue;
      written.add(name);
      live += sizes.get(name) ?? 0;
    }
    // a node's inputs and outputs are alive together while it runs
    peak = Math.max(peak, live);
    const ended = new Set([...node.reads.filter((name) => lastRead.get(name) === i), ...node.writes.filter((name) => !lastRead.has(name))]);
    for (const name of ended) if (written.has(name) && !kept.has(name)) live -= sizes.get(name) ?? 0;
  });
  return peak;
}

const FLOAT = 4;
const MIB = 2 ** 20;
/** Node, V8, ONNX Runtime and the samples before any model (measured: ~170-200 MiB). */
export const BASE_BYTES = 224 * MIB;
/**
 * Memory per byte of model, whatever the batch: the upload's bytes, the preflight's and the
 * audit's sessions (ORT's copy of the weights and its packed convolution weights each), the
 * graphs' encodings, and what the allocator keeps of them. Measured under RLIMIT_DATA on a
 * 139 MiB WideResNet-28-10 (service worker, warm, two audits in a row; 2026-12-03): at batch 1
 * an audit needed 1.29 to 1.34 GiB when each encoding still grew by doubling, 1.0 to 1.06 GiB
 * after, and 1.2 to 1.3 GiB with the probe session kept open (counted below), against 1.6 GiB
 * estimated. Erring high here is deliberate: a warm worker's second audit needs up to 0.1 GiB
 * more than its first, and which allocation fails near the limit varies from run to run.
 */
const MODEL_COPIES = 9;
/**
 * Per image: the largest twin and the other twins (the runtime frees a twin's tensors after
 * their last use, so the largest dominates), and the model's values alive at once. Measured
 * under RLIMIT_DATA (service worker): the WideResNet-28-10 needed about 5 MiB more per image
 * from batch 1 to 64 (1.6 GiB at 64 with its probe session reopened, 1.9 to 2.0 GiB kept open,
 * estimated 2.4); this gives 7.9 (values 1.9 MiB alive at once, twins 2x1.25 + 2x0.63 MiB) plus
 * 4.7 for the kept probe session. The bundled preact_resnet_standard needed about 0.9 MiB
 * (272 MiB at batch 100, 640 at 500); this gives 1.2, with its probe session.
 */
const LARGEST_TWIN_COPIES = 3;
const OTHER_TWIN_COPIES = 0.5;
const ACTIVATION_COPIES = 1.5;

/** Estimates an audit's peak memory (bytes) from its probed geometry; errs high. */
export function estimateAuditMemory(input: MemoryEstimateInput): MemoryEstimate {
  const { batch } = input;
  let twinsPerImage = 0;
  let largestTwinPerImage = 0;
  let exposedPerImage = 0;
  let im2col = 0;
  let largestTwin: MemoryEstimate['largestTwin'] = null;
  for (const op of input.ops) {
    const [c, nh, nw] = op.outputShape;
    const twinHW = op.strides[0] * nh * op.strides[1] * nw;
    const twinElements = c * twinHW;
    twinsPerImage += twinElements;
    exposedPerImage += op.inputShape.reduce((a, b) => a * b, 1) + c * nh * nw;
    // A stride-1 Conv may unfold its input once per image: C_in*k_h*k_w values per output pixel.
    im2col = Math.max(im2col, op.inputShape[0] * op.kernel[0] * op.kernel[1] * twinHW * FLOAT);
    if (twinElements > largestTwinPerImage) {
      largestTwinPerImage = twinElements;
      largestTwin = { node: op.node, bytes: twinElements * batch * FLOAT * LARGEST_TWIN_COPIES };
    }
  }
  const inputPerImage = 3 * 32 * 32 * FLOAT;
  const activationBytes = (input.activationBytesPerImage + inputPerImage) * batch * ACTIVATION_COPIES;
  const twinBytes = (largestTwinPerImage * LARGEST_TWIN_COPIES + (twinsPerImage - largestTwinPerImage) * OTHER_TWIN_COPIES) * batch * FLOAT + im2col;
  // A small model's probe session stays open through the measurement pass: ORT's copy of the
  // model, and its arena as the candidates' batches left it (their values, the strided ops'
  // inputs and outputs that the probe exposes).
  const probeKept =
    input.modelBytes <= PROBE_KEPT_OPEN_MAX_BYTES ? input.modelBytes + (input.activationBytesPerImage + inputPerImage + exposedPerImage * FLOAT) * batch : 0;
  return { bytes: BASE_BYTES + input.modelBytes * MODEL_COPIES + probeKept + activationBytes + twinBytes, largestTwin, activationBytes, batch };
}
