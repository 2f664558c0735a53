/**
 * The comparison with a baseline report (issue 15): ops paired by name, else by rank, op type
 * and shape; deltas per op and stage; what makes two audits incomparable; the reading of a
 * baseline file; and the gates with their values, limits and verdicts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  BaselineError,
  compareWithBaseline,
  evaluateGates,
  gateFailures,
  gateRows,
  matchOps,
  parseBaselineGates,
  parseBaselineReport,
} from '../../src/audit/baseline.js';
import { InvalidOptionError } from '../../src/data/preprocess.js';
import { op, report, robustness } from './baselineFixture.js';

const close = (a: number | null | undefined, b: number): void => assert.ok(a !== null && a !== undefined && Math.abs(a - b) < 1e-12, `${a} ~ ${b}`);

describe('matchOps', () => {
  it('pairs ops of the same name, whatever their order', () => {
    const cur = [op('a', 1, 0.1), op('b', 1, 0.2)];
    const base = [op('b', 1, 0.3), op('a', 1, 0.4)];
    assert.deepEqual(matchOps(cur, base), { pairs: [[0, 1, 'name'], [1, 0, 'name']], current: [], baseline: [] });
  });

  it('pairs renamed ops by rank when op type and output shape agree, and lists the rest', () => {
    const cur = [op('a', 1, 0.1), op('x', 1, 0.2), op('y', 2, 0.3), op('extra', 3, 0.3)];
    const base = [op('a', 1, 0.1), op('old-x', 1, 0.2), op('old-y', 2, 0.3, { op: 'MaxPool' })];
    const m = matchOps(cur, base);
    assert.deepEqual(m.pairs, [[0, 0, 'name'], [1, 1, 'position']]);
    // y: the rank partner is a MaxPool; extra: no partner at all.
    assert.deepEqual(m.current, [2, 3]);
    assert.deepEqual(m.baseline, [2]);
  });

  it('a shape that differs is no match', () => {
    const m = matchOps([op('x', 1, 0.1)], [op('y', 1, 0.1, { outputShape: [64, 16, 16] })]);
    assert.deepEqual(m, { pairs: [], current: [0], baseline: [0] });
  });
});

describe('compareWithBaseline', () => {
  it('gives per-op and per-stage deltas of am, amRel and aliasEnergy, and the clean accuracy delta', () => {
    const base = report([0.2, 0.3, 0.4, 0.4]);
    const cur = report([0.25, 0.3, 0.5, 0.3], { cleanAccuracy: 0.45 });
    const b = compareWithBaseline(cur, base);
    assert.equal(b.source, 'report');
    assert.equal(b.ops.length, 4);
    assert.deepEqual(b.ops.map((o) => o.matchedBy), ['name', 'name', 'name', 'name']);
    close(b.ops[0].amRel.delta, 0.05);
    close(b.ops[0].am.delta, 0.1);
    close(b.ops[2].aliasEnergy.delta, 0.01);
    close(b.ops[3].amRel.delta, -0.1);
    assert.deepEqual(b.stages.map((s) => s.stage), [1, 2]);
    close(b.stages[0].amRel.delta, 0.025);
    close(b.stages[1].amRel.delta, 0);
    close(b.cleanAccuracy.delta, -0.05);
    assert.equal(b.robustAccuracy, null);
    assert.equal(b.sameOptions, true);
    assert.equal(b.sameSamples, true);
    assert.deepEqual(b.differences, []);
    assert.deepEqual(b.unmatched, { current: [], baseline: [] });
  });

  it("an op whose twin broke on either side has no delta (its numbers are not a measurement)", () => {
    const base = report([0.2, 0.3]);
    const cur = report([0.25, 0.3]);
    cur.downsampling[0] = { ...cur.downsampling[0], error: 'twin broke' };
    const b = compareWithBaseline(cur, base);
    assert.deepEqual(b.ops[0].amRel, { baseline: 0.2, current: null, delta: null });
  });

  it('robust accuracy delta only when both have robustness', () => {
    const base = report([0.2], { robustness: robustness(0.4) });
    close(compareWithBaseline(report([0.2], { robustness: robustness(0.1) }), base).robustAccuracy?.delta, -0.3);
    const without = compareWithBaseline(report([0.2]), base);
    assert.equal(without.robustAccuracy, null);
    assert.equal(without.sameOptions, false);
    assert.deepEqual(without.differences, [{ field: 'robustness.preset', baseline: '"fast"', current: '"none"' }]);
  });

  it('other samples or options are listed and make the audits incomparable', () => {
    const base = report([0.2], { robustness: robustness(0.4) });
    const cur = report([0.2], { robustness: robustness(0.4, { eps: 16 / 255, samples: 50 }) });
    cur.dataset = { ...cur.dataset, samples: 500, preprocessing: { ...cur.dataset.preprocessing, name: 'cifar10', mean: [0.4914, 0.4822, 0.4465] } };
    const b = compareWithBaseline(cur, base);
    assert.equal(b.sameSamples, false);
    assert.equal(b.sameOptions, false);
    assert.deepEqual(b.differences.map((d) => d.field), ['dataset.samples', 'robustness.samples', 'preprocessing.name', 'preprocessing.mean', 'robustness.eps']);
    assert.deepEqual(b.differences[0], { field: 'dataset.samples', baseline: '200', current: '500' });
  });

  it('another version or provider is a note, not a mismatch', () => {
    const base = report([0.2], { tool: { name: 'alias-audit', version: '0.0.9' }, executionProvider: { requested: 'auto', used: 'cuda', fallbacks: [] } });
    const b = compareWithBaseline(report([0.2]), base, 'model');
    assert.equal(b.source, 'model');
    assert.equal(b.sameOptions && b.sameSamples, true);
    assert.equal(b.toolVersion, '0.0.9');
    assert.equal(b.notes.length, 2);
  });
});

describe('parseBaselineReport', () => {
  it('reads a report (a JSON round trip) and one without robustness', () => {
    const r = report([0.2, 0.3], { robustness: robustness(0.3) });
    assert.deepEqual(parseBaselineReport(JSON.stringify(r), 'base.json'), r);
    const { robustness: _, ...older } = report([0.2]);
    assert.equal(parseBaselineReport(JSON.stringify(older), 'base.json').robustness, null);
  });

  const bad: [string, string, RegExp][] = [
    ['not JSON', '{"tool": ', /^base\.json is not JSON/],
    ['an array', '[]', /the document must be an object/],
    ['another tool', JSON.stringify({ ...report([0.2]), tool: { name: 'other', version: '1' } }), /tool\.name must be "alias-audit"/],
    ['an early-stop result', JSON.stringify({ decision: { stop: false }, series: [] }), /tool\.name/],
    ['amRel as text', JSON.stringify(report([0.2])).replace('"amRel":0.2', '"amRel":"0.2"'), /downsampling\[0\]\.amRel must be a number or null/],
    ['no stages', JSON.stringify({ ...report([0.2]), stages: undefined }), /stages must be a list/],
    ['robustness without its accuracy', JSON.stringify({ ...report([0.2]), robustness: { ...robustness(0.1), robustAccuracy: null } }), /robustness\.robustAccuracy must be a number/],
  ];
  for (const [what, text, message] of bad) {
    it(`refuses ${what} with one sentence naming the file (exit 2)`, () => {
      assert.throws(
        () => parseBaselineReport(text, 'base.json'),
        (err: unknown) => err instanceof BaselineError && err instanceof InvalidOptionError && message.test(err.message) && err.message.startsWith('base.json'),
      );
    });
  }
});

describe('gates', () => {
  it('parses their limits, fractions included, and refuses bad ones', () => {
    assert.deepEqual(parseBaselineGates({ maxAmRelIncrease: '0.05', maxAccuracyDrop: '1/100', maxRobustAccuracyDrop: ' 0.1 ' }), { maxAmRelIncrease: 0.05, maxAccuracyDrop: 0.01, maxRobustAccuracyDrop: 0.1 });
    assert.deepEqual(parseBaselineGates({}), {});
    assert.throws(() => parseBaselineGates({ maxAmRelIncrease: '-1' }), /--max-am-rel-increase must be a number >= 0/);
    assert.throws(() => parseBaselineGates({ maxAccuracyDrop: '2' }), /--max-accuracy-drop must be a number or fraction/);
    assert.throws(() => parseBaselineGates({ maxRobustAccuracyDrop: 'lots' }), InvalidOptionError);
  });

  it('lists every gate with value, limit and verdict; the worst increase over ops and stages', () => {
    const base = report([0.2, 0.3, 0.4, 0.4], { robustness: robustness(0.4) });
    const cur = report([0.25, 0.3, 0.5, 0.3], { cleanAccuracy: 0.45, robustness: robustness(0.38) });
    cur.thresholds = { maxAmRel: { limit: 0.6, worst: 0.5, worstNode: '/l2/shortcut/Conv', passed: true } };
    cur.baseline = compareWithBaseline(cur, base);
    const t = evaluateGates(cur, { maxAmRelIncrease: 0.05, maxAccuracyDrop: 0.1, maxRobustAccuracyDrop: 0.01 })!;
    assert.deepEqual(t.maxAmRel, { limit: 0.6, worst: 0.5, worstNode: '/l2/shortcut/Conv', passed: true, value: 0.5, verdict: 'pass' });
    assert.equal(t.maxAmRelIncrease?.where, '/l2/shortcut/Conv');
    close(t.maxAmRelIncrease?.value, 0.1);
    assert.equal(t.maxAmRelIncrease?.verdict, 'fail');
    close(t.maxAccuracyDrop?.value, 0.05);
    assert.equal(t.maxAccuracyDrop?.verdict, 'pass');
    close(t.maxRobustAccuracyDrop?.value, 0.02);
    assert.equal(t.maxRobustAccuracyDrop?.passed, false);
    assert.deepEqual(gateRows(t).map((r) => [r.flag, r.passed]), [
      ['--max-am-rel', true],
      ['--max-am-rel-increase', false],
      ['--max-accuracy-drop', true],
      ['--max-robust-accuracy-drop', false],
    ]);
    assert.deepEqual(gateFailures(t), [
      'amRel of /l2/shortcut/Conv rose by 0.1000 over the baseline, more than --max-am-rel-increase 0.05',
      'robust accuracy fell by 0.0200 from the baseline, more than --max-robust-accuracy-drop 0.01',
    ]);
  });

  it('a stage can be the worst increase, and an improvement passes the tightest limit', () => {
    const base = report([0.2, 0.3]);
    const cur = report([0.2, 0.3]);
    cur.baseline = compareWithBaseline(cur, base);
    cur.baseline.stages[0].amRel = { baseline: 0.25, current: 0.27, delta: 0.02 };
    assert.equal(evaluateGates(cur, { maxAmRelIncrease: 0 })?.maxAmRelIncrease?.where, 'stage 1');
    const better = report([0.1, 0.1], { cleanAccuracy: 0.9 });
    better.baseline = compareWithBaseline(better, base);
    const t = evaluateGates(better, { maxAmRelIncrease: 0, maxAccuracyDrop: 0 })!;
    assert.equal(t.maxAmRelIncrease?.verdict, 'pass');
    assert.equal(t.maxAccuracyDrop?.verdict, 'pass');
    close(t.maxAccuracyDrop?.value, -0.4);
  });

  it('fails with a reason when there is nothing to compare', () => {
    const lone = report([0.2]);
    const t = evaluateGates(lone, { maxAmRelIncrease: 1, maxAccuracyDrop: 1, maxRobustAccuracyDrop: 1 })!;
    for (const g of [t.maxAmRelIncrease, t.maxAccuracyDrop, t.maxRobustAccuracyDrop]) {
      assert.equal(g?.value, null);
      assert.equal(g?.verdict, 'fail');
      assert.equal(g?.reason, 'no baseline to compare with');
    }
    const cur = report([0.2], { robustness: robustness(0.3) });
    cur.baseline = compareWithBaseline(cur, report([0.2]));
    assert.equal(evaluateGates(cur, { maxRobustAccuracyDrop: 1 })?.maxRobustAccuracyDrop?.reason, 'the baseline has no robustness');
    assert.deepEqual(gateFailures(evaluateGates(cur, { maxRobustAccuracyDrop: 1 })), ['--max-robust-accuracy-drop 1 fails: the baseline has no robustness']);
    const unmeasured = report([0.2]);
    unmeasured.downsampling[0].error = 'twin broke';
    unmeasured.stages = [];
    unmeasured.baseline = compareWithBaseline(unmeasured, report([0.2]));
    assert.equal(evaluateGates(unmeasured, { maxAmRelIncrease: 1 })?.maxAmRelIncrease?.reason, 'no op or stage was measured on both sides');
  });

  it('no gate, no thresholds; the audit gates keep their messages', () => {
    assert.equal(evaluateGates(report([0.2]), {}), undefined);
    const r = report([0.2]);
    r.thresholds = {
      maxAmRel: { limit: 0.1, worst: 0.2, worstNode: '/l1/shortcut/Conv', passed: false },
      minRobustAccuracy: { limit: 0.5, value: 0.25, passed: false },
    };
    assert.deepEqual(gateFailures(evaluateGates(r, {})), [
      'amRel 0.2000 of /l1/shortcut/Conv exceeds --max-am-rel 0.1',
      'robust accuracy 0.2500 is below --min-robust-accuracy 0.5',
    ]);
  });
});
