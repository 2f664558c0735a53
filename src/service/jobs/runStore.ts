/**
 * Training-monitor runs (SPEC §5) in the job store's SQLite database: a run's settings, and one
 * row per checkpoint that links an epoch to the audit job measuring it. The measurements
 * themselves are the jobs' reports: nothing is stored twice, and a checkpoint whose job is
 * deleted (DELETE /audits/{id}) leaves the series with it, so its epoch can be posted again.
 */
import type Database from 'better-sqlite3';
import type { AuditOptions } from '../../audit/options.js';
import type { EarlyStopSettings, EarlyStopSignal } from '../../metrics/earlyStopping.js';

/**
 * Idempotent (every start runs it): a data directory from before runs existed gains the two
 * tables and keeps its jobs. Foreign keys need `PRAGMA foreign_keys = ON`, which JobStore sets.
 */
export const RUN_SCHEMA = `
CREATE TABLE IF NOT EXISTS runs (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  options_json TEXT NOT NULL,
  signal TEXT NOT NULL CHECK (signal IN ('am', 'amRel')),
  threshold REAL NOT NULL,
  median_window INTEGER,
  created_at TEXT NOT NULL
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
  name: string;
  createdAt: string;
  /** Audit options of every checkpoint (robustness none): the same samples and preprocessing. */
  options: AuditOptions;
  settings: EarlyStopSettings;
}

/** What a new run is made of. */
export type NewRun = Omit<Run, 'id' | 'createdAt'>;

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
  name: string;
  options_json: string;
  signal: EarlyStopSignal;
  threshold: number;
  median_window: number | null;
  created_at: string;
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
    name: row.name,
    createdAt: row.created_at,
    options: JSON.parse(row.options_json) as AuditOptions,
    settings: { signal: row.signal, threshold: row.threshold, window: row.median_window },
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

/** Runs and their checkpoints; shares the job store's connection (and so its transactions). */
export class RunStore {
  constructor(private readonly db: Database.Database) {
    db.exec(RUN_SCHEMA);
  }

  create(id: string, run: NewRun): Run {
    this.db
      .prepare('INSERT INTO runs (id, name, options_json, signal, threshold, median_window, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(id, run.name, JSON.stringify(run.options), run.settings.signal, run.settings.threshold, run.settings.window, new Date().toISOString());
    return this.get(id)!;
  }

  get(id: string): Run | null {
    const row = this.db.prepare('SELECT * FROM runs WHERE id = ?').get(id) as RunRow | undefined;
    return row ? toRun(row) : null;
  }

  /** Runs newest first, `limit` at a time. */
  list(q: { limit: number; cursor?: string }): RunPage {
    let seq = Number.MAX_SAFE_INTEGER;
    if (q.cursor !== undefined) {
      const s = decodeCursor(q.cursor);
      if (s === null) return { items: [], next: null };
      seq = s;
    }
    const rows = this.db
      .prepare(
        `SELECT r.*, (SELECT COUNT(*) FROM run_checkpoints c WHERE c.run_id = r.id) AS checkpoints
         FROM runs r WHERE r.seq < ? ORDER BY r.seq DESC LIMIT ?`,
      )
      .all(seq, q.limit + 1) as (RunRow & { checkpoints: number })[];
    const page = rows.slice(0, q.limit);
    return {
      items: page.map((r) => ({ ...toRun(r), checkpoints: r.checkpoints })),
      next: rows.length > q.limit ? encodeCursor(page[page.length - 1].seq) : null,
    };
  }

  /** The run's checkpoints in epoch order. */
  checkpoints(runId: string): RunCheckpoint[] {
    return (this.db.prepare('SELECT * FROM run_checkpoints WHERE run_id = ? ORDER BY epoch').all(runId) as CheckpointRow[]).map(toCheckpoint);
  }

  checkpoint(runId: string, epoch: number): RunCheckpoint | null {
    const row = this.db.prepare('SELECT * FROM run_checkpoints WHERE run_id = ? AND epoch = ?').get(runId, epoch) as CheckpointRow | undefined;
    return row ? toCheckpoint(row) : null;
  }

  /** Links an epoch to its job, unless the epoch is taken or the run was deleted meanwhile. */
  addCheckpoint(c: NewRunCheckpoint): AddCheckpointResult {
    return this.db.transaction((): AddCheckpointResult => {
      if (!this.db.prepare('SELECT 1 FROM runs WHERE id = ?').get(c.runId)) return 'no-run';
      if (this.checkpoint(c.runId, c.epoch)) return 'epoch-exists';
      this.db
        .prepare('INSERT INTO run_checkpoints (run_id, epoch, job_id, pgd_accuracy, created_at) VALUES (?, ?, ?, ?, ?)')
        .run(c.runId, c.epoch, c.jobId, c.pgdAccuracy, new Date().toISOString());
      return 'added';
    })();
  }

  /**
   * Deletes the run and its checkpoint rows; returns the ids of the jobs that measured them
   * (the caller deletes those through the job service), or null when there was no run.
   */
  delete(id: string): string[] | null {
    return this.db.transaction((): string[] | null => {
      const jobIds = this.checkpoints(id).map((c) => c.jobId);
      return this.db.prepare('DELETE FROM runs WHERE id = ?').run(id).changes === 1 ? jobIds : null;
    })();
  }
}
