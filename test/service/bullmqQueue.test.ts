/**
 * The BullMQ queue against a private redis-server: the queue contract, one run per id across
 * processes, re-runs after a worker killed mid-job, and no acknowledged job lost when Redis
 * (append-only file on) is killed and restarted.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { after, before, test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { JobEvent } from '../../src/service/jobs/types.js';
import { BullmqQueue, redisOptions, type BullmqQueueOptions, type BullmqWorkerOptions } from '../../src/service/queue/bullmqQueue.js';
import type { AuditProcessor } from '../../src/service/queue/queue.js';
import { startRedis, type TestServer } from '../helpers/servers.js';
import { queueContract, sleep, until } from './queueContract.js';

let redis: TestServer;
let queueNumber = 0;
/** Errors the Redis clients reported (connection trouble is expected only where a test causes it). */
const clientErrors: Error[] = [];

before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis?.stop();
});

function open(queueName: string, worker?: BullmqWorkerOptions, url = redis.url, more: Partial<BullmqQueueOptions> = {}): Promise<BullmqQueue> {
  return BullmqQueue.open({ redisUrl: url, queueName, worker, backoffMs: 100, onError: (err) => clientErrors.push(err), ...more });
}

const LOCK_MS = 1000;
const STALLED_MS = 300;

/** A worker in a child process (see bullmqWorkerProcess.ts), killed when the test ends; resolves once it is ready. */
async function workerProcess(t: TestContext, queueName: string, attempts = 3): Promise<{ child: ChildProcess; output: () => string }> {
  const script = fileURLToPath(new URL('../helpers/bullmqWorkerProcess.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', script, redis.url, queueName, String(LOCK_MS), String(STALLED_MS), String(attempts)], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  await until(() => out.includes('ready\n'), 'the worker process is ready', 20_000);
  return { child, output: () => out };
}

queueContract('BullmqQueue', (processor, concurrency) => open(`contract-${++queueNumber}`, { processor, concurrency }));

test('BullmqQueue: a job that close stopped with "shutdown" waits in Redis for the next worker', async () => {
  const name = `shutdown-${++queueNumber}`;
  const seen: [string, unknown][] = [];
  const holding: AuditProcessor = ({ jobId }, ctx) =>
    new Promise((resolve) => {
      seen.push([jobId, 'started']);
      ctx.signal.addEventListener('abort', () => resolve());
    });
  const first = await open(name, { processor: holding, concurrency: 1 });
  await first.add({ jobId: 'long' });
  await until(() => seen.length === 1, 'long started');
  await first.close(50);
  const api = await open(name);
  try {
    assert.deepEqual(await api.counts(), { waiting: 1, active: 0 });
    const ran: string[] = [];
    const second = await open(name, { processor: ({ jobId }) => Promise.resolve(void ran.push(jobId)), concurrency: 1 });
    await until(() => ran.length === 1, 'the next worker ran it');
    await second.close(0);
    assert.deepEqual(ran, ['long']);
  } finally {
    await api.close(0);
  }
});

test('BullmqQueue: an id added twice, by two API processes at once and again after it ran, runs once', async () => {
  const name = `twice-${++queueNumber}`;
  const ran: string[] = [];
  const apiA = await open(name);
  const apiB = await open(name);
  const events: JobEvent[] = [];
  apiA.subscribe((e) => events.push(e));
  const worker = await open(name, { processor: ({ jobId }, ctx) => Promise.resolve(void ran.push(jobId)).then(() => ctx.emit({ type: 'succeeded', jobId, seconds: 0 })), concurrency: 2 });
  try {
    await Promise.all([apiA.add({ jobId: 'same' }), apiB.add({ jobId: 'same' }), apiA.add({ jobId: 'same' })]);
    await until(() => events.some((e) => e.type === 'succeeded'), 'the job succeeded (seen through API A)');
    await apiB.add({ jobId: 'same' });
    await sleep(300);
    assert.deepEqual(ran, ['same']);
    assert.deepEqual(events.map((e) => e.type), ['queued', 'succeeded'], 'API A saw one queued event and the worker\'s event');
    assert.equal(await apiB.cancel('same'), false, 'a finished job is not held');
  } finally {
    await Promise.all([worker.close(0), apiA.close(0), apiB.close(0)]);
  }
});

test('BullmqQueue: a job whose worker process is killed with SIGKILL mid-job runs again on another worker', async (t) => {
  const name = `stall-${++queueNumber}`;
  const { child, output } = await workerProcess(t, name);
  const api = await open(name);
  const events: JobEvent[] = [];
  api.subscribe((e) => events.push(e));
  const rerun: string[] = [];
  let survivor: BullmqQueue | undefined;
  try {
    await api.add({ jobId: 'victim' });
    await until(() => output().includes('started victim\n'), 'the worker process started the job');
    survivor = await open(name, {
      processor: ({ jobId }, ctx) => Promise.resolve(void rerun.push(jobId)).then(() => ctx.emit({ type: 'succeeded', jobId, seconds: 0 })),
      concurrency: 1,
      lockDurationMs: LOCK_MS,
      stalledIntervalMs: STALLED_MS,
    });
    // While its worker lives (and renews its lock), no other worker takes the job.
    await sleep(2 * LOCK_MS);
    assert.deepEqual(rerun, [], 'a live worker\'s job is not stolen');
    assert.deepEqual(await api.counts(), { waiting: 0, active: 1 });
    child.kill('SIGKILL');
    await until(() => rerun.length > 0, 'the survivor re-ran the job', 10_000);
    await until(() => events.some((e) => e.type === 'succeeded' && e.jobId === 'victim'), 'the re-run succeeded');
    assert.deepEqual(rerun, ['victim']);
    await until(async () => (await api.counts()).active === 0, 'nothing active');
    assert.deepEqual(await api.counts(), { waiting: 0, active: 0 });
  } finally {
    await Promise.all([survivor?.close(0), api.close(0)]);
  }
});

test('BullmqQueue: DELETE through an API process stops a job running in a worker process', async (t) => {
  const name = `remote-cancel-${++queueNumber}`;
  const { output } = await workerProcess(t, name);
  const api = await open(name);
  try {
    await api.add({ jobId: 'remote' });
    await until(() => output().includes('started remote\n'), 'the worker process started the job');
    assert.equal(await api.cancel('remote'), true);
    assert.match(output(), /stopped remote cancelled\n/, 'stopped, with reason "cancelled", by the time cancel returned');
    assert.deepEqual(await api.counts(), { waiting: 0, active: 0 });
  } finally {
    await api.close(0);
  }
});

test('BullmqQueue: a worker that dies on the last attempt has the job given up (onAbandoned), not left running', async (t) => {
  const name = `abandon-${++queueNumber}`;
  const { child, output } = await workerProcess(t, name, 1);
  const api = await open(name, undefined, redis.url, { attempts: 1 });
  await api.add({ jobId: 'doomed' });
  await until(() => output().includes('started doomed\n'), 'the worker process started the job');
  const abandoned: [string, string][] = [];
  const ran: string[] = [];
  const survivor = await open(name, { processor: ({ jobId }) => Promise.resolve(void ran.push(jobId)), concurrency: 1, lockDurationMs: LOCK_MS, stalledIntervalMs: STALLED_MS }, redis.url, {
    attempts: 1,
    onAbandoned: (jobId, reason) => abandoned.push([jobId, reason]),
  });
  try {
    child.kill('SIGKILL');
    await until(() => abandoned.length > 0, 'the job was given up', 10_000);
    assert.equal(abandoned[0][0], 'doomed');
    assert.match(abandoned[0][1], /stalled/);
    assert.deepEqual(ran, [], 'one attempt: not re-run');
    assert.deepEqual(await survivor.counts(), { waiting: 0, active: 0 });
  } finally {
    await Promise.all([survivor.close(0), api.close(0)]);
  }
});

test('BullmqQueue: a processor that throws is retried with exponential backoff, then given up', async () => {
  const name = `retry-${++queueNumber}`;
  const startedAt: number[] = [];
  const abandoned: [string, string][] = [];
  const worker = await open(name, {
    processor: () => {
      startedAt.push(Date.now());
      return Promise.reject(new Error('store unreachable'));
    },
    concurrency: 1,
  }, redis.url, { attempts: 3, backoffMs: 150, onAbandoned: (jobId, reason) => abandoned.push([jobId, reason]) });
  try {
    await worker.add({ jobId: 'flaky' });
    await until(() => abandoned.length > 0, 'the job was given up');
    assert.equal(startedAt.length, 3);
    const gaps = [startedAt[1] - startedAt[0], startedAt[2] - startedAt[1]];
    assert.ok(gaps[0] >= 140 && gaps[1] >= 290, `backoff gaps ${gaps.join(', ')} ms: expected about 150 then 300`);
    assert.deepEqual(abandoned, [['flaky', 'store unreachable']]);
  } finally {
    await worker.close(0);
  }
});

test('BullmqQueue: Redis with an append-only file, killed and restarted mid-run, loses no acknowledged job', async () => {
  const aof = await startRedis({ appendOnly: true, appendFsync: 'always' });
  const name = 'aof';
  const ids = Array.from({ length: 20 }, (_, i) => `job-${i}`);
  const runs = new Map<string, number>();
  const finished = new Set<string>();
  const processor: AuditProcessor = async ({ jobId }, ctx) => {
    runs.set(jobId, (runs.get(jobId) ?? 0) + 1);
    await sleep(40);
    finished.add(jobId);
    ctx.emit({ type: 'succeeded', jobId, seconds: 0.04 });
  };
  const api = await open(name, undefined, aof.url);
  let worker: BullmqQueue | undefined;
  try {
    for (const jobId of ids) await api.add({ jobId }); // each add resolved: acknowledged by Redis
    // A command in flight when Redis dies is sent again on reconnection; when its first run had
    // already taken the next job, that job waits, unlocked, for the stalled-job check: short here.
    worker = await open(name, { processor, concurrency: 1, lockDurationMs: LOCK_MS, stalledIntervalMs: STALLED_MS }, aof.url);
    await until(() => finished.size >= 3, 'a few jobs ran');
    await aof.restart({ crash: true, downMs: 500 });
    await until(() => finished.size === ids.length, 'every job ran', 30_000).catch(async (err: Error) => {
      throw new Error(`${err.message}: ${finished.size} of ${ids.length} ran; in Redis ${JSON.stringify(await api.counts())}; client errors: ${[...new Set(clientErrors.map((e) => e.message))].join('; ')}`);
    });
    await until(async () => {
      const c = await api.counts();
      return c.waiting === 0 && c.active === 0;
    }, 'the queue in Redis is empty');
    assert.deepEqual([...finished].sort(), [...ids].sort());
    // The one job running when Redis died may run again (its completion was not acknowledged); none other does.
    const twice = [...runs].filter(([, n]) => n > 1);
    assert.ok(twice.length <= 1, `jobs run more than once: ${JSON.stringify(twice)}`);
    assert.ok(clientErrors.length > 0, 'the clients noticed Redis going away');
  } finally {
    await Promise.all([worker?.close(0), api.close(0)]);
    await aof.stop();
  }
});

test('redisOptions reads host, port, credentials and database from the URL, and names what is wrong', () => {
  assert.deepEqual(redisOptions('redis://u%40x:p%3Aw@cache.example:6380/2'), { host: 'cache.example', port: 6380, username: 'u@x', password: 'p:w', db: 2, maxRetriesPerRequest: null });
  assert.equal(redisOptions('redis://127.0.0.1').port, 6379);
  assert.deepEqual(redisOptions('rediss://h:1').tls, {});
  assert.throws(() => redisOptions('http://h:1'), /redis:\/\//);
  assert.throws(() => redisOptions('not a url'), /not a URL/);
  assert.throws(() => redisOptions('redis://h:1/x'), /database/);
});
