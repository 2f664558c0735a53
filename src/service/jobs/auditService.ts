/**
 * The audit jobs as the routes use them: submit (with the report cache), read, list, delete,
 * wait, and per-job events. Owns no HTTP; the queue behind it is an {@link AuditQueue}. Every
 * call for a client takes its scope (see scope.ts): other tenants' jobs do not exist for it.
 */
import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import type { AuditOptions } from '../../audit/options.js';
import { TOOL_VERSION } from '../../audit/version.js';
import { ServiceError } from '../errors.js';
import { optionsKey } from '../formOptions.js';
import type { AuditQueue } from '../queue/queue.js';
import { precheckModel } from '../worker/precheck.js';
import { baselineKey, JobBaseline } from './baseline.js';
import type { ModelBlobs } from './blobs.js';
import { sha256File } from './modelFiles.js';
import type { ListQuery, RunRepository, Store } from './repository.js';
import type { Scope, TenantScope } from './scope.js';
import type { Job, JobEvent, JobPage, JobWithReport } from './types.js';

export interface Submission {
  /** Whose job it is: cache reuse looks only at this tenant's jobs. */
  owner: TenantScope;
  /** The upload on disk; consumed (moved or removed) by submit. */
  uploadPath: string;
  filename: string | null;
  bytes: number;
  options: AuditOptions;
  /** Run a new audit even when a stored report answers the same model and options. */
  force: boolean;
  /** The report to compare the finished audit with, already checked (see routes/audits.ts). */
  baseline?: JobBaseline;
}

export interface SubmitResult {
  job: Job;
  /** True when an existing job (finished, or queued/running) answers this submission. */
  reused: boolean;
}

export interface AuditServiceConfig {
  /** Waiting jobs beyond which submissions get 503 QUEUE_FULL. */
  maxQueued: number;
  /** Starts of one job after which a restart fails it instead of re-running it. */
  maxAttempts: number;
  /**
   * Distributed mode: other processes share the store and the queue, so a start-up must not
   * touch jobs that say running (live workers hold them; the queue's locks own their recovery).
   */
  distributed?: boolean;
}

/** Distributed mode: how often queued jobs are handed to the queue again (an API process that died between the two writes). */
const RECONCILE_MS = 60_000;
/** A stored model no job needs is swept once it is this old: far longer than an upload takes to become a job. */
const ORPHAN_BLOB_AGE_MS = 60 * 60_000;

const FINAL: ReadonlySet<string> = new Set(['succeeded', 'failed', 'deleted']);

export class AuditService {
  private readonly listeners = new Map<string, Set<(e: JobEvent) => void>>();
  private readonly allListeners = new Set<(e: JobEvent) => void>();
  private closing = false;
  private reconciler: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: Store,
    private readonly queue: AuditQueue,
    private readonly models: ModelBlobs,
    private readonly config: AuditServiceConfig,
  ) {
    queue.subscribe((e) => this.publish(e));
  }

  /**
   * Re-queues what a previous process left queued or running (SPEC: no report is lost). In
   * distributed mode only queued jobs are handed to the queue again (adding an id the queue
   * holds does nothing), now and every minute: a job whose row was written by an API process
   * that died before it reached the queue still runs.
   */
  async start(): Promise<{ requeued: string[]; failed: string[]; queued: number }> {
    if (this.config.distributed) {
      const queued = await this.reconcile();
      this.reconciler = setInterval(() => {
        this.reconcile().catch((err: unknown) => console.error('alias-audit: cannot hand queued jobs to the queue:', err instanceof Error ? err.message : err));
      }, RECONCILE_MS);
      this.reconciler.unref();
      return { requeued: [], failed: [], queued };
    }
    const crashed = new ServiceError('AUDIT_CRASHED', `the service stopped during this audit ${this.config.maxAttempts} times; it is not retried again`).toProblem();
    const { requeued, failed } = await this.store.recoverInterrupted(this.config.maxAttempts, crashed);
    for (const id of failed) {
      const job = await this.store.get('admin', id);
      if (job) await this.models.releaseIfUnused(job, job.model.sha256);
    }
    const ids = await this.store.queuedIds();
    for (const jobId of ids) await this.queue.add({ jobId });
    return { requeued, failed, queued: ids.length };
  }

  private async reconcile(): Promise<number> {
    const ids = await this.store.queuedIds();
    for (const jobId of ids) {
      if (this.closing) break;
      await this.queue.add({ jobId });
    }
    const swept = this.closing ? 0 : ((await this.models.sweepUnused?.(ORPHAN_BLOB_AGE_MS)) ?? 0);
    if (swept > 0) console.warn(`alias-audit: removed ${swept} stored model(s) that no job needs (left by a process that stopped mid-upload)`);
    return ids.length;
  }

  /** The training-monitor runs, whose checkpoints are this service's jobs. */
  get runs(): RunRepository {
    return this.store.runs;
  }

  get isClosing(): boolean {
    return this.closing;
  }

  async submit(s: Submission): Promise<SubmitResult> {
    try {
      if (this.closing) throw new ServiceError('SHUTTING_DOWN', 'the service is shutting down; submit again shortly', { headers: { 'Retry-After': '10' } });
      const sha256 = await sha256File(s.uploadPath);
      // A report of another version of the tool is not reused: the measurement may have changed.
      const key = `${TOOL_VERSION} ${optionsKey(s.options)}${baselineKey(s.baseline)}`;
      if (!s.force) {
        const existing = await this.store.findReusable(s.owner, sha256, key);
        if (existing) return { job: existing, reused: true };
      }
      const { waiting } = await this.queue.counts();
      if (waiting >= this.config.maxQueued) {
        throw new ServiceError('QUEUE_FULL', `${waiting} audits are waiting (limit ${this.config.maxQueued}); try again later`, { headers: { 'Retry-After': '30' } });
      }
      await precheckModel({ modelPath: s.uploadPath, layout: s.options.layout });
      // The job is created under the model file's lock: see ModelBlobs.adopt.
      const job = await this.models.adopt(s.owner, s.uploadPath, sha256, () =>
        this.store.create(s.owner, randomUUID(), { model: { sha256, bytes: s.bytes, filename: s.filename }, options: s.options, optionsKey: key, ...(s.baseline ? { baseline: s.baseline } : {}) }),
      );
      await this.enqueueOrUndo(job);
      return { job, reused: false };
    } finally {
      await rm(s.uploadPath, { force: true });
    }
  }

  /**
   * Hands a new job to the queue; when the queue cannot take it (Redis down), the job and its
   * model go again, so the client's 503 leaves nothing behind. Should that undoing fail too, the
   * job stays queued in the store and the next reconcile hands it to the queue.
   */
  async enqueueOrUndo(job: Job): Promise<void> {
    try {
      await this.queue.add({ jobId: job.id });
    } catch (err) {
      try {
        await this.store.delete(job, job.id);
        await this.models.releaseIfUnused(job, job.model.sha256);
      } catch (undo) {
        console.error(`alias-audit: job ${job.id} is stored but not queued (${undo instanceof Error ? undo.message : String(undo)}); it is queued when the queue is back`);
      }
      throw err;
    }
  }

  get(scope: Scope, id: string): Promise<JobWithReport | null> {
    return this.store.getWithReport(scope, id);
  }

  list(scope: Scope, q: ListQuery): Promise<JobPage> {
    return this.store.list(scope, q);
  }

  /** Stops the job if it runs, then removes it and its report. False if there was none in `scope`. */
  async delete(scope: Scope, id: string): Promise<boolean> {
    const job = await this.store.get(scope, id);
    if (!job) return false;
    await this.queue.cancel(id);
    const deleted = await this.store.delete(scope, id);
    await this.models.releaseIfUnused(job, job.model.sha256);
    // Through the queue: subscribers in every API process (event streams, waits) learn of it.
    if (deleted) this.queue.announce({ type: 'deleted', jobId: id });
    return deleted;
  }

  /**
   * Events of one job (or of all jobs when `jobId` is '*'); returns the unsubscribe function.
   * Not scoped: a route subscribes only after it has read the job in the caller's scope.
   */
  subscribe(jobId: string, listener: (e: JobEvent) => void): () => void {
    if (jobId === '*') {
      this.allListeners.add(listener);
      return () => this.allListeners.delete(listener);
    }
    let set = this.listeners.get(jobId);
    if (!set) this.listeners.set(jobId, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(jobId);
    };
  }

  /**
   * Resolves with the job once it has finished, or with its current state after `timeoutMs`
   * (or when `signal` aborts, e.g. the client went away). Null when the job is gone (or not in `scope`).
   */
  waitFor(scope: Scope, id: string, timeoutMs: number, signal?: AbortSignal): Promise<JobWithReport | null> {
    return new Promise((resolve, reject) => {
      let finished = false;
      let timer: NodeJS.Timeout | undefined = undefined; // set below, once the state is read
      const finish = (): void => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        unsubscribe();
        signal?.removeEventListener('abort', finish);
        this.get(scope, id).then(resolve, reject);
      };
      // Subscribe before reading the state, so a finish in between is not missed.
      const unsubscribe = this.subscribe(id, (e) => {
        if (FINAL.has(e.type) || e.type === 'requeued') finish();
      });
      this.store.get(scope, id).then(
        (job) => {
          if (finished) return; // an event or the client's leaving came first
          if (!job || job.status === 'succeeded' || job.status === 'failed' || signal?.aborted) return finish();
          timer = setTimeout(finish, timeoutMs);
          signal?.addEventListener('abort', finish, { once: true });
        },
        (err: unknown) => {
          if (finished) return;
          finished = true;
          unsubscribe();
          reject(err instanceof Error ? err : new Error(String(err)));
        },
      );
    });
  }

  async counts(): Promise<{ waiting: number; active: number }> {
    return this.queue.counts();
  }

  /** Processes taking audits now. */
  workers(): Promise<number> {
    return this.queue.workers();
  }

  /** Stops taking submissions; running audits get `graceMs`, then go back to the queue. */
  async close(graceMs: number): Promise<void> {
    this.closing = true;
    clearInterval(this.reconciler);
    await this.queue.close(graceMs);
  }

  private publish(e: JobEvent): void {
    for (const l of [...this.allListeners, ...(this.listeners.get(e.jobId) ?? [])]) {
      try {
        l(e);
      } catch (err) {
        console.error('alias-audit: job event listener failed:', err);
      }
    }
  }
}
