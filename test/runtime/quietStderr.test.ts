/**
 * Probing GPU providers prints nothing of ONNX Runtime's, Dawn's or Vulkan's: through the built
 * CLI (dist/, as a user runs it) and in a service audit worker. Where a Vulkan driver is
 * installed (Mesa's lavapipe, say), WebGPU's start-up is noisy, so these tests bite there.
 */
import assert from 'node:assert/strict';
import { execFile, fork } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { DEFAULT_AUDIT_OPTIONS } from '../../src/audit/options.js';
import type { AuditReport } from '../../src/audit/report.js';
import { probeProviders } from '../../src/runtime/providerProbe.js';
import { forkEntry } from '../../src/service/worker/entry.js';
import { samplesFile } from '../../src/service/worker/seal.js';
import type { WorkerMessage, WorkerRequest } from '../../src/service/worker/protocol.js';

const cli = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const model = fileURLToPath(new URL('../../models/preact_resnet_standard.onnx', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'alias-audit-quiet-'));

// Every node process started under NODE_OPTIONS with this module notes its argv: how a test sees
// which processes a CLI run started, without any hook in the code under test.
const processLog = join(dir, 'processes.log');
const noteProcess = join(dir, 'note-process.mjs');
writeFileSync(noteProcess, `import { appendFileSync } from 'node:fs';\nappendFileSync(${JSON.stringify(processLog)}, JSON.stringify(process.argv.slice(1)) + '\\n');\n`);

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  /** argv (less node) of every node process the run started, itself first. */
  processes: string[][];
}

function audit(args: string[]): Promise<Run> {
  writeFileSync(processLog, '');
  const env = { ...process.env, NODE_OPTIONS: `--import "${pathToFileURL(noteProcess).href}"` };
  const argv = [cli, 'audit', model, '--samples', '20', '--preprocess', 'none', '--quiet', ...args];
  return new Promise((resolve) => {
    execFile(process.execPath, argv, { env, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 99) : 0;
      const processes = readFileSync(processLog, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as string[]);
      resolve({ code, stdout, stderr, processes });
    });
  });
}

const isProbe = (argv: string[]): boolean => argv.some((a) => /providerProbeChild\.(js|ts)$/.test(a));
const foreignLines = (stderr: string): string[] => stderr.split('\n').filter((l) => l.trim() && !l.startsWith('alias-audit:'));

test('--ep auto: the CLI writes nothing to stderr, and the fallbacks carry the probe\'s reasons', async () => {
  const r = await audit(['--ep', 'auto']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(foreignLines(r.stderr), [], 'stderr carries only alias-audit lines');
  // started early by the audit, awaited by the session it opens: still one child
  assert.equal(r.processes.filter(isProbe).length, 1, `one probe child: ${JSON.stringify(r.processes)}`);
  const report = JSON.parse(r.stdout) as AuditReport;
  assert.equal(report.executionProvider.requested, 'auto');
  const probed = await probeProviders(['cuda', 'webgpu']);
  if (report.executionProvider.used !== 'cpu') return; // A GPU started: nothing fell back.
  assert.deepEqual(report.executionProvider.fallbacks.map((f) => f.provider), ['cuda', 'webgpu']);
  for (const f of report.executionProvider.fallbacks) {
    const outcome = probed.get(f.provider);
    assert.ok(outcome && !outcome.ok, `${f.provider} failed in the CLI's probe but started in this one`);
    // Each reason is the probe's, shortened: no ORT source location.
    assert.equal(f.error, outcome.reason);
    assert.doesNotMatch(f.error, /\.cc:\d+/);
  }
});

test('--ep webgpu: a provider asked for by name that does not start leaves at most alias-audit lines on stderr', async () => {
  const r = await audit(['--ep', 'webgpu']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(foreignLines(r.stderr), []);
  const probes = r.processes.filter(isProbe);
  assert.equal(probes.length, 1);
  // Only the provider asked for is probed.
  assert.deepEqual(probes[0].slice(probes[0].findIndex((a) => /providerProbeChild/.test(a)) + 1), ['webgpu']);
  const report = JSON.parse(r.stdout) as AuditReport;
  if (report.executionProvider.used === 'cpu') assert.deepEqual(report.executionProvider.fallbacks.map((f) => f.provider), ['webgpu']);
});

test('--ep cpu does not start the probe', async () => {
  const r = await audit(['--ep', 'cpu']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.ok(r.processes.length >= 1, 'the log sees the CLI itself, so it would see a probe');
  assert.equal(r.processes.filter(isProbe).length, 0, JSON.stringify(r.processes));
  const report = JSON.parse(r.stdout) as AuditReport;
  assert.deepEqual(report.executionProvider, { requested: 'cpu', used: 'cpu', fallbacks: [] });
});

test('a service audit worker with --ep auto writes nothing to its stderr', async () => {
  const { file, execArgv } = forkEntry('auditWorker');
  // The worker takes its model and samples as open descriptors 4 and 5, as the service hands them.
  const samples = samplesFile(undefined);
  assert.ok(samples, 'the CIFAR-10 cache is there');
  const fds = [openSync(model, 'r'), openSync(samples.path, 'r')];
  const child = fork(file, [], { execArgv, stdio: ['ignore', 'ignore', 'pipe', 'ipc', fds[0], fds[1]], serialization: 'json' });
  fds.forEach((fd) => closeSync(fd));
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    stderr += chunk;
  });
  const messages: WorkerMessage[] = [];
  child.on('message', (m: WorkerMessage) => messages.push(m));
  const closed = new Promise<void>((resolve) => child.on('close', () => resolve()));
  const request: WorkerRequest = {
    type: 'audit',
    modelFd: 4,
    options: { ...DEFAULT_AUDIT_OPTIONS, samples: 10, batch: 10, preprocess: 'none', ep: 'auto' },
    fetchData: false,
    samples: { fd: 5, source: samples.source },
    memory: { limitBytes: 0, preflight: false },
  };
  child.send(request);
  await closed;
  const answer = messages.find((m) => m.type === 'report' || m.type === 'error');
  assert.equal(answer?.type, 'report', JSON.stringify(answer));
  assert.equal(stderr, '');
  if (answer?.type === 'report' && answer.report.executionProvider.used === 'cpu') {
    assert.deepEqual(answer.report.executionProvider.fallbacks.map((f) => f.provider), ['cuda', 'webgpu']);
  }
});
