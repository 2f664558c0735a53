/**
 * FAB-T and the logit-difference loss it runs on: the loss and its gradient through the gradient
 * graph by finite differences; the box-constrained hyperplane projections against closed forms
 * and optimality properties; on a purely linear classifier (one Gemm) the minimal distances to
 * the decision boundaries are analytic, |z_t - z_y| / ||w_t - w_y||_dual where the box does not
 * bind, and FAB must come within 1% of them; on a small conv model the budget properties.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { distanceOf, FabEvent, FabNorm, FabOptions, fabTargeted, projectOntoHyperplane } from '../../src/attacks/fab.js';
import { LossGraphClassifier } from '../../src/attacks/grad/lossClassifier.js';
import { logitDifferenceRows } from '../../src/attacks/grad/losses.js';
import { ModelInterface, SessionClassifier } from '../../src/attacks/onnxClassifiers.js';
import { argmax, PIXELS_PER_IMAGE } from '../../src/attacks/types.js';
import { attr, Graph } from '../../src/onnx/ir.js';
import { DataType } from '../../src/onnx/schema.js';
import { buildModel, encodeBuiltModel, prng, randomFloats } from '../helpers/modelBuilder.js';

const P = PIXELS_PER_IMAGE;
const K = 10;

const INTERFACE = (inputName: string, logitsName: string): ModelInterface => ({
  inputName,
  logitsName,
  layout: 'NCHW',
  preprocessing: { name: 'none', mean: [0, 0, 0], std: [1, 1, 1], scale: 1 },
  fixedBatch: null,
  ep: 'cpu',
});

/** x -> Flatten -> Gemm(W [10,3072], bias): logits W x + bias. */
function linearModel(w: Float32Array, bias: Float32Array): Uint8Array {
  const g = new Graph({ name: 'linear' });
  g.inputs.push({ name: 'x', elemType: DataType.FLOAT, shape: ['N', 3, 32, 32] });
  const flat = g.op('Flatten', ['x'], [attr.int('axis', 1)]);
  const scores = g.op('Gemm', [flat, g.constantFloat('w', [K, P], w), g.constantFloat('b', [K], bias)], [attr.int('transB', 1)]);
  const logits = g.addNode({ opType: 'Identity', inputs: [scores], outputs: ['logits'] }).outputs[0];
  g.outputs.push({ name: logits, elemType: DataType.FLOAT });
  return encodeBuiltModel(g, 13, 7);
}

/** Stem conv, a strided conv, a max pool (the nonlinearity), global pooling and a linear head. */
function convModel(): Uint8Array {
  return buildModel({
    stem: { kernel: [3, 3], channels: 8 },
    ops: [
      { op: 'Conv', kernel: [3, 3], strides: [2, 2], outChannels: 12 },
      { op: 'MaxPool', kernel: [2, 2], strides: [2, 2] },
      { op: 'Conv', kernel: [3, 3], strides: [1, 1], outChannels: 16 },
      { op: 'MaxPool', kernel: [2, 2], strides: [2, 2] },
    ],
    seed: 5,
  }).bytes;
}

/** x - 0.5 -> Conv(3->8, k4, s4) -> Tanh -> Flatten -> Gemm(512->10): smooth, for finite differences. */
function smoothModel(): Uint8Array {
  const g = new Graph({ name: 'smooth' });
  g.inputs.push({ name: 'x', elemType: DataType.FLOAT, shape: ['N', 3, 32, 32] });
  const centred = g.op('Sub', ['x', g.constantFloat('half', [], Float32Array.of(0.5))]);
  const conv = g.op('Conv', [centred, g.constantFloat('cw', [8, 3, 4, 4], randomFloats(384, 71, 0.5)), g.constantFloat('cb', [8], randomFloats(8, 72, 0.1))], [
    attr.ints('kernel_shape', [4, 4]),
    attr.ints('strides', [4, 4]),
  ]);
  const flat = g.op('Flatten', [g.op('Tanh', [conv])], [attr.int('axis', 1)]);
  const scores = g.op('Gemm', [flat, g.constantFloat('fw', [K, 512], randomFloats(K * 512, 73, 0.2)), g.constantFloat('fb', [K], new Float32Array(K))], [attr.int('transB', 1)]);
  const logits = g.addNode({ opType: 'Identity', inputs: [scores], outputs: ['logits'] }).outputs[0];
  g.outputs.push({ name: logits, elemType: DataType.FLOAT });
  return encodeBuiltModel(g, 13, 7);
}

/** Images with pixels uniform in [lo, hi]. */
function images(count: number, seed: number, lo = 0, hi = 1): Float32Array {
  const r = prng(seed);
  return Float32Array.from({ length: count * P }, () => lo + (hi - lo) * r());
}

const sum = (a: Uint8Array): number => a.reduce((s, v) => s + v, 0);

describe('the logit-difference loss through the gradient graph', () => {
  test('the label rows e_y - e_t; padding rows zero; a target equal to the label refused', () => {
    const rows = logitDifferenceRows(Uint8Array.of(2, 0), Uint8Array.of(5, 9), 2, 3, 10);
    assert.equal(rows.length, 30);
    assert.deepEqual([rows[2], rows[5], rows[10], rows[19]], [1, -1, 1, -1]);
    assert.equal(rows.reduce((s, v) => s + Math.abs(v), 0), 4);
    assert.throws(() => logitDifferenceRows(Uint8Array.of(3), Uint8Array.of(3), 1, 1, 10), /target/);
  });

  test('loss z_t - z_y and its gradient match central finite differences (conv-tanh model, 3 images)', async (tc) => {
    const model = await LossGraphClassifier.open(smoothModel(), INTERFACE('x', 'logits'), 'logit-difference');
    try {
      assert.equal(model.loss, 'logit-difference');
      const n = 3;
      const x = images(n, 11, 0.1, 0.9);
      const labels = Uint8Array.of(1, 4, 7);
      const targets = Uint8Array.of(3, 0, 2);
      const r = await model.evaluate(x, labels, n, targets);
      for (let i = 0; i < n; i++) {
        const expected = r.logits[i * K + targets[i]] - r.logits[i * K + labels[i]];
        assert.ok(Math.abs(r.losses[i] - expected) <= 1e-5 * Math.max(1, Math.abs(expected)), `image ${i}: loss ${r.losses[i]} vs ${expected}`);
      }
      const rand = prng(3);
      const lossOf = async (pixels: Float32Array): Promise<Float64Array> => {
        const logits = await model.logits(pixels, n);
        return Float64Array.from({ length: n }, (_, i) => logits[i * K + targets[i]] - logits[i * K + labels[i]]);
      };
      let worst = 0;
      for (let t = 0; t < 3; t++) {
        const h = 1e-3;
        const d = Float32Array.from({ length: n * P }, () => rand() * 2 - 1);
        const plus = await lossOf(Float32Array.from(x, (v, i) => v + h * d[i]));
        const minus = await lossOf(Float32Array.from(x, (v, i) => v - h * d[i]));
        for (let i = 0; i < n; i++) {
          // Per image: the gradient rows are separate (no image's loss reads another image).
          let analytic = 0;
          for (let p = 0; p < P; p++) analytic += r.gradient[i * P + p] * d[i * P + p];
          const fd = (plus[i] - minus[i]) / (2 * h);
          const rel = Math.abs(fd - analytic) / Math.max(Math.abs(fd), Math.abs(analytic), 1e-9);
          worst = Math.max(worst, rel);
          assert.ok(rel < 1e-2, `image ${i} direction ${t}: finite differences ${fd}, gradient ${analytic}`);
        }
      }
      tc.diagnostic(`worst relative error of the directional derivatives ${worst.toExponential(2)}`);
    } finally {
      await model.release();
    }
  });

  test('linear model: the gradient is w_t - w_y exactly; the losses need targets', async () => {
    const w = randomFloats(K * P, 21, 0.01);
    const model = await LossGraphClassifier.open(linearModel(w, new Float32Array(K)), INTERFACE('x', 'logits'), 'logit-difference');
    try {
      const x = images(2, 4);
      const labels = Uint8Array.of(0, 6);
      const targets = Uint8Array.of(9, 1);
      const r = await model.evaluate(x, labels, 2, targets);
      for (let i = 0; i < 2; i++) {
        for (let p = 0; p < P; p++) {
          const expected = w[targets[i] * P + p] - w[labels[i] * P + p];
          assert.ok(Math.abs(r.gradient[i * P + p] - expected) < 1e-7, `image ${i} pixel ${p}`);
        }
      }
      await assert.rejects(model.evaluate(x, labels, 2), /target/);
    } finally {
      await model.release();
    }
  });
});

describe('projectOntoHyperplane', () => {
  /** w with the given entries first (zeros after), x = 0.5 everywhere unless set. */
  const sparse = (entries: number[]): Float64Array => {
    const v = new Float64Array(P);
    v.set(entries);
    return v;
  };

  test('no binding box: c w / ||w||_2^2 (L2) and c sign(w) / ||w||_1 (L-infinity)', () => {
    const w = randomFloats(P, 31, 1);
    const x = new Float32Array(P).fill(0.5);
    const c = 0.7;
    let l1 = 0;
    let l2 = 0;
    for (const v of w) {
      l1 += Math.abs(v);
      l2 += v * v;
    }
    const d = new Float64Array(P);
    const n2 = projectOntoHyperplane('l2', w, 0, c, x, 0, d);
    assert.ok(Math.abs(n2 - c / Math.sqrt(l2)) < 1e-9 * (c / Math.sqrt(l2)));
    for (let i = 0; i < P; i++) assert.ok(Math.abs(d[i] - (c * w[i]) / l2) < 1e-12);
    const ninf = projectOntoHyperplane('linf', w, 0, -c, x, 0, d);
    assert.ok(Math.abs(ninf - c / l1) < 1e-9 * (c / l1));
    for (let i = 0; i < P; i++) assert.ok(Math.abs(d[i] + (c * Math.sign(w[i])) / l1) < 1e-12);
  });

  test('a binding bound: by hand', () => {
    // w = (1, 1), c = 1, x = (0.8, 0.1): coordinate 0 can rise by 0.2 only.
    const w = sparse([1, 1]);
    const x = new Float64Array(P).fill(0.5);
    x[0] = 0.8;
    x[1] = 0.1;
    const d = new Float64Array(P);
    // L2: unconstrained (0.5, 0.5); capped (0.2, 0.8).
    assert.ok(Math.abs(projectOntoHyperplane('l2', w, 0, 1, x, 0, d) - Math.hypot(0.2, 0.8)) < 1e-12);
    assert.ok(Math.abs(d[0] - 0.2) < 1e-12 && Math.abs(d[1] - 0.8) < 1e-12);
    // L-infinity: min(t, 0.2) + t = 1: t = 0.8.
    assert.ok(Math.abs(projectOntoHyperplane('linf', w, 0, 1, x, 0, d) - 0.8) < 1e-12);
    assert.ok(Math.abs(d[0] - 0.2) < 1e-12 && Math.abs(d[1] - 0.8) < 1e-12);
    // Out of reach (x = 0.9: the box allows 0.1 + 0.1 < 1): the corner.
    const far = new Float64Array(P).fill(0.9);
    const n = projectOntoHyperplane('linf', w, 0, 1, far, 0, d);
    assert.ok(Math.abs(d[0] - 0.1) < 1e-12 && Math.abs(d[1] - 0.1) < 1e-12 && Math.abs(n - 0.1) < 1e-12);
    assert.equal(projectOntoHyperplane('l2', w, 0, 0, x, 0, d), 0);
  });

  for (const norm of ['l2', 'linf'] as const) {
    test(`${norm}: random instances with binding bounds are feasible and pairwise-exchange optimal`, () => {
      const rand = prng(norm === 'l2' ? 41 : 42);
      for (let trial = 0; trial < 20; trial++) {
        const w = Float64Array.from({ length: P }, () => (rand() < 0.1 ? 0 : rand() * 2 - 1));
        const x = Float64Array.from({ length: P }, () => (rand() < 0.2 ? Math.round(rand()) : rand()));
        let reach = 0;
        for (let i = 0; i < P; i++) reach += Math.abs(w[i]) * (w[i] > 0 ? 1 - x[i] : x[i]);
        const c = reach * (0.05 + 0.9 * rand());
        const d = new Float64Array(P);
        const size = projectOntoHyperplane(norm, w, 0, c, x, 0, d);
        let dot = 0;
        for (let i = 0; i < P; i++) {
          dot += w[i] * d[i];
          assert.ok(x[i] + d[i] >= -1e-12 && x[i] + d[i] <= 1 + 1e-12, 'inside the box');
        }
        assert.ok(Math.abs(dot - c) < 1e-9 * reach, `on the hyperplane: ${dot} vs ${c}`);
        assert.ok(Math.abs(size - distanceOf(norm, Float32Array.from(d), 0, new Float32Array(P), 0)) < 1e-6 * size);
        if (norm === 'l2') {
          // Moving mass between two coordinates along the hyperplane cannot shorten d.
          for (let q = 0; q < 200; q++) {
            const i = Math.floor(rand() * P);
            const j = Math.floor(rand() * P);
            if (i === j || w[i] === 0 || w[j] === 0) continue;
            const s = 1e-4 * (rand() * 2 - 1);
            const di = d[i] + s / w[i];
            const dj = d[j] - s / w[j];
            if (x[i] + di < 0 || x[i] + di > 1 || x[j] + dj < 0 || x[j] + dj > 1) continue;
            assert.ok(di * di + dj * dj >= d[i] * d[i] + d[j] * d[j] - 1e-15, 'an exchange shortened d');
          }
        } else {
          // A smaller bound t cannot reach c: sum |w_i| min(t, room_i) < c for t just below.
          const t = size * (1 - 1e-9);
          let best = 0;
          for (let i = 0; i < P; i++) best += Math.abs(w[i]) * Math.min(t, Math.sign(c) * w[i] > 0 ? 1 - x[i] : x[i]);
          assert.ok(best < c, 'a smaller L-infinity bound reaches the hyperplane');
        }
      }
    });
  }
});

describe('FAB-T on a linear classifier: the analytic minimal distances', () => {
  // Weights and biases small enough that the closest boundary points keep away from 0 and 1.
  const n = 8;
  const w = randomFloats(K * P, 51, 0.004);
  const bias = randomFloats(K, 52, 0.3);
  const x = images(n, 53, 0.35, 0.65);
  let model: LossGraphClassifier;
  let labels: Uint8Array;
  let logits: Float32Array;
  before(async () => {
    model = await LossGraphClassifier.open(linearModel(w, bias), INTERFACE('x', 'logits'), 'logit-difference');
    logits = (await model.logits(x, n)).slice();
    labels = Uint8Array.from({ length: n }, (_, i) => argmax(logits, i, K));
  });
  after(async () => {
    await model.release();
  });

  /** Per class c != y: |z_c - z_y| / ||w_c - w_y||_dual, and the largest coordinate move of that point. */
  function analytic(norm: FabNorm, i: number): { distance: number[]; move: number[] } {
    const y = labels[i];
    const distance: number[] = [];
    const move: number[] = [];
    for (let c = 0; c < K; c++) {
      if (c === y) {
        distance.push(Infinity);
        move.push(0);
        continue;
      }
      const gap = logits[i * K + y] - logits[i * K + c];
      let dual = 0;
      let largest = 0;
      for (let p = 0; p < P; p++) {
        const v = w[c * P + p] - w[y * P + p];
        dual += norm === 'linf' ? Math.abs(v) : v * v;
        largest = Math.max(largest, Math.abs(v));
      }
      if (norm === 'l2') dual = Math.sqrt(dual);
      distance.push(gap / dual);
      move.push(norm === 'linf' ? gap / dual : (gap * largest) / (dual * dual));
    }
    return { distance, move };
  }

  for (const norm of ['linf', 'l2'] as const) {
    test(`${norm}: within 1% of the closest boundary point, in 20 iterations; every adversarial really is one`, async (tc) => {
      const events: FabEvent[] = [];
      const o: FabOptions = { eps: Infinity, norm, iterations: 20, targets: 9, restarts: 1, randomStart: false, seed: 1, minimise: true, trace: (e) => events.push(e) };
      const r = await fabTargeted(model, x, labels, n, o);
      let worst = 0;
      let firstWithin = 0;
      for (let i = 0; i < n; i++) {
        const a = analytic(norm, i);
        const nearest = Math.min(...a.distance);
        // The box does not bind: x0 in [0.35, 0.65] and no coordinate moves 0.35.
        assert.ok(Math.max(...a.move) < 0.35, `image ${i}: the box binds (${Math.max(...a.move)})`);
        assert.ok(r.distance[i] >= nearest * (1 - 1e-4), `image ${i}: ${r.distance[i]} below the minimum ${nearest}`);
        assert.ok(r.distance[i] <= nearest * 1.01, `image ${i}: ${r.distance[i]} vs the minimum ${nearest}`);
        worst = Math.max(worst, r.distance[i] / nearest - 1);
        assert.equal(r.fooled[i], 1);
        assert.ok(Math.abs(distanceOf(norm, r.adversarial, i * P, x, i * P) - r.distance[i]) < 1e-9);
        // Within 1% of its target's own boundary at the first run (target 1).
        const t1 = events.find((e) => e.image === i && e.run === 0)?.target as number;
        const run0 = events.filter((e) => e.image === i && e.run === 0 && e.adversarial && e.distance <= a.distance[t1] * 1.01);
        assert.ok(run0.length > 0, `image ${i}: run 0 never came within 1% of the target's boundary ${a.distance[t1]}`);
        firstWithin = Math.max(firstWithin, run0[0].k);
      }
      // Checked by the plain model in its own session, not the gradient graph FAB ran on.
      const forward = await SessionClassifier.open(linearModel(w, bias), INTERFACE('x', 'logits'));
      const check = await forward.logits(r.adversarial, n);
      await forward.release();
      for (let i = 0; i < n; i++) assert.notEqual(argmax(check, i, K), labels[i], `image ${i} is not misclassified`);
      tc.diagnostic(`largest excess over the analytic minimum ${(100 * worst).toFixed(3)}%; the first run came within 1% by iterate ${firstWithin}`);
    });

    test(`${norm}: eps 1.01 times the minimal distance fools every image, 0.99 times none`, async () => {
      for (let i = 0; i < n; i++) {
        const nearest = Math.min(...analytic(norm, i).distance);
        const one = (eps: number) => fabTargeted(model, x.subarray(i * P, (i + 1) * P), labels.subarray(i, i + 1), 1, { eps, norm, iterations: 30, targets: 9, restarts: 1, randomStart: false, seed: 2 });
        const above = await one(nearest * 1.01);
        assert.equal(above.fooled[0], 1, `image ${i}`);
        assert.ok(distanceOf(norm, above.adversarial, 0, x, i * P) <= nearest * 1.01);
        const below = await one(nearest * 0.99);
        assert.equal(below.fooled[0], 0, `image ${i}`);
        assert.ok(distanceOf(norm, below.adversarial, 0, x, i * P) <= nearest * 0.99 * (1 + 1e-6), 'the unfooled result stays in the ball');
      }
    });
  }
});

describe('FAB-T on a small conv model', () => {
  const n = 12;
  const x = images(n, 61);
  let model: LossGraphClassifier;
  let labels: Uint8Array;
  before(async () => {
    model = await LossGraphClassifier.open(convModel(), INTERFACE('image', 'logits'), 'logit-difference');
    const logits = await model.logits(x, n);
    labels = Uint8Array.from({ length: n }, (_, i) => argmax(logits, i, K));
  });
  after(async () => {
    await model.release();
  });

  for (const norm of ['linf', 'l2'] as const) {
    // The closest adversarials of these images lie at 4/255 to 7/255 (L-infinity), 0.47 to 0.83 (L2).
    const small = norm === 'linf' ? 4.5 / 255 : 0.53;
    const large = norm === 'linf' ? 5 / 255 : 0.6;
    test(`${norm}: at a larger eps at least as many images fooled; adversarials misclassified, within eps, in [0,1]`, async (tc) => {
      const base: FabOptions = { eps: small, norm, iterations: 30, targets: 3, restarts: 1, randomStart: false, seed: 7 };
      const forward = await SessionClassifier.open(convModel(), INTERFACE('image', 'logits'));
      const a = await fabTargeted(model, x, labels, n, { ...base, check: forward });
      const b = await fabTargeted(model, x, labels, n, { ...base, eps: large });
      assert.ok(sum(b.fooled) >= sum(a.fooled), `eps ${large}: ${sum(b.fooled)} < ${sum(a.fooled)} at ${small}`);
      assert.ok(sum(b.fooled) > 0, 'nothing fooled at the large eps');
      for (const [r, eps] of [[a, small], [b, large]] as const) {
        const check = await forward.logits(r.adversarial, n);
        for (let i = 0; i < n; i++) {
          const dist = distanceOf(norm, r.adversarial, i * P, x, i * P);
          assert.ok(dist <= eps * (1 + 1e-6), `image ${i}: distance ${dist} > eps ${eps}`);
          if (r.fooled[i]) {
            assert.notEqual(argmax(check, i, K), labels[i], `image ${i}`);
            assert.ok(r.distance[i] <= eps);
          }
        }
        for (const v of r.adversarial) assert.ok(v >= 0 && v <= 1);
      }
      await forward.release();
      tc.diagnostic(`fooled ${sum(a.fooled)}/${n} at eps ${small}, ${sum(b.fooled)}/${n} at ${large}; ${b.evaluations} gradient evaluations at the larger`);
    });
  }

  test('seeded runs reproduce exactly (random starts); another seed differs', async () => {
    const o: FabOptions = { eps: 1 / 255, iterations: 10, targets: 2, restarts: 2, randomStart: true, seed: 9 };
    const a = await fabTargeted(model, x, labels, n, o);
    const b = await fabTargeted(model, x, labels, n, o);
    assert.deepEqual(a.fooled, b.fooled);
    assert.deepEqual(a.adversarial, b.adversarial);
    assert.deepEqual(a.distance, b.distance);
    assert.equal(a.evaluations, b.evaluations);
    const c = await fabTargeted(model, x, labels, n, { ...o, seed: 10 });
    assert.notDeepEqual(c.adversarial, a.adversarial);
  });

  test('an image misclassified already counts as fooled with zero perturbation and costs nothing', async () => {
    const wrong = Uint8Array.from(labels);
    wrong[0] = (labels[0] + 1) % K;
    const one = await fabTargeted(model, x.subarray(0, P), wrong.subarray(0, 1), 1, { eps: 1 / 255, iterations: 10, targets: 9, restarts: 1, randomStart: false, seed: 1 });
    assert.equal(one.fooled[0], 1);
    assert.equal(one.distance[0], 0);
    assert.equal(one.evaluations, 0);
    assert.deepEqual(one.adversarial, x.subarray(0, P));
    const all = await fabTargeted(model, x, wrong, n, { eps: 0.25 / 255, iterations: 5, targets: 1, restarts: 1, randomStart: false, seed: 1 });
    assert.equal(all.fooled[0], 1);
    assert.deepEqual(all.adversarial.subarray(0, P), x.subarray(0, P));
  });

  test('options and the model loss are checked', async () => {
    const o: FabOptions = { eps: 1 / 255, iterations: 10, targets: 1, restarts: 1, randomStart: false, seed: 1 };
    await assert.rejects(fabTargeted(model, x, labels, n, { ...o, iterations: 0 }), /iterations/);
    await assert.rejects(fabTargeted(model, x, labels, n, { ...o, targets: 0 }), /targets/);
    const dlr = await LossGraphClassifier.open(convModel(), INTERFACE('image', 'logits'), 'dlr-targeted');
    try {
      await assert.rejects(fabTargeted(dlr, x, labels, n, o), /logit-difference/);
    } finally {
      await dlr.release();
    }
  });
});
