/**
 * Private Redis and PostgreSQL servers for tests: each listens on a free port of 127.0.0.1 and
 * keeps its files in its own temporary folder, so tests never touch (or collide with) a server
 * the machine already runs. Missing binaries are an error naming the Debian package, never a skip.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

export interface TestServer {
  url: string;
  port: number;
  /** Where the server keeps its files (removed by stop). */
  dir: string;
  /** Stops the server and removes its folder. */
  stop(): Promise<void>;
  /**
   * Stops and starts it again on the same port with the same files. `crash` kills it with
   * SIGKILL instead of a clean shutdown.
   */
  restart(opts?: { crash?: boolean; downMs?: number }): Promise<void>;
}

export interface RedisServerOptions {
  /** Append-only file on (`--appendonly yes`), synced as `appendfsync` says. Off by default. */
  appendOnly?: boolean;
  appendFsync?: 'always' | 'everysec' | 'no';
}

/** Servers still running when the test process exits are stopped then (a failed test must not leak them). */
const atExit = new Set<() => void>();
process.once('exit', () => {
  for (const stop of atExit) stop();
});

/** A port nothing listens on now (the server is started on it right after; a clash retries). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

function requireBinary(path: string, pkg: string): void {
  if (!existsSync(path)) throw new Error(`${path} is missing: install Debian's ${pkg} package (apt-get install -y ${pkg})`);
}

function which(name: string): string | null {
  const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resolves once a Redis on `port` answers PING (it answers -LOADING while it replays its AOF). */
async function waitForRedis(port: number, child: ChildProcess, logFile: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`redis-server exited (${child.exitCode}): ${tail(logFile)}`);
    const pong = await new Promise<boolean>((resolve) => {
      const s = createConnection({ host: '127.0.0.1', port });
      s.setTimeout(500);
      let reply = '';
      s.on('connect', () => s.write('PING\r\n'));
      s.on('data', (d) => {
        reply += d.toString();
        if (reply.includes('\r\n')) {
          s.destroy();
          resolve(reply.startsWith('+PONG'));
        }
      });
      s.on('error', () => resolve(false));
      s.on('timeout', () => {
        s.destroy();
        resolve(false);
      });
    });
    if (pong) return;
    await sleep(50);
  }
  throw new Error(`redis-server on port ${port} did not answer within ${timeoutMs} ms: ${tail(logFile)}`);
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-5).join(' | ');
  } catch {
    return '(no log)';
  }
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', () => r()));
}

/** Starts a private `redis-server` (Debian package redis-server) on 127.0.0.1; no RDB snapshots. */
export async function startRedis(opts: RedisServerOptions = {}): Promise<TestServer> {
  const bin = which('redis-server');
  if (!bin) throw new Error("redis-server is not on PATH: install Debian's redis-server package (apt-get install -y redis-server)");
  const dir = mkdtempSync(join(tmpdir(), 'alias-audit-redis-'));
  const logFile = join(dir, 'redis.log');
  let port = 0;
  let child: ChildProcess | undefined;
  const launch = async (): Promise<void> => {
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--logfile', logFile, '--daemonize', 'no'];
    args.push('--appendonly', opts.appendOnly ? 'yes' : 'no');
    if (opts.appendOnly) args.push('--appendfsync', opts.appendFsync ?? 'everysec');
    const c = spawn(bin, args, { stdio: 'ignore' });
    child = c;
    await waitForRedis(port, c, logFile);
  };
  for (let tries = 0; ; tries++) {
    port = await freePort();
    try {
      await launch();
      break;
    } catch (err) {
      // Another process took the port between the probe and the start: try another one.
      if (tries >= 3 || !/Address already in use/.test(String(err))) {
        rmSync(dir, { recursive: true, force: true });
        throw err;
      }
    }
  }
  const kill = (signal: NodeJS.Signals): Promise<void> => {
    const c = child!;
    const done = exited(c);
    c.kill(signal);
    return done;
  };
  const killNow = (): void => {
    child?.kill('SIGKILL');
  };
  atExit.add(killNow);
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    async stop() {
      await kill('SIGTERM');
      atExit.delete(killNow);
      rmSync(dir, { recursive: true, force: true });
    },
    async restart({ crash = false, downMs = 0 } = {}) {
      await kill(crash ? 'SIGKILL' : 'SIGTERM');
      await sleep(downMs);
      await launch();
    },
  };
}

/** The newest PostgreSQL server binaries Debian installed (postgresql-NN packages). */
function postgresBinDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : [];
  const dir = versions.length > 0 ? join(root, versions[0], 'bin') : join(root, '15', 'bin');
  requireBinary(join(dir, 'initdb'), 'postgresql');
  requireBinary(join(dir, 'pg_ctl'), 'postgresql');
  return dir;
}

/**
 * Starts a private PostgreSQL cluster (Debian package postgresql) on 127.0.0.1 with trust
 * authentication for the `postgres` role. As root, initdb and pg_ctl run as the `postgres`
 * account (they refuse root), which then owns the folder.
 */
export async function startPostgres(): Promise<TestServer> {
  const bin = postgresBinDir();
  const asRoot = userInfo().uid === 0;
  let owner: { uid: number; gid: number } | null = null;
  if (asRoot) {
    const id = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
    const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
    if (id.status !== 0) throw new Error("there is no `postgres` account to run PostgreSQL as: install Debian's postgresql package (apt-get install -y postgresql)");
    owner = { uid: Number(id.stdout.trim()), gid: Number(gid.stdout.trim()) };
  }
  const dir = mkdtempSync(join(tmpdir(), 'alias-audit-pg-'));
  const data = join(dir, 'data');
  const sockets = join(dir, 'sockets');
  const logFile = join(dir, 'postgres.log');
  const run = (tool: string, args: string[]): void => {
    const cmd = asRoot ? 'runuser' : join(bin, tool);
    const argv = asRoot ? ['-u', 'postgres', '--', join(bin, tool), ...args] : args;
    const r = spawnSync(cmd, argv, { encoding: 'utf8', timeout: 60_000 });
    if (r.status !== 0) throw new Error(`${tool} ${args.join(' ')} failed (${r.status ?? r.signal}): ${(r.stderr || r.stdout).trim()} ${tail(logFile)}`);
  };
  try {
    spawnSync('mkdir', ['-p', sockets]);
    if (owner) {
      const r = spawnSync('chown', ['-R', `${owner.uid}:${owner.gid}`, dir]);
      if (r.status !== 0) throw new Error(`could not hand ${dir} to the postgres account`);
      // A TMPDIR under a private home is out of the postgres account's reach.
      if (spawnSync('runuser', ['-u', 'postgres', '--', 'test', '-w', dir]).status !== 0) throw new Error(`the postgres account cannot reach ${dir}: set TMPDIR to a folder it can search (e.g. /tmp)`);
    }
    // fsync off: the tests kill processes, not the machine, and the OS keeps what was written.
    run('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C', '--no-sync']);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  let port = 0;
  const start = (): void => {
    const options = `-p ${port} -k ${sockets} -c listen_addresses=127.0.0.1 -c fsync=off`;
    run('pg_ctl', ['-D', data, '-l', logFile, '-w', '-t', '60', '-o', options, 'start']);
  };
  for (let tries = 0; ; tries++) {
    port = await freePort();
    try {
      start();
      break;
    } catch (err) {
      if (tries >= 3 || !/already in use|could not (bind|create listen)/i.test(String(err))) {
        rmSync(dir, { recursive: true, force: true });
        throw err;
      }
    }
  }
  const postmasterPid = (): number | null => {
    try {
      return Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
    } catch {
      return null;
    }
  };
  const stopNow = (): void => {
    // At exit only: no waiting, no cleanup beyond the server itself.
    const pid = postmasterPid();
    if (pid) {
      try {
        process.kill(pid, 'SIGQUIT');
      } catch {
        // already gone
      }
    }
  };
  atExit.add(stopNow);
  const shutdown = async (crash: boolean): Promise<void> => {
    if (crash) {
      const pid = postmasterPid();
      if (pid) process.kill(pid, 'SIGKILL');
      // The postmaster's children notice its death and exit; wait until the port is free.
      for (let i = 0; i < 100 && (await portOpen(port)); i++) await sleep(50);
    } else {
      run('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']);
    }
  };
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    dir,
    async stop() {
      await shutdown(false);
      atExit.delete(stopNow);
      rmSync(dir, { recursive: true, force: true });
    },
    async restart({ crash = false, downMs = 0 } = {}) {
      await shutdown(crash);
      await sleep(downMs);
      if (crash) {
        // What a killed postmaster leaves behind would stop the next start.
        rmSync(join(data, 'postmaster.pid'), { force: true });
        for (const f of [`.s.PGSQL.${port}`, `.s.PGSQL.${port}.lock`]) rmSync(join(sockets, f), { force: true });
      }
      start();
    },
  };
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

let databases = 0;

/** A new empty database on a test PostgreSQL server (one per service, so tests never see each other's rows). */
export async function createDatabase(server: TestServer): Promise<string> {
  const name = `aa_${process.pid}_${++databases}_${Math.random().toString(36).slice(2, 8)}`;
  const client = new pg.Client({ connectionString: server.url });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(server.url);
  url.pathname = `/${name}`;
  return url.toString();
}

/** One statement on a test database, straight (not through the service under test). */
export async function queryDatabase<R extends pg.QueryResultRow>(url: string, text: string, args: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(text, args)).rows;
  } finally {
    await client.end();
  }
}
