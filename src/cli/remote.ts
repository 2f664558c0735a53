/**
 * `alias-audit audit --server URL`: the audit runs on an alias-audit service instead of here, so a
 * CI runner needs no onnxruntime. Uploads the model (`POST /audit`, `Authorization: Bearer KEY`),
 * follows the job's server-sent events (polling `GET /audits/{id}` when the stream breaks), and
 * fetches the finished report. The service's problem documents become the errors the CLI maps to
 * its exit codes: the same classes as a local audit where there is one (InvalidOptionError,
 * ModelError: exit 2), RemoteError (exit 2) for other refusals, RemoteUnavailableError when the
 * service cannot be reached or fails on its side.
 */
import { parseAuditOptions, RawOptions } from '../audit/options.js';
import type { AuditReport } from '../audit/report.js';
import { InvalidOptionError } from '../data/preprocess.js';
import { ModelError, type ModelErrorCode } from '../onnx/codec.js';
import { rawAuditOptions } from './auditOptions.js';
import { ExternalFailure, UsageError } from './errors.js';

/** The environment variable the CLI reads the API key from (never a flag: it would show in `ps`). */
export const API_KEY_ENV = 'ALIAS_AUDIT_API_KEY';

/** What the service said when it refused a request: its stable code and HTTP status. */
export class RemoteError extends UsageError {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string,
    readonly requestId?: string,
  ) {
    super(message);
    this.name = 'RemoteError';
  }
}

/** The service could not be reached, or failed on its side (5xx, busy): not the caller's input. */
export class RemoteUnavailableError extends ExternalFailure {
  /** The CLI's exit code for it: an internal failure, not a gate nor bad input. */
  readonly exitCode = 3;

  constructor(
    message: string,
    readonly status?: number,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'RemoteUnavailableError';
  }
}

export interface RemoteProgress {
  /** 0..1 over the whole audit. */
  fraction: number;
  message: string;
}

export interface RemoteAuditArgs {
  /** The service's base URL, e.g. https://audit.example.com or http://127.0.0.1:8080/prefix. */
  server: string;
  /** Sent as `Authorization: Bearer <key>`; omit for a service without keys. */
  apiKey?: string;
  model: Uint8Array;
  /** The file name the service records for the upload. */
  modelName: string;
  /** The form fields of the options (see {@link remoteFields}). */
  fields: Record<string, string>;
  onProgress?: (p: RemoteProgress) => void;
  signal?: AbortSignal;
  /** Run a new audit even when the service holds a report of the same model and options. */
  force?: boolean;
}

/** Codes of the service that are a ModelError locally (src/service/errors.ts). */
const MODEL_CODES = new Set<string>(['EMPTY_FILE', 'NOT_ONNX', 'TRUNCATED', 'EXTERNAL_DATA', 'MODEL_LIMIT', 'NO_IMAGE_INPUT', 'MULTIPLE_IMAGE_INPUTS', 'UNSUPPORTED_MODEL']);
/** CLI options that name files of this machine: the service has its own data and keeps the report. */
const LOCAL_ONLY: Record<string, string> = {
  cifar10Dir: '--cifar10-dir names a folder on this machine; with --server the service audits its own copy of the CIFAR-10 test set: leave it out',
};
/** A submission refused for load (429, 503) is tried this many times, waiting as Retry-After says. */
const SUBMIT_TRIES = 4;
const MAX_RETRY_WAIT_MS = 30_000;
/** Pause between status polls, and before reconnecting a broken event stream. */
const POLL_MS = 1_000;
/** Broken event streams in a row after which the client only polls (a proxy that buffers them). */
const MAX_STREAM_FAILURES = 3;

/**
 * The service's form fields for the CLI's audit option values (commander's camelCase keys):
 * the options that parseAuditOptions takes, validated here first so that a bad value is exit 2
 * before any upload. Output options (--out, --html, --junit, --summary) and the baseline stay
 * with the CLI; options that name files of this machine are refused (UsageError).
 */
export function remoteFields(values: Record<string, unknown>): Record<string, string> {
  const raw: RawOptions = rawAuditOptions(values);
  for (const [key, why] of Object.entries(LOCAL_ONLY)) if (raw[key] !== undefined) throw new UsageError(why);
  parseAuditOptions(raw);
  const fields: Record<string, string> = {};
  for (const [key, value] of Object.entries(raw)) if (value !== undefined) fields[key] = value;
  return fields;
}

/** The server's base URL, checked, ending in a slash so that paths resolve beneath it. */
function baseUrl(server: string): URL {
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw new UsageError(`--server ${JSON.stringify(server)} is not a URL; give the service's address, e.g. https://audit.example.com`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--server must be an http:// or https:// URL (got ${url.protocol})`);
  if (url.username || url.password) throw new UsageError(`--server must not carry credentials; give the API key in the environment variable ${API_KEY_ENV}`);
  url.search = '';
  url.hash = '';
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return url;
}

interface Problem {
  code?: unknown;
  status?: unknown;
  title?: unknown;
  detail?: unknown;
  requestId?: unknown;
}

interface JobSummary {
  id: string;
  status: 'queued' | 'running' | 'succeeded' | 'failed' | 'deleted';
  cached?: boolean;
  progress?: { percent: number; stage: string; message: string };
  links?: { self?: string; events?: string; report?: string };
}

const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const done = (): void => {
      signal?.removeEventListener('abort', aborted);
      resolve();
    };
    const timer = setTimeout(done, ms);
    const aborted = (): void => {
      clearTimeout(timer);
      reject(signal!.reason as Error);
    };
    signal?.addEventListener('abort', aborted, { once: true });
  });

/** A problem document (or any error answer) as the error the CLI maps to its exit code. */
async function answerError(res: Response, what: string): Promise<Error> {
  let problem: Problem = {};
  const text = await res.text().catch(() => '');
  try {
    const doc = JSON.parse(text) as unknown;
    if (typeof doc === 'object' && doc !== null) problem = doc;
  } catch {
    // Not JSON: a proxy's page, say. Its status says enough.
  }
  const code = typeof problem.code === 'string' ? problem.code : `HTTP_${res.status}`;
  const detail = typeof problem.detail === 'string' && problem.detail !== '' ? problem.detail : typeof problem.title === 'string' ? problem.title : res.statusText || `HTTP ${res.status}`;
  const requestId = typeof problem.requestId === 'string' ? problem.requestId : undefined;
  const ref = requestId ? ` (request id ${requestId})` : '';
  if (code === 'INVALID_OPTION' || code === 'VALIDATION_FAILED') return new InvalidOptionError(`the service refused the options: ${detail}`);
  if (MODEL_CODES.has(code)) return new ModelError(code as ModelErrorCode, detail);
  if (res.status === 401) return new RemoteError(`the service refused the API key (${detail}); set ${API_KEY_ENV} to a key the service knows`, 401, code, requestId);
  if (res.status === 403) return new RemoteError(`the service refused ${what}: ${detail}${ref}`, 403, code, requestId);
  if (res.status >= 500 || res.status === 429) return new RemoteUnavailableError(`the service could not ${what} (${res.status} ${code}): ${detail}${ref}`, res.status, code);
  return new RemoteError(`the service refused ${what} (${res.status} ${code}): ${detail}${ref}`, res.status, code, requestId);
}

/** How long a 429/503 answer asks to wait, capped. */
function retryAfterMs(res: Response, attempt: number): number {
  const header = Number(res.headers.get('retry-after'));
  const ms = Number.isFinite(header) && header > 0 ? header * 1000 : 2 ** attempt * 1000;
  return Math.min(ms, MAX_RETRY_WAIT_MS);
}

class Client {
  private readonly base: URL;
  private readonly headers: Record<string, string>;

  constructor(server: string, apiKey: string | undefined, private readonly signal: AbortSignal | undefined) {
    this.base = baseUrl(server);
    this.headers = apiKey ? { authorization: `Bearer ${apiKey}` } : {};
  }

  /** A path of the service (its links start with "/"), under the base URL's own path. */
  url(path: string): URL {
    return new URL(path.replace(/^\/+/, ''), this.base);
  }

  async fetch(path: string, init: RequestInit = {}, signal = this.signal): Promise<Response> {
    const url = this.url(path);
    try {
      return await fetch(url, { ...init, headers: { ...this.headers, ...(init.headers as Record<string, string> | undefined) }, signal, redirect: 'follow' });
    } catch (err) {
      if (signal?.aborted) throw err;
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const why = cause?.code ?? cause?.message ?? (err as Error).message;
      throw new RemoteUnavailableError(`cannot reach the audit service at ${this.base.origin}${this.base.pathname} (${why}); check --server and that the service runs`);
    }
  }

  async json<T>(res: Response, what: string): Promise<T> {
    const text = await res.text();
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new RemoteUnavailableError(`the service answered ${what} with something that is not JSON (${res.status} ${res.headers.get('content-type') ?? 'no content type'}); is --server the alias-audit service?`);
    }
  }
}

/** POST /audit, retried while the service says it is busy. */
async function submit(client: Client, args: RemoteAuditArgs): Promise<JobSummary> {
  for (let attempt = 1; ; attempt++) {
    const form = new FormData();
    // A copy: Blob takes no view of a SharedArrayBuffer, which a Uint8Array may be.
    form.set('model', new Blob([new Uint8Array(args.model)], { type: 'application/octet-stream' }), args.modelName);
    for (const [name, value] of Object.entries(args.fields)) form.set(name, value);
    const res = await client.fetch(args.force ? 'audit?force=true' : 'audit', { method: 'POST', body: form, headers: { accept: 'application/json' } });
    if ((res.status === 429 || res.status === 503) && attempt < SUBMIT_TRIES) {
      await res.body?.cancel();
      const wait = retryAfterMs(res, attempt);
      args.onProgress?.({ fraction: 0, message: `the service is busy (${res.status}); trying again in ${Math.round(wait / 1000)} s` });
      await sleep(wait, args.signal);
      continue;
    }
    if (res.status !== 200 && res.status !== 202) throw await answerError(res, 'the upload');
    const job = await client.json<JobSummary>(res, 'the upload');
    if (typeof job?.id !== 'string') throw new RemoteUnavailableError('the service answered the upload without a job id; is --server the alias-audit service?');
    return job;
  }
}

function report(onProgress: RemoteAuditArgs['onProgress'], p: JobSummary['progress']): void {
  if (onProgress && p && typeof p.percent === 'number') onProgress({ fraction: p.percent / 100, message: p.message || p.stage });
}

const finished = (status: string): boolean => status === 'succeeded' || status === 'failed' || status === 'deleted';

/**
 * Follows GET /audits/{id}/events until `done`; null when the stream could not be opened or
 * ended early (a restart, a proxy's timeout): the caller then asks for the job's status.
 */
async function followEvents(client: Client, job: JobSummary, onProgress: RemoteAuditArgs['onProgress'], signal?: AbortSignal): Promise<JobSummary | null> {
  let res: Response;
  try {
    res = await client.fetch(job.links?.events ?? `audits/${job.id}/events`, { headers: { accept: 'text/event-stream' } }, signal);
  } catch (err) {
    if (signal?.aborted) throw err;
    return null;
  }
  if (res.status !== 200 || !res.body || !(res.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
    if (res.status === 401 || res.status === 404) throw await answerError(res, 'the audit\'s progress');
    await res.body?.cancel();
    return null;
  }
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for await (const chunk of res.body) {
      buffer += decoder.decode(chunk, { stream: true }).replace(/\r\n?/g, '\n');
      let cut: number;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        let event = 'message';
        const data: string[] = [];
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) continue; // a keep-alive comment
          const colon = line.indexOf(':');
          const name = colon < 0 ? line : line.slice(0, colon);
          const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
          if (name === 'event') event = value;
          else if (name === 'data') data.push(value);
        }
        if (data.length === 0) continue;
        let payload: unknown;
        try {
          payload = JSON.parse(data.join('\n'));
        } catch {
          continue; // not ours to read; the status poll after the stream tells the outcome
        }
        if (event === 'progress') report(onProgress, payload as JobSummary['progress']);
        else if (event === 'status') report(onProgress, (payload as JobSummary).progress);
        else if (event === 'done') {
          await res.body.cancel().catch(() => undefined);
          return payload as JobSummary;
        }
      }
    }
  } catch (err) {
    if (signal?.aborted) throw err;
    return null; // the connection broke mid-stream
  }
  return null;
}

/** GET /audits/{id}: its status (a job deleted on the server is status "deleted"). */
async function jobStatus(client: Client, job: JobSummary): Promise<JobSummary> {
  const res = await client.fetch(job.links?.self ?? `audits/${job.id}`, { headers: { accept: 'application/json' } });
  if (res.status === 404) {
    await res.body?.cancel();
    return { ...job, status: 'deleted' };
  }
  if (res.status !== 200) throw await answerError(res, 'tell the audit\'s status');
  const doc = await client.json<JobSummary & { report?: unknown }>(res, 'the status request');
  return { ...job, status: doc.status, progress: doc.progress };
}

/** Waits for the job to end: its events while they flow, else polling. */
async function waitForJob(client: Client, job: JobSummary, args: RemoteAuditArgs): Promise<JobSummary> {
  report(args.onProgress, job.progress);
  let current = job;
  let streamFailures = 0;
  while (!finished(current.status)) {
    if (streamFailures < MAX_STREAM_FAILURES) {
      const done = await followEvents(client, current, args.onProgress, args.signal);
      if (done) return done;
      streamFailures++;
    }
    current = await jobStatus(client, current);
    report(args.onProgress, current.progress);
    if (!finished(current.status)) await sleep(POLL_MS, args.signal);
  }
  return current;
}

/** The finished report, or the audit's own problem as an error. */
async function fetchReport(client: Client, job: JobSummary): Promise<AuditReport> {
  const res = await client.fetch(job.links?.report ?? `audits/${job.id}/report`, { headers: { accept: 'application/json' } });
  if (res.status !== 200) throw await answerError(res, res.status === 409 ? 'the report' : 'run the audit');
  const doc = await client.json<AuditReport>(res, 'the report request');
  if (typeof doc !== 'object' || doc === null || (doc as { tool?: { name?: unknown } }).tool?.name !== 'alias-audit') {
    throw new RemoteUnavailableError('the service answered with something that is not an alias-audit report; is --server the alias-audit service?');
  }
  return doc;
}

/**
 * Runs one audit on the service and returns its report, the same document a local runAudit
 * gives (timings and the execution provider are the server's). Aborting `signal` stops waiting
 * and deletes the job on the service if this call started it (a reused one belongs to others too).
 */
export async function runRemoteAudit(args: RemoteAuditArgs): Promise<AuditReport> {
  const client = new Client(args.server, args.apiKey, args.signal);
  args.onProgress?.({ fraction: 0, message: `uploading ${args.modelName} to ${client.url('').origin}` });
  const job = await submit(client, args);
  try {
    const end = await waitForJob(client, job, args);
    if (end.status === 'deleted') throw new RemoteUnavailableError(`the audit ${job.id} was deleted on the service before it finished`, 404, 'NOT_FOUND');
    const result = await fetchReport(client, job);
    args.onProgress?.({ fraction: 1, message: 'done' });
    return result;
  } catch (err) {
    if (args.signal?.aborted && job.cached !== true) {
      // Stop the work nobody waits for; best effort, on a signal of its own.
      await client.fetch(job.links?.self ?? `audits/${job.id}`, { method: 'DELETE' }, AbortSignal.timeout(5_000)).then((r) => r.body?.cancel(), () => undefined);
    }
    throw err;
  }
}
