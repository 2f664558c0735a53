/**
 * The service's state behind one asynchronous interface: jobs with their reports, and training
 * runs with their checkpoints. The embedded service keeps it in SQLite (store.ts); a store on a
 * database server implements the same methods, so the routes, the job service and the queue's
 * processor never learn which one they talk to.
 *
 * Calls for clients take a {@link Scope} (see scope.ts): another tenant's rows do not exist for
 * the caller. The calls by job id without one belong to the queue and its processor, which act
 * for the job's owner. Every check-then-act that must not interleave with another caller (the
 * epoch check of a checkpoint, the preprocessing pin of a run, a report stored once) is one call
 * here, atomic inside the implementation: between two awaits of a caller anything may happen.
 */
import type { SeriesPreprocessing } from '../../audit/monitor.js';
import type { AuditReport } from '../../audit/report.js';
import type { Problem } from '../errors.js';
import type { AddCheckpointResult, NewRun, NewRunCheckpoint, Run, RunCheckpoint, RunPage } from './runStore.js';
import type { Scope, TenantScope } from './scope.js';
import type { Job, JobPage, JobProgress, JobStatus, JobWithReport, NewJob } from './types.js';

/** A page of GET /audits: newest first, `limit` at a time, optionally by status or model. */
export interface ListQuery {
  limit: number;
  cursor?: string;
  status?: JobStatus;
  sha256?: string;
}

/** Audit jobs and their reports. */
export interface JobRepository {
  /** Inserts a queued job of `owner` and returns it. */
  create(owner: TenantScope, id: string, job: NewJob): Promise<Job>;
  get(scope: Scope, id: string): Promise<Job | null>;
  /** The job, with its report once it succeeded. */
  getWithReport(scope: Scope, id: string): Promise<JobWithReport | null>;
  report(scope: Scope, id: string): Promise<AuditReport | null>;
  /** Reports stored for a job: 0 or 1 (the restart test checks "stored once"). */
  reportCount(id: string): Promise<number>;
  /**
   * The newest job of `owner` that answers this model and these options without a new audit: a
   * finished one, or one queued or running. Never a run's checkpoint, never another tenant's.
   */
  findReusable(owner: TenantScope, sha256: string, optionsKey: string): Promise<Job | null>;
  /** Jobs newest first, `limit` at a time; an unreadable cursor gives an empty last page. */
  list(scope: Scope, q: ListQuery): Promise<JobPage>;
  /** Queued jobs in submission order (the order to re-enqueue after a restart). */
  queuedIds(): Promise<string[]>;
  /**
   * Marks a queued job running (attempts + 1) and returns it; null if it is gone or not queued.
   * With `takeOver`, a job already running is taken too (attempts + 1): a distributed queue
   * re-runs the job of a worker that died, whose row still says running.
   */
  start(id: string, opts?: { takeOver?: boolean }): Promise<Job | null>;
  /** Writes a running job's progress (a job that is no longer running keeps what it has). */
  progress(id: string, p: JobProgress): Promise<void>;
  /**
   * Stores the report and marks the job succeeded, together or not at all; false (and nothing
   * written) for a job that is not running: a report is never stored twice.
   */
  succeed(id: string, report: AuditReport): Promise<boolean>;
  /** Marks a running job failed; false for a job that is not running. */
  fail(id: string, error: Problem): Promise<boolean>;
  /** Puts a running job back in the queue (shutdown of the server); false if it was not running. */
  requeue(id: string): Promise<boolean>;
  /**
   * At start-up: jobs left running go back to the queue, unless they have been started
   * `maxAttempts` times already (then they fail with `failure`). One transaction.
   */
  recoverInterrupted(maxAttempts: number, failure: Problem): Promise<{ requeued: string[]; failed: string[] }>;
  /** Deletes a job and its report; false if there was none in `scope`. */
  delete(scope: Scope, id: string): Promise<boolean>;
  /** True while some queued or running job of `owner` still needs its model with this hash. */
  modelInUse(owner: TenantScope, sha256: string): Promise<boolean>;
  counts(): Promise<Record<JobStatus, number>>;
}

/** Training-monitor runs (SPEC §5) and the checkpoints that link their epochs to audit jobs. */
export interface RunRepository {
  create(owner: TenantScope, id: string, run: NewRun): Promise<Run>;
  get(scope: Scope, id: string): Promise<Run | null>;
  /** Runs newest first, `limit` at a time, each with its number of checkpoints. */
  list(scope: Scope, q: { limit: number; cursor?: string }): Promise<RunPage>;
  /** The run's checkpoints in epoch order (none for a run outside `scope`). */
  checkpoints(scope: Scope, runId: string): Promise<RunCheckpoint[]>;
  checkpoint(scope: Scope, runId: string, epoch: number): Promise<RunCheckpoint | null>;
  /** The run and epoch a job measures, or null for a job that is no run's checkpoint. */
  checkpointOfJob(jobId: string): Promise<{ run: Run; epoch: number } | null>;
  /**
   * Pins the run's preprocessing unless one is pinned already (of two checkpoints finishing at
   * once exactly one wins); returns the one in force, or null when the run is gone.
   */
  pinPreprocessing(runId: string, preprocessing: SeriesPreprocessing): Promise<SeriesPreprocessing | null>;
  /** Links an epoch to its job, unless the epoch is taken or the run is gone: check and insert in one. */
  addCheckpoint(scope: Scope, c: NewRunCheckpoint): Promise<AddCheckpointResult>;
  /**
   * Deletes the run and its checkpoint rows; returns the ids of the jobs that measured them
   * (the caller deletes those through the job service), or null when there was no run.
   */
  delete(scope: Scope, id: string): Promise<string[] | null>;
}

/** The whole store: jobs at the top, runs beside them (a checkpoint row references its job). */
export interface Store extends JobRepository {
  readonly runs: RunRepository;
  /** Closes the connection (or pool); idempotent. */
  close(): Promise<void>;
}
