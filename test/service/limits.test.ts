/**
 * Limits and safety over real HTTP: API keys, rate limits, upload size, queue saturation, and
 * audits that hang (time-out) or crash their worker: each fails its own job, never the server.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { bundledModel, FGSM, STANDARD } from '../helpers/models.js';
import { pollJob, problemOf, startTestService, TestService, upload, workerPids } from './helpers.js';

const KEY = 'test-key-0123456789abcdef';
const auth = { authorization: `Bearer ${KEY}` };


describe('API keys, rate limits and upload size', () => {
  let svc: TestService;
  before(async () => {
    svc = await startTestService({ apiKeys: [KEY], maxUploadBytes: 100_000, rateLimit: { windowMs: 60_000, writes: 3, reads: 1000 } });
  });
  after(async () => {
    await svc?.stop();
  });

  test('without a key, or with an unknown one, the API is 401; health checks stay open', async () => {
    const none = await fetch(`${svc.url}/audits`);
    assert.equal(none.status, 401);
    assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer/);
    assert.equal((await problemOf(none)).code, 'UNAUTHORIZED');
    const wrong = await fetch(`${svc.url}/audits`, { headers: { authorization: 'Bearer not-the-key-at-all-0000' } });
    assert.equal((await problemOf(wrong)).code, 'UNAUTHORIZED');
    const unauthUpload = await upload(svc.url, { model: bundledModel(STANDARD) });
    assert.equal(unauthUpload.status, 401);
    assert.equal((await fetch(`${svc.url}/healthz`)).status, 200);
    assert.equal((await fetch(`${svc.url}/metrics`)).status, 200);
    assert.equal((await fetch(`${svc.url}/audits`, { headers: auth })).status, 200);
  });

  test('an upload over the size limit is 413, and nothing of it stays on disk', async () => {
    const res = await upload(svc.url, { model: bundledModel(STANDARD), headers: auth });
    assert.equal(res.status, 413);
    assert.equal((await problemOf(res)).code, 'PAYLOAD_TOO_LARGE');
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(readdirSync(join(svc.dataDir, 'uploads')), []);
  });

  test('past the write limit a key gets 429 with Retry-After; reads go on', async () => {
    // The 413 above was write 1.
    assert.equal((await upload(svc.url, { fields: { samples: '1' }, headers: auth })).status, 400);
    assert.equal((await upload(svc.url, { fields: { samples: '1' }, headers: auth })).status, 400);
    const limited = await upload(svc.url, { model: bundledModel(STANDARD).subarray(0, 1000), headers: auth });
    assert.equal(limited.status, 429);
    assert.ok(Number(limited.headers.get('retry-after')) > 0);
    assert.equal((await problemOf(limited)).code, 'RATE_LIMITED');
    assert.equal((await fetch(`${svc.url}/audits`, { headers: auth })).status, 200);
    assert.deepEqual(svc.responseViolations, []);
  });
});

describe('an audit that hangs or crashes fails its own job, not the server', () => {
  let svc: TestService;
  let crashSvc: TestService;
  before(async () => {
    svc = await startTestService({ auditTimeoutMs: 1500 });
    crashSvc = await startTestService({ maxQueued: 1 });
    // Let the readiness checks' workers finish, so the only worker later is the audit's.
    await Promise.all([svc.readiness.check(), crashSvc.readiness.check()]);
  });
  after(async () => {
    await svc?.stop();
    await crashSvc?.stop();
    assert.deepEqual(workerPids(), [], 'no worker left behind');
  });

  test('past the time limit the worker is killed and the job fails with AUDIT_TIMEOUT; wait=true answers that problem', async () => {
    const res = await upload(svc.url, { model: bundledModel(FGSM), fields: { preprocess: 'none', samples: '10000', batch: '1' }, query: 'wait=true' });
    assert.equal(res.status, 422);
    const p = await problemOf(res);
    assert.equal(p.code, 'AUDIT_TIMEOUT');
    assert.match(p.detail, /time limit/);
    const id = (res.headers.get('location') ?? '').split('/').pop()!;
    const job = await pollJob(svc.url, id);
    assert.deepEqual([job.status, job.error?.code], ['failed', 'AUDIT_TIMEOUT']);
    assert.equal((await fetch(`${svc.url}/healthz`)).status, 200);
    const metrics = await (await fetch(`${svc.url}/metrics`)).text();
    assert.match(metrics, /alias_audit_audits_total\{outcome="failed",code="AUDIT_TIMEOUT"\} 1/);
  });

  test('a worker that dies mid-audit fails its job with AUDIT_CRASHED; a full queue is 503 meanwhile', async () => {
    const res = await upload(crashSvc.url, { model: bundledModel(FGSM), fields: { preprocess: 'none', samples: '10000', batch: '1' } });
    const id = ((await res.json()) as { id: string }).id;
    await pollJob(crashSvc.url, id, ['running']);
    // One waiting job fills the queue (maxQueued 1): the next submission is refused.
    const waiting = await upload(crashSvc.url, { model: bundledModel(STANDARD), fields: { preprocess: 'none', samples: '5' } });
    assert.equal(waiting.status, 202);
    const full = await upload(crashSvc.url, { model: bundledModel(STANDARD), fields: { preprocess: 'none', samples: '6' } });
    assert.equal(full.status, 503);
    assert.equal((await problemOf(full)).code, 'QUEUE_FULL');
    const ready = await fetch(`${crashSvc.url}/readyz`);
    assert.equal(ready.status, 503);
    assert.equal((await problemOf(ready)).code, 'NOT_READY');

    const pids = workerPids();
    assert.equal(pids.length, 1, `one worker runs: ${pids.join(', ')}`);
    process.kill(pids[0], 'SIGSEGV');
    const job = await pollJob(crashSvc.url, id);
    assert.deepEqual([job.status, job.error?.code], ['failed', 'AUDIT_CRASHED']);
    assert.match(job.error!.detail, /SIGSEGV/);
    const next = await pollJob(crashSvc.url, ((await waiting.json()) as { id: string }).id);
    assert.equal(next.status, 'succeeded');
    assert.deepEqual(crashSvc.responseViolations, []);
  });
});
