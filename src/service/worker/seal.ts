/**
 * What confines an audit worker: an allow-listed environment (no API keys, no credentials), an
 * unprivileged account when the server runs as root, a private empty home and working folder,
 * and a memory limit. The worker runs native code on a stranger's model: it gets its model and
 * samples as open file descriptors from the parent, so it needs no read access to the data
 * folder or the cache, and its results go back over IPC, so it needs no write access anywhere.
 */
import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CIFAR10_CACHE_FILE, defaultCacheDir } from '../../data/cifar10.js';
import { forkEntry } from './entry.js';
import type { WireError } from './protocol.js';

/** How the audit workers are confined; built once at start-up from the service's settings. */
export interface WorkerSeal {
  /** RLIMIT_DATA of the worker (bytes); 0 = none. */
  memoryBytes: number;
  /** Refuse an audit whose estimate exceeds memoryBytes before its twins are built. */
  preflight: boolean;
  /** The account to run as; null = the server's own (it is not root). */
  identity: { uid: number; gid: number; name: string } | null;
}

/** The server cannot confine its workers as configured (e.g. an unknown --worker-user). */
export class WorkerSealError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WorkerSealError';
  }
}

/**
 * Resolves `user` (a name, `uid` or `uid:gid`) from /etc/passwd when the server runs as root;
 * otherwise the workers run as the server's own account, already unprivileged.
 */
export function workerSeal(settings: { workerMemoryBytes: number; workerUser: string; workerMemoryPreflight: boolean }): WorkerSeal {
  const seal: WorkerSeal = { memoryBytes: settings.workerMemoryBytes, preflight: settings.workerMemoryPreflight, identity: null };
  if (process.getuid?.() !== 0) return seal;
  seal.identity = resolveAccount(settings.workerUser);
  checkReadable(seal.identity);
  return seal;
}

/**
 * The worker account must read the program (node_modules, dist or the sources); an install
 * under root's home is not readable to it, and every audit would crash on start.
 */
function checkReadable(identity: { uid: number; gid: number; name: string }): void {
  const files = [forkEntry('auditWorker').file, fileURLToPath(import.meta.resolve('onnxruntime-node'))];
  const check = 'const fs = require("fs"); for (const f of process.argv.slice(1)) { try { fs.accessSync(f, fs.constants.R_OK); } catch { console.log(f); process.exit(3); } }';
  const r = spawnSync(process.execPath, ['-e', check, ...files], { uid: identity.uid, gid: identity.gid, cwd: '/', env: {}, encoding: 'utf8', timeout: 10_000 });
  if (r.status === 0) return;
  const what = r.status === 3 ? `cannot read ${r.stdout.trim()}` : `cannot run node (${r.error?.message ?? `exit ${r.status}`})`;
  throw new WorkerSealError(`the server runs as root, so its audit workers run as "${identity.name}", which ${what}: install alias-audit where that account can read it, or pass --worker-user with another account`);
}

function resolveAccount(user: string): { uid: number; gid: number; name: string } {
  const numeric = /^(\d+)(?::(\d+))?$/.exec(user);
  if (numeric) return { uid: Number(numeric[1]), gid: Number(numeric[2] ?? numeric[1]), name: user };
  let passwd = '';
  try {
    passwd = readFileSync('/etc/passwd', 'utf8');
  } catch {
    // No passwd file (a minimal image): only a numeric account can be used.
  }
  for (const line of passwd.split('\n')) {
    const [name, , uid, gid] = line.split(':');
    if (name === user && uid !== undefined && gid !== undefined) return { uid: Number(uid), gid: Number(gid), name };
  }
  throw new WorkerSealError(`the server runs as root and its audit workers must not: the worker user "${user}" does not exist; create it or pass --worker-user with another account or a uid:gid`);
}

/** Settings a worker may see; everything else (keys, tokens, database URLs) stays with the server. */
const PASSED_ALWAYS = ['PATH', 'LANG', 'LANGUAGE', 'LC_ALL', 'LC_CTYPE', 'LC_NUMERIC', 'TZ', 'LD_LIBRARY_PATH', 'CUDA_VISIBLE_DEVICES', 'NVIDIA_VISIBLE_DEVICES', 'CIFAR10_DIR'];
/** The readiness probe may download the samples with npm: it needs the server's home and network settings. */
const PASSED_TO_PROBE = ['HOME', 'TMPDIR', 'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'http_proxy', 'https_proxy', 'no_proxy', 'NODE_EXTRA_CA_CERTS', 'npm_execpath', 'npm_config_registry', 'npm_config_cache'];

/**
 * The environment of a worker: the allow-list, the resolved cache folder (so a changed HOME does
 * not move it) and, for an audit worker, `home` as HOME and TMPDIR.
 */
export function workerEnv(kind: 'audit' | 'probe', home: string | null, env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const name of kind === 'probe' ? [...PASSED_ALWAYS, ...PASSED_TO_PROBE] : PASSED_ALWAYS) {
    if (env[name] !== undefined) out[name] = env[name];
  }
  out.ALIAS_AUDIT_CACHE = cacheDirOf(env);
  if (home) {
    out.HOME = home;
    out.TMPDIR = home;
  }
  return out;
}

/** The loader's cache folder for `env` (defaultCacheDir reads the home of this process, not of `env`). */
function cacheDirOf(env: NodeJS.ProcessEnv): string {
  if (env.ALIAS_AUDIT_CACHE || env.XDG_CACHE_HOME || !env.HOME) return defaultCacheDir(env);
  return join(env.HOME, '.cache', 'alias-audit');
}

/** A private, empty home (and working folder) for one audit worker, owned by its account. */
export function makeWorkerHome(identity: WorkerSeal['identity']): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), 'alias-audit-worker-'));
  if (identity) chownSync(path, identity.uid, identity.gid);
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** The file the samples load from, when it exists: the official batch in CIFAR10_DIR, else the decoded cache. */
export function samplesFile(cifar10Dir: string | undefined, env: NodeJS.ProcessEnv = process.env): { path: string; source: string } | null {
  const dir = cifar10Dir || env.CIFAR10_DIR || undefined; // blank counts as unset, as in the loader
  if (dir !== undefined) {
    for (const file of [join(dir, 'test_batch.bin'), join(dir, 'cifar-10-batches-bin', 'test_batch.bin')]) {
      if (existsSync(file)) return { path: file, source: `binary:${resolve(file)}` };
    }
    return null;
  }
  const cache = join(cacheDirOf(env), CIFAR10_CACHE_FILE);
  return existsSync(cache) ? { path: cache, source: `cache:${cache}` } : null;
}

/**
 * How node is started under the memory limit: through `sh -c 'ulimit -d KiB; exec node ...'`
 * (POSIX, in every image). RLIMIT_DATA, not RLIMIT_AS: V8 and ONNX Runtime reserve over 1 GiB of
 * address space they never use (a bare audit needs ~1.3 GiB of it), while the data limit counts
 * what is actually allocated (heap, arenas, anonymous maps), measured at ~1.3x the resident peak.
 */
export function limitedLaunch(memoryBytes: number, nodeArgs: string[]): { execPath: string; execArgv: string[] } {
  if (memoryBytes <= 0) return { execPath: process.execPath, execArgv: nodeArgs };
  const kib = Math.max(1, Math.floor(memoryBytes / 1024));
  return { execPath: '/bin/sh', execArgv: ['-c', 'ulimit -d "$0" && exec "$@"', String(kib), process.execPath, ...nodeArgs] };
}

/** "4 GiB", "320 MiB": limits and estimates in problem details. */
export function formatMemory(bytes: number): string {
  const gib = bytes / 2 ** 30;
  if (gib >= 1) return `${Math.round(gib * 10) / 10} GiB`;
  return `${Math.round(bytes / 2 ** 20)} MiB`;
}

/** Output of a worker that ran out of memory: V8's fatal OOM, ORT's failed allocations, glibc's. */
const OUT_OF_MEMORY = /out of memory|allocation failed|failed to allocate|bad_alloc|cannot allocate memory|array buffer allocation failed/i;
/**
 * A thread that could not start. Under RLIMIT_DATA its stack is what could not be mapped, and
 * glibc reports that as EAGAIN: a WideResNet-28-10 audit just past a 1.5 GiB limit aborted with
 * "std::system_error ... Resource temporarily unavailable" from ONNX Runtime's thread pool.
 */
const THREAD_NOT_STARTED = /system_error[\s\S]{0,200}resource temporarily unavailable/i;

/** Whether an error message or a worker's last output says memory ran out (under a limit, the limit). */
export function ranOutOfMemory(output: string): boolean {
  return OUT_OF_MEMORY.test(output) || THREAD_NOT_STARTED.test(output);
}

/** The problem of a worker that ran past its memory limit, however it died. */
export function memoryLimitFailure(limitBytes: number): WireError {
  return {
    name: 'MemoryLimit',
    code: 'MEMORY_LIMIT',
    message: `the audit needed more memory than a worker may use (${formatMemory(limitBytes)}) and was stopped; use a smaller batch or fewer samples, or a server with a larger --worker-memory`,
  };
}
