/**
 * The monitor on real training runs (models/overfitting: fast FGSM training without random
 * start, one checkpoint per epoch, clean and PGD-10 accuracy recorded per epoch), with the
 * default settings.
 *
 * On every run that overfits catastrophically the monitor must say stop, not before the best PGD
 * epoch and no later than one epoch after the first collapsed epoch. That is what holds on our
 * runs: on runs 3 and 5 it stops at the collapse and keeps the epoch before it; on run 6 (not used
 * to choose the defaults) aliasing moved only one epoch after the collapse, so the kept checkpoint
 * has already collapsed. The issue asks for the kept epoch to be within one of the best PGD epoch
 * before the collapse; that is not asserted because it does not hold: PGD accuracy peaks some
 * epochs before the collapse while stage-1 aliasing only jumps with it
 * (models/overfitting/README.md has the figures). On a run without collapse the monitor must stay
 * silent.
 *
 * Every run folder has its committed series.json (the monitor's measurement of each epoch, 500
 * images, preprocessing none), so the rule is checked on all six runs, runs 1 and 2 (whose
 * checkpoints are not committed) included; where the checkpoints are present the monitor
 * measures them again and must agree with the committed series.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DEFAULT_AUDIT_OPTIONS } from '../../src/audit/options.js';
import { earlyStop } from '../../src/cli/earlyStop.js';
import { DEFAULT_EARLY_STOP, earlyStopDecision, EarlyStopSettings, EpochAliasing } from '../../src/metrics/earlyStopping.js';

const root = fileURLToPath(new URL('../../models/overfitting/', import.meta.url));

interface TrainingRecord {
  epochs: { epoch: number; pgd10Accuracy: number; cleanAccuracy: number }[];
  collapseEpoch: number | null;
  bestPgdEpochBeforeCollapse: number | null;
}

/** The committed measurement of a run (what `alias-audit early-stop --json` printed for it). */
interface CommittedSeries {
  settings: EarlyStopSettings;
  samples: number;
  checkpoints: (EpochAliasing & { cleanAccuracy: number })[];
  decision: { stop: boolean; triggeredAtEpoch: number | null; recommendedEpoch: number | null };
}

/** Run folders of models/overfitting with a record and a committed series. */
function runsWithSeries(): { name: string; record: TrainingRecord; series: CommittedSeries }[] {
  if (!existsSync(root)) return [];
  return readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(`${root}${e.name}/record.json`) && existsSync(`${root}${e.name}/series.json`))
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((e) => ({
      name: e.name,
      record: JSON.parse(readFileSync(`${root}${e.name}/record.json`, 'utf8')) as TrainingRecord,
      series: JSON.parse(readFileSync(`${root}${e.name}/series.json`, 'utf8')) as CommittedSeries,
    }));
}

/** Run folders of models/overfitting that hold a record and one checkpoint per recorded epoch. */
function runsWithCheckpoints(): { name: string; folder: string; record: TrainingRecord }[] {
  if (!existsSync(root)) return [];
  const runs = [];
  for (const entry of readdirSync(root, { withFileTypes: true }).filter((e) => e.isDirectory()).sort((a, b) => a.name.localeCompare(b.name))) {
    const folder = `${root}${entry.name}/`;
    if (!existsSync(`${folder}record.json`)) continue;
    const record = JSON.parse(readFileSync(`${folder}record.json`, 'utf8')) as TrainingRecord;
    const checkpoints = readdirSync(folder).filter((f) => f.endsWith('.onnx')).length;
    if (checkpoints === record.epochs.length && checkpoints >= 2) runs.push({ name: entry.name, folder, record });
  }
  return runs;
}

const runs = runsWithCheckpoints();
const collapsing = runs.filter((r) => r.record.collapseEpoch !== null);
const options = { ...DEFAULT_AUDIT_OPTIONS, samples: 500, preprocess: 'none' as const, ep: 'cpu' as const };
const committed = runsWithSeries();

/** Where a stop must fall on a collapsing run; an empty list when it does. */
function stopProblems(decision: { stop: boolean; triggeredAtEpoch: number | null; recommendedEpoch: number | null }, record: TrainingRecord): string[] {
  const collapse = record.collapseEpoch as number;
  const best = record.bestPgdEpochBeforeCollapse as number;
  if (!decision.stop) return ['the monitor does not say stop'];
  const problems: string[] = [];
  if ((decision.triggeredAtEpoch as number) > collapse + 1) problems.push(`triggered at epoch ${decision.triggeredAtEpoch}, the collapse is at ${collapse}`);
  if ((decision.recommendedEpoch as number) < best) problems.push(`kept epoch ${decision.recommendedEpoch} is before the best PGD epoch ${best}: stopped too early`);
  return problems;
}

test('every run has its committed series, the runs without collapse among them', () => {
  const names = committed.map((r) => r.name);
  assert.ok(names.length >= 6, `series.json in ${names.length} run folders: ${names.join(', ')}`);
  assert.ok(committed.filter((r) => r.record.collapseEpoch === null).length >= 2, 'runs 1 and 2 (no collapse) have their series');
  for (const { name, record, series } of committed) {
    assert.deepEqual(series.checkpoints.map((c) => c.epoch), record.epochs.map((e) => e.epoch), `${name}: one measured epoch per recorded epoch`);
  }
});

for (const { name, record, series } of committed) {
  const decision = earlyStopDecision(series.checkpoints, DEFAULT_EARLY_STOP);
  const values = JSON.stringify(series.checkpoints.map((c) => [c.epoch, Number(c.am.toFixed(4))]));
  if (record.collapseEpoch === null) {
    test(`${name} (committed series): no collapse, and the default rule stays silent`, () => {
      assert.equal(decision.stop, false, `false alarm at epoch ${decision.triggeredAtEpoch} (epoch, am: ${values})`);
    });
  } else {
    test(`${name} (committed series): the default rule stops between the best PGD epoch and one epoch after the collapse (epoch ${record.collapseEpoch})`, () => {
      assert.deepEqual(stopProblems(decision, record), [], `epoch, am: ${values}`);
    });
  }
  test(`${name} (committed series): the decision stored with it is the rule's under its settings`, () => {
    const again = earlyStopDecision(series.checkpoints, series.settings);
    assert.deepEqual([again.stop, again.triggeredAtEpoch, again.recommendedEpoch], [series.decision.stop, series.decision.triggeredAtEpoch, series.decision.recommendedEpoch]);
  });
}

test('there is a committed training run that collapses, with its checkpoints', () => {
  assert.ok(collapsing.length > 0, `no collapsing run with checkpoints in ${root} (runs with checkpoints: ${runs.map((r) => r.name).join(', ') || 'none'})`);
});

/** The measured series agrees with the committed one (same images, same preprocessing). */
function assertSameAsCommitted(name: string, result: Awaited<ReturnType<typeof earlyStop>>): void {
  const series = committed.find((r) => r.name === name)?.series;
  assert.ok(series, `${name} has a committed series.json`);
  for (const c of result.checkpoints) {
    const stored = series.checkpoints.find((e) => e.epoch === c.epoch);
    assert.ok(stored, `epoch ${c.epoch} is in the committed series`);
    assert.ok(Math.abs(c.am - stored.am) <= 1e-3 * stored.am, `${name} epoch ${c.epoch}: am ${c.am}, committed ${stored.am}`);
  }
}

for (const { name, folder, record } of runs) {
  const collapse = record.collapseEpoch;
  if (collapse === null) {
    test(`${name}: no collapse, and the default rule raises no false alarm`, async () => {
      const result = await earlyStop([folder], options, DEFAULT_EARLY_STOP);
      assert.equal(result.decision.stop, false, `false alarm at epoch ${result.decision.triggeredAtEpoch}`);
      assertSameAsCommitted(name, result);
    });
    continue;
  }
  test(`${name}: the default rule stops between the best PGD epoch and one epoch after the collapse (epoch ${collapse})`, async () => {
    const result = await earlyStop([folder], options, DEFAULT_EARLY_STOP);
    const series = JSON.stringify(result.decision.series.map((e) => [e.epoch, Number(e.am.toFixed(4)), Number(e.amRel.toFixed(4))]));
    assert.equal(result.checkpoints.length, record.epochs.length, 'one checkpoint per recorded epoch');
    assert.deepEqual(stopProblems(result.decision, record), [], `epoch, am, amRel: ${series}`);
    assertSameAsCommitted(name, result);
  });
}

test('early-stop with the default options (auto) on run 3, the README\'s example: one preprocessing for every epoch, stop at 12', async () => {
  const run3 = runs.find((r) => r.name.startsWith('run3-'));
  assert.ok(run3, 'run 3 and its checkpoints are committed');
  // The CLI's defaults for early-stop: 500 samples, --preprocess auto.
  const result = await earlyStop([run3.folder], { ...DEFAULT_AUDIT_OPTIONS, samples: 500, ep: 'cpu' }, DEFAULT_EARLY_STOP);
  const used = result.checkpoints.map((c) => `${c.epoch}:${c.preprocessing}`);
  assert.equal(result.preprocessing.chosenBy, 'auto');
  assert.equal(result.preprocessing.chosenOnEpoch, 1, 'chosen on the first checkpoint');
  assert.deepEqual(result.preprocessing.candidates?.map((c) => c.name), ['none', 'cifar10', 'imagenet']);
  assert.ok(result.checkpoints.every((c) => c.preprocessing === result.preprocessing.name), `every epoch measured with ${result.preprocessing.name}: ${used.join(' ')}`);
  assert.ok(result.decision.series.every((e) => (e as typeof e & { preprocessing?: string }).preprocessing === result.preprocessing.name), 'the series names it too');
  // On epoch 1 the presets score within 3 points of each other: the tie goes to none, and it is flagged.
  assert.equal(result.preprocessing.name, 'none', JSON.stringify(result.preprocessing.candidates));
  assert.ok(result.flags.some((f) => f.startsWith('epoch 1: auto preprocessing is ambiguous')), JSON.stringify(result.flags));
  assert.deepEqual([result.decision.triggeredAtEpoch, result.decision.recommendedEpoch], [12, 11], `epochs and am: ${JSON.stringify(result.decision.series.map((e) => [e.epoch, Number(e.am.toFixed(4))]))}`);
  assertSameAsCommitted(run3.name, result);
});
