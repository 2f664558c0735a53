/**
 * Our own models (models/): the twin invariant holds on every strided op, and the audit
 * reproduces the paper's main finding: the adversarially trained model aliases less in its
 * first two downsampling stages than the normally trained one (SPEC §2).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { before, test } from 'node:test';
import { runAudit } from '../../src/audit/audit.js';
import { DEFAULT_AUDIT_OPTIONS } from '../../src/audit/options.js';
import { AuditReport } from '../../src/audit/report.js';
import { Cifar10Set, loadCifar10Test } from '../../src/data/cifar10.js';
import { sharedModels, sharedModelsMissing } from '../helpers/shared.js';

const models = new URL('../../models/', import.meta.url);
const options = { ...DEFAULT_AUDIT_OPTIONS, samples: 200, preprocess: 'none' as const, ep: 'cpu' as const };

let dataset: Cifar10Set;
before(async () => {
  dataset = await loadCifar10Test();
});

const ours = readdirSync(models).filter((f) => f.endsWith('.onnx'));
const theirs = sharedModelsMissing ? [] : readdirSync(sharedModels).filter((f) => f.endsWith('.onnx'));

test('models/ holds the standard and the adversarially trained model', () => {
  assert.ok(ours.includes('preact_resnet_standard.onnx'));
  assert.ok(ours.includes('preact_resnet_fgsm.onnx'));
});

for (const [folder, file] of [...ours.map((f) => [models, f] as const), ...theirs.map((f) => [sharedModels, f] as const)]) {
  test(`twin invariant holds on every strided op of ${file}`, async () => {
    const report = await runAudit(readFileSync(new URL(file, folder)), { ...options, samples: 20, preprocess: 'auto' }, { dataset });
    assert.ok(report.downsampling.length > 0, 'has strided ops');
    for (const op of report.downsampling) {
      assert.ok(op.twinCheck?.ok, `${op.node}: ${JSON.stringify(op.twinCheck)}`);
      assert.equal(op.error, undefined);
    }
  });
}

test('the adversarially trained model aliases less in stages 1 and 2 (the paper\'s finding)', async () => {
  const audit = (file: string): Promise<AuditReport> => runAudit(readFileSync(new URL(file, models)), options, { dataset });
  const standard = await audit('preact_resnet_standard.onnx');
  const robust = await audit('preact_resnet_fgsm.onnx');
  for (const stage of [0, 1]) {
    for (const key of ['am', 'amRel'] as const) {
      const s = standard.stages[stage][key];
      const r = robust.stages[stage][key];
      assert.ok(r < s, `stage ${stage + 1} ${key}: robust ${r} should be below standard ${s}`);
    }
  }
  assert.ok(standard.cleanAccuracy > 0.6 && robust.cleanAccuracy > 0.4, 'both models classify');
});

test('auto on a bundled model names its candidates and keeps the best, with no preprocessing flag', async () => {
  const report = await runAudit(readFileSync(new URL('preact_resnet_standard.onnx', models)), { ...options, samples: 300, preprocess: 'auto' }, { dataset });
  const pre = report.dataset.preprocessing;
  assert.equal(pre.chosenBy, 'auto');
  assert.deepEqual(pre.candidates?.map((c) => c.name), ['none', 'cifar10', 'imagenet']);
  const best = [...(pre.candidates ?? [])].sort((a, b) => b.accuracy - a.accuracy)[0];
  assert.equal(best.samples, 256, 'the best on the first 256 images');
  // the others stop once they cannot come within 3 points of it
  assert.ok(pre.candidates?.every((c) => c === best || (c.samples < 256 && c.accuracy < best.accuracy - 0.03)), JSON.stringify(pre.candidates));
  assert.equal(pre.name, best.name);
  assert.equal(pre.name, 'none', 'the bundled models take [0,1] pixels');
  assert.ok(!report.flags.some((f) => f.includes('preprocess')), JSON.stringify(report.flags));
});

test('--preprocess cifar10 on a model that takes [0,1] pixels is flagged: more than 10 points below none', async () => {
  const report = await runAudit(readFileSync(new URL('preact_resnet_standard.onnx', models)), { ...options, preprocess: 'cifar10' }, { dataset });
  const pre = report.dataset.preprocessing;
  assert.equal(pre.chosenBy, 'preset');
  assert.equal(pre.name, 'cifar10');
  const score = (name: string): number => pre.candidates?.find((c) => c.name === name)?.accuracy ?? Number.NaN;
  assert.ok(score('none') - score('cifar10') > 0.1, JSON.stringify(pre.candidates));
  const flag = report.flags.find((f) => f.startsWith('preprocessing cifar10 scores'));
  assert.ok(flag, JSON.stringify(report.flags));
  assert.match(flag, /points below none \([\d.]+%\): the model probably expects none; pass --preprocess none$/);

  // Explicit mean/std are scored too, and flagged the same way.
  const custom = await runAudit(readFileSync(new URL('preact_resnet_standard.onnx', models)), { ...options, mean: '0.5,0.5,0.5', std: '0.25,0.25,0.25' }, { dataset });
  assert.equal(custom.dataset.preprocessing.chosenBy, 'explicit');
  assert.deepEqual(custom.dataset.preprocessing.candidates?.map((c) => c.name), ['none', 'cifar10', 'imagenet', 'custom']);
  assert.ok(custom.flags.some((f) => /^preprocessing custom \(--mean\/--std\) scores .* pass --preprocess none instead of --mean\/--std$/.test(f)), JSON.stringify(custom.flags));
});
