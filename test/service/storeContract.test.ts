/**
 * The store and model-blob contracts on both implementations: SQLite with files in a data
 * directory (embedded), PostgreSQL with blobs in the database (distributed, one private server
 * for this file, one fresh database per store). Then what only PostgreSQL has: migrations that
 * concurrent start-ups apply once, a schema newer than this build, a server that is not there.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { DEFAULT_AUDIT_OPTIONS } from '../../src/audit/options.js';
import type { AuditReport } from '../../src/audit/report.js';
import { optionsKey } from '../../src/service/formOptions.js';
import { MissingBlobError } from '../../src/service/jobs/blobs.js';
import { isDatabaseUnreachable } from '../../src/service/dependencies.js';
import { ModelFiles } from '../../src/service/jobs/modelFiles.js';
import { CHUNK_BYTES, PgModelBlobs } from '../../src/service/jobs/pg/pgBlobs.js';
import { PgStore } from '../../src/service/jobs/pg/pgStore.js';
import { migrate, MIGRATIONS, SchemaTooNewError } from '../../src/service/jobs/pg/migrations.js';
import { JobStore } from '../../src/service/jobs/store.js';
import { createDatabase, freePort, startPostgres, type TestServer } from '../helpers/servers.js';
import { blobsContract } from './blobsContract.js';
import { storeContract } from './storeContract.js';

const dir = mkdtempSync(join(tmpdir(), 'alias-audit-store-contract-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const freshDir = (): string => join(dir, `d${++files}`);

describe('SQLite', () => {
  storeContract('JobStore', () => Promise.resolve(new JobStore(join(dir, `store-${++files}.db`))));
  blobsContract(
    'ModelFiles',
    () => {
      const store = new JobStore(join(dir, `blobs-${++files}.db`));
      return Promise.resolve({ blobs: new ModelFiles(freshDir(), store), store, close: () => store.close() });
    },
    { tempCopies: false },
  );
});

describe('PostgreSQL', () => {
  let server: TestServer;
  before(async () => {
    server = await startPostgres();
  });
  after(() => server?.stop());

  const openStore = async (): Promise<PgStore> => PgStore.open(await createDatabase(server));

  storeContract('PgStore', openStore);
  blobsContract(
    'PgModelBlobs',
    async () => {
      const store = await openStore();
      return { blobs: new PgModelBlobs(store.blobPool, store, freshDir()), store, close: () => store.close() };
    },
    { tempCopies: true },
  );

  test('a 9 MiB model is stored in chunks of CHUNK_BYTES', async () => {
    const store = await openStore();
    try {
      const blobs = new PgModelBlobs(store.blobPool, store, freshDir());
      const data = randomBytes(9 * 1024 * 1024);
      const sha = createHash('sha256').update(data).digest('hex');
      const upload = join(dir, `chunked-${++files}`);
      writeFileSync(upload, data);
      await blobs.adopt({ tenant: 'alpha' }, upload, sha, () => Promise.resolve());
      const { rows } = await store.pool.query<{ bytes: string; chunks: number; sizes: number[] }>(
        `SELECT b.bytes, b.chunks, array_agg(length(c.data) ORDER BY c.idx) AS sizes
         FROM model_blobs b JOIN model_blob_chunks c USING (tenant, sha256) WHERE b.sha256 = $1 GROUP BY b.bytes, b.chunks`,
        [sha],
      );
      assert.deepEqual(rows.map((r) => [Number(r.bytes), r.chunks, r.sizes]), [[data.length, 3, [CHUNK_BYTES, CHUNK_BYTES, 1024 * 1024]]]);
    } finally {
      await store.close();
    }
  });

  test('sweepUnused removes old blobs that no queued or running job needs, and keeps the rest', async () => {
    const store = await openStore();
    try {
      const blobs = new PgModelBlobs(store.blobPool, store, freshDir());
      const owner = { tenant: 'alpha' };
      const adopt = async (content: string, jobId: string | null): Promise<string> => {
        const sha = createHash('sha256').update(content).digest('hex');
        const upload = join(dir, `sweep-${++files}`);
        writeFileSync(upload, content);
        const options = { ...DEFAULT_AUDIT_OPTIONS };
        await blobs.adopt(owner, upload, sha, async () => {
          if (jobId) await store.create(owner, jobId, { model: { sha256: sha, bytes: content.length, filename: null }, options, optionsKey: optionsKey(options) });
        });
        return sha;
      };
      const finished = await adopt('finished, never released', 'done');
      await store.start('done');
      await store.succeed('done', { tool: { name: 'alias-audit', version: 'test' } } as unknown as AuditReport);
      const queued = await adopt('queued', 'waiting');
      const recent = await adopt('finished just now', null);
      await store.pool.query(`UPDATE model_blobs SET created_at = now() - interval '2 hours' WHERE sha256 <> $1`, [recent]);

      assert.equal(await blobs.sweepUnused(60 * 60_000), 1);
      await assert.rejects(blobs.open(owner, finished), MissingBlobError);
      for (const kept of [queued, recent]) await (await blobs.open(owner, kept)).close();
      assert.equal(await blobs.sweepUnused(60 * 60_000), 0);
    } finally {
      await store.close();
    }
  });

  test('migrate() from 3 pools at once on a fresh database applies version 1 exactly once', async () => {
    const url = await createDatabase(server);
    const pools = Array.from({ length: 3 }, () => new pg.Pool({ connectionString: url, max: 2 }));
    try {
      const applied = await Promise.all(pools.map((p) => migrate(p)));
      assert.deepEqual(
        applied.map((a) => a.join(',')).sort(),
        ['', '', MIGRATIONS.map((m) => m.version).join(',')],
        `one start-up applies the steps, the others find them done: ${JSON.stringify(applied)}`,
      );
      const { rows } = await pools[0].query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
      assert.deepEqual(rows.map((r) => r.version), [1]);
      assert.deepEqual(await migrate(pools[1]), [], 'a later start-up applies nothing');
    } finally {
      await Promise.all(pools.map((p) => p.end()));
    }
  });

  test('a database migrated by a newer alias-audit (version 999) is refused with SchemaTooNewError', async () => {
    const url = await createDatabase(server);
    const pool = new pg.Pool({ connectionString: url, max: 1 });
    try {
      await migrate(pool);
      await pool.query(`INSERT INTO schema_migrations (version, name) VALUES (999, 'from the future')`);
    } finally {
      await pool.end();
    }
    await assert.rejects(PgStore.open(url), (err) => {
      assert.ok(err instanceof SchemaTooNewError, String(err));
      assert.equal(err.found, 999);
      return true;
    });
  });

  test('PgStore.open against a closed port rejects within seconds, as "database unreachable"', async () => {
    const port = await freePort();
    const started = Date.now();
    let timer: NodeJS.Timeout | undefined;
    const hang = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('PgStore.open still pending after 15 s')), 15_000);
    });
    try {
      const err = await Promise.race([PgStore.open(`postgres://postgres@127.0.0.1:${port}/nothing`), hang]).then(
        async (store) => {
          await store.close();
          return null;
        },
        (e: unknown) => e,
      );
      assert.ok(err instanceof Error, 'it rejects');
      assert.notEqual(err.message, 'PgStore.open still pending after 15 s');
      assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms`);
      assert.ok(isDatabaseUnreachable(err), `classified as unreachable: ${(err as { code?: string }).code} ${err.message}`);
    } finally {
      clearTimeout(timer);
    }
  });
});
