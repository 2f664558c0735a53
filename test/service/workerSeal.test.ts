/**
 * Sealed audit workers: what a worker process sees and may do (its environment, its account,
 * its memory limit), read from /proc while it runs, and what happens when an audit needs more
 * memory than a worker may use: refused by the estimate up front, or stopped by the limit,
 * failing its own job while the server stays healthy.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { applyConfigText, defaultConfig } from '../../src/service/config.js';
import { DB_FILE } from '../../src/service/server.js';
import { estimateAuditMemory } from '../../src/service/worker/memoryEstimate.js';
import { endedFailure } from '../../src/service/worker/runner.js';
import { workerEnv, workerSeal, WorkerSealError } from '../../src/service/worker/seal.js';
import { bundledModel, STANDARD } from '../helpers/models.js';
import { pollJob, problemOf, startTestService, TEST_MODE, TestService, upload } from './helpers.js';

const MIB = 2 ** 20;
const SECRET_KEY = 'seal-test-key-0123456789abcdef';
const SECRET_TOKEN = 'postgres://audit:hunter2@db.internal/jobs';
const RUNNING_AS_ROOT = process.getuid?.() === 0;

/** uid and gid of an account, read from /etc/passwd here rather than through the code under test. */
function account(name: string): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(`${name}:`));
  assert.ok(line, `no ${name} in /etc/passwd`);
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

interface ProcInfo {
  pid: number;
  env: Map<string, string>;
  uid: number;
  gid: number;
  groups: number[];
  /** Soft "Max data size" in bytes, or null when unlimited. */
  dataLimit: number | null;
}

/** An audit worker child of this process as /proc shows it, once it runs the worker module. */
function auditWorkerChild(): ProcInfo | null {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const status = readFileSync(`/proc/${entry}/status`, 'utf8');
      if (Number(/^PPid:\s+(\d+)/m.exec(status)?.[1]) !== process.pid) continue;
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      // Not yet the worker while the shell that sets the memory limit runs (its script names the module too).
      if (!argv.some((a) => a.includes('auditWorker')) || argv[0] === '/bin/sh') continue;
      const env = new Map<string, string>();
      for (const pair of readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0').filter(Boolean)) {
        const i = pair.indexOf('=');
        env.set(pair.slice(0, i), pair.slice(i + 1));
      }
      const limits = /^Max data size\s+(\S+)/m.exec(readFileSync(`/proc/${entry}/limits`, 'utf8'))?.[1];
      return {
        pid: Number(entry),
        env,
        uid: Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]),
        gid: Number(/^Gid:\s+(\d+)/m.exec(status)?.[1]),
        groups: (/^Groups:\s*(.*)$/m.exec(status)?.[1] ?? '').trim().split(/\s+/).filter(Boolean).map(Number),
        dataLimit: limits === undefined || limits === 'unlimited' ? null : Number(limits),
      };
    } catch {
      // The process ended while we read it.
    }
  }
  return null;
}

/** Polls until an audit worker is found (it must be running the worker module, past its start). */
async function waitForAuditWorker(timeoutMs = 30_000): Promise<ProcInfo> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const child = auditWorkerChild();
    if (child && child.env.has('NODE_CHANNEL_FD')) return child;
    if (Date.now() > until) throw new Error('no audit worker appeared');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Whether `uid:gid` may open `path` with `flags` ('r+' an existing file, 'wx' a new one), tried in a process of that account. */
function writableBy(path: string, flags: 'r+' | 'wx', id: { uid: number; gid: number }): boolean {
  const r = spawnSync(process.execPath, ['-e', 'require("fs").openSync(process.argv[1], process.argv[2])', path, flags], { uid: id.uid, gid: id.gid, cwd: '/' });
  return r.status === 0;
}

describe('a sealed audit worker', () => {
  let svc: TestService;
  const saved = { keys: process.env.ALIAS_AUDIT_API_KEYS, db: process.env.DATABASE_URL };
  before(async () => {
    // The server's environment holds secrets: its workers must not see them.
    process.env.ALIAS_AUDIT_API_KEYS = SECRET_KEY;
    process.env.DATABASE_URL = SECRET_TOKEN;
    svc = await startTestService(); // the default limit (4 GiB) and worker account
    await svc.readiness.check();
  });
  after(async () => {
    await svc?.stop();
    for (const [name, value] of [['ALIAS_AUDIT_API_KEYS', saved.keys], ['DATABASE_URL', saved.db]] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });

  test('holds no key in its environment, runs as the unprivileged account under the memory limit, cannot write the data, and still audits', async () => {
    const res = await upload(svc.url, { model: bundledModel(STANDARD), fields: { preprocess: 'none', samples: '3000', batch: '100', ep: 'cpu' } });
    assert.equal(res.status, 202);
    const { id } = (await res.json()) as { id: string };
    const child = await waitForAuditWorker();

    const values = [...child.env.values()].join('\n');
    assert.ok(!values.includes(SECRET_KEY), 'the API key reached the worker');
    assert.ok(!values.includes('hunter2'), 'a database credential reached the worker');
    // Only settings a worker needs (node adds its IPC channel's, the shell that sets the limit PWD).
    const allowed = new Set(['PATH', 'HOME', 'TMPDIR', 'LANG', 'LANGUAGE', 'LC_ALL', 'LC_CTYPE', 'LC_NUMERIC', 'TZ', 'LD_LIBRARY_PATH', 'CUDA_VISIBLE_DEVICES', 'NVIDIA_VISIBLE_DEVICES', 'CIFAR10_DIR', 'ALIAS_AUDIT_CACHE', 'NODE_CHANNEL_FD', 'NODE_CHANNEL_SERIALIZATION_MODE', 'PWD']);
    assert.deepEqual([...child.env.keys()].filter((k) => !allowed.has(k)), []);
    assert.notEqual(child.env.get('HOME'), process.env.HOME, 'the worker has a home of its own');

    assert.equal(child.dataLimit, 4 * 1024 * MIB, 'RLIMIT_DATA is --worker-memory');
    if (RUNNING_AS_ROOT) {
      const nobody = account('nobody');
      assert.deepEqual([child.uid, child.gid], [nobody.uid, nobody.gid]);
      assert.ok(!child.groups.includes(0), "root's group is dropped");
      // What that account may do to the store: nothing.
      // Distributed, the jobs live in PostgreSQL, which the child holds no credential for (the environment above).
      if (TEST_MODE === 'embedded') assert.equal(writableBy(join(svc.dataDir, DB_FILE), 'r+', nobody), false, 'the worker account can write the job database');
      assert.equal(writableBy(join(svc.dataDir, 'written-by-worker'), 'wx', nobody), false, 'the worker account can write the data folder');
    } else {
      assert.equal(child.uid, process.getuid?.(), 'not root: the worker keeps the server account');
    }

    const job = await pollJob(svc.url, id);
    assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
    const report = job.report as { cleanAccuracy: number; downsampling: { amRel: number | null }[] };
    assert.ok(report.cleanAccuracy > 0.7, `clean accuracy ${report.cleanAccuracy}`);
    assert.ok(report.downsampling.some((d) => d.amRel !== null));
  });
});

describe('an audit beyond the worker memory limit', () => {
  let limited: TestService;
  let estimated: TestService;
  before(async () => {
    // No estimate here: the audit must meet the limit itself.
    limited = await startTestService({ workerMemoryBytes: 320 * MIB, workerMemoryPreflight: false });
    estimated = await startTestService({ workerMemoryBytes: 320 * MIB });
    await Promise.all([limited.readiness.check(), estimated.readiness.check()]);
  });
  after(async () => {
    await limited?.stop();
    await estimated?.stop();
  });

  test('fails its own job with MEMORY_LIMIT (no raw worker output); the server stays healthy and the next audit succeeds', async () => {
    const res = await upload(limited.url, { model: bundledModel(STANDARD), fields: { preprocess: 'none', samples: '1000', batch: '1000', ep: 'cpu' }, query: 'wait=true' });
    const p = await problemOf(res);
    assert.equal(res.status, 422);
    assert.equal(p.code, 'MEMORY_LIMIT');
    assert.match(p.detail, /more memory than a worker may use \(320 MiB\)/);
    assert.doesNotMatch(p.detail, /bad_alloc|BFCArena|allocate memory|\/[a-z]+\/|\.cc:|node:internal/i, 'raw runtime output in the problem');

    const health = await fetch(`${limited.url}/healthz`);
    assert.equal(health.status, 200);
    const next = await upload(limited.url, { model: bundledModel(STANDARD), fields: { preprocess: 'none', samples: '100', batch: '25', ep: 'cpu' }, query: 'wait=true' });
    assert.equal(next.status, 200, await next.clone().text());
    assert.ok(((await next.json()) as { cleanAccuracy: number }).cleanAccuracy > 0.7);
    assert.deepEqual(limited.responseViolations, []);
  });

  test('is refused up front by the estimate from the probed shapes: 422 with the estimate, while one that fits runs', async () => {
    const res = await upload(estimated.url, { model: bundledModel(STANDARD), fields: { preprocess: 'none', samples: '1000', batch: '1000', ep: 'cpu' }, query: 'wait=true' });
    const p = await problemOf(res);
    assert.equal(res.status, 422);
    assert.equal(p.code, 'MEMORY_LIMIT');
    const m = /would need about ([\d.]+) (MiB|GiB) \(batch 1000: activations [\d.]+ (?:MiB|GiB), the largest stride-1 twin \(of "[^"]+"\) [\d.]+ (?:MiB|GiB)\)/.exec(p.detail);
    assert.ok(m, p.detail);
    const estimate = Number(m[1]) * (m[2] === 'GiB' ? 1024 : 1);
    assert.ok(estimate > 320, `estimate ${estimate} MiB is within the limit it was refused for`);
    assert.match(p.detail, /\(320 MiB\)/);

    const fits = await upload(estimated.url, { model: bundledModel(STANDARD), fields: { preprocess: 'none', samples: '100', batch: '25', ep: 'cpu' }, query: 'wait=true' });
    assert.equal(fits.status, 200, await fits.clone().text());
    assert.deepEqual(estimated.responseViolations, []);
  });
});

describe('worker settings and estimate', () => {
  test('--worker-memory takes sizes, 0 for none, and refuses a limit too small for a worker to start', () => {
    assert.equal(defaultConfig().workerMemoryBytes, 4 * 1024 * MIB);
    assert.equal(applyConfigText(defaultConfig(), { 'worker-memory': '2GiB' }).workerMemoryBytes, 2 * 1024 * MIB);
    assert.equal(applyConfigText(defaultConfig(), { 'worker-memory': '0' }).workerMemoryBytes, 0);
    assert.throws(() => applyConfigText(defaultConfig(), { 'worker-memory': '100MiB' }), /at least 256MiB/);
    assert.equal(applyConfigText(defaultConfig(), { 'worker-user': '1234:5678' }).workerUser, '1234:5678');
  });

  test('as root, an unknown --worker-user stops the start; a uid:gid is taken as it is', () => {
    const settings = { workerMemoryBytes: 0, workerMemoryPreflight: true };
    if (RUNNING_AS_ROOT) {
      assert.throws(() => workerSeal({ ...settings, workerUser: 'no-such-account-here' }), WorkerSealError);
      assert.deepEqual(workerSeal({ ...settings, workerUser: '1234:5678' }).identity, { uid: 1234, gid: 5678, name: '1234:5678' });
    } else {
      assert.equal(workerSeal({ ...settings, workerUser: 'no-such-account-here' }).identity, null);
    }
  });

  test('the environment is an allow-list: keys and credentials stay out, the cache folder is resolved', () => {
    const env = { PATH: '/usr/bin', HOME: '/home/srv', ALIAS_AUDIT_API_KEYS: SECRET_KEY, AWS_SECRET_ACCESS_KEY: 'x', npm_config__authToken: 'y', HTTPS_PROXY: 'http://proxy:3128' };
    const audit = workerEnv('audit', '/tmp/w', env);
    assert.deepEqual(audit, { PATH: '/usr/bin', HOME: '/tmp/w', TMPDIR: '/tmp/w', ALIAS_AUDIT_CACHE: '/home/srv/.cache/alias-audit' });
    const probe = workerEnv('probe', null, env);
    assert.deepEqual(probe, { PATH: '/usr/bin', HOME: '/home/srv', HTTPS_PROXY: 'http://proxy:3128', ALIAS_AUDIT_CACHE: '/home/srv/.cache/alias-audit' });
  });

  test("a worker that could not start a thread under the limit ran out of memory; without a limit it crashed", () => {
    // The output of a WideResNet-28-10 audit's worker that aborted just past a 1.5 GiB limit.
    const tail = "terminate called after throwing an instance of 'std::system_error'\n  what():  Resource temporarily unavailable\n";
    const quiet = (): void => undefined;
    assert.equal(endedFailure(null, 'SIGABRT', tail, 1536 * MIB, quiet).code, 'MEMORY_LIMIT');
    assert.equal(endedFailure(null, 'SIGABRT', tail, 0, quiet).code, 'AUDIT_CRASHED');
    assert.equal(endedFailure(null, 'SIGSEGV', 'Segmentation fault', 1536 * MIB, quiet).code, 'AUDIT_CRASHED');
  });

  test('the estimate grows with the batch and with a twin s*s times its output', () => {
    const op = { node: 'down', inputShape: [16, 32, 32], outputShape: [32, 16, 16], strides: [2, 2] as const, kernel: [3, 3] as const };
    const small = estimateAuditMemory({ modelBytes: 1000, batch: 10, activationBytesPerImage: 100_000, ops: [op] });
    const large = estimateAuditMemory({ modelBytes: 1000, batch: 100, activationBytesPerImage: 100_000, ops: [op] });
    assert.ok(large.bytes - small.bytes > 90 * (100_000 + 32 * 32 * 32 * 4), 'per image: at least the values and one twin');
    const wide = estimateAuditMemory({ modelBytes: 1000, batch: 10, activationBytesPerImage: 100_000, ops: [{ ...op, strides: [8, 8] }] });
    assert.equal(wide.largestTwin?.bytes, small.largestTwin!.bytes * 16);
  });
});
