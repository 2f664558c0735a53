import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { assignStages, stageSummaries, type OpMetrics } from '../../src/metrics/stages.js';

describe('assignStages', () => {
  it('groups by output spatial size in graph order: 16x16, 8x8, 8x8, 4x4 -> 1, 2, 2, 3', () => {
    const ops = [
      { node: 'stem', outputShape: [1, 16, 16, 16] },
      { node: 'layer2.conv1', outputShape: [1, 32, 8, 8] },
      { node: 'layer2.shortcut', outputShape: [32, 8, 8] }, // [C,H,W] also works
      { node: 'layer3.conv1', outputShape: [1, 64, 4, 4] },
    ];
    const staged = assignStages(ops);
    assert.deepEqual(staged.map((op) => op.stage), [1, 2, 2, 3]);
    assert.deepEqual(staged.map((op) => op.node), ops.map((op) => op.node), 'keeps order and fields');
    assert.ok(!('stage' in ops[0]), 'does not mutate its input');
  });

  it('numbers by first appearance, not by size, and tells H x W from W x H', () => {
    const staged = assignStages([
      { outputShape: [1, 8, 8, 4] },
      { outputShape: [1, 8, 16, 16] },
      { outputShape: [1, 8, 4, 8] },
      { outputShape: [1, 8, 8, 4] },
      { outputShape: [1, 8, 8, 8] },
    ]);
    assert.deepEqual(staged.map((op) => op.stage), [1, 2, 3, 1, 4]);
  });

  it('ignores channels and batch: only the last two dims matter', () => {
    const staged = assignStages([{ outputShape: [4, 3, 8, 8] }, { outputShape: [1, 512, 8, 8] }]);
    assert.deepEqual(staged.map((op) => op.stage), [1, 1]);
  });

  it('handles no ops and rejects shapes without spatial dims', () => {
    assert.deepEqual(assignStages([]), []);
    assert.throws(() => assignStages([{ outputShape: [8] }]), RangeError);
  });
});

describe('stageSummaries', () => {
  interface Op extends OpMetrics {
    op: string;
  }
  const ops: Op[] = [
    { node: 'conv1', op: 'Conv', outputShape: [1, 16, 16, 16], am: 0.9, amRel: 0.3, aliasEnergy: 0.1 },
    { node: 'l2.conv', op: 'Conv', outputShape: [1, 32, 8, 8], am: 0.2, amRel: 0.1, aliasEnergy: 0.05 },
    { node: 'l2.short', op: 'Conv', outputShape: [1, 32, 8, 8], am: 0.4, amRel: 0.3, aliasEnergy: 0.15 },
    { node: 'l3.conv', op: 'Conv', outputShape: [1, 64, 4, 4], am: 1, amRel: 0.5, aliasEnergy: 0.25 },
    { node: 'l3.short', op: 'Conv', outputShape: [1, 64, 4, 4], am: 2, amRel: 0.25, aliasEnergy: 0 },
    { node: 'l3.pool', op: 'MaxPool', outputShape: [1, 64, 4, 4], am: 3, amRel: 0.75, aliasEnergy: 0.5 },
  ];

  it('each stage is the mean of its ops', () => {
    const summaries = stageSummaries(assignStages(ops));
    assert.equal(summaries.length, 3);
    assert.deepEqual(summaries.map((s) => [s.stage, s.resolution, s.ops]), [
      [1, [16, 16], ['conv1']],
      [2, [8, 8], ['l2.conv', 'l2.short']],
      [3, [4, 4], ['l3.conv', 'l3.short', 'l3.pool']],
    ]);
    const near = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-15, `${a} vs ${b}`);
    near(summaries[0].am, 0.9);
    near(summaries[1].am, 0.3);
    near(summaries[1].amRel, 0.2);
    near(summaries[1].aliasEnergy, 0.1);
    near(summaries[2].am, 2);
    near(summaries[2].amRel, 0.5);
    near(summaries[2].aliasEnergy, 0.25);
  });

  it('orders summaries by stage number whatever the input order', () => {
    const staged = assignStages(ops);
    const summaries = stageSummaries([...staged].reverse());
    assert.deepEqual(summaries.map((s) => s.stage), [1, 2, 3]);
    assert.deepEqual(summaries[1].ops, ['l2.short', 'l2.conv']);
  });
});
