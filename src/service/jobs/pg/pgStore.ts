/**
 * The distributed {@link Store}: jobs, reports, runs and checkpoints in PostgreSQL (node-postgres),
 * shared by every API and worker process. Each call is one statement or one transaction on a
 * pooled connection; the steps that must not interleave with another process (a report stored
 * once, the preprocessing pin, a checkpoint's epoch check) are conditional writes whose row
 * locks decide the winner, so they hold across machines as SQLite's one writer does in one process.
 *
 * The SQL mirrors the embedded store's (store.ts, runStore.ts) with `?` placeholders, numbered
 * for PostgreSQL by {@link numbered}: the two stores answer the same contract tests.
 */
import pg from 'pg';
import type { Pool, PoolClient, QueryResultRow } from 'pg';
import type { SeriesPreprocessing } from '../../../audit/monitor.js';
import type { AuditOptions } from '../../../audit/options.js';
import type { AuditReport } from '../../../audit/report.js';
import type { EarlyStopSignal } from '../../../metrics/earlyStopping.js';
import type { Problem } from '../../errors.js';
import { parseStoredOptions, storedOptionsJson } from '../baseline.js';
import type { ListQuery, RunRepository, Store } from '../repository.js';
import type { AddCheckpointResult, NewRun, NewRunCheckpoint, Run, RunCheckpoint, RunPage } from '../runStore.js';
import { Scope, TenantScope, tenantWhere } from '../scope.js';
import type { Job, JobPage, JobProgress, JobStatus, JobWithReport, NewJob } from '../types.js';
import { migrate } from './migrations.js';

/** `?` placeholders as PostgreSQL's `$1, $2, ...` (our statements have no `?` of their own). */
export function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

type Param = string | number | boolean | null | Buffer;

/** A pool or a transaction's client: what a statement runs on. */
type Queryable = Pick<Pool, 'query'> | PoolClient;

async function rowsOf<R extends QueryResultRow>(db: Queryable, sql: string, args: Param[] = []): Promise<R[]> {
  return (await db.query<R>(numbered(sql), args)).rows;
}

async function changes(db: Queryable, sql: string, args: Param[] = []): Promise<number> {
  return (await db.query(numbered(sql), args)).rowCount ?? 0;
}

/**
 * Runs `work` in one transaction on one connection, rolled back when `work` throws.
 */
export async function transaction<T>(pool: Pool, work: (client: PoolClient) => Promise<T>, begin = 'BEGIN'): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query(begin);
    try {
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch((rollbackErr: unknown) => {
        broken = rollbackErr instanceof Error ? rollbackErr : new Error(String(rollbackErr));
      });
      throw err;
    }
  } finally {
    // pg's pool drops a connection that is no longer queryable by itself; one whose ROLLBACK failed goes too.
    client.release(broken);
  }
}

interface JobRow {
  seq: string;
  id: string;
  tenant: string;
  status: JobStatus;
  model_sha256: string;
  model_bytes: string;
  model_filename: string | null;
  options_json: string;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  attempts: number;
  progress_percent: number;
  progress_stage: string;
  progress_message: string;
  error_json: string | null;
}

interface RunRow {
  seq: string;
  id: string;
  tenant: string;
  name: string;
  options_json: string;
  signal: EarlyStopSignal;
  threshold: number;
  median_window: number | null;
  created_at: Date;
  preprocessing_json: string | null;
}

interface CheckpointRow {
  run_id: string;
  epoch: number;
  job_id: string;
  pgd_accuracy: number | null;
  created_at: Date;
}

const iso = (d: Date | null): string | null => (d === null ? null : d.toISOString());

function toJob(row: JobRow): Job {
  return {
    id: row.id,
    tenant: row.tenant,
    status: row.status,
    model: { sha256: row.model_sha256, bytes: Number(row.model_bytes), filename: row.model_filename },
    ...parseStoredOptions(row.options_json),
    createdAt: row.created_at.toISOString(),
    startedAt: iso(row.started_at),
    finishedAt: iso(row.finished_at),
    attempts: row.attempts,
    progress: { percent: row.progress_percent, stage: row.progress_stage, message: row.progress_message },
    error: row.error_json ? (JSON.parse(row.error_json) as Problem) : null,
  };
}

function toRun(row: RunRow): Run {
  return {
    id: row.id,
    tenant: row.tenant,
    name: row.name,
    createdAt: row.created_at.toISOString(),
    options: JSON.parse(row.options_json) as AuditOptions,
    settings: { signal: row.signal, threshold: row.threshold, window: row.median_window },
    preprocessing: row.preprocessing_json === null ? null : (JSON.parse(row.preprocessing_json) as SeriesPreprocessing),
  };
}

function toCheckpoint(row: CheckpointRow): RunCheckpoint {
  return { runId: row.run_id, epoch: row.epoch, jobId: row.job_id, pgdAccuracy: row.pgd_accuracy, createdAt: row.created_at.toISOString() };
}

/** Page cursors as the embedded store writes them (`s<seq>` jobs, `r<seq>` runs), opaque to clients. */
function encodeCursor(prefix: 's' | 'r', seq: string): string {
  return Buffer.from(`${prefix}${seq}`).toString('base64url');
}

function decodeCursor(prefix: 's' | 'r', cursor: string): string | null {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  return new RegExp(`^${prefix}(\\d{1,15})$`).exec(text)?.[1] ?? null;
}

const now = (): string => new Date().toISOString();

/** A unique or primary key that an insert collided with. */
const isUniqueViolation = (err: unknown): boolean => (err as { code?: unknown }).code === '23505';

export interface PgStoreOptions {
  /** Errors of idle pooled connections (a server restart): logged, never thrown. */
  onError?: (err: Error) => void;
  /** Connections of the pool (default 10). */
  max?: number;
}

/** Pool settings: a connection attempt or a statement that hangs gives up instead of holding a request forever. */
function poolConfig(connectionString: string, max: number): pg.PoolConfig {
  return { connectionString, max, connectionTimeoutMillis: 5_000, query_timeout: 120_000, idleTimeoutMillis: 30_000, application_name: 'alias-audit' };
}

export class PgStore implements Store {
  readonly runs: PgRunStore;
  private closing: Promise<void> | undefined;

  private constructor(
    readonly pool: Pool,
    /** A second, small pool for the model blobs' locks and bytes, so they never starve the job calls they wait on. */
    readonly blobPool: Pool,
  ) {
    this.runs = new PgRunStore(pool);
  }

  /** Connects, applies the migrations this database lacks, and returns the store. */
  static async open(connectionString: string, options: PgStoreOptions = {}): Promise<PgStore> {
    const onError = options.onError ?? (() => undefined);
    const pool = new pg.Pool(poolConfig(connectionString, options.max ?? 10));
    const blobPool = new pg.Pool(poolConfig(connectionString, 4));
    pool.on('error', onError);
    blobPool.on('error', onError);
    try {
      await migrate(pool);
    } catch (err) {
      await Promise.allSettled([pool.end(), blobPool.end()]);
      throw err;
    }
    return new PgStore(pool, blobPool);
  }

  /** One round trip (readiness). */
  async ping(): Promise<void> {
    await this.pool.query('SELECT 1');
  }

  close(): Promise<void> {
    this.closing ??= Promise.allSettled([this.pool.end(), this.blobPool.end()]).then(() => undefined);
    return this.closing;
  }

  async create(owner: TenantScope, id: string, job: NewJob): Promise<Job> {
    const rows = await rowsOf<JobRow>(
      this.pool,
      `INSERT INTO jobs (id, tenant, status, model_sha256, model_bytes, model_filename, options_json, options_key, created_at)
       VALUES (?, ?, 'queued', ?, ?, ?, ?, ?, ?) RETURNING *`,
      [id, owner.tenant, job.model.sha256, job.model.bytes, job.model.filename, storedOptionsJson(job.options, job.baseline), job.optionsKey, now()],
    );
    return toJob(rows[0]);
  }

  get(scope: Scope, id: string): Promise<Job | null> {
    return this.jobIn(this.pool, scope, id);
  }

  /** Job and report in one statement: the two as they stand together. */
  async getWithReport(scope: Scope, id: string): Promise<JobWithReport | null> {
    const t = tenantWhere(scope, 'j');
    const rows = await rowsOf<JobRow & { report_json: string | null }>(
      this.pool,
      `SELECT j.*, CASE WHEN j.status = 'succeeded' THEN r.report_json END AS report_json
       FROM jobs j LEFT JOIN reports r ON r.job_id = j.id WHERE j.id = ? AND ${t.sql}`,
      [id, ...t.args],
    );
    if (rows.length === 0) return null;
    const row = rows[0];
    return { ...toJob(row), report: row.report_json === null ? null : (JSON.parse(row.report_json) as AuditReport) };
  }

  async report(scope: Scope, id: string): Promise<AuditReport | null> {
    const t = tenantWhere(scope, 'j');
    const rows = await rowsOf<{ report_json: string }>(
      this.pool,
      `SELECT r.report_json FROM reports r JOIN jobs j ON j.id = r.job_id WHERE r.job_id = ? AND ${t.sql}`,
      [id, ...t.args],
    );
    return rows.length === 0 ? null : (JSON.parse(rows[0].report_json) as AuditReport);
  }

  async reportCount(id: string): Promise<number> {
    const rows = await rowsOf<{ n: string }>(this.pool, 'SELECT COUNT(*) AS n FROM reports WHERE job_id = ?', [id]);
    return Number(rows[0].n);
  }

  /** As the embedded store: the owner's own jobs only, never a run's checkpoint. */
  async findReusable(owner: TenantScope, sha256: string, optionsKey: string): Promise<Job | null> {
    const rows = await rowsOf<JobRow>(
      this.pool,
      `SELECT * FROM jobs WHERE tenant = ? AND model_sha256 = ? AND options_key = ? AND status IN ('queued', 'running', 'succeeded')
         AND NOT EXISTS (SELECT 1 FROM run_checkpoints c WHERE c.job_id = jobs.id)
       ORDER BY (status = 'succeeded') DESC, seq DESC LIMIT 1`,
      [owner.tenant, sha256, optionsKey],
    );
    return rows.length === 0 ? null : toJob(rows[0]);
  }

  async list(scope: Scope, q: ListQuery): Promise<JobPage> {
    const t = tenantWhere(scope);
    const where: string[] = [t.sql];
    const args: Param[] = [...t.args];
    if (q.cursor !== undefined) {
      const seq = decodeCursor('s', q.cursor);
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
    const rows = await rowsOf<JobRow>(this.pool, `SELECT * FROM jobs WHERE ${where.join(' AND ')} ORDER BY seq DESC LIMIT ?`, [...args, q.limit + 1]);
    const page = rows.slice(0, q.limit);
    return { items: page.map(toJob), next: rows.length > q.limit ? encodeCursor('s', page[page.length - 1].seq) : null };
  }

  async queuedIds(): Promise<string[]> {
    return (await rowsOf<{ id: string }>(this.pool, `SELECT id FROM jobs WHERE status = 'queued' ORDER BY seq`)).map((r) => r.id);
  }

  async start(id: string, opts: { takeOver?: boolean } = {}): Promise<Job | null> {
    const from = opts.takeOver ? `status IN ('queued', 'running')` : `status = 'queued'`;
    const rows = await rowsOf<JobRow>(
      this.pool,
      `UPDATE jobs SET status = 'running', started_at = ?, attempts = attempts + 1,
         progress_percent = 0, progress_stage = 'starting', progress_message = ''
       WHERE id = ? AND ${from} RETURNING *`,
      [now(), id],
    );
    return rows.length === 1 ? toJob(rows[0]) : null;
  }

  async progress(id: string, p: JobProgress): Promise<void> {
    await changes(this.pool, `UPDATE jobs SET progress_percent = ?, progress_stage = ?, progress_message = ? WHERE id = ? AND status = 'running'`, [
      p.percent,
      p.stage,
      p.message,
      id,
    ]);
  }

  /** The status update takes the row's lock: a second succeed waits, then finds the job no longer running. */
  succeed(id: string, report: AuditReport): Promise<boolean> {
    return transaction(this.pool, async (db) => {
      const done = await changes(
        db,
        `UPDATE jobs SET status = 'succeeded', finished_at = ?, progress_percent = 100, progress_stage = 'done', progress_message = 'done', error_json = NULL
         WHERE id = ? AND status = 'running'`,
        [now(), id],
      );
      if (done !== 1) return false;
      await changes(db, 'INSERT INTO reports (job_id, report_json, created_at) VALUES (?, ?, ?)', [id, JSON.stringify(report), now()]);
      return true;
    });
  }

  async fail(id: string, error: Problem): Promise<boolean> {
    return (await this.failIn(this.pool, id, error)) === 1;
  }

  async requeue(id: string): Promise<boolean> {
    return (await this.requeueIn(this.pool, id)) === 1;
  }

  recoverInterrupted(maxAttempts: number, failure: Problem): Promise<{ requeued: string[]; failed: string[] }> {
    return transaction(this.pool, async (db) => {
      const rows = await rowsOf<{ id: string; attempts: number }>(db, `SELECT id, attempts FROM jobs WHERE status = 'running' ORDER BY seq FOR UPDATE`);
      const requeued: string[] = [];
      const failed: string[] = [];
      for (const r of rows) {
        if (r.attempts >= maxAttempts) {
          await this.failIn(db, r.id, failure);
          failed.push(r.id);
        } else {
          await this.requeueIn(db, r.id);
          requeued.push(r.id);
        }
      }
      return { requeued, failed };
    });
  }

  async delete(scope: Scope, id: string): Promise<boolean> {
    const t = tenantWhere(scope);
    return (await changes(this.pool, `DELETE FROM jobs WHERE id = ? AND ${t.sql}`, [id, ...t.args])) === 1;
  }

  async modelInUse(owner: TenantScope, sha256: string): Promise<boolean> {
    const rows = await rowsOf(this.pool, `SELECT 1 FROM jobs WHERE tenant = ? AND model_sha256 = ? AND status IN ('queued', 'running') LIMIT 1`, [owner.tenant, sha256]);
    return rows.length > 0;
  }

  async counts(): Promise<Record<JobStatus, number>> {
    const out: Record<JobStatus, number> = { queued: 0, running: 0, succeeded: 0, failed: 0 };
    for (const r of await rowsOf<{ status: JobStatus; n: string }>(this.pool, 'SELECT status, COUNT(*) AS n FROM jobs GROUP BY status')) out[r.status] = Number(r.n);
    return out;
  }

  private async jobIn(db: Queryable, scope: Scope, id: string): Promise<Job | null> {
    const t = tenantWhere(scope);
    const rows = await rowsOf<JobRow>(db, `SELECT * FROM jobs WHERE id = ? AND ${t.sql}`, [id, ...t.args]);
    return rows.length === 0 ? null : toJob(rows[0]);
  }

  private failIn(db: Queryable, id: string, error: Problem): Promise<number> {
    return changes(db, `UPDATE jobs SET status = 'failed', finished_at = ?, progress_stage = 'failed', error_json = ? WHERE id = ? AND status = 'running'`, [
      now(),
      JSON.stringify(error),
      id,
    ]);
  }

  private requeueIn(db: Queryable, id: string): Promise<number> {
    return changes(
      db,
      `UPDATE jobs SET status = 'queued', progress_percent = 0, progress_stage = 'queued', progress_message = 'interrupted; queued again' WHERE id = ? AND status = 'running'`,
      [id],
    );
  }
}

/** Runs and checkpoints on the job store's pool (a checkpoint row references its job). */
export class PgRunStore implements RunRepository {
  constructor(private readonly pool: Pool) {}

  async create(owner: TenantScope, id: string, run: NewRun): Promise<Run> {
    const rows = await rowsOf<RunRow>(
      this.pool,
      'INSERT INTO runs (id, tenant, name, options_json, signal, threshold, median_window, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING *',
      [id, owner.tenant, run.name, JSON.stringify(run.options), run.settings.signal, run.settings.threshold, run.settings.window, now()],
    );
    return toRun(rows[0]);
  }

  get(scope: Scope, id: string): Promise<Run | null> {
    return this.runIn(this.pool, scope, id);
  }

  async list(scope: Scope, q: { limit: number; cursor?: string }): Promise<RunPage> {
    let seq = String(Number.MAX_SAFE_INTEGER);
    if (q.cursor !== undefined) {
      const s = decodeCursor('r', q.cursor);
      if (s === null) return { items: [], next: null };
      seq = s;
    }
    const t = tenantWhere(scope, 'r');
    const rows = await rowsOf<RunRow & { checkpoints: string }>(
      this.pool,
      `SELECT r.*, (SELECT COUNT(*) FROM run_checkpoints c WHERE c.run_id = r.id) AS checkpoints
       FROM runs r WHERE r.seq < ? AND ${t.sql} ORDER BY r.seq DESC LIMIT ?`,
      [seq, ...t.args, q.limit + 1],
    );
    const page = rows.slice(0, q.limit);
    return {
      items: page.map((r) => ({ ...toRun(r), checkpoints: Number(r.checkpoints) })),
      next: rows.length > q.limit ? encodeCursor('r', page[page.length - 1].seq) : null,
    };
  }

  checkpoints(scope: Scope, runId: string): Promise<RunCheckpoint[]> {
    return this.checkpointsIn(this.pool, scope, runId);
  }

  checkpoint(scope: Scope, runId: string, epoch: number): Promise<RunCheckpoint | null> {
    return this.checkpointIn(this.pool, scope, runId, epoch);
  }

  async checkpointOfJob(jobId: string): Promise<{ run: Run; epoch: number } | null> {
    const rows = await rowsOf<RunRow & { checkpoint_epoch: number }>(
      this.pool,
      'SELECT r.*, c.epoch AS checkpoint_epoch FROM run_checkpoints c JOIN runs r ON r.id = c.run_id WHERE c.job_id = ?',
      [jobId],
    );
    return rows.length === 0 ? null : { run: toRun(rows[0]), epoch: rows[0].checkpoint_epoch };
  }

  /**
   * The conditional UPDATE decides which pin wins (a concurrent one waits on the row lock, then
   * finds the column set); the read after it, in the same transaction, returns the one in force.
   */
  pinPreprocessing(runId: string, preprocessing: SeriesPreprocessing): Promise<SeriesPreprocessing | null> {
    return transaction(this.pool, async (db) => {
      await changes(db, 'UPDATE runs SET preprocessing_json = ? WHERE id = ? AND preprocessing_json IS NULL', [JSON.stringify(preprocessing), runId]);
      return (await this.runIn(db, 'admin', runId))?.preprocessing ?? null;
    });
  }

  /** The run's row is locked first, so two checkpoints of one run take turns; the keys catch the rest. */
  addCheckpoint(scope: Scope, c: NewRunCheckpoint): Promise<AddCheckpointResult> {
    return transaction(this.pool, async (db): Promise<AddCheckpointResult> => {
      const t = tenantWhere(scope);
      const run = await rowsOf(db, `SELECT 1 FROM runs WHERE id = ? AND ${t.sql} FOR UPDATE`, [c.runId, ...t.args]);
      if (run.length === 0) return 'no-run';
      if (await this.checkpointIn(db, scope, c.runId, c.epoch)) return 'epoch-exists';
      try {
        await changes(db, 'SAVEPOINT checkpoint_insert');
        await changes(db, 'INSERT INTO run_checkpoints (run_id, epoch, job_id, pgd_accuracy, created_at) VALUES (?, ?, ?, ?, ?)', [
          c.runId,
          c.epoch,
          c.jobId,
          c.pgdAccuracy,
          now(),
        ]);
      } catch (err) {
        if (!isUniqueViolation(err)) throw err;
        await changes(db, 'ROLLBACK TO SAVEPOINT checkpoint_insert');
        return 'epoch-exists';
      }
      return 'added';
    });
  }

  delete(scope: Scope, id: string): Promise<string[] | null> {
    return transaction(this.pool, async (db) => {
      const t = tenantWhere(scope);
      // Locks the run: a checkpoint added meanwhile waits, then finds no run.
      const run = await rowsOf(db, `SELECT 1 FROM runs WHERE id = ? AND ${t.sql} FOR UPDATE`, [id, ...t.args]);
      if (run.length === 0) return null;
      const jobIds = (await this.checkpointsIn(db, scope, id)).map((c) => c.jobId);
      await changes(db, 'DELETE FROM runs WHERE id = ?', [id]);
      return jobIds;
    });
  }

  private async runIn(db: Queryable, scope: Scope, id: string): Promise<Run | null> {
    const t = tenantWhere(scope);
    const rows = await rowsOf<RunRow>(db, `SELECT * FROM runs WHERE id = ? AND ${t.sql}`, [id, ...t.args]);
    return rows.length === 0 ? null : toRun(rows[0]);
  }

  private async checkpointsIn(db: Queryable, scope: Scope, runId: string): Promise<RunCheckpoint[]> {
    const t = tenantWhere(scope, 'r');
    const rows = await rowsOf<CheckpointRow>(db, `SELECT c.* FROM run_checkpoints c JOIN runs r ON r.id = c.run_id WHERE c.run_id = ? AND ${t.sql} ORDER BY c.epoch`, [
      runId,
      ...t.args,
    ]);
    return rows.map(toCheckpoint);
  }

  private async checkpointIn(db: Queryable, scope: Scope, runId: string, epoch: number): Promise<RunCheckpoint | null> {
    const t = tenantWhere(scope, 'r');
    const rows = await rowsOf<CheckpointRow>(db, `SELECT c.* FROM run_checkpoints c JOIN runs r ON r.id = c.run_id WHERE c.run_id = ? AND c.epoch = ? AND ${t.sql}`, [
      runId,
      epoch,
      ...t.args,
    ]);
    return rows.length === 0 ? null : toCheckpoint(rows[0]);
  }
}
