/**
 * `alias-audit worker`: runs audits of a distributed service (see service/workerRole.ts) until
 * SIGTERM or SIGINT, then stops taking audits; running ones get the grace period to finish and
 * otherwise go back to the queue for another worker.
 */
import type { ServiceConfig } from '../service/config.js';
import { UsageError } from './errors.js';
import { stopOnSignals } from './signals.js';

/** Runs the worker; resolves with the exit code once it has stopped. */
export async function workerCommand(config: ServiceConfig): Promise<number> {
  const [{ startWorker, WorkerSetupError }, { BackendUnreachableError }] = await Promise.all([import('../service/workerRole.js'), import('../service/distributed.js')]);
  let running: Awaited<ReturnType<typeof startWorker>>;
  try {
    running = await startWorker(config);
  } catch (err) {
    if (err instanceof WorkerSetupError || err instanceof BackendUnreachableError || (err as Error).name === 'WorkerSealError') throw new UsageError((err as Error).message);
    throw err;
  }
  const stopped = stopOnSignals(() => running.close(), {
    stopping: `worker stopping (running audits get ${config.shutdownGraceMs / 1000} s, then go back to the queue)`,
    failed: 'worker stop failed',
  });
  process.stdout.write(`alias-audit: worker ready (${running.ready})\n`);
  return stopped;
}
