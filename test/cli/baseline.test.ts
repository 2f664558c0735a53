/**
 * `audit --baseline` / `--baseline-model` with the baseline gates, --junit and --summary, on two
 * checkpoints of one training run (models/overfitting/run3-eps16-seed0-collapse, record.json):
 * epoch 6, the best PGD-10 epoch before the collapse (34.7% clean, 23.9% PGD-10), and epoch 13,
 * the depth of the catastrophic overfitting (33.7% clean, 0.1% PGD-10; stage-1 amRel up from
 * 0.277 to 0.336 in series.json). Gating the collapsed epoch against the early one fails; the
 * other way round, or with loose limits, it passes.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import type { AuditReport } from '../../src/audit/report.js';
import { assertTables } from '../report/markdown.js';
import { assertValidJunit, needXmllint } from '../report/xmllint.js';
import { cliLines, modelPath, runCli } from './cli.js';

const RUN = 'overfitting/run3-eps16-seed0-collapse';
const EARLY = modelPath(`${RUN}/ckpt_06.onnx`);
const COLLAPSED = modelPath(`${RUN}/ckpt_13.onnx`);
// The checkpoints normalise inside the graph; naming the preprocessing skips the auto choice.
const COMMON = ['--samples', '200', '--preprocess', 'none', '--quiet'];
const TIGHT = ['--max-am-rel-increase', '0.02', '--max-accuracy-drop', '0.05'];

const dir = mkdtempSync(join(tmpdir(), 'alias-audit-baseline-'));
const file = (name: string): string => join(dir, name);
const read = (name: string): AuditReport => JSON.parse(readFileSync(file(name), 'utf8')) as AuditReport;

before(async () => {
  for (const [model, out] of [[EARLY, 'early.json'], [COLLAPSED, 'collapsed.json']]) {
    const r = await runCli(['audit', model, ...COMMON, '--out', file(out)]);
    assert.equal(r.code, 0, r.stderr);
  }
});

describe('audit --baseline REPORT.json', () => {
  it('the collapsed epoch against the early one: the gates fail (exit 1), with JUnit and summary', async (t) => {
    const r = await runCli(['audit', COLLAPSED, ...COMMON, '--baseline', file('early.json'), ...TIGHT, '--junit', file('fail.xml'), '--summary', file('fail.md'), '--out', file('fail.json')]);
    assert.equal(r.code, 1, r.stderr);
    const report = JSON.parse(r.stdout) as AuditReport;
    const early = read('early.json');
    const b = report.baseline!;
    assert.equal(b.source, 'report');
    assert.equal(b.model.sha256, early.model.sha256);
    assert.equal(b.sameOptions && b.sameSamples, true);
    assert.equal(b.ops.length, early.downsampling.length);
    assert.ok(b.ops.every((o) => o.matchedBy === 'name' && o.node === o.baselineNode));
    assert.deepEqual(b.unmatched, { current: [], baseline: [] });
    assert.equal(b.cleanAccuracy.baseline, early.cleanAccuracy);
    assert.ok(b.cleanAccuracy.delta! < -0.05, `clean accuracy fell: ${JSON.stringify(b.cleanAccuracy)}`);
    const t1 = report.thresholds!;
    assert.equal(t1.maxAmRelIncrease?.verdict, 'fail');
    assert.ok(t1.maxAmRelIncrease.value! > 0.02);
    assert.equal(t1.maxAccuracyDrop?.verdict, 'fail');
    const lines = cliLines(r.stderr);
    assert.ok(lines.some((l) => /^alias-audit: amRel of \S+ rose by 0\.\d{4} over the baseline, more than --max-am-rel-increase 0\.02$/.test(l)), r.stderr);
    assert.ok(lines.some((l) => /^alias-audit: clean accuracy fell by 0\.\d{4} from the baseline, more than --max-accuracy-drop 0\.05$/.test(l)), r.stderr);
    assert.deepEqual(read('fail.json'), report);

    const md = readFileSync(file('fail.md'), 'utf8');
    assert.match(md.split('\n')[0], /^### alias-audit: ckpt_13\.onnx — ❌ 2 of 2 gates fail$/);
    const [gates, ops] = assertTables(md);
    assert.equal(gates.length, 4);
    assert.equal(ops.length, 2 + b.ops.length);

    const xml = readFileSync(file('fail.xml'), 'utf8');
    assert.equal(xml.match(/<testcase classname="alias-audit\.ops"/g)?.length, report.downsampling.length);
    assert.match(xml, /<testcase classname="alias-audit\.gates" name="maxAmRelIncrease"[^>]*>\s*<failure message="value 0\.\d{4} breaks limit 0\.02/);
    if (needXmllint(t)) assertValidJunit(xml);
  });

  it('the early epoch against the collapsed one: the same gates pass (exit 0)', async () => {
    const r = await runCli(['audit', EARLY, ...COMMON, '--baseline', file('collapsed.json'), ...TIGHT, '--junit', file('pass.xml')]);
    assert.equal(r.code, 0, r.stderr);
    const t = (JSON.parse(r.stdout) as AuditReport).thresholds!;
    assert.deepEqual([t.maxAmRelIncrease?.verdict, t.maxAccuracyDrop?.verdict], ['pass', 'pass']);
    assert.ok(t.maxAccuracyDrop!.value! < 0, 'accuracy rose');
    assert.doesNotMatch(readFileSync(file('pass.xml'), 'utf8'), /<failure/);
  });

  it('the collapsed epoch passes loose limits', async () => {
    const r = await runCli(['audit', COLLAPSED, ...COMMON, '--baseline', file('early.json'), '--max-am-rel-increase', '0.5', '--max-accuracy-drop', '0.5', '--summary', file('loose.md')]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(readFileSync(file('loose.md'), 'utf8'), /^### alias-audit: ckpt_13\.onnx — ✅ all gates pass$/m);
  });

  it('refuses a baseline measured on other samples (exit 2) unless --allow-option-mismatch', async () => {
    const small = await runCli(['audit', EARLY, ...COMMON, '--samples', '100', '--out', file('early100.json')]);
    assert.equal(small.code, 0, small.stderr);
    const r = await runCli(['audit', COLLAPSED, ...COMMON, '--baseline', file('early100.json'), '--max-accuracy-drop', '0.5']);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stdout, '');
    assert.match(cliLines(r.stderr).join('\n'), /the baseline was measured differently \(baseline vs this model: dataset\.samples 100 vs 200\); .*--allow-option-mismatch/);
    const allowed = await runCli(['audit', COLLAPSED, ...COMMON, '--baseline', file('early100.json'), '--max-accuracy-drop', '0.5', '--allow-option-mismatch']);
    assert.equal(allowed.code, 0, allowed.stderr);
    const b = (JSON.parse(allowed.stdout) as AuditReport).baseline!;
    assert.equal(b.sameSamples, false);
    assert.deepEqual(b.differences, [{ field: 'dataset.samples', baseline: '100', current: '200' }]);
  });

  it('a malformed or missing baseline is one line and exit 2, before any audit', async () => {
    writeFileSync(file('not-json.json'), '{"tool": {"name": "alias-audit"');
    writeFileSync(file('other.json'), JSON.stringify({ decision: { stop: true } }));
    const truncated = read('early.json') as unknown as Record<string, unknown>;
    delete truncated.downsampling;
    writeFileSync(file('truncated.json'), JSON.stringify(truncated));
    mkdirSync(file('folder.json'), { recursive: true });
    const cases: [string, RegExp][] = [
      ['not-json.json', /not-json\.json is not JSON/],
      ['other.json', /other\.json is not an alias-audit report: tool\.name must be "alias-audit"/],
      ['truncated.json', /truncated\.json is not an alias-audit report: downsampling must be a list/],
      ['missing.json', /cannot read --baseline .*missing\.json: no such file/],
      ['folder.json', /cannot read --baseline .*folder\.json: it is a folder/],
    ];
    for (const [name, message] of cases) {
      const r = await runCli(['audit', COLLAPSED, ...COMMON, '--baseline', file(name)]);
      assert.equal(r.code, 2, `${name}: ${r.stderr}`);
      assert.equal(r.stdout, '');
      const lines = cliLines(r.stderr);
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0], message);
    }
  });
});

describe('audit --baseline-model BASE.onnx', () => {
  it('audits both on the same images: the robust accuracy drop of the collapse fails the gate', async () => {
    const attack = ['--robustness', 'fast', '--eps', '16/255', '--attacks', 'pgd', '--attack-samples', '100'];
    const r = await runCli(['audit', COLLAPSED, ...COMMON, '--baseline-model', EARLY, ...attack, '--max-robust-accuracy-drop', '0.1', '--junit', file('robust.xml')]);
    assert.equal(r.code, 1, r.stderr);
    const report = JSON.parse(r.stdout) as AuditReport;
    const b = report.baseline!;
    assert.equal(b.source, 'model');
    assert.equal(b.sameOptions && b.sameSamples, true);
    const robust = b.robustAccuracy!;
    assert.ok(robust.baseline! - robust.current! > 0.1, JSON.stringify(robust));
    assert.equal(report.thresholds?.maxRobustAccuracyDrop?.verdict, 'fail');
    assert.match(cliLines(r.stderr).join('\n'), /robust accuracy fell by 0\.\d{4} from the baseline, more than --max-robust-accuracy-drop 0\.1/);
    // The baseline audited here measures what its own audit measured: same images, same numbers.
    const early = read('early.json');
    assert.equal(b.model.sha256, early.model.sha256);
    assert.equal(b.cleanAccuracy.baseline, early.cleanAccuracy);
    assert.deepEqual(b.ops.map((o) => o.amRel.baseline), early.downsampling.map((d) => d.amRel));
    assert.match(readFileSync(file('robust.xml'), 'utf8'), /name="maxRobustAccuracyDrop"[^>]*>\s*<failure/);
  });
});

describe('usage of the baseline options', () => {
  const cases: [string, string[], RegExp][] = [
    ['a baseline gate without a baseline', ['--max-accuracy-drop', '0.01'], /--max-accuracy-drop compares with a baseline: give --baseline REPORT\.json or --baseline-model BASE\.onnx/],
    ['both kinds of baseline', ['--baseline', 'a.json', '--baseline-model', 'b.onnx'], /cannot be used with/],
    ['--max-robust-accuracy-drop without attacks', ['--baseline', 'a.json', '--max-robust-accuracy-drop', '0.1'], /--max-robust-accuracy-drop needs --robustness/],
    ['a bad limit', ['--baseline', 'a.json', '--max-am-rel-increase', 'x'], /--max-am-rel-increase must be a number >= 0/],
  ];
  for (const [what, args, message] of cases) {
    it(`${what}: exit 2`, async () => {
      const r = await runCli(['audit', COLLAPSED, ...COMMON, ...args]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, message);
    });
  }

  it('help lists the new options', async () => {
    const r = await runCli(['audit', '--help']);
    for (const flag of ['--baseline', '--baseline-model', '--allow-option-mismatch', '--max-am-rel-increase', '--max-accuracy-drop', '--max-robust-accuracy-drop', '--junit', '--summary']) {
      assert.match(r.stdout, new RegExp(`^  ${flag} `, 'm'), flag);
    }
  });
});
