/**
 * The embedded {@link Store}: jobs and reports in SQLite (better-sqlite3), in the service's data
 * directory. WAL mode with synchronous=FULL: a job or report the API has acknowledged survives a
 * SIGKILL or power loss. better-sqlite3 is synchronous and the calls are small (indexed
 * single-row reads and writes, well under a millisecond), so they run on the event loop and
 * hand their result back as a settled promise; each call is atomic, since nothing else runs
 * while it does, and the calls that write twice do so in one transaction.
 */
import Database from 'better-sqlite3';
import type { AuditReport } from '../../audit/report.js';
import type { Problem } from '../errors.js';
import { parseStoredOptions, storedOptionsJson } from './baseline.js';
import type { ListQuery, Store } from './repository.js';
import { RunStore, settled } from './runStore.js';
import { DEFAULT_TENANT, Scope, TenantScope, tenantWhere } from './scope.js';
import type { Job, JobPage, JobProgress, JobStatus, JobWithReport, NewJob } from './types.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS jobs (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  tenant TEXT NOT NULL DEFAULT '${DEFAULT_TENANT}',
  status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
  model_sha256 TEXT NOT NULL,
  model_bytes INTEGER NOT NULL,
  model_filename TEXT,
  options_json TEXT NOT NULL,
  options_key TEXT NOT NULL,
  created_at TEXT NOT NULL,
  started_at TEXT,
  finished_at TEXT,
  attempts INTEGER NOT NULL DEFAULT 0,
  progress_percent REAL NOT NULL DEFAULT 0,
  progress_stage TEXT NOT NULL DEFAULT 'queued',
  progress_message TEXT NOT NULL DEFAULT '',
  error_json TEXT
);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status, seq);
CREATE TABLE IF NOT EXISTS reports (
  job_id TEXT PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
  report_json TEXT NOT NULL,
  created_at TEXT NOT NULL
);
`;

/** After the migration: indexes on the tenant column, which a data dir from before tenants gains first. */
const TENANT_INDEXES = `
DROP INDEX IF EXISTS jobs_by_audit;
CREATE INDEX IF NOT EXISTS jobs_by_tenant_audit ON jobs (tenant, model_sha256, options_key, status);
CREATE INDEX IF NOT EXISTS jobs_by_tenant ON jobs (tenant, seq);
`;

interface JobRow {
  seq: number;
  id: string;
  tenant: string;
  status: JobStatus;
  model_sha256: string;
  model_bytes: number;
  model_filename: string | null;
  options_json: string;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  attempts: number;
  progress_percent: number;
  progress_stage: string;
  progress_message: string;
  error_json: string | null;
}

export type { ListQuery } from './repository.js';

function now(): string {
  return new Date().toISOString();
}

function toJob(row: JobRow): Job {
  return {
    id: row.id,
    tenant: row.tenant,
    status: row.status,
    model: { sha256: row.model_sha256, bytes: row.model_bytes, filename: row.model_filename },
    ...parseStoredOptions(row.options_json),
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    attempts: row.attempts,
    progress: { percent: row.progress_percent, stage: row.progress_stage, message: row.progress_message },
    error: row.error_json ? (JSON.parse(row.error_json) as Problem) : null,
  };
}

function encodeCursor(seq: number): string {
  return Buffer.from(`s${seq}`).toString('base64url');
}

function decodeCursor(cursor: string): number | null {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const seq = /^s(\d{1,15})$/.exec(text)?.[1];
  return seq === undefined ? null : Number(seq);
}

/**
 * The job store in SQLite. One instance per process owns the database file. Calls for clients
 * take a {@link Scope}; the calls by job id without one (start, progress, succeed, fail,
 * requeue, recovery, counts) belong to the queue and its processor, which act for the job's owner.
 */
export class JobStore implements Store {
  private readonly db: Database.Database;
  /** Training-monitor runs, in the same database (a checkpoint row references its job). */
  readonly runs: RunStore;

  constructor(file: string) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA);
    // A data directory from before tenants: its jobs belong to the default tenant.
    const columns = this.db.prepare('PRAGMA table_info(jobs)').all() as { name: string }[];
    if (!columns.some((c) => c.name === 'tenant')) this.db.exec(`ALTER TABLE jobs ADD COLUMN tenant TEXT NOT NULL DEFAULT '${DEFAULT_TENANT}'`);
    this.db.exec(TENANT_INDEXES);
    this.runs = new RunStore(this.db);
  }

  close(): Promise<void> {
    return settled(() => {
      if (this.db.open) this.db.close();
    });
  }

  create(owner: TenantScope, id: string, job: NewJob): Promise<Job> {
    return settled(() => {
      this.db
        .prepare(
          `INSERT INTO jobs (id, tenant, status, model_sha256, model_bytes, model_filename, options_json, options_key, created_at)
           VALUES (?, ?, 'queued', ?, ?, ?, ?, ?, ?)`,
        )
        .run(id, owner.tenant, job.model.sha256, job.model.bytes, job.model.filename, storedOptionsJson(job.options, job.baseline), job.optionsKey, now());
      return this.jobNow(owner, id)!;
    });
  }

  get(scope: Scope, id: string): Promise<Job | null> {
    return settled(() => this.jobNow(scope, id));
  }

  getWithReport(scope: Scope, id: string): Promise<JobWithReport | null> {
    // One turn of the event loop: the job and its report are read as they stand together.
    return settled(() => {
      const job = this.jobNow(scope, id);
      return job ? { ...job, report: job.status === 'succeeded' ? this.reportNow(scope, id) : null } : null;
    });
  }

  report(scope: Scope, id: string): Promise<AuditReport | null> {
    return settled(() => this.reportNow(scope, id));
  }

  reportCount(id: string): Promise<number> {
    return settled(() => (this.db.prepare('SELECT COUNT(*) AS n FROM reports WHERE job_id = ?').get(id) as { n: number }).n);
  }

  /**
   * A run's checkpoint is never reusable: under `auto` it is measured with the run's
   * preprocessing, which need not be what `auto` picks for this model alone. Only the owner's
   * own jobs: a tenant never learns that another one audited the same model.
   */
  findReusable(owner: TenantScope, sha256: string, optionsKey: string): Promise<Job | null> {
    return settled(() => {
      const row = this.db
        .prepare(
          `SELECT * FROM jobs WHERE tenant = ? AND model_sha256 = ? AND options_key = ? AND status IN ('queued', 'running', 'succeeded')
             AND id NOT IN (SELECT job_id FROM run_checkpoints)
           ORDER BY (status = 'succeeded') DESC, seq DESC LIMIT 1`,
        )
        .get(owner.tenant, sha256, optionsKey) as JobRow | undefined;
      return row ? toJob(row) : null;
    });
  }

  list(scope: Scope, q: ListQuery): Promise<JobPage> {
    return settled(() => {
      const t = tenantWhere(scope);
      const where: string[] = [t.sql];
      const args: (string | number)[] = [...t.args];
      if (q.cursor !== undefined) {
        const seq = decodeCursor(q.cursor);
        if (seq === null) return { items: [], next: null };
        where.push('seq < ?');
        args.push(seq);
      }
      if (q.status) {
        where.push('status = ?');
        args.push(q.status);
      }
      if (q.sha256) {
        where.push('model_sha256 = ?');
        args.push(q.sha256);
      }
      const sql = `SELECT * FROM jobs WHERE ${where.join(' AND ')} ORDER BY seq DESC LIMIT ?`;
      const rows = this.db.prepare(sql).all(...args, q.limit + 1) as JobRow[];
      const page = rows.slice(0, q.limit);
      return { items: page.map(toJob), next: rows.length > q.limit ? encodeCursor(page[page.length - 1].seq) : null };
    });
  }

  queuedIds(): Promise<string[]> {
    return settled(() => (this.db.prepare(`SELECT id FROM jobs WHERE status = 'queued' ORDER BY seq`).all() as { id: string }[]).map((r) => r.id));
  }

  start(id: string, opts: { takeOver?: boolean } = {}): Promise<Job | null> {
    const from = opts.takeOver ? `status IN ('queued', 'running')` : `status = 'queued'`;
    return settled(() => {
      const info = this.db
        .prepare(
          `UPDATE jobs SET status = 'running', started_at = ?, attempts = attempts + 1,
             progress_percent = 0, progress_stage = 'starting', progress_message = ''
           WHERE id = ? AND ${from}`,
        )
        .run(now(), id);
      return info.changes === 1 ? this.jobNow('admin', id) : null;
    });
  }

  progress(id: string, p: JobProgress): Promise<void> {
    return settled(() => {
      this.db
        .prepare(`UPDATE jobs SET progress_percent = ?, progress_stage = ?, progress_message = ? WHERE id = ? AND status = 'running'`)
        .run(p.percent, p.stage, p.message, id);
    });
  }

  succeed(id: string, report: AuditReport): Promise<boolean> {
    return settled(() =>
      this.db.transaction((): boolean => {
        const info = this.db
          .prepare(
            `UPDATE jobs SET status = 'succeeded', finished_at = ?, progress_percent = 100, progress_stage = 'done', progress_message = 'done', error_json = NULL
             WHERE id = ? AND status = 'running'`,
          )
          .run(now(), id);
        if (info.changes !== 1) return false;
        this.db.prepare('INSERT INTO reports (job_id, report_json, created_at) VALUES (?, ?, ?)').run(id, JSON.stringify(report), now());
        return true;
      })(),
    );
  }

  fail(id: string, error: Problem): Promise<boolean> {
    return settled(() => this.failNow(id, error));
  }

  requeue(id: string): Promise<boolean> {
    return settled(() => this.requeueNow(id));
  }

  recoverInterrupted(maxAttempts: number, failure: Problem): Promise<{ requeued: string[]; failed: string[] }> {
    return settled(() =>
      this.db.transaction(() => {
        const rows = this.db.prepare(`SELECT id, attempts FROM jobs WHERE status = 'running' ORDER BY seq`).all() as { id: string; attempts: number }[];
        const requeued: string[] = [];
        const failed: string[] = [];
        for (const r of rows) {
          if (r.attempts >= maxAttempts) {
            this.failNow(r.id, failure);
            failed.push(r.id);
          } else {
            this.requeueNow(r.id);
            requeued.push(r.id);
          }
        }
        return { requeued, failed };
      })(),
    );
  }

  delete(scope: Scope, id: string): Promise<boolean> {
    return settled(() => {
      const t = tenantWhere(scope);
      return this.db.prepare(`DELETE FROM jobs WHERE id = ? AND ${t.sql}`).run(id, ...t.args).changes === 1;
    });
  }

  modelInUse(owner: TenantScope, sha256: string): Promise<boolean> {
    return settled(
      () => this.db.prepare(`SELECT 1 FROM jobs WHERE tenant = ? AND model_sha256 = ? AND status IN ('queued', 'running') LIMIT 1`).get(owner.tenant, sha256) !== undefined,
    );
  }

  counts(): Promise<Record<JobStatus, number>> {
    return settled(() => {
      const out: Record<JobStatus, number> = { queued: 0, running: 0, succeeded: 0, failed: 0 };
      for (const r of this.db.prepare('SELECT status, COUNT(*) AS n FROM jobs GROUP BY status').all() as { status: JobStatus; n: number }[]) {
        out[r.status] = r.n;
      }
      return out;
    });
  }

  private jobNow(scope: Scope, id: string): Job | null {
    const t = tenantWhere(scope);
    const row = this.db.prepare(`SELECT * FROM jobs WHERE id = ? AND ${t.sql}`).get(id, ...t.args) as JobRow | undefined;
    return row ? toJob(row) : null;
  }

  private reportNow(scope: Scope, id: string): AuditReport | null {
    const t = tenantWhere(scope, 'j');
    const row = this.db
      .prepare(`SELECT r.report_json FROM reports r JOIN jobs j ON j.id = r.job_id WHERE r.job_id = ? AND ${t.sql}`)
      .get(id, ...t.args) as { report_json: string } | undefined;
    return row ? (JSON.parse(row.report_json) as AuditReport) : null;
  }

  private failNow(id: string, error: Problem): boolean {
    const info = this.db
      .prepare(`UPDATE jobs SET status = 'failed', finished_at = ?, progress_stage = 'failed', error_json = ? WHERE id = ? AND status = 'running'`)
      .run(now(), JSON.stringify(error), id);
    return info.changes === 1;
  }

  private requeueNow(id: string): boolean {
    const info = this.db
      .prepare(`UPDATE jobs SET status = 'queued', progress_percent = 0, progress_stage = 'queued', progress_message = 'interrupted; queued again' WHERE id = ? AND status = 'running'`)
      .run(id);
    return info.changes === 1;
  }
}
