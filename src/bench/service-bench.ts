/**
 * Service soak bench: `/healthz` latency while audits run and event streams stay open. Starts
 * `alias-audit serve` (the built CLI) on a free port with a temporary data directory, measures
 * `/healthz` idle, then starts N audits at once (concurrency N), opens S server-sent event
 * streams on them (`GET /audits/{id}/events`, each read to count its events), and loads
 * `/healthz` with autocannon while all of that runs. Prints p50/p99/max latency and failed
 * requests against the target (p99 < 50 ms, 0 failures, every stream open throughout). The
 * whole run is bounded by --time-limit: past it the server is stopped and the bench fails.
 *
 *   node dist/bench/service-bench.js [MODEL.onnx] [--audits 4] [--streams 200] [--duration 10]
 *     [--connections 10] [--samples 10000] [--preprocess P] [--time-limit 300] [--strict]
 *     (--strict: exit 1 when the target is missed)
 */
import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';

const CLI = fileURLToPath(new URL('../cli/main.js', import.meta.url));
const PROJECT_MODEL = fileURLToPath(new URL('../../models/preact_resnet_standard.onnx', import.meta.url));
const SHARED_MODEL = fileURLToPath(new URL('../../../shared/models/vnn21_resnet_2b.onnx', import.meta.url));
const TARGET_P99_MS = 50;

interface Server {
  child: ChildProcess;
  url: string;
}

function startServer(dataDir: string, concurrency: number, streams: number): Promise<Server> {
  const args = [CLI, 'serve', '--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir, '--concurrency', String(concurrency), '--fetch-data', 'false', '--rate-limit-writes', '0', '--rate-limit-reads', '0', '--shutdown-grace', '0'];
  // The streams' caps must admit the bench's own (one client, so one tenant).
  args.push('--max-event-streams', String(Math.max(streams, 1)), '--max-event-streams-per-tenant', String(Math.max(streams, 1)));
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /listening on (http:\/\/[\d.]+:\d+)/.exec(out);
      if (m) resolve({ child, url: m[1] });
    });
    child.on('exit', (code) => reject(new Error(`serve exited (${code}) before listening: ${out}`)));
  });
}

async function json<T>(res: Promise<Response>): Promise<T> {
  const r = await res;
  if (!r.ok) throw new Error(`${r.status} ${await r.text()}`);
  return (await r.json()) as T;
}

interface JobState {
  id: string;
  status: string;
  startedAt: string | null;
  finishedAt: string | null;
  progress: { percent: number };
}

/** Open event streams: how many answered 200, how many are still open, events read so far. */
interface Streams {
  opened: number;
  open: () => number;
  events: () => number;
  close: () => void;
}

/** Opens `count` event streams spread over the jobs and reads them in the background. */
async function openStreams(base: string, ids: string[], count: number): Promise<Streams> {
  const stop = new AbortController();
  let open = 0;
  let events = 0;
  const read = async (id: string): Promise<boolean> => {
    const res = await fetch(`${base}/audits/${id}/events`, { signal: stop.signal });
    if (res.status !== 200 || !res.body) return false;
    open++;
    void (async () => {
      const decoder = new TextDecoder();
      try {
        for await (const chunk of res.body!) events += decoder.decode(chunk, { stream: true }).split('\nevent: ').length - 1;
      } catch {
        // aborted at the end
      } finally {
        open--;
      }
    })();
    return true;
  };
  const answers = await Promise.all(Array.from({ length: count }, (_, i) => read(ids[i % ids.length]).catch(() => false)));
  return { opened: answers.filter(Boolean).length, open: () => open, events: () => events, close: () => stop.abort() };
}

async function load(url: string, seconds: number, connections: number): Promise<autocannon.Result> {
  return autocannon({ url: `${url}/healthz`, duration: seconds, connections, timeout: 10 });
}

function summary(label: string, r: autocannon.Result): { p99: number; failures: number } {
  const failures = r.errors + r.timeouts + r.non2xx;
  console.log(
    `${label.padEnd(28)} requests ${String(r.requests.total).padStart(6)}  p50 ${r.latency.p50.toFixed(1).padStart(6)} ms  p90 ${r.latency.p90.toFixed(1).padStart(6)} ms  ` +
      `p99 ${r.latency.p99.toFixed(1).padStart(6)} ms  max ${r.latency.max.toFixed(1).padStart(6)} ms  failures ${failures} (errors ${r.errors}, timeouts ${r.timeouts}, non-2xx ${r.non2xx})`,
  );
  return { p99: r.latency.p99, failures };
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      audits: { type: 'string', default: '4' },
      streams: { type: 'string', default: '200' },
      'time-limit': { type: 'string', default: '300' },
      duration: { type: 'string', default: '10' },
      connections: { type: 'string', default: '10' },
      samples: { type: 'string', default: '10000' },
      preprocess: { type: 'string' },
      strict: { type: 'boolean', default: false },
    },
  });
  const modelPath = positionals[0] ?? (existsSync(PROJECT_MODEL) ? PROJECT_MODEL : SHARED_MODEL);
  const audits = Number(values.audits);
  const streamCount = Number(values.streams);
  const timeLimitS = Number(values['time-limit']);
  const seconds = Number(values.duration);
  const connections = Number(values.connections);
  // The bundled PreAct-ResNets take [0,1] pixels: with `none` their audits reach the measuring
  // phase (and its progress events to the streams) at once, instead of scoring presets first.
  const name = basename(modelPath);
  const preprocess = values.preprocess ?? (name.startsWith('vnn21') ? 'cifar10' : name.startsWith('preact_resnet') ? 'none' : 'auto');
  const model = readFileSync(modelPath);
  const cpu = cpus();
  console.log(`service bench: ${basename(modelPath)}, ${audits} audits x ${values.samples} images at once, ${streamCount} event streams open, /healthz with ${connections} connections for ${seconds} s`);
  console.log(`machine: ${cpu.length} CPU cores (${cpu[0]?.model ?? 'unknown'}), load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}, node ${process.version}`);

  const dataDir = mkdtempSync(join(tmpdir(), 'alias-audit-bench-'));
  let server: Server | undefined;
  let streams: Streams | undefined;
  // Bounded: a bench that hangs (an audit that never starts, a stream that blocks) fails instead.
  const overrun = setTimeout(() => {
    console.error(`service bench failed: still running after --time-limit ${timeLimitS} s`);
    streams?.close();
    server?.child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
    process.exit(1);
  }, timeLimitS * 1000);
  overrun.unref();
  try {
    server = await startServer(dataDir, audits, streamCount);
    const base = server.url;
    summary('idle', await load(base, Math.min(3, seconds), connections));

    const ids: string[] = [];
    for (let i = 0; i < audits; i++) {
      const form = new FormData();
      form.set('model', new Blob([model]), basename(modelPath));
      form.set('samples', String(values.samples));
      form.set('preprocess', preprocess);
      ids.push((await json<{ id: string }>(fetch(`${base}/audit?force=true`, { method: 'POST', body: form }))).id);
    }
    const until = Date.now() + 120_000;
    for (;;) {
      const states = await Promise.all(ids.map((id) => json<JobState>(fetch(`${base}/audits/${id}`))));
      if (states.every((s) => s.status === 'running' && s.progress.percent > 0)) break;
      if (states.some((s) => s.status === 'succeeded' || s.status === 'failed')) throw new Error('an audit ended before the load started: use more --samples');
      if (Date.now() > until) throw new Error('audits did not all start within 120 s');
      await new Promise((r) => setTimeout(r, 100));
    }

    streams = await openStreams(base, ids, streamCount);
    console.log(`event streams: ${streams.opened}/${streamCount} open`);
    const eventsBefore = streams.events();
    const t0 = new Date().toISOString();
    const busy = summary(`while ${audits} audits run${streamCount ? ` + ${streamCount} streams` : ''}`, await load(base, seconds, connections));
    const t1 = new Date().toISOString();
    const streamsOpen = streams.open();
    console.log(`event streams open after the load: ${streamsOpen}/${streamCount}; events read during the load: ${streams.events() - eventsBefore}`);
    streams.close();
    const states = await Promise.all(ids.map((id) => json<JobState>(fetch(`${base}/audits/${id}`))));
    const throughout = states.filter((s) => s.startedAt !== null && s.startedAt <= t0 && (s.finishedAt === null || s.finishedAt >= t1)).length;
    console.log(`audits running through the whole load: ${throughout}/${audits} (progress ${states.map((s) => `${s.progress.percent}%`).join(', ')})`);
    const ok = busy.p99 < TARGET_P99_MS && busy.failures === 0 && throughout === audits && streams.opened === streamCount && streamsOpen === streamCount;
    console.log(`target p99 < ${TARGET_P99_MS} ms and 0 failures while ${audits} audits run and ${streamCount} streams stay open: ${ok ? 'met' : 'MISSED'}`);
    for (const id of ids) await fetch(`${base}/audits/${id}`, { method: 'DELETE' });
    return ok || !values.strict ? 0 : 1;
  } finally {
    clearTimeout(overrun);
    streams?.close();
    if (server) {
      const exited = new Promise((r) => server!.child.once('exit', r));
      server.child.kill('SIGTERM');
      await exited;
    }
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(`service bench failed: ${(err as Error).message}`);
    process.exitCode = 1;
  },
);
