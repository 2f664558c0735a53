/**
 * The monitor on a real run (models/overfitting: fast FGSM training without random start that
 * overfits catastrophically, one checkpoint per epoch, PGD-10 accuracy recorded per epoch):
 * with the default settings, the recommended epoch is within one epoch of the best PGD epoch
 * before the collapse.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DEFAULT_AUDIT_OPTIONS } from '../../src/audit/options.js';
import { earlyStop } from '../../src/cli/earlyStop.js';
import { DEFAULT_EARLY_STOP } from '../../src/metrics/earlyStopping.js';

const root = fileURLToPath(new URL('../../models/overfitting/', import.meta.url));

interface Record {
  epochs: { epoch: number; pgd10Accuracy: number; cleanAccuracy: number }[];
  collapseEpoch: number | null;
  bestPgdEpochBeforeCollapse: number | null;
}

/** The first recorded run (a folder of models/overfitting with record.json and checkpoints) that collapsed. */
function collapsedRun(): { folder: string; record: Record } | undefined {
  if (!existsSync(root)) return undefined;
  const subfolders = readdirSync(root, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => `${e.name}/`);
  for (const dir of ['', ...subfolders.sort()]) {
    const folder = `${root}${dir}`;
    const file = `${folder}record.json`;
    if (!existsSync(file) || !readdirSync(folder).some((f) => f.endsWith('.onnx'))) continue;
    const record = JSON.parse(readFileSync(file, 'utf8')) as Record;
    if (record.collapseEpoch !== null && record.epochs.length >= 2) return { folder, record };
  }
  return undefined;
}

const run = collapsedRun();

test('default early stopping recommends an epoch within one of the best PGD epoch before the collapse', { skip: run ? false : 'no collapsing training run with checkpoints in models/overfitting yet (see its README)' }, async () => {
  const { folder, record } = run as { folder: string; record: Record };
  const best = record.bestPgdEpochBeforeCollapse as number;
  const result = await earlyStop([folder], { ...DEFAULT_AUDIT_OPTIONS, samples: 500, preprocess: 'none', ep: 'cpu' }, DEFAULT_EARLY_STOP);
  assert.equal(result.checkpoints.length, record.epochs.length, 'one checkpoint per recorded epoch');
  assert.ok(result.decision.stop, `the monitor says stop (series ${JSON.stringify(result.decision.series.map((e) => [e.epoch, e.am, e.amRel]))})`);
  const recommended = result.decision.recommendedEpoch as number;
  assert.ok(Math.abs(recommended - best) <= 1, `recommended epoch ${recommended}, best PGD epoch before the collapse ${best}`);
  assert.ok((result.decision.triggeredAtEpoch as number) <= (record.collapseEpoch as number) + 1, 'the trigger comes no later than an epoch after the collapse');
});
