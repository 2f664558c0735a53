/**
 * What every {@link Store} must do, run against each implementation by storeContract.test.ts:
 * the job life cycle, reports, reuse, paging, recovery, tenancy, runs and checkpoints, and the
 * check-then-act calls that must hold when many callers (processes, in production) race.
 * Each test opens its own fresh, empty store.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { SeriesPreprocessing } from '../../src/audit/monitor.js';
import { DEFAULT_AUDIT_OPTIONS } from '../../src/audit/options.js';
import type { AuditReport } from '../../src/audit/report.js';
import { ServiceError } from '../../src/service/errors.js';
import type { Store } from '../../src/service/jobs/repository.js';
import type { NewRun } from '../../src/service/jobs/runStore.js';
import type { TenantScope } from '../../src/service/jobs/scope.js';
import type { Job } from '../../src/service/jobs/types.js';

export const A: TenantScope = { tenant: 'alpha' };
export const B: TenantScope = { tenant: 'beta' };

export const sha = (c: string): string => c.repeat(64);

/**
 * A report whose text must come back byte for byte: keys out of alphabetical order (jsonb
 * would sort them), floats that only survive as their shortest round-trip text, non-ASCII.
 */
export const REPORT = {
  tool: { name: 'alias-audit', version: 'test' },
  zeta: 0.1 + 0.2,
  alpha: [1e-7, 123456789.125, -1.5, 5e-324],
  nested: { b: 'ü ✓ "quoted"\n', a: null, m: { y: 2, x: 1 } },
} as unknown as AuditReport;

const failure = (): ReturnType<ServiceError['toProblem']> => new ServiceError('AUDIT_CRASHED', 'the audit crashed').toProblem();

export function newJob(store: Store, owner: TenantScope, id: string, shaChar = 'a', optionsKey = 'k1'): Promise<Job> {
  return store.create(owner, id, { model: { sha256: sha(shaChar), bytes: 1234, filename: 'm.onnx' }, options: { ...DEFAULT_AUDIT_OPTIONS, samples: 10 }, optionsKey });
}

/** A job that has run to success (it no longer needs its model). */
async function finishedJob(store: Store, owner: TenantScope, id: string, shaChar = 'a', optionsKey = 'k1'): Promise<void> {
  await newJob(store, owner, id, shaChar, optionsKey);
  assert.ok(await store.start(id));
  assert.equal(await store.succeed(id, REPORT), true);
}

const RUN: NewRun = { name: 'run', options: { ...DEFAULT_AUDIT_OPTIONS, samples: 10 }, settings: { signal: 'amRel', threshold: 0.2, window: 3 } };

function preprocessing(name: string): SeriesPreprocessing {
  return { name, mean: [0.4914, 0.4822, 0.4465], std: [0.247, 0.2435, 0.2616], scale: 1, chosenBy: 'auto', chosenOnEpoch: 1 };
}

const isIso = (s: string | null): boolean => s !== null && new Date(s).toISOString() === s;

/**
 * Ten calls at once that only read: a store with a connection pool opens its connections here,
 * so that the racing calls after it start together instead of one per new connection.
 */
async function warmUp(store: Store): Promise<void> {
  await Promise.all(Array.from({ length: 10 }, () => store.counts()));
}

/** Opens a store, runs `body`, closes the store (also when `body` fails). */
async function withStore(open: () => Promise<Store>, body: (store: Store) => Promise<void>): Promise<void> {
  const store = await open();
  try {
    await body(store);
  } finally {
    await store.close();
  }
}

export function storeContract(name: string, open: () => Promise<Store>): void {
  const t = (title: string, body: (store: Store) => Promise<void>): void => {
    test(title, () => withStore(open, body));
  };

  describe(name, () => {
    t('a job runs queued -> running -> succeeded once; fail and requeue act on running jobs only', async (store) => {
      const job = await newJob(store, A, 'j1');
      assert.equal(job.status, 'queued');
      assert.equal(job.tenant, 'alpha');
      assert.deepEqual(job.model, { sha256: sha('a'), bytes: 1234, filename: 'm.onnx' });
      assert.deepEqual(job.options, { ...DEFAULT_AUDIT_OPTIONS, samples: 10 });
      assert.equal(job.attempts, 0);
      assert.ok(isIso(job.createdAt), job.createdAt);
      assert.equal(job.startedAt, null);
      assert.equal(job.error, null);
      assert.equal(await store.succeed('j1', REPORT), false, 'a queued job cannot succeed');
      assert.equal(await store.fail('j1', failure()), false, 'a queued job cannot fail');
      assert.equal(await store.requeue('j1'), false, 'a queued job is not requeued');
      assert.equal(await store.reportCount('j1'), 0);

      const started = await store.start('j1');
      assert.equal(started?.status, 'running');
      assert.equal(started?.attempts, 1);
      assert.ok(isIso(started?.startedAt ?? null));
      assert.equal(await store.start('j1'), null, 'a running job cannot start again');
      await store.progress('j1', { percent: 42.5, stage: 'measuring', message: '4/10 images' });
      assert.deepEqual((await store.get(A, 'j1'))?.progress, { percent: 42.5, stage: 'measuring', message: '4/10 images' });
      assert.equal(await store.succeed('j1', REPORT), true);
      assert.equal(await store.succeed('j1', REPORT), false, 'a report is stored once');
      assert.equal(await store.fail('j1', failure()), false);
      assert.equal(await store.requeue('j1'), false);
      await store.progress('j1', { percent: 1, stage: 'late', message: 'late' });
      const done = await store.get(A, 'j1');
      assert.equal(done?.status, 'succeeded');
      assert.deepEqual(done?.progress.percent, 100, 'a finished job keeps its progress');
      assert.ok(isIso(done?.finishedAt ?? null));
      assert.equal(await store.reportCount('j1'), 1);

      await newJob(store, A, 'j2');
      await store.start('j2');
      assert.equal(await store.fail('j2', failure()), true);
      assert.equal(await store.fail('j2', failure()), false);
      assert.equal(await store.succeed('j2', REPORT), false, 'a failed job never gets a report');
      const failed = await store.get(A, 'j2');
      assert.equal(failed?.status, 'failed');
      assert.deepEqual(failed?.error, failure());
      assert.equal(await store.reportCount('j2'), 0);

      await newJob(store, A, 'j3');
      await store.start('j3');
      assert.equal(await store.requeue('j3'), true);
      const requeued = await store.get(A, 'j3');
      assert.equal(requeued?.status, 'queued');
      assert.equal(requeued?.progress.stage, 'queued');
      assert.equal((await store.start('j3'))?.attempts, 2);
      assert.equal(await store.start('nobody'), null);
      assert.equal(await store.succeed('nobody', REPORT), false);
      assert.equal(await store.reportCount('nobody'), 0);
    });

    t('start with takeOver takes a queued or running job (attempts + 1), never a finished one', async (store) => {
      await newJob(store, A, 'q');
      assert.equal((await store.start('q', { takeOver: true }))?.attempts, 1);
      assert.equal(await store.start('q'), null);
      const taken = await store.start('q', { takeOver: true });
      assert.equal(taken?.status, 'running');
      assert.equal(taken?.attempts, 2);
      assert.equal(await store.succeed('q', REPORT), true);
      assert.equal(await store.start('q', { takeOver: true }), null, 'a succeeded job is not taken over');
      await newJob(store, A, 'f');
      await store.start('f');
      await store.fail('f', failure());
      assert.equal(await store.start('f', { takeOver: true }), null, 'a failed job is not taken over');
      assert.equal(await store.start('missing', { takeOver: true }), null);
    });

    t('getWithReport: the report only once succeeded; report and job only in scope', async (store) => {
      await newJob(store, A, 'r');
      assert.equal((await store.getWithReport(A, 'r'))?.report, null);
      await store.start('r');
      assert.equal((await store.getWithReport(A, 'r'))?.report, null);
      await store.succeed('r', REPORT);
      const got = await store.getWithReport(A, 'r');
      assert.equal(got?.status, 'succeeded');
      assert.deepEqual(got?.report, REPORT);
      assert.equal(await store.getWithReport(B, 'r'), null, "another tenant's job does not exist");
      assert.equal(await store.report(B, 'r'), null);
      assert.equal(await store.get(B, 'r'), null);
      assert.deepEqual((await store.getWithReport('admin', 'r'))?.report, REPORT);
      assert.equal(await store.getWithReport(A, 'missing'), null);
      await newJob(store, A, 'x');
      await store.start('x');
      await store.fail('x', failure());
      const failed = await store.getWithReport(A, 'x');
      assert.equal(failed?.report, null);
      assert.equal(failed?.error?.code, 'AUDIT_CRASHED');
    });

    t('a report round-trips byte for byte (key order, floats, non-ASCII)', async (store) => {
      await newJob(store, A, 'b');
      await store.start('b');
      await store.succeed('b', REPORT);
      assert.equal(JSON.stringify(await store.report(A, 'b')), JSON.stringify(REPORT));
      assert.equal(JSON.stringify((await store.getWithReport(A, 'b'))?.report), JSON.stringify(REPORT));
      assert.equal((await store.report(A, 'b') as unknown as { zeta: number }).zeta, 0.1 + 0.2);
    });

    t('findReusable: the owner\'s newest usable job, succeeded first; never failed, another tenant\'s or a checkpoint\'s', async (store) => {
      await newJob(store, A, 'failed');
      await store.start('failed');
      await store.fail('failed', failure());
      assert.equal(await store.findReusable(A, sha('a'), 'k1'), null, 'a failed job is never reused');
      await newJob(store, A, 'queued');
      assert.equal((await store.findReusable(A, sha('a'), 'k1'))?.id, 'queued');
      await finishedJob(store, A, 'done');
      await newJob(store, A, 'running');
      await store.start('running');
      assert.equal((await store.findReusable(A, sha('a'), 'k1'))?.id, 'done', 'a succeeded job beats a newer running one');
      assert.equal(await store.findReusable(A, sha('a'), 'k2'), null);
      assert.equal(await store.findReusable(A, sha('b'), 'k1'), null);
      assert.equal(await store.findReusable(B, sha('a'), 'k1'), null, "never another tenant's job");

      // A run's checkpoint is never reused, even if it is the only match.
      await store.runs.create(A, 'run', RUN);
      await finishedJob(store, A, 'cp', 'c');
      assert.equal((await store.findReusable(A, sha('c'), 'k1'))?.id, 'cp');
      assert.equal(await store.runs.addCheckpoint(A, { runId: 'run', epoch: 1, jobId: 'cp', pgdAccuracy: null }), 'added');
      assert.equal(await store.findReusable(A, sha('c'), 'k1'), null);
    });

    t('list: newest first in pages, by status and model, in scope; a bad cursor is an empty page', async (store) => {
      for (let i = 0; i < 5; i++) await newJob(store, A, `p${i}`, i % 2 ? 'b' : 'c');
      await newJob(store, B, 'other');
      await store.start('p3');
      const first = await store.list(A, { limit: 2 });
      assert.deepEqual(first.items.map((j) => j.id), ['p4', 'p3']);
      assert.equal(typeof first.next, 'string');
      const second = await store.list(A, { limit: 2, cursor: first.next! });
      assert.deepEqual(second.items.map((j) => j.id), ['p2', 'p1']);
      const third = await store.list(A, { limit: 2, cursor: second.next! });
      assert.deepEqual([third.items.map((j) => j.id), third.next], [['p0'], null]);
      const exact = await store.list(A, { limit: 5 });
      assert.equal(exact.next, null, 'no next page when the last one is exactly full');
      assert.deepEqual((await store.list(A, { limit: 10, sha256: sha('b') })).items.map((j) => j.id), ['p3', 'p1']);
      assert.deepEqual((await store.list(A, { limit: 10, status: 'queued' })).items.map((j) => j.id), ['p4', 'p2', 'p1', 'p0']);
      assert.deepEqual((await store.list(A, { limit: 10, status: 'running', sha256: sha('b') })).items.map((j) => j.id), ['p3']);
      const byStatus = await store.list(A, { limit: 3, status: 'queued' });
      assert.deepEqual((await store.list(A, { limit: 3, status: 'queued', cursor: byStatus.next! })).items.map((j) => j.id), ['p0']);
      assert.deepEqual((await store.list(B, { limit: 10 })).items.map((j) => j.id), ['other']);
      assert.equal((await store.list('admin', { limit: 10 })).items.length, 6);
      assert.deepEqual(await store.list(A, { limit: 10, cursor: 'garbage' }), { items: [], next: null });
      assert.deepEqual(await store.list(A, { limit: 10, cursor: Buffer.from('r1').toString('base64url') }), { items: [], next: null }, "a runs cursor is not a jobs cursor");
      assert.deepEqual(await store.list(A, { limit: 10, cursor: '' }), { items: [], next: null });
    });

    t('queuedIds: queued jobs of every tenant in submission order', async (store) => {
      await newJob(store, A, 'a');
      await newJob(store, B, 'b');
      await newJob(store, A, 'c');
      await newJob(store, A, 'd');
      await store.start('b');
      await store.start('d');
      await store.succeed('d', REPORT);
      assert.deepEqual(await store.queuedIds(), ['a', 'c']);
      await store.requeue('b');
      assert.deepEqual(await store.queuedIds(), ['a', 'b', 'c'], 'a requeued job keeps its place');
    });

    t('recoverInterrupted: running jobs go back to the queue, or fail at maxAttempts', async (store) => {
      await newJob(store, A, 'once');
      await store.start('once');
      await newJob(store, B, 'thrice');
      for (let i = 0; i < 3; i++) {
        await store.requeue('thrice');
        await store.start('thrice');
      }
      await newJob(store, A, 'waiting');
      await finishedJob(store, A, 'finished');
      const { requeued, failed } = await store.recoverInterrupted(3, failure());
      assert.deepEqual([requeued, failed], [['once'], ['thrice']]);
      assert.deepEqual(await store.queuedIds(), ['once', 'waiting']);
      const thrice = await store.get(B, 'thrice');
      assert.equal(thrice?.status, 'failed');
      assert.deepEqual(thrice?.error, failure());
      assert.equal((await store.get(A, 'finished'))?.status, 'succeeded');
      assert.deepEqual(await store.recoverInterrupted(3, failure()), { requeued: [], failed: [] });
    });

    t("delete: only in scope (another tenant's job stays); admin sees all; the report goes with the job", async (store) => {
      await finishedJob(store, A, 'mine');
      assert.equal(await store.delete(B, 'mine'), false);
      assert.equal((await store.get(A, 'mine'))?.status, 'succeeded', 'untouched');
      assert.equal(await store.reportCount('mine'), 1);
      assert.equal((await store.get('admin', 'mine'))?.tenant, 'alpha');
      assert.equal(await store.delete(A, 'mine'), true);
      assert.equal(await store.delete(A, 'mine'), false);
      assert.equal(await store.get('admin', 'mine'), null);
      assert.equal(await store.reportCount('mine'), 0);
      await newJob(store, B, 'theirs');
      assert.equal(await store.delete('admin', 'theirs'), true);
      assert.equal(await store.get(B, 'theirs'), null);
    });

    t('modelInUse: while a queued or running job of the owner needs the model', async (store) => {
      assert.equal(await store.modelInUse(A, sha('a')), false);
      await newJob(store, A, 'm');
      assert.equal(await store.modelInUse(A, sha('a')), true);
      assert.equal(await store.modelInUse(B, sha('a')), false, "another tenant's job does not count");
      assert.equal(await store.modelInUse(A, sha('b')), false);
      await store.start('m');
      assert.equal(await store.modelInUse(A, sha('a')), true);
      await store.succeed('m', REPORT);
      assert.equal(await store.modelInUse(A, sha('a')), false);
      await newJob(store, A, 'n');
      await store.start('n');
      await store.fail('n', failure());
      assert.equal(await store.modelInUse(A, sha('a')), false);
    });

    t('counts: jobs of every tenant by status', async (store) => {
      assert.deepEqual(await store.counts(), { queued: 0, running: 0, succeeded: 0, failed: 0 });
      await newJob(store, A, 'q');
      await newJob(store, B, 'r');
      await store.start('r');
      await finishedJob(store, A, 's');
      await newJob(store, B, 'f');
      await store.start('f');
      await store.fail('f', failure());
      assert.deepEqual(await store.counts(), { queued: 1, running: 1, succeeded: 1, failed: 1 });
    });

    t('runs: create, get and list newest first in pages with checkpoint counts; a bad cursor is an empty page', async (store) => {
      const run = await store.runs.create(A, 'r1', RUN);
      assert.deepEqual({ ...run, createdAt: '' }, { id: 'r1', tenant: 'alpha', name: 'run', createdAt: '', options: RUN.options, settings: RUN.settings, preprocessing: null });
      assert.ok(isIso(run.createdAt));
      assert.deepEqual(await store.runs.get(A, 'r1'), run);
      await store.runs.create(A, 'r2', { ...RUN, name: 'two', settings: { signal: 'am', threshold: 0.5, window: null } });
      assert.deepEqual((await store.runs.get(A, 'r2'))?.settings, { signal: 'am', threshold: 0.5, window: null });
      await store.runs.create(A, 'r3', RUN);
      await store.runs.create(B, 'rb', RUN);
      for (const [i, epoch] of [1, 2].entries()) {
        await newJob(store, A, `c${i}`);
        assert.equal(await store.runs.addCheckpoint(A, { runId: 'r2', epoch, jobId: `c${i}`, pgdAccuracy: 0.25 }), 'added');
      }
      const first = await store.runs.list(A, { limit: 2 });
      assert.deepEqual(first.items.map((r) => [r.id, r.checkpoints]), [['r3', 0], ['r2', 2]]);
      const second = await store.runs.list(A, { limit: 2, cursor: first.next! });
      assert.deepEqual([second.items.map((r) => [r.id, r.checkpoints]), second.next], [[['r1', 0]], null]);
      assert.deepEqual(await store.runs.list(A, { limit: 2, cursor: 'garbage' }), { items: [], next: null });
      assert.deepEqual(await store.runs.list(A, { limit: 2, cursor: Buffer.from('s1').toString('base64url') }), { items: [], next: null });
      assert.equal((await store.runs.list('admin', { limit: 10 })).items.length, 4);
    });

    t("addCheckpoint: 'added', 'epoch-exists', 'no-run' (also for another tenant's run); checkpoints in epoch order", async (store) => {
      await store.runs.create(A, 'run', RUN);
      for (const id of ['e3', 'e1', 'dup', 'theirs', 'nope']) await newJob(store, A, id);
      assert.equal(await store.runs.addCheckpoint(A, { runId: 'run', epoch: 3, jobId: 'e3', pgdAccuracy: 0.5 }), 'added');
      assert.equal(await store.runs.addCheckpoint(A, { runId: 'run', epoch: 1, jobId: 'e1', pgdAccuracy: null }), 'added');
      assert.equal(await store.runs.addCheckpoint(A, { runId: 'run', epoch: 3, jobId: 'dup', pgdAccuracy: null }), 'epoch-exists');
      assert.equal(await store.runs.addCheckpoint(B, { runId: 'run', epoch: 7, jobId: 'theirs', pgdAccuracy: null }), 'no-run');
      assert.equal(await store.runs.addCheckpoint(A, { runId: 'missing', epoch: 1, jobId: 'nope', pgdAccuracy: null }), 'no-run');
      const list = await store.runs.checkpoints(A, 'run');
      assert.deepEqual(list.map((c) => [c.epoch, c.jobId, c.pgdAccuracy]), [[1, 'e1', null], [3, 'e3', 0.5]]);
      assert.ok(list.every((c) => c.runId === 'run' && isIso(c.createdAt)));
      assert.deepEqual(await store.runs.checkpoints(B, 'run'), []);
      assert.equal((await store.runs.checkpoint(A, 'run', 3))?.jobId, 'e3');
      assert.equal(await store.runs.checkpoint(A, 'run', 2), null);
      assert.equal(await store.runs.checkpoint(B, 'run', 3), null);
      assert.equal((await store.runs.checkpoint('admin', 'run', 3))?.jobId, 'e3');
      const of = await store.runs.checkpointOfJob('e3');
      assert.deepEqual([of?.run.id, of?.epoch], ['run', 3]);
      assert.equal(await store.runs.checkpointOfJob('dup'), null);
      assert.equal(await store.runs.checkpointOfJob('missing'), null);
    });

    t('pinPreprocessing: the first pin wins; a gone run gives null', async (store) => {
      await store.runs.create(A, 'run', RUN);
      assert.deepEqual(await store.runs.pinPreprocessing('run', preprocessing('first')), preprocessing('first'));
      assert.deepEqual(await store.runs.pinPreprocessing('run', preprocessing('second')), preprocessing('first'));
      assert.deepEqual((await store.runs.get(A, 'run'))?.preprocessing, preprocessing('first'));
      assert.equal(await store.runs.pinPreprocessing('missing', preprocessing('x')), null);
    });

    t("runs.delete returns its checkpoints' job ids (the jobs stay); only in scope", async (store) => {
      await store.runs.create(A, 'run', RUN);
      for (const [epoch, id] of [[2, 'j2'], [1, 'j1']] as const) {
        await newJob(store, A, id);
        await store.runs.addCheckpoint(A, { runId: 'run', epoch, jobId: id, pgdAccuracy: null });
      }
      assert.equal(await store.runs.delete(B, 'run'), null, "another tenant's run does not exist");
      assert.equal((await store.runs.get(A, 'run'))?.id, 'run', 'untouched');
      assert.deepEqual([...((await store.runs.delete(A, 'run')) ?? [])].sort(), ['j1', 'j2']);
      assert.equal(await store.runs.delete(A, 'run'), null);
      assert.equal(await store.runs.get(A, 'run'), null);
      assert.equal(await store.runs.checkpointOfJob('j1'), null, 'the checkpoint rows go with the run');
      assert.equal((await store.get(A, 'j1'))?.id, 'j1', 'the jobs are the caller\'s to delete');
      await store.runs.create(B, 'theirs', RUN);
      assert.deepEqual(await store.runs.delete('admin', 'theirs'), []);
    });

    t('deleting a job removes its checkpoint row, and the epoch can be posted again', async (store) => {
      await store.runs.create(A, 'run', RUN);
      await newJob(store, A, 'old');
      await store.runs.addCheckpoint(A, { runId: 'run', epoch: 1, jobId: 'old', pgdAccuracy: null });
      assert.equal(await store.delete(A, 'old'), true);
      assert.deepEqual(await store.runs.checkpoints(A, 'run'), []);
      assert.equal(await store.runs.checkpointOfJob('old'), null);
      assert.equal((await store.runs.list(A, { limit: 1 })).items[0].checkpoints, 0);
      await newJob(store, A, 'new');
      assert.equal(await store.runs.addCheckpoint(A, { runId: 'run', epoch: 1, jobId: 'new', pgdAccuracy: null }), 'added');
    });

    t("runs are per tenant: another tenant's run does not exist", async (store) => {
      await store.runs.create(A, 'ra', RUN);
      await store.runs.create(B, 'rb', RUN);
      assert.equal(await store.runs.get(B, 'ra'), null);
      assert.equal((await store.runs.get('admin', 'ra'))?.tenant, 'alpha');
      assert.deepEqual((await store.runs.list(A, { limit: 10 })).items.map((r) => r.id), ['ra']);
      assert.deepEqual((await store.runs.list(B, { limit: 10 })).items.map((r) => r.id), ['rb']);
      assert.equal((await store.runs.get(B, 'rb'))?.tenant, 'beta');
    });

    t('10 concurrent succeed() of one running job: exactly one wins, one report', async (store) => {
      await newJob(store, A, 'race');
      await store.start('race');
      await warmUp(store);
      const results = await Promise.all(Array.from({ length: 10 }, () => store.succeed('race', REPORT)));
      assert.equal(results.filter(Boolean).length, 1, JSON.stringify(results));
      assert.equal(await store.reportCount('race'), 1);
      assert.equal((await store.get(A, 'race'))?.status, 'succeeded');
    });

    t('10 concurrent start() of one queued job: exactly one takes it', async (store) => {
      await newJob(store, A, 'race');
      await warmUp(store);
      const results = await Promise.all(Array.from({ length: 10 }, () => store.start('race')));
      const winners = results.filter((j) => j !== null);
      assert.equal(winners.length, 1);
      assert.equal(winners[0]?.attempts, 1);
      assert.equal((await store.get(A, 'race'))?.attempts, 1);
    });

    t('10 concurrent pinPreprocessing with different values: all see the same winner', async (store) => {
      await store.runs.create(A, 'run', RUN);
      await warmUp(store);
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => store.runs.pinPreprocessing('run', preprocessing(`p${i}`))));
      const winner = results[0];
      assert.ok(winner && /^p\d$/.test(winner.name));
      for (const r of results) assert.deepEqual(r, winner);
      assert.deepEqual((await store.runs.get(A, 'run'))?.preprocessing, winner);
    });

    t('10 concurrent addCheckpoint of one epoch with different jobs: exactly one is added', async (store) => {
      await store.runs.create(A, 'run', RUN);
      for (let i = 0; i < 10; i++) await newJob(store, A, `c${i}`);
      await warmUp(store);
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => store.runs.addCheckpoint(A, { runId: 'run', epoch: 5, jobId: `c${i}`, pgdAccuracy: null })));
      assert.equal(results.filter((r) => r === 'added').length, 1, JSON.stringify(results));
      assert.equal(results.filter((r) => r === 'epoch-exists').length, 9, JSON.stringify(results));
      assert.equal((await store.runs.checkpoints(A, 'run')).length, 1);
    });
  });
}
