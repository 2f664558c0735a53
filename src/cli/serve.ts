/**
 * `alias-audit serve`: runs the HTTP service until SIGTERM or SIGINT, then shuts down
 * gracefully (running audits finish within the grace period, or go back to the queue).
 * Every flag also reads from the environment: `--max-upload` from ALIAS_AUDIT_MAX_UPLOAD, etc.;
 * a flag wins over its variable, which wins over the default.
 */
import { Command, CommanderError, Option } from 'commander';
import { DataDirInUseError } from '../service/dataDirLock.js';
import {
  applyConfigText,
  checkCombinedConfig,
  CONFIG_KEYS,
  ConfigKey,
  configEnvName,
  ConfigText,
  configTextFromEnv,
  defaultConfig,
  MIB,
  ServiceConfig,
} from '../service/config.js';
import { UsageError } from './errors.js';
import { stopOnSignals } from './signals.js';

/** 512MiB, 2GiB, 1000 (bytes): the form parseBytes reads back. */
function formatBytes(bytes: number): string {
  for (const [unit, size] of [['GiB', 1024 * MIB], ['MiB', MIB], ['KiB', 1024]] as const) {
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return String(bytes);
}

/** 2h, 30m, 45s, 500ms: the form parseDuration reads back. */
function formatDuration(ms: number): string {
  if (ms === 0) return '0';
  for (const [unit, size] of [['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

interface ServeFlag {
  value: string;
  description: string;
  shownDefault: (c: ServiceConfig) => string;
  /** Another variable read too, after ALIAS_AUDIT_<NAME>. */
  alsoEnv?: string;
  /** A switch: the flag alone means true (`--allow-unauthenticated`), or it takes a BOOL. */
  switch?: boolean;
  /** The commands that take it: `serve` (the default) and/or `worker`. */
  roles?: readonly Role[];
}

/** `serve` runs the API (and, embedded, the audits); `worker` runs audits of a distributed service. */
export type Role = 'serve' | 'worker';
const BOTH: readonly Role[] = ['serve', 'worker'];

/** Help for each setting; a Record over ConfigKey, so a new setting cannot lack its flag. */
const SERVE_FLAGS: Record<ConfigKey, ServeFlag> = {
  host: { value: 'H', description: 'address to bind; beyond loopback it needs API keys', shownDefault: (c) => c.host },
  port: { value: 'P', description: 'TCP port; 0 = any free port', shownDefault: (c) => String(c.port), alsoEnv: 'PORT' },
  'data-dir': { value: 'DIR', description: 'jobs database, uploads and queued models', shownDefault: (c) => c.dataDir, roles: BOTH },
  'max-upload': { value: 'SIZE', description: 'largest model upload, e.g. 512MiB, 2GiB', shownDefault: (c) => formatBytes(c.maxUploadBytes) },
  concurrency: { value: 'N', description: 'audits at once, each in a worker process', shownDefault: (c) => `cores / 2, at least 1: ${c.concurrency} here`, roles: BOTH },
  'audit-timeout': { value: 'T', description: 'time limit of one audit, e.g. 30m, 2h; 0 = none', shownDefault: (c) => formatDuration(c.auditTimeoutMs), roles: BOTH },
  'max-queued': { value: 'N', description: 'waiting audits beyond which submissions get 503 and /readyz is not ready', shownDefault: (c) => String(c.maxQueued) },
  'max-wait': { value: 'T', description: 'longest ?wait=true a client may ask for', shownDefault: (c) => formatDuration(c.maxWaitMs) },
  'api-keys': {
    value: 'T:K,K2',
    description: 'require "Authorization: Bearer K" with one of these keys (16 characters or more); "tenant:key" names the key\'s tenant, a bare key is a tenant of its own; tenants see only their own audits and runs',
    shownDefault: (c) => (c.apiKeys.length ? `${c.apiKeys.length} keys` : 'none'),
  },
  'api-keys-file': {
    value: 'FILE',
    description: 'keys stored hashed, one a line: "[tenant] sha256:HEX [admin]" (HEX from: printf %s KEY | sha256sum)',
    shownDefault: (c) => c.apiKeysFile ?? 'none',
  },
  'admin-keys': { value: 'T:K,K2', description: 'keys that see every tenant\'s audits and runs (written as --api-keys)', shownDefault: (c) => (c.adminKeys.length ? `${c.adminKeys.length} keys` : 'none') },
  'allow-unauthenticated': {
    value: 'BOOL',
    description: 'serve a non-loopback --host without keys (otherwise the server refuses to start)',
    shownDefault: (c) => String(c.allowUnauthenticated),
    switch: true,
  },
  'session-secret': {
    value: 'S',
    description: 'secret (32 characters or more) that signs the pages\' session cookies; give every API process the same one so that they accept each other\'s sessions',
    shownDefault: (c) => (c.sessionSecret ? 'set' : 'random at each start'),
  },
  'session-ttl': { value: 'T', description: 'how long a browser session lasts after signing in with a key', shownDefault: (c) => formatDuration(c.sessionTtlMs) },
  'rate-limit-window': { value: 'T', description: 'window of the rate limits', shownDefault: (c) => formatDuration(c.rateLimit.windowMs) },
  'rate-limit-writes': { value: 'N', description: 'submissions and deletions per key or IP per window; 0 = off', shownDefault: (c) => String(c.rateLimit.writes) },
  'rate-limit-reads': { value: 'N', description: 'reads of /audits per key or IP per window; 0 = off', shownDefault: (c) => String(c.rateLimit.reads) },
  'shutdown-grace': { value: 'T', description: 'on SIGTERM, time for running audits to finish before they are re-queued', shownDefault: (c) => formatDuration(c.shutdownGraceMs), roles: BOTH },
  'fetch-data': { value: 'BOOL', description: 'download the CIFAR-10 test set when it is missing', shownDefault: (c) => String(c.fetchData), roles: BOTH },
  'worker-niceness': { value: 'N', description: 'niceness of the audit worker processes', shownDefault: (c) => String(c.workerNiceness), roles: BOTH },
  'trust-proxy': { value: 'V', description: 'express "trust proxy": true, false, a hop count or addresses', shownDefault: (c) => String(c.trustProxy) },
  'access-log': { value: 'BOOL', description: 'one JSON log line per request on stdout', shownDefault: (c) => String(c.accessLog) },
  'max-event-streams': { value: 'N', description: 'open event streams (/audits/{id}/events) at once; past it 503; 0 = no cap', shownDefault: (c) => String(c.inFlight.eventStreams.global) },
  'max-event-streams-per-tenant': { value: 'N', description: 'open event streams of one key\'s tenant (or IP without keys); past it 429; 0 = no cap', shownDefault: (c) => String(c.inFlight.eventStreams.perTenant) },
  'max-wait-requests': { value: 'N', description: '?wait=true requests at once; past it 503; 0 = no cap', shownDefault: (c) => String(c.inFlight.waitRequests.global) },
  'max-wait-requests-per-tenant': { value: 'N', description: '?wait=true requests of one tenant (or IP); past it 429; 0 = no cap', shownDefault: (c) => String(c.inFlight.waitRequests.perTenant) },
  'max-upload-checks': { value: 'N', description: 'uploads being received or checked at once; past it 503; 0 = no cap', shownDefault: (c) => String(c.inFlight.uploadChecks.global) },
  'max-upload-checks-per-tenant': { value: 'N', description: 'uploads of one tenant (or IP) being received or checked; past it 429; 0 = no cap', shownDefault: (c) => String(c.inFlight.uploadChecks.perTenant) },
  'worker-memory': { value: 'SIZE', description: 'memory limit of each audit worker (data segment); larger audits are refused or fail; 0 = none', shownDefault: (c) => formatBytes(c.workerMemoryBytes), roles: BOTH },
  'worker-user': { value: 'USER', description: 'account the audit workers run as when the server runs as root (name, uid or uid:gid)', shownDefault: (c) => c.workerUser, roles: BOTH },
  'warm-workers': {
    value: 'BOOL',
    description: "keep an audit worker (samples and runtime loaded) for the same tenant's next audit; false: a fresh process for every audit",
    shownDefault: (c) => String(c.warmWorkers),
    roles: BOTH,
  },
  redis: {
    value: 'URL',
    description: 'distributed mode: the BullMQ queue on this Redis (redis://[user:pass@]host:port[/db], rediss:// for TLS); needs --database',
    shownDefault: () => 'none: the in-process queue',
    roles: BOTH,
  },
  database: {
    value: 'URL',
    description: 'distributed mode: jobs, reports, runs and queued models in this PostgreSQL (postgres://user:pass@host:port/db); needs --redis. Prefer the variable: a flag shows in the process list',
    shownDefault: () => 'none: SQLite in --data-dir',
    roles: BOTH,
  },
  'lock-duration': {
    value: 'T',
    description: "how long this worker's lock on an audit lasts without renewal (renewed at half): another worker re-runs the audit this long after this one died",
    shownDefault: (c) => formatDuration(c.lockDurationMs),
    roles: ['worker'],
  },
};

const SERVE_EXAMPLES = `
A flag wins over its environment variable, which wins over the default.

Examples:
  $ alias-audit serve --port 8123 --data-dir ./alias-audit-data
  $ ALIAS_AUDIT_API_KEYS=team-a:0123456789abcdef0123 alias-audit serve --host 0.0.0.0 --concurrency 2
  $ npm start -- --port 8123
  $ ALIAS_AUDIT_REDIS_URL=redis://redis:6379 ALIAS_AUDIT_DATABASE_URL=postgres://aa@db/aa alias-audit serve --host 0.0.0.0 --api-keys-file keys.txt
    (distributed: the API only; audits run in \`alias-audit worker\` processes)`;

const WORKER_EXAMPLES = `
A flag wins over its environment variable, which wins over the default.

Examples:
  $ ALIAS_AUDIT_REDIS_URL=redis://redis:6379 ALIAS_AUDIT_DATABASE_URL=postgres://aa@db/aa alias-audit worker --concurrency 2
  $ alias-audit worker --redis redis://10.0.0.5:6379 --database postgres://aa:secret@10.0.0.6/aa --audit-timeout 1h`;

/** The settings that `role`'s command takes as flags. */
export function keysOf(role: Role): ConfigKey[] {
  return CONFIG_KEYS.filter((key) => (SERVE_FLAGS[key].roles ?? ['serve']).includes(role));
}

/** Adds the options of `role` (serve: every setting but the worker's own) to `cmd`, with the defaults of defaultConfig(). */
export function defineServeOptions(cmd: Command, role: Role = 'serve'): Command {
  const defaults = defaultConfig();
  for (const key of keysOf(role)) {
    const f = SERVE_FLAGS[key];
    const env = [configEnvName(key), f.alsoEnv].filter(Boolean).join(' or ');
    const value = f.switch ? `[${f.value}]` : `<${f.value}>`;
    cmd.addOption(new Option(`--${key} ${value}`, `${f.description} (default: ${f.shownDefault(defaults)}; env ${env})`));
  }
  return cmd.addHelpText('after', role === 'serve' ? SERVE_EXAMPLES : WORKER_EXAMPLES);
}

/** The parsed flags of `role` over the environment's settings over the defaults. */
export function configFromFlags(values: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env, role: Role = 'serve'): ServiceConfig {
  const fromFlags: ConfigText = {};
  for (const key of keysOf(role)) {
    const value = values[new Option(`--${key} <v>`).attributeName()];
    if (typeof value === 'string') fromFlags[key] = value;
    else if (value === true) fromFlags[key] = 'true'; // a switch given alone
  }
  // One variable at a time, so that a bad value names its variable.
  let fromEnv = defaultConfig();
  for (const [key, value] of Object.entries(configTextFromEnv(env)) as [ConfigKey, string][]) {
    try {
      fromEnv = applyConfigText(fromEnv, { [key]: value });
    } catch (err) {
      const name = env[configEnvName(key)] !== undefined ? configEnvName(key) : (SERVE_FLAGS[key].alsoEnv ?? configEnvName(key));
      throw new UsageError(`${(err as Error).message} in ${name}: fix or unset that variable`);
    }
  }
  try {
    return checkCombinedConfig(applyConfigText(fromEnv, fromFlags));
  } catch (err) {
    throw new UsageError(`${(err as Error).message}; see alias-audit ${role} --help`);
  }
}

/** Parses the flags of `role` (argv after `serve` or `worker`) over the environment's settings over the defaults. */
export function serveConfig(args: string[], env: NodeJS.ProcessEnv = process.env, role: Role = 'serve'): ServiceConfig {
  const cmd = defineServeOptions(new Command(role), role)
    .exitOverride()
    .configureOutput({ writeOut: () => {}, writeErr: () => {} });
  try {
    cmd.parse(args, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) throw new UsageError(`${err.message.replace(/^error:\s*/, '').split('\n')[0]}; see alias-audit ${role} --help`);
    throw err;
  }
  return configFromFlags(cmd.opts(), env, role);
}

/** Runs the service; resolves with the exit code once it has shut down. */
export async function serveCommand(config: ServiceConfig): Promise<number> {
  // Loaded here, not at the top: the CLI's other commands and --help do not need the service.
  const [{ startService }, { AuthSetupError }] = await Promise.all([import('../service/server.js'), import('../service/http/auth.js')]);
  let running: Awaited<ReturnType<typeof startService>>;
  try {
    running = await startService(config);
  } catch (err) {
    // The operator's setup, not a bug: exit 2 with one line.
    if (err instanceof DataDirInUseError || err instanceof AuthSetupError || ['WorkerSealError', 'BackendUnreachableError'].includes((err as Error).name)) throw new UsageError((err as Error).message);
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') throw new UsageError(`port ${config.port} on ${config.host} is already in use: stop the other server or pick another --port`);
    if ((err as NodeJS.ErrnoException).code === 'EACCES' && (err as NodeJS.ErrnoException).syscall === 'listen') {
      throw new UsageError(`no permission to listen on port ${config.port}: pick a port above 1023`);
    }
    throw err;
  }
  // The signal handlers before the "listening on" line: a script that waits for that line may
  // send SIGTERM the moment it reads it.
  const stopped = stopOnSignals(() => running.close(), {
    stopping: `shutting down (running audits get ${config.shutdownGraceMs / 1000} s)`,
    failed: 'shutdown failed',
  });
  const { requeued, failed, queued } = running.recovered;
  // The resume note first: "listening on" is the line that scripts wait for.
  if (queued > 0 || failed.length > 0) {
    process.stdout.write(`alias-audit: resumed ${queued} queued audit(s) (${requeued.length} interrupted), failed ${failed.length} after too many attempts\n`);
  }
  const where = running.backends
    ? `distributed: ${running.backends}; audits run in alias-audit worker processes`
    : `data ${config.dataDir}, ${config.concurrency} audit worker${config.concurrency === 1 ? '' : 's'}`;
  process.stdout.write(`alias-audit: listening on ${running.url} (${where}${running.authenticated ? ', API keys required' : ''})\n`);
  return stopped;
}
