/** The in-process queue: bounded concurrency, FIFO, cancel, and graceful close. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { JobEvent } from '../../src/service/jobs/types.js';
import { LocalQueue } from '../../src/service/queue/localQueue.js';
import type { AuditProcessor } from '../../src/service/queue/queue.js';

/** A processor whose jobs end when the test says, or when aborted (recording why). */
function controllable() {
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

const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 5));

test('runs at most `concurrency` jobs, in submission order, and ignores a duplicate id', async () => {
  const c = controllable();
  const q = new LocalQueue(c.processor, 2);
  const events: JobEvent[] = [];
  q.subscribe((e) => events.push(e));
  for (const id of ['a', 'b', 'c', 'd', 'a']) await q.add({ jobId: id });
  assert.deepEqual(c.started, ['a', 'b']);
  assert.deepEqual(await q.counts(), { waiting: 2, active: 2 });
  c.running.get('a')!();
  await tick();
  assert.deepEqual(c.started, ['a', 'b', 'c']);
  for (const id of ['b', 'c']) c.running.get(id)!();
  await tick();
  c.running.get('d')!();
  await tick();
  assert.equal(c.maxActive(), 2);
  assert.deepEqual(await q.counts(), { waiting: 0, active: 0 });
  assert.deepEqual(events.filter((e) => e.type === 'queued').map((e) => e.jobId), ['a', 'b', 'c', 'd']);
});

test('cancel drops a waiting job and aborts a running one', async () => {
  const c = controllable();
  const q = new LocalQueue(c.processor, 1);
  await q.add({ jobId: 'x' });
  await q.add({ jobId: 'y' });
  assert.equal(await q.cancel('y'), true);
  assert.equal(await q.cancel('x'), true);
  assert.deepEqual(c.stopped, [['x', 'cancelled']]);
  assert.equal(await q.cancel('nope'), false);
  await tick();
  assert.deepEqual(c.started, ['x'], 'y never started');
});

test('close lets running jobs finish within the grace period, then stops them with "shutdown"', async () => {
  const c = controllable();
  const q = new LocalQueue(c.processor, 2);
  await q.add({ jobId: 'quick' });
  await q.add({ jobId: 'slow' });
  await q.add({ jobId: 'waiting' });
  setTimeout(() => c.running.get('quick')!(), 10);
  await q.close(100);
  assert.deepEqual(c.stopped, [['slow', 'shutdown']]);
  assert.deepEqual(c.started, ['quick', 'slow'], 'nothing starts while closing');
  await assert.rejects(q.add({ jobId: 'late' }), /closed/);
});

test('concurrency must be a whole number >= 1', () => {
  assert.throws(() => new LocalQueue(async () => {}, 0), RangeError);
});
