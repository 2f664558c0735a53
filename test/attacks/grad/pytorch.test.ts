/**
 * Our gradient graph against PyTorch autograd on the project's own trained models
 * (models/<name>.onnx with models/fixtures/gradients.json, written by
 * scripts/training/train_fixtures.py): for the first 4 CIFAR-10 test images, the logits, the
 * mean cross-entropy and d(sum of cross-entropy)/d pixels. Skips, saying why, where the files
 * or the CIFAR-10 data are missing.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { buildGradientModel } from '../../../src/attacks/grad/gradientGraph.js';
import { probeShapes } from '../../../src/attacks/grad/shapes.js';
import { Cifar10Set, loadCifar10Test } from '../../../src/data/cifar10.js';
import { pixelsInUnitRange } from '../../../src/data/preprocess.js';
import { ModelSession } from '../../../src/runtime/session.js';
import { crossEntropy } from './helpers.js';

const modelsDir = new URL('../../../models/', import.meta.url);
const fixtureFile = fileURLToPath(new URL('fixtures/gradients.json', modelsDir));

/** One model's entry of gradients.json (see gradient_fixture in train_fixtures.py). */
interface GradientFixture {
  file: string;
  labels: number[];
  inputShape: [number, number, number, number];
  logits: number[][];
  meanCrossEntropy: number;
  gradShape: [number, number, number, number];
  grad: number[];
}

const fixtures: Record<string, GradientFixture> = existsSync(fixtureFile) ? (JSON.parse(readFileSync(fixtureFile, 'utf8')) as Record<string, GradientFixture>) : {};
const expected = ['preact_resnet_standard', ...Object.keys(fixtures).filter((k) => k !== 'preact_resnet_standard')];

let dataset: Promise<Cifar10Set | string> | undefined;
/** The test set once per file, or why it is unavailable (no download from a test). */
function cifar(): Promise<Cifar10Set | string> {
  dataset ??= loadCifar10Test({ fetch: false }).catch((err: unknown) => `CIFAR-10 test set unavailable: ${(err as Error).message.split('\n')[0]}`);
  return dataset;
}

function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return ab / Math.sqrt(aa * bb);
}

for (const name of expected) {
  const fixture = fixtures[name];
  const modelFile = fileURLToPath(new URL(fixture?.file ?? `${name}.onnx`, modelsDir));
  const skip = !fixture
    ? `no entry "${name}" in models/fixtures/gradients.json (the training script writes it)`
    : !existsSync(modelFile)
      ? `no ${fixture.file} in models/ (the training script writes it)`
      : false;
  test(`${name}: gradient vs PyTorch autograd on the first 4 CIFAR-10 test images (cosine > 0.999)`, { skip }, async (t) => {
    const set = await cifar();
    if (typeof set === 'string') {
      t.skip(set);
      return;
    }
    const [n, c, h, w] = fixture.inputShape;
    assert.deepEqual([...set.labels.subarray(0, n)], fixture.labels, 'the fixture was made on the first test images');
    const bytes = readFileSync(modelFile);
    // The graph normalises inside: pixels in [0,1] go in as they are.
    const gm = buildGradientModel(bytes, { layout: 'NCHW', preprocessing: { mean: [0, 0, 0], std: [1, 1, 1], scale: 1 }, shapes: await probeShapes(bytes) });
    const k = gm.classes;
    const labels = new Float32Array(n * k);
    fixture.labels.forEach((l, i) => (labels[i * k + l] = 1));
    const session = await ModelSession.open(gm.bytes, { ep: 'cpu', intraOpThreads: 1 });
    try {
      const out = await session.run({
        [gm.inputs.pixels]: { data: pixelsInUnitRange(set, 0, n), dims: [n, c, h, w] },
        [gm.inputs.labels]: { data: labels, dims: [n, k] },
      }, [gm.outputs.logits, gm.outputs.loss, gm.outputs.gradient]);
      const logits = out[gm.outputs.logits].data;
      fixture.logits.flat().forEach((v, i) => assert.ok(Math.abs(logits[i] - v) < 1e-3 * Math.max(1, Math.abs(v)), `logit ${i}: ${logits[i]} vs PyTorch ${v}`));
      const mean = fixture.labels.reduce((s, l, i) => s + crossEntropy(logits, i, k, l), 0) / n;
      assert.ok(Math.abs(mean - fixture.meanCrossEntropy) < 1e-4 * Math.max(1, fixture.meanCrossEntropy), `mean loss ${mean} vs PyTorch ${fixture.meanCrossEntropy}`);
      assert.ok(Math.abs(out[gm.outputs.loss].data[0] / n - fixture.meanCrossEntropy) < 1e-4 * Math.max(1, fixture.meanCrossEntropy));
      const gradient = out[gm.outputs.gradient].data;
      assert.equal(gradient.length, fixture.grad.length);
      for (let i = 0; i < n; i++) {
        const size = c * h * w;
        const similarity = cosine(gradient.subarray(i * size, (i + 1) * size), fixture.grad.slice(i * size, (i + 1) * size));
        assert.ok(similarity > 0.999, `image ${i}: cosine similarity ${similarity}`);
      }
    } finally {
      await session.release();
    }
  });
}
