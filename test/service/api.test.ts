/**
 * The service over real HTTP on an ephemeral port: upload, poll, report (equal to the CLI's),
 * cache, wait, events, paging, delete, and the problem+json answers to bad requests. Every
 * response is checked against openapi.yaml as it is sent (validateResponses).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { externalDataModel, vectorModel } from '../cli/fixtures.js';
import { bundledModel, bundledModelPath, FGSM, STANDARD } from '../helpers/models.js';
import { JobDoc, pollJob, problemOf, readEvents, startTestService, TestService, upload } from './helpers.js';

const cli = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

/** The report's measured content: everything but timings (and the provider's fallback notes). */
function measured(report: Record<string, unknown>): Record<string, unknown> {
  const { timings: _t, executionProvider: _e, ...rest } = report;
  return rest;
}

describe('audit service over HTTP', () => {
  let svc: TestService;
  let base: string;
  let firstId: string;

  before(async () => {
    svc = await startTestService();
    base = svc.url;
    await svc.readiness.check();
  });

  after(async () => {
    await svc?.stop();
  });

  test('upload answers 202 with id, status, links and Location; polling ends with the report the CLI prints', async () => {
    const res = await upload(base, { model: bundledModel(STANDARD), filename: STANDARD, fields: { samples: '30', preprocess: 'none' } });
    assert.equal(res.status, 202);
    const body = (await res.json()) as { id: string; status: string; cached: boolean; links: { self: string; events: string; report: string } };
    assert.match(body.id, /^[0-9a-f-]{36}$/);
    assert.ok(['queued', 'running'].includes(body.status), body.status);
    assert.equal(body.cached, false);
    assert.equal(res.headers.get('location'), `/audits/${body.id}`);
    assert.deepEqual(body.links, { self: `/audits/${body.id}`, events: `/audits/${body.id}/events`, report: `/audits/${body.id}/report` });
    firstId = body.id;

    const job = await pollJob(base, body.id);
    assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
    assert.equal(job.progress.percent, 100);
    assert.equal(job.attempts, 1);
    assert.ok(job.report);

    const { stdout } = await promisify(execFile)(process.execPath, [cli, 'audit', bundledModelPath(STANDARD), '--samples', '30', '--preprocess', 'none', '--quiet'], { maxBuffer: 64 << 20 });
    const fromCli = JSON.parse(stdout) as Record<string, unknown>;
    assert.deepEqual(measured(job.report), measured(fromCli));

    const alone = await fetch(`${base}/audits/${body.id}/report`);
    assert.equal(alone.status, 200);
    assert.deepEqual(await alone.json(), job.report);
  });

  test('the same model and options answer from the stored report; force runs a new audit', async () => {
    const again = await upload(base, { model: bundledModel(STANDARD), fields: { preprocess: 'none', samples: '30' } });
    assert.equal(again.status, 200);
    const cached = (await again.json()) as { id: string; status: string; cached: boolean };
    assert.deepEqual([cached.id, cached.status, cached.cached], [firstId, 'succeeded', true]);

    // Spelling the default out is the same options.
    const explicit = await upload(base, { model: bundledModel(STANDARD), fields: { preprocess: 'none', samples: '30', batch: '50', ep: 'auto' } });
    assert.equal(((await explicit.json()) as { id: string }).id, firstId);

    const forced = await upload(base, { model: bundledModel(STANDARD), fields: { preprocess: 'none', samples: '30' }, query: 'force=true' });
    assert.equal(forced.status, 202);
    const forcedId = ((await forced.json()) as { id: string }).id;
    assert.notEqual(forcedId, firstId);
    assert.equal((await pollJob(base, forcedId)).status, 'succeeded');

    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(metrics, /alias_audit_audits_total\{outcome="cached",code=""\} 2/);
    assert.match(metrics, /alias_audit_audits_total\{outcome="succeeded",code=""\} 2/);
    assert.match(metrics, /alias_audit_queue_jobs\{state="waiting"\} 0/);
  });

  test('?wait=true answers the finished report, with Location naming the job', async () => {
    const res = await upload(base, { model: bundledModel(STANDARD), fields: { preprocess: 'none', samples: '20' }, query: 'wait=true&timeout=120' });
    assert.equal(res.status, 200);
    const report = (await res.json()) as { dataset: { samples: number }; downsampling: unknown[] };
    assert.equal(report.dataset.samples, 20);
    assert.ok(Array.isArray(report.downsampling));
    assert.match(res.headers.get('location') ?? '', /^\/audits\/[0-9a-f-]{36}$/);
  });

  test('events: status, progress in order, then done; a queued job shows its progress while it runs', async () => {
    // A first audit occupies the one worker, so the second is still queued when its stream opens.
    const blocker = await upload(base, { model: bundledModel(FGSM), fields: { preprocess: 'none', samples: '600' } });
    const blockerId = ((await blocker.json()) as { id: string }).id;
    const res = await upload(base, { model: bundledModel(FGSM), fields: { preprocess: 'none', samples: '200', batch: '1' } });
    const id = ((await res.json()) as { id: string }).id;

    const queued = (await (await fetch(`${base}/audits/${id}/report`)).json()) as { code: string; status: number };
    assert.deepEqual([queued.status, queued.code], [409, 'AUDIT_NOT_FINISHED']);

    const { status, contentType, events } = await readEvents(`${base}/audits/${id}/events`);
    assert.equal(status, 200);
    assert.match(contentType, /^text\/event-stream/);
    assert.equal(events[0].event, 'status');
    assert.equal(events.at(-1)!.event, 'done');
    assert.equal((events.at(-1)!.data as { status: string }).status, 'succeeded');
    assert.deepEqual(events.map((e) => Number(e.id)), events.map((_, i) => i + 1), 'ids count up from 1');
    const progress = events.filter((e) => e.event === 'progress').map((e) => e.data as { percent: number; stage: string });
    assert.ok(progress.length >= 2, `progress events: ${JSON.stringify(events)}`);
    for (let i = 1; i < progress.length; i++) assert.ok(progress[i].percent >= progress[i - 1].percent, `percent goes down: ${JSON.stringify(progress)}`);
    assert.ok(progress.some((p) => p.stage === 'measuring'));
    const statuses = events.filter((e) => e.event === 'status').map((e) => (e.data as { status: string }).status);
    assert.ok(statuses.includes('running'), `status events: ${statuses.join(', ')}`);
    assert.equal((await pollJob(base, blockerId)).status, 'succeeded');

    // A finished job's stream is its state and done.
    const done = await readEvents(`${base}/audits/${id}/events`);
    assert.deepEqual(done.events.map((e) => e.event), ['status', 'done']);
  });

  test('GET /audits pages newest first with a cursor, and filters', async () => {
    const all = (await (await fetch(`${base}/audits?limit=100`)).json()) as { items: JobDoc[]; next: string | null };
    assert.ok(all.items.length >= 4);
    assert.equal(all.next, null);
    const ids: string[] = [];
    let url = `${base}/audits?limit=2`;
    for (;;) {
      const page = (await (await fetch(url)).json()) as { items: JobDoc[]; next: string | null };
      assert.ok(page.items.length <= 2);
      ids.push(...page.items.map((j) => j.id));
      if (!page.next) break;
      url = `${base}/audits?limit=2&cursor=${encodeURIComponent(page.next)}`;
    }
    assert.deepEqual(ids, all.items.map((j) => j.id));
    assert.equal(ids.at(-1), firstId, 'oldest last');
    const sha = (all.items[0].model as { sha256: string }).sha256;
    const filtered = (await (await fetch(`${base}/audits?status=succeeded&sha256=${sha}`)).json()) as { items: JobDoc[] };
    assert.ok(filtered.items.length >= 1 && filtered.items.every((j) => j.status === 'succeeded'));
  });

  test('DELETE stops and removes a job; then it is 404', async () => {
    const res = await upload(base, { model: bundledModel(FGSM), fields: { preprocess: 'none', samples: '3000' }, query: 'force=true' });
    const id = ((await res.json()) as { id: string }).id;
    await pollJob(base, id, ['running']);
    const del = await fetch(`${base}/audits/${id}`, { method: 'DELETE' });
    assert.equal(del.status, 204);
    assert.equal((await fetch(`${base}/audits/${id}`)).status, 404);
    const again = await problemOf(await fetch(`${base}/audits/${id}`, { method: 'DELETE' }));
    assert.deepEqual([again.status, again.code], [404, 'NOT_FOUND']);
    // The worker is gone: the next audit runs at once.
    const next = await upload(base, { model: bundledModel(STANDARD), fields: { preprocess: 'none', samples: '10' }, query: 'wait=true' });
    assert.equal(next.status, 200);
  });

  const badRequests: [string, () => Promise<Response>, number, string][] = [
    ['a JSON body', () => fetch(`${base}/audit`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }), 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['a raw octet-stream body', () => fetch(`${base}/audit`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: bundledModel(STANDARD) }), 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['no model field', () => upload(base, { fields: { samples: '10' } }), 400, 'VALIDATION_FAILED'],
    ['two files', () => { const f = new FormData(); f.set('model', new Blob([bundledModel(STANDARD)])); f.set('extra', new Blob([bundledModel(STANDARD)])); return fetch(`${base}/audit`, { method: 'POST', body: f }); }, 400, 'UNEXPECTED_FILE'],
    ['the model as a text field', () => upload(base, { fields: { model: 'abc' } }), 400, 'MODEL_MISSING'],
    ['an out-of-range option', () => upload(base, { model: bundledModel(STANDARD), fields: { samples: '0' } }), 400, 'INVALID_OPTION'],
    ['mean without std', () => upload(base, { model: bundledModel(STANDARD), fields: { mean: '0.5,0.5,0.5' } }), 400, 'INVALID_OPTION'],
    ['a bad mean', () => upload(base, { model: bundledModel(STANDARD), fields: { mean: 'a,b', std: '1,1,1' } }), 400, 'INVALID_OPTION'],
    ['a value outside the spec', () => upload(base, { model: bundledModel(STANDARD), fields: { preprocess: 'whiten' } }), 400, 'VALIDATION_FAILED'],
    ['a server-only option', () => upload(base, { model: bundledModel(STANDARD), fields: { cifar10Dir: '/etc' } }), 400, 'VALIDATION_FAILED'],
    ['a bad query parameter', () => upload(base, { model: bundledModel(STANDARD), query: 'wait=maybe' }), 400, 'VALIDATION_FAILED'],
    ['an empty file', () => upload(base, { model: new Uint8Array(0) }), 422, 'EMPTY_FILE'],
    ['a text file', () => upload(base, { model: 'This is a README, not a model.\n', filename: 'README.md' }), 422, 'NOT_ONNX'],
    ['a truncated model', () => upload(base, { model: bundledModel(STANDARD).subarray(0, 5000) }), 422, 'TRUNCATED'],
    ['a model with external data', () => upload(base, { model: externalDataModel() }), 422, 'EXTERNAL_DATA'],
    ['a non-image model', () => upload(base, { model: vectorModel() }), 422, 'NO_IMAGE_INPUT'],
    ['an unknown job', () => fetch(`${base}/audits/00000000-0000-4000-8000-000000000000`), 404, 'NOT_FOUND'],
    ['a job id that is not a uuid', () => fetch(`${base}/audits/nope`), 400, 'VALIDATION_FAILED'],
    ['an unknown path', () => fetch(`${base}/nowhere`), 404, 'NOT_FOUND'],
    ['a method the path lacks', () => fetch(`${base}/audits`, { method: 'PUT' }), 405, 'METHOD_NOT_ALLOWED'],
  ];
  for (const [what, send, status, code] of badRequests) {
    test(`${what} is ${status} ${code} as problem+json`, async () => {
      const res = await send();
      assert.equal(res.status, status);
      const p = await problemOf(res);
      assert.equal(p.status, status);
      assert.equal(p.code, code);
      assert.equal(p.type, `urn:alias-audit:problem:${code.toLowerCase().replace(/_/g, '-')}`);
      assert.ok(p.title.length > 0 && p.detail.length > 0);
      assert.ok(p.instance?.startsWith('/'));
    });
  }

  test('health, readiness, metrics and docs answer; security headers are set', async () => {
    const health = await fetch(`${base}/healthz`);
    assert.equal(health.status, 200);
    assert.equal(((await health.json()) as { status: string }).status, 'ok');
    assert.equal(health.headers.get('x-content-type-options'), 'nosniff');
    assert.ok(health.headers.get('content-security-policy'));
    const ready = (await (await fetch(`${base}/readyz`)).json()) as { status: string; checks: { runtime: { status: string }; samples: { status: string } } };
    assert.equal(ready.status, 'ready');
    assert.equal(ready.checks.samples.status, 'ok');
    const metrics = await fetch(`${base}/metrics`);
    assert.match(metrics.headers.get('content-type') ?? '', /^text\/plain/);
    assert.match(await metrics.text(), /alias_audit_audit_duration_seconds_bucket/);
    const ui = await fetch(`${base}/docs/`);
    assert.equal(ui.status, 200);
    assert.match(await ui.text(), /swagger-ui/);
    assert.equal((await fetch(`${base}/docs/swagger-ui-init.js`)).status, 200);
    const yaml = await fetch(`${base}/openapi.yaml`);
    assert.match(await yaml.text(), /^openapi: 3\.0/);
  });

  test('no response broke its schema in openapi.yaml', () => {
    assert.deepEqual(svc.responseViolations, []);
  });
});
