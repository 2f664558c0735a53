/**
 * The distributed service as it is deployed: two API processes (`serve --redis --database`) and
 * three worker processes (`worker`), all real OS processes of the built CLI, on one private Redis
 * (append-only file on) and one fresh PostgreSQL database, each process with its own data folder.
 *
 * - A worker killed with SIGKILL mid-audit: another worker re-runs the audit once the lock expires.
 * - 30 audits through both APIs, API B killed after its share: every audit succeeds once, with one
 *   report, none is left running, and both APIs (B restarted) serve the same reports.
 * - Server-sent events through API A follow an audit posted through B to its end.
 * - DELETE through B of an audit running on a worker: 204, its audit process is gone, and the
 *   worker lives on and takes the next audit.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { bundledModel, STANDARD } from '../helpers/models.js';
import { createDatabase, queryDatabase, startPostgres, startRedis, type TestServer } from '../helpers/servers.js';
import { readEvents, upload, type JobDoc, type SseEvent } from '../service/helpers.js';
import { auditChildrenOf, cliEnv, killNow, processTree, requireBuiltCli, running, spawnCli, tail, type CliProcess } from './processes.js';

/** Short, so that a dead worker's audit comes back soon; renewed at half, so a busy machine keeps it. */
const LOCK_MS = 4_000;
/** Long enough to be seen running and killed (about 10 s on one core); the most samples there are. */
const LONG_SAMPLES = 10_000;
const AUDITS = 30;
const STARTUP_MS = 60_000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let root: string;
let postgres: TestServer | undefined;
let redis: TestServer | undefined;
let databaseUrl: string;
/** Every process started, dead ones included (their logs are printed on failure). */
const processes: CliProcess[] = [];
let apiB: CliProcess;
let urlA: string;
let urlB: string;
const workers: CliProcess[] = [];
/** Audit processes seen, to kill at the end should a worker have left one behind. */
const auditPids = new Set<number>();

function startApi(name: string): { proc: CliProcess; url: Promise<string> } {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  // Limits off: 30 submissions and the polling of one test client would pass the per-IP limits (shared through Redis).
  const args = ['serve', '--port', '0', '--data-dir', dir, '--redis', redis!.url, '--database', databaseUrl, '--fetch-data', 'false', '--rate-limit-writes', '0', '--rate-limit-reads', '0'];
  const proc = spawnCli(name, args, cliEnv({}), join(root, `${name}.log`));
  processes.push(proc);
  return { proc, url: proc.waitForLine(/listening on (http:\/\/\S+)/, STARTUP_MS).then((m) => m[1]) };
}

async function startWorkerProcess(name: string): Promise<CliProcess> {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  // The servers as the documented variables here (the APIs take them as flags): both ways work.
  // One audit process per audit: this test follows them through /proc, where an idle warm worker
  // would look like a running audit (warm workers have their own tests, test/service/warmWorkers).
  const args = ['worker', '--data-dir', dir, '--fetch-data', 'false', '--concurrency', '1', '--lock-duration', `${LOCK_MS}ms`, '--warm-workers', 'false'];
  const env = cliEnv({ ALIAS_AUDIT_REDIS_URL: redis!.url, ALIAS_AUDIT_DATABASE_URL: databaseUrl });
  const proc = spawnCli(name, args, env, join(root, `${name}.log`));
  processes.push(proc);
  workers.push(proc);
  await proc.waitForLine(/worker ready \(/, STARTUP_MS);
  return proc;
}

/** The processes' log tails, for a failure message. */
function logs(): string {
  return processes.map((p) => `\n===== ${p.name} (pid ${p.pid}, ${p.alive() ? 'alive' : 'dead'}) =====\n${tail(p.logFile)}`).join('');
}

/** Runs a test body; on failure, prints the processes' log tails. */
async function withLogs(body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (err) {
    // Printed, not appended to the message: the reporter shows an assertion's stack, made before.
    console.error(`--- process logs (${root}) ---${logs()}`);
    throw err;
  }
}

let samples = 20;
/** A quick audit; each has its own sample count, so none is answered from another's cache. */
async function post(base: string, n = samples++): Promise<string> {
  const res = await upload(base, { model: bundledModel(STANDARD), fields: { preprocess: 'none', samples: String(n) } });
  assert.equal(res.status, 202, `POST ${base}/audit (samples ${n}): ${await res.clone().text()}`);
  return ((await res.json()) as { id: string }).id;
}

async function getJob(base: string, id: string): Promise<JobDoc> {
  const res = await fetch(`${base}/audits/${id}`);
  assert.equal(res.status, 200, `GET ${base}/audits/${id}: ${res.status} ${await res.clone().text()}`);
  return (await res.json()) as JobDoc;
}

/** Polls until `ok(job)`; the last document seen is in the error. */
async function until(base: string, id: string, what: string, ok: (j: JobDoc) => boolean, timeoutMs: number): Promise<JobDoc> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = await getJob(base, id);
    if (ok(job)) return job;
    if (job.status === 'failed') throw new Error(`job ${id} failed while waiting for ${what}: ${JSON.stringify(job.error)}`);
    if (Date.now() > deadline) throw new Error(`job ${id} not ${what} after ${timeoutMs} ms: ${job.status}, attempts ${job.attempts}, ${JSON.stringify(job.progress)}`);
    await sleep(100);
  }
}

/** Polls until `check()` returns a value (not undefined). */
async function eventually<T>(what: string, check: () => T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(50);
  }
}

/** Every job of GET /audits, all pages. */
async function listAll(base: string, query = ''): Promise<{ id: string; status: string }[]> {
  const items: { id: string; status: string }[] = [];
  let cursor: string | null = null;
  do {
    const res: Response = await fetch(`${base}/audits?limit=100${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    assert.equal(res.status, 200, await res.clone().text());
    const page = (await res.json()) as { items: { id: string; status: string }[]; next: string | null };
    items.push(...page.items);
    cursor = page.next;
  } while (cursor);
  return items;
}

function sql<R extends pg.QueryResultRow>(text: string): Promise<R[]> {
  return queryDatabase<R>(databaseUrl, text);
}

/** The worker (alive) that runs an audit process now, with that process; undefined while none does. */
function busyWorker(): { worker: CliProcess; child: number } | undefined {
  for (const w of workers.filter((x) => x.alive())) {
    const children = auditChildrenOf(w.pid);
    for (const c of children) auditPids.add(c);
    if (children.length > 0) return { worker: w, child: children[0] };
  }
  return undefined;
}

describe('distributed service as real processes: 2 APIs, 3 workers, one Redis (AOF), one database', { timeout: 300_000 }, () => {
  /** The audit whose worker is killed (posted through A); the first of the 30. */
  let killedId: string;
  const ids: string[] = [];

  before(async () => {
    requireBuiltCli();
    root = mkdtempSync(join(tmpdir(), 'alias-audit-multiprocess-'));
    [postgres, redis] = await Promise.all([startPostgres(), startRedis({ appendOnly: true })]);
    databaseUrl = await createDatabase(postgres);
    // The APIs first and one at a time: each runs the database's migrations at start-up.
    urlA = await startApi('api-a').url;
    const b = startApi('api-b');
    apiB = b.proc;
    urlB = await b.url;
    // Only worker 1 for now: the first long audit can only run there.
    await startWorkerProcess('worker-1');
  });

  after(async () => {
    // Whatever the outcome: every process we started and every audit process they forked.
    const pids = processes.filter((p) => p.alive()).flatMap((p) => processTree(p.pid));
    killNow([...pids, ...[...auditPids].filter(running)]);
    await Promise.allSettled(processes.map((p) => p.exited()));
    await Promise.allSettled([redis?.stop(), postgres?.stop()]);
    if (root) rmSync(root, { recursive: true, force: true });
  });

  test('a worker killed with SIGKILL mid-audit: another worker re-runs the audit once its lock expires', () =>
    withLogs(async () => {
      const worker1 = workers[0];
      killedId = await post(urlA, LONG_SAMPLES);
      ids.push(killedId);
      const first = await until(urlA, killedId, 'running', (j) => j.status === 'running', 30_000);
      assert.equal(first.attempts, 1);
      const busy = await eventually('worker 1 forks the audit process', busyWorker, 10_000);
      assert.equal(busy.worker, worker1, 'the only worker runs it');

      worker1.child.kill('SIGKILL');
      await worker1.exited();
      // Its audit process notices the lost parent (IPC disconnect) and ends too.
      await eventually('the killed worker\'s audit process ends', () => (running(busy.child) ? undefined : true), 10_000);
      assert.equal((await getJob(urlA, killedId)).status, 'running', 'nobody has noticed yet: the lock still holds');

      const killedAt = Date.now();
      await Promise.all([startWorkerProcess('worker-2'), startWorkerProcess('worker-3')]);
      const again = await until(urlA, killedId, 're-run', (j) => j.attempts >= 2, LOCK_MS * 3 + 30_000);
      const rerunMs = Date.now() - killedAt;
      assert.ok(['running', 'succeeded'].includes(again.status), again.status);
      const rerun = await eventually('a live worker forks the re-run', busyWorker, 10_000);
      assert.notEqual(rerun.worker, worker1);
      console.log(`# killed audit re-run ${rerunMs} ms after the SIGKILL, by ${rerun.worker.name}`);
    }));

  test('30 audits through both APIs, API B killed after its share: each succeeds once, one report, none running; SSE through A follows a job of B', () =>
    withLogs(async () => {
      assert.ok(killedId, 'the first test posted the long audit');
      const started = Date.now();
      let sse: Promise<{ status: number; events: SseEvent[] }> | undefined;
      let sseId = '';
      // The killed one is the first (through A); the others alternate B, A, B, ...
      for (let i = 1; i < AUDITS; i++) {
        const throughB = i % 2 === 1;
        if (i === 1) {
          // Long enough to report progress several times; followed through A while it queues and runs.
          sseId = await post(urlB, 2_000);
          sse = readEvents(`${urlA}/audits/${sseId}/events`, 180_000);
          ids.push(sseId);
        } else {
          ids.push(await post(throughB ? urlB : urlA));
        }
      }
      assert.equal(new Set(ids).size, AUDITS, 'thirty distinct jobs (nothing deduplicated)');

      // Every submission through B got its 202; B dies now, with most of them waiting.
      const waiting = (await listAll(urlA, '&status=queued')).length;
      apiB.child.kill('SIGKILL');
      await apiB.exited();
      console.log(`# 30 submitted in ${Date.now() - started} ms; ${waiting} still queued when API B was killed`);

      for (const id of ids) await until(urlA, id, 'succeeded', (j) => j.status === 'succeeded', 180_000);
      console.log(`# all 30 succeeded ${Date.now() - started} ms after the first submission`);

      const events = await sse!;
      assert.equal(events.status, 200);
      const last = events.events.at(-1);
      assert.equal(last?.event, 'done', JSON.stringify(events.events.slice(-3)));
      assert.equal((last?.data as { status: string }).status, 'succeeded');
      assert.ok(events.events.filter((e) => e.event === 'progress').length >= 2, `progress events: ${events.events.map((e) => e.event).join(',')}`);
      assert.ok(
        events.events.some((e) => e.event === 'status' && (e.data as { status: string }).status === 'running'),
        'a status event as it started on a worker',
      );

      for (const id of ids) {
        const job = await getJob(urlA, id);
        assert.equal(job.status, 'succeeded', id);
        assert.ok(job.report && typeof job.report === 'object', `job ${id} has its report`);
        if (id === killedId) assert.ok(job.attempts >= 2, `the killed audit ran ${job.attempts} time(s)`);
        else assert.equal(job.attempts, 1, `job ${id} ran once`);
      }
      assert.deepEqual(await listAll(urlA, '&status=running'), [], 'no audit left running');
      assert.deepEqual(await listAll(urlA, '&status=queued'), [], 'nor queued');
      const listed = await listAll(urlA);
      assert.deepEqual(listed.map((j) => j.id).sort(), [...ids].sort(), 'one job per submission, no other');
      const reports = await sql<{ job_id: string }>('SELECT job_id FROM reports');
      assert.deepEqual(reports.map((r) => r.job_id).sort(), [...ids].sort(), 'one report per audit');

      // B again, on its own folder: both serve the same reports, whichever API took the job.
      const b = startApi('api-b-restarted');
      apiB = b.proc;
      urlB = await b.url;
      for (const id of ids) {
        const [fromA, fromB] = await Promise.all([urlA, urlB].map((u) => fetch(`${u}/audits/${id}/report`)));
        assert.equal(fromA.status, 200);
        assert.equal(fromB.status, 200);
        assert.deepEqual(await fromB.json(), await fromA.json(), `the report of ${id}`);
      }
      assert.deepEqual(await listAll(urlB, '&status=running'), []);
    }));

  test('DELETE through B of an audit running on a worker: 204, its audit process ends, the worker takes the next audit', () =>
    withLogs(async () => {
      const id = await post(urlB, LONG_SAMPLES - 1);
      await until(urlA, id, 'running', (j) => j.status === 'running', 30_000);
      const busy = await eventually('a worker forks the audit process', busyWorker, 10_000);

      const t0 = Date.now();
      const res = await fetch(`${urlB}/audits/${id}`, { method: 'DELETE' });
      assert.equal(res.status, 204, await res.text());
      console.log(`# DELETE of a running audit answered in ${Date.now() - t0} ms`);
      assert.equal((await fetch(`${urlA}/audits/${id}`)).status, 404, 'gone through A too');
      await eventually('the audit process ends', () => (running(busy.child) ? undefined : true), 10_000);
      assert.ok(busy.worker.alive(), `${busy.worker.name} lives on`);

      // Two audits for two idle workers (concurrency 1 each): one of them runs on this worker.
      const next = [await post(urlA, 3_000), await post(urlB, 3_001)];
      const again = await eventually(
        `${busy.worker.name} forks the next audit process`,
        () => auditChildrenOf(busy.worker.pid).find((c) => c !== busy.child),
        30_000,
      );
      auditPids.add(again);
      for (const n of next) await until(urlA, n, 'succeeded', (j) => j.status === 'succeeded', 60_000);
      assert.ok(busy.worker.alive());
      assert.deepEqual(await listAll(urlA, '&status=running'), []);
      assert.equal((await fetch(`${urlA}/audits/${id}`)).status, 404, 'the deleted audit never came back');
    }));
});
