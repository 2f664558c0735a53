/**
 * Two API processes of one distributed service (here: two services in this process on one
 * Redis and one database, with no worker) count against one budget: the rate limits are Redis
 * counters and the queue-full check reads the queue in Redis, so a client gains nothing by
 * reaching the other process behind a load balancer.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startService, type RunningService } from '../../src/service/server.js';
import { bundledModel, STANDARD } from '../helpers/models.js';
import { createDatabase, startPostgres, startRedis, type TestServer } from '../helpers/servers.js';
import { problemOf, testServiceConfig, upload } from '../service/helpers.js';

const KEY = 'team-key-0123456789abcdef';
const auth = { authorization: `Bearer ${KEY}` };

describe('two API processes share the rate limits and the queue-full check', () => {
  let postgres: TestServer;
  let redis: TestServer;
  const apis: RunningService[] = [];
  const dirs: string[] = [];
  before(async () => {
    [postgres, redis] = await Promise.all([startPostgres(), startRedis()]);
    const databaseUrl = await createDatabase(postgres);
    for (let i = 0; i < 2; i++) {
      const dir = mkdtempSync(join(tmpdir(), `alias-audit-shared-${i}-`));
      dirs.push(dir);
      apis.push(
        await startService(
          testServiceConfig(dir, {
            redisUrl: redis.url,
            databaseUrl,
            apiKeys: [`team:${KEY}`],
            maxQueued: 1,
            rateLimit: { windowMs: 60_000, writes: 3, reads: 100_000 },
          }),
        ),
      );
    }
  });
  after(async () => {
    await Promise.allSettled(apis.map((a) => a.close(0)));
    await Promise.allSettled([redis?.stop(), postgres?.stop()]);
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  test('a queue full through API A is full through API B; the third write through either is the last', async () => {
    const [a, b] = apis;
    // No worker runs: the first audit stays waiting in Redis, so the queue (limit 1) is full.
    const first = await upload(a.url, { model: bundledModel(STANDARD), fields: { preprocess: 'none', samples: '6' }, headers: auth });
    assert.equal(first.status, 202, await first.clone().text());
    const second = await upload(b.url, { model: bundledModel(STANDARD), fields: { preprocess: 'none', samples: '7' }, headers: auth });
    assert.equal(second.status, 503);
    assert.equal((await problemOf(second)).code, 'QUEUE_FULL');
    assert.ok(Number(second.headers.get('retry-after')) > 0);

    // Writes 1 and 2 were those above (one on each process); the third passes the limiter, the fourth does not, on either.
    const third = await fetch(`${a.url}/audits/00000000-0000-4000-8000-000000000000`, { method: 'DELETE', headers: auth });
    assert.equal(third.status, 404);
    for (const api of [b, a]) {
      const limited = await fetch(`${api.url}/audits/00000000-0000-4000-8000-000000000000`, { method: 'DELETE', headers: auth });
      assert.equal(limited.status, 429, `through ${api === a ? 'A' : 'B'}`);
      assert.equal((await problemOf(limited)).code, 'RATE_LIMITED');
      assert.ok(Number(limited.headers.get('retry-after')) > 0);
    }
  });

  test('/readyz of either names PostgreSQL and Redis as answering, with no live worker', async () => {
    for (const api of apis) {
      const res = await fetch(`${api.url}/readyz`);
      // The queue is full (limit 1): not ready, and the document says why.
      const body = (await res.json()) as { checks: { database: { status: string }; redis: { status: string }; workers: number; queue: { waiting: number } } };
      assert.equal(res.status, 503);
      assert.equal(body.checks.database.status, 'ok');
      assert.equal(body.checks.redis.status, 'ok');
      assert.equal(body.checks.workers, 0);
      assert.equal(body.checks.queue.waiting, 1);
      // Each process's /metrics reads the shared queue and the live workers from Redis.
      const metrics = await (await fetch(`${api.url}/metrics`, { headers: auth })).text();
      assert.match(metrics, /^alias_audit_queue_jobs\{state="waiting"\} 1$/m);
      assert.match(metrics, /^alias_audit_workers 0$/m);
    }
  });
});
