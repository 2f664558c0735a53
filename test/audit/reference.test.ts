/**
 * The audit agrees with an independent PyTorch implementation of SPEC §2 on real third-party
 * models (../shared/models/reference): metrics within 1e-5 relative on the first 100 images,
 * clean accuracy within one image on the first 1,000.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { before, describe, test } from 'node:test';
import { runAudit } from '../../src/audit/audit.js';
import { DEFAULT_AUDIT_OPTIONS } from '../../src/audit/options.js';
import { Cifar10Set, loadCifar10Test } from '../../src/data/cifar10.js';

import { sharedModels as shared, sharedModelsMissing } from '../helpers/shared.js';

interface ReferenceOp {
  node: string;
  stride: number[];
  kernel: number[];
  in: number[];
  out: number[];
  am: number;
  amRel: number;
  aliasEnergy: number;
  stage: number;
}
interface Reference {
  model: string;
  preprocessing: { mean: string; std: string; layout: string };
  clean_acc: { n: number; acc: number };
  aliasing: { n: number; ops: ReferenceOp[]; stages: { resolution: number[]; ops: string[]; am: number }[] };
}

const references: Reference[] = sharedModelsMissing ? [] : (JSON.parse(readFileSync(new URL('models.json', shared), 'utf8')) as { file: string }[]).map(
  (m) => JSON.parse(readFileSync(new URL(`reference/${m.file.replace(/\.onnx$/, '.json')}`, shared), 'utf8')) as Reference,
);

function relativeError(actual: number, expected: number): number {
  return Math.abs(actual - expected) / Math.max(Math.abs(expected), 1e-12);
}

let dataset: Cifar10Set;
before(async () => {
  dataset = await loadCifar10Test();
});

for (const ref of references) {
  describe(`reference ${ref.model}`, () => {
    const bytes = readFileSync(new URL(ref.model, shared));
    const options = {
      ...DEFAULT_AUDIT_OPTIONS,
      preprocess: 'none' as const,
      mean: ref.preprocessing.mean,
      std: ref.preprocessing.std,
      layout: ref.preprocessing.layout as 'NCHW' | 'NHWC',
      ep: 'cpu' as const,
    };

    test(`aliasing metrics on the first ${ref.aliasing.n} images match within 1e-5 relative`, async () => {
      const report = await runAudit(bytes, { ...options, samples: ref.aliasing.n }, { dataset });
      assert.equal(report.downsampling.length, ref.aliasing.ops.length, 'same strided ops found');
      ref.aliasing.ops.forEach((expected, i) => {
        const op = report.downsampling[i];
        assert.equal(op.node, expected.node);
        assert.deepEqual(op.stride, expected.stride);
        assert.deepEqual(op.kernel, expected.kernel);
        assert.deepEqual(op.inputShape, expected.in);
        assert.deepEqual(op.outputShape, expected.out);
        assert.equal(op.stage, expected.stage);
        assert.ok(op.twinCheck?.ok, `twin invariant holds for ${op.node}`);
        for (const key of ['am', 'amRel', 'aliasEnergy'] as const) {
          const actual = op[key];
          assert.ok(actual !== null, `${key} measured`);
          assert.ok(relativeError(actual, expected[key]) < 1e-5, `${op.node} ${key}: ${actual} vs reference ${expected[key]}`);
        }
      });
      ref.aliasing.stages.forEach((expected, i) => {
        assert.deepEqual(report.stages[i].resolution, expected.resolution);
        assert.deepEqual(report.stages[i].ops, expected.ops);
        assert.ok(relativeError(report.stages[i].am, expected.am) < 1e-5, `stage ${i + 1} am`);
      });
    });

    test(`clean accuracy on the first ${ref.clean_acc.n} images is within one image`, async () => {
      const report = await runAudit(bytes, { ...options, samples: ref.clean_acc.n }, { dataset });
      const expectedCorrect = Math.round(ref.clean_acc.acc * ref.clean_acc.n);
      assert.ok(Math.abs(report.cleanCorrect - expectedCorrect) <= 1, `${report.cleanCorrect} correct vs reference ${expectedCorrect}`);
      assert.equal(report.dataset.samples, ref.clean_acc.n);
    });
  });
}

test('auto preprocessing picks a preset that fits the model', { skip: sharedModelsMissing }, async () => {
  // marabou takes raw [0,1] pixels; vnn21 expects normalised ones (CIFAR-10 and ImageNet
  // statistics are close enough that either serves it within a point or two).
  const marabou = await runAudit(readFileSync(new URL('marabou_cifar10_small.onnx', shared)), { ...DEFAULT_AUDIT_OPTIONS, samples: 200, ep: 'cpu' }, { dataset });
  assert.equal(marabou.dataset.preprocessing.chosenBy, 'auto');
  assert.equal(marabou.dataset.preprocessing.name, 'none', JSON.stringify(marabou.dataset.preprocessing.candidates));
  const vnn = await runAudit(readFileSync(new URL('vnn21_resnet_2b.onnx', shared)), { ...DEFAULT_AUDIT_OPTIONS, samples: 200, ep: 'cpu' }, { dataset });
  const candidates = vnn.dataset.preprocessing.candidates ?? [];
  assert.notEqual(vnn.dataset.preprocessing.name, 'none', JSON.stringify(candidates));
  const cifar = candidates.find((c) => c.name === 'cifar10');
  assert.ok(cifar && vnn.cleanAccuracy >= cifar.accuracy - 0.02, 'the chosen preset is as good as the true one');
  assert.ok(!vnn.flags.some((f) => f.includes('near chance')));
});

test('a preprocessing mismatch is flagged as near chance', { skip: sharedModelsMissing }, async () => {
  // sri_resnet_a expects normalised [0,1] pixels; raw 0-255 pixels wreck it.
  const report = await runAudit(readFileSync(new URL('sri_resnet_a.onnx', shared)), { ...DEFAULT_AUDIT_OPTIONS, samples: 100, preprocess: 'none', scale: 255, ep: 'cpu' }, { dataset });
  assert.ok(report.cleanAccuracy < 0.2, `accuracy ${report.cleanAccuracy}`);
  assert.ok(report.flags.some((f) => f.includes('near chance')), JSON.stringify(report.flags));
  // The presets at scale 255 normalise the pixels as the model expects: the flag names one of them.
  assert.ok(report.flags.some((f) => /^preprocessing none scores .* points below (cifar10|imagenet) .*; pass --preprocess (cifar10|imagenet)$/.test(f)), JSON.stringify(report.flags));
});
