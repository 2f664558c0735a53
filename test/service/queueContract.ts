/**
 * What every AuditQueue must do (bounded concurrency, FIFO, one run per id, cancel, graceful
 * close), run against each implementation by its own test file. Waits are "until", not fixed
 * ticks, so that a queue behind a network passes on the same assertions as the in-process one.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { JobEvent } from '../../src/service/jobs/types.js';
import type { AuditProcessor, AuditQueue } from '../../src/service/queue/queue.js';

/** Makes a fresh, empty queue that runs `processor` with `concurrency` jobs at a time. */
export type QueueFactory = (processor: AuditProcessor, concurrency: number) => Promise<AuditQueue>;

/** A processor whose jobs end when the test says, or when aborted (recording why). */
export function controllable() {
  const running = new Map<string, () => void>();
  const started: string[] = [];
  const stopped: [string, unknown][] = [];
  let maxActive = 0;
  const processor: AuditProcessor = ({ jobId }, ctx) =>
    new Promise<void>((resolve) => {
      started.push(jobId);
      running.set(jobId, resolve);
      maxActive = Math.max(maxActive, running.size);
      ctx.emit({ type: 'started', jobId, attempt: 1 });
      ctx.signal.addEventListener('abort', () => {
        stopped.push([jobId, ctx.signal.reason]);
        resolve();
      });
    }).finally(() => running.delete(jobId));
  return { processor, running, started, stopped, maxActive: () => maxActive };
}

/** Resolves once `condition` holds; fails the test after `timeoutMs`. */
export async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(10);
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Long enough for a queue to start a job it must not start (then the assertion would catch it). */
const SETTLE_MS = 150;

export function queueContract(name: string, makeQueue: QueueFactory): void {
  test(`${name}: runs at most \`concurrency\` jobs, in submission order, and ignores a duplicate id`, async () => {
    const c = controllable();
    const q = await makeQueue(c.processor, 2);
    try {
      const events: JobEvent[] = [];
      q.subscribe((e) => events.push(e));
      for (const id of ['a', 'b', 'c', 'd', 'a']) await q.add({ jobId: id });
      await until(() => c.started.length >= 2, 'two jobs started');
      await sleep(SETTLE_MS);
      assert.deepEqual(c.started, ['a', 'b']);
      assert.deepEqual(await q.counts(), { waiting: 2, active: 2 });
      c.running.get('a')!();
      await until(() => c.started.length >= 3, 'a third job started');
      await sleep(SETTLE_MS);
      assert.deepEqual(c.started, ['a', 'b', 'c']);
      for (const id of ['b', 'c']) c.running.get(id)!();
      await until(() => c.running.has('d'), 'd started');
      c.running.get('d')!();
      await until(async () => {
        const n = await q.counts();
        return n.waiting === 0 && n.active === 0;
      }, 'the queue is empty');
      assert.equal(c.maxActive(), 2);
      assert.deepEqual(c.started, ['a', 'b', 'c', 'd'], 'the duplicate a did not run again');
      await until(() => events.filter((e) => e.type === 'started').length === 4, 'four started events');
      assert.deepEqual(events.filter((e) => e.type === 'queued').map((e) => e.jobId), ['a', 'b', 'c', 'd']);
      assert.deepEqual(events.filter((e) => e.type === 'started').map((e) => e.jobId), ['a', 'b', 'c', 'd']);
    } finally {
      await q.close(0);
    }
  });

  test(`${name}: cancel drops a waiting job and aborts a running one`, async () => {
    const c = controllable();
    const q = await makeQueue(c.processor, 1);
    try {
      await q.add({ jobId: 'x' });
      await q.add({ jobId: 'y' });
      await until(() => c.running.has('x'), 'x started');
      assert.equal(await q.cancel('y'), true);
      assert.equal(await q.cancel('x'), true);
      assert.deepEqual(c.stopped, [['x', 'cancelled']], 'x was stopped by the time cancel returned');
      assert.equal(await q.cancel('nope'), false);
      await sleep(SETTLE_MS);
      assert.deepEqual(c.started, ['x'], 'y never started');
      assert.deepEqual(await q.counts(), { waiting: 0, active: 0 });
    } finally {
      await q.close(0);
    }
  });

  test(`${name}: close lets running jobs finish within the grace period, then stops them with "shutdown"`, async () => {
    const c = controllable();
    const q = await makeQueue(c.processor, 2);
    await q.add({ jobId: 'quick' });
    await q.add({ jobId: 'slow' });
    await q.add({ jobId: 'waiting' });
    await until(() => c.started.length >= 2, 'two jobs started');
    setTimeout(() => c.running.get('quick')!(), 10);
    await q.close(300);
    assert.deepEqual(c.stopped, [['slow', 'shutdown']]);
    assert.deepEqual(c.started, ['quick', 'slow'], 'nothing starts while closing');
    await assert.rejects(q.add({ jobId: 'late' }), /closed/);
  });
}
