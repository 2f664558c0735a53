/**
 * The PostgreSQL schema as numbered migrations, applied at start-up by whichever process (API
 * or worker) opens the database first. A transaction-scoped advisory lock makes concurrent
 * starts take turns, so two processes never apply the same step; a database whose schema is
 * newer than this build knows is refused rather than written with the wrong assumptions.
 */
import type { Pool, PoolClient } from 'pg';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/**
 * Append only: a released step is never edited (databases in the field have run it), a change
 * is a new step. Times are timestamptz; reports and options stay JSON text, byte for byte as
 * the embedded store keeps them (jsonb would reorder keys).
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'jobs, reports, runs, checkpoints and model blobs',
    sql: `
CREATE TABLE jobs (
  seq BIGSERIAL PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  tenant TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
  model_sha256 TEXT NOT NULL,
  model_bytes BIGINT NOT NULL,
  model_filename TEXT,
  options_json TEXT NOT NULL,
  options_key TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL,
  started_at TIMESTAMPTZ,
  finished_at TIMESTAMPTZ,
  attempts INTEGER NOT NULL DEFAULT 0,
  progress_percent DOUBLE PRECISION NOT NULL DEFAULT 0,
  progress_stage TEXT NOT NULL DEFAULT 'queued',
  progress_message TEXT NOT NULL DEFAULT '',
  error_json TEXT
);
CREATE INDEX jobs_by_status ON jobs (status, seq);
CREATE INDEX jobs_by_tenant_audit ON jobs (tenant, model_sha256, options_key, status);
CREATE INDEX jobs_by_tenant ON jobs (tenant, seq);
CREATE TABLE reports (
  job_id TEXT PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
  report_json TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE runs (
  seq BIGSERIAL PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  tenant TEXT NOT NULL,
  name TEXT NOT NULL,
  options_json TEXT NOT NULL,
  signal TEXT NOT NULL CHECK (signal IN ('am', 'amRel')),
  threshold DOUBLE PRECISION NOT NULL,
  median_window INTEGER,
  created_at TIMESTAMPTZ NOT NULL,
  preprocessing_json TEXT
);
CREATE INDEX runs_by_tenant ON runs (tenant, seq);
CREATE TABLE run_checkpoints (
  run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  epoch INTEGER NOT NULL,
  job_id TEXT NOT NULL UNIQUE REFERENCES jobs (id) ON DELETE CASCADE,
  pgd_accuracy DOUBLE PRECISION,
  created_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (run_id, epoch)
);
CREATE TABLE model_blobs (
  tenant TEXT NOT NULL,
  sha256 TEXT NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  bytes BIGINT NOT NULL,
  chunks INTEGER NOT NULL,
  created_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (tenant, sha256)
);
CREATE TABLE model_blob_chunks (
  tenant TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  idx INTEGER NOT NULL,
  data BYTEA NOT NULL,
  PRIMARY KEY (tenant, sha256, idx),
  FOREIGN KEY (tenant, sha256) REFERENCES model_blobs (tenant, sha256) ON DELETE CASCADE
);
`,
  },
];

/** The database was migrated by a newer alias-audit: this one must not write to it. */
export class SchemaTooNewError extends Error {
  constructor(readonly found: number, readonly known: number) {
    super(`the database's schema is at version ${found}, newer than this alias-audit knows (${known}): upgrade alias-audit`);
    this.name = 'SchemaTooNewError';
  }
}

/** An arbitrary constant of ours: the advisory lock key that start-ups take turns on. */
const MIGRATION_LOCK = 0x616c6961; // "alia"

/** Applies the steps the database lacks, all in one transaction; returns the versions applied. */
export async function migrate(pool: Pool, migrations: readonly Migration[] = MIGRATIONS): Promise<number[]> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    try {
      const applied = await applyPending(client, migrations);
      await client.query('COMMIT');
      return applied;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  } catch (err) {
    broken = err instanceof Error ? err : new Error(String(err));
    throw err;
  } finally {
    client.release(broken);
  }
}

async function applyPending(client: PoolClient, migrations: readonly Migration[]): Promise<number[]> {
  await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
  await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
  )`);
  const { rows } = await client.query<{ version: number }>('SELECT version FROM schema_migrations');
  const done = new Set(rows.map((r) => r.version));
  const known = migrations.reduce((m, s) => Math.max(m, s.version), 0);
  const newest = rows.reduce((m, r) => Math.max(m, r.version), 0);
  if (newest > known) throw new SchemaTooNewError(newest, known);
  const applied: number[] = [];
  for (const step of [...migrations].sort((a, b) => a.version - b.version)) {
    if (done.has(step.version)) continue;
    await client.query(step.sql);
    await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [step.version, step.name]);
    applied.push(step.version);
  }
  return applied;
}
