/**
 * FGSM, PGD and the Square Attack under the L2 norm: every queried iterate lies in the L2 ball
 * and [0,1], results reproduce from the seed, the steps go along g / ||g||_2, the fused signed
 * step is left alone, and a larger budget breaks more images (linear model with a closed-form
 * gradient; the bundled PreAct-ResNet on CIFAR-10 test images).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fgsm, pgd, PgdOptions } from '../../src/attacks/gradientAttacks.js';
import { GradientGraphClassifier } from '../../src/attacks/onnxClassifiers.js';
import { SeededRandom } from '../../src/attacks/random.js';
import { centredPattern, l2Side, squareAttack, SquareOptions, windowPattern } from '../../src/attacks/square.js';
import { ascend, GradientClassifier, margin, perturbationNorm, PIXELS_PER_IMAGE, projectToBall } from '../../src/attacks/types.js';
import { loadCifar10Test } from '../../src/data/cifar10.js';
import { pixelsInUnitRange } from '../../src/data/preprocess.js';
import { benchModelInterface } from '../../src/bench/modelInterface.js';
import { bundledModel, STANDARD } from '../helpers/models.js';
import { correctlyClassified, linearClassifier } from './linearModel.js';

const N = PIXELS_PER_IMAGE;
const countFooled = (f: Uint8Array): number => f.reduce((a, v) => a + v, 0);

/** Every image of `x` (count of them) lies in the L2 eps ball of its clean image and in [0,1]. */
function assertInL2Ball(x: Float32Array, clean: Float32Array, count: number, eps: number): void {
  for (let i = 0; i < count; i++) {
    for (let p = i * N; p < (i + 1) * N; p++) assert.ok(x[p] >= 0 && x[p] <= 1, `pixel ${p} = ${x[p]} outside [0,1]`);
    const n = perturbationNorm('l2', x, clean, i * N);
    assert.ok(n <= eps * (1 + 1e-6), `image ${i}: ||delta||_2 = ${n} > eps ${eps}`);
  }
}

/**
 * Wraps a model: every image it is asked about must lie in the L2 eps ball of one of the clean
 * images and in [0,1] (batches shrink as images are fooled, so rows are matched to any clean image).
 */
function watched<M extends GradientClassifier>(model: M, clean: Float32Array, count: number, eps: number): GradientClassifier & { queried: number; worst: number } {
  const check = (pixels: Float32Array, n: number): void => {
    for (let j = 0; j < n; j++) {
      let nearest = Infinity;
      for (let i = 0; i < count; i++) {
        let s = 0;
        for (let p = 0; p < N; p++) s += (pixels[j * N + p] - clean[i * N + p]) ** 2;
        nearest = Math.min(nearest, Math.sqrt(s));
      }
      for (let p = j * N; p < (j + 1) * N; p++) assert.ok(pixels[p] >= 0 && pixels[p] <= 1, 'a queried pixel left [0,1]');
      assert.ok(nearest <= eps * (1 + 1e-6), `a queried image is ${nearest} from every clean one (eps ${eps})`);
      w.worst = Math.max(w.worst, nearest / eps);
      w.queried++;
    }
  };
  const w = {
    classes: model.classes,
    queried: 0,
    worst: 0,
    logits(pixels: Float32Array, n: number): Promise<Float32Array> {
      check(pixels, n);
      return model.logits(pixels, n);
    },
    lossGradient(pixels: Float32Array, labels: Uint8Array, n: number) {
      check(pixels, n);
      return model.lossGradient(pixels, labels, n);
    },
  };
  return w;
}

describe('FGSM under L2', () => {
  test('one step of length eps along g / ||g||_2, projected; the budget holds', async () => {
    const model = linearClassifier(1);
    const count = 6;
    const { pixels, labels } = await correctlyClassified(model, count, 2);
    const eps = 0.5;
    const r = await fgsm(model, pixels, labels, count, { eps, norm: 'l2' });
    assert.equal(r.evaluations, count);
    assertInL2Ball(r.adversarial, pixels, count, eps);
    const { gradient } = await model.lossGradient(pixels, labels, count);
    const work = new Float64Array(N);
    for (let i = 0; i < count; i++) {
      ascend('l2', pixels, gradient, i * N, eps, work);
      projectToBall('l2', work, pixels, i * N, eps);
      for (let p = 0; p < N; p++) assert.ok(Math.abs(r.adversarial[i * N + p] - work[p]) < 1e-6);
      // Uniform pixels in (0,1): the step of 0.5 spread over 3072 pixels rarely meets the box.
      assert.ok(perturbationNorm('l2', r.adversarial, pixels, i * N) > 0.99 * eps);
    }
  });

  test('a linear model: the L2 step breaks at least as many images as any other direction of the same length', async () => {
    const model = linearClassifier(3);
    const count = 16;
    const { pixels, labels } = await correctlyClassified(model, count, 4);
    const eps = 1;
    const f = await fgsm(model, pixels, labels, count, { eps, norm: 'l2' });
    assert.ok(countFooled(f.fooled) > 0);
    // A random direction of length eps: lower or equal margin decrease than the gradient's.
    const rng = new SeededRandom(1);
    const random = pixels.slice();
    for (let i = 0; i < count; i++) {
      const d = Float64Array.from({ length: N }, () => rng.uniform(-1, 1));
      const len = Math.sqrt(d.reduce((s, v) => s + v * v, 0));
      for (let p = 0; p < N; p++) random[i * N + p] = Math.min(1, Math.max(0, pixels[i * N + p] + (eps * d[p]) / len));
    }
    const lf = await model.logits(f.adversarial, count);
    const lr = await model.logits(random, count);
    let better = 0;
    for (let i = 0; i < count; i++) if (margin(lf, i, 10, labels[i]) <= margin(lr, i, 10, labels[i])) better++;
    assert.ok(better >= count - 1, `the gradient step lowered the margin more on ${better}/${count} images`);
  });
});

describe('PGD under L2', () => {
  const eps = 0.5;
  const options: PgdOptions = { eps, norm: 'l2', stepSize: eps / 4, steps: 10, restarts: 2, randomStart: true, seed: 7 };

  test('every iterate and the result in the L2 ball and [0,1]; at least as strong as FGSM', async () => {
    const model = linearClassifier(3);
    const count = 16;
    const { pixels, labels } = await correctlyClassified(model, count, 4);
    const w = watched(model, pixels, count, eps);
    const r = await pgd(w, pixels, labels, count, options);
    assert.ok(w.queried > count);
    assertInL2Ball(r.adversarial, pixels, count, eps);
    const f = await fgsm(model, pixels, labels, count, { eps, norm: 'l2' });
    assert.ok(countFooled(r.fooled) >= countFooled(f.fooled), `pgd ${countFooled(r.fooled)} vs fgsm ${countFooled(f.fooled)}`);
    assert.ok(countFooled(r.fooled) > 0 && countFooled(r.fooled) < count, `fooled ${countFooled(r.fooled)}`);
  });

  test('the same seed reproduces exactly; another seed starts elsewhere', async () => {
    const model = linearClassifier(3);
    const { pixels, labels } = await correctlyClassified(model, 8, 4);
    const o = { ...options, eps: 0.05, stepSize: 0.0125 };
    const a = await pgd(model, pixels, labels, 8, o);
    const b = await pgd(model, pixels, labels, 8, o);
    assert.deepEqual(a.adversarial, b.adversarial);
    assert.deepEqual(a.fooled, b.fooled);
    assert.equal(a.evaluations, b.evaluations);
    const c = await pgd(model, pixels, labels, 8, { ...o, seed: 8 });
    assert.notDeepEqual(c.adversarial, a.adversarial);
  });

  test('the fused signed step (L-infinity) is not used; eps 0 fools nothing', async () => {
    const model = linearClassifier(5);
    const { pixels, labels } = await correctlyClassified(model, 8, 6);
    const fused: GradientClassifier = {
      classes: model.classes,
      logits: (p, n) => model.logits(p, n),
      lossGradient: (p, l, n) => model.lossGradient(p, l, n),
      signedStep: () => Promise.reject(new Error('signedStep called under L2')),
    };
    const r = await pgd(fused, pixels, labels, 8, options);
    const plain = await pgd(model, pixels, labels, 8, options);
    assert.deepEqual(r.adversarial, plain.adversarial);
    const none = await pgd(model, pixels, labels, 8, { ...options, eps: 0, stepSize: 0 });
    assert.equal(countFooled(none.fooled), 0);
    assert.deepEqual(none.adversarial, pixels);
  });

  test('PreAct-ResNet (bundled), 24 CIFAR-10 test images: eps 0.02 fools fewer than eps 0.5', async (tc) => {
    const bytes = bundledModel(STANDARD);
    const model = await GradientGraphClassifier.open(bytes, benchModelInterface(bytes, 'none'));
    try {
      const dataset = await loadCifar10Test();
      const count = 24;
      const clean = pixelsInUnitRange(dataset, 0, count);
      const labels = dataset.labels.subarray(0, count);
      const run = (e: number) => pgd(model, clean, labels, count, { eps: e, norm: 'l2', stepSize: e / 4, steps: 10, restarts: 1, randomStart: true, seed: 1 });
      const tiny = await run(0.02);
      const large = await run(0.5);
      assertInL2Ball(large.adversarial, clean, count, 0.5);
      assertInL2Ball(tiny.adversarial, clean, count, 0.02);
      const logits = await model.logits(clean, count);
      let correct = 0;
      for (let i = 0; i < count; i++) if (margin(logits, i, 10, labels[i]) > 0) correct++;
      tc.diagnostic(`clean correct ${correct}/${count}; fooled (incl. misclassified) at eps 0.02: ${countFooled(tiny.fooled)}, at 0.5: ${countFooled(large.fooled)}`);
      assert.ok(countFooled(tiny.fooled) < countFooled(large.fooled));
      for (let i = 0; i < count; i++) if (tiny.fooled[i]) assert.equal(large.fooled[i], 1, `image ${i}: broken at 0.02, not at 0.5`);
    } finally {
      await model.release();
    }
  });
});

describe('Square Attack under L2', () => {
  test('the centred pattern peaks in the middle; the window pattern has unit norm and two halves of opposite sign', () => {
    const c = centredPattern(5, 5);
    assert.equal(c.indexOf(Math.max(...c)), 12);
    assert.ok(c.every((v) => v > 0));
    assert.ok(c[0] < c[6] && c[6] < c[12]);
    const rng = new SeededRandom(1);
    let transposed = 0;
    for (let k = 0; k < 40; k++) {
      const h = 2 + (k % 9);
      const w = windowPattern(h, rng);
      assert.ok(Math.abs(Math.sqrt(w.reduce((s, v) => s + v * v, 0)) - 1) < 1e-12);
      const half = Math.ceil(h / 2);
      // Columns (or rows, transposed) [0, ceil(h/2)) positive, the rest negative.
      const byColumns = [...Array(h * h).keys()].every((i) => (i % h < half ? w[i] > 0 : w[i] < 0));
      const byRows = [...Array(h * h).keys()].every((i) => (Math.floor(i / h) < half ? w[i] > 0 : w[i] < 0));
      assert.ok(byColumns || byRows, `h ${h}`);
      if (byRows && !byColumns) transposed++;
    }
    assert.ok(transposed > 5 && transposed < 35, `transposed ${transposed}/40`);
  });

  test('window side: from the share, odd, between 3 and the image (the rule of AutoAttack)', () => {
    assert.equal(l2Side(0.1), 11); // sqrt(102.4) rounds to 10, made odd
    assert.equal(l2Side(0.8), 29);
    assert.equal(l2Side(0.05 / 2), 5);
    assert.equal(l2Side(1e-5), 3);
    assert.equal(l2Side(1), 32, 'a window may cover the whole image');
  });

  test('every query in the L2 ball and [0,1], forward passes only, reproducible', async (tc) => {
    const model = linearClassifier(8);
    const count = 8;
    const { pixels, labels } = await correctlyClassified(model, count, 9);
    // Push some pixels to 0 and 1 so the clip removes mass and the unused budget comes into play.
    for (let p = 0; p < pixels.length; p += 3) pixels[p] = p % 2 ? 1 : 0;
    const eps = 0.5;
    const o: SquareOptions = { eps, norm: 'l2', queries: 80, pInit: 0.1, seed: 3 };
    const w = watched(model, pixels, count, eps);
    const noGradient = { classes: w.classes, logits: (p: Float32Array, n: number) => w.logits(p, n) };
    const r = await squareAttack(noGradient, pixels, labels, count, o);
    assertInL2Ball(r.adversarial, pixels, count, eps);
    assert.ok(r.evaluations <= count * o.queries && w.queried === r.evaluations);
    const again = await squareAttack(model, pixels, labels, count, o);
    assert.deepEqual(again.fooled, r.fooled);
    assert.deepEqual(again.adversarial, r.adversarial);
    // The budget is used: the search keeps ||delta|| near eps (the clip only removes a little).
    let least = Infinity;
    for (let i = 0; i < count; i++) least = Math.min(least, perturbationNorm('l2', r.adversarial, pixels, i * N));
    tc.diagnostic(`smallest ||delta||_2 ${least.toFixed(4)}, worst query at ${w.worst.toFixed(8)} eps`);
    assert.ok(least > 0.8 * eps);
  });

  test('the presets\' start (p_init 0.8: windows up to 29 pixels, overlapping) stays in the ball and ends', async () => {
    const model = linearClassifier(8);
    const count = 4;
    const { pixels, labels } = await correctlyClassified(model, count, 9);
    const eps = 0.5;
    const w = watched(model, pixels, count, eps);
    const r = await squareAttack(w, pixels, labels, count, { eps, norm: 'l2', queries: 40, pInit: 0.8, seed: 5 });
    assertInL2Ball(r.adversarial, pixels, count, eps);
    assert.equal(w.queried, r.evaluations);
  });

  test('lowers the margin and fools a linear model at a large eps; fools nothing at eps 0', async () => {
    const model = linearClassifier(8);
    const count = 8;
    const { pixels, labels } = await correctlyClassified(model, count, 9);
    const start = await model.logits(pixels, count);
    const r = await squareAttack(model, pixels, labels, count, { eps: 3, norm: 'l2', queries: 150, pInit: 0.1, seed: 1 });
    assert.ok(countFooled(r.fooled) > 0);
    const after = await model.logits(r.adversarial, count);
    for (let i = 0; i < count; i++) assert.ok(margin(after, i, 10, labels[i]) < margin(start, i, 10, labels[i]), `image ${i}`);
    const none = await squareAttack(model, pixels, labels, count, { eps: 0, norm: 'l2', queries: 20, pInit: 0.1, seed: 1 });
    assert.equal(countFooled(none.fooled), 0);
    assertInL2Ball(none.adversarial, pixels, count, 1e-12);
  });
});
