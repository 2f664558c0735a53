/**
 * The built CLI (dist/cli/main.js) as real OS processes for the multi-process tests: each one's
 * stdout and stderr go to a log file, readiness is a line it prints, and its audit children are
 * found in /proc (their parent pid), so a test can tell which worker runs an audit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The CLI the processes run; the test runner builds it first. */
export const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

/** Throws, saying how to build it, when dist/ is missing: a missing build is a failure, never a skip. */
export function requireBuiltCli(): void {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first (npm run build, or node node_modules/typescript-native/bin/tsc -p tsconfig.json)`);
}

export interface CliProcess {
  name: string;
  child: ChildProcess;
  pid: number;
  /** stdout and stderr together, as written. */
  logFile: string;
  /** Resolves with the first match of `pattern` in stdout; rejects when the process exits first or `timeoutMs` passes. */
  waitForLine(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
  /** Resolves once the process has exited (at once when it has). */
  exited(): Promise<void>;
  alive(): boolean;
}

/** The environment of a spawned process: ours without ALIAS_AUDIT_* (so only what the test sets counts), plus `extra`. */
export function cliEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('ALIAS_AUDIT_')) env[k] = v;
  return { ...env, ...extra };
}

/** Starts `node dist/cli/main.js ...args`, its output to `logFile`. */
export function spawnCli(name: string, args: string[], env: NodeJS.ProcessEnv, logFile: string): CliProcess {
  const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const log = createWriteStream(logFile, { flags: 'a' });
  log.write(`--- ${name}: ${args.join(' ')} (pid ${child.pid})\n`);
  let stdout = '';
  const waiters = new Set<() => void>();
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    log.write(d);
    for (const w of waiters) w();
  });
  child.stderr.on('data', (d: Buffer) => log.write(d));
  const exit = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('exit', (code, signal) => {
    log.end(`--- ${name} exited (${code ?? signal})\n`);
    for (const w of waiters) w();
  });
  const alive = (): boolean => child.exitCode === null && child.signalCode === null;
  return {
    name,
    child,
    pid: child.pid!,
    logFile,
    alive,
    exited: () => exit,
    waitForLine(pattern, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const m = stdout.match(pattern);
          if (m) return done(() => resolve(m));
          if (!alive()) done(() => reject(new Error(`${name} exited (${child.exitCode ?? child.signalCode}) before printing ${pattern}: ${tail(logFile)}`)));
        };
        const timer = setTimeout(() => done(() => reject(new Error(`${name} printed no ${pattern} within ${timeoutMs} ms: ${tail(logFile)}`))), timeoutMs);
        const done = (settle: () => void): void => {
          clearTimeout(timer);
          waiters.delete(check);
          settle();
        };
        waiters.add(check);
        check();
      });
    },
  };
}

/** The last `lines` lines of a log file. */
export function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

interface ProcInfo {
  pid: number;
  ppid: number;
  state: string;
}

function procInfo(pid: number): ProcInfo | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so cut at the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { pid, ppid: Number(rest[1]), state: rest[0] };
  } catch {
    return null;
  }
}

/** Whether `pid` runs (a zombie no longer does: nobody may reap an orphan in a container). */
export function running(pid: number): boolean {
  const info = procInfo(pid);
  return info !== null && info.state !== 'Z';
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

/** The running children of `pid`. */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const info = procInfo(Number(name));
    if (info && info.ppid === pid && info.state !== 'Z') out.push(info.pid);
  }
  return out;
}

/** The audit processes a worker has forked (service/worker/auditWorker) and that still run. */
export function auditChildrenOf(pid: number): number[] {
  return childrenOf(pid).filter((c) => /auditWorker/.test(cmdline(c)));
}

/** `pid` and all its running descendants, parents first. */
export function processTree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) out.push(...childrenOf(out[i]));
  return out;
}

/** SIGKILL, ignoring processes already gone. */
export function killNow(pids: number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
}
