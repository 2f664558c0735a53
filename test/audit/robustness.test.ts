/**
 * Robustness estimates against independent references (../shared/models/reference, and our
 * PyTorch PGD in test/fixtures/pgd-vnn21.json) and on our own models; the black-box fallback
 * where no gradient graph can be built.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { before, test } from 'node:test';
import { runAudit } from '../../src/audit/audit.js';
import { DEFAULT_AUDIT_OPTIONS, parseAuditOptions } from '../../src/audit/options.js';
import { Cifar10Set, loadCifar10Test } from '../../src/data/cifar10.js';
import { encodeModel } from '../../src/onnx/codec.js';
import { attr, Graph } from '../../src/onnx/ir.js';
import { DataType } from '../../src/onnx/schema.js';
import { sharedModels, sharedModelsMissing } from '../helpers/shared.js';

let dataset: Cifar10Set;
before(async () => {
  dataset = await loadCifar10Test();
});

const vnn = (): Uint8Array => readFileSync(new URL('vnn21_resnet_2b.onnx', sharedModels));
const vnnOptions = (extra: Record<string, string>) =>
  parseAuditOptions({ preprocess: 'cifar10', ep: 'cpu', robustness: 'fast', eps: '2/255', attacks: 'pgd', pgdSteps: '20', ...extra });

test('vnn21 PGD-20 at 2/255 on the first 100 images is within 3 points of the reference', { skip: sharedModelsMissing }, async () => {
  const reference = JSON.parse(readFileSync(new URL('reference/vnn21_resnet_2b.json', sharedModels), 'utf8')) as { robustness: { pgd: number; clean: number } };
  const report = await runAudit(vnn(), vnnOptions({ samples: '100', attackSamples: '100' }), { dataset });
  const r = report.robustness;
  assert.ok(r);
  assert.equal(r.samples, 100);
  assert.ok(Math.abs(r.cleanAccuracy - reference.robustness.clean) < 0.011, `clean ${r.cleanAccuracy}`);
  const pgd = r.attacks.find((a) => a.name === 'pgd');
  assert.ok(pgd && Math.abs(pgd.robustAccuracy - reference.robustness.pgd) <= 0.03, `pgd ${pgd?.robustAccuracy} vs reference ${reference.robustness.pgd}`);
  assert.equal(pgd.parameters.steps, 20);
  assert.ok(Math.abs((pgd.parameters.stepSize as number) - 2 / 255 / 4) < 1e-12);
});

/** test/fixtures/pgd-vnn21.json, written by scripts/reference/pgd_reference.py. */
interface PgdReference {
  model: { file: string; sha256: string };
  samples: number;
  attack: { eps: string; steps: number; stepSize: string; restarts: number };
  cleanAccuracy: number;
  robustAccuracy: number[];
  mean: number;
  std: number;
}
const pgdReference = JSON.parse(readFileSync(new URL('../fixtures/pgd-vnn21.json', import.meta.url), 'utf8')) as PgdReference;

test('vnn21 PGD-20 at 2/255 on the first 1,000 images is within the spread of an independent PyTorch PGD', { skip: sharedModelsMissing }, async () => {
  const ref = pgdReference;
  assert.deepEqual([ref.samples, ref.attack.eps, ref.attack.steps, ref.attack.stepSize, ref.attack.restarts], [1000, '2/255', 20, 'eps/4', 1], 'the reference ran these settings');
  assert.ok(ref.robustAccuracy.length >= 5, 'the spread comes from several seeds');
  // Our random starts are not PyTorch's, so the band is the reference's own spread over its
  // seeds: mean ± max(3 standard deviations, 1.5 points). The floor covers what the seeds
  // cannot show: two runtimes round float32 differently, which flips images near the boundary.
  const tolerance = Math.max(3 * ref.std, 0.015);
  const report = await runAudit(vnn(), vnnOptions({ samples: '1000', attackSamples: '1000' }), { dataset });
  assert.equal(report.model.sha256, ref.model.sha256, `the reference was made on this ${ref.model.file}`);
  assert.ok(report.robustness && Math.abs(report.robustness.cleanAccuracy - ref.cleanAccuracy) <= 0.002, `clean ${report.robustness?.cleanAccuracy} vs ${ref.cleanAccuracy}`);
  const pgd = report.robustness.attacks.find((a) => a.name === 'pgd');
  assert.ok(pgd, 'PGD ran');
  assert.deepEqual([pgd.parameters.steps, pgd.parameters.restarts, pgd.parameters.randomStart], [20, 1, true]);
  assert.ok(Math.abs((pgd.parameters.stepSize as number) - 2 / 255 / 4) < 1e-12);
  assert.ok(
    Math.abs(pgd.robustAccuracy - ref.mean) <= tolerance,
    `pgd ${pgd.robustAccuracy} outside ${ref.mean} ± ${tolerance.toFixed(4)} (reference seeds: ${ref.robustAccuracy.join(', ')})`,
  );
});

test('the standard model falls to PGD at 8/255; the adversarially trained one holds clearly more', async () => {
  const options = parseAuditOptions({ samples: '200', preprocess: 'none', ep: 'cpu', robustness: 'fast', attacks: 'pgd', pgdSteps: '10' });
  const standard = await runAudit(readFileSync(new URL('../../models/preact_resnet_standard.onnx', import.meta.url)), options, { dataset });
  const robust = await runAudit(readFileSync(new URL('../../models/preact_resnet_fgsm.onnx', import.meta.url)), options, { dataset });
  assert.ok(standard.robustness && robust.robustness);
  assert.ok(standard.robustness.robustAccuracy <= 0.02, `standard ${standard.robustness.robustAccuracy}`);
  assert.ok(robust.robustness.robustAccuracy >= 0.15, `robust ${robust.robustness.robustAccuracy}`);
});

/** Conv -> Sin -> GlobalAveragePool -> Flatten -> MatMul: Sin has no gradient rule. */
function modelWithoutGradient(): Uint8Array {
  const g = new Graph({ name: 'sin', inputs: [{ name: 'image', elemType: DataType.FLOAT, shape: ['N', 3, 32, 32] }] });
  const w = g.constantFloat('w', [8, 3, 3, 3], Float32Array.from({ length: 216 }, (_, i) => Math.sin(i * 12.9898) * 0.3));
  const conv = g.op('Conv', ['image', w], [attr.ints('strides', [2, 2]), attr.ints('pads', [1, 1, 1, 1]), attr.ints('kernel_shape', [3, 3])]);
  const pooled = g.op('Flatten', [g.op('GlobalAveragePool', [g.op('Sin', [conv])])]);
  const fc = g.constantFloat('fc', [8, 10], Float32Array.from({ length: 80 }, (_, i) => Math.cos(i * 78.233) * 2));
  g.addOutput(g.addNode({ opType: 'MatMul', inputs: [pooled, fc], outputs: ['logits'] }).outputs[0]);
  return encodeModel({ irVersion: 8, opsetImports: [{ domain: '', version: 13 }], graph: g, producerName: 'tests', otherFields: [] });
}

test('without a gradient graph the audit still estimates robustness with the Square Attack and says why', async () => {
  const options = parseAuditOptions({ samples: '20', preprocess: 'none', ep: 'cpu', robustness: 'fast', squareQueries: '20' });
  const report = await runAudit(modelWithoutGradient(), options, { dataset });
  const r = report.robustness;
  assert.ok(r);
  assert.equal(r.gradient.available, false);
  assert.match(r.gradient.reason ?? '', /Sin/);
  assert.deepEqual(r.attacks.map((a) => a.name), ['square']);
  assert.ok(r.flags.some((f) => /Square Attack stands in/.test(f)));
  assert.ok(r.robustAccuracy <= r.cleanAccuracy);
  assert.equal(report.downsampling.length, 1, 'aliasing is measured all the same');
});

test('robustness options are validated', () => {
  assert.throws(() => parseAuditOptions({ eps: '8/255' }), /need --robustness/);
  assert.throws(() => parseAuditOptions({ robustness: 'fast', eps: 'lots' }), /--eps must be/);
  assert.throws(() => parseAuditOptions({ robustness: 'fast', attacks: 'fgsm,cw' }), /--attacks must be one of/);
  const o = parseAuditOptions({ robustness: 'standard', eps: '0.5' });
  assert.equal(o.attack.eps, 0.5);
  assert.equal(DEFAULT_AUDIT_OPTIONS.robustness, 'none');
  // the norm: L2 takes radii above 1 (up to the cube's diagonal), L-infinity does not
  assert.throws(() => parseAuditOptions({ robustness: 'fast', norm: 'l1' }), /--norm must be one of linf, l2/);
  assert.throws(() => parseAuditOptions({ robustness: 'fast', eps: '2' }), /--eps must be .* from 0 to 1 /);
  assert.equal(parseAuditOptions({ robustness: 'fast', norm: 'l2', eps: '2' }).attack.eps, 2);
  assert.throws(() => parseAuditOptions({ robustness: 'fast', norm: 'l2', eps: '56' }), /--eps must be/);
});

test('an L2 audit: default eps 0.5, every attack in the L2 ball, the report names the norm', async () => {
  const options = parseAuditOptions({ samples: '30', preprocess: 'none', ep: 'cpu', robustness: 'fast', norm: 'l2', attacks: 'apgd-ce,apgd-t,fab-t,square', squareQueries: '50', fabIterations: '10' });
  const report = await runAudit(readFileSync(new URL('../../models/preact_resnet_fgsm.onnx', import.meta.url)), options, { dataset });
  const r = report.robustness;
  assert.ok(r);
  assert.equal(r.norm, 'l2');
  assert.equal(r.eps, 0.5);
  assert.equal(r.epsText, '0.5');
  assert.deepEqual(r.attacks.map((a) => [a.name, a.norm]), [['apgd-ce', 'l2'], ['apgd-t', 'l2'], ['fab-t', 'l2'], ['square', 'l2']].slice(0, r.attacks.length));
  // L2 at 0.5 breaks this FGSM-trained model's images, but not all of them
  assert.ok(r.robustAccuracy > 0 && r.robustAccuracy < r.cleanAccuracy, `${r.robustAccuracy} vs clean ${r.cleanAccuracy}`);
});
