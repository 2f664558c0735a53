/**
 * `alias-audit worker`: the audit role of a distributed service. It takes audits from the BullMQ
 * queue and runs each as the embedded service does, in a sealed child process with the time
 * and memory limits, writing the outcome to PostgreSQL. Before it takes any, it checks in a
 * child that the runtime runs and the CIFAR-10 samples load (fetching them if allowed), so a
 * machine that cannot audit never takes a job. Any number of workers may run, on any machines
 * that reach Redis and PostgreSQL; a worker that dies loses no audit (its lock expires and
 * another worker re-runs it).
 */
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { isDistributed, type ServiceConfig } from './config.js';
import { describeBackends, openDistributedBackends } from './distributed.js';
import { ServiceError } from './errors.js';
import { createAuditProcessor, type PooledAuditProcessor } from './jobs/processor.js';
import { createServiceLogger, type Logger } from './logging.js';
import { probeInChild } from './worker/runner.js';
import { workerSeal } from './worker/seal.js';

export interface RunningWorker {
  /** What the probe found: the execution provider and where the samples came from. */
  ready: string;
  /** Stops taking audits; running ones get `graceMs` (default: the configured grace), then go back to the queue. Idempotent. */
  close(graceMs?: number): Promise<void>;
}

export interface WorkerStartOptions {
  logger?: Logger;
  /** Progress of loading the samples (a first download); default stdout. */
  log?: (line: string) => void;
}

/** A worker that cannot audit on this machine: the operator's setup, exit 2 with its reason. */
export class WorkerSetupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WorkerSetupError';
  }
}

/** The samples may be downloaded first (~139 MB) when fetching is allowed. */
const PROBE_TIMEOUT_MS = 20 * 60_000;

export async function startWorker(config: ServiceConfig, options: WorkerStartOptions = {}): Promise<RunningWorker> {
  if (!isDistributed(config)) throw new WorkerSetupError('a worker needs --redis and --database (or ALIAS_AUDIT_REDIS_URL and ALIAS_AUDIT_DATABASE_URL): it takes audits from a distributed service');
  const logger = options.logger ?? createServiceLogger();
  const log = options.log ?? ((line: string) => process.stdout.write(`alias-audit: ${line}\n`));
  const seal = workerSeal(config);

  const probe = await probeInChild(config.fetchData, { timeoutMs: PROBE_TIMEOUT_MS, niceness: config.workerNiceness, onProgress: (p) => log(p.message) });
  if (!probe.runtime.ok) throw new WorkerSetupError(`ONNX Runtime does not run on this machine: ${probe.runtime.error.message}`);
  if (!probe.samples.ok) throw new WorkerSetupError(`the CIFAR-10 test set does not load on this machine: ${probe.samples.error.message}`);

  // Local copies of the models being audited, one folder per worker process; folders of
  // workers that died with copies in them are removed here.
  const copies = join(config.dataDir, 'blob-copies');
  removeDeadWorkersCopies(copies);
  const ownCopies = join(copies, String(process.pid));
  mkdirSync(ownCopies, { recursive: true });

  // Its warm audit workers end once the queue has stopped.
  let processor: PooledAuditProcessor | undefined;
  const crashed = new ServiceError('AUDIT_CRASHED', `the worker running this audit stopped ${config.maxAttempts} times; it is not retried again`).toProblem();
  const backends = await openDistributedBackends(
    config,
    {
      logger,
      copiesDir: ownCopies,
      worker: (store, models) => ({
        worker: {
          processor: (processor = createAuditProcessor({
            store,
            models,
            auditTimeoutMs: config.auditTimeoutMs,
            fetchData: config.fetchData,
            workerNiceness: config.workerNiceness,
            seal,
            takeOverRunning: true,
            logFailure: (jobId, message) => logger.warn({ jobId, failure: message }, 'audit failed'),
            warmWorkers: config.warmWorkers,
          })),
          concurrency: config.concurrency,
          lockDurationMs: config.lockDurationMs,
        },
        // Out of attempts (its workers died, or the store failed each time): the job fails, once.
        onAbandoned: (jobId, reason) => {
          logger.warn({ jobId, reason }, 'audit given up by the queue');
          void (async () => {
            const job = await store.get('admin', jobId);
            if (await store.fail(jobId, crashed)) backends.queue.announce({ type: 'failed', jobId, seconds: 0, error: crashed });
            if (job) await models.releaseIfUnused(job, job.model.sha256);
          })().catch((err: unknown) => logger.error({ jobId, err: err instanceof Error ? err.message : String(err) }, 'cannot mark an abandoned audit failed'));
        },
      }),
    },
  );
  const ready = `${config.concurrency} audit${config.concurrency === 1 ? '' : 's'} at once, ${probe.runtime.provider}, ${probe.samples.count} samples; ${describeBackends(config)}`;
  let closing: Promise<void> | undefined;
  return {
    ready,
    close(graceMs = config.shutdownGraceMs) {
      closing ??= (async () => {
        await backends.close(graceMs);
        await processor?.close();
        rmSync(ownCopies, { recursive: true, force: true });
      })();
      return closing;
    },
  };
}

function removeDeadWorkersCopies(dir: string): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid || alive(Number(name))) continue;
    rmSync(join(dir, name), { recursive: true, force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
