/**
 * FGSM, PGD and the Square Attack on a linear classifier whose gradient is known in closed
 * form: the budget is respected, results are reproducible from the seed, and the attacks are
 * as strong relative to each other as they should be.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fgsm, pgd } from '../../src/attacks/gradientAttacks.js';
import { squareAttack, squareShare } from '../../src/attacks/square.js';
import { correctlyClassified, linearClassifier } from './linearModel.js';

function assertInBall(adv: Float32Array, clean: Float32Array, eps: number): void {
  for (let i = 0; i < adv.length; i++) {
    assert.ok(adv[i] >= 0 && adv[i] <= 1, `pixel ${i} in [0,1]`);
    assert.ok(Math.abs(adv[i] - clean[i]) <= eps + 1e-6, `pixel ${i} within eps`);
  }
}

const countFooled = (f: Uint8Array): number => f.reduce((a, v) => a + v, 0);

describe('FGSM', () => {
  test('steps eps along the gradient sign, clipped to [0,1]', async () => {
    const model = linearClassifier(1);
    const { pixels, labels } = await correctlyClassified(model, 4, 2);
    const eps = 4 / 255;
    const r = await fgsm(model, pixels, labels, 4, { eps });
    const { gradient } = await model.lossGradient(pixels, labels, 4);
    for (let i = 0; i < r.adversarial.length; i++) {
      const expected = Math.min(1, Math.max(0, pixels[i] + eps * Math.sign(gradient[i])));
      assert.ok(Math.abs(r.adversarial[i] - expected) < 1e-6);
    }
    assert.equal(r.evaluations, 4);
  });
});

describe('PGD', () => {
  const eps = 2 / 255;
  const options = { eps, stepSize: eps / 4, steps: 10, restarts: 1, randomStart: true, seed: 7 };

  test('stays in the eps ball and [0,1], and is at least as strong as FGSM', async () => {
    const model = linearClassifier(3);
    const { pixels, labels } = await correctlyClassified(model, 16, 4);
    const r = await pgd(model, pixels, labels, 16, options);
    assertInBall(r.adversarial, pixels, eps);
    const f = await fgsm(model, pixels, labels, 16, { eps });
    assert.ok(countFooled(r.fooled) >= countFooled(f.fooled), `pgd ${countFooled(r.fooled)} vs fgsm ${countFooled(f.fooled)}`);
    assert.ok(countFooled(r.fooled) > 0, 'fools some samples of a linear model');
  });

  test('the same seed gives the same result; another seed may differ', async () => {
    const model = linearClassifier(3);
    const { pixels, labels } = await correctlyClassified(model, 8, 4);
    const a = await pgd(model, pixels, labels, 8, options);
    const b = await pgd(model, pixels, labels, 8, options);
    assert.deepEqual(a.adversarial, b.adversarial);
    assert.deepEqual(a.fooled, b.fooled);
  });

  test('fooled samples leave the batch early; eps 0 fools nothing', async () => {
    const model = linearClassifier(5);
    const { pixels, labels } = await correctlyClassified(model, 16, 6);
    const strong = await pgd(model, pixels, labels, 16, { ...options, eps: 16 / 255, stepSize: 4 / 255 });
    assert.ok(strong.evaluations < 16 * options.steps, `evaluations ${strong.evaluations}`);
    const none = await pgd(model, pixels, labels, 16, { ...options, eps: 0, stepSize: 0 });
    assert.equal(countFooled(none.fooled), 0);
    assert.deepEqual(none.adversarial, pixels);
  });

  test('restarts only retry the samples not yet fooled', async () => {
    const model = linearClassifier(3);
    const { pixels, labels } = await correctlyClassified(model, 16, 4);
    const one = await pgd(model, pixels, labels, 16, options);
    const three = await pgd(model, pixels, labels, 16, { ...options, restarts: 3 });
    assert.ok(countFooled(three.fooled) >= countFooled(one.fooled));
    assert.ok(three.evaluations <= one.evaluations + 2 * (16 - countFooled(one.fooled)) * options.steps);
  });
});

describe('Square Attack', () => {
  test('window share follows the halving schedule', () => {
    assert.equal(squareShare(0.05, 5, 10000), 0.05);
    assert.equal(squareShare(0.05, 30, 10000), 0.025);
    assert.equal(squareShare(0.05, 9000, 10000), 0.05 / 512);
    // a shorter budget runs the same schedule faster
    assert.equal(squareShare(0.05, 30, 1000), 0.05 / 8);
  });

  test('uses forward passes only, respects the budget and the ball, is reproducible', async () => {
    const model = linearClassifier(8);
    const { pixels, labels } = await correctlyClassified(model, 8, 9);
    const eps = 4 / 255;
    const o = { eps, queries: 60, pInit: 0.05, seed: 3 };
    const r = await squareAttack(model, pixels, labels, 8, o);
    assertInBall(r.adversarial, pixels, eps);
    assert.ok(r.evaluations <= 8 * o.queries);
    const again = await squareAttack(model, pixels, labels, 8, o);
    assert.deepEqual(again.fooled, r.fooled);
    assert.deepEqual(again.adversarial, r.adversarial);
  });

  test('lowers the margin and fools a linear model at a large eps', async () => {
    const model = linearClassifier(8);
    const { pixels, labels } = await correctlyClassified(model, 8, 9);
    const r = await squareAttack(model, pixels, labels, 8, { eps: 16 / 255, queries: 100, pInit: 0.1, seed: 1 });
    assert.ok(countFooled(r.fooled) > 0);
  });
});
