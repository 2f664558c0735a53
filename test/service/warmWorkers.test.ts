/**
 * Warm audit workers (src/service/worker/warmPool.ts): a worker is kept for the next audit of
 * the same tenant, never shared with another tenant, and never reused after a failure.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { AuditOptions, DEFAULT_AUDIT_OPTIONS } from '../../src/audit/options.js';
import type { AuditReport } from '../../src/audit/report.js';
import { WorkerFailure } from '../../src/service/worker/runner.js';
import { WarmAuditPool, WarmRunOptions } from '../../src/service/worker/warmPool.js';
import { bundledModel, bundledModelPath, FGSM, STANDARD } from '../helpers/models.js';
import { pollJob, startTestService, upload, workerPids } from './helpers.js';

const SMALL: AuditOptions = { ...DEFAULT_AUDIT_OPTIONS, samples: 20, batch: 10, preprocess: 'none', ep: 'cpu' };
/** Runs far past a short time limit. */
const SLOW: AuditOptions = { ...SMALL, samples: 10_000, batch: 1 };


interface Outcome {
  report?: AuditReport;
  error?: unknown;
  /** The worker that ran the audit. */
  pid: number;
}

/** Runs an audit in `pool`: its report or its error, and the pid of the worker that ran it. */
async function audit(pool: WarmAuditPool, tenant: string, model = STANDARD, run: Partial<WarmRunOptions> = {}, options = SMALL): Promise<Outcome> {
  let pid = 0;
  const onWorker = (p: number): void => {
    pid = p;
  };
  try {
    const report = await pool.audit(bundledModelPath(model), options, false, { timeoutMs: 0, ...run, tenant, onWorker });
    return { report, pid };
  } catch (error) {
    return { error, pid };
  }
}

/** The report of an audit that must succeed. */
function reportOf(o: Outcome): AuditReport {
  assert.ok(o.report, `the audit failed: ${String(o.error instanceof Error ? o.error.message : o.error)}`);
  return o.report;
}

describe('warm audit workers', () => {
  const pool = new WarmAuditPool();
  after(() => pool.close());

  test('the next audit of the same tenant runs in the same worker; another tenant gets a fresh one', async () => {
    const progress: string[] = [];
    const first = await audit(pool, 'alice', STANDARD, { onProgress: (p) => progress.push(p.phase) });
    assert.ok(first.pid > 0);
    assert.ok(progress.length > 0, 'progress comes through');
    assert.ok(reportOf(first).cleanAccuracy > 0.5, `clean accuracy ${reportOf(first).cleanAccuracy}`);
    const second = await audit(pool, 'alice');
    assert.equal(second.pid, first.pid, 'the worker was kept');
    assert.equal(reportOf(second).cleanAccuracy, reportOf(first).cleanAccuracy, 'the same audit gives the same result in a warm worker');

    const other = await audit(pool, 'bob');
    reportOf(other);
    assert.notEqual(other.pid, first.pid, "another tenant's audit runs in a worker of its own");
    // At most as many workers as audits at once: bob's took the place of alice's.
    assert.deepEqual(workerPids(), [other.pid]);
    const back = await audit(pool, 'alice');
    reportOf(back);
    assert.ok(![first.pid, other.pid].includes(back.pid), 'alice gets a fresh worker, not bob\'s');
  });

  test('after an audit past the time limit, the next one succeeds in a fresh worker', async () => {
    const warm = await audit(pool, 'carol');
    reportOf(warm);
    const timedOut = await audit(pool, 'carol', FGSM, { timeoutMs: 1500 }, SLOW);
    assert.equal(timedOut.pid, warm.pid, 'it ran in the warm worker');
    assert.ok(timedOut.error instanceof WorkerFailure, String(timedOut.error));
    assert.equal(timedOut.error.failure.code, 'AUDIT_TIMEOUT');
    const next = await audit(pool, 'carol');
    assert.ok(reportOf(next).cleanAccuracy > 0.5);
    assert.notEqual(next.pid, warm.pid, 'the worker that timed out was not reused');
    assert.ok(!workerPids().includes(warm.pid), 'the worker that timed out is gone');
  });

  test('a warm worker that crashes mid-audit fails that audit alone; the next runs in a fresh worker', async () => {
    const warm = await audit(pool, 'frank');
    reportOf(warm);
    let killed = false;
    const crashed = await audit(pool, 'frank', FGSM, {
      log: () => undefined,
      onProgress: () => {
        if (killed) return;
        killed = true;
        process.kill(warm.pid, 'SIGSEGV');
      },
    }, SLOW);
    assert.equal(crashed.pid, warm.pid);
    assert.ok(crashed.error instanceof WorkerFailure, String(crashed.error));
    assert.equal(crashed.error.failure.code, 'AUDIT_CRASHED');
    assert.match(crashed.error.failure.message, /SIGSEGV/);
    const next = await audit(pool, 'frank');
    reportOf(next);
    assert.notEqual(next.pid, warm.pid);
  });

  test('a cancelled audit, or one that fails, ends its worker; a closed pool leaves no worker behind', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort('cancelled'), 1000);
    const cancelled = await audit(pool, 'dave', FGSM, { signal: controller.signal }, SLOW);
    assert.equal(cancelled.error, 'cancelled');
    const failed = await audit(pool, 'dave', STANDARD, {}, { ...SMALL, layout: 'NHWC' });
    assert.ok(failed.error instanceof WorkerFailure, String(failed.error));
    assert.notEqual(failed.pid, cancelled.pid, 'a fresh worker after the cancel');
    const next = await audit(pool, 'dave');
    reportOf(next);
    assert.notEqual(next.pid, failed.pid, 'a fresh worker after the failure');

    const own = new WarmAuditPool();
    const kept = await audit(own, 'erin');
    reportOf(kept);
    assert.ok(workerPids().includes(kept.pid));
    await own.close();
    assert.ok(!workerPids().includes(kept.pid), 'closed: no worker left behind');
  });
});

describe('warm audit workers in the service', () => {
  /** The audit workers alive after each of two audits of one tenant. */
  async function workersAfterTwoAudits(overrides: Parameters<typeof startTestService>[0] = {}): Promise<number[][]> {
    const svc = await startTestService(overrides);
    const pids: number[][] = [];
    try {
      for (const samples of ['21', '22']) {
        const res = await upload(svc.url, { model: bundledModel(STANDARD), fields: { preprocess: 'none', samples } });
        assert.equal(res.status, 202, await res.clone().text());
        const job = await pollJob(svc.url, ((await res.json()) as { id: string }).id);
        assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
        pids.push(workerPids());
      }
    } finally {
      await svc.stop();
    }
    assert.deepEqual(workerPids(), [], 'no worker outlives the service');
    return pids;
  }

  test('two audits of one tenant run in one worker, which is gone after the service closes', async () => {
    const pids = await workersAfterTwoAudits();
    assert.equal(pids[0].length, 1, 'one warm worker stays after the first audit');
    assert.deepEqual(pids[1], pids[0], 'the second audit ran in the same worker');
  });

  test('--warm-workers false: no worker stays after an audit', async () => {
    assert.deepEqual(await workersAfterTwoAudits({ warmWorkers: false }), [[], []]);
  });
});
