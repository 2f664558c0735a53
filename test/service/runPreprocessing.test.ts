/**
 * One preprocessing per training run (SPEC §5: every epoch measured alike). Under `auto` the first
 * checkpoint measured chooses and the run pins it; checkpoints that run alongside it are measured
 * again when their own choice differs; the pin survives a restart. First the rule on the job
 * store with the audits stood in for (so the order in which two audits finish is the test's
 * choice), then over real HTTP with two workers and the committed models: the bundled standard
 * model (auto alone picks none) and run 3's epoch-5 checkpoint (auto alone picks cifar10 on the
 * first 100 images).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { DEFAULT_AUDIT_OPTIONS, AuditOptions } from '../../src/audit/options.js';
import type { AuditReport } from '../../src/audit/report.js';
import { DEFAULT_EARLY_STOP } from '../../src/metrics/earlyStopping.js';
import { auditWithRunPreprocessing } from '../../src/service/jobs/runPreprocessing.js';
import { JobStore } from '../../src/service/jobs/store.js';
import { RunningService, startService } from '../../src/service/server.js';
import { testServiceConfig } from './helpers.js';

/** The tenant these tests work in. */
const OWN = { tenant: 'default' };

// ---------------------------------------------------------------- the rule, on the job store

const AUTO: AuditOptions = { ...DEFAULT_AUDIT_OPTIONS, samples: 100 };

/** A report as far as the rule reads it: the preprocessing the audit used. */
function reportWith(name: string, chosenBy: 'auto' | 'preset'): AuditReport {
  const candidates = ['none', 'cifar10', 'imagenet'].map((n) => ({ name: n, accuracy: n === name ? 0.5 : 0.2, samples: 100 }));
  return { dataset: { preprocessing: { name, mean: [0, 0, 0], std: [1, 1, 1], scale: 1, layout: 'NCHW', chosenBy, candidates } } } as unknown as AuditReport;
}

/**
 * An audit stand-in for a model whose `auto` choice is `ownChoice`: it records the options it was
 * called with and finishes when the test says so.
 */
function standIn(ownChoice: string) {
  const calls: AuditOptions[] = [];
  const waiting: (() => void)[] = [];
  const audit = (options: AuditOptions): Promise<AuditReport> => {
    calls.push(options);
    const report = options.preprocess === 'auto' ? reportWith(ownChoice, 'auto') : reportWith(options.preprocess, 'preset');
    return new Promise((resolve) => waiting.push(() => resolve(report)));
  };
  /** Lets the oldest pending call finish. */
  const finish = async (): Promise<void> => {
    for (let i = 0; i < 100 && waiting.length === 0; i++) await new Promise((r) => setImmediate(r));
    waiting.shift()?.();
    await new Promise((r) => setImmediate(r));
  };
  return { calls, audit, finish };
}

describe('one preprocessing per run, on the job store', () => {
  let dir: string;
  let file: string;
  let store: JobStore;
  let jobs = 0;
  let raceJob = '';

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'alias-audit-runpre-'));
    file = join(dir, 'alias-audit.db');
    store = new JobStore(file);
  });
  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A queued job, as a checkpoint of `runId` at `epoch` when given. */
  async function job(options: AuditOptions, runId?: string, epoch?: number): Promise<string> {
    const id = `job-${++jobs}`;
    await store.create(OWN, id, { model: { sha256: String(jobs).padStart(64, '0'), bytes: 1, filename: null }, options, optionsKey: id });
    if (runId !== undefined) assert.equal(await store.runs.addCheckpoint(OWN, { runId, epoch: epoch!, jobId: id, pgdAccuracy: null }), 'added');
    return id;
  }

  test('a job that is no run\'s checkpoint, and a checkpoint of a run with explicit preprocessing, run once with their options', async () => {
    const plain = standIn('cifar10');
    const done = auditWithRunPreprocessing(store.runs, await job(AUTO), AUTO, plain.audit);
    await plain.finish();
    assert.equal((await done).dataset.preprocessing.name, 'cifar10');
    assert.deepEqual(plain.calls, [AUTO]);

    const explicit = { ...AUTO, preprocess: 'imagenet' as const };
    await store.runs.create(OWN, 'run-explicit', { name: 'explicit', options: explicit, settings: DEFAULT_EARLY_STOP });
    const given = standIn('none');
    const measured = auditWithRunPreprocessing(store.runs, await job(explicit, 'run-explicit', 1), explicit, given.audit);
    await given.finish();
    assert.equal((await measured).dataset.preprocessing.name, 'imagenet');
    assert.deepEqual(given.calls, [explicit]);
    assert.equal((await store.runs.get(OWN, 'run-explicit'))?.preprocessing, null, 'nothing to pin: the options name it');
  });

  test('under auto, two checkpoints measured at once: the first to finish pins its choice, the other is measured again with it', async () => {
    await store.runs.create(OWN, 'run-race', { name: 'race', options: AUTO, settings: DEFAULT_EARLY_STOP });
    const first = standIn('cifar10'); // epoch 2's model: its own choice is cifar10
    const second = standIn('none'); // epoch 1's model: none
    const epoch2 = auditWithRunPreprocessing(store.runs, await job(AUTO, 'run-race', 2), AUTO, first.audit);
    raceJob = await job(AUTO, 'run-race', 1);
    const epoch1 = auditWithRunPreprocessing(store.runs, raceJob, AUTO, second.audit);
    await first.finish(); // epoch 2 finishes first, with cifar10
    const pinned = (await store.runs.get(OWN, 'run-race'))?.preprocessing;
    assert.deepEqual([pinned?.name, pinned?.chosenBy, pinned?.chosenOnEpoch], ['cifar10', 'auto', 2]);
    assert.equal(pinned?.candidates?.length, 3, 'the scores it was chosen on');
    await second.finish(); // epoch 1 chose none: measured again, with cifar10
    await second.finish();
    assert.equal((await epoch2).dataset.preprocessing.name, 'cifar10');
    assert.equal((await epoch1).dataset.preprocessing.name, 'cifar10');
    assert.deepEqual(first.calls.map((o) => o.preprocess), ['auto']);
    assert.deepEqual(second.calls.map((o) => o.preprocess), ['auto', 'cifar10']);
    assert.deepEqual(second.calls[1], { ...AUTO, preprocess: 'cifar10' }, 'only the preprocessing differs');

    // A checkpoint that starts after the pin is measured with it, once.
    const later = standIn('imagenet');
    const epoch3 = auditWithRunPreprocessing(store.runs, await job(AUTO, 'run-race', 3), AUTO, later.audit);
    await later.finish();
    assert.equal((await epoch3).dataset.preprocessing.name, 'cifar10');
    assert.deepEqual(later.calls.map((o) => o.preprocess), ['cifar10']);
    assert.equal((await store.runs.get(OWN, 'run-race'))?.preprocessing?.chosenOnEpoch, 2, 'the pin does not move');
  });

  test('a choice that agrees with the pin is kept without a second measurement', async () => {
    await store.runs.create(OWN, 'run-agree', { name: 'agree', options: AUTO, settings: DEFAULT_EARLY_STOP });
    const a = standIn('none');
    const b = standIn('none');
    const one = auditWithRunPreprocessing(store.runs, await job(AUTO, 'run-agree', 1), AUTO, a.audit);
    const two = auditWithRunPreprocessing(store.runs, await job(AUTO, 'run-agree', 2), AUTO, b.audit);
    await a.finish();
    await b.finish();
    assert.deepEqual([(await one).dataset.preprocessing.chosenBy, (await two).dataset.preprocessing.chosenBy], ['auto', 'auto']);
    assert.deepEqual([a.calls.length, b.calls.length], [1, 1]);
  });

  test('a checkpoint whose job starts before the route links it to the run still pins, or is measured again with the pin', async () => {
    await store.runs.create(OWN, 'run-late', { name: 'late', options: AUTO, settings: DEFAULT_EARLY_STOP });
    const first = standIn('imagenet');
    const firstJob = await job(AUTO);
    const one = auditWithRunPreprocessing(store.runs, firstJob, AUTO, first.audit);
    assert.equal(await store.runs.addCheckpoint(OWN, { runId: 'run-late', epoch: 1, jobId: firstJob, pgdAccuracy: null }), 'added');
    await first.finish();
    assert.equal((await one).dataset.preprocessing.name, 'imagenet');
    assert.deepEqual([(await store.runs.get(OWN, 'run-late'))?.preprocessing?.name, (await store.runs.get(OWN, 'run-late'))?.preprocessing?.chosenOnEpoch], ['imagenet', 1]);

    const second = standIn('none');
    const secondJob = await job(AUTO);
    const two = auditWithRunPreprocessing(store.runs, secondJob, AUTO, second.audit);
    assert.equal(await store.runs.addCheckpoint(OWN, { runId: 'run-late', epoch: 2, jobId: secondJob, pgdAccuracy: null }), 'added');
    await second.finish();
    await second.finish();
    assert.equal((await two).dataset.preprocessing.name, 'imagenet');
    assert.deepEqual(second.calls.map((o) => o.preprocess), ['auto', 'imagenet']);
  });

  test('the pin survives reopening the database; a database from before pins gains the column', async () => {
    await store.close();
    store = new JobStore(file);
    assert.deepEqual([(await store.runs.get(OWN, 'run-race'))?.preprocessing?.name, (await store.runs.checkpointOfJob(raceJob))?.run.preprocessing?.name], ['cifar10', 'cifar10']);
    await store.close();

    const db = new Database(file);
    db.exec('ALTER TABLE runs DROP COLUMN preprocessing_json'); // as an older version left it
    db.close();
    store = new JobStore(file);
    assert.equal((await store.runs.get(OWN, 'run-race'))?.preprocessing, null, 'an older run has no pin');
    assert.equal((await store.runs.pinPreprocessing('run-race', { name: 'none', mean: [0, 0, 0], std: [1, 1, 1], scale: 1, chosenBy: 'auto', chosenOnEpoch: 1 }))?.name, 'none');
    assert.equal((await store.runs.pinPreprocessing('run-race', { name: 'imagenet', mean: [0, 0, 0], std: [1, 1, 1], scale: 1, chosenBy: 'auto', chosenOnEpoch: 2 }))?.name, 'none', 'the first pin stays');
    assert.equal(await store.runs.pinPreprocessing('no-such-run', { name: 'none', mean: [0, 0, 0], std: [1, 1, 1], scale: 1, chosenBy: 'auto' }), null);
  });
});

// ---------------------------------------------------------------- over HTTP

const STANDARD = new URL('../../models/preact_resnet_standard.onnx', import.meta.url); // auto alone: none
const EPOCH5 = new URL('../../models/overfitting/run3-eps16-seed0-collapse/ckpt_05.onnx', import.meta.url); // auto alone: cifar10

interface Entry {
  epoch: number;
  status: string;
  preprocessing?: string;
  error?: unknown;
  links: { report: string };
}
interface RunPreprocessing {
  name: string;
  chosenBy: string;
  chosenOnEpoch?: number;
  candidates?: { name: string; accuracy: number }[];
}
interface RunDoc {
  id: string;
  preprocessing: RunPreprocessing | null;
  series: Entry[];
}
interface ReportDoc {
  dataset: { preprocessing: { name: string; chosenBy: string; candidates: { name: string; accuracy: number }[] } };
  flags: string[];
}

function postCheckpoint(base: string, runId: string, model: URL, epoch: number, wait = false): Promise<Response> {
  const form = new FormData();
  form.set('model', new Blob([readFileSync(model)]), 'checkpoint.onnx');
  form.set('epoch', String(epoch));
  return fetch(`${base}/runs/${runId}/checkpoints${wait ? '?wait=true&timeout=120' : ''}`, { method: 'POST', body: form });
}

async function createRun(base: string, body: Record<string, unknown>): Promise<RunDoc> {
  const res = await fetch(`${base}/runs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  assert.equal(res.status, 201);
  return (await res.json()) as RunDoc;
}

async function settled(base: string, id: string, timeoutMs = 120_000): Promise<RunDoc> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const run = (await (await fetch(`${base}/runs/${id}`)).json()) as RunDoc;
    if (run.series.every((e) => e.status === 'succeeded' || e.status === 'failed')) return run;
    if (Date.now() > until) throw new Error(`run ${id} unsettled: ${JSON.stringify(run.series.map((e) => [e.epoch, e.status]))}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function reportOf(base: string, entry: Entry): Promise<ReportDoc> {
  return (await (await fetch(`${base}${entry.links.report}`)).json()) as ReportDoc;
}

describe('one preprocessing per run over HTTP, two workers', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'alias-audit-runpre-svc-'));
  const config = testServiceConfig(dataDir, { concurrency: 2 });
  let svc: RunningService;
  let base: string;
  let autoRun: RunDoc;

  before(async () => {
    svc = await startService(config);
    base = svc.url;
    await svc.readiness.check();
  });
  after(async () => {
    await svc?.close(0);
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('two checkpoints posted at once, whose own auto choices differ, are measured with the one the run pins', async () => {
    autoRun = await createRun(base, { name: 'auto', samples: 100, ep: 'cpu' });
    assert.equal(autoRun.preprocessing, null, 'not chosen before a checkpoint is measured');
    const posted = await Promise.all([postCheckpoint(base, autoRun.id, STANDARD, 1), postCheckpoint(base, autoRun.id, EPOCH5, 2)]);
    assert.deepEqual(posted.map((r) => r.status), [202, 202]);
    const run = await settled(base, autoRun.id);
    assert.deepEqual(run.series.map((e) => [e.epoch, e.status]), [[1, 'succeeded'], [2, 'succeeded']], JSON.stringify(run.series.map((e) => e.error)));
    const pin = run.preprocessing;
    assert.ok(pin && pin.chosenBy === 'auto' && [1, 2].includes(pin.chosenOnEpoch ?? 0), JSON.stringify(pin));
    assert.deepEqual(pin.candidates?.map((c) => c.name), ['none', 'cifar10', 'imagenet']);
    assert.deepEqual(run.series.map((e) => e.preprocessing), [pin.name, pin.name], 'every epoch names the preprocessing it was measured with');
    const reports = await Promise.all(run.series.map((e) => reportOf(base, e)));
    assert.deepEqual(reports.map((r) => r.dataset.preprocessing.name), [pin.name, pin.name]);
    // The two models' own choices differ, so one of them was measured with the other's.
    const own = reports.map((r) => [...r.dataset.preprocessing.candidates].sort((a, b) => b.accuracy - a.accuracy)[0].name);
    assert.deepEqual(own, ['none', 'cifar10'], 'the models as chosen for the test');
    assert.deepEqual(reports.map((r) => r.dataset.preprocessing.chosenBy).sort(), ['auto', 'preset']);
    assert.deepEqual(svc.responseViolations, []);
  });

  test('after a restart, a new checkpoint is measured with the pinned preprocessing', async () => {
    const pinned = (await settled(base, autoRun.id)).preprocessing!;
    await svc.close(0);
    svc = await startService(config);
    base = svc.url;
    await svc.readiness.check();
    // The model whose own choice is not the pin.
    const res = await postCheckpoint(base, autoRun.id, pinned.name === 'none' ? EPOCH5 : STANDARD, 3, true);
    assert.equal(res.status, 200);
    const { checkpoint } = (await res.json()) as { checkpoint: Entry };
    assert.equal(checkpoint.preprocessing, pinned.name);
    const report = await reportOf(base, checkpoint);
    assert.deepEqual([report.dataset.preprocessing.name, report.dataset.preprocessing.chosenBy], [pinned.name, 'preset']);
    assert.deepEqual((await settled(base, autoRun.id)).preprocessing, pinned);
    assert.deepEqual(svc.responseViolations, []);
  });

  test('a run with explicit preprocessing names it from the start; a checkpoint that fits it badly carries the flag', async () => {
    const run = await createRun(base, { name: 'explicit', samples: 100, ep: 'cpu', preprocess: 'none' });
    assert.deepEqual(run.preprocessing, { name: 'none', mean: [0, 0, 0], std: [1, 1, 1], scale: 1, chosenBy: 'preset' });
    const res = await postCheckpoint(base, run.id, EPOCH5, 1, true);
    assert.equal(res.status, 200);
    const { checkpoint } = (await res.json()) as { checkpoint: Entry };
    assert.equal(checkpoint.preprocessing, 'none');
    const report = await reportOf(base, checkpoint);
    assert.ok(report.flags.some((f) => /^preprocessing none scores .* points below cifar10 .*; pass --preprocess cifar10$/.test(f)), JSON.stringify(report.flags));
    assert.deepEqual(svc.responseViolations, []);
  });
});
