/**
 * Training-monitor runs (SPEC §5) in the job store's SQLite database (the embedded
 * {@link RunRepository}): a run's settings, and one
 * row per checkpoint that links an epoch to the audit job measuring it. The measurements
 * themselves are the jobs' reports: nothing is stored twice, and a checkpoint whose job is
 * deleted (DELETE /audits/{id}) leaves the series with it, so its epoch can be posted again.
 */
import type Database from 'better-sqlite3';
import type { SeriesPreprocessing } from '../../audit/monitor.js';
import type { AuditOptions } from '../../audit/options.js';
import type { EarlyStopSettings, EarlyStopSignal } from '../../metrics/earlyStopping.js';
import type { RunRepository } from './repository.js';
import { DEFAULT_TENANT, Scope, TenantScope, tenantWhere } from './scope.js';

/**
 * A synchronous better-sqlite3 call as a repository answers: its value as a resolved promise,
 * its exception as a rejected one (never thrown at the caller, who may not await at once).
 */
export function settled<T>(call: () => T): Promise<T> {
  try {
    return Promise.resolve(call());
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}

/**
 * Idempotent (every start runs it): a data directory from before runs existed gains the two
 * tables and keeps its jobs. Foreign keys need `PRAGMA foreign_keys = ON`, which JobStore sets.
 */
export const RUN_SCHEMA = `
CREATE TABLE IF NOT EXISTS runs (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  tenant TEXT NOT NULL DEFAULT '${DEFAULT_TENANT}',
  name TEXT NOT NULL,
  options_json TEXT NOT NULL,
  signal TEXT NOT NULL CHECK (signal IN ('am', 'amRel')),
  threshold REAL NOT NULL,
  median_window INTEGER,
  created_at TEXT NOT NULL,
  preprocessing_json TEXT
);
CREATE TABLE IF NOT EXISTS run_checkpoints (
  run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  epoch INTEGER NOT NULL,
  job_id TEXT NOT NULL UNIQUE REFERENCES jobs (id) ON DELETE CASCADE,
  pgd_accuracy REAL,
  created_at TEXT NOT NULL,
  PRIMARY KEY (run_id, epoch)
);
`;

/** A run as stored: what to measure each checkpoint with, and the early-stopping rule. */
export interface Run {
  id: string;
  /** The tenant that created it; its checkpoints' jobs are that tenant's too. */
  tenant: string;
  name: string;
  createdAt: string;
  /** Audit options of every checkpoint (robustness none): the same samples and preprocessing. */
  options: AuditOptions;
  settings: EarlyStopSettings;
  /**
   * Under `auto`, the preprocessing chosen by the first checkpoint measured, which every other
   * checkpoint of the run is measured with; null until then, and for explicit options.
   */
  preprocessing: SeriesPreprocessing | null;
}

/** What a new run is made of. */
export type NewRun = Omit<Run, 'id' | 'tenant' | 'createdAt' | 'preprocessing'>;

/** One epoch of a run: the audit job that measures its checkpoint. */
export interface RunCheckpoint {
  runId: string;
  epoch: number;
  jobId: string;
  /** The user's own PGD accuracy of this epoch, for comparison only. */
  pgdAccuracy: number | null;
  createdAt: string;
}

export type NewRunCheckpoint = Omit<RunCheckpoint, 'createdAt'>;

/** One page of runs, newest first, each with its number of checkpoints. */
export interface RunPage {
  items: (Run & { checkpoints: number })[];
  /** Opaque cursor of the next (older) page, or null at the end. */
  next: string | null;
}

/** Why a checkpoint was not added: its epoch is taken, or the run is gone. */
export type AddCheckpointResult = 'added' | 'epoch-exists' | 'no-run';

interface RunRow {
  seq: number;
  id: string;
  tenant: string;
  name: string;
  options_json: string;
  signal: EarlyStopSignal;
  threshold: number;
  median_window: number | null;
  created_at: string;
  preprocessing_json: string | null;
}

interface CheckpointRow {
  run_id: string;
  epoch: number;
  job_id: string;
  pgd_accuracy: number | null;
  created_at: string;
}

function toRun(row: RunRow): Run {
  return {
    id: row.id,
    tenant: row.tenant,
    name: row.name,
    createdAt: row.created_at,
    options: JSON.parse(row.options_json) as AuditOptions,
    settings: { signal: row.signal, threshold: row.threshold, window: row.median_window },
    preprocessing: row.preprocessing_json === null ? null : (JSON.parse(row.preprocessing_json) as SeriesPreprocessing),
  };
}

function toCheckpoint(row: CheckpointRow): RunCheckpoint {
  return { runId: row.run_id, epoch: row.epoch, jobId: row.job_id, pgdAccuracy: row.pgd_accuracy, createdAt: row.created_at };
}

function encodeCursor(seq: number): string {
  return Buffer.from(`r${seq}`).toString('base64url');
}

function decodeCursor(cursor: string): number | null {
  const seq = /^r(\d{1,15})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'))?.[1];
  return seq === undefined ? null : Number(seq);
}

/**
 * Runs and their checkpoints; shares the job store's connection (and so its transactions).
 * Calls for clients take a {@link Scope}; checkpointOfJob and pinPreprocessing serve the
 * queue's processor, by job id.
 */
export class RunStore implements RunRepository {
  constructor(private readonly db: Database.Database) {
    db.exec(RUN_SCHEMA);
    // A data directory from before runs pinned their preprocessing gains the column.
    const columns = db.prepare('PRAGMA table_info(runs)').all() as { name: string }[];
    if (!columns.some((c) => c.name === 'preprocessing_json')) db.exec('ALTER TABLE runs ADD COLUMN preprocessing_json TEXT');
    // ... and runs from before tenants belong to the default tenant.
    if (!columns.some((c) => c.name === 'tenant')) db.exec(`ALTER TABLE runs ADD COLUMN tenant TEXT NOT NULL DEFAULT '${DEFAULT_TENANT}'`);
    db.exec('CREATE INDEX IF NOT EXISTS runs_by_tenant ON runs (tenant, seq)');
  }

  create(owner: TenantScope, id: string, run: NewRun): Promise<Run> {
    return settled(() => {
      this.db
        .prepare('INSERT INTO runs (id, tenant, name, options_json, signal, threshold, median_window, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
        .run(id, owner.tenant, run.name, JSON.stringify(run.options), run.settings.signal, run.settings.threshold, run.settings.window, new Date().toISOString());
      return this.runNow(owner, id)!;
    });
  }

  get(scope: Scope, id: string): Promise<Run | null> {
    return settled(() => this.runNow(scope, id));
  }

  list(scope: Scope, q: { limit: number; cursor?: string }): Promise<RunPage> {
    return settled(() => {
      let seq = Number.MAX_SAFE_INTEGER;
      if (q.cursor !== undefined) {
        const s = decodeCursor(q.cursor);
        if (s === null) return { items: [], next: null };
        seq = s;
      }
      const t = tenantWhere(scope, 'r');
      const rows = this.db
        .prepare(
          `SELECT r.*, (SELECT COUNT(*) FROM run_checkpoints c WHERE c.run_id = r.id) AS checkpoints
           FROM runs r WHERE r.seq < ? AND ${t.sql} ORDER BY r.seq DESC LIMIT ?`,
        )
        .all(seq, ...t.args, q.limit + 1) as (RunRow & { checkpoints: number })[];
      const page = rows.slice(0, q.limit);
      return {
        items: page.map((r) => ({ ...toRun(r), checkpoints: r.checkpoints })),
        next: rows.length > q.limit ? encodeCursor(page[page.length - 1].seq) : null,
      };
    });
  }

  checkpoints(scope: Scope, runId: string): Promise<RunCheckpoint[]> {
    return settled(() => this.checkpointsNow(scope, runId));
  }

  checkpoint(scope: Scope, runId: string, epoch: number): Promise<RunCheckpoint | null> {
    return settled(() => this.checkpointNow(scope, runId, epoch));
  }

  checkpointOfJob(jobId: string): Promise<{ run: Run; epoch: number } | null> {
    return settled(() => {
      const row = this.db
        .prepare('SELECT r.*, c.epoch AS checkpoint_epoch FROM run_checkpoints c JOIN runs r ON r.id = c.run_id WHERE c.job_id = ?')
        .get(jobId) as (RunRow & { checkpoint_epoch: number }) | undefined;
      return row ? { run: toRun(row), epoch: row.checkpoint_epoch } : null;
    });
  }

  /** The conditional UPDATE decides which pin wins; the read after it, in the same transaction, returns that one. */
  pinPreprocessing(runId: string, preprocessing: SeriesPreprocessing): Promise<SeriesPreprocessing | null> {
    return settled(() =>
      this.db.transaction((): SeriesPreprocessing | null => {
        this.db.prepare('UPDATE runs SET preprocessing_json = ? WHERE id = ? AND preprocessing_json IS NULL').run(JSON.stringify(preprocessing), runId);
        return this.runNow('admin', runId)?.preprocessing ?? null;
      })(),
    );
  }

  addCheckpoint(scope: Scope, c: NewRunCheckpoint): Promise<AddCheckpointResult> {
    return settled(() =>
      this.db.transaction((): AddCheckpointResult => {
        if (!this.runNow(scope, c.runId)) return 'no-run';
        if (this.checkpointNow(scope, c.runId, c.epoch)) return 'epoch-exists';
        this.db
          .prepare('INSERT INTO run_checkpoints (run_id, epoch, job_id, pgd_accuracy, created_at) VALUES (?, ?, ?, ?, ?)')
          .run(c.runId, c.epoch, c.jobId, c.pgdAccuracy, new Date().toISOString());
        return 'added';
      })(),
    );
  }

  delete(scope: Scope, id: string): Promise<string[] | null> {
    return settled(() =>
      this.db.transaction((): string[] | null => {
        const jobIds = this.checkpointsNow(scope, id).map((c) => c.jobId);
        const t = tenantWhere(scope);
        return this.db.prepare(`DELETE FROM runs WHERE id = ? AND ${t.sql}`).run(id, ...t.args).changes === 1 ? jobIds : null;
      })(),
    );
  }

  private runNow(scope: Scope, id: string): Run | null {
    const t = tenantWhere(scope);
    const row = this.db.prepare(`SELECT * FROM runs WHERE id = ? AND ${t.sql}`).get(id, ...t.args) as RunRow | undefined;
    return row ? toRun(row) : null;
  }

  private checkpointsNow(scope: Scope, runId: string): RunCheckpoint[] {
    const t = tenantWhere(scope, 'r');
    return (
      this.db
        .prepare(`SELECT c.* FROM run_checkpoints c JOIN runs r ON r.id = c.run_id WHERE c.run_id = ? AND ${t.sql} ORDER BY c.epoch`)
        .all(runId, ...t.args) as CheckpointRow[]
    ).map(toCheckpoint);
  }

  private checkpointNow(scope: Scope, runId: string, epoch: number): RunCheckpoint | null {
    const t = tenantWhere(scope, 'r');
    const row = this.db
      .prepare(`SELECT c.* FROM run_checkpoints c JOIN runs r ON r.id = c.run_id WHERE c.run_id = ? AND c.epoch = ? AND ${t.sql}`)
      .get(runId, epoch, ...t.args) as CheckpointRow | undefined;
    return row ? toCheckpoint(row) : null;
  }
}
