/** Small hand-made reports for the tests of the baseline comparison and of the CI writers. */
import type { AuditReport, DownsamplingReport } from '../../src/audit/report.js';

export function op(node: string, stage: number, amRel: number | null, extra: Partial<DownsamplingReport> = {}): DownsamplingReport {
  const size = 32 >> stage;
  return {
    node,
    op: 'Conv',
    stride: [2, 2],
    kernel: [3, 3],
    dilations: [1, 1],
    twinPads: [1, 1, 1, 1],
    inputShape: [16 * stage, size * 2, size * 2],
    outputShape: [32 * stage, size, size],
    stage,
    am: amRel === null ? null : amRel * 2,
    amRel,
    aliasEnergy: amRel === null ? null : amRel / 10,
    maps: 100,
    twinCheck: { maxAbsError: 0, relativeError: 0, images: 1, ok: true },
    ...extra,
  };
}

/** A report of two stages of two ops each; `amRels` gives the ops' amRel in graph order. */
export function report(amRels: number[], extra: Partial<AuditReport> = {}): AuditReport {
  const names = ['/l1/shortcut/Conv', '/l1/conv1/Conv', '/l2/shortcut/Conv', '/l2/conv1/Conv'];
  const downsampling = amRels.map((a, i) => op(names[i] ?? `/op${i}/Conv`, i < 2 ? 1 : 2, a));
  const stage = (s: number): AuditReport['stages'][number] => {
    const ops = downsampling.filter((d) => d.stage === s);
    const mean = (f: (d: DownsamplingReport) => number): number => ops.reduce((acc, d) => acc + f(d), 0) / ops.length;
    return { stage: s, resolution: [32 >> s, 32 >> s], ops: ops.map((d) => d.node), am: mean((d) => d.am!), amRel: mean((d) => d.amRel!), aliasEnergy: mean((d) => d.aliasEnergy!) };
  };
  return {
    tool: { name: 'alias-audit', version: '0.1.0' },
    model: { sha256: 'ab'.repeat(32), bytes: 10, opset: 13, irVersion: 7, producer: 'pytorch', input: { name: 'input', shape: ['batch', 3, 32, 32], layout: 'NCHW', batchUsed: 50 } },
    dataset: { name: 'CIFAR-10 test', source: 'cache', samples: 200, selection: 'first', preprocessing: { name: 'none', mean: [0, 0, 0], std: [1, 1, 1], scale: 1, layout: 'NCHW', chosenBy: 'auto' } },
    executionProvider: { requested: 'auto', used: 'cpu', fallbacks: [] },
    cleanAccuracy: 0.5,
    cleanCorrect: 100,
    downsampling,
    stages: [...new Set(downsampling.map((d) => d.stage))].map(stage),
    unsupported: [],
    robustness: null,
    flags: [],
    timings: { totalSeconds: 1.5, loadSeconds: 0.1, probeSeconds: 0.1, sessionSeconds: 0.1, measureSeconds: 1, robustnessSeconds: 0, imagesPerSecond: 200 },
    ...extra,
  };
}

/** A robustness section with one PGD run; `robust` is its robust accuracy. */
export function robustness(robust: number, extra: Partial<NonNullable<AuditReport['robustness']>> = {}): NonNullable<AuditReport['robustness']> {
  return {
    preset: 'fast',
    norm: 'linf',
    eps: 8 / 255,
    epsText: '8/255',
    samples: 100,
    cleanAccuracy: 0.5,
    attacks: [{ name: 'pgd', norm: 'linf', parameters: { steps: 10, restarts: 1 }, seed: 0, samples: 100, attacked: 50, robustAccuracy: robust, fooled: 10, broke: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], evaluations: 1000, seconds: 1 }],
    robustAccuracy: robust,
    perImage: [],
    firstIndex: 0,
    perturbationSpectrum: null,
    gradient: { available: true },
    examples: [],
    flags: [],
    ...extra,
  };
}
