/**
 * APGD and the DLR losses against the independent PyTorch reference of
 * scripts/reference/apgd_reference.py (test/fixtures/apgd-reference.json): the model and the
 * images are rebuilt here from the same LCG, the DLR losses and their gradients of our gradient
 * graph and the APGD runs (cross-entropy and DLR, no random start; APGD-CE in the L2 ball too)
 * are compared with its values. Property tests: checkpoints, the budget, reproducibility, APGD-T,
 * APGD-L2.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  apgd,
  ApgdEvent,
  ApgdModel,
  ApgdOptions,
  checkpointFractions,
  checkpoints,
  crossEntropyLoss,
  dlrLoss,
  targetClass,
  targetedDlrLoss,
} from '../../src/attacks/apgd.js';
import { LossGraphClassifier } from '../../src/attacks/grad/lossClassifier.js';
import { GradientGraphClassifier, ModelInterface } from '../../src/attacks/onnxClassifiers.js';
import { perturbationNorm, PIXELS_PER_IMAGE } from '../../src/attacks/types.js';
import { attr, Graph } from '../../src/onnx/ir.js';
import { DataType } from '../../src/onnx/schema.js';
import { encodeBuiltModel } from '../helpers/modelBuilder.js';

interface DlrCase {
  image: number;
  label: number;
  target: number;
  logits: number[];
  dlr: number;
  dlrTargeted: number;
  gradient?: string;
  gradientTargeted?: string;
}

interface ApgdImage {
  image: number;
  label: number;
  bestLoss: number[];
  halvedAt: number[];
  fooledAt: number | null;
}

interface Fixture {
  lcg: { multiplier: number; modulus: number };
  weights: Record<'conv_w' | 'conv_b' | 'conv2_w' | 'conv2_b' | 'fc_w' | 'fc_b', { seed: number; dims: number[]; scale: number }>;
  imageSeed: number;
  dlr: DlrCase[];
  apgd: { iterations: number; eps: number; checkpoints: number[]; runs: { loss: 'ce' | 'dlr'; images: ApgdImage[] }[] };
  /** APGD-CE in the L2 ball, per run on the images with the given contrast (see contrasted). */
  apgdL2: { norm: 'l2'; runs: { loss: 'ce'; contrast: number; eps: number; iterations: number; checkpoints: number[]; minLossGap: number; images: ApgdImage[] }[] };
  momentum: number;
  rho: number;
}

const fixture = JSON.parse(readFileSync(fileURLToPath(new URL('../fixtures/apgd-reference.json', import.meta.url)), 'utf8')) as Fixture;

/** The reference's LCG: n draws in (0,1), exact in float64. */
function lcg(seed: number, n: number): Float64Array {
  const out = new Float64Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * fixture.lcg.multiplier) % fixture.lcg.modulus;
    out[i] = s / fixture.lcg.modulus;
  }
  return out;
}

function weight(name: keyof Fixture['weights']): { dims: number[]; values: Float32Array } {
  const { seed, dims, scale } = fixture.weights[name];
  const u = lcg(seed, dims.reduce((a, b) => a * b, 1));
  return { dims, values: Float32Array.from(u, (v) => (2 * v - 1) * scale) };
}

/** Image i: 0.7 times a 4x4 grid of 8x8 blocks per channel plus 0.3 times per-pixel noise. */
function image(i: number): Float32Array {
  const u = lcg(fixture.imageSeed + i, PIXELS_PER_IMAGE + 48);
  const x = new Float32Array(PIXELS_PER_IMAGE);
  for (let c = 0; c < 3; c++) {
    for (let r = 0; r < 32; r++) {
      for (let q = 0; q < 32; q++) {
        const p = c * 1024 + r * 32 + q;
        x[p] = 0.7 * u[PIXELS_PER_IMAGE + c * 16 + Math.floor(r / 8) * 4 + Math.floor(q / 8)] + 0.3 * u[p];
      }
    }
  }
  return x;
}

function images(indices: readonly number[], contrast = 1): Float32Array {
  const out = new Float32Array(indices.length * PIXELS_PER_IMAGE);
  indices.forEach((idx, j) => out.set(contrast === 1 ? image(idx) : contrasted(image(idx), contrast), j * PIXELS_PER_IMAGE));
  return out;
}

/** The reference's float32(clip((x - 0.5) * contrast + 0.5, 0, 1)), computed in float64. */
function contrasted(x: Float32Array, contrast: number): Float32Array {
  return Float32Array.from(x, (v) => Math.min(Math.max((v - 0.5) * contrast + 0.5, 0), 1));
}

/** x - 0.5 -> Conv(3->8, k4, s4) -> Relu -> Conv(8->16, k3, pad 1) -> Relu -> Flatten -> Gemm(1024->10), as the reference's Net. */
function referenceModel(opset: number, o: { batch?: number; logitScale?: number } = {}): Uint8Array {
  const g = new Graph({ name: 'apgd_reference' });
  g.inputs.push({ name: 'x', elemType: DataType.FLOAT, shape: [o.batch ?? 'N', 3, 32, 32] });
  const c = (name: keyof Fixture['weights']): string => {
    const w = weight(name);
    return g.constantFloat(name, w.dims, w.values);
  };
  const centred = g.op('Sub', ['x', g.constantFloat('half', [], Float32Array.of(0.5))]);
  const conv = g.op('Conv', [centred, c('conv_w'), c('conv_b')], [attr.ints('kernel_shape', [4, 4]), attr.ints('strides', [4, 4])]);
  const conv2 = g.op('Conv', [g.op('Relu', [conv]), c('conv2_w'), c('conv2_b')], [attr.ints('kernel_shape', [3, 3]), attr.ints('pads', [1, 1, 1, 1])]);
  const flat = g.op('Flatten', [g.op('Relu', [conv2])], [attr.int('axis', 1)]);
  let scores = g.op('Gemm', [flat, c('fc_w'), c('fc_b')], [attr.int('transB', 1)]);
  if (o.logitScale !== undefined) scores = g.op('Mul', [scores, g.constantFloat('logit_scale', [], Float32Array.of(o.logitScale))]);
  const logits = g.addNode({ opType: 'Identity', inputs: [scores], outputs: ['logits'] }).outputs[0];
  g.outputs.push({ name: logits, elemType: DataType.FLOAT });
  return encodeBuiltModel(g, opset, opset >= 13 ? 7 : opset >= 9 ? 4 : 3);
}

const INTERFACE: ModelInterface = {
  inputName: 'x',
  logitsName: 'logits',
  layout: 'NCHW',
  preprocessing: { name: 'none', mean: [0, 0, 0], std: [1, 1, 1], scale: 1 },
  fixedBatch: null,
  ep: 'cpu',
};

function decode(b64: string): Float32Array {
  const bytes = Buffer.from(b64, 'base64');
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

const relative = (a: number, b: number): number => Math.abs(a - b) / Math.max(Math.abs(b), 1e-12);

/**
 * Error relative to max(|b|, 1): losses are O(1), and the DLR loss crosses 0 where an image is
 * broken, where float32 logits (summed in another order than PyTorch's) leave ~1e-6 absolute.
 */
const lossError = (a: number, b: number): number => Math.abs(a - b) / Math.max(Math.abs(b), 1);

/** Largest |a - b| over the largest |b|: the gradient's error relative to its scale. */
function gradientError(a: Float32Array, b: Float32Array): number {
  let err = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    err = Math.max(err, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return err / scale;
}

describe('checkpoints', () => {
  test('p_j follows p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06) from 0, 0.22 up to 1', () => {
    const p = checkpointFractions();
    const expected = [0, 0.22, 0.41, 0.57, 0.7, 0.8, 0.87, 0.93, 0.99];
    assert.equal(p.length, expected.length);
    p.forEach((v, j) => assert.ok(Math.abs(v - expected[j]) < 1e-12, `p_${j} = ${v}`));
    for (let j = 1; j + 1 < p.length; j++) assert.ok(Math.abs(p[j + 1] - p[j] - Math.max(p[j] - p[j - 1] - 0.03, 0.06)) < 1e-12);
  });

  test('w_j = ceil(p_j N), inside (0, N), increasing', () => {
    assert.deepEqual(checkpoints(100), [22, 41, 57, 70, 80, 87, 93, 99]);
    assert.deepEqual(checkpoints(fixture.apgd.iterations), fixture.apgd.checkpoints);
    assert.deepEqual(checkpoints(10), [3, 5, 6, 7, 8, 9]);
    assert.deepEqual(checkpoints(5), [2, 3, 4]);
    assert.deepEqual(checkpoints(1), []);
    for (const n of [7, 20, 50, 250, 1000]) {
      const w = checkpoints(n);
      w.forEach((v, j) => assert.ok(v > 0 && v < n && (j === 0 || v > w[j - 1])));
    }
  });
});

describe('losses in float64 (the step-size logic) against the reference', () => {
  test('DLR untargeted and targeted from the reference logits', () => {
    for (const c of fixture.dlr) {
      const z = Float32Array.from(c.logits);
      assert.ok(relative(dlrLoss(z, 0, 10, c.label), c.dlr) < 1e-5, `image ${c.image}: dlr`);
      assert.ok(relative(targetedDlrLoss(z, 0, 10, c.label, c.target), c.dlrTargeted) < 1e-5, `image ${c.image}: targeted dlr`);
      assert.ok(crossEntropyLoss(z, 0, 10, c.label) > 0);
    }
  });

  test('targetClass ranks the other classes by clean logit', () => {
    const z = Float32Array.of(0.1, 3, -1, 2, 2.5);
    assert.deepEqual([1, 2, 3, 4, 5].map((r) => targetClass(z, 0, 5, 1, r)), [4, 3, 0, 2, -1]);
    assert.deepEqual([1, 2].map((r) => targetClass(z, 0, 5, 3, r)), [1, 4]);
  });
});

// Opset 7/8: no Where (float masks); 9: TopK's k an attribute; 10+: an input; 13: axes inputs.
// A fixed batch of 8 pads the 5 cases with all-zero label rows.
for (const { opset, batch } of [{ opset: 7 }, { opset: 9 }, { opset: 9, batch: 8 }, { opset: 11 }, { opset: 13 }]) {
  describe(`the DLR losses of the gradient graph (opset ${opset}${batch ? `, fixed batch ${batch}` : ''}) against PyTorch`, () => {
    let untargeted: LossGraphClassifier;
    let targeted: LossGraphClassifier;
    before(async () => {
      const bytes = referenceModel(opset, { batch });
      untargeted = await LossGraphClassifier.open(bytes, INTERFACE, 'dlr');
      targeted = await LossGraphClassifier.open(bytes, INTERFACE, 'dlr-targeted');
    });
    after(async () => {
      await untargeted.release();
      await targeted.release();
    });

    test('losses, logits and gradients within 1e-4 (one batch, all cases)', async (tc) => {
      const cases = fixture.dlr;
      const x = images(cases.map((c) => c.image));
      const labels = Uint8Array.from(cases, (c) => c.label);
      const targets = Uint8Array.from(cases, (c) => c.target);
      const u = await untargeted.evaluate(x, labels, cases.length);
      const t = await targeted.evaluate(x, labels, cases.length, targets);
      let worstLoss = 0;
      let worstGradient = 0;
      cases.forEach((c, i) => {
        worstLoss = Math.max(worstLoss, relative(u.losses[i], c.dlr), relative(t.losses[i], c.dlrTargeted));
        c.logits.forEach((v, k) => assert.ok(Math.abs(u.logits[i * 10 + k] - v) < 1e-4 * Math.max(1, Math.abs(v)), `image ${c.image} logit ${k}`));
        assert.ok(relative(u.losses[i], c.dlr) < 1e-4, `image ${c.image}: dlr ${u.losses[i]} vs ${c.dlr}`);
        assert.ok(relative(t.losses[i], c.dlrTargeted) < 1e-4, `image ${c.image}: targeted dlr ${t.losses[i]} vs ${c.dlrTargeted}`);
        const row = (g: Float32Array): Float32Array => g.subarray(i * PIXELS_PER_IMAGE, (i + 1) * PIXELS_PER_IMAGE);
        if (c.gradient) {
          const err = gradientError(row(u.gradient), decode(c.gradient));
          worstGradient = Math.max(worstGradient, err);
          assert.ok(err < 1e-4, `image ${c.image}: dlr gradient off by ${err}`);
        }
        if (c.gradientTargeted) {
          const err = gradientError(row(t.gradient), decode(c.gradientTargeted));
          worstGradient = Math.max(worstGradient, err);
          assert.ok(err < 1e-4, `image ${c.image}: targeted dlr gradient off by ${err}`);
        }
      });
      tc.diagnostic(`worst relative loss error ${worstLoss.toExponential(2)}, worst gradient error (of max |g|) ${worstGradient.toExponential(2)}`);
    });

    test('padding rows (all-zero labels) add nothing; one image alone gives the same', async () => {
      const c = fixture.dlr[0];
      const x = images([c.image]);
      const alone = await targeted.evaluate(x, Uint8Array.of(c.label), 1, Uint8Array.of(c.target));
      assert.ok(relative(alone.losses[0], c.dlrTargeted) < 1e-4);
      const forward = await untargeted.logits(x, 1);
      c.logits.forEach((v, k) => assert.ok(Math.abs(forward[k] - v) < 1e-4 * Math.max(1, Math.abs(v))));
    });
  });
}

/** Per image of run 0: the best loss per evaluated iterate, the halvings and where it was fooled. */
function traceRun0(events: ApgdEvent[], count: number): ApgdImage[] {
  const out: ApgdImage[] = Array.from({ length: count }, () => ({ image: -1, label: -1, bestLoss: [], halvedAt: [], fooledAt: null }));
  for (const e of events) {
    if (e.run !== 0) continue;
    if (e.kind === 'iterate') {
      assert.equal(out[e.image].bestLoss.length, e.k, 'iterates in order');
      out[e.image].bestLoss.push(e.bestLoss);
      if (e.fooled) out[e.image].fooledAt = e.k;
    } else out[e.image].halvedAt.push(e.k);
  }
  return out;
}

describe('APGD against the PyTorch reference (no random start)', () => {
  const count = fixture.apgd.runs[0].images.length;
  const x = images(fixture.apgd.runs[0].images.map((r) => r.image));
  const labels = Uint8Array.from(fixture.apgd.runs[0].images, (r) => r.label);
  const bytes = referenceModel(9);

  for (const run of fixture.apgd.runs) {
    test(`APGD-${run.loss.toUpperCase()}: same fooled set, step-size halvings, best loss per iterate within 1e-4 (of max(|loss|, 1))`, async (tc) => {
      const model: ApgdModel & { release(): Promise<void> } =
        run.loss === 'ce' ? await GradientGraphClassifier.open(bytes, INTERFACE) : await LossGraphClassifier.open(bytes, INTERFACE, 'dlr');
      try {
        const events: ApgdEvent[] = [];
        const o: ApgdOptions = {
          eps: fixture.apgd.eps,
          iterations: fixture.apgd.iterations,
          restarts: 1,
          randomStart: false,
          seed: 0,
          loss: run.loss,
          momentum: fixture.momentum,
          rho: fixture.rho,
          trace: (e) => events.push(e),
        };
        const result = await apgd(model, x, labels, count, o);
        const ours = traceRun0(events, count);
        let worst = 0;
        run.images.forEach((ref, i) => {
          assert.equal(ours[i].fooledAt, ref.fooledAt, `image ${ref.image}: fooled at`);
          assert.equal(result.fooled[i], ref.fooledAt === null ? 0 : 1, `image ${i}: fooled flag`);
          assert.deepEqual(ours[i].halvedAt, ref.halvedAt, `image ${i}: halvings`);
          assert.equal(ours[i].bestLoss.length, ref.bestLoss.length, `image ${i}: iterates`);
          ref.bestLoss.forEach((v, k) => (worst = Math.max(worst, lossError(ours[i].bestLoss[k], v))));
          ref.bestLoss.forEach((v, k) => assert.ok(lossError(ours[i].bestLoss[k], v) < 1e-4, `image ${ref.image} iterate ${k}: best loss ${ours[i].bestLoss[k]} vs ${v}`));
        });
        // Gradients at x(0..N-1) (x(N) only forward), up to the fooling iterate x(k): k + 1.
        const n = fixture.apgd.iterations;
        const expected = run.images.reduce((s, r) => s + (r.fooledAt === null ? n : Math.min(r.fooledAt + 1, n)), 0);
        assert.equal(result.evaluations, expected);
        const broken = run.images.filter((r) => r.fooledAt !== null).length;
        tc.diagnostic(`fooled ${broken}/${count}, halvings ${run.images.reduce((s, r) => s + r.halvedAt.length, 0)}, worst best-loss error ${worst.toExponential(2)}`);
      } finally {
        await model.release();
      }
    });
  }
});

describe('APGD-CE in the L2 ball against the PyTorch reference (no random start, exact projection)', () => {
  const bytes = referenceModel(9);
  for (const run of fixture.apgdL2.runs) {
    // The reference chose runs whose compared losses lie >= 1e-5 apart (minLossGap), so float32
    // noise cannot flip a step-size decision; the best losses must agree far closer than that.
    test(`contrast ${run.contrast}, eps ${run.eps}, N ${run.iterations}: same fooled set, step-size halvings, best loss per iterate within ${(run.minLossGap / 4).toExponential(1)}`, async (tc) => {
      const count = run.images.length;
      const x = images(run.images.map((r) => r.image), run.contrast);
      const labels = Uint8Array.from(run.images, (r) => r.label);
      const model = await GradientGraphClassifier.open(bytes, INTERFACE);
      try {
        const events: ApgdEvent[] = [];
        const o: ApgdOptions = { eps: run.eps, norm: 'l2', iterations: run.iterations, restarts: 1, randomStart: false, seed: 0, loss: 'ce', trace: (e) => events.push(e) };
        assert.deepEqual(checkpoints(o.iterations), run.checkpoints);
        const result = await apgd(model, x, labels, count, o);
        const ours = traceRun0(events, count);
        let worst = 0;
        run.images.forEach((ref, i) => {
          assert.equal(ours[i].fooledAt, ref.fooledAt, `image ${ref.image}: fooled at`);
          assert.equal(result.fooled[i], ref.fooledAt === null ? 0 : 1);
          assert.deepEqual(ours[i].halvedAt, ref.halvedAt, `image ${ref.image}: halvings`);
          assert.equal(ours[i].bestLoss.length, ref.bestLoss.length, `image ${ref.image}: iterates`);
          ref.bestLoss.forEach((v, k) => (worst = Math.max(worst, lossError(ours[i].bestLoss[k], v))));
          ref.bestLoss.forEach((v, k) => assert.ok(lossError(ours[i].bestLoss[k], v) < run.minLossGap / 4, `image ${ref.image} iterate ${k}: best loss ${ours[i].bestLoss[k]} vs ${v}`));
          const n = perturbationNorm('l2', result.adversarial, x, i * PIXELS_PER_IMAGE);
          assert.ok(n <= run.eps * (1 + 1e-6), `image ${ref.image}: ||delta||_2 = ${n}`);
        });
        const broken = run.images.filter((r) => r.fooledAt !== null).length;
        tc.diagnostic(`fooled ${broken}/${count}, halvings ${run.images.reduce((s, r) => s + r.halvedAt.length, 0)}, worst best-loss error ${worst.toExponential(2)}`);
      } finally {
        await model.release();
      }
    });
  }
});

describe('scale invariance of APGD-DLR', () => {
  test('logits x1000: APGD-DLR breaks the same images at the same iterates as on the model itself', async (tc) => {
    const run = fixture.apgd.runs.find((r) => r.loss === 'dlr') as Fixture['apgd']['runs'][number];
    const count = run.images.length;
    const x = images(run.images.map((r) => r.image));
    const labels = Uint8Array.from(run.images, (r) => r.label);
    const o: ApgdOptions = { eps: fixture.apgd.eps, iterations: fixture.apgd.iterations, restarts: 1, randomStart: false, seed: 0, loss: 'dlr' };
    const scaled = await LossGraphClassifier.open(referenceModel(9, { logitScale: 1000 }), INTERFACE, 'dlr');
    const scaledCe = await GradientGraphClassifier.open(referenceModel(9, { logitScale: 1000 }), INTERFACE);
    try {
      const events: ApgdEvent[] = [];
      const r = await apgd(scaled, x, labels, count, { ...o, trace: (e) => events.push(e) });
      const ours = traceRun0(events, count);
      run.images.forEach((ref, i) => {
        assert.equal(ours[i].fooledAt, ref.fooledAt, `image ${ref.image}`);
        assert.equal(r.fooled[i], ref.fooledAt === null ? 0 : 1);
      });
      const ce = await apgd(scaledCe, x, labels, count, { ...o, loss: 'ce' });
      const ceRun = fixture.apgd.runs.find((q) => q.loss === 'ce') as Fixture['apgd']['runs'][number];
      tc.diagnostic(`x1000: APGD-DLR fooled ${r.fooled.reduce((a, b) => a + b, 0)}/${count}; APGD-CE fooled ${ce.fooled.reduce((a, b) => a + b, 0)}/${count} (unscaled ${ceRun.images.filter((q) => q.fooledAt !== null).length})`);
    } finally {
      await scaled.release();
      await scaledCe.release();
    }
  });
});

describe('APGD properties', () => {
  const count = 6;
  const x = images([10, 11, 12, 13, 14, 15]);
  const bytes = referenceModel(9);
  let ce: GradientGraphClassifier;
  let targetedModel: LossGraphClassifier;
  let labels: Uint8Array;
  before(async () => {
    ce = await GradientGraphClassifier.open(bytes, INTERFACE);
    targetedModel = await LossGraphClassifier.open(bytes, INTERFACE, 'dlr-targeted');
    const logits = await ce.logits(x, count);
    labels = Uint8Array.from({ length: count }, (_, i) => targetClass(logits, i, 10, -1, 1));
  });
  after(async () => {
    await ce.release();
    await targetedModel.release();
  });

  /** Wraps a model and checks every queried image lies in the eps ball of one clean image and in [0,1]. */
  function watched(model: ApgdModel, eps: number): ApgdModel & { queried: number } {
    const check = (pixels: Float32Array, n: number): void => {
      for (let j = 0; j < n; j++) {
        const row = pixels.subarray(j * PIXELS_PER_IMAGE, (j + 1) * PIXELS_PER_IMAGE);
        const inside = [...Array(count).keys()].some((i) => row.every((v, p) => v >= 0 && v <= 1 && Math.abs(v - x[i * PIXELS_PER_IMAGE + p]) <= eps + 1e-6));
        assert.ok(inside, 'a queried iterate left the eps ball or [0,1]');
        w.queried++;
      }
    };
    const w = {
      classes: model.classes,
      queried: 0,
      logits: (pixels: Float32Array, n: number) => {
        check(pixels, n);
        return model.logits(pixels, n);
      },
      lossGradient: (pixels: Float32Array, l: Uint8Array, n: number, t?: Uint8Array) => {
        check(pixels, n);
        return model.lossGradient(pixels, l, n, t);
      },
    };
    return w;
  }

  const base = (o: Partial<ApgdOptions>): ApgdOptions => ({ eps: 4 / 255, iterations: 20, restarts: 2, randomStart: true, seed: 3, loss: 'ce', ...o });

  test('iterates and results stay in the eps ball and [0,1]', async () => {
    const eps = 2 / 255;
    const model = watched(ce, eps);
    const r = await apgd(model, x, labels, count, base({ eps }));
    assert.ok(model.queried > count);
    for (let i = 0; i < r.adversarial.length; i++) {
      assert.ok(r.adversarial[i] >= 0 && r.adversarial[i] <= 1 && Math.abs(r.adversarial[i] - x[i]) <= eps + 1e-6);
    }
  });

  test('seeded runs reproduce exactly; another seed starts elsewhere', async () => {
    const o = base({ eps: 0.5 / 255 });
    const a = await apgd(ce, x, labels, count, o);
    const b = await apgd(ce, x, labels, count, o);
    assert.deepEqual(a.fooled, b.fooled);
    assert.deepEqual(a.adversarial, b.adversarial);
    assert.equal(a.evaluations, b.evaluations);
    const c = await apgd(ce, x, labels, count, { ...o, seed: 4 });
    assert.notDeepEqual(c.adversarial, a.adversarial);
  });

  test('APGD-T: runs per target class on the unfooled images, in the ball; at least as strong as one target', async () => {
    const eps = 0.5 / 255;
    const model = watched(targetedModel, eps);
    const events: ApgdEvent[] = [];
    const o = base({ eps, loss: 'dlr', targets: 3, restarts: 1, randomStart: false, trace: (e) => events.push(e) });
    const three = await apgd(model, x, labels, count, o);
    const one = await apgd(targetedModel, x, labels, count, { ...o, targets: 1, trace: undefined });
    for (let i = 0; i < count; i++) if (one.fooled[i]) assert.equal(three.fooled[i], 1, `image ${i}`);
    // A later target's run only has the images the earlier ones left.
    const runs = new Map<number, Set<number>>();
    for (const e of events) if (e.kind === 'iterate') (runs.get(e.run) ?? runs.set(e.run, new Set()).get(e.run))?.add(e.image);
    assert.ok(runs.size >= 1 && runs.size <= 3);
    for (let r = 1; r < runs.size; r++) for (const i of runs.get(r) ?? []) assert.ok(runs.get(r - 1)?.has(i));
    for (let i = 0; i < three.adversarial.length; i++) assert.ok(Math.abs(three.adversarial[i] - x[i]) <= eps + 1e-6);
  });

  test('L2: every queried iterate and the result in the L2 ball and [0,1]; seeded; APGD-T too', async (tc) => {
    const eps = 0.1;
    const queried: number[] = [];
    const inBall = (pixels: Float32Array, n: number): void => {
      for (let j = 0; j < n; j++) {
        let nearest = Infinity;
        for (let i = 0; i < count; i++) nearest = Math.min(nearest, perturbationNorm('l2', pixels, x, j * PIXELS_PER_IMAGE, i * PIXELS_PER_IMAGE));
        for (let p = j * PIXELS_PER_IMAGE; p < (j + 1) * PIXELS_PER_IMAGE; p++) assert.ok(pixels[p] >= 0 && pixels[p] <= 1);
        assert.ok(nearest <= eps * (1 + 1e-6), `a queried iterate is ${nearest} from every clean image`);
        queried.push(nearest);
      }
    };
    const wrap = (m: ApgdModel): ApgdModel => ({
      classes: m.classes,
      logits: (p, n) => (inBall(p, n), m.logits(p, n)),
      lossGradient: (p, l, n, t) => (inBall(p, n), m.lossGradient(p, l, n, t)),
    });
    const o = base({ eps, norm: 'l2' });
    const a = await apgd(wrap(ce), x, labels, count, o);
    const b = await apgd(ce, x, labels, count, o);
    assert.deepEqual(a.adversarial, b.adversarial);
    assert.deepEqual(a.fooled, b.fooled);
    const c = await apgd(ce, x, labels, count, { ...o, seed: 4 });
    assert.notDeepEqual(c.adversarial, a.adversarial);
    const t = await apgd(wrap(targetedModel), x, labels, count, base({ eps, norm: 'l2', loss: 'dlr', targets: 2, restarts: 1 }));
    for (const r of [a, t]) for (let i = 0; i < count; i++) assert.ok(perturbationNorm('l2', r.adversarial, x, i * PIXELS_PER_IMAGE) <= eps * (1 + 1e-6));
    // The random start is uniform in the ball: ||delta|| near eps, and the search stays on the sphere mostly.
    tc.diagnostic(`queries ${queried.length}, ||delta||/eps from ${(Math.min(...queried) / eps).toFixed(3)} to ${(Math.max(...queried) / eps).toFixed(8)}; fooled CE ${a.fooled.reduce((s, v) => s + v, 0)}, T ${t.fooled.reduce((s, v) => s + v, 0)} of ${count}`);
  });

  test('L2: a larger radius breaks at least the images a smaller one breaks (same start direction)', async () => {
    const small = await apgd(ce, x, labels, count, base({ eps: 0.05, norm: 'l2', randomStart: false }));
    const large = await apgd(ce, x, labels, count, base({ eps: 0.5, norm: 'l2', randomStart: false }));
    for (let i = 0; i < count; i++) if (small.fooled[i]) assert.equal(large.fooled[i], 1);
    assert.ok(large.fooled.reduce((s, v) => s + v, 0) > small.fooled.reduce((s, v) => s + v, 0));
  });

  test('a targeted cross-entropy run is refused', async () => {
    await assert.rejects(apgd(ce, x, labels, count, base({ targets: 2 })), /DLR/);
  });
});
