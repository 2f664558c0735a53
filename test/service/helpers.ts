/**
 * Real-HTTP helpers for the service tests: a service on an ephemeral port with its own temp
 * data directory, multipart uploads with fetch, polling, and an SSE reader.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultConfig, ServiceConfig } from '../../src/service/config.js';
import { RunningService, startService } from '../../src/service/server.js';

export const PROBLEM_JSON = 'application/problem+json';

export interface TestService extends RunningService {
  dataDir: string;
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

/** Starts the service on 127.0.0.1:0 with a fresh data directory and response validation on. */
export async function startTestService(overrides: Partial<ServiceConfig> = {}): Promise<TestService> {
  const dataDir = mkdtempSync(join(tmpdir(), 'alias-audit-svc-'));
  const config = testServiceConfig(dataDir, overrides);
  const running = await startService(config);
  return {
    ...running,
    dataDir,
    async stop() {
      try {
        await running.close(0);
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
      }
    },
  };
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
