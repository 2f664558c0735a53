/**
 * Stride-1 twins on awkward geometries (SPEC §1), end to end through runAudit: every strided
 * op's twin satisfies `twin[..., ::sh, ::sw] == output`, has the pads derived by hand below,
 * and the op's output shape is the one ONNX's size formula gives.
 *
 * Hand derivation, per spatial axis, input size H, kernel extent dk = d*(k-1)+1, stride s,
 * resolved begin/end pads b/e:
 *   N = floor((H + b + e - dk) / s) + 1            (ceil_mode=1: ceil, minus 1 if the last
 *                                                    window would start past H + b)
 *   twin end pad = s*N - 1 + dk - H - b            (so the twin is exactly s*N long)
 * auto_pad SAME_*: total = max((ceil(H/s) - 1)*s + dk - H, 0); SAME_UPPER b = floor(total/2),
 * SAME_LOWER b = ceil(total/2); VALID b = 0.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runAudit } from '../../src/audit/audit.js';
import { DEFAULT_AUDIT_OPTIONS, type AuditOptions } from '../../src/audit/options.js';
import type { DownsamplingReport } from '../../src/audit/report.js';
import { buildModel, ModelSpec, syntheticDataset } from '../helpers/modelBuilder.js';

const dataset = syntheticDataset(8, 11);
const options: AuditOptions = { ...DEFAULT_AUDIT_OPTIONS, samples: 8, batch: 4, preprocess: 'none', scale: 1, layout: 'auto', ep: 'cpu' };

type Pads = [number, number, number, number];

interface Expected {
  /** [C, Nh, Nw] */
  outputShape: number[];
  twinPads: Pads;
}

interface Case {
  name: string;
  spec: ModelSpec;
  expected: Expected[];
  /** Batch size the audit must use (default 4, the option). */
  batchUsed?: number;
}

/** Stems: a VALID stride-1 conv of size k turns 32x32 into (33-k)x(33-k). */
const to31 = (channels = 4): ModelSpec['stem'] => ({ kernel: [2, 2], channels });
const to15 = (channels = 4): ModelSpec['stem'] => ({ kernel: [18, 18], channels });
const to16 = (channels = 4): ModelSpec['stem'] => ({ kernel: [17, 17], channels });
const keep32 = (channels: number): ModelSpec['stem'] => ({ kernel: [1, 1], channels });

function checkOp(d: DownsamplingReport, e: Expected, what: string): void {
  assert.equal(d.error, undefined, `${what}: no error (got ${d.error})`);
  assert.ok(d.twinCheck, `${what}: twin check ran`);
  assert.equal(d.twinCheck.ok, true, `${what}: twin invariant (relative error ${d.twinCheck.relativeError})`);
  assert.ok(d.twinCheck.relativeError <= 1e-5, `${what}: twin relative error ${d.twinCheck.relativeError}`);
  assert.deepEqual(d.outputShape, e.outputShape, `${what}: output shape`);
  assert.deepEqual(d.twinPads, e.twinPads, `${what}: twin pads`);
  assert.equal(d.maps, options.samples * e.outputShape[0], `${what}: maps = samples x channels`);
  for (const key of ['am', 'amRel', 'aliasEnergy'] as const) {
    const v = d[key];
    assert.ok(v !== null && Number.isFinite(v) && v >= 0, `${what}: ${key} = ${v}`);
  }
}

async function runCase(c: Case): Promise<void> {
  const model = buildModel(c.spec);
  const report = await runAudit(model.bytes, options, { dataset });
  assert.equal(report.model.input.batchUsed, c.batchUsed ?? options.batch, 'batch used');
  assert.equal(report.downsampling.length, c.expected.length, 'one entry per strided op');
  report.downsampling.forEach((d, i) => {
    assert.equal(d.node, model.opNames[i], 'graph order');
    checkOp(d, c.expected[i], `${c.name} op ${i} (${d.node})`);
  });
  assert.deepEqual(report.unsupported, []);
}

const conv = (kernel: [number, number], strides: [number, number], rest: Partial<ModelSpec['ops'][number]> = {}): ModelSpec['ops'][number] => ({
  op: 'Conv',
  kernel,
  strides,
  outChannels: 5,
  ...rest,
});

const cases: Case[] = [
  // ---- Conv, explicit pads
  {
    name: 'Conv x=[N,3,32,32] k=3 s=2 pad=1',
    spec: { ops: [conv([3, 3], [2, 2], { pads: [1, 1, 1, 1] })] },
    // N = floor(31/2)+1 = 16; end = 32-1+3-32-1 = 1
    expected: [{ outputShape: [5, 16, 16], twinPads: [1, 1, 1, 1] }],
  },
  {
    name: 'Conv x=[N,4,15,15] k=4 s=2 pad=0',
    spec: { stem: to15(), ops: [conv([4, 4], [2, 2])] },
    // N = floor(11/2)+1 = 6; end = 12-1+4-15 = 0
    expected: [{ outputShape: [5, 6, 6], twinPads: [0, 0, 0, 0] }],
  },
  {
    name: 'Conv x=[N,3,32,32] k=3 s=2 pads=[0,0,1,1]',
    spec: { ops: [conv([3, 3], [2, 2], { pads: [0, 0, 1, 1] })] },
    // N = floor(30/2)+1 = 16; end = 32-1+3-32-0 = 2
    expected: [{ outputShape: [5, 16, 16], twinPads: [0, 0, 2, 2] }],
  },
  {
    name: 'Conv x=[N,3,32,32] k=3 s=2 pads=[1,0,0,1]',
    spec: { ops: [conv([3, 3], [2, 2], { pads: [1, 0, 0, 1] })] },
    // H: b=1 e=0: N = 16, end = 32-1+3-32-1 = 1; W: b=0 e=1: N = 16, end = 2
    expected: [{ outputShape: [5, 16, 16], twinPads: [1, 0, 1, 2] }],
  },
  {
    name: 'Conv x=[N,4,31,31] k=3 s=2 pads=[0,0,1,1]',
    spec: { stem: to31(), ops: [conv([3, 3], [2, 2], { pads: [0, 0, 1, 1] })] },
    // N = floor(29/2)+1 = 15; end = 30-1+3-31 = 1
    expected: [{ outputShape: [5, 15, 15], twinPads: [0, 0, 1, 1] }],
  },
  {
    name: 'Conv x=[N,4,31,31] k=3 s=2 pads=[1,0,0,1]',
    spec: { stem: to31(), ops: [conv([3, 3], [2, 2], { pads: [1, 0, 0, 1] })] },
    // H: N = floor(29/2)+1 = 15, end = 30-1+3-31-1 = 0; W: N = 15, end = 1
    expected: [{ outputShape: [5, 15, 15], twinPads: [1, 0, 0, 1] }],
  },
  // ---- Conv, auto_pad
  {
    name: 'Conv x=[N,3,32,32] k=3 s=2 auto_pad=SAME_UPPER',
    spec: { ops: [conv([3, 3], [2, 2], { autoPad: 'SAME_UPPER' })] },
    // N = 16, total = 15*2+3-32 = 1, b = 0; end = 32-1+3-32-0 = 2
    expected: [{ outputShape: [5, 16, 16], twinPads: [0, 0, 2, 2] }],
  },
  {
    name: 'Conv x=[N,3,32,32] k=3 s=2 auto_pad=SAME_LOWER',
    spec: { ops: [conv([3, 3], [2, 2], { autoPad: 'SAME_LOWER' })] },
    // total = 1, b = 1; end = 32-1+3-32-1 = 1
    expected: [{ outputShape: [5, 16, 16], twinPads: [1, 1, 1, 1] }],
  },
  {
    name: 'Conv x=[N,3,32,32] k=3 s=2 auto_pad=VALID',
    spec: { ops: [conv([3, 3], [2, 2], { autoPad: 'VALID' })] },
    // N = floor(29/2)+1 = 15; end = 30-1+3-32 = 0
    expected: [{ outputShape: [5, 15, 15], twinPads: [0, 0, 0, 0] }],
  },
  {
    name: 'Conv x=[N,4,31,31] k=3 s=2 auto_pad=SAME_UPPER',
    spec: { stem: to31(), ops: [conv([3, 3], [2, 2], { autoPad: 'SAME_UPPER' })] },
    // N = 16, total = 30+3-31 = 2, b = 1; end = 32-1+3-31-1 = 2
    expected: [{ outputShape: [5, 16, 16], twinPads: [1, 1, 2, 2] }],
  },
  {
    name: 'Conv x=[N,4,31,31] k=3 s=2 auto_pad=SAME_LOWER',
    spec: { stem: to31(), ops: [conv([3, 3], [2, 2], { autoPad: 'SAME_LOWER' })] },
    // total = 2, b = 1 (same as UPPER for an even total)
    expected: [{ outputShape: [5, 16, 16], twinPads: [1, 1, 2, 2] }],
  },
  {
    name: 'Conv x=[N,4,31,31] k=3 s=2 auto_pad=VALID',
    spec: { stem: to31(), ops: [conv([3, 3], [2, 2], { autoPad: 'VALID' })] },
    // N = floor(28/2)+1 = 15; end = 30-1+3-31 = 1
    expected: [{ outputShape: [5, 15, 15], twinPads: [0, 0, 1, 1] }],
  },
  {
    name: 'Conv x=[N,4,31,31] k=2 s=2 auto_pad=SAME_UPPER',
    spec: { stem: to31(), ops: [conv([2, 2], [2, 2], { autoPad: 'SAME_UPPER' })] },
    // N = 16, total = 30+2-31 = 1, b = 0; end = 32-1+2-31-0 = 2
    expected: [{ outputShape: [5, 16, 16], twinPads: [0, 0, 2, 2] }],
  },
  {
    name: 'Conv x=[N,4,31,31] k=2 s=2 auto_pad=SAME_LOWER',
    spec: { stem: to31(), ops: [conv([2, 2], [2, 2], { autoPad: 'SAME_LOWER' })] },
    // total = 1, b = 1; end = 32-1+2-31-1 = 1
    expected: [{ outputShape: [5, 16, 16], twinPads: [1, 1, 1, 1] }],
  },
  // ---- dilation, groups, kernel from the weight
  {
    name: 'Conv x=[N,3,32,32] k=3 d=2 s=2 pad=2',
    spec: { ops: [conv([3, 3], [2, 2], { dilations: [2, 2], pads: [2, 2, 2, 2] })] },
    // dk = 5; N = floor(31/2)+1 = 16; end = 32-1+5-32-2 = 2
    expected: [{ outputShape: [5, 16, 16], twinPads: [2, 2, 2, 2] }],
  },
  {
    name: 'Conv x=[N,4,31,31] k=3 d=2 s=2 pad=0',
    spec: { stem: to31(), ops: [conv([3, 3], [2, 2], { dilations: [2, 2] })] },
    // dk = 5; N = floor(26/2)+1 = 14; end = 28-1+5-31 = 1
    expected: [{ outputShape: [5, 14, 14], twinPads: [0, 0, 1, 1] }],
  },
  {
    name: 'Conv x=[N,4,15,15] k=3 d=(2,1) s=2 pad=1',
    spec: { stem: to15(), ops: [conv([3, 3], [2, 2], { dilations: [2, 1], pads: [1, 1, 1, 1] })] },
    // H: dk = 5, N = floor(12/2)+1 = 7, end = 14-1+5-15-1 = 2; W: dk = 3, N = 8, end = 16-1+3-15-1 = 2
    expected: [{ outputShape: [5, 7, 8], twinPads: [1, 1, 2, 2] }],
  },
  {
    name: 'Conv x=[N,8,32,32] k=3 s=2 pad=1 group=8 (depthwise)',
    spec: { stem: keep32(8), ops: [conv([3, 3], [2, 2], { pads: [1, 1, 1, 1], group: 8, outChannels: 8 })] },
    expected: [{ outputShape: [8, 16, 16], twinPads: [1, 1, 1, 1] }],
  },
  {
    name: 'Conv x=[N,8,32,32] k=3 s=2 pad=1 group=2',
    spec: { stem: keep32(8), ops: [conv([3, 3], [2, 2], { pads: [1, 1, 1, 1], group: 2, outChannels: 6 })] },
    expected: [{ outputShape: [6, 16, 16], twinPads: [1, 1, 1, 1] }],
  },
  {
    name: 'Conv x=[N,4,15,15] k=3 s=2 pad=1 no kernel_shape attribute, no bias',
    spec: { stem: to15(), ops: [conv([3, 3], [2, 2], { pads: [1, 1, 1, 1], kernelShapeAttr: false, bias: false })] },
    // N = floor(14/2)+1 = 8; end = 16-1+3-15-1 = 2
    expected: [{ outputShape: [5, 8, 8], twinPads: [1, 1, 2, 2] }],
  },
  // ---- strides
  {
    name: 'Conv x=[N,3,32,32] k=3 s=(2,1) pad=1',
    spec: { ops: [conv([3, 3], [2, 1], { pads: [1, 1, 1, 1] })] },
    // H: N = 16, end = 1; W: s=1, N = 32, end = 32-1+3-32-1 = 1
    expected: [{ outputShape: [5, 16, 32], twinPads: [1, 1, 1, 1] }],
  },
  {
    name: 'Conv x=[N,3,32,32] k=3 s=(1,3) pad=1',
    spec: { ops: [conv([3, 3], [1, 3], { pads: [1, 1, 1, 1] })] },
    // H: N = 32, end = 1; W: N = floor(31/3)+1 = 11, end = 33-1+3-32-1 = 2
    expected: [{ outputShape: [5, 32, 11], twinPads: [1, 1, 1, 2] }],
  },
  {
    name: 'Conv x=[N,4,15,15] k=(3,2) s=(1,3) pad=0',
    spec: { stem: to15(), ops: [conv([3, 2], [1, 3])] },
    // H: N = 13, end = 13-1+3-15 = 0; W: N = floor(13/3)+1 = 5, end = 15-1+2-15 = 1
    expected: [{ outputShape: [5, 13, 5], twinPads: [0, 0, 0, 1] }],
  },
  {
    name: 'Conv x=[N,3,32,32] k=3 s=3 pad=1',
    spec: { ops: [conv([3, 3], [3, 3], { pads: [1, 1, 1, 1] })] },
    // N = floor(31/3)+1 = 11; end = 33-1+3-32-1 = 2
    expected: [{ outputShape: [5, 11, 11], twinPads: [1, 1, 2, 2] }],
  },
  {
    name: 'Conv x=[N,3,32,32] k=3 s=3 pad=0',
    spec: { ops: [conv([3, 3], [3, 3])] },
    // N = floor(29/3)+1 = 10; end = 30-1+3-32 = 0
    expected: [{ outputShape: [5, 10, 10], twinPads: [0, 0, 0, 0] }],
  },
  {
    name: 'Conv x=[N,3,32,32] k=2 s=3 pad=0',
    spec: { ops: [conv([2, 2], [3, 3])] },
    // N = floor(30/3)+1 = 11; end = 33-1+2-32 = 2 (>= k: fine for Conv, zero padding)
    expected: [{ outputShape: [5, 11, 11], twinPads: [0, 0, 2, 2] }],
  },
  // ---- 1x1 shortcut next to a 3x3 (ResNet block)
  {
    name: 'Conv x=[N,8,32,32] k=3 s=2 pad=1 + shortcut k=1 s=2 pad=0',
    spec: {
      stem: keep32(8),
      ops: [conv([3, 3], [2, 2], { pads: [1, 1, 1, 1], outChannels: 6, from: -1 }), conv([1, 1], [2, 2], { outChannels: 6, from: -1 })],
    },
    // 1x1: N = floor(31/2)+1 = 16; end = 32-1+1-32 = 0
    expected: [
      { outputShape: [6, 16, 16], twinPads: [1, 1, 1, 1] },
      { outputShape: [6, 16, 16], twinPads: [0, 0, 0, 0] },
    ],
  },
  {
    name: 'Conv x=[N,4,15,15] k=1 s=2 pad=0',
    spec: { stem: to15(), ops: [conv([1, 1], [2, 2])] },
    // N = floor(14/2)+1 = 8; end = 16-1+1-15 = 1: the twin reads one zero past the edge
    expected: [{ outputShape: [5, 8, 8], twinPads: [0, 0, 1, 1] }],
  },
  // ---- MaxPool
  {
    name: 'MaxPool x=[N,3,32,32] k=2 s=2',
    spec: { ops: [{ op: 'MaxPool', kernel: [2, 2], strides: [2, 2] }] },
    // N = 16; end = 32-1+2-32 = 1
    expected: [{ outputShape: [3, 16, 16], twinPads: [0, 0, 1, 1] }],
  },
  {
    name: 'MaxPool x=[N,3,32,32] k=3 s=2 pad=1',
    spec: { ops: [{ op: 'MaxPool', kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }] },
    expected: [{ outputShape: [3, 16, 16], twinPads: [1, 1, 1, 1] }],
  },
  {
    name: 'MaxPool x=[N,4,15,15] k=2 s=2 (floor drops the last row)',
    spec: { stem: to15(), ops: [{ op: 'MaxPool', kernel: [2, 2], strides: [2, 2] }] },
    // N = floor(13/2)+1 = 7; end = 14-1+2-15 = 0
    expected: [{ outputShape: [4, 7, 7], twinPads: [0, 0, 0, 0] }],
  },
  {
    name: 'MaxPool x=[N,4,15,15] k=3 s=2 pad=1 ceil_mode=1',
    spec: { stem: to15(), ops: [{ op: 'MaxPool', kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], ceilMode: true }] },
    // N = ceil(14/2)+1 = 8 (last window starts at 13 < 16); end = 16-1+3-15-1 = 2
    expected: [{ outputShape: [4, 8, 8], twinPads: [1, 1, 2, 2] }],
  },
  {
    name: 'MaxPool x=[N,4,16,16] k=3 s=2 pad=0 ceil_mode=1',
    spec: { stem: to16(), ops: [{ op: 'MaxPool', kernel: [3, 3], strides: [2, 2], ceilMode: true }] },
    // N = ceil(13/2)+1 = 8 (floor would give 7); end = 16-1+3-16 = 2
    expected: [{ outputShape: [4, 8, 8], twinPads: [0, 0, 2, 2] }],
  },
  {
    name: 'MaxPool x=[N,3,32,32] k=3 s=2 d=2 pad=2',
    spec: { ops: [{ op: 'MaxPool', kernel: [3, 3], strides: [2, 2], dilations: [2, 2], pads: [2, 2, 2, 2] }] },
    // dk = 5; N = floor(31/2)+1 = 16; end = 32-1+5-32-2 = 2
    expected: [{ outputShape: [3, 16, 16], twinPads: [2, 2, 2, 2] }],
  },
  {
    name: 'MaxPool x=[N,4,2,2] k=2 s=2 (1x1 output)',
    spec: { stem: { kernel: [31, 31], channels: 4 }, ops: [{ op: 'MaxPool', kernel: [2, 2], strides: [2, 2] }] },
    // N = 1; end = 2-1+2-2 = 1
    expected: [{ outputShape: [4, 1, 1], twinPads: [0, 0, 1, 1] }],
  },
  {
    name: 'MaxPool x=[N,4,31,31] k=3 s=2 auto_pad=SAME_UPPER',
    spec: { stem: to31(), ops: [{ op: 'MaxPool', kernel: [3, 3], strides: [2, 2], autoPad: 'SAME_UPPER' }] },
    // N = 16, total = 30+3-31 = 2, b = 1; end = 32-1+3-31-1 = 2
    expected: [{ outputShape: [4, 16, 16], twinPads: [1, 1, 2, 2] }],
  },
  {
    name: 'MaxPool x=[N,3,32,32] k=3 s=2 auto_pad=SAME_LOWER',
    spec: { ops: [{ op: 'MaxPool', kernel: [3, 3], strides: [2, 2], autoPad: 'SAME_LOWER' }] },
    // total = 1, b = 1; end = 32-1+3-32-1 = 1
    expected: [{ outputShape: [3, 16, 16], twinPads: [1, 1, 1, 1] }],
  },
  // ---- AveragePool
  {
    name: 'AveragePool x=[N,4,4,4] k=4 s=4 (1x1 output, the usual CIFAR ResNet head)',
    spec: { stem: { kernel: [29, 29], channels: 4 }, ops: [{ op: 'AveragePool', kernel: [4, 4], strides: [4, 4] }] },
    // N = 1; end = 4-1+4-4 = 3
    expected: [{ outputShape: [4, 1, 1], twinPads: [0, 0, 3, 3] }],
  },
  {
    name: 'AveragePool x=[N,3,32,32] k=2 s=2',
    spec: { ops: [{ op: 'AveragePool', kernel: [2, 2], strides: [2, 2] }] },
    expected: [{ outputShape: [3, 16, 16], twinPads: [0, 0, 1, 1] }],
  },
  {
    name: 'AveragePool x=[N,3,32,32] k=3 s=2 pad=1 count_include_pad=0',
    spec: { ops: [{ op: 'AveragePool', kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], countIncludePad: 0 }] },
    expected: [{ outputShape: [3, 16, 16], twinPads: [1, 1, 1, 1] }],
  },
  {
    name: 'AveragePool x=[N,3,32,32] k=3 s=2 pad=1 count_include_pad=1',
    spec: { ops: [{ op: 'AveragePool', kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], countIncludePad: 1 }] },
    expected: [{ outputShape: [3, 16, 16], twinPads: [1, 1, 1, 1] }],
  },
  {
    name: 'AveragePool x=[N,4,15,15] k=3 s=2 pad=1 ceil_mode=1 count_include_pad=0',
    spec: { stem: to15(), ops: [{ op: 'AveragePool', kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], ceilMode: true, countIncludePad: 0 }] },
    expected: [{ outputShape: [4, 8, 8], twinPads: [1, 1, 2, 2] }],
  },
  {
    name: 'AveragePool x=[N,4,15,15] k=3 s=2 pad=1 ceil_mode=1 count_include_pad=1',
    spec: { stem: to15(), ops: [{ op: 'AveragePool', kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], ceilMode: true, countIncludePad: 1 }] },
    // the last window (rows 13..15) ends inside the declared end pad: same divisor in the twin
    expected: [{ outputShape: [4, 8, 8], twinPads: [1, 1, 2, 2] }],
  },
  {
    name: 'AveragePool x=[N,4,16,16] k=3 s=2 pad=0 ceil_mode=1 count_include_pad=0',
    spec: { stem: to16(), ops: [{ op: 'AveragePool', kernel: [3, 3], strides: [2, 2], ceilMode: true, countIncludePad: 0 }] },
    expected: [{ outputShape: [4, 8, 8], twinPads: [0, 0, 2, 2] }],
  },
  {
    name: 'AveragePool x=[N,3,32,32] k=3 s=2 auto_pad=SAME_UPPER count_include_pad=1',
    spec: { ops: [{ op: 'AveragePool', kernel: [3, 3], strides: [2, 2], autoPad: 'SAME_UPPER', countIncludePad: 1 }] },
    // total = 1, b = 0; end = 32-1+3-32 = 2
    expected: [{ outputShape: [3, 16, 16], twinPads: [0, 0, 2, 2] }],
  },
  // ---- layouts and batch
  {
    name: 'Conv x=[N,32,32,3] NHWC (Transpose first) k=3 s=2 pad=1',
    spec: { layout: 'NHWC', ops: [conv([3, 3], [2, 2], { pads: [1, 1, 1, 1] })] },
    expected: [{ outputShape: [5, 16, 16], twinPads: [1, 1, 1, 1] }],
  },
  {
    name: 'Conv x=[1,3,32,32] fixed batch 1, k=3 s=2 pad=1 + MaxPool k=2 s=2',
    spec: { batch: 1, ops: [conv([3, 3], [2, 2], { pads: [1, 1, 1, 1] }), { op: 'MaxPool', kernel: [2, 2], strides: [2, 2] }] },
    batchUsed: 1,
    expected: [
      { outputShape: [5, 16, 16], twinPads: [1, 1, 1, 1] },
      { outputShape: [5, 8, 8], twinPads: [0, 0, 1, 1] },
    ],
  },
  {
    name: 'Conv x=[3,3,32,32] fixed batch 3 (8 samples: last batch padded), k=3 s=2 pad=1',
    spec: { batch: 3, ops: [conv([3, 3], [2, 2], { pads: [1, 1, 1, 1] })] },
    batchUsed: 3,
    expected: [{ outputShape: [5, 16, 16], twinPads: [1, 1, 1, 1] }],
  },
  {
    name: 'Conv x=[16,3,32,32] fixed batch 16 > 8 samples, k=3 s=2 pad=1',
    spec: { batch: 16, ops: [conv([3, 3], [2, 2], { pads: [1, 1, 1, 1] })] },
    batchUsed: 16,
    expected: [{ outputShape: [5, 16, 16], twinPads: [1, 1, 1, 1] }],
  },
  {
    name: 'Conv x=[batch,3,32,32] symbolic batch, k=3 s=2 pad=1',
    spec: { batch: 'batch', ops: [conv([3, 3], [2, 2], { pads: [1, 1, 1, 1] })] },
    expected: [{ outputShape: [5, 16, 16], twinPads: [1, 1, 1, 1] }],
  },
];

describe('stride-1 twin geometry (runAudit, 8 synthetic images, batch 4, cpu)', () => {
  for (const c of cases) {
    test(c.name, () => runCase(c));
  }
});

// ---- opsets and IR versions: a Conv + MaxPool + AveragePool chain, measured in each.
const chain = (): ModelSpec['ops'] => [
  conv([3, 3], [2, 2], { pads: [1, 1, 1, 1] }),
  { op: 'MaxPool', kernel: [2, 2], strides: [2, 2] },
  { op: 'AveragePool', kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] },
];
const chainExpected: Expected[] = [
  { outputShape: [5, 16, 16], twinPads: [1, 1, 1, 1] },
  // 16 -> N = 8, end = 16-1+2-16 = 1
  { outputShape: [5, 8, 8], twinPads: [0, 0, 1, 1] },
  // 8 -> N = floor(7/2)+1 = 4, end = 8-1+3-8-1 = 1
  { outputShape: [5, 4, 4], twinPads: [1, 1, 1, 1] },
];

describe('opsets and IR versions (ReduceSum axes input from 13, ReduceMax from 18)', () => {
  for (const opset of [9, 11, 13, 17, 18]) {
    for (const irVersion of [3, 8]) {
      for (const initializers of [false, true]) {
        const weights = initializers ? (irVersion < 4 ? 'initializers also listed as inputs' : 'initializers') : 'Constant nodes';
        test(`Conv+MaxPool+AveragePool opset=${opset} ir=${irVersion} weights=${weights}`, () =>
          runCase({ name: `opset ${opset} ir ${irVersion}`, spec: { opset, irVersion, initializers, ops: chain() }, expected: chainExpected }));
      }
    }
  }
});

// ---- geometries where the invariant cannot hold: the report must flag the op, not pass it.
describe('geometries the twin cannot reproduce are reported per op', () => {
  test('AveragePool x=[N,4,16,16] k=3 s=2 pad=0 ceil_mode=1 count_include_pad=1: invariant breaks, op flagged', async () => {
    // Original: the last window (rows 14..16) runs past the declared end pad (0), so ONNX
    // Runtime divides by the 2 rows inside H+pad. The twin needs end pad 2 (16-1+3-16) to be 16
    // long; its window at row 14 then lies inside its pads and is divided by 3. No explicit-pad
    // AveragePool can reproduce both, so the op must carry an error.
    const model = buildModel({ stem: to16(), ops: [{ op: 'AveragePool', kernel: [3, 3], strides: [2, 2], ceilMode: true, countIncludePad: 1 }] });
    const report = await runAudit(model.bytes, options, { dataset });
    assert.equal(report.downsampling.length, 1);
    const d = report.downsampling[0];
    assert.deepEqual(d.outputShape, [4, 8, 8]);
    assert.deepEqual(d.twinPads, [0, 0, 2, 2]);
    assert.ok(d.twinCheck, 'twin check ran');
    assert.equal(d.twinCheck.ok, false, 'twin check fails');
    assert.match(d.error ?? '', /invariant/);
    assert.ok(report.flags.some((f) => f.startsWith(`${d.node}:`)), 'flagged in report.flags');
    assert.deepEqual(report.stages, [], 'a failed op is not in any stage');
  });

  // ONNX Runtime refuses a pooling node whose pads are >= its kernel ("Pad should be smaller
  // than kernel"). When a pooling twin needs such an end pad, the whole audit model fails to
  // load and runAudit throws UNSUPPORTED_MODEL for the model, instead of reporting that one
  // op with an error (SPEC §1). The trailing twin samples there are windows lying entirely in
  // the end padding (-inf for MaxPool, 0/0 for AveragePool), so the op genuinely cannot be
  // measured; the contract is a per-op error. See the report (src/onnx/surgery.ts).
  const unmeasurable: { name: string; spec: ModelSpec; outputShape: number[] }[] = [
    {
      name: 'MaxPool x=[N,4,15,15] k=2 s=2 ceil_mode=1 (twin end pad 2 = k)',
      spec: { stem: to15(), ops: [{ op: 'MaxPool', kernel: [2, 2], strides: [2, 2], ceilMode: true }] },
      // N = ceil(13/2)+1 = 8; end = 16-1+2-15 = 2
      outputShape: [4, 8, 8],
    },
    {
      name: 'AveragePool x=[N,4,15,15] k=2 s=2 ceil_mode=1 count_include_pad=0 (twin end pad 2 = k)',
      spec: { stem: to15(), ops: [{ op: 'AveragePool', kernel: [2, 2], strides: [2, 2], ceilMode: true, countIncludePad: 0 }] },
      outputShape: [4, 8, 8],
    },
    {
      name: 'AveragePool x=[N,4,16,16] k=3 s=2 pad=1 ceil_mode=1 (twin end pad 3 = k)',
      // N = ceil(15/2)+1 = 9 (last window starts at 15 < 17); end = 18-1+3-16-1 = 3
      spec: { stem: to16(), ops: [{ op: 'AveragePool', kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], ceilMode: true }] },
      outputShape: [4, 9, 9],
    },
    {
      name: 'MaxPool x=[N,4,31,31] k=2 s=2 auto_pad=SAME_UPPER (TF "SAME" on an odd size; twin end pad 2 = k)',
      // N = 16, total = 30+2-31 = 1, b = 0; end = 32-1+2-31 = 2
      spec: { stem: to31(), ops: [{ op: 'MaxPool', kernel: [2, 2], strides: [2, 2], autoPad: 'SAME_UPPER' }] },
      outputShape: [4, 16, 16],
    },
    {
      name: 'MaxPool x=[N,3,32,32] k=2 s=3 (no ceil_mode; twin end pad 2 = k)',
      // N = floor(30/3)+1 = 11; end = 33-1+2-32 = 2
      spec: { ops: [{ op: 'MaxPool', kernel: [2, 2], strides: [3, 3] }] },
      outputShape: [3, 11, 11],
    },
  ];
  for (const u of unmeasurable) {
    test(`${u.name}: op reported with an error, the audit still completes`, async () => {
      const model = buildModel(u.spec);
      const report = await runAudit(model.bytes, options, { dataset });
      assert.equal(report.downsampling.length, 1);
      const d = report.downsampling[0];
      assert.deepEqual(d.outputShape, u.outputShape);
      assert.ok(d.error, 'the op carries an error');
      assert.equal(d.am, null, 'no metric for an op that cannot be measured');
    });
  }
  test('MaxPool x=[N,4,31,31] k=3 s=2 d=2 pad=2 (twin end pad 3 = k, but every twin window holds a real pixel)', async () => {
    // dk = 5; N = floor(30/2)+1 = 16; end = 32-1+5-31-2 = 3. The trailing twin window (row 31)
    // reads rows 29, 31, 33: row 29 is real, so this twin is well defined; only ONNX Runtime's
    // pads < kernel_shape rule (undilated k) stands in the way. Either it is measured with the
    // hand-derived pads, or the op carries an error; the audit must not throw.
    const model = buildModel({ stem: to31(), ops: [{ op: 'MaxPool', kernel: [3, 3], strides: [2, 2], dilations: [2, 2], pads: [2, 2, 2, 2] }] });
    const report = await runAudit(model.bytes, options, { dataset });
    assert.equal(report.downsampling.length, 1);
    const d = report.downsampling[0];
    if (d.error === undefined) checkOp(d, { outputShape: [4, 16, 16], twinPads: [2, 2, 3, 3] }, 'dilated MaxPool');
    else assert.equal(d.am, null);
  });

  test('a pooling op whose twin ONNX Runtime cannot load does not sink the measurement of the other ops', async () => {
    // Conv k3 s2 pad1 and MaxPool k2 s2 ceil_mode=1 side by side on the same 15x15 map.
    const model = buildModel({
      stem: to15(),
      ops: [conv([3, 3], [2, 2], { pads: [1, 1, 1, 1], from: -1 }), { op: 'MaxPool', kernel: [2, 2], strides: [2, 2], ceilMode: true, from: -1 }],
      headFrom: 0,
    });
    const report = await runAudit(model.bytes, options, { dataset });
    assert.equal(report.downsampling.length, 2);
    checkOp(report.downsampling[0], { outputShape: [5, 8, 8], twinPads: [1, 1, 2, 2] }, 'conv');
    assert.ok(report.downsampling[1].error, 'pool op carries an error');
  });
});
