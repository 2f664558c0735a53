/**
 * POST /audit with a baseline (issue 15 over HTTP): a stored audit's id or an uploaded report,
 * the gates over the comparison, and the refusals before anything is queued. The report's
 * `baseline` and `thresholds` are what the CLI's compareWithBaseline and evaluateGates give for
 * the same two reports. Two checkpoints of one training run (test/cli/baseline.test.ts).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { compareWithBaseline, evaluateGates } from '../../src/audit/baseline.js';
import type { AuditReport } from '../../src/audit/report.js';
import { bundledModel } from '../helpers/models.js';
import { problemOf, sqlOnStore, startTestService, TestService } from './helpers.js';

const RUN = 'overfitting/run3-eps16-seed0-collapse';
const EARLY = bundledModel(`${RUN}/ckpt_06.onnx`);
const COLLAPSED = bundledModel(`${RUN}/ckpt_13.onnx`);
// The checkpoints normalise inside the graph; naming the preprocessing skips the auto choice.
const COMMON = { samples: '100', preprocess: 'none' };
const TIGHT = { maxAmRelIncrease: '0.02', maxAccuracyDrop: '0.05' };
const ALICE = 'alice-key-0123456789abcdef';
const BOB = 'bob-key-0123456789abcdef';
const auth = (key: string): Record<string, string> => ({ authorization: `Bearer ${key}` });

interface Post {
  model?: Uint8Array;
  fields?: Record<string, string>;
  report?: string;
  key?: string;
  query?: string;
}

describe('POST /audit with a baseline', () => {
  let svc: TestService;
  let baseId: string;
  let baseReport: AuditReport;

  /** A multipart POST /audit with an optional report file in baselineReport. */
  const post = (p: Post): Promise<Response> => {
    const form = new FormData();
    form.set('model', new Blob([new Uint8Array(p.model ?? COLLAPSED)]), 'model.onnx');
    for (const [k, v] of Object.entries({ ...COMMON, ...p.fields })) form.set(k, v);
    if (p.report !== undefined) form.set('baselineReport', new Blob([p.report], { type: 'application/json' }), 'base.json');
    return fetch(`${svc.url}/audit?${p.query ?? 'wait=true&timeout=300'}`, { method: 'POST', body: form, headers: auth(p.key ?? ALICE) });
  };

  const reportOf = async (res: Response): Promise<AuditReport> => {
    const text = await res.text();
    assert.equal(res.status, 200, text);
    return JSON.parse(text) as AuditReport;
  };

  const jobCount = async (key: string): Promise<number> => ((await (await fetch(`${svc.url}/audits?limit=100`, { headers: auth(key) })).json()) as { items: unknown[] }).items.length;

  /** The report as the worker wrote it, before the comparison: what the CLI compares. */
  const audited = (r: AuditReport): AuditReport => {
    const { baseline: _b, thresholds: _t, ...rest } = r;
    return { ...rest, flags: r.flags.filter((f) => !f.startsWith('the baseline was measured differently')) };
  };

  before(async () => {
    svc = await startTestService({ apiKeys: [`alice:${ALICE}`, `bob:${BOB}`] });
    await svc.readiness.check();
    const res = await post({ model: EARLY });
    baseReport = await reportOf(res);
    baseId = res.headers.get('location')!.split('/').pop()!;
  });

  after(async () => {
    assert.deepEqual(svc?.responseViolations ?? [], []);
    await svc?.stop();
  });

  test('a stored audit id: the report has the baseline deltas and every gate with its verdict, as the CLI computes them', async () => {
    const res = await post({ fields: { baseline: baseId, ...TIGHT } });
    const report = await reportOf(res);
    const b = report.baseline!;
    assert.equal(b.source, 'report');
    assert.equal(b.model.sha256, baseReport.model.sha256);
    assert.deepEqual([b.sameSamples, b.sameOptions, b.differences], [true, true, []]);
    assert.ok(b.ops.length > 0 && b.stages.length > 0);
    assert.ok(Math.abs(b.cleanAccuracy.delta! - (report.cleanAccuracy - baseReport.cleanAccuracy)) < 1e-12);
    assert.deepEqual(b, compareWithBaseline(audited(report), baseReport, 'report'));
    assert.deepEqual(report.thresholds, evaluateGates({ ...audited(report), baseline: b }, { maxAmRelIncrease: 0.02, maxAccuracyDrop: 0.05 }));
    const t = report.thresholds!;
    for (const gate of [t.maxAmRelIncrease!, t.maxAccuracyDrop!]) {
      assert.equal(gate.verdict, gate.passed ? 'pass' : 'fail');
      assert.equal(typeof gate.value, 'number');
    }
    assert.equal(t.maxAmRelIncrease!.limit, 0.02);
    // The baseline is stored with the job (in distributed mode the worker process compared it, from the database).
    const id = res.headers.get('location')!.split('/').pop()!;
    const [row] = await sqlOnStore(svc, 'SELECT options_json FROM jobs WHERE id = ?', [id]);
    const stored = JSON.parse(row.options_json as string) as { _baseline?: { auditId: string; gates: unknown; report: AuditReport } };
    assert.equal(stored._baseline?.auditId, baseId);
    assert.deepEqual(stored._baseline?.gates, { maxAmRelIncrease: 0.02, maxAccuracyDrop: 0.05 });
    assert.equal(stored._baseline?.report.graph, undefined, 'stored without the parts the comparison does not read');
    const view = (await (await fetch(`${svc.url}/audits/${id}`, { headers: auth(ALICE) })).json()) as { options: Record<string, unknown> };
    assert.equal(view.options._baseline, undefined, 'the options shown are the audit options alone');
  });

  test('an uploaded report: compared the same; the same report and gates again answer from the stored audit', async () => {
    const text = await (await fetch(`${svc.url}/audits/${baseId}/report`, { headers: auth(ALICE) })).text();
    const loose = await reportOf(await post({ report: text, fields: { maxAmRelIncrease: '1', maxAccuracyDrop: '1' } }));
    assert.equal(loose.baseline!.model.sha256, baseReport.model.sha256);
    assert.deepEqual(loose.baseline, compareWithBaseline(audited(loose), baseReport, 'report'));
    assert.deepEqual([loose.thresholds!.maxAmRelIncrease!.verdict, loose.thresholds!.maxAccuracyDrop!.verdict], ['pass', 'pass']);
    // The same baseline and gates as the stored id's audit above: the cache answers.
    const again = await post({ report: text, fields: TIGHT, query: '' });
    assert.equal(again.status, 200);
    assert.equal(((await again.json()) as { cached: boolean }).cached, true);
  });

  test("another tenant's audit id, or an unknown one, is 404 and nothing is queued", async () => {
    for (const id of [baseId, '00000000-0000-4000-8000-000000000000']) {
      const res = await post({ key: BOB, fields: { baseline: id, ...TIGHT } });
      assert.equal(res.status, 404);
      const p = await problemOf(res);
      assert.equal(p.code, 'NOT_FOUND');
      assert.match(p.detail, /field baseline/);
    }
    assert.equal(await jobCount(BOB), 0);
  });

  test('a bad report, a gate without a baseline, a bad gate or both baselines: 400 naming the field, nothing queued', async () => {
    const before = await jobCount(ALICE);
    const notReport = JSON.stringify({ tool: { name: 'other' } });
    const cases: [Post, RegExp][] = [
      [{ report: '{ not json' }, /baselineReport is not JSON/],
      [{ report: notReport }, /baselineReport is not an alias-audit report: tool\.name/],
      [{ fields: { maxAccuracyDrop: '0.05' } }, /maxAccuracyDrop compares with a baseline/],
      [{ fields: { baseline: baseId, maxAccuracyDrop: '2' } }, /max-accuracy-drop/],
      [{ fields: { baseline: baseId, maxRobustAccuracyDrop: '0.1' } }, /maxRobustAccuracyDrop needs robustness/],
      [{ report: JSON.stringify(baseReport), fields: { baseline: baseId } }, /either baseline .* or baselineReport/],
      [{ fields: { baseline: baseId, samples: '50' } }, /dataset\.samples 100 vs 50.*allowOptionMismatch/],
    ];
    for (const [p, detail] of cases) {
      const res = await post({ ...p, query: '' });
      const problem = await problemOf(res);
      assert.deepEqual([res.status, problem.code], [400, 'INVALID_OPTION'], JSON.stringify(problem));
      assert.match(problem.detail, detail);
    }
    assert.equal(await jobCount(ALICE), before);
  });

  test('a baseline audit that has not finished is 409 BASELINE_NOT_SUCCEEDED', async () => {
    const slow = await post({ model: EARLY, fields: { samples: '5000' }, query: 'force=true' });
    assert.equal(slow.status, 202);
    const { id } = (await slow.json()) as { id: string };
    try {
      const res = await post({ fields: { baseline: id }, query: '' });
      const p = await problemOf(res);
      assert.deepEqual([res.status, p.code], [409, 'BASELINE_NOT_SUCCEEDED'], p.detail);
    } finally {
      await fetch(`${svc.url}/audits/${id}`, { method: 'DELETE', headers: auth(ALICE) });
    }
  });

  test('other options found after the audit: the comparison stays, a flag says so and the baseline gates fail; allowOptionMismatch compares', async () => {
    // The checkpoint normalises inside its graph, so the cifar10 preset is another option (and another accuracy).
    const mismatched = await reportOf(await post({ fields: { baseline: baseId, preprocess: 'cifar10', maxAmRelIncrease: '1', maxAccuracyDrop: '1' } }));
    assert.equal(mismatched.baseline!.sameOptions, false);
    assert.ok(mismatched.baseline!.differences.some((d) => d.field === 'preprocessing.name'));
    assert.ok(mismatched.flags.some((f) => /^the baseline was measured differently .*preprocessing\.name/.test(f)), mismatched.flags.join('\n'));
    for (const gate of [mismatched.thresholds!.maxAmRelIncrease!, mismatched.thresholds!.maxAccuracyDrop!]) {
      assert.deepEqual([gate.passed, gate.verdict], [false, 'fail']);
      assert.match(gate.reason!, /allowOptionMismatch=true/);
    }
    const allowed = await reportOf(await post({ fields: { baseline: baseId, samples: '50', allowOptionMismatch: 'true', maxAccuracyDrop: '1' } }));
    assert.equal(allowed.baseline!.sameSamples, false);
    assert.deepEqual(allowed.baseline!.differences, [{ field: 'dataset.samples', baseline: '100', current: '50' }]);
    assert.ok(!allowed.flags.some((f) => f.startsWith('the baseline was measured differently')));
    assert.equal(allowed.thresholds!.maxAccuracyDrop!.verdict, 'pass');
  });
});
