/**
 * The audit queue as the routes and the job service see it. The in-process implementation is
 * {@link LocalQueue}; a Redis-backed one (BullMQ: a `Queue` here, `Worker`s in other processes
 * running the same {@link AuditProcessor}, `QueueEvents` feeding {@link AuditQueue.subscribe})
 * fits the same interface without touching the routes.
 */
import type { JobEvent } from '../jobs/types.js';

/** What travels through the queue: ids only; the job itself lives in the job store. */
export interface AuditJobData {
  jobId: string;
}

export interface QueueCounts {
  waiting: number;
  active: number;
}

/** Why a running job was stopped: deleted by a client, or the service is shutting down. */
export type StopReason = 'cancelled' | 'shutdown';

export interface ProcessorContext {
  /** Aborted with a {@link StopReason} when the job must stop. */
  signal: AbortSignal;
  /** Publishes a lifecycle event (BullMQ: job.updateProgress / the job's result). */
  emit(event: JobEvent): void;
}

/** Runs one job to its end, writing the outcome to the job store. Never throws. */
export type AuditProcessor = (data: AuditJobData, ctx: ProcessorContext) => Promise<void>;

export interface AuditQueue {
  /** Adds a job; adding an id that is already waiting or active does nothing (BullMQ: `jobId` option). */
  add(data: AuditJobData): Promise<void>;
  /** Drops a waiting job or stops an active one; false when the queue does not hold it. */
  cancel(jobId: string): Promise<boolean>;
  counts(): Promise<QueueCounts>;
  /** Job lifecycle events, in order per job. Returns the unsubscribe function. */
  subscribe(listener: (event: JobEvent) => void): () => void;
  /** Hands an event that happened outside a processor (a job deleted) to every subscriber, in every process. */
  announce(event: JobEvent): void;
  /** Processes taking jobs now (this one, or live workers on Redis). */
  workers(): Promise<number>;
  /** Stops starting jobs; active ones get `graceMs` to finish, then stop with reason 'shutdown'. */
  close(graceMs: number): Promise<void>;
}

/** Hands an event to every listener; one listener's bug must not stop the queue or the others. */
export function notifyListeners(listeners: Iterable<(event: JobEvent) => void>, event: JobEvent): void {
  for (const l of listeners) {
    try {
      l(event);
    } catch (err) {
      console.error('alias-audit: job event listener failed:', err);
    }
  }
}
