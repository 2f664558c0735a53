/**
 * Scale bench: embedded mode (`serve` alone: SQLite, in-process queue) against distributed mode
 * (`serve --redis --database` for the API plus K `worker` processes), all from the built CLI, in
 * one run on this machine. It starts a private redis-server and PostgreSQL on 127.0.0.1 in
 * temporary folders, then measures:
 *   1. throughput: a batch of M small audits (preprocess none, robustness none, distinct sample
 *      counts) as audits/min with embedded --concurrency 1 and 2 and with 1 and 2 workers
 *      (--concurrency 1 each), each setup warmed by one audit first; ratios 2/1 and dist/emb;
 *   2. POST /audit latency (request to the 202) from 4 clients each posting N uploads in a loop,
 *      each a new job, embedded --concurrency 1 against distributed with 1 worker; the queued
 *      audits run meanwhile in both modes. p50/p99 and the ratio distributed/embedded.
 * Prints a table, then the figures as one JSON line.
 *
 *   node dist/bench/scale-bench.js [MODEL.onnx] [--audits 10] [--posts 25] [--clients 4]
 *     [--samples 300] [--time-limit 360]
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { cpus, tmpdir, userInfo } from 'node:os';
import { basename, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';

const CLI = fileURLToPath(new URL('../cli/main.js', import.meta.url));
const DEFAULT_MODEL = fileURLToPath(new URL('../../models/preact_resnet_standard.onnx', import.meta.url));
const STARTUP_MS = 60_000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Everything started, stopped last-in first-out at the end (and killed if the bench overruns). */
const cleanups: (() => Promise<void> | void)[] = [];
const hardKills = new Set<() => void>();

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

function which(name: string): string | null {
  const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

function missing(what: string, pkg: string): Error {
  return new Error(`${what} is missing: install Debian's ${pkg} package (apt-get install -y ${pkg})`);
}

function redisAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port });
    s.setTimeout(500);
    s.on('connect', () => s.write('PING\r\n'));
    s.on('data', (d) => {
      s.destroy();
      resolve(d.toString().startsWith('+PONG'));
    });
    s.on('error', () => resolve(false));
    s.on('timeout', () => {
      s.destroy();
      resolve(false);
    });
  });
}

/** A private redis-server without persistence; its URL. */
async function startRedis(): Promise<string> {
  const bin = which('redis-server');
  if (!bin) throw missing('redis-server', 'redis-server');
  const dir = mkdtempSync(join(tmpdir(), 'alias-audit-bench-redis-'));
  const port = await freePort();
  const child = spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--logfile', join(dir, 'redis.log')], { stdio: 'ignore' });
  const kill = (): void => void child.kill('SIGKILL');
  hardKills.add(kill);
  cleanups.push(async () => {
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await gone;
    hardKills.delete(kill);
    rmSync(dir, { recursive: true, force: true });
  });
  for (const until = Date.now() + 15_000; Date.now() < until; await sleep(50)) {
    if (child.exitCode !== null) throw new Error(`redis-server exited (${child.exitCode}): ${tailOf(join(dir, 'redis.log'))}`);
    if (await redisAnswers(port)) return `redis://127.0.0.1:${port}`;
  }
  throw new Error(`redis-server did not answer on port ${port}: ${tailOf(join(dir, 'redis.log'))}`);
}

function tailOf(file: string, lines = 8): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * A private PostgreSQL cluster (trust authentication, fsync off: nothing here outlives the run);
 * its server URL. initdb and pg_ctl refuse root, so as root they run as the `postgres` account.
 */
async function startPostgres(): Promise<string> {
  const root = '/usr/lib/postgresql';
  const version = existsSync(root) ? readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a))[0] : undefined;
  const bin = version ? join(root, version, 'bin') : '';
  if (!version || !existsSync(join(bin, 'initdb')) || !existsSync(join(bin, 'pg_ctl'))) throw missing(`PostgreSQL's initdb/pg_ctl (${root}/NN/bin)`, 'postgresql');
  const asRoot = userInfo().uid === 0;
  const dir = mkdtempSync(join(tmpdir(), 'alias-audit-bench-pg-'));
  const data = join(dir, 'data');
  const logFile = join(dir, 'postgres.log');
  mkdirSync(join(dir, 'sockets'));
  if (asRoot && spawnSync('chown', ['-R', 'postgres:postgres', dir]).status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw missing('the `postgres` account', 'postgresql');
  }
  const run = (tool: string, args: string[]): void => {
    const argv = asRoot ? ['-u', 'postgres', '--', join(bin, tool), ...args] : args;
    const r = spawnSync(asRoot ? 'runuser' : join(bin, tool), argv, { encoding: 'utf8', timeout: 60_000 });
    if (r.status !== 0) throw new Error(`${tool} failed (${r.status ?? r.signal}): ${(r.stderr || r.stdout).trim()} ${tailOf(logFile)}`);
  };
  const port = await freePort();
  try {
    run('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C', '--no-sync']);
    run('pg_ctl', ['-D', data, '-l', logFile, '-w', '-t', '60', '-o', `-p ${port} -k ${join(dir, 'sockets')} -c listen_addresses=127.0.0.1 -c fsync=off`, 'start']);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const kill = (): void => {
    try {
      process.kill(Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]), 'SIGQUIT');
    } catch {
      // gone already
    }
  };
  hardKills.add(kill);
  cleanups.push(() => {
    run('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']);
    hardKills.delete(kill);
    rmSync(dir, { recursive: true, force: true });
  });
  return `postgres://postgres@127.0.0.1:${port}/postgres`;
}

let databases = 0;

/** A fresh database on the server, so each setup starts from empty tables. */
async function createDatabase(serverUrl: string): Promise<string> {
  const name = `scale_bench_${++databases}`;
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

interface Proc {
  child: ChildProcess;
  log: () => string;
  stop: () => Promise<void>;
}

/** `node dist/cli/main.js ...args` with only `env`'s ALIAS_AUDIT_* settings; resolves with the `ready` match. */
async function startCli(args: string[], env: Record<string, string>, ready: RegExp): Promise<{ proc: Proc; match: RegExpExecArray }> {
  const base: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('ALIAS_AUDIT_')) base[k] = v;
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const kill = (): void => void child.kill('SIGKILL');
  hardKills.add(kill);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const proc: Proc = {
    child,
    log: () => out.trimEnd().split('\n').slice(-15).join('\n'),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
      hardKills.delete(kill);
    },
  };
  for (const until = Date.now() + STARTUP_MS; Date.now() < until; await sleep(50)) {
    const m = ready.exec(out);
    if (m) return { proc, match: m };
    if (child.exitCode !== null) throw new Error(`${args[0]} exited (${child.exitCode}) before it was ready:\n${proc.log()}`);
  }
  await proc.stop();
  throw new Error(`${args[0]} printed no ${ready} within ${STARTUP_MS} ms:\n${proc.log()}`);
}

/** The service flags of every setup: no rate limits, no queue or upload caps, no shutdown wait. */
const SERVE_FLAGS = ['--host', '127.0.0.1', '--port', '0', '--fetch-data', 'false', '--shutdown-grace', '0', '--rate-limit-writes', '0', '--rate-limit-reads', '0', '--max-queued', '100000', '--max-upload-checks', '0', '--max-upload-checks-per-tenant', '0'];

interface Setup {
  url: string;
  procs: Proc[];
  stop: () => Promise<void>;
}

function tempDir(label: string): string {
  const dir = mkdtempSync(join(tmpdir(), `alias-audit-bench-${label}-`));
  // Audit workers run as `nobody` under root: they read the queued models in here.
  spawnSync('chmod', ['755', dir]);
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function startEmbedded(concurrency: number): Promise<Setup> {
  const dir = tempDir('embedded');
  const { proc, match } = await startCli(['serve', ...SERVE_FLAGS, '--data-dir', dir, '--concurrency', String(concurrency)], {}, /listening on (http:\/\/[\d.]+:\d+)/);
  return { url: match[1], procs: [proc], stop: () => proc.stop() };
}

let redisDbs = 0;

/** One API and `workers` worker processes (--concurrency 1 each) on a fresh database and Redis db. */
async function startDistributed(redisUrl: string, pgUrl: string, workers: number): Promise<Setup> {
  // Redis has 16 numbered databases by default: one per setup keeps the BullMQ queues apart.
  const env = { ALIAS_AUDIT_REDIS_URL: `${redisUrl}/${++redisDbs % 16}`, ALIAS_AUDIT_DATABASE_URL: await createDatabase(pgUrl) };
  const api = await startCli(['serve', ...SERVE_FLAGS, '--data-dir', tempDir('api')], env, /listening on (http:\/\/[\d.]+:\d+)/);
  const procs = [api.proc];
  try {
    for (let i = 0; i < workers; i++) {
      const flags = ['worker', '--data-dir', tempDir('worker'), '--concurrency', '1', '--fetch-data', 'false', '--shutdown-grace', '0'];
      procs.push((await startCli(flags, env, /worker ready \(/)).proc);
    }
  } catch (err) {
    await Promise.all(procs.map((p) => p.stop()));
    throw err;
  }
  return { url: api.match[1], procs, stop: async () => void (await Promise.all(procs.map((p) => p.stop()))) };
}

interface Job {
  id: string;
  status: string;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  error?: unknown;
}

async function getJson<T>(url: string): Promise<T> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`GET ${url}: ${r.status} ${await r.text()}`);
  return (await r.json()) as T;
}

/** POST /audit with the model and `samples`; the new job's id and the request's time. */
async function post(base: string, model: Blob, samples: number): Promise<{ id: string; ms: number }> {
  const form = new FormData();
  form.set('model', model, 'model.onnx');
  form.set('samples', String(samples));
  form.set('preprocess', 'none');
  form.set('robustness', 'none');
  const t0 = performance.now();
  const r = await fetch(`${base}/audit?force=true`, { method: 'POST', body: form });
  const text = await r.text();
  const ms = performance.now() - t0;
  if (r.status !== 202) throw new Error(`POST /audit: ${r.status} ${text}`);
  return { id: (JSON.parse(text) as { id: string }).id, ms };
}

/** Submits the audits one after another and waits until all have ended; all must succeed. */
async function runBatch(setup: Setup, model: Blob, samples: number[], timeoutMs: number): Promise<Job[]> {
  const ids: string[] = [];
  for (const s of samples) ids.push((await post(setup.url, model, s)).id);
  const until = Date.now() + timeoutMs;
  for (;;) {
    const jobs = await Promise.all(ids.map((id) => getJson<Job>(`${setup.url}/audits/${id}`)));
    const failed = jobs.find((j) => j.status === 'failed');
    if (failed) throw new Error(`audit ${failed.id} failed: ${JSON.stringify(failed.error)}\n${setup.procs.map((p) => p.log()).join('\n---\n')}`);
    if (jobs.every((j) => j.status === 'succeeded')) return jobs;
    if (Date.now() > until) throw new Error(`audits unfinished after ${timeoutMs} ms: ${jobs.map((j) => j.status).join(', ')}\n${setup.procs.map((p) => p.log()).join('\n---\n')}`);
    await sleep(200);
  }
}

let nextSamples = 0;
/** Sample counts no other audit of the run uses, so no audit is answered from another's report. */
function distinctSamples(base: number, count: number): number[] {
  return Array.from({ length: count }, () => base + nextSamples++);
}

interface Throughput {
  perMin: number;
  spanS: number;
  /** Most audits running at one time (startedAt..finishedAt): shows whether the setup ran them side by side. */
  peak: number;
  /** Mean startedAt..finishedAt of one audit. */
  meanRunS: number;
}

function peakOverlap(jobs: Job[]): number {
  const edges = jobs.flatMap((j) => [[Date.parse(j.startedAt!), 1], [Date.parse(j.finishedAt!), -1]]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let now = 0;
  let peak = 0;
  for (const [, d] of edges) peak = Math.max(peak, (now += d));
  return peak;
}

/** A warm-up audit, then the batch: audits/min over first submission to last finish (server clocks). */
async function throughput(setup: Setup, model: Blob, audits: number, samples: number): Promise<Throughput> {
  await runBatch(setup, model, distinctSamples(samples, 1), 120_000);
  const jobs = await runBatch(setup, model, distinctSamples(samples, audits), 600_000);
  const start = Math.min(...jobs.map((j) => Date.parse(j.createdAt)));
  const end = Math.max(...jobs.map((j) => Date.parse(j.finishedAt!)));
  const spanS = (end - start) / 1000;
  const meanRunS = jobs.reduce((sum, j) => sum + Date.parse(j.finishedAt!) - Date.parse(j.startedAt!), 0) / jobs.length / 1000;
  return { perMin: (audits / spanS) * 60, spanS, peak: peakOverlap(jobs), meanRunS };
}

interface Latency {
  p50: number;
  p99: number;
  max: number;
  count: number;
  wallS: number;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)];
}

/** `clients` loops each posting `posts` uploads back to back; each post is a new job. */
async function postLatency(setup: Setup, model: Blob, clients: number, posts: number, samples: number): Promise<Latency> {
  await post(setup.url, model, distinctSamples(samples, 1)[0]); // warm-up: connections, first upload
  const times: number[] = [];
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      for (const s of distinctSamples(samples, posts)) times.push((await post(setup.url, model, s)).ms);
    }),
  );
  const wallS = (performance.now() - t0) / 1000;
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 0.5), p99: percentile(times, 0.99), max: times[times.length - 1], count: times.length, wallS };
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      audits: { type: 'string', default: '10' },
      posts: { type: 'string', default: '25' },
      clients: { type: 'string', default: '4' },
      samples: { type: 'string', default: '300' },
      'time-limit': { type: 'string', default: '360' },
    },
  });
  const modelPath = positionals[0] ?? DEFAULT_MODEL;
  const audits = Number(values.audits);
  const posts = Number(values.posts);
  const clients = Number(values.clients);
  const samples = Number(values.samples);
  const timeLimitS = Number(values['time-limit']);
  for (const [name, v] of Object.entries({ audits, posts, clients, samples, 'time-limit': timeLimitS })) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} must be a whole number >= 1`);
  }
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first (npm run build)`);
  const model = new Blob([readFileSync(modelPath)]);
  const cpu = cpus();
  const machine = cpu[0]?.model ?? 'unknown';
  const date = new Date().toISOString();
  console.log(`scale bench: ${basename(modelPath)}, ${audits} audits x ~${samples} images (preprocess none, robustness none); POST /audit: ${clients} clients x ${posts} posts`);
  console.log(`machine: ${machine}, ${cpu.length} cores, node ${process.version}, ${date}`);

  // Bounded: a setup that hangs fails the bench instead of holding the machine.
  const overrun = setTimeout(() => {
    console.error(`scale bench failed: still running after --time-limit ${timeLimitS} s`);
    for (const kill of hardKills) kill();
    process.exit(1);
  }, timeLimitS * 1000);
  overrun.unref();

  const withSetup = async <T>(label: string, start: () => Promise<Setup>, measure: (s: Setup) => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    const setup = await start();
    try {
      return await measure(setup);
    } finally {
      await setup.stop();
      console.log(`  ${label} done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }
  };

  try {
    const redisUrl = await startRedis();
    const pgUrl = await startPostgres();
    console.log('private redis-server and PostgreSQL started on 127.0.0.1');

    const tp = {
      embedded1: await withSetup('embedded --concurrency 1', () => startEmbedded(1), (s) => throughput(s, model, audits, samples)),
      embedded2: await withSetup('embedded --concurrency 2', () => startEmbedded(2), (s) => throughput(s, model, audits, samples)),
      distributed1: await withSetup('distributed, 1 worker', () => startDistributed(redisUrl, pgUrl, 1), (s) => throughput(s, model, audits, samples)),
      distributed2: await withSetup('distributed, 2 workers', () => startDistributed(redisUrl, pgUrl, 2), (s) => throughput(s, model, audits, samples)),
    };
    // Large sample counts for the posted jobs: they stay queued (one runs at a time) behind the posts.
    const lat = {
      embedded: await withSetup('POST latency, embedded', () => startEmbedded(1), (s) => postLatency(s, model, clients, posts, 5000)),
      distributed: await withSetup('POST latency, distributed', () => startDistributed(redisUrl, pgUrl, 1), (s) => postLatency(s, model, clients, posts, 5000)),
    };

    const f = (n: number, d = 1): string => n.toFixed(d);
    const row = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(28) : c.padStart(14))).join('');
    console.log('');
    console.log(`machine ${machine} (${cpu.length} cores), ${date}, model ${basename(modelPath)}`);
    console.log(`throughput: ${audits} audits each (samples ${samples}+, distinct), after one warm-up audit per setup`);
    console.log(row(['setup', 'audits/min', 'span s', 'peak running', 'mean run s']));
    const tpRow = (label: string, t: Throughput): void => console.log(row([label, f(t.perMin), f(t.spanS), String(t.peak), f(t.meanRunS, 2)]));
    tpRow('embedded --concurrency 1', tp.embedded1);
    tpRow('embedded --concurrency 2', tp.embedded2);
    tpRow('distributed, 1 worker', tp.distributed1);
    tpRow('distributed, 2 workers', tp.distributed2);
    const ratios = {
      embedded2over1: tp.embedded2.perMin / tp.embedded1.perMin,
      distributed2over1: tp.distributed2.perMin / tp.distributed1.perMin,
      distributedOverEmbedded1: tp.distributed1.perMin / tp.embedded1.perMin,
      distributedOverEmbedded2: tp.distributed2.perMin / tp.embedded2.perMin,
    };
    console.log(`ratio 2/1: embedded ${f(ratios.embedded2over1, 2)}, distributed ${f(ratios.distributed2over1, 2)}; distributed/embedded: at 1 ${f(ratios.distributedOverEmbedded1, 2)}, at 2 ${f(ratios.distributedOverEmbedded2, 2)}`);
    console.log('');
    console.log(`POST /audit latency (request to 202): ${clients} clients x ${posts} posts, 1 audit running (embedded --concurrency 1 / 1 worker)`);
    console.log(row(['mode', 'p50 ms', 'p99 ms', 'max ms', 'posts/s']));
    for (const [name, l] of [['embedded', lat.embedded], ['distributed', lat.distributed]] as const) console.log(row([name, f(l.p50), f(l.p99), f(l.max), f(l.count / l.wallS)]));
    const latRatio = { p50: lat.distributed.p50 / lat.embedded.p50, p99: lat.distributed.p99 / lat.embedded.p99 };
    console.log(`ratio distributed/embedded: p50 ${f(latRatio.p50, 2)}, p99 ${f(latRatio.p99, 2)}`);
    const round = (n: number, d = 2): number => Number(n.toFixed(d));
    console.log(
      JSON.stringify({
        bench: 'scale',
        machine,
        cores: cpu.length,
        date,
        model: basename(modelPath),
        audits,
        samples,
        clients,
        posts,
        auditsPerMin: { embedded1: round(tp.embedded1.perMin), embedded2: round(tp.embedded2.perMin), distributed1: round(tp.distributed1.perMin), distributed2: round(tp.distributed2.perMin) },
        throughputRatios: Object.fromEntries(Object.entries(ratios).map(([k, v]) => [k, round(v, 3)])),
        postLatencyMs: {
          embedded: { p50: round(lat.embedded.p50), p99: round(lat.embedded.p99), max: round(lat.embedded.max) },
          distributed: { p50: round(lat.distributed.p50), p99: round(lat.distributed.p99), max: round(lat.distributed.max) },
          ratioDistributedOverEmbedded: { p50: round(latRatio.p50, 3), p99: round(latRatio.p99, 3) },
        },
      }),
    );
  } finally {
    clearTimeout(overrun);
    for (const cleanup of cleanups.reverse()) await cleanup();
  }
}

main().catch((err: unknown) => {
  console.error(`scale bench failed: ${(err as Error).message}`);
  for (const kill of hardKills) kill();
  process.exitCode = 1;
});
