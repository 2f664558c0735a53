/**
 * Hygiene: every response and problem carries a correlation id; problems never show stack traces,
 * paths of this machine or a worker's raw output (the log has them); the structured log redacts
 * credentials; `--access-log` still means one line per request; a threshold gate with nothing
 * measured fails.
 */
import assert from 'node:assert/strict';
import { ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import express from 'express';
import { runAudit } from '../../src/audit/audit.js';
import { parseAuditOptions } from '../../src/audit/options.js';
import { jobFailureProblem, publicDetail, ServiceError } from '../../src/service/errors.js';
import { problemHandler } from '../../src/service/http/problem.js';
import { createServiceLogger, requestLogging } from '../../src/service/logging.js';
import { startService } from '../../src/service/server.js';
import { buildModel, syntheticDataset } from '../helpers/modelBuilder.js';
import { PROBLEM_JSON, testServiceConfig } from './helpers.js';

const KEY = 'hygiene-key-0123456789abcdef';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** What a problem must not show: a stack frame, or a path under this machine's usual roots. */
const STACK_FRAME = /\n\s*at\s|\bat .*:\d+:\d+/;

/** A pino destination that keeps the parsed log lines. */
function captureLog(): { lines: Record<string, unknown>[]; raw: string[]; stream: { write(chunk: string): void } } {
  const lines: Record<string, unknown>[] = [];
  const raw: string[] = [];
  return {
    lines,
    raw,
    stream: {
      write(chunk: string) {
        raw.push(chunk);
        for (const line of chunk.split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      },
    },
  };
}

function assertClean(detail: string): void {
  assert.doesNotMatch(detail, STACK_FRAME, detail);
  assert.ok(!detail.includes(process.cwd()), `the working directory shows: ${detail}`);
  assert.doesNotMatch(detail, /\/(home|root|tmp|usr|etc|work)\//, detail);
}

describe('correlation ids and the request log, over HTTP', () => {
  const log = captureLog();
  let dataDir: string;
  let svc: Awaited<ReturnType<typeof startService>>;
  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'alias-audit-hygiene-'));
    svc = await startService(testServiceConfig(dataDir, { apiKeys: [`team:${KEY}`], accessLog: true }), { logger: createServiceLogger(log.stream) });
  });
  after(async () => {
    await svc?.close(0);
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('every response has an X-Request-Id; a sane incoming one is kept, an odd one replaced', async () => {
    assert.match((await fetch(`${svc.url}/healthz`)).headers.get('x-request-id') ?? '', UUID);
    const kept = await fetch(`${svc.url}/healthz`, { headers: { 'x-request-id': 'trace-42.abc' } });
    assert.equal(kept.headers.get('x-request-id'), 'trace-42.abc');
    for (const odd of ['x'.repeat(200), 'has space', '<script>']) {
      assert.match((await fetch(`${svc.url}/healthz`, { headers: { 'x-request-id': odd } })).headers.get('x-request-id') ?? '', UUID, odd);
    }
  });

  test('a problem names its request id, the same as the header, and the log has it', async () => {
    const res = await fetch(`${svc.url}/no/such/thing`, { headers: { authorization: `Bearer ${KEY}`, 'x-request-id': 'find-me-1' } });
    assert.equal(res.status, 404);
    assert.ok((res.headers.get('content-type') ?? '').startsWith(PROBLEM_JSON));
    const problem = (await res.json()) as { requestId?: string; detail: string };
    assert.equal(problem.requestId, 'find-me-1');
    assertClean(problem.detail);
    const line = log.lines.find((l) => (l.req as { id?: string } | undefined)?.id === 'find-me-1');
    assert.ok(line, 'an access-log line for the request');
    assert.equal((line.res as { statusCode: number }).statusCode, 404);
    assert.equal(line.level, 40, '4xx is logged at warn');
  });

  test('Authorization and cookies are redacted in the log', async () => {
    const res = await fetch(`${svc.url}/audits`, { headers: { authorization: `Bearer ${KEY}`, cookie: 'alias_audit_session=secret-cookie-value', 'x-request-id': 'redact-me' } });
    assert.equal(res.status, 200);
    await new Promise((r) => setTimeout(r, 50));
    const line = log.lines.find((l) => (l.req as { id?: string } | undefined)?.id === 'redact-me');
    assert.ok(line, 'an access-log line for the request');
    const headers = (line.req as { headers: Record<string, string> }).headers;
    assert.equal(headers.authorization, '[redacted]');
    assert.equal(headers.cookie, '[redacted]');
    const all = log.raw.join('');
    assert.ok(!all.includes(KEY), 'the key appears nowhere in the log');
    assert.ok(!all.includes('secret-cookie-value'), 'the cookie appears nowhere in the log');
    assert.deepEqual(svc.responseViolations, []);
  });
});

test('without --access-log, requests leave no log line, but their ids still go out', async () => {
  const log = captureLog();
  const dataDir = mkdtempSync(join(tmpdir(), 'alias-audit-hygiene-'));
  const svc = await startService(testServiceConfig(dataDir, { accessLog: false }), { logger: createServiceLogger(log.stream) });
  try {
    const res = await fetch(`${svc.url}/audits`, { headers: { 'x-request-id': 'quiet-1' } });
    assert.equal(res.headers.get('x-request-id'), 'quiet-1');
    assert.equal(log.lines.filter((l) => l.req !== undefined).length, 0);
  } finally {
    await svc.close(0);
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('an unexpected error answers 500 with an id and no stack or path; the log has it whole', async () => {
  const log = captureLog();
  const logger = createServiceLogger(log.stream);
  const app = express();
  app.use(requestLogging(logger, false));
  const secret = join(process.cwd(), 'data', 'secret-file.bin');
  app.get('/boom', () => {
    throw new Error(`ENOENT: no such file, open '${secret}'`);
  });
  app.get('/thread', () => {
    throw new ServiceError('INTERNAL', 'checking the model failed: raw words of a thread');
  });
  app.use(problemHandler(logger));
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  try {
    const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/boom`);
    assert.equal(res.status, 500);
    const problem = (await res.json()) as { code: string; detail: string; requestId: string };
    assert.equal(problem.code, 'INTERNAL');
    assert.equal(res.headers.get('x-request-id'), problem.requestId);
    assertClean(problem.detail);
    assert.ok(!JSON.stringify(problem).includes('secret-file'), JSON.stringify(problem));
    const line = log.lines.find((l) => l.level === 50);
    assert.ok(line, 'an error line');
    assert.match(JSON.stringify(line), /secret-file\.bin/, 'the log keeps the message');
    assert.match((line.err as { stack: string }).stack, /\n\s+at /, 'and the stack');
    assert.equal((line.req as { id: string }).id, problem.requestId, 'under the request id');
    const thread = (await (await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/thread`)).json()) as { detail: string };
    assert.doesNotMatch(thread.detail, /raw words/, 'an internal problem of our own shows no raw message either');
    assert.match(JSON.stringify(log.lines.at(-1)), /raw words of a thread/);
  } finally {
    server.close();
  }
});

test("a worker's failure becomes a problem without its raw output or paths; the log gets the full text", () => {
  const logged: string[] = [];
  const log = (m: string): number => logged.push(m);
  const tail = `terminate called after throwing\n    at Ort::Session (/usr/lib/node_modules/onnxruntime/bin/napi.node:1:2)\nkey=${KEY}`;
  const crash = jobFailureProblem({ name: 'WorkerCrash', code: 'AUDIT_CRASHED', message: `the audit worker was killed by SIGSEGV before answering (the model may crash ONNX Runtime); its last output: ${tail}` }, log);
  assert.equal(crash.code, 'AUDIT_CRASHED');
  assert.match(crash.detail, /SIGSEGV/);
  assert.ok(!crash.detail.includes('terminate called') && !crash.detail.includes(KEY), crash.detail);
  assertClean(crash.detail);
  assert.match(logged.at(-1) ?? '', /terminate called/, 'the output is logged');

  const missing = jobFailureProblem({ name: 'ModelError', code: 'EXTERNAL_DATA', message: `external data file ${join(process.cwd(), 'weights.bin')} does not exist` }, log);
  assert.equal(missing.status, 422);
  assert.match(missing.detail, /external data file <path> does not exist/);

  const bug = jobFailureProblem({ name: 'TypeError', message: `Cannot read properties of undefined\n    at audit (${join(process.cwd(), 'dist', 'audit.js')}:10:5)` }, log);
  assert.equal(bug.code, 'INTERNAL');
  assertClean(bug.detail);
  assert.match(logged.at(-1) ?? '', /Cannot read properties/);

  // A message with nothing private passes unchanged, and is not logged again.
  const before = logged.length;
  const plain = jobFailureProblem({ name: 'ModelError', code: 'UNSUPPORTED_MODEL', message: 'node /layer1/conv/Conv has stride 1024, above the limit 64' }, log);
  assert.equal(plain.detail, 'node /layer1/conv/Conv has stride 1024, above the limit 64');
  assert.equal(logged.length, before);
  assert.equal(publicDetail('no resource at GET /runs/abc/checkpoints'), 'no resource at GET /runs/abc/checkpoints', 'URL paths stay');
});

describe('a threshold gate with nothing measured fails', () => {
  const flat = buildModel({ stem: { kernel: [3, 3], channels: 4 }, ops: [{ op: 'Conv', kernel: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1] }] });
  const strided = buildModel({ stem: { kernel: [3, 3], channels: 4 }, ops: [{ op: 'Conv', kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }] });
  const options = parseAuditOptions({ samples: '16', preprocess: 'none', maxAmRel: '0.99' });
  const dataset = syntheticDataset(16);

  test('--max-am-rel on a model without strided ops: passed false, with the reason', async () => {
    const report = await runAudit(flat.bytes, options, { dataset });
    assert.deepEqual(report.downsampling, []);
    const gate = report.thresholds?.maxAmRel;
    assert.equal(gate?.passed, false);
    assert.equal(gate?.worst, null);
    assert.match(gate?.reason ?? '', /no strided downsampling op/);
  });

  test('the same gate on a measured model passes under its limit', async () => {
    const report = await runAudit(strided.bytes, options, { dataset });
    const gate = report.thresholds?.maxAmRel;
    assert.equal(report.downsampling.length, 1);
    assert.equal(gate?.passed, true, JSON.stringify(gate));
    assert.equal(gate?.reason, undefined);
  });

  test('the CLI exits 1 with one line saying why', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'alias-audit-gate-'));
    try {
      const model = join(dir, 'flat.onnx');
      writeFileSync(model, flat.bytes);
      const cli = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
      const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        execFile(process.execPath, [cli, 'audit', model, '--samples', '8', '--preprocess', 'none', '--max-am-rel', '0.5', '--quiet'], { maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
          resolve({ code: err ? (typeof err.code === 'number' ? err.code : 99) : 0, stdout, stderr });
        });
      });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /--max-am-rel 0\.5 fails: the model has no strided downsampling op/);
      const report = JSON.parse(r.stdout) as { thresholds: { maxAmRel: { passed: boolean } } };
      assert.equal(report.thresholds.maxAmRel.passed, false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('alias-audit serve: --access-log writes JSON lines after the "listening on" line', () => {
  let child: ChildProcess | undefined;
  const dataDir = mkdtempSync(join(tmpdir(), 'alias-audit-hygiene-serve-'));
  after(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child!.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('one redacted line per request on stdout', async () => {
    const cli = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
    child = spawn(process.execPath, [cli, 'serve', '--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir, '--fetch-data', 'false', '--api-keys', `team:${KEY}`, '--access-log', 'true'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    const until = Date.now() + 30_000;
    let url: string | undefined;
    while (!(url = /listening on (http:\/\/[\d.]+:\d+)/.exec(out)?.[1])) {
      if (Date.now() > until || child.exitCode !== null) throw new Error(`serve did not start: ${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal((await fetch(`${url}/audits`, { headers: { authorization: `Bearer ${KEY}`, 'x-request-id': 'cli-line' } })).status, 200);
    let line: { req?: { id?: string; headers?: Record<string, string> }; res?: { statusCode?: number } } | undefined;
    while (!line) {
      line = out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as typeof line)
        .find((l) => l?.req?.id === 'cli-line');
      if (!line && Date.now() > until) throw new Error(`no access-log line: ${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(line.res?.statusCode, 200);
    assert.equal(line.req?.headers?.authorization, '[redacted]');
    assert.ok(!out.includes(KEY));
  });
});
