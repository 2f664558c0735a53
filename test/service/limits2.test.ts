/**
 * Bounded resources over real HTTP: caps on uploads in flight, `?wait=true` requests and open
 * event streams, per tenant (429) and for the whole service (503), both with Retry-After; rate
 * limits keyed on the route as express routes it (`/AUDIT`, `/audit/`) and on the tenant.
 */
import assert from 'node:assert/strict';
import { ClientRequest, request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import type { InFlightKind } from '../../src/service/http/inFlight.js';
import { bundledModel, FGSM, STANDARD } from '../helpers/models.js';
import { pollJob, problemOf, startTestService, TestService, upload } from './helpers.js';

const KEYS = { alpha: 'alpha-key-0123456789abcdef', beta: 'beta-key-0123456789abcdef', gamma: 'gamma-key-0123456789abcdef' };
type Tenant = keyof typeof KEYS;
const apiKeys = Object.entries(KEYS).map(([tenant, key]) => `${tenant}:${key}`);
const auth = (tenant: Tenant): Record<string, string> => ({ authorization: `Bearer ${KEYS[tenant]}` });

/** Waits until the server counts `n` requests of `kind` in flight. */
async function inFlight(svc: TestService, kind: InFlightKind, n: number): Promise<void> {
  const until = Date.now() + 10_000;
  while (svc.inFlight[kind].inFlight !== n) {
    if (Date.now() > until) throw new Error(`${kind}: ${svc.inFlight[kind].inFlight} in flight, expected ${n}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * An upload whose body never finishes: it holds its slots until it is destroyed. The body is a
 * real multipart part (the model's first bytes), as a slow client would send it.
 */
function slowUpload(base: string, path: string, headers: Record<string, string>): ClientRequest {
  const boundary = 'slow-upload-boundary';
  const head = `--${boundary}\r\nContent-Disposition: form-data; name="model"; filename="m.onnx"\r\nContent-Type: application/octet-stream\r\n\r\n`;
  const req = request(`${base}${path}`, {
    method: 'POST',
    headers: { ...headers, 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': String(10_000_000) },
  });
  req.on('error', () => {}); // destroyed by the test
  req.write(head);
  req.write(bundledModel(STANDARD).subarray(0, 4096));
  return req;
}

/** Asserts a refusal with Retry-After; returns the problem's detail. */
async function refused(res: Response, status: number, code: string): Promise<string> {
  assert.equal(res.status, status);
  assert.ok(Number(res.headers.get('retry-after')) > 0, `Retry-After on ${status}`);
  const problem = await problemOf(res);
  assert.equal(problem.code, code);
  return problem.detail;
}

describe('caps on uploads and ?wait=true requests in flight', () => {
  let svc: TestService;
  before(async () => {
    svc = await startTestService({
      apiKeys,
      inFlight: { uploadChecks: { global: 2, perTenant: 1 }, waitRequests: { global: 2, perTenant: 1 }, eventStreams: { global: 0, perTenant: 0 } },
    });
  });
  after(async () => {
    await svc?.stop();
  });

  test('a tenant past its upload cap gets 429, anyone past the global cap 503; a slot comes back when its upload ends', async () => {
    const alpha = slowUpload(svc.url, '/audit', auth('alpha'));
    await inFlight(svc, 'uploadChecks', 1);
    await refused(await upload(svc.url, { model: bundledModel(STANDARD), headers: auth('alpha') }), 429, 'TOO_MANY_IN_FLIGHT');
    // The route as express also routes it: the same cap.
    await refused(await fetch(`${svc.url}/AUDIT/`, { method: 'POST', body: new FormData(), headers: auth('alpha') }), 429, 'TOO_MANY_IN_FLIGHT');
    const beta = slowUpload(svc.url, '/audit', auth('beta'));
    await inFlight(svc, 'uploadChecks', 2);
    await refused(await upload(svc.url, { model: bundledModel(STANDARD), headers: auth('gamma') }), 503, 'SERVICE_BUSY');
    alpha.destroy();
    await inFlight(svc, 'uploadChecks', 1);
    // gamma's slot is free again: its (incomplete) upload is checked and refused on its merits.
    const gamma = await upload(svc.url, { model: bundledModel(STANDARD).subarray(0, 100), headers: auth('gamma') });
    assert.equal(gamma.status, 422);
    beta.destroy();
    await inFlight(svc, 'uploadChecks', 0);
    assert.deepEqual(svc.responseViolations, []);
  });

  test('?wait=true requests are capped the same way, and only they count as waits', async () => {
    const alpha = slowUpload(svc.url, '/audit?wait=true', auth('alpha'));
    await inFlight(svc, 'waitRequests', 1);
    assert.equal(svc.inFlight.uploadChecks.inFlight, 1, 'a waiting upload holds an upload slot too, until it is checked');
    const runs = await fetch(`${svc.url}/runs`, { method: 'POST', headers: { ...auth('alpha'), 'content-type': 'application/json' }, body: JSON.stringify({ name: 'r' }) });
    assert.equal(runs.status, 201);
    const runId = ((await runs.json()) as { id: string }).id;
    const form = new FormData();
    form.set('epoch', '1');
    assert.match(await refused(await fetch(`${svc.url}/runs/${runId}/checkpoints?wait=true`, { method: 'POST', body: form, headers: auth('alpha') }), 429, 'TOO_MANY_IN_FLIGHT'), /wait=true/);
    const beta = slowUpload(svc.url, '/audit?wait=true', auth('beta'));
    await inFlight(svc, 'waitRequests', 2);
    assert.match(await refused(await upload(svc.url, { model: bundledModel(STANDARD), query: 'wait=true', headers: auth('gamma') }), 503, 'SERVICE_BUSY'), /wait=true/);
    alpha.destroy();
    beta.destroy();
    await inFlight(svc, 'waitRequests', 0);
    await inFlight(svc, 'uploadChecks', 0);
    assert.deepEqual(svc.responseViolations, []);
  });
});

describe('caps on open event streams', () => {
  let svc: TestService;
  before(async () => {
    svc = await startTestService({ apiKeys, inFlight: { eventStreams: { global: 3, perTenant: 2 }, waitRequests: { global: 0, perTenant: 0 }, uploadChecks: { global: 0, perTenant: 0 } } });
  });
  after(async () => {
    await svc?.stop();
  });

  test('a tenant past its stream cap gets 429, anyone past the global cap 503; a closed stream frees its slot', async () => {
    // A long audit keeps alpha's job running and beta's queued: their streams stay open.
    const long = await upload(svc.url, { model: bundledModel(FGSM), fields: { preprocess: 'none', samples: '10000', batch: '1' }, headers: auth('alpha') });
    const alphaJob = ((await long.json()) as { id: string }).id;
    await pollJob(svc.url, alphaJob, ['running'], 60_000, auth('alpha'));
    const queued = await upload(svc.url, { model: bundledModel(STANDARD), fields: { preprocess: 'none', samples: '5' }, headers: auth('beta') });
    assert.equal(queued.status, 202);
    const betaJob = ((await queued.json()) as { id: string }).id;

    const streams: AbortController[] = [];
    const open = async (tenant: Tenant, job: string): Promise<Response> => {
      const stop = new AbortController();
      streams.push(stop);
      return fetch(`${svc.url}/audits/${job}/events`, { headers: auth(tenant), signal: stop.signal });
    };
    assert.equal((await open('alpha', alphaJob)).status, 200);
    assert.equal((await open('alpha', alphaJob)).status, 200);
    await refused(await open('alpha', alphaJob), 429, 'TOO_MANY_IN_FLIGHT');
    assert.equal((await open('beta', betaJob)).status, 200);
    await refused(await open('beta', betaJob), 503, 'SERVICE_BUSY');
    await inFlight(svc, 'eventStreams', 3);
    streams[0].abort();
    await inFlight(svc, 'eventStreams', 2);
    assert.equal((await open('beta', betaJob)).status, 200);
    for (const s of streams) s.abort();
    await inFlight(svc, 'eventStreams', 0);
    assert.equal((await fetch(`${svc.url}/healthz`)).status, 200);
  });
});

describe('rate limits by normalised route and tenant', () => {
  let svc: TestService;
  before(async () => {
    svc = await startTestService({ apiKeys, rateLimit: { windowMs: 60_000, writes: 3, reads: 3 } });
  });
  after(async () => {
    await svc?.stop();
  });

  test('/AUDIT and /audit/ reach the route and count against the limit of /audit', async () => {
    const post = (path: string, tenant: Tenant): Promise<Response> => fetch(`${svc.url}${path}`, { method: 'POST', body: new FormData(), headers: auth(tenant) });
    for (const path of ['/audit', '/AUDIT', '/audit/']) {
      const res = await post(path, 'alpha');
      // The validator's 400 (no model): the request was routed as POST /audit.
      assert.equal(res.status, 400, path);
      assert.equal((await problemOf(res)).code, 'VALIDATION_FAILED', path);
    }
    const limited = await post('/Audit/', 'alpha');
    assert.equal(limited.status, 429);
    assert.ok(Number(limited.headers.get('retry-after')) > 0);
    assert.equal((await problemOf(limited)).code, 'RATE_LIMITED');
    // Keyed on the tenant: another tenant from the same address still has its budget.
    assert.equal((await post('/audit', 'beta')).status, 400);
  });

  test('reads: /AUDITS and /audits/ count against /audits', async () => {
    for (const path of ['/audits', '/AUDITS', '/audits/']) assert.equal((await fetch(`${svc.url}${path}`, { headers: auth('gamma') })).status, 200, path);
    assert.equal((await fetch(`${svc.url}/Audits`, { headers: auth('gamma') })).status, 429);
    assert.deepEqual(svc.responseViolations, []);
  });
});
