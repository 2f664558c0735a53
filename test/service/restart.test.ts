/**
 * Jobs survive the process: `alias-audit serve` (the built CLI) is SIGKILLed during an audit,
 * started again on the same data directory, and the job completes with its report stored once.
 * SIGTERM during an audit re-queues it (after the grace period) and exits 0.
 */
import assert from 'node:assert/strict';
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { bundledModel, FGSM } from '../helpers/models.js';
import { pollJob, upload } from './helpers.js';

const cli = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
// Long enough (seconds) to be caught running, short enough to finish after the restart.
const LONG_AUDIT = { preprocess: 'none', samples: '5000', batch: '1' };

interface Server {
  child: ChildProcess;
  url: string;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const servers: Server[] = [];
const dataDir = mkdtempSync(join(tmpdir(), 'alias-audit-restart-'));

function serve(): Promise<Server> {
  const child = spawn(process.execPath, [cli, 'serve', '--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir, '--fetch-data', 'false', '--shutdown-grace', '500ms'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      out += chunk.toString();
      const m = /listening on (http:\/\/[\d.]+:\d+)/.exec(out);
      if (m) {
        const server = { child, url: m[1], output: () => out, exited };
        servers.push(server);
        resolve(server);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    void exited.then(({ code }) => reject(new Error(`serve exited (${code}) before listening:\n${out}`)));
  });
}

/** Kills every server a test left running (after a failed assertion), so the next can lock the data. */
async function killLeftovers(): Promise<void> {
  for (const s of servers) {
    if (s.child.exitCode === null && s.child.signalCode === null) {
      s.child.kill('SIGKILL');
      await s.exited;
    }
  }
}

function childrenOf(pid: number): number[] {
  try {
    return execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function dbCounts(id: string): { jobs: number; reports: number; status: string } {
  const db = new Database(join(dataDir, 'alias-audit.db'), { readonly: true, fileMustExist: true });
  try {
    const jobs = (db.prepare('SELECT COUNT(*) AS n FROM jobs WHERE id = ?').get(id) as { n: number }).n;
    const reports = (db.prepare('SELECT COUNT(*) AS n FROM reports WHERE job_id = ?').get(id) as { n: number }).n;
    const status = (db.prepare('SELECT status FROM jobs WHERE id = ?').get(id) as { status: string }).status;
    return { jobs, reports, status };
  } finally {
    db.close();
  }
}

describe('jobs survive a restart', () => {
  after(async () => {
    await killLeftovers();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('SIGKILL during an audit: after a restart the job completes and its report is stored once', async () => {
    const first = await serve();
    const res = await upload(first.url, { model: bundledModel(FGSM), fields: LONG_AUDIT });
    assert.equal(res.status, 202);
    const id = ((await res.json()) as { id: string }).id;
    const running = await pollJob(first.url, id, ['running']);
    assert.equal(running.attempts, 1);
    await until('a worker process', () => childrenOf(first.child.pid!).length > 0);
    const workers = childrenOf(first.child.pid!);

    first.child.kill('SIGKILL');
    assert.equal((await first.exited).signal, 'SIGKILL');
    // The orphaned worker notices its parent is gone and exits by itself.
    await until('the orphaned worker to exit', () => workers.every((pid) => !alive(pid)));
    assert.equal(dbCounts(id).status, 'running');

    const second = await serve();
    assert.match(second.output(), /resumed 1 queued audit\(s\) \(1 interrupted\).*\n.*listening on/);
    const job = await pollJob(second.url, id, ['succeeded', 'failed'], 180_000);
    assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
    assert.equal(job.attempts, 2);
    assert.equal((job.report as { dataset: { samples: number } }).dataset.samples, 5000);
    assert.deepEqual(dbCounts(id), { jobs: 1, reports: 1, status: 'succeeded' });
    const list = (await (await fetch(`${second.url}/audits`)).json()) as { items: { id: string }[] };
    assert.deepEqual(list.items.map((j) => j.id), [id]);

    second.child.kill('SIGTERM');
    assert.deepEqual(await second.exited, { code: 0, signal: null });
  });

  test('SIGTERM during an audit re-queues it after the grace period and exits 0; the next start finishes it', async () => {
    await killLeftovers();
    const server = await serve();
    const res = await upload(server.url, { model: bundledModel(FGSM), fields: LONG_AUDIT, query: 'force=true' });
    const id = ((await res.json()) as { id: string }).id;
    await pollJob(server.url, id, ['running']);
    server.child.kill('SIGTERM');
    assert.deepEqual(await server.exited, { code: 0, signal: null });
    assert.match(server.output(), /SIGTERM: shutting down/);
    assert.deepEqual(dbCounts(id), { jobs: 1, reports: 0, status: 'queued' });

    const next = await serve();
    const job = await pollJob(next.url, id, ['succeeded', 'failed'], 180_000);
    assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
    assert.deepEqual(dbCounts(id), { jobs: 1, reports: 1, status: 'succeeded' });
    next.child.kill('SIGTERM');
    assert.deepEqual(await next.exited, { code: 0, signal: null });
  });
});
