/**
 * The queue's processor: runs one job's audit in a worker process and writes the outcome to the
 * job store. A Redis-backed queue's workers would run this same function.
 */
import type { AuditProgress } from '../../audit/audit.js';
import type { AuditOptions } from '../../audit/options.js';
import type { AuditReport } from '../../audit/report.js';
import { jobFailureProblem, Problem } from '../errors.js';
import type { AuditProcessor, StopReason } from '../queue/queue.js';
import { toWireError } from '../worker/protocol.js';
import { auditInChild, RunOptions, WorkerFailure } from '../worker/runner.js';
import type { WorkerSeal } from '../worker/seal.js';
import { WarmAuditPool } from '../worker/warmPool.js';
import { finishWithBaseline } from './baseline.js';
import type { ModelBlobs, OpenedBlob } from './blobs.js';
import { auditWithRunPreprocessing } from './runPreprocessing.js';
import type { Store } from './repository.js';
import type { JobProgress } from './types.js';

export interface ProcessorConfig {
  store: Store;
  models: ModelBlobs;
  /**
   * Take over a job whose row says running (distributed queue: its worker died and the queue
   * re-runs it). The embedded queue never runs a job twice, so it leaves this off.
   */
  takeOverRunning?: boolean;
  /** Per-audit limit (ms); 0 = none. */
  auditTimeoutMs: number;
  /** Whether a worker may download the CIFAR-10 test set when it is not cached. */
  fetchData: boolean;
  /** Niceness of audit workers. */
  workerNiceness: number;
  /** How audit workers are confined (account, memory limit). */
  seal: WorkerSeal;
  /** Gets a failure's full message when its problem leaves part of it out (worker output, paths). */
  logFailure?: (jobId: string, message: string) => void;
  /**
   * Whether audits run in warm workers (see warmPool.ts), kept between audits of one tenant;
   * else a fresh worker for every audit. Whoever turns it on must call the processor's close.
   */
  warmWorkers?: boolean;
  /** Gets the pid of the worker that runs each audit (tests); never part of a report. */
  onWorker?: (jobId: string, pid: number) => void;
}

/** A processor, and how to end the workers it keeps warm (after the queue closed; idle ones also end by themselves). */
export type PooledAuditProcessor = AuditProcessor & { close(): Promise<void> };

/** Progress is written to the store at most this often; events go out for every update. */
const STORE_PROGRESS_MS = 250;

/** An audit's progress as the API shows it. */
export function jobProgress(p: AuditProgress): JobProgress {
  return { percent: Math.round(Math.max(0, Math.min(1, p.fraction)) * 1000) / 10, stage: p.phase, message: p.message };
}

export function createAuditProcessor(config: ProcessorConfig): PooledAuditProcessor {
  const { store, models } = config;
  const pool = config.warmWorkers ? new WarmAuditPool() : null;
  const processor: AuditProcessor = async ({ jobId }, ctx) => {
    const job = await store.start(jobId, { takeOver: config.takeOverRunning ?? false });
    if (!job) return; // deleted while it waited
    ctx.emit({ type: 'started', jobId, attempt: job.attempts });
    const started = performance.now();
    const seconds = (): number => (performance.now() - started) / 1000;
    let lastWrite = 0;
    // Progress writes go one after another, and the outcome is written after the last of them.
    let progressWrites: Promise<void> = Promise.resolve();
    let blob: OpenedBlob | undefined;
    try {
      blob = await models.open(job, job.model.sha256);
      const modelPath = blob.path;
      const run: RunOptions = {
        timeoutMs: config.auditTimeoutMs,
        signal: ctx.signal,
        niceness: config.workerNiceness,
        seal: config.seal,
        onProgress: (p) => {
          const progress = jobProgress(p);
          const t = performance.now();
          if (t - lastWrite >= STORE_PROGRESS_MS) {
            lastWrite = t;
            progressWrites = progressWrites
              .then(() => store.progress(jobId, progress))
              .catch((err: unknown) => console.error(`alias-audit: cannot store the progress of job ${jobId}:`, err));
          }
          ctx.emit({ type: 'progress', jobId, progress });
        },
      };
      const onWorker = config.onWorker && ((pid: number) => config.onWorker?.(jobId, pid));
      const inChild = (options: AuditOptions): Promise<AuditReport> =>
        pool ? pool.audit(modelPath, options, config.fetchData, { ...run, tenant: job.tenant, onWorker }) : auditInChild(modelPath, options, config.fetchData, run);
      // A run's checkpoint is measured with the run's preprocessing (see auditWithRunPreprocessing).
      // The baseline comparison and the gates run here, beside the store, as the CLI runs them after its audit.
      const report = finishWithBaseline(await auditWithRunPreprocessing(store.runs, jobId, job.options, inChild), job.baseline);
      await progressWrites;
      if (await store.succeed(jobId, report)) ctx.emit({ type: 'succeeded', jobId, seconds: seconds() });
    } catch (err) {
      const reason = ctx.signal.aborted ? (ctx.signal.reason as StopReason) : undefined;
      await progressWrites;
      if (reason === 'shutdown') {
        if (await store.requeue(jobId)) ctx.emit({ type: 'requeued', jobId });
      } else if (reason !== 'cancelled') {
        const error: Problem = jobFailureProblem(err instanceof WorkerFailure ? err.failure : toWireError(err), (message) => config.logFailure?.(jobId, message));
        if (await store.fail(jobId, error)) ctx.emit({ type: 'failed', jobId, seconds: seconds(), error });
      }
    } finally {
      await blob?.close();
      await models.releaseIfUnused(job, job.model.sha256);
    }
  };
  return Object.assign(processor, { close: async () => pool?.close() });
}
