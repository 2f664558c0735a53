/**
 * The distributed {@link ModelBlobs}: model bytes in PostgreSQL, which every worker machine
 * reaches, in chunks of {@link CHUNK_BYTES} (a whole model in one bytea value would be held in
 * memory twice on each side). A blob is per tenant and content, written once and removed when
 * no queued or running job of its tenant needs it.
 *
 * Adopt and release of one blob exclude each other across processes with a session-level
 * advisory lock keyed by (tenant, sha256): the blob is committed before the job that needs it
 * is created, and the check "no job needs it" and the delete happen while no creation can slip
 * between them. The locks live on their own small pool, so a process full of uploads waiting
 * for a lock never holds the connections that the job creation they wait on needs.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Pool, PoolClient } from 'pg';
import { MissingBlobError, type ModelBlobs, type OpenedBlob } from '../blobs.js';
import type { JobRepository } from '../repository.js';
import type { TenantScope } from '../scope.js';
import { transaction } from './pgStore.js';

/** Bytes per stored chunk: a few round trips for a big model, small enough to stream. */
export const CHUNK_BYTES = 4 * 1024 * 1024;

function checkSha(sha256: string): void {
  if (!/^[0-9a-f]{64}$/.test(sha256)) throw new RangeError(`not a sha256: ${sha256}`);
}

export class PgModelBlobs implements ModelBlobs {
  constructor(
    private readonly pool: Pool,
    private readonly store: Pick<JobRepository, 'modelInUse'>,
    /** Where {@link open} writes a worker's local copies (created on first use). */
    private readonly copiesDir: string,
  ) {}

  adopt<T>(owner: TenantScope, uploadPath: string, sha256: string, createJob: () => Promise<T>): Promise<T> {
    checkSha(sha256);
    return this.locked(owner, sha256, async (client) => {
      await this.storeUnlessThere(client, owner, uploadPath, sha256);
      try {
        return await createJob();
      } catch (err) {
        // The blob goes unless a job needs it, whether this call stored it or found it there.
        await this.removeUnlessNeeded(client, owner, sha256);
        throw err;
      }
    });
  }

  async releaseIfUnused(owner: TenantScope, sha256: string): Promise<void> {
    checkSha(sha256);
    await this.locked(owner, sha256, (client) => this.removeUnlessNeeded(client, owner, sha256));
  }

  /** Each candidate is checked again under its lock: a job created meanwhile keeps its blob. */
  async sweepUnused(olderThanMs: number): Promise<number> {
    const { rows } = await this.pool.query<{ tenant: string; sha256: string }>(
      `SELECT b.tenant, b.sha256 FROM model_blobs b
       WHERE b.created_at < now() - make_interval(secs => $1::double precision / 1000)
         AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.tenant = b.tenant AND j.model_sha256 = b.sha256 AND j.status IN ('queued', 'running'))`,
      [olderThanMs],
    );
    let removed = 0;
    for (const r of rows) {
      if (await this.locked({ tenant: r.tenant }, r.sha256, (client) => this.removeUnlessNeeded(client, { tenant: r.tenant }, r.sha256))) removed++;
    }
    return removed;
  }

  /**
   * The blob as a temporary file (mode 0600) for the audit child; its chunks are read in one
   * snapshot, so a release meanwhile gives a {@link MissingBlobError}, never a torn file, and
   * the bytes are checked against the sha256 they are stored under.
   */
  async open(owner: TenantScope, sha256: string): Promise<OpenedBlob> {
    checkSha(sha256);
    await mkdir(this.copiesDir, { recursive: true, mode: 0o700 });
    const path = join(this.copiesDir, `${randomUUID()}.onnx`);
    const remove = (): Promise<void> => rm(path, { force: true });
    try {
      await transaction(
        this.pool,
        async (db) => {
          const blob = await db.query<{ chunks: number }>('SELECT chunks FROM model_blobs WHERE tenant = $1 AND sha256 = $2', [owner.tenant, sha256]);
          if (blob.rows.length === 0) throw new MissingBlobError(sha256);
          const file = await open(path, 'wx', 0o600);
          const hash = createHash('sha256');
          try {
            for (let idx = 0; idx < blob.rows[0].chunks; idx++) {
              const chunk = await db.query<{ data: Buffer }>('SELECT data FROM model_blob_chunks WHERE tenant = $1 AND sha256 = $2 AND idx = $3', [owner.tenant, sha256, idx]);
              if (chunk.rows.length === 0) throw new MissingBlobError(sha256);
              hash.update(chunk.rows[0].data);
              await file.write(chunk.rows[0].data);
            }
          } finally {
            await file.close();
          }
          const got = hash.digest('hex');
          if (got !== sha256) throw new Error(`the stored model ${sha256} reads back as ${got}: the database copy is damaged`);
        },
        'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY',
      );
    } catch (err) {
      await remove();
      throw err;
    }
    return { path, close: remove };
  }

  /** Writes the upload as the blob unless the same content is stored already; true when it wrote. */
  private async storeUnlessThere(client: PoolClient, owner: TenantScope, uploadPath: string, sha256: string): Promise<boolean> {
    const there = await client.query('SELECT 1 FROM model_blobs WHERE tenant = $1 AND sha256 = $2', [owner.tenant, sha256]);
    if (there.rows.length > 0) return false;
    await client.query('BEGIN');
    try {
      let idx = 0;
      let bytes = 0;
      // The chunk rows first, the blob row that says "complete" with their count last.
      await client.query('INSERT INTO model_blobs (tenant, sha256, bytes, chunks, created_at) VALUES ($1, $2, 0, 0, now())', [owner.tenant, sha256]);
      for await (const piece of createReadStream(uploadPath, { highWaterMark: CHUNK_BYTES })) {
        const data = piece as Buffer;
        await client.query('INSERT INTO model_blob_chunks (tenant, sha256, idx, data) VALUES ($1, $2, $3, $4)', [owner.tenant, sha256, idx++, data]);
        bytes += data.length;
      }
      await client.query('UPDATE model_blobs SET bytes = $3, chunks = $4 WHERE tenant = $1 AND sha256 = $2', [owner.tenant, sha256, bytes, idx]);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
    return true;
  }

  /** True when it removed the blob. */
  private async removeUnlessNeeded(client: PoolClient, owner: TenantScope, sha256: string): Promise<boolean> {
    if (await this.store.modelInUse(owner, sha256)) return false;
    return ((await client.query('DELETE FROM model_blobs WHERE tenant = $1 AND sha256 = $2', [owner.tenant, sha256])).rowCount ?? 0) > 0;
  }

  /**
   * Runs `work` on a connection holding the blob's advisory lock; a connection that dies drops
   * its lock with it, so a crashed process never leaves a blob locked.
   */
  private async locked<T>(owner: TenantScope, sha256: string, work: (client: PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    const key = JSON.stringify(['alias-audit blob', owner.tenant, sha256]);
    // Only a connection whose unlock failed (it is lost, or holds the lock still) is thrown away.
    let broken: Error | undefined;
    try {
      await client.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [key]).catch((err: unknown) => {
        broken = err instanceof Error ? err : new Error(String(err));
        throw err;
      });
      try {
        return await work(client);
      } finally {
        await client.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [key]).catch((err: unknown) => {
          broken = err instanceof Error ? err : new Error(String(err));
        });
      }
    } finally {
      client.release(broken);
    }
  }
}
