/**
 * The distributed service when a server it depends on goes away (issue 12, point 5): with
 * PostgreSQL or Redis down, /readyz answers 503 naming which, POST /audit answers 503
 * problem+json with Retry-After and leaves nothing half-written (no job row, no model blob, no
 * queue entry), and once the server is back the same processes serve and audit again, with no
 * restart of ours. A Redis with an append-only file, killed and restarted while audits are
 * queued and one runs, loses none of the audits it acknowledged.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startService, type RunningService } from '../../src/service/server.js';
import { startWorker, type RunningWorker } from '../../src/service/workerRole.js';
import { bundledModel, STANDARD } from '../helpers/models.js';
import { createDatabase, queryDatabase, startPostgres, startRedis, type RedisServerOptions, type TestServer } from '../helpers/servers.js';
import { pollJob, problemOf, testServiceConfig, upload, type JobDoc } from '../service/helpers.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Deployment {
  api: RunningService;
  worker: RunningWorker | null;
  postgres: TestServer;
  redis: TestServer;
  databaseUrl: string;
  startWorker(): Promise<RunningWorker>;
  stop(): Promise<void>;
}

/** An API and (unless `worker` is false) one audit worker on private PostgreSQL and Redis servers. */
async function deploy(opts: { redis?: RedisServerOptions; worker?: boolean } = {}): Promise<Deployment> {
  const [postgres, redis] = await Promise.all([startPostgres(), startRedis(opts.redis)]);
  const databaseUrl = await createDatabase(postgres);
  const dir = mkdtempSync(join(tmpdir(), 'alias-audit-failures-'));
  const config = testServiceConfig(dir, { redisUrl: redis.url, databaseUrl });
  const api = await startService(config);
  const workers: RunningWorker[] = [];
  const launchWorker = async (): Promise<RunningWorker> => {
    const w = await startWorker({ ...config, dataDir: join(dir, `worker-${workers.length}`), lockDurationMs: 5_000 }, { log: () => undefined });
    workers.push(w);
    return w;
  };
  const worker = opts.worker === false ? null : await launchWorker();
  return {
    api,
    worker,
    postgres,
    redis,
    databaseUrl,
    startWorker: launchWorker,
    async stop() {
      await Promise.allSettled(workers.map((w) => w.close(0)));
      await api.close(0).catch(() => undefined);
      await Promise.allSettled([postgres.stop(), redis.stop()]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const sql = queryDatabase;

let samples = 20;
/** A quick audit of the bundled model; each call's options differ, so nothing is answered from the cache. */
function postAudit(base: string, extra: Record<string, string> = {}): Promise<Response> {
  return upload(base, { model: bundledModel(STANDARD), fields: { preprocess: 'none', samples: String(samples++), ...extra } });
}

async function accepted(res: Response): Promise<string> {
  assert.equal(res.status, 202, await res.clone().text());
  return ((await res.json()) as { id: string }).id;
}

/** Polls /readyz until it answers `status` (the dependency checks are cached for a second). */
async function readyzUntil(base: string, status: number, timeoutMs = 30_000): Promise<{ status: number; body: Record<string, unknown> }> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const res = await fetch(`${base}/readyz`);
    const body = (await res.json()) as Record<string, unknown>;
    if (res.status === status) return { status: res.status, body };
    if (Date.now() > until) throw new Error(`/readyz still ${res.status} after ${timeoutMs} ms: ${JSON.stringify(body)}`);
    await sleep(200);
  }
}

interface ReadyChecks {
  detail: string;
  checks: { database: { status: string; detail: string }; redis: { status: string; detail: string }; queue: { status: string; waiting: number; active: number } };
}

/** One server of a deployment away for a while, and what the API must answer meanwhile. */
interface Outage {
  /** The server that goes away, as /readyz names it. */
  name: 'PostgreSQL' | 'Redis';
  server: (d: Deployment) => TestServer;
  check: 'database' | 'redis';
  /** The problem code of a refused upload. */
  code: 'STORE_UNAVAILABLE' | 'QUEUE_UNAVAILABLE';
  /** What reading a finished job answers meanwhile: only PostgreSQL holds jobs. */
  readStatus: 503 | 200;
}

for (const outage of [
  { name: 'PostgreSQL', server: (d) => d.postgres, check: 'database', code: 'STORE_UNAVAILABLE', readStatus: 503 },
  { name: 'Redis', server: (d) => d.redis, check: 'redis', code: 'QUEUE_UNAVAILABLE', readStatus: 200 },
] satisfies Outage[]) {
  const other = outage.check === 'database' ? 'redis' : 'database';
  describe(`${outage.name} down`, () => {
    let d: Deployment;
    before(async () => {
      d = await deploy();
    });
    after(() => d?.stop());

    test(`readyz 503 naming ${outage.name}, POST 503 with Retry-After and nothing written; back by itself`, async () => {
      const base = d.api.url;
      const before = await pollJob(base, await accepted(await postAudit(base)));
      assert.equal(before.status, 'succeeded', JSON.stringify(before.error));
      const jobsBefore = await sql<{ id: string }>(d.databaseUrl, 'SELECT id FROM jobs ORDER BY seq');
      assert.match(await (await fetch(`${base}/metrics`)).text(), /^alias_audit_workers 1$/m, 'the live worker, as Redis knows it');

      const back = outage.server(d).restart({ downMs: 5_000 });
      try {
        const down = await readyzUntil(base, 503, 10_000);
        const doc = down.body as unknown as ReadyChecks;
        assert.equal(doc.checks[outage.check].status, 'failed');
        assert.equal(doc.checks[other].status, 'ok');
        assert.match(doc.detail, new RegExp(`${outage.name} unreachable`));
        assert.doesNotMatch(doc.detail, new RegExp(`${outage.name === 'Redis' ? 'PostgreSQL' : 'Redis'} unreachable`));
        if (outage.name === 'Redis') assert.equal(doc.checks.queue.status, 'unknown', 'no queue to count');

        const refused = await postAudit(base);
        assert.equal(refused.status, 503);
        assert.equal(refused.headers.get('content-type')?.split(';')[0], 'application/problem+json');
        assert.equal((await problemOf(refused)).code, outage.code);
        assert.ok(Number(refused.headers.get('retry-after')) > 0, 'Retry-After');
        const read = await fetch(`${base}/audits/${before.id}`);
        assert.equal(read.status, outage.readStatus, 'a read answers as it should, never a 500');
        if (outage.readStatus === 503) assert.equal((await problemOf(read)).code, outage.code);
        assert.equal((await fetch(`${base}/healthz`)).status, 200, 'the process itself lives');
      } finally {
        await back;
      }

      await readyzUntil(base, 200);
      assert.deepEqual(await sql<{ id: string }>(d.databaseUrl, 'SELECT id FROM jobs ORDER BY seq'), jobsBefore, 'the refused upload left no job');
      assert.deepEqual(await sql(d.databaseUrl, 'SELECT sha256 FROM model_blobs'), [], 'nor a model blob');
      const after = await pollJob(base, await accepted(await postAudit(base)));
      assert.equal(after.status, 'succeeded', `the same API and worker audit again: ${JSON.stringify(after.error)}`);
      assert.deepEqual(await sql(d.databaseUrl, 'SELECT sha256 FROM model_blobs'), [], 'the finished audit released its model');
    });
  });
}

describe('Redis with an append-only file, killed mid-run', () => {
  let d: Deployment;
  before(async () => {
    d = await deploy({ redis: { appendOnly: true, appendFsync: 'everysec' } });
  });
  after(() => d?.stop());

  test('every acknowledged audit is still queued after the restart and succeeds exactly once', async () => {
    const base = d.api.url;
    // One long audit runs on the worker while five more wait behind it (concurrency 1).
    const running = await accepted(await postAudit(base, { samples: '3000', batch: '100' }));
    await pollJob(base, running, ['running']);
    const waiting: string[] = [];
    for (let i = 0; i < 5; i++) waiting.push(await accepted(await postAudit(base)));

    await d.redis.restart({ crash: true, downMs: 500 });
    const { body } = await readyzUntil(base, 200);
    const queue = (body as unknown as ReadyChecks).checks.queue;
    // Straight after the restart, before the API's periodic re-hand-off (a minute) could have
    // re-added anything: the queue itself kept them.
    assert.ok(queue.waiting + queue.active >= 5, `after the restart the queue holds ${queue.waiting} waiting and ${queue.active} active`);

    const ids = [running, ...waiting];
    const jobs: JobDoc[] = [];
    for (const id of ids) jobs.push(await pollJob(base, id, ['succeeded', 'failed'], 180_000));
    for (const job of jobs) assert.equal(job.status, 'succeeded', `${job.id}: ${JSON.stringify(job.error)}`);
    const reports = await sql<{ job_id: string; n: string }>(d.databaseUrl, 'SELECT job_id, COUNT(*) AS n FROM reports GROUP BY job_id');
    assert.deepEqual(reports.map((r) => r.job_id).sort(), [...ids].sort());
    assert.ok(reports.every((r) => r.n === '1'), 'one report per audit');
    assert.deepEqual(await sql(d.databaseUrl, `SELECT id FROM jobs WHERE status = 'running'`), []);
  });
});
