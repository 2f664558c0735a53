/**
 * The gradient model as a whole: preprocessing and layout in the graph, the loss, softmax
 * outputs, whole small networks at several opsets and batch kinds, the shape probe, the
 * registry, and what throws UnsupportedGradient.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildGradientModel } from '../../../src/attacks/grad/gradientGraph.js';
import { GRADIENT_REGISTRY, GRADIENT_RULES, makeRegistry, UnsupportedGradient } from '../../../src/attacks/grad/registry.js';
import { probeShapes, shapeProbeModel } from '../../../src/attacks/grad/shapes.js';
import { reluRule } from '../../../src/attacks/grad/rules/Relu.js';
import { Graph } from '../../../src/onnx/ir.js';
import { DataType } from '../../../src/onnx/schema.js';
import { ModelSession } from '../../../src/runtime/session.js';
import { encodeBuiltModel, prng } from '../../helpers/modelBuilder.js';
import { assertGradient, attr, crossEntropy, opModel, WeightMaker } from './helpers.js';

const identityPre = { mean: [0, 0, 0] as [number, number, number], std: [1, 1, 1] as [number, number, number], scale: 1 as const };
const CIFAR = { mean: [0.4914, 0.4822, 0.4465] as [number, number, number], std: [0.2471, 0.2435, 0.2616] as [number, number, number] };

/** conv-BN-relu-maxpool, a strided residual block, GAP, Gemm: the ops of a small ResNet. */
function smallResNet(g: Graph, x: string, w: WeightMaker): string {
  const conv = (input: string, cin: number, cout: number, k: number, s: number, pad: number): string =>
    g.op('Conv', [input, w('w', [cout, cin, k, k], 1 / Math.sqrt(cin * k * k)), w('b', [cout], 0.1)], [
      attr.ints('kernel_shape', [k, k]), attr.ints('strides', [s, s]), attr.ints('pads', [pad, pad, pad, pad]),
    ]);
  const one = g.constantFloat('one', [], Float32Array.of(1));
  const bn = g.op('BatchNormalization', [conv(x, 3, 8, 3, 1, 1), w('sc', [8], 1), w('bi', [8], 0.2), w('mu', [8], 0.2), g.op('Add', [w('va', [8], 0.5), one])]);
  const pooled = g.op('MaxPool', [g.op('Relu', [bn])], [attr.ints('kernel_shape', [3, 3]), attr.ints('strides', [2, 2]), attr.ints('pads', [1, 1, 1, 1])]);
  const main = conv(g.op('Relu', [conv(pooled, 8, 16, 3, 2, 1)]), 16, 16, 3, 1, 1);
  const block = g.op('Relu', [g.op('Add', [main, conv(pooled, 8, 16, 1, 2, 0)])]);
  const flat = g.op('Flatten', [g.op('GlobalAveragePool', [block])], [attr.int('axis', 1)]);
  return g.op('Gemm', [flat, w('fc', [10, 16], 0.5), w('fcb', [10], 0.1)], [attr.int('transB', 1)]);
}

for (const opset of [9, 13, 18]) {
  for (const batch of ['N', 1] as const) {
    test(`small ResNet x=[${batch === 1 ? 1 : 'N'},3,16,16] opset ${opset} ${batch === 1 ? 'fixed batch 1' : 'dynamic batch (run at 3)'}`, async () => {
      const bytes = opModel({ opset, input: [batch, 3, 16, 16], build: smallResNet, center: false });
      await assertGradient(bytes, { h: 1e-4, aligned: true, batch: 3, directions: 3, spec: { preprocessing: { ...CIFAR, scale: 1 } } });
    });
  }
}

/** Runs the original model on inputs preprocessed here, for comparison with the graph's own. */
async function originalLogits(bytes: Uint8Array, input: Float32Array, dims: number[]): Promise<Float32Array> {
  const s = await ModelSession.open(bytes, { ep: 'cpu', intraOpThreads: 1 });
  try {
    const out = await s.run({ x: { data: input, dims } }, [s.outputNames[0]]);
    return out[s.outputNames[0]].data;
  } finally {
    await s.release();
  }
}

for (const layout of ['NCHW', 'NHWC'] as const) {
  for (const scale of [1, 255] as const) {
    test(`preprocessing cifar10 scale=${scale} layout ${layout}: same logits as the model on preprocessed input, and the pixel gradient`, async () => {
      const bytes = opModel({
        opset: 13,
        input: layout === 'NCHW' ? ['N', 3, 6, 6] : ['N', 6, 6, 3],
        center: false,
        build: (g, x, w) => {
          const nchw = layout === 'NHWC' ? g.op('Transpose', [x], [attr.ints('perm', [0, 3, 1, 2])]) : x;
          const y = g.op('Conv', [nchw, w('w', [4, 3, 3, 3], 0.3)], [attr.ints('strides', [2, 2])]);
          return g.op('Tanh', [y]);
        },
      });
      const pre = { mean: CIFAR.mean.map((m) => m * scale) as [number, number, number], std: CIFAR.std.map((s) => s * scale) as [number, number, number], scale };
      const r = await assertGradient(bytes, { spec: { layout, preprocessing: pre }, elementwise: true });
      // Forward: the graph's logits equal the original model's on (x*scale - mean)/std in its layout.
      const rand = prng(3);
      const pixels = Float32Array.from({ length: 2 * 108 }, () => rand());
      const modelInput = new Float32Array(pixels.length);
      for (let b = 0; b < 2; b++) for (let c = 0; c < 3; c++) for (let p = 0; p < 36; p++) {
        const v = (pixels[b * 108 + c * 36 + p] * scale - pre.mean[c]) / pre.std[c];
        modelInput[layout === 'NCHW' ? b * 108 + c * 36 + p : b * 108 + p * 3 + c] = v;
      }
      const expected = await originalLogits(bytes, modelInput, layout === 'NCHW' ? [2, 3, 6, 6] : [2, 6, 6, 3]);
      const s = await ModelSession.open(r.model.bytes, { ep: 'cpu', intraOpThreads: 1 });
      try {
        const out = await s.run({
          [r.model.inputs.pixels]: { data: pixels, dims: [2, 3, 6, 6] },
          [r.model.inputs.labels]: { data: new Float32Array(2 * r.model.classes), dims: [2, r.model.classes] },
        }, [r.model.outputs.logits]);
        const got = out[r.model.outputs.logits].data;
        for (let i = 0; i < expected.length; i++) assert.ok(Math.abs(got[i] - expected[i]) < 1e-5, `logit ${i}: ${got[i]} vs ${expected[i]}`);
      } finally {
        await s.release();
      }
    });
  }
}

test('a Softmax output: outputKind softmax, the loss is -log p_y of the model output, gradient at the Softmax input', async () => {
  const bytes = opModel({ opset: 13, input: ['N', 6], build: (g, x, w) => g.op('Softmax', [g.op('Gemm', [x, w('w', [6, 5], 2)])], [attr.int('axis', 1)]) });
  const r = await assertGradient(bytes, { elementwise: true });
  assert.equal(r.model.outputKind, 'softmax');
  // The loss equals -log of the model's own probabilities.
  const pixels = Float32Array.from({ length: 12 }, (_, i) => (i % 7) / 7);
  const probabilities = await originalLogits(bytes, pixels, [2, 6]);
  const s = await ModelSession.open(r.model.bytes, { ep: 'cpu', intraOpThreads: 1 });
  try {
    const labels = new Float32Array(10);
    labels[1] = 1;
    labels[5 + 4] = 1;
    const out = await s.run({ [r.model.inputs.pixels]: { data: pixels, dims: [2, 6] }, [r.model.inputs.labels]: { data: labels, dims: [2, 5] } }, [r.model.outputs.loss]);
    const expected = -Math.log(probabilities[1]) - Math.log(probabilities[9]);
    assert.ok(Math.abs(out[r.model.outputs.loss].data[0] - expected) < 1e-5 * Math.max(1, expected));
  } finally {
    await s.release();
  }
});

for (const opset of [9, 13]) {
  test(`Softmax output at opset ${opset} default axis, and a LogSoftmax output (read as logits)`, async () => {
    const soft = opModel({ opset, input: ['N', 6], build: (g, x, w) => g.op('Softmax', [g.op('MatMul', [x, w('w', [6, 5], 2)])]) });
    assert.equal((await assertGradient(soft)).model.outputKind, 'softmax');
    const logSoft = opModel({ opset, input: ['N', 6], build: (g, x, w) => g.op('LogSoftmax', [g.op('MatMul', [x, w('w', [6, 5], 2)])]) });
    assert.equal((await assertGradient(logSoft, { elementwise: true })).model.outputKind, 'logits');
  });
}

test('labels: an all-zero row adds no loss and no gradient (padding a fixed batch)', async () => {
  const bytes = opModel({ opset: 13, input: ['N', 3, 4], build: (g, x, w) => g.op('MatMul', [g.op('Flatten', [x]), w('w', [12, 5], 1)]) });
  const gm = buildGradientModel(bytes, { layout: 'NCHW', preprocessing: { mean: [0, 0, 0], std: [1, 1, 1], scale: 1 }, shapes: await probeShapes(bytes) });
  const s = await ModelSession.open(gm.bytes, { ep: 'cpu', intraOpThreads: 1 });
  try {
    const pixels = Float32Array.from({ length: 24 }, (_, i) => (i * 0.37) % 1);
    const labels = new Float32Array(10);
    labels[2] = 1;
    const out = await s.run({ [gm.inputs.pixels]: { data: pixels, dims: [2, 3, 4] }, [gm.inputs.labels]: { data: labels, dims: [2, 5] } }, [gm.outputs.loss, gm.outputs.losses, gm.outputs.gradient, gm.outputs.logits]);
    const logits = out[gm.outputs.logits].data;
    assert.equal(out[gm.outputs.losses].data[1], 0);
    assert.ok(Math.abs(out[gm.outputs.loss].data[0] - crossEntropy(logits, 0, 5, 2)) < 1e-5);
    assert.ok(out[gm.outputs.gradient].data.subarray(12).every((v) => v === 0));
    assert.ok(out[gm.outputs.gradient].data.subarray(0, 12).some((v) => v !== 0));
  } finally {
    await s.release();
  }
});

test('an output that does not depend on the image (only on its shape): zero gradient, no error', async () => {
  const bytes = opModel({
    opset: 13,
    input: ['N', 3],
    build: (g, x, w) => {
      const batch = g.op('Gather', [g.op('Shape', [x]), g.constantInt64('zero', [1], [0])]);
      return g.op('Expand', [w('c', [1, 4]), g.op('Concat', [batch, g.constantInt64('k', [1], [4])], [attr.int('axis', 0)])]);
    },
  });
  const gm = buildGradientModel(bytes, { layout: 'NCHW', preprocessing: identityPre, shapes: await probeShapes(bytes) });
  const s = await ModelSession.open(gm.bytes, { ep: 'cpu', intraOpThreads: 1 });
  try {
    const labels = Float32Array.of(1, 0, 0, 0, 0, 1, 0, 0);
    const out = await s.run({ [gm.inputs.pixels]: { data: new Float32Array(6).fill(0.3), dims: [2, 3] }, [gm.inputs.labels]: { data: labels, dims: [2, 4] } }, [gm.outputs.gradient, gm.outputs.loss]);
    assert.deepEqual([...out[gm.outputs.gradient].data], [0, 0, 0, 0, 0, 0]);
    assert.ok(out[gm.outputs.loss].data[0] > 0);
  } finally {
    await s.release();
  }
});

// ---------------------------------------------------------------- unsupported

async function expectUnsupported(bytes: Uint8Array, opType: string, shapes?: Map<string, number[]>): Promise<UnsupportedGradient> {
  const table = shapes ?? (await probeShapes(bytes));
  try {
    buildGradientModel(bytes, { layout: 'NCHW', preprocessing: identityPre, shapes: table });
  } catch (err) {
    assert.ok(err instanceof UnsupportedGradient, `expected UnsupportedGradient, got ${String(err)}`);
    assert.equal(err.opType, opType);
    return err;
  }
  assert.fail(`expected UnsupportedGradient(${opType})`);
}

test('Erf on the path -> UnsupportedGradient(Erf, no gradient rule)', async () => {
  const bytes = opModel({ opset: 13, input: ['N', 4], build: (g, x, w) => g.op('MatMul', [g.op('Erf', [x]), w('w', [4, 3])]) });
  const err = await expectUnsupported(bytes, 'Erf');
  assert.match(err.reason, /no gradient rule/);
  assert.ok(err.node);
});

test('Hardmax on the path -> UnsupportedGradient(Hardmax)', async () => {
  await expectUnsupported(opModel({ opset: 13, input: ['N', 4], build: (g, x, w) => g.op('Mul', [g.op('Hardmax', [x]), w('k', [4])]) }), 'Hardmax');
});

test('a custom-domain op on the path -> UnsupportedGradient naming it', async () => {
  const g = new Graph({ name: 'custom' });
  g.inputs.push({ name: 'x', elemType: DataType.FLOAT, shape: ['N', 4] });
  const y = g.addNode({ opType: 'Swish', domain: 'com.example', inputs: ['x'] }).outputs[0];
  const out = g.op('Relu', [y]);
  g.outputs.push({ name: out, elemType: DataType.FLOAT });
  const bytes = encodeBuiltModel(g, 13, 7);
  // ONNX Runtime cannot run the op, so the shapes are given rather than probed.
  const err = await expectUnsupported(bytes, 'Swish', new Map([['x', [2, 4]], [y, [2, 4]], [out, [2, 4]]]));
  assert.match(err.reason, /com\.example/);
});

test('Erf off the path (on a constant, or on a branch that does not reach the output) is fine', async () => {
  const bytes = opModel({
    opset: 13,
    input: ['N', 4],
    build: (g, x, w) => {
      g.op('Erf', [x]); // a dangling branch: reaches no output
      return g.op('Add', [x, g.op('Erf', [w('c', [4])])]);
    },
  });
  await assertGradient(bytes, { elementwise: true });
});

test('MaxPool at opset 7 (no Indices output) -> UnsupportedGradient(MaxPool)', async () => {
  await expectUnsupported(opModel({ opset: 7, input: ['N', 2, 4, 4], build: (g, x) => g.op('MaxPool', [x], [attr.ints('kernel_shape', [2, 2]), attr.ints('strides', [2, 2])]) }), 'MaxPool');
});

test('opset 6 -> UnsupportedGradient(opset)', async () => {
  const g = new Graph({ name: 'old' });
  g.inputs.push({ name: 'x', elemType: DataType.FLOAT, shape: ['N', 4] });
  g.outputs.push({ name: g.op('Relu', ['x']), elemType: DataType.FLOAT });
  await expectUnsupported(encodeBuiltModel(g, 6, 3), 'opset', new Map([['x', [2, 4]]]));
});

test('unsupported attributes: Pad reflect, strided Slice, Concat on the batch axis, Conv weights from the image', async () => {
  await expectUnsupported(opModel({ opset: 13, input: ['N', 3, 4], build: (g, x) => g.op('Pad', [x, g.constantInt64('p', [6], [0, 1, 1, 0, 1, 1])], [attr.string('mode', 'reflect')]) }), 'Pad');
  const ints = (g: Graph, v: number[]): string => g.constantInt64('i', [v.length], v);
  await expectUnsupported(opModel({ opset: 13, input: ['N', 3, 6], build: (g, x) => g.op('Slice', [x, ints(g, [0]), ints(g, [6]), ints(g, [2]), ints(g, [2])]) }), 'Slice');
  await expectUnsupported(opModel({ opset: 13, input: ['N', 3], build: (g, x) => g.op('Flatten', [g.op('Concat', [x, x], [attr.int('axis', 0)])], [attr.int('axis', 0)]) }), 'Concat');
  await expectUnsupported(opModel({ opset: 13, input: [1, 1, 3, 3], build: (g, x, w) => g.op('Conv', [w('data', [1, 1, 5, 5]), x]) }), 'Conv');
});

// ---------------------------------------------------------------- registry and probe

test('registry: one rule per op type, a duplicate is an error', () => {
  assert.equal(GRADIENT_REGISTRY.size, GRADIENT_RULES.length);
  assert.throws(() => makeRegistry([...GRADIENT_RULES, reluRule]), /duplicate gradient rule for op type Relu/);
  for (const op of ['Conv', 'Gemm', 'MatMul', 'Add', 'Sub', 'Mul', 'Div', 'Relu', 'LeakyRelu', 'Clip', 'Sigmoid', 'Tanh', 'BatchNormalization',
    'MaxPool', 'AveragePool', 'GlobalAveragePool', 'Flatten', 'Reshape', 'Transpose', 'Squeeze', 'Unsqueeze', 'Concat', 'Pad', 'Identity',
    'Dropout', 'Softmax', 'LogSoftmax']) {
    assert.ok(GRADIENT_REGISTRY.has(op), `no rule for ${op}`);
  }
});

test('shape probe: every value exposed; dynamic batch probed at 2, a fixed batch as fixed', async () => {
  const build = (g: Graph, x: string, w: WeightMaker): string => g.op('MatMul', [g.op('Flatten', [g.op('Relu', [x])]), w('w', [12, 5])]);
  const dynamic = opModel({ opset: 13, input: ['N', 3, 4], build });
  const probe = shapeProbeModel(dynamic);
  assert.equal(probe.fixedBatch, null);
  const table = await probeShapes(dynamic);
  assert.deepEqual(table.get('x'), [2, 3, 4]);
  assert.equal([...probe.exposed.values()].length, table.size);
  assert.ok([...table.values()].some((d) => d.length === 2 && d[0] === 2 && d[1] === 12));
  const fixed = await probeShapes(opModel({ opset: 13, input: [1, 3, 4], build }));
  assert.deepEqual(fixed.get('x'), [1, 3, 4]);
});
