/**
 * The training monitor over real HTTP (SPEC §5): a run, three checkpoints measured as audit
 * jobs, the series and the decision checked against the rule worked by hand; a checkpoint that
 * cannot be measured, a repeated epoch, bad settings and unknown runs; a restart that keeps the run and finishes a pending
 * checkpoint; paging and delete. Every response is checked against openapi.yaml as it is sent.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { earlyStopDecision, InvalidEarlyStop } from '../../src/metrics/earlyStopping.js';
import { ServiceConfig } from '../../src/service/config.js';
import { toServiceError } from '../../src/service/errors.js';
import { JobStore } from '../../src/service/jobs/store.js';
import { RunningService, startService } from '../../src/service/server.js';
import { tinyClassifier } from '../cli/fixtures.js';
import { AFTER_COLLAPSE, BEFORE_COLLAPSE, bundledModel } from '../helpers/models.js';
import { problemOf, testServiceConfig } from './helpers.js';

const THRESHOLD = 0.2;

interface Entry {
  epoch: number;
  status: string;
  jobId: string;
  pgdAccuracy?: number;
  am?: number;
  amRel?: number;
  cleanAccuracy?: number;
  stages?: { stage: number; am: number; amRel: number }[];
  median?: number | null;
  limit?: number | null;
  triggered?: boolean;
  error?: { code: string };
  links: { run: string; job: string; events: string; report: string };
}
interface Decision {
  stop: boolean;
  triggeredAtEpoch: number | null;
  recommendedEpoch: number | null;
}
interface RunDoc {
  id: string;
  name: string;
  settings: { signal: string; threshold: number; window: number | 'all' };
  options: { samples: number; preprocess: string };
  series: Entry[];
  decision: Decision;
  links: { self: string; checkpoints: string };
}

const dataDir = mkdtempSync(join(tmpdir(), 'alias-audit-runs-'));
const config: ServiceConfig = testServiceConfig(dataDir);

function postJson(base: string, path: string, body: unknown): Promise<Response> {
  return fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });
}

function postCheckpoint(base: string, runId: string, args: { model?: Uint8Array | string; epoch?: string; pgdAccuracy?: string; query?: string }): Promise<Response> {
  const form = new FormData();
  if (args.model !== undefined) form.set('model', new Blob([typeof args.model === 'string' ? args.model : new Uint8Array(args.model)]), 'checkpoint.onnx');
  if (args.epoch !== undefined) form.set('epoch', args.epoch);
  if (args.pgdAccuracy !== undefined) form.set('pgdAccuracy', args.pgdAccuracy);
  return fetch(`${base}/runs/${runId}/checkpoints${args.query ? `?${args.query}` : ''}`, { method: 'POST', body: form });
}

async function getRun(base: string, id: string): Promise<RunDoc> {
  const res = await fetch(`${base}/runs/${id}`);
  assert.equal(res.status, 200);
  return (await res.json()) as RunDoc;
}

/** Polls GET /runs/{id} until every checkpoint has finished. */
async function settled(base: string, id: string, timeoutMs = 120_000): Promise<RunDoc> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const run = await getRun(base, id);
    if (run.series.every((e) => e.status === 'succeeded' || e.status === 'failed')) return run;
    if (Date.now() > until) throw new Error(`run ${id} unsettled: ${JSON.stringify(run.series.map((e) => [e.epoch, e.status]))}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('training monitor runs over HTTP', () => {
  let svc: RunningService;
  let base: string;
  let runId: string;
  let measured: RunDoc;

  before(async () => {
    svc = await startService(config);
    base = svc.url;
    await svc.readiness.check();
  });

  after(async () => {
    await svc?.close(0);
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('POST /runs answers 201 with the run, its settings in force, an empty series and no stop', async () => {
    const res = await postJson(base, '/runs', { name: 'preact-pgd', samples: 50, preprocess: 'none', signal: 'am', threshold: THRESHOLD, window: 'all' });
    assert.equal(res.status, 201);
    const run = (await res.json()) as RunDoc;
    assert.equal(res.headers.get('location'), `/runs/${run.id}`);
    assert.equal(run.name, 'preact-pgd');
    assert.deepEqual(run.settings, { signal: 'am', threshold: THRESHOLD, window: 'all' });
    assert.deepEqual([run.options.samples, run.options.preprocess], [50, 'none']);
    assert.deepEqual(run.series, []);
    assert.deepEqual(run.decision, { stop: false, triggeredAtEpoch: null, recommendedEpoch: null });
    assert.deepEqual(run.links, { self: `/runs/${run.id}`, checkpoints: `/runs/${run.id}/checkpoints` });
    runId = run.id;
  });

  test('three checkpoints: each epoch measured on the same samples, the running median and the decision as the rule says', async () => {
    const first = await postCheckpoint(base, runId, { model: bundledModel(BEFORE_COLLAPSE), epoch: '1', pgdAccuracy: '0.41', query: 'wait=true&timeout=120' });
    assert.equal(first.status, 200);
    const one = (await first.json()) as { checkpoint: Entry; decision: Decision };
    assert.equal(one.checkpoint.status, 'succeeded');
    assert.equal(one.checkpoint.pgdAccuracy, 0.41);
    assert.deepEqual([one.checkpoint.median, one.checkpoint.limit, one.checkpoint.triggered], [null, null, false]);
    assert.deepEqual(one.decision, { stop: false, triggeredAtEpoch: null, recommendedEpoch: null });
    // The epoch's numbers are its audit's stage 1.
    const report = (await (await fetch(`${base}${one.checkpoint.links.report}`)).json()) as { stages: { am: number; amRel: number }[]; dataset: { samples: number }; robustness: unknown };
    assert.deepEqual([one.checkpoint.am, one.checkpoint.amRel], [report.stages[0].am, report.stages[0].amRel]);
    assert.deepEqual([report.dataset.samples, report.robustness], [50, null]);

    const second = await postCheckpoint(base, runId, { model: bundledModel(BEFORE_COLLAPSE), epoch: '2', query: 'wait=true' });
    assert.equal(second.status, 200);
    assert.equal(((await second.json()) as { decision: Decision }).decision.stop, false);

    // Without wait: 202 with the pending entry, then the series fills in.
    const third = await postCheckpoint(base, runId, { model: bundledModel(AFTER_COLLAPSE), epoch: '3' });
    assert.equal(third.status, 202);
    const pending = (await third.json()) as { checkpoint: Entry; decision: Decision };
    assert.ok(['queued', 'running'].includes(pending.checkpoint.status), pending.checkpoint.status);
    assert.equal(pending.checkpoint.am, undefined);

    measured = await settled(base, runId);
    const [a1, a2, a3] = measured.series.map((e) => e.am!);
    assert.deepEqual(measured.series.map((e) => [e.epoch, e.status]), [[1, 'succeeded'], [2, 'succeeded'], [3, 'succeeded']]);
    assert.equal(a1, a2, 'the same checkpoint on the same samples measures the same');
    // The rule by hand: m_2 = a_1, m_3 = median(a_1, a_2); stop at the first a_e > (1 + t) m_e.
    const m3 = (a1 + a2) / 2;
    assert.deepEqual(measured.series.map((e) => e.median), [null, a1, m3]);
    assert.deepEqual(measured.series.map((e) => e.limit), [null, (1 + THRESHOLD) * a1, (1 + THRESHOLD) * m3]);
    assert.ok(a3 > (1 + THRESHOLD) * m3, `the collapsed checkpoint's stage-1 am ${a3} jumps over ${(1 + THRESHOLD) * m3}`);
    assert.deepEqual(measured.series.map((e) => e.triggered), [false, false, true]);
    assert.deepEqual(measured.decision, { stop: true, triggeredAtEpoch: 3, recommendedEpoch: 2 });
    const rule = earlyStopDecision(measured.series.map((e) => ({ epoch: e.epoch, am: e.am!, amRel: e.amRel! })), { signal: 'am', threshold: THRESHOLD, window: null });
    assert.deepEqual(measured.decision, { stop: rule.stop, triggeredAtEpoch: rule.triggeredAtEpoch, recommendedEpoch: rule.recommendedEpoch });
    for (const e of measured.series) {
      assert.ok(e.stages!.length >= 1 && e.stages![0].am === e.am);
      assert.ok(e.cleanAccuracy! >= 0 && e.cleanAccuracy! <= 1);
    }
    assert.equal(measured.series[0].pgdAccuracy, 0.41);
    assert.equal(measured.series[1].pgdAccuracy, undefined);
  });

  test('a checkpoint without a strided op fails with its problem and stays out of the decision', async () => {
    const res = await postCheckpoint(base, runId, { model: tinyClassifier(1), epoch: '5', query: 'wait=true' });
    assert.deepEqual([res.status, (await problemOf(res)).code], [422, 'UNSUPPORTED_MODEL']);
    const run = await getRun(base, runId);
    const failed = run.series.find((e) => e.epoch === 5)!;
    assert.deepEqual([failed.status, failed.error?.code, failed.am], ['failed', 'UNSUPPORTED_MODEL', undefined]);
    assert.deepEqual(run.series.slice(0, 3), measured.series);
    assert.deepEqual(run.decision, measured.decision);
  });

  test('a repeated epoch is 409 EPOCH_EXISTS; a rejected upload does not take its epoch', async () => {
    const again = await postCheckpoint(base, runId, { model: bundledModel(BEFORE_COLLAPSE), epoch: '2', query: 'wait=true' });
    assert.equal(again.status, 409);
    assert.equal((await problemOf(again)).code, 'EPOCH_EXISTS');
    const notOnnx = await postCheckpoint(base, runId, { model: 'not a model\n', epoch: '9' });
    assert.deepEqual([notOnnx.status, (await problemOf(notOnnx)).code], [422, 'NOT_ONNX']);
    const badPgd = await postCheckpoint(base, runId, { model: bundledModel(BEFORE_COLLAPSE), epoch: '9', pgdAccuracy: '1.5' });
    assert.deepEqual([badPgd.status, (await problemOf(badPgd)).code], [400, 'INVALID_OPTION']);
    assert.deepEqual((await getRun(base, runId)).series.map((e) => e.epoch), [1, 2, 3, 5]);
  });

  const badRuns: [string, unknown, string][] = [
    ['no name', { samples: 50 }, 'VALIDATION_FAILED'],
    ['a blank name', { name: '  ' }, 'INVALID_OPTION'],
    ['an unknown signal', { name: 'x', signal: 'loss' }, 'VALIDATION_FAILED'],
    ['a threshold of 0', { name: 'x', threshold: 0 }, 'VALIDATION_FAILED'],
    ['a window of 0', { name: 'x', window: 0 }, 'VALIDATION_FAILED'],
    ['a window that is neither a number nor all', { name: 'x', window: 'last' }, 'VALIDATION_FAILED'],
    ['0 samples', { name: 'x', samples: 0 }, 'VALIDATION_FAILED'],
    ['mean without std', { name: 'x', mean: '0.5,0.5,0.5' }, 'INVALID_OPTION'],
    ['a bad mean', { name: 'x', mean: 'a,b', std: '1,1,1' }, 'INVALID_OPTION'],
    ['an audit option a run does not take', { name: 'x', robustness: 'fast' }, 'VALIDATION_FAILED'],
    ['malformed JSON', '{"name": ', 'VALIDATION_FAILED'],
  ];
  for (const [what, body, code] of badRuns) {
    test(`POST /runs with ${what} is 400 ${code}`, async () => {
      const res = await postJson(base, '/runs', body);
      assert.equal(res.status, 400);
      assert.equal((await problemOf(res)).code, code);
    });
  }

  test('unknown runs are 404, ids that are not uuids 400; InvalidEarlyStop is a 400', async () => {
    const nobody = '00000000-0000-4000-8000-000000000000';
    for (const res of [
      await fetch(`${base}/runs/${nobody}`),
      await fetch(`${base}/runs/${nobody}`, { method: 'DELETE' }),
      await postCheckpoint(base, nobody, { model: bundledModel(BEFORE_COLLAPSE), epoch: '1' }),
    ]) {
      assert.deepEqual([res.status, (await problemOf(res)).code], [404, 'NOT_FOUND']);
    }
    assert.equal((await fetch(`${base}/runs/nope`)).status, 400);
    assert.deepEqual([toServiceError(new InvalidEarlyStop('x')).code, toServiceError(new InvalidEarlyStop('x')).status], ['INVALID_OPTION', 400]);
    const noFile = await postCheckpoint(base, runId, { epoch: '7' });
    assert.deepEqual([noFile.status, (await problemOf(noFile)).code], [400, 'VALIDATION_FAILED']);
  });

  test('GET /runs pages newest first', async () => {
    const other = (await (await postJson(base, '/runs', { name: 'second', samples: 20, preprocess: 'none', window: 3 })).json()) as RunDoc;
    assert.deepEqual(other.settings.window, 3);
    const page1 = (await (await fetch(`${base}/runs?limit=1`)).json()) as { items: { id: string; checkpoints: number }[]; next: string | null };
    assert.deepEqual(page1.items.map((r) => r.id), [other.id]);
    assert.ok(page1.next);
    const page2 = (await (await fetch(`${base}/runs?limit=1&cursor=${encodeURIComponent(page1.next)}`)).json()) as typeof page1;
    assert.deepEqual(page2.items.map((r) => [r.id, r.checkpoints]), [[runId, 4]]);
    assert.equal(page2.next, null);
  });

  test('after a restart the run and its series are there, and a checkpoint posted before the stop is measured', async () => {
    const fourth = await postCheckpoint(base, runId, { model: bundledModel(BEFORE_COLLAPSE), epoch: '4' });
    assert.equal(fourth.status, 202);
    assert.deepEqual(svc.responseViolations, []);
    await svc.close(0); // no grace: the pending audit goes back to the queue

    svc = await startService(config);
    base = svc.url;
    assert.equal(svc.recovered.queued, 1);
    const run = await settled(base, runId);
    assert.deepEqual(run.series.slice(0, 3), measured.series);
    assert.deepEqual(run.series.map((e) => [e.epoch, e.status]), [[1, 'succeeded'], [2, 'succeeded'], [3, 'succeeded'], [4, 'succeeded'], [5, 'failed']]);
    const [a1, a2, a3, a4] = run.series.map((e) => e.am!);
    assert.equal(a4, a1);
    assert.deepEqual([run.series[3].status, run.series[3].median, run.series[3].triggered], ['succeeded', [a1, a2, a3].sort((x, y) => x - y)[1], false]);
    assert.deepEqual(run.decision, measured.decision, 'a later epoch does not move the first stop');
  });

  test("DELETE /audits/{id} frees a checkpoint's epoch; DELETE /runs/{id} removes the run and its checkpoints' audit jobs", async () => {
    // Deleting a checkpoint's audit job takes the epoch out of the series (and frees it).
    const failed = (await getRun(base, runId)).series.find((e) => e.epoch === 5)!;
    assert.equal((await fetch(`${base}${failed.links.job}`, { method: 'DELETE' })).status, 204);
    const run = await getRun(base, runId);
    assert.deepEqual(run.series.map((e) => e.epoch), [1, 2, 3, 4]);
    assert.equal((await fetch(`${base}/runs/${runId}`, { method: 'DELETE' })).status, 204);
    assert.equal((await fetch(`${base}/runs/${runId}`)).status, 404);
    for (const e of run.series) assert.equal((await fetch(`${base}${e.links.job}`)).status, 404);
    assert.deepEqual(svc.responseViolations, []);
  });
});

test('a data directory from before runs existed opens, keeps its jobs and gains the run tables; opening again changes nothing', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'alias-audit-runs-db-'));
  try {
    const file = join(dir, 'alias-audit.db');
    const options = { samples: 10, batch: 50, preprocess: 'none', scale: 1, layout: 'auto', ep: 'auto', robustness: 'none', attack: {} } as const;
    let store = new JobStore(file);
    await store.create({ tenant: 'default' }, 'old-job', { model: { sha256: 'a'.repeat(64), bytes: 1, filename: null }, options, optionsKey: 'k' });
    await store.close();
    const db = new Database(file);
    db.exec('DROP TABLE run_checkpoints; DROP TABLE runs;'); // as an older version left it
    db.close();
    for (let i = 0; i < 2; i++) {
      store = new JobStore(file);
      assert.equal((await store.get({ tenant: 'default' }, 'old-job'))?.status, 'queued');
      assert.deepEqual((await store.runs.list({ tenant: 'default' }, { limit: 10 })).items.length, i);
      await store.runs.create({ tenant: 'default' }, `run-${i}`, { name: 'r', options, settings: { signal: 'am', threshold: 0.33, window: null } });
      await store.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
