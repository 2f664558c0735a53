/**
 * Fuzz the upload path (a modest number of uploads, seconds): hostile models and broken multipart
 * bodies are answered 4xx, an acceptable model 202; nothing is answered 5xx or dropped.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestService, TestService } from '../service/helpers.js';
import { fuzzUploads, serverErrorCount } from './uploadFuzz.js';

let svc: TestService;
before(async () => {
  svc = await startTestService({ maxUploadBytes: 8 * 1024 * 1024, accessLog: false });
});
after(() => svc.stop());

test('hostile uploads get 4xx answers (or 202), never a 5xx', async () => {
  const outcomes = await fuzzUploads(svc.url, 24, Number(process.env.FUZZ_SEED ?? 20261202));
  assert.equal(serverErrorCount(outcomes), 0, JSON.stringify([...outcomes]));
  const statuses = new Set([...outcomes.keys()].map((k) => Number(k.split(' ')[0])));
  // Both doors are exercised: the multipart parser (400) and the model check (422).
  assert.ok(statuses.has(400) && statuses.has(422), JSON.stringify([...outcomes]));
  assert.deepEqual(svc.responseViolations, [], 'every answer matches openapi.yaml');
});
