/**
 * The markdown summary: the headline with the verdict, the headline numbers, a gates table
 * with verdicts, the worst ops (by amRel, or by its increase over a baseline), and tables that
 * stay well-formed whatever the model names its nodes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compareWithBaseline, evaluateGates } from '../../src/audit/baseline.js';
import { mdCell, renderSummary } from '../../src/report/summary.js';
import { op, report, robustness } from '../audit/baselineFixture.js';
import { assertTables, cells } from './markdown.js';

const EVIL = 'a|b`c`\nd\\';

describe('renderSummary', () => {
  it('without a baseline: headline, numbers and the worst ops by amRel', () => {
    const r = report([0.2, 0.7, 0.4, 0.4]);
    const md = renderSummary(r, { modelName: 'model.onnx' });
    assert.equal(md.split('\n')[0], '### alias-audit: model.onnx — no gates given');
    assert.match(md, /- Clean accuracy: \*\*50\.0%\*\*/);
    assert.match(md, /- Worst amRel: \*\*0\.7000\*\* at `\/l1\/conv1\/Conv` \(stage 1\)/);
    const [ops] = assertTables(md);
    assert.deepEqual(ops[0], ['Op', 'Type', 'Stage', 'amRel', 'am', 'aliasEnergy']);
    assert.deepEqual(ops.slice(2).map((row) => row[3]), ['0.7000', '0.4000', '0.4000', '0.2000']);
    assert.doesNotMatch(md, /#### Gates/);
  });

  it('with a baseline and gates: verdict, gates table, ops by amRel increase', () => {
    const base = report([0.2, 0.3, 0.4, 0.4], { cleanAccuracy: 0.6, robustness: robustness(0.4) });
    const cur = report([0.25, 0.3, 0.5, 0.3], { cleanAccuracy: 0.45, robustness: robustness(0.1) });
    cur.baseline = compareWithBaseline(cur, base);
    cur.thresholds = evaluateGates(cur, { maxAmRelIncrease: 0.05, maxAccuracyDrop: 0.2, maxRobustAccuracyDrop: 0.1 });
    const md = renderSummary(cur, { modelName: 'new.onnx', baselineName: 'main.json' });
    assert.equal(md.split('\n')[0], '### alias-audit: new.onnx — ❌ 2 of 3 gates fail');
    assert.match(md, /- Clean accuracy: \*\*45\.0%\*\* \(baseline 60\.0%, −15\.0 pts\)/);
    assert.match(md, /- Robust accuracy: \*\*10\.0%\*\* .*\(baseline 40\.0%, −30\.0 pts\)/);
    assert.match(md, /- Baseline: `main\.json` \(report, sha256 abababababab\), same images and options/);
    const [gates, ops] = assertTables(md);
    assert.deepEqual(gates[0], ['Gate', 'Value', 'Limit', 'Verdict', 'Where / why']);
    assert.deepEqual(gates.slice(2).map((row) => [row[0], row[3]]), [
      ['`--max-am-rel-increase`', '❌ fail'],
      ['`--max-accuracy-drop`', '✅ pass'],
      ['`--max-robust-accuracy-drop`', '❌ fail'],
    ]);
    assert.deepEqual(gates[2].slice(1, 3), ['0.1000', '0.05']);
    assert.deepEqual(ops[0], ['Op', 'Stage', 'amRel baseline', 'amRel', 'Δ amRel', 'Δ am']);
    assert.deepEqual(ops.slice(2).map((row) => [row[0], row[4]]), [
      ['`/l2/shortcut/Conv`', '+0.1000'],
      ['`/l1/shortcut/Conv`', '+0.0500'],
      ['`/l1/conv1/Conv`', '+0.0000'],
      ['`/l2/conv1/Conv`', '−0.1000'],
    ]);
  });

  it('all gates passing, mismatched options and unmatched ops are said', () => {
    const base = report([0.2, 0.3]);
    const cur = report([0.2, 0.3]);
    cur.dataset = { ...cur.dataset, samples: 100 };
    cur.downsampling.push(op('/new/Conv', 3, 0.3));
    cur.baseline = compareWithBaseline(cur, base);
    cur.thresholds = evaluateGates(cur, { maxAmRelIncrease: 0.5 });
    const md = renderSummary(cur);
    assert.match(md.split('\n')[0], /^### alias-audit: abababababab — ✅ all gates pass$/);
    assert.match(md, /\*\*differs\*\*: dataset\.samples/);
    assert.match(md, /Unmatched ops: `\/new\/Conv` \(new\)/);
    assertTables(md);
  });

  it('node names with pipes, backticks and line breaks do not break the tables', () => {
    const base = report([0.2, 0.3]);
    const cur = report([0.2, 0.3]);
    cur.downsampling[0] = { ...cur.downsampling[0], node: EVIL };
    base.downsampling[0] = { ...base.downsampling[0], node: EVIL };
    cur.thresholds = { maxAmRel: { limit: 0.1, worst: 0.3, worstNode: EVIL, passed: false } };
    for (const r of [renderSummary(cur), (() => ((cur.baseline = compareWithBaseline(cur, base)), renderSummary(cur)))()]) {
      const tables = assertTables(r);
      assert.ok(tables.length >= 2);
      for (const t of tables) for (const row of t) assert.ok(!row.some((c) => c.includes('\n')));
    }
    assert.deepEqual(cells(`| ${mdCell(EVIL)} | x |`), ['a\\|b`c` d\\\\', 'x']);
  });
});
