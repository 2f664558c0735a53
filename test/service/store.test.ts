/** The SQLite job store: life cycle, the report cache, paging, recovery after a crash. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { DEFAULT_AUDIT_OPTIONS } from '../../src/audit/options.js';
import type { AuditReport } from '../../src/audit/report.js';
import { ServiceError } from '../../src/service/errors.js';
import { optionsKey } from '../../src/service/formOptions.js';
import type { Scope } from '../../src/service/jobs/scope.js';
import { JobStore } from '../../src/service/jobs/store.js';
import type { Job } from '../../src/service/jobs/types.js';

const dir = mkdtempSync(join(tmpdir(), 'alias-audit-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const sha = (c: string): string => c.repeat(64);
/** The tenant these tests work in (tenant isolation itself: test/service/tenants.test.ts). */
const OWN: Scope & { tenant: string } = { tenant: 'default' };
const report = { tool: { name: 'alias-audit', version: 'test' } } as unknown as AuditReport;

function newJob(store: JobStore, id: string, shaChar = 'a', samples = 10): Promise<Job> {
  const options = { ...DEFAULT_AUDIT_OPTIONS, samples };
  return store.create(OWN, id, { model: { sha256: sha(shaChar), bytes: 100, filename: 'm.onnx' }, options, optionsKey: optionsKey(options) });
}

test('queued -> running -> succeeded stores the report once; a second finish is refused', async () => {
  const store = new JobStore(join(dir, 'a.db'));
  const job = await newJob(store, 'j1');
  assert.equal(job.status, 'queued');
  assert.equal((await store.start('j1'))?.attempts, 1);
  assert.equal(await store.start('j1'), null, 'a running job cannot start again');
  await store.progress('j1', { percent: 42, stage: 'measuring', message: '4/10 images' });
  assert.deepEqual((await store.get(OWN, 'j1'))?.progress, { percent: 42, stage: 'measuring', message: '4/10 images' });
  assert.equal(await store.succeed('j1', report), true);
  assert.equal(await store.succeed('j1', report), false);
  assert.equal(await store.fail('j1', new ServiceError('INTERNAL', 'x').toProblem()), false);
  assert.equal(await store.reportCount('j1'), 1);
  assert.deepEqual((await store.getWithReport(OWN, 'j1'))?.report, report);
  assert.equal(await store.modelInUse(OWN, sha('a')), false);
  await store.close();
});

test('a reusable job: finished before running, by model and options; failed jobs are not reused', async () => {
  const store = new JobStore(join(dir, 'b.db'));
  const key = optionsKey({ ...DEFAULT_AUDIT_OPTIONS, samples: 10 });
  await newJob(store, 'failed');
  await store.start('failed');
  await store.fail('failed', new ServiceError('NOT_ONNX', 'x').toProblem());
  assert.equal(await store.findReusable(OWN, sha('a'), key), null);
  await newJob(store, 'running');
  await store.start('running');
  assert.equal((await store.findReusable(OWN, sha('a'), key))?.id, 'running');
  assert.equal(await store.modelInUse(OWN, sha('a')), true);
  await newJob(store, 'done');
  await store.start('done');
  await store.succeed('done', report);
  assert.equal((await store.findReusable(OWN, sha('a'), key))?.id, 'done');
  assert.equal(await store.findReusable(OWN, sha('a'), optionsKey({ ...DEFAULT_AUDIT_OPTIONS, samples: 11 })), null);
  assert.equal(await store.findReusable(OWN, sha('b'), key), null);
  await store.close();
});

test('lists newest first in pages, with filters; a bad cursor is an empty page', async () => {
  const store = new JobStore(join(dir, 'c.db'));
  for (let i = 0; i < 5; i++) await newJob(store, `p${i}`, i % 2 ? 'b' : 'c');
  const first = await store.list(OWN, { limit: 2 });
  assert.deepEqual(first.items.map((j) => j.id), ['p4', 'p3']);
  const second = await store.list(OWN, { limit: 2, cursor: first.next! });
  assert.deepEqual(second.items.map((j) => j.id), ['p2', 'p1']);
  const third = await store.list(OWN, { limit: 2, cursor: second.next! });
  assert.deepEqual([third.items.map((j) => j.id), third.next], [['p0'], null]);
  assert.deepEqual((await store.list(OWN, { limit: 10, sha256: sha('b') })).items.map((j) => j.id), ['p3', 'p1']);
  assert.deepEqual(await store.list(OWN, { limit: 10, cursor: 'garbage' }), { items: [], next: null });
  await store.close();
});

test('after a crash, running jobs are queued again, or failed past the attempt limit; all survive reopening', async () => {
  const file = join(dir, 'd.db');
  let store = new JobStore(file);
  await newJob(store, 'once');
  await store.start('once');
  await newJob(store, 'thrice');
  await store.start('thrice');
  await store.requeue('thrice');
  await store.start('thrice');
  await store.requeue('thrice');
  await store.start('thrice');
  await newJob(store, 'waiting');
  await store.close(); // as if the process died here

  store = new JobStore(file);
  const { requeued, failed } = await store.recoverInterrupted(3, new ServiceError('AUDIT_CRASHED', 'too many').toProblem());
  assert.deepEqual([requeued, failed], [['once'], ['thrice']]);
  assert.deepEqual(await store.queuedIds(), ['once', 'waiting']);
  assert.equal((await store.get(OWN, 'thrice'))?.error?.code, 'AUDIT_CRASHED');
  assert.deepEqual(await store.counts(), { queued: 2, running: 0, succeeded: 0, failed: 1 });
  assert.equal(await store.delete(OWN, 'once'), true);
  assert.equal(await store.delete(OWN, 'once'), false);
  await store.close();
});
