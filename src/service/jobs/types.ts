/** Audit jobs as the service stores and serves them. */
import type { AuditOptions } from '../../audit/options.js';
import type { AuditReport } from '../../audit/report.js';
import type { Problem } from '../errors.js';
import type { JobBaseline } from './baseline.js';

/** A job's life: queued -> running -> succeeded | failed; running goes back to queued on a restart. */
export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed';

/** Where an audit is: `stage` is the audit's phase (or `queued`), `percent` 0..100. */
export interface JobProgress {
  percent: number;
  stage: string;
  message: string;
}

export interface JobModel {
  sha256: string;
  bytes: number;
  /** The uploaded file's name, as the client sent it (informational only). */
  filename: string | null;
}

/** One audit job; `report` only when succeeded, `error` only when failed. */
export interface Job {
  id: string;
  /** The tenant that submitted it (see scope.ts); never shown to other tenants. */
  tenant: string;
  status: JobStatus;
  model: JobModel;
  options: AuditOptions;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** Times a worker started this job (more than 1 after a restart re-ran it). */
  attempts: number;
  progress: JobProgress;
  error: Problem | null;
  /** The baseline the finished report is compared with (POST /audit `baseline` or `baselineReport`). */
  baseline?: JobBaseline;
}

export type JobWithReport = Job & { report: AuditReport | null };

/** What a new job is made of. */
export interface NewJob {
  model: JobModel;
  options: AuditOptions;
  /**
   * The tool's version and the canonical text of the options: the cache key together with the
   * model's sha256 and the tenant (a report from another version is not reused).
   */
  optionsKey: string;
  baseline?: JobBaseline;
}

/** One page of jobs, newest first. */
export interface JobPage {
  items: Job[];
  /** Opaque cursor of the next (older) page, or null at the end. */
  next: string | null;
}

/** Lifecycle events of a job, in the order they happen (SSE and metrics listen to these). */
export type JobEvent =
  | { type: 'queued'; jobId: string }
  | { type: 'started'; jobId: string; attempt: number }
  | { type: 'progress'; jobId: string; progress: JobProgress }
  | { type: 'succeeded'; jobId: string; seconds: number }
  | { type: 'failed'; jobId: string; seconds: number; error: Problem }
  /** Interrupted by a shutdown: back in the queue for the next start. */
  | { type: 'requeued'; jobId: string }
  | { type: 'deleted'; jobId: string };
