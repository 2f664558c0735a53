/**
 * The only module that imports onnxruntime-node (with the provider probe's child process):
 * typed sessions, explicit execution providers with our own fallback (asking ORT for CUDA
 * without its libraries is a hard error, not a fallback), and input checks that name every
 * missing feed.
 */
import * as ort from 'onnxruntime-node';
import { conciseRuntimeError, probeProviders, ProviderProbeOutcome } from './providerProbe.js';

// Provider probes fail loudly in ORT's shared log; the failures are reported in our report instead.
ort.env.logLevel = 'fatal';

/** GPU providers the probe passed that then failed to start here, with why: not retried on every audit. */
const unavailableProviders = new Map<string, string>();

export type ExecutionProviderChoice = 'auto' | 'cpu' | 'cuda' | 'webgpu';
export const EXECUTION_PROVIDERS: readonly ExecutionProviderChoice[] = ['auto', 'cpu', 'cuda', 'webgpu'];

/** A float32 tensor as the layers above see it: data and dims, no runtime types. */
export interface FloatTensor {
  data: Float32Array;
  dims: readonly number[];
}

export interface ProviderAttempt {
  provider: string;
  error: string;
}

/** Raised when ONNX Runtime refuses the model itself (not a provider problem). */
export class RuntimeLoadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RuntimeLoadError';
  }
}

export interface SessionOptions {
  ep: ExecutionProviderChoice;
  /** Threads for one op; default: ORT's choice (all cores). */
  intraOpThreads?: number;
}

/** A thin wrapper over an ORT session that remembers which provider really runs it. */
export class ModelSession {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly provider: string,
    readonly failedProviders: readonly ProviderAttempt[],
  ) {}

  get inputNames(): readonly string[] {
    return this.session.inputNames;
  }

  get outputNames(): readonly string[] {
    return this.session.outputNames;
  }

  /**
   * Opens a session on the first provider that works: for `auto` CUDA, then WebGPU, then CPU;
   * for an explicit GPU provider that one, then CPU. GPU providers are tried here only when the
   * provider probe (a child process, so their native noise stays off our stderr) started them.
   * Failed attempts are kept for the report.
   */
  static async open(model: Uint8Array, options: SessionOptions): Promise<ModelSession> {
    const order = providerOrder(options.ep);
    const gpu = order.filter((p) => p !== 'cpu');
    const probed = gpu.length ? await probeProviders(gpu) : new Map<string, ProviderProbeOutcome>();
    const failed: ProviderAttempt[] = [];
    for (const provider of order) {
      const outcome = probed.get(provider);
      const known = outcome && !outcome.ok ? outcome.reason : unavailableProviders.get(provider);
      if (known) {
        failed.push({ provider, error: known });
        continue;
      }
      try {
        const session = await ort.InferenceSession.create(model, {
          executionProviders: [provider],
          graphOptimizationLevel: 'all',
          // ORT's memory pattern allocates a new block for a session's second run, planned from its
          // first, so both first runs fault in fresh memory. Off, the second reuses the first's
          // arena: on a 2-core VM where fresh memory costs about 3 ms per MB, the bundled model's
          // measurement pass took 0.87-0.89 s instead of 1.12-1.15 (batch 100) and a
          // WideResNet-28-10 audit's 14.3-14.8 s instead of 16.4-16.7, at 1.50-1.56 GB peak RSS
          // instead of 2.0-2.1; steady batches ran as fast. Measured on the CPU provider only.
          ...(provider === 'cpu' ? { enableMemPattern: false } : {}),
          ...(options.intraOpThreads ? { intraOpNumThreads: options.intraOpThreads } : {}),
          logSeverityLevel: provider === 'cpu' ? 3 : 4,
        });
        return new ModelSession(session, provider, failed);
      } catch (err) {
        const message = firstLine(err);
        if (provider === 'cpu') throw new RuntimeLoadError(`ONNX Runtime cannot load the model: ${message}`);
        failed.push({ provider, error: conciseRuntimeError(message) });
        // A provider whose libraries or adapter are missing stays missing for this process.
        if (/load|library|adapter|not available|not supported/i.test(message)) unavailableProviders.set(provider, message);
      }
    }
    throw new RuntimeLoadError('no execution provider could be started');
  }

  /** Runs the graph. Feeds are wrapped, not copied. Checks feed names before the runtime does. */
  async run(feeds: Record<string, FloatTensor>, fetches: readonly string[]): Promise<Record<string, FloatTensor>> {
    const results = await this.runRaw(feeds, fetches);
    const out: Record<string, FloatTensor> = {};
    for (const name of fetches) {
      const t = results[name];
      if (t.type !== 'float32') throw new Error(`output ${name} is ${t.type}, expected float32`);
      out[name] = { data: t.data as Float32Array, dims: t.dims };
    }
    return out;
  }

  /** Runs the graph for the sizes of its values only: dims and bytes of each fetch, of any element type. */
  async sizes(feeds: Record<string, FloatTensor>, fetches: readonly string[]): Promise<Record<string, { dims: readonly number[]; bytes: number }>> {
    const results = await this.runRaw(feeds, fetches);
    const out: Record<string, { dims: readonly number[]; bytes: number }> = {};
    for (const name of fetches) {
      const t = results[name];
      out[name] = { dims: t.dims, bytes: ArrayBuffer.isView(t.data) ? t.data.byteLength : t.size * 8 };
    }
    return out;
  }

  private async runRaw(feeds: Record<string, FloatTensor>, fetches: readonly string[]): Promise<ort.InferenceSession.OnnxValueMapType> {
    const missing = this.session.inputNames.filter((n) => !(n in feeds));
    if (missing.length) throw new Error(`missing model inputs: ${missing.join(', ')}`);
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = new ort.Tensor('float32', t.data, t.dims);
    try {
      return await this.session.run(ortFeeds, [...fetches]);
    } catch (err) {
      const shapes = Object.entries(feeds).map(([n, t]) => `${n}[${t.dims.join(',')}]`).join(' ');
      throw new Error(`inference failed for inputs ${shapes}: ${firstLine(err)}`);
    }
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/**
 * Starts the GPU provider probe for `ep` without waiting for it: its child process (about a
 * quarter of a second on a machine without a GPU) then runs while the caller decodes and probes
 * the model, and ModelSession.open awaits the same answer. Once per process; nothing for `cpu`.
 */
export function startProviderProbe(ep: ExecutionProviderChoice): void {
  const gpu = providerOrder(ep).filter((p) => p !== 'cpu');
  // open awaits (and reports) the same outcome; this copy only must not go unhandled
  if (gpu.length) probeProviders(gpu).catch(() => {});
}

/** The providers to try, in order, for a choice: CPU always last. */
export function providerOrder(ep: ExecutionProviderChoice): string[] {
  if (ep === 'auto') return ['cuda', 'webgpu', 'cpu'];
  return ep === 'cpu' ? ['cpu'] : [ep, 'cpu'];
}

function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n').map((l) => l.trim()).filter(Boolean)[0] ?? 'unknown error';
}
