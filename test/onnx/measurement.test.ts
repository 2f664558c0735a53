/**
 * The in-graph measurement (src/metrics/spectralGraph.ts, run by ONNX Runtime in float32)
 * equals the pure-JS reference (src/metrics/aliasing.ts, float64 FFTs) on the very feature maps
 * the graph produced: the twin and the measurement are added to a decoded model with the
 * surgery functions, f2 and f1 are fetched next to the per-map sums, and every sum of every
 * map is compared. Then known spectra: a band-limited input gives no alias, a sinusoid above
 * the output's Nyquist rate is all alias, and a mix gives the analytic share.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { aliasingMetrics, featureMapAliasing, mapAliasing, twinError as jsTwinError, type AliasingSums } from '../../src/metrics/aliasing.js';
import { addAliasingMeasurement, SUM_FIELDS } from '../../src/metrics/spectralGraph.js';
import { decodeModel, encodeModel } from '../../src/onnx/codec.js';
import { findDownsamplingOps } from '../../src/onnx/inspect.js';
import { addStrideOneTwin } from '../../src/onnx/surgery.js';
import { ModelSession, type FloatTensor } from '../../src/runtime/session.js';
import { buildModel, ModelSpec, OpSpec, randomFloats } from '../helpers/modelBuilder.js';

interface Measured {
  f2: FloatTensor;
  f1: FloatTensor;
  /** [B, C, 4] in SUM_FIELDS order. */
  sums: FloatTensor;
  twinError: FloatTensor;
  outputMaxAbs: FloatTensor;
  twinPads: [number, number, number, number];
  strides: [number, number];
}

/**
 * Builds input [B,C,H,W] -> op, decodes it, adds the twin and the measurement exactly as the
 * audit does, exposes the twin, runs it on CPU and fetches everything.
 */
async function measure(op: OpSpec, input: { data: Float32Array; dims: [number, number, number, number] }, outputHW: [number, number], opset = 13): Promise<Measured> {
  const [batch, channels, h, w] = input.dims;
  const spec: ModelSpec = { ops: [op], inputHW: [h, w], inputChannels: channels, batch, opset, seed: 3 };
  const built = buildModel(spec);
  const model = decodeModel(built.bytes);
  const { ops } = findDownsamplingOps(model);
  assert.equal(ops.length, 1, 'one strided op found');
  const down = ops[0];
  const twin = addStrideOneTwin(model.graph, down, { inputHW: [h, w], outputHW });
  const outputs = addAliasingMeasurement(model.graph, opset, down.output, twin.output, outputHW, down.strides, 'meas');
  model.graph.addOutput(twin.output);
  model.graph.toposort();
  const session = await ModelSession.open(encodeModel(model), { ep: 'cpu' });
  try {
    const result = await session.run({ [built.inputName]: input }, [down.output, twin.output, outputs.sums, outputs.twinError, outputs.outputMaxAbs]);
    return {
      f2: result[down.output],
      f1: result[twin.output],
      sums: result[outputs.sums],
      twinError: result[outputs.twinError],
      outputMaxAbs: result[outputs.outputMaxAbs],
      twinPads: twin.pads,
      strides: down.strides,
    };
  } finally {
    await session.release();
  }
}

function relErr(actual: number, expected: number): number {
  if (actual === expected) return 0;
  return Math.abs(actual - expected) / Math.max(Math.abs(expected), 1e-30);
}

const SUM_KEYS = ['sumAbsD', 'sumAbsF2', 'sumSqD', 'sumSqF2'] as const;
type SumKey = (typeof SUM_KEYS)[number];

/** Sum `key` of map k (= image * C + channel) from the [B, C, 4] output. */
function graphSum(m: Measured, k: number, key: SumKey): number {
  const field = SUM_FIELDS.indexOf(key);
  assert.ok(field >= 0, `SUM_FIELDS has ${key}`);
  return m.sums.data[k * SUM_FIELDS.length + field];
}

/** Per image, per channel: in-graph sums vs mapAliasing on the fetched maps in float64. */
function compareWithReference(m: Measured, expectedOut: [number, number, number, number], expectedTwinPads: [number, number, number, number]): AliasingSums {
  const [batch, channels, nh, nw] = expectedOut;
  const [sh, sw] = m.strides;
  assert.deepEqual([...m.f2.dims], expectedOut, 'f2 shape');
  assert.deepEqual([...m.f1.dims], [batch, channels, sh * nh, sw * nw], 'twin shape is s*N');
  assert.deepEqual(m.twinPads, expectedTwinPads, 'twin pads');
  assert.deepEqual([...m.sums.dims], [batch, channels, SUM_FIELDS.length], 'sums are [B,C,4]');
  // the twin check covers the first image of the batch
  assert.deepEqual([...m.twinError.dims], [1]);
  assert.deepEqual([...m.outputMaxAbs.dims], [1]);

  const size2 = nh * nw;
  const size1 = sh * nh * sw * nw;
  for (let b = 0; b < batch; b++) {
    for (let c = 0; c < channels; c++) {
      const k = b * channels + c;
      const f2 = Float64Array.from(m.f2.data.subarray(k * size2, (k + 1) * size2));
      const f1 = Float64Array.from(m.f1.data.subarray(k * size1, (k + 1) * size1));
      const ref = mapAliasing(f2, f1, nh, nw, sh, sw);
      assert.ok(ref.sumAbsD > 0 && ref.sumAbsF2 > 0, `map ${b},${c} is not trivial`);
      for (const key of SUM_KEYS) {
        const e = relErr(graphSum(m, k, key), ref[key]);
        assert.ok(e < 1e-5, `image ${b} channel ${c} ${key}: graph ${graphSum(m, k, key)} vs reference ${ref[key]} (relative error ${e.toExponential(2)})`);
      }
    }
    if (b > 0) continue;
    // Twin error and output scale of the first image: the same values the JS helpers give.
    const f2 = m.f2.data.subarray(b * channels * size2, (b + 1) * channels * size2);
    const f1 = m.f1.data.subarray(b * channels * size1, (b + 1) * channels * size1);
    const jsErr = jsTwinError(f1, f2, nh, nw, sh, sw);
    assert.ok(Math.abs(m.twinError.data[b] - jsErr) <= 1e-7 * Math.max(1, jsErr), `image ${b} twinError ${m.twinError.data[b]} vs ${jsErr}`);
    let maxAbs = 0;
    for (const v of f2) maxAbs = Math.max(maxAbs, Math.abs(v));
    assert.equal(m.outputMaxAbs.data[b], maxAbs, `image ${b} outputMaxAbs`);
    assert.ok(m.twinError.data[b] <= 1e-5 * maxAbs, `image ${b}: twin invariant holds (${m.twinError.data[b]} vs scale ${maxAbs})`);
  }
  // The whole-batch totals agree too (this is what the audit accumulates).
  const total = featureMapAliasing(Float64Array.from(m.f2.data), Float64Array.from(m.f1.data), batch, channels, nh, nw, sh, sw);
  assert.equal(total.maps, batch * channels);
  for (const key of SUM_KEYS) {
    let graphTotal = 0;
    for (let k = 0; k < batch * channels; k++) graphTotal += graphSum(m, k, key);
    assert.ok(relErr(graphTotal, total[key]) < 1e-5, `total ${key}: ${graphTotal} vs ${total[key]}`);
  }
  return total;
}

interface GeometryCase {
  name: string;
  op: OpSpec;
  inputDims: [number, number, number, number];
  outputDims: [number, number, number, number];
  twinPads: [number, number, number, number];
  opset?: number;
}

const geometryCases: GeometryCase[] = [
  {
    name: 'Conv x=[2,3,32,32] k=3 s=2 pad=1 (even)',
    op: { op: 'Conv', kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], outChannels: 4 },
    inputDims: [2, 3, 32, 32],
    outputDims: [2, 4, 16, 16],
    twinPads: [1, 1, 1, 1],
  },
  {
    name: 'Conv x=[2,3,32,32] k=3 s=2 pad=1 opset=11 (ReduceSum/ReduceMax axes attribute)',
    op: { op: 'Conv', kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], outChannels: 4 },
    inputDims: [2, 3, 32, 32],
    outputDims: [2, 4, 16, 16],
    twinPads: [1, 1, 1, 1],
    opset: 11,
  },
  {
    name: 'Conv x=[2,3,32,32] k=3 s=2 pad=1 opset=18 (ReduceMax axes input)',
    op: { op: 'Conv', kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], outChannels: 4 },
    inputDims: [2, 3, 32, 32],
    outputDims: [2, 4, 16, 16],
    twinPads: [1, 1, 1, 1],
    opset: 18,
  },
  {
    name: 'Conv x=[2,3,15,15] k=3 s=2 pad=0 (odd in, odd out 7x7)',
    // N = floor(12/2)+1 = 7; end = 14-1+3-15 = 1
    op: { op: 'Conv', kernel: [3, 3], strides: [2, 2], outChannels: 3 },
    inputDims: [2, 3, 15, 15],
    outputDims: [2, 3, 7, 7],
    twinPads: [0, 0, 1, 1],
  },
  {
    name: 'Conv x=[2,3,15,15] k=4 s=2 pad=0 (odd in, even out 6x6)',
    op: { op: 'Conv', kernel: [4, 4], strides: [2, 2], outChannels: 3 },
    inputDims: [2, 3, 15, 15],
    outputDims: [2, 3, 6, 6],
    twinPads: [0, 0, 0, 0],
  },
  {
    name: 'Conv x=[2,3,15,16] k=3 s=(3,2) pad=1 (non-square strides, odd 5 x even 8)',
    // H: N = floor(14/3)+1 = 5, end = 15-1+3-15-1 = 1; W: N = floor(15/2)+1 = 8, end = 16-1+3-16-1 = 1
    op: { op: 'Conv', kernel: [3, 3], strides: [3, 2], pads: [1, 1, 1, 1], outChannels: 2 },
    inputDims: [2, 3, 15, 16],
    outputDims: [2, 2, 5, 8],
    twinPads: [1, 1, 1, 1],
  },
  {
    name: 'Conv x=[2,3,32,32] k=3 s=(2,1) pad=1',
    op: { op: 'Conv', kernel: [3, 3], strides: [2, 1], pads: [1, 1, 1, 1], outChannels: 2 },
    inputDims: [2, 3, 32, 32],
    outputDims: [2, 2, 16, 32],
    twinPads: [1, 1, 1, 1],
  },
  {
    name: 'Conv x=[2,3,32,32] k=3 s=(1,3) pad=1 (odd 11 wide)',
    op: { op: 'Conv', kernel: [3, 3], strides: [1, 3], pads: [1, 1, 1, 1], outChannels: 2 },
    inputDims: [2, 3, 32, 32],
    outputDims: [2, 2, 32, 11],
    twinPads: [1, 1, 1, 2],
  },
  {
    name: 'Conv x=[2,3,7,7] k=3 s=2 pad=1 (odd in, even out 4x4)',
    // N = floor(6/2)+1 = 4; end = 8-1+3-7-1 = 2
    op: { op: 'Conv', kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], outChannels: 2 },
    inputDims: [2, 3, 7, 7],
    outputDims: [2, 2, 4, 4],
    twinPads: [1, 1, 2, 2],
  },
  {
    name: 'Conv x=[2,3,5,12] k=3 s=(2,4) pad=1 (3x3 out)',
    // H: N = floor(4/2)+1 = 3, end = 6-1+3-5-1 = 2; W: N = floor(11/4)+1 = 3, end = 12-1+3-12-1 = 1
    op: { op: 'Conv', kernel: [3, 3], strides: [2, 4], pads: [1, 1, 1, 1], outChannels: 2 },
    inputDims: [2, 3, 5, 12],
    outputDims: [2, 2, 3, 3],
    twinPads: [1, 1, 2, 1],
  },
  {
    name: 'Conv x=[2,3,2,16] k=(2,3) s=2 pads=[0,1,0,1] (one output row)',
    // H: N = floor(0/2)+1 = 1, end = 2-1+2-2 = 1; W: N = floor(15/2)+1 = 8, end = 16-1+3-16-1 = 1
    op: { op: 'Conv', kernel: [2, 3], strides: [2, 2], pads: [0, 1, 0, 1], outChannels: 2 },
    inputDims: [2, 3, 2, 16],
    outputDims: [2, 2, 1, 8],
    twinPads: [0, 1, 1, 1],
  },
  {
    name: 'AveragePool x=[2,3,4,4] k=4 s=4 (1x1 out, as at the end of CIFAR ResNets)',
    // N = 1; end = 4-1+4-4 = 3
    op: { op: 'AveragePool', kernel: [4, 4], strides: [4, 4] },
    inputDims: [2, 3, 4, 4],
    outputDims: [2, 3, 1, 1],
    twinPads: [0, 0, 3, 3],
  },
  {
    name: 'MaxPool x=[2,3,15,15] k=2 s=2 (odd in, odd out 7x7)',
    op: { op: 'MaxPool', kernel: [2, 2], strides: [2, 2] },
    inputDims: [2, 3, 15, 15],
    outputDims: [2, 3, 7, 7],
    twinPads: [0, 0, 0, 0],
  },
  {
    name: 'AveragePool x=[2,3,32,32] k=3 s=2 pad=1 count_include_pad=1',
    op: { op: 'AveragePool', kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], countIncludePad: 1 },
    inputDims: [2, 3, 32, 32],
    outputDims: [2, 3, 16, 16],
    twinPads: [1, 1, 1, 1],
  },
];

describe('in-graph measurement equals the float64 reference, per image and channel', () => {
  for (const c of geometryCases) {
    test(c.name, async () => {
      const n = c.inputDims.reduce((a, b) => a * b, 1);
      const input = { data: randomFloats(n, 101), dims: c.inputDims };
      const m = await measure(c.op, input, [c.outputDims[2], c.outputDims[3]], c.opset);
      const total = compareWithReference(m, c.outputDims, c.twinPads);
      const metrics = aliasingMetrics(total);
      assert.ok(metrics.amRel > 0 && metrics.amRel < 1.5, `random content aliases: amRel ${metrics.amRel}`);
    });
  }
});

// ---- known spectra through an identity-like 1x1 stride-2 Conv (weight 1, no bias): f2 =
// x[::2, ::2], twin f1 = x. Output grid 16x16: Nyquist at 8 cycles per 32 input samples.

function image(fn: (m: number, n: number) => number): Float32Array {
  const out = new Float32Array(32 * 32);
  for (let m = 0; m < 32; m++) for (let n = 0; n < 32; n++) out[m * 32 + n] = fn(m, n);
  return out;
}
const cos = (k: number, i: number): number => Math.cos((2 * Math.PI * k * i) / 32);

async function identityStride2(x: Float32Array): Promise<{ m: Measured; sums: { sumAbsD: number; sumAbsF2: number; sumSqD: number; sumSqF2: number } }> {
  const op: OpSpec = { op: 'Conv', kernel: [1, 1], strides: [2, 2], weight: Float32Array.of(1), bias: false };
  const m = await measure(op, { data: x, dims: [1, 1, 32, 32] }, [16, 16]);
  // f2 really is x[::2, ::2] and the twin really is x.
  for (let u = 0; u < 16; u++) for (let v = 0; v < 16; v++) assert.equal(m.f2.data[u * 16 + v], x[2 * u * 32 + 2 * v]);
  assert.deepEqual([...m.f1.data], [...x]);
  assert.deepEqual(m.twinPads, [0, 0, 0, 0]);
  return { m, sums: { sumAbsD: graphSum(m, 0, 'sumAbsD'), sumAbsF2: graphSum(m, 0, 'sumAbsF2'), sumSqD: graphSum(m, 0, 'sumSqD'), sumSqF2: graphSum(m, 0, 'sumSqF2') } };
}

describe('known spectra: Conv x=[1,1,32,32] k=1 s=2 weight=1', () => {
  test('band-limited input (cosines at 3 and 2 cycles, plus DC): sum|D| ~ 0', async () => {
    const x = image((m, n) => 0.5 + 0.3 * cos(3, m) * cos(2, n) + 0.2 * cos(7, n));
    const { sums } = await identityStride2(x);
    assert.ok(sums.sumAbsF2 > 0.5, `output has content: ${sums.sumAbsF2}`);
    assert.ok(sums.sumAbsD < 1e-5 * sums.sumAbsF2, `sum|D| = ${sums.sumAbsD} vs sum|F2| = ${sums.sumAbsF2}`);
    assert.ok(sums.sumSqD < 1e-10 * sums.sumSqF2, `sum|D|^2 = ${sums.sumSqD}`);
  });

  test('sinusoid above Nyquist (12 and 10 cycles): amRel ~ 1, aliasEnergy ~ 1', async () => {
    const x = image((m, n) => Math.cos((2 * Math.PI * (12 * m + 10 * n)) / 32));
    const { sums } = await identityStride2(x);
    const metrics = aliasingMetrics({ ...sums, maps: 1 });
    assert.ok(sums.sumAbsF2 > 0.5, `output has content: ${sums.sumAbsF2}`);
    assert.ok(Math.abs(metrics.amRel - 1) < 1e-4, `amRel ${metrics.amRel}`);
    assert.ok(Math.abs(metrics.aliasEnergy - 1) < 1e-4, `aliasEnergy ${metrics.aliasEnergy}`);
  });

  test('a*cos(3 cycles) + b*cos(12 cycles): amRel = b/(a+b), aliasEnergy = b^2/(a^2+b^2)', async () => {
    // F2: a/2 at rows +-3, b/2 at rows +-4 (12 folds onto -4); Ffree keeps only the 3-cycle
    // part, so D = b/2 at rows +-4: sum|D| = b, sum|F2| = a + b.
    const a = 0.8;
    const b = 0.3;
    const x = image((m) => a * cos(3, m) + b * cos(12, m));
    const { sums } = await identityStride2(x);
    const metrics = aliasingMetrics({ ...sums, maps: 1 });
    assert.ok(Math.abs(sums.sumAbsD - b) < 1e-5, `sum|D| ${sums.sumAbsD} vs ${b}`);
    assert.ok(Math.abs(sums.sumAbsF2 - (a + b)) < 1e-5, `sum|F2| ${sums.sumAbsF2} vs ${a + b}`);
    assert.ok(Math.abs(metrics.amRel - b / (a + b)) < 1e-5, `amRel ${metrics.amRel}`);
    assert.ok(Math.abs(metrics.aliasEnergy - (b * b) / (a * a + b * b)) < 1e-5, `aliasEnergy ${metrics.aliasEnergy}`);
  });

  test('an all-zero input is a dead map: every sum is exactly 0', async () => {
    const { sums } = await identityStride2(new Float32Array(32 * 32));
    assert.deepEqual(sums, { sumAbsD: 0, sumAbsF2: 0, sumSqD: 0, sumSqF2: 0 });
  });
});
