/**
 * The client of `audit --server` (src/cli/remote.ts) against a real service started in this
 * process with API keys: the remote report equals a local audit's, progress arrives, and the
 * service's refusals (a bad model, a bad option, a wrong key) and an unreachable server become
 * the errors the CLI maps to its exit codes.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { parse } from 'yaml';
import { runAudit } from '../../src/audit/audit.js';
import { evaluateGates } from '../../src/audit/baseline.js';
import { parseAuditOptions } from '../../src/audit/options.js';
import type { AuditReport } from '../../src/audit/report.js';
import { classify, EXIT_BAD_INPUT, EXIT_INTERNAL, UsageError } from '../../src/cli/errors.js';
import { API_KEY_ENV, RemoteError, remoteFields, RemoteProgress, RemoteUnavailableError, runRemoteAudit } from '../../src/cli/remote.js';
import { InvalidOptionError } from '../../src/data/preprocess.js';
import { ModelError } from '../../src/onnx/codec.js';
import { freePort } from '../helpers/servers.js';
import { bundledModel, STANDARD } from '../helpers/models.js';
import { startTestService, TestService } from '../service/helpers.js';
import { modelPath, runCli } from './cli.js';

const KEY = 'ci-remote-key-0123456789abcdef';
const WRONG_KEY = 'not-the-key-0123456789abcdef';

/**
 * The report's measured content: everything but timings and the provider (the server's), with
 * the gates in the form the CLI prints them (evaluateGates adds value and verdict; a service
 * that has done so already gives the same).
 */
function measured(report: AuditReport): Record<string, unknown> {
  const { timings: _t, executionProvider: _e, ...rest } = report;
  const thresholds = evaluateGates(report, {});
  return { ...rest, ...(thresholds ? { thresholds } : {}) };
}

describe('runRemoteAudit against a service with API keys', () => {
  let svc: TestService;

  before(async () => {
    svc = await startTestService({ apiKeys: [`ci:${KEY}`] });
    await svc.readiness.check();
  });

  after(async () => {
    await svc?.stop();
  });

  test('the remote report equals a local runAudit report on the same options; progress arrives up to 1', async () => {
    const values = { samples: '30', preprocess: 'none', maxAmRel: '0.9', quiet: true, out: 'report.json' };
    const fields = remoteFields(values);
    assert.deepEqual(fields, { samples: '30', preprocess: 'none', maxAmRel: '0.9' });
    const seen: RemoteProgress[] = [];
    const remote = await runRemoteAudit({ server: svc.url, apiKey: KEY, model: bundledModel(STANDARD), modelName: STANDARD, fields, onProgress: (p) => seen.push(p) });
    const local = await runAudit(bundledModel(STANDARD), parseAuditOptions(fields));
    assert.deepEqual(measured(remote), measured(local));
    assert.ok(remote.thresholds?.maxAmRel, 'the gate the service takes is in the report');
    assert.ok(seen.length >= 2, JSON.stringify(seen));
    assert.equal(seen.at(-1)!.fraction, 1);
    assert.ok(seen.every((p) => p.fraction >= 0 && p.fraction <= 1 && typeof p.message === 'string'));

    // The same model and options again: the service answers with its stored audit.
    const again = await runRemoteAudit({ server: `${svc.url}/`, apiKey: KEY, model: bundledModel(STANDARD), modelName: STANDARD, fields });
    assert.deepEqual(again, remote);
  });

  test('behind a proxy at a path prefix that breaks event streams: the client polls and gets the same report', async () => {
    // Forwards /alias/* to the service without the prefix, except event streams (502, as a buffering proxy may).
    let eventsAsked = 0;
    const proxy = createServer((req, res) => {
      const path = (req.url ?? '').replace(/^\/alias(?=\/)/, '');
      if (!req.url?.startsWith('/alias/')) return void res.writeHead(404).end();
      if (path.endsWith('/events')) {
        eventsAsked++;
        return void res.writeHead(502, { 'content-type': 'text/html' }).end('<h1>Bad gateway</h1>');
      }
      const upstream = request(`${svc.url}${path}`, { method: req.method, headers: req.headers }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      req.pipe(upstream);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    try {
      const { port } = proxy.address() as AddressInfo;
      const fields = { samples: '25', preprocess: 'none' };
      const seen: RemoteProgress[] = [];
      const viaProxy = await runRemoteAudit({ server: `http://127.0.0.1:${port}/alias`, apiKey: KEY, model: bundledModel(STANDARD), modelName: STANDARD, fields, force: true, onProgress: (p) => seen.push(p) });
      const direct = await runRemoteAudit({ server: svc.url, apiKey: KEY, model: bundledModel(STANDARD), modelName: STANDARD, fields });
      assert.deepEqual(measured(viaProxy), measured(direct));
      assert.ok(eventsAsked >= 1 && eventsAsked <= 3, `${eventsAsked} event streams asked for`);
      assert.equal(seen.at(-1)!.fraction, 1);
    } finally {
      proxy.closeAllConnections();
      await new Promise<void>((r) => proxy.close(() => r()));
    }
  });

  test('aborting stops waiting and deletes the job this call started', async () => {
    const controller = new AbortController();
    const run = runRemoteAudit({
      server: svc.url,
      apiKey: KEY,
      model: bundledModel(STANDARD),
      modelName: STANDARD,
      fields: { samples: '400', preprocess: 'none' },
      force: true,
      signal: controller.signal,
      onProgress: (p) => {
        if (p.message !== '' && !p.message.startsWith('uploading')) controller.abort();
      },
    });
    await assert.rejects(run, (e: unknown) => e instanceof Error && e.name === 'AbortError');
    const list = (await (await fetch(`${svc.url}/audits?limit=100`, { headers: { authorization: `Bearer ${KEY}` } })).json()) as { items: { options: { samples: number } }[] };
    assert.ok(!list.items.some((j) => j.options.samples === 400), JSON.stringify(list.items.map((j) => j.options)));
  });

  test('a file that is not a model: ModelError (exit 2), with the service\'s words', async () => {
    const err = await runRemoteAudit({ server: svc.url, apiKey: KEY, model: new TextEncoder().encode('this is not an onnx model'), modelName: 'junk.onnx', fields: {} }).then(
      () => assert.fail('resolved'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof ModelError, String(err));
    assert.match(err.code, /^(NOT_ONNX|TRUNCATED)$/);
    assert.equal(classify(err).code, EXIT_BAD_INPUT);
  });

  test('an option the service refuses: InvalidOptionError (exit 2)', async () => {
    const err = await runRemoteAudit({ server: svc.url, apiKey: KEY, model: bundledModel(STANDARD), modelName: STANDARD, fields: { samples: '0', preprocess: 'none' } }).then(
      () => assert.fail('resolved'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof InvalidOptionError, String(err));
    assert.match(err.message, /samples/);
    assert.equal(classify(err).code, EXIT_BAD_INPUT);
  });

  test('a wrong API key, or none: RemoteError 401 naming the variable to set (exit 2)', async () => {
    for (const apiKey of [WRONG_KEY, undefined]) {
      const err = await runRemoteAudit({ server: svc.url, apiKey, model: bundledModel(STANDARD), modelName: STANDARD, fields: { samples: '10' } }).then(
        () => assert.fail('resolved'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof RemoteError, String(err));
      assert.equal(err.status, 401);
      assert.equal(err.code, 'UNAUTHORIZED');
      assert.match(err.message, new RegExp(`refused the API key .*${API_KEY_ENV}`));
      assert.ok(!err.message.includes(WRONG_KEY), 'the key is never shown');
      assert.equal(classify(err).code, EXIT_BAD_INPUT);
    }
  });

  test('alias-audit audit --server: the same report and gates as a local audit, JUnit written, exit 1 on a failed gate', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aa-remote-cli-'));
    try {
      const env = { ...process.env, [API_KEY_ENV]: KEY };
      const args = ['audit', modelPath(STANDARD), '--samples', '30', '--preprocess', 'none', '--quiet'];
      const remote = await runCli([...args, '--server', svc.url, '--max-am-rel', '0.01', '--junit', join(dir, 'junit.xml')], env);
      assert.equal(remote.code, 1, remote.stderr);
      assert.match(remote.stderr, /exceeds --max-am-rel 0\.01/);
      const local = await runCli([...args, '--max-am-rel', '0.01']);
      assert.equal(local.code, 1, local.stderr);
      assert.deepEqual(measured(JSON.parse(remote.stdout) as AuditReport), measured(JSON.parse(local.stdout) as AuditReport));
      assert.match(readFileSync(join(dir, 'junit.xml'), 'utf8'), /<testsuites[^>]*failures="[1-9]/);
      // a baseline report compared on the CLI side, after the remote audit
      const base = join(dir, 'base.json');
      writeFileSync(base, local.stdout);
      const compared = await runCli([...args, '--server', svc.url, '--baseline', base, '--max-am-rel-increase', '0'], env);
      assert.equal(compared.code, 0, compared.stderr);
      const report = JSON.parse(compared.stdout) as AuditReport;
      assert.equal(report.baseline?.sameOptions, true);
      assert.equal(report.thresholds?.maxAmRelIncrease?.verdict, 'pass');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('alias-audit audit --server with a wrong key exits 2; an unreachable service exits 3, with its own words', async () => {
    const args = ['audit', modelPath(STANDARD), '--samples', '10', '--quiet'];
    const wrong = await runCli([...args, '--server', svc.url], { ...process.env, [API_KEY_ENV]: WRONG_KEY });
    assert.equal(wrong.code, 2, wrong.stderr);
    assert.match(wrong.stderr, new RegExp(API_KEY_ENV));
    assert.ok(!wrong.stderr.includes(WRONG_KEY));
    const port = await freePort();
    const away = await runCli([...args, '--server', `http://127.0.0.1:${port}`], { ...process.env, [API_KEY_ENV]: KEY });
    assert.equal(away.code, 3, away.stderr);
    assert.match(away.stderr, /^alias-audit: cannot reach the audit service/m);
    assert.doesNotMatch(away.stderr, /internal error/);
  });
});

describe('runRemoteAudit without a service', () => {
  test('an unreachable server: RemoteUnavailableError saying so (exit 3)', async () => {
    const port = await freePort();
    const err = await runRemoteAudit({ server: `http://127.0.0.1:${port}`, apiKey: KEY, model: bundledModel(STANDARD), modelName: STANDARD, fields: {} }).then(
      () => assert.fail('resolved'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof RemoteUnavailableError, String(err));
    assert.match(err.message, new RegExp(`cannot reach the audit service at http://127\\.0\\.0\\.1:${port}/ \\(ECONNREFUSED\\)`));
    assert.equal(err.exitCode, EXIT_INTERNAL);
  });

  test('a --server that is not an http(s) URL, or carries credentials: UsageError', async () => {
    for (const server of ['audit.example.com', 'ftp://audit.example.com', 'https://user:secret@audit.example.com']) {
      await assert.rejects(runRemoteAudit({ server, model: new Uint8Array(1), modelName: 'm.onnx', fields: {} }), (e: unknown) => e instanceof UsageError && /--server/.test(e.message));
    }
  });
});

describe('remoteFields', () => {
  const form = (parse(readFileSync(new URL('../../openapi.yaml', import.meta.url), 'utf8')) as { components: { schemas: { AuditForm: { properties: Record<string, unknown> } } } }).components.schemas
    .AuditForm;
  const formFields = Object.keys(form.properties).filter((k) => k !== 'model' && k !== 'force');

  test('every field it sends is one of the service\'s AuditForm fields; the CLI\'s outputs and baseline stay local', () => {
    const values: Record<string, unknown> = {
      samples: '100', batch: '25', preprocess: 'cifar10', scale: '1', layout: 'NCHW', ep: 'cpu', maxAmRel: '0.5',
      robustness: 'fast', eps: '8/255', seed: '3', attackSamples: '10', attacks: 'fgsm,pgd', pgdSteps: '5', pgdRestarts: '1', pgdStepSize: '2/255', squareQueries: '10',
      apgdIterations: '5', apgdRestarts: '1', apgdTargets: '3', minRobustAccuracy: '0.1',
      out: 'r.json', html: 'r.html', junit: 'j.xml', summary: 's.md', quiet: true, baseline: 'b.json', maxAmRelIncrease: '0.05', maxAccuracyDrop: '0.01', allowOptionMismatch: true,
    };
    const fields = remoteFields(values);
    for (const key of Object.keys(fields)) assert.ok(formFields.includes(key), `${key} is not a field of POST /audit`);
    for (const key of ['out', 'html', 'junit', 'summary', 'quiet', 'baseline', 'maxAmRelIncrease', 'maxAccuracyDrop', 'allowOptionMismatch']) assert.ok(!(key in fields), key);
    assert.equal(fields.eps, '8/255');
    assert.equal(Object.keys(fields).length, 20);
  });

  test('refuses --cifar10-dir (a folder of this machine) and bad values before any upload', () => {
    assert.throws(() => remoteFields({ cifar10Dir: 'data' }), (e: unknown) => e instanceof UsageError && /--cifar10-dir .*--server/.test(e.message));
    assert.throws(() => remoteFields({ samples: 'many' }), InvalidOptionError);
    assert.throws(() => remoteFields({ robustness: 'none', eps: '8/255' }), InvalidOptionError);
  });
});
