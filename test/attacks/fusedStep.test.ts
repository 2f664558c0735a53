/**
 * The PGD step run inside the gradient graph gives the same iterates as the step taken in
 * JavaScript from the graph's gradient.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { pgd } from '../../src/attacks/gradientAttacks.js';
import { GradientGraphClassifier } from '../../src/attacks/onnxClassifiers.js';
import { GradientClassifier } from '../../src/attacks/types.js';
import { loadCifar10Test } from '../../src/data/cifar10.js';
import { pixelsInUnitRange } from '../../src/data/preprocess.js';

test('fused PGD step == JavaScript step (standard model, 16 images, 5 steps)', async () => {
  const bytes = readFileSync(new URL('../../models/preact_resnet_standard.onnx', import.meta.url));
  const model = await GradientGraphClassifier.open(bytes, {
    inputName: 'input',
    logitsName: 'logits',
    layout: 'NCHW',
    preprocessing: { name: 'none', mean: [0, 0, 0], std: [1, 1, 1], scale: 1 },
    fixedBatch: null,
    ep: 'cpu',
  });
  try {
    assert.ok(model.signedStep, 'opset 13 model gets the fused step');
    const dataset = await loadCifar10Test();
    const clean = pixelsInUnitRange(dataset, 0, 16);
    const labels = dataset.labels.subarray(0, 16);
    const options = { eps: 2 / 255, stepSize: 0.5 / 255, steps: 5, restarts: 1, randomStart: true, seed: 3 };
    const fused = await pgd(model, clean, labels, 16, options);
    // the same classifier without its fused step
    const jsOnly: GradientClassifier = { classes: model.classes, logits: (p, n) => model.logits(p, n), lossGradient: (p, l, n) => model.lossGradient(p, l, n) };
    const js = await pgd(jsOnly, clean, labels, 16, options);
    assert.deepEqual(fused.fooled, js.fooled);
    let maxDiff = 0;
    for (let i = 0; i < js.adversarial.length; i++) maxDiff = Math.max(maxDiff, Math.abs(fused.adversarial[i] - js.adversarial[i]));
    assert.ok(maxDiff < 1e-6, `iterates differ by ${maxDiff}`);
    for (let i = 0; i < clean.length; i++) assert.ok(Math.abs(fused.adversarial[i] - clean[i]) <= options.eps + 1e-6);
  } finally {
    await model.release();
  }
});
