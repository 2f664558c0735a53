/**
 * Real-HTTP helpers for the service tests: a service on an ephemeral port with its own temp
 * data directory, multipart uploads with fetch, polling, and an SSE reader.
 *
 * Under ALIAS_AUDIT_TEST_MODE=distributed the same suites run against the distributed service:
 * PostgreSQL (one private server per test process, a fresh database per service), a private
 * Redis per service, the API as `serve --redis --database` runs it and an audit worker in the
 * same process (scripts/run-tests.mjs runs the service suites a second time so).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultConfig, ServiceConfig } from '../../src/service/config.js';
import Database from 'better-sqlite3';
import { numbered } from '../../src/service/jobs/pg/pgStore.js';
import { DB_FILE, RunningService, startService } from '../../src/service/server.js';
import { startWorker, type RunningWorker } from '../../src/service/workerRole.js';
import { createDatabase, queryDatabase, startPostgres, startRedis, type TestServer } from '../helpers/servers.js';

/** Which service the suites run against: the embedded default, or the distributed one. */
export const TEST_MODE: 'embedded' | 'distributed' = process.env.ALIAS_AUDIT_TEST_MODE === 'distributed' ? 'distributed' : 'embedded';

let sharedPostgres: Promise<TestServer> | undefined;

/** A test's own Redis and database (distributed mode), and how to stop them. */
async function distributedBackends(): Promise<{ redisUrl: string; databaseUrl: string; stop(): Promise<void> }> {
  sharedPostgres ??= startPostgres(); // stopped when the test process exits
  const databaseUrl = await createDatabase(await sharedPostgres);
  const redis = await startRedis();
  return { redisUrl: redis.url, databaseUrl, stop: () => redis.stop() };
}

export const PROBLEM_JSON = 'application/problem+json';

export interface TestService extends RunningService {
  dataDir: string;
  /** The PostgreSQL database of a distributed test service; null for the embedded one (SQLite in dataDir). */
  databaseUrl: string | null;
  /** Closes the service (no grace: running audits are re-queued) and removes its data. */
  stop(): Promise<void>;
}

/** The tests' service settings: loopback, any free port, one worker, response validation on. */
export function testServiceConfig(dataDir: string, overrides: Partial<ServiceConfig> = {}): ServiceConfig {
  return {
    ...defaultConfig(),
    host: '127.0.0.1',
    port: 0,
    dataDir,
    concurrency: 1,
    fetchData: false,
    validateResponses: true,
    rateLimit: { windowMs: 60_000, writes: 1000, reads: 100_000 },
    ...overrides,
  };
}

/**
 * Starts the service on 127.0.0.1:0 with a fresh data directory and response validation on;
 * in distributed mode (TEST_MODE) with its own Redis and database and one audit worker.
 */
export async function startTestService(overrides: Partial<ServiceConfig> = {}): Promise<TestService> {
  const dataDir = mkdtempSync(join(tmpdir(), 'alias-audit-svc-'));
  let backends: Awaited<ReturnType<typeof distributedBackends>> | undefined;
  let worker: RunningWorker | undefined;
  let running: RunningService | undefined;
  const stop = async (): Promise<void> => {
    try {
      await worker?.close(0);
      await running?.close(0);
      await backends?.stop();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  };
  try {
    if (TEST_MODE === 'distributed') backends = await distributedBackends();
    const config = testServiceConfig(dataDir, { ...overrides, ...(backends ? { redisUrl: backends.redisUrl, databaseUrl: backends.databaseUrl } : {}) });
    running = await startService(config);
    // The worker's own folder, as on another machine; its lock short, so a lost worker's audit comes back soon.
    if (backends) worker = await startWorker({ ...config, dataDir: join(dataDir, 'worker'), lockDurationMs: 5_000 }, { log: () => undefined });
  } catch (err) {
    await stop();
    throw err;
  }
  return { ...running, dataDir, databaseUrl: backends?.databaseUrl ?? null, stop };
}

/**
 * Runs one statement (with `?` placeholders) on the service's own database, SQLite or PostgreSQL:
 * for the few tests that must reach under the API (e.g. a row from an older version).
 */
export async function sqlOnStore(svc: TestService, sql: string, args: (string | number)[] = []): Promise<Record<string, unknown>[]> {
  if (svc.databaseUrl === null) {
    const db = new Database(join(svc.dataDir, DB_FILE));
    try {
      const statement = db.prepare(sql);
      return statement.reader ? (statement.all(...args) as Record<string, unknown>[]) : (statement.run(...args), []);
    } finally {
      db.close();
    }
  }
  return queryDatabase(svc.databaseUrl, numbered(sql), args);
}

export interface UploadArgs {
  model?: Uint8Array | string;
  filename?: string;
  fields?: Record<string, string>;
  query?: string;
  headers?: Record<string, string>;
}

/** POST /audit as multipart/form-data. */
export function upload(base: string, args: UploadArgs): Promise<Response> {
  const form = new FormData();
  // A copy: Blob refuses views of a SharedArrayBuffer, which a Uint8Array may be.
  if (args.model !== undefined) form.set('model', new Blob([typeof args.model === 'string' ? args.model : new Uint8Array(args.model)]), args.filename ?? 'model.onnx');
  for (const [k, v] of Object.entries(args.fields ?? {})) form.set(k, v);
  return fetch(`${base}/audit${args.query ? `?${args.query}` : ''}`, { method: 'POST', body: form, headers: args.headers });
}

export interface JobDoc {
  id: string;
  status: string;
  progress: { percent: number; stage: string; message: string };
  report?: Record<string, unknown>;
  error?: { code: string; status: number; detail: string };
  attempts: number;
  [k: string]: unknown;
}

/** Polls GET /audits/{id} until the job is in one of `statuses`. */
export async function pollJob(base: string, id: string, statuses: string[] = ['succeeded', 'failed'], timeoutMs = 120_000, headers?: Record<string, string>): Promise<JobDoc> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const res = await fetch(`${base}/audits/${id}`, { headers });
    if (res.status !== 200) throw new Error(`GET /audits/${id}: ${res.status} ${await res.text()}`);
    const job = (await res.json()) as JobDoc;
    if (statuses.includes(job.status)) return job;
    if (Date.now() > until) throw new Error(`job ${id} still ${job.status} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface SseEvent {
  id: string;
  event: string;
  data: unknown;
}

/** Reads an event stream to its end (or `timeoutMs`). */
export async function readEvents(url: string, timeoutMs = 120_000): Promise<{ status: number; contentType: string; events: SseEvent[] }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  const contentType = res.headers.get('content-type') ?? '';
  if (res.status !== 200 || !res.body) return { status: res.status, contentType, events: [] };
  const events: SseEvent[] = [];
  let buffer = '';
  const decoder = new TextDecoder();
  for await (const chunk of res.body) {
    buffer += decoder.decode(chunk, { stream: true });
    let cut: number;
    while ((cut = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const fields: Record<string, string> = {};
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue;
        const i = line.indexOf(':');
        if (i > 0) fields[line.slice(0, i)] = line.slice(i + 1).trimStart();
      }
      if (fields.event) events.push({ id: fields.id, event: fields.event, data: JSON.parse(fields.data ?? 'null') });
    }
  }
  return { status: res.status, contentType, events };
}

/** Asserts a problem+json response and returns the document. */
export async function problemOf(res: Response): Promise<{ type: string; title: string; status: number; detail: string; code: string; instance?: string }> {
  const type = res.headers.get('content-type') ?? '';
  if (!type.startsWith(PROBLEM_JSON)) throw new Error(`expected ${PROBLEM_JSON}, got ${type} (${res.status}): ${await res.text()}`);
  return (await res.json()) as { type: string; title: string; status: number; detail: string; code: string; instance?: string };
}

/** Audit worker processes of this test process. */
export function workerPids(): number[] {
  let out = '';
  try {
    out = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(process.pid)], { encoding: 'utf8' });
  } catch {
    return []; // ps exits 1 when there are none
  }
  return out
    .split('\n')
    .filter((l) => l.includes('auditWorker'))
    .map((l) => Number(l.trim().split(/\s+/)[0]));
}
