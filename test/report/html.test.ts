/**
 * The HTML report as a pure function: one bar per measured op and stage mean per stage, the
 * numbers as the report has them, escaping of everything the model names, no script and no
 * external resource (the page must work offline and under a strict CSP), and older reports
 * without the graph or robustness still render.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AuditReport, DownsamplingReport } from '../../src/audit/report.js';
import { niceTicks, viridis } from '../../src/report/charts.js';
import { metric, over255, percent, shortNodeName } from '../../src/report/format.js';
import { readableJson, renderReportHtml } from '../../src/report/html.js';

const EVIL = '<script>alert("x")</script>';
const PNG = 'data:image/png;base64,iVBORw0KGgo=';

function op(node: string, stage: number, am: number | null, amRel: number | null, error?: string): DownsamplingReport {
  return {
    node,
    op: 'Conv',
    stride: [2, 2],
    kernel: [3, 3],
    dilations: [1, 1],
    twinPads: [1, 1, 1, 1],
    inputShape: [16, 32 / stage, 32 / stage],
    outputShape: [32, 16 / stage, 16 / stage],
    stage,
    am,
    amRel,
    aliasEnergy: am === null ? null : am / 10,
    maps: 100,
    twinCheck: error ? null : { maxAbsError: 0, relativeError: 0, images: 1, ok: true },
    ...(error ? { error } : {}),
  };
}

function fakeReport(): AuditReport {
  const downsampling = [op('/a/shortcut/Conv', 1, 1.2, 0.61), op(EVIL, 1, 3.19, 0.45), op('/b/conv1/Conv', 2, null, null, 'twin broke')];
  const channels = [0, 1, 2].map((c) => Array.from({ length: 32 }, (_, u) => Array.from({ length: 32 }, (_, v) => c + u / 32 + v / 1024)));
  return {
    tool: { name: 'alias-audit', version: '0.1.0' },
    model: { sha256: 'ab'.repeat(32), bytes: 10, opset: 13, irVersion: 7, producer: 'pytorch', input: { name: 'input', shape: ['batch', 3, 32, 32], layout: 'NCHW', batchUsed: 50 } },
    dataset: { name: 'CIFAR-10 test', source: 'cache', samples: 100, selection: 'first', preprocessing: { name: 'none', mean: [0, 0, 0], std: [1, 1, 1], scale: 1, layout: 'NCHW', chosenBy: 'preset' } },
    executionProvider: { requested: 'auto', used: 'cpu', fallbacks: [] },
    cleanAccuracy: 0.85,
    cleanCorrect: 85,
    downsampling,
    stages: [
      { stage: 1, resolution: [16, 16], ops: ['/a/shortcut/Conv', EVIL], am: 2.195, amRel: 0.53, aliasEnergy: 0.2 },
      { stage: 2, resolution: [8, 8], ops: [], am: 0.86, amRel: 0.46, aliasEnergy: 0.15 },
    ],
    unsupported: [],
    graph: { nodes: [{ name: '/stem/Conv', op: 'Conv' }, ...downsampling.map((d) => ({ name: d.node, op: 'Conv' })), { name: '/fc/Gemm', op: 'Gemm', outputShape: ['batch', 10] }], total: 5, truncated: false },
    robustness: {
      preset: 'fast',
      norm: 'linf',
      eps: 8 / 255,
      epsText: '8/255',
      samples: 20,
      cleanAccuracy: 0.95,
      attacks: [
        { name: 'fgsm', norm: 'linf', parameters: { eps: 8 / 255 }, seed: 0, samples: 20, attacked: 19, robustAccuracy: 0.1, fooled: 17, broke: [], evaluations: 20, seconds: 0.1 },
        { name: 'pgd', norm: 'linf', parameters: { eps: 8 / 255, steps: 10 }, seed: 0, samples: 20, attacked: 2, robustAccuracy: 0.05, fooled: 18, broke: [], evaluations: 200, seconds: 0.4 },
      ],
      robustAccuracy: 0.05,
      perImage: [],
      firstIndex: 0,
      perturbationSpectrum: { samples: 20, size: 32, channels, highFrequencyShare: 0.7285, attack: 'pgd' },
      gradient: { available: true },
      examples: [{ index: 3, label: 0, cleanPrediction: 0, adversarialPrediction: 8, attack: 'pgd', cleanPng: PNG, adversarialPng: PNG, perturbationPng: PNG }],
      flags: ['attacks are seeded'],
    },
    flags: [],
    timings: { totalSeconds: 2, loadSeconds: 0, probeSeconds: 0, sessionSeconds: 0, measureSeconds: 1, robustnessSeconds: 1, imagesPerSecond: 100 },
  };
}

function count(html: string, pattern: RegExp): number {
  return html.match(new RegExp(pattern.source, 'g'))?.length ?? 0;
}

test('one bar per measured op in each chart and one mean line per stage, with the report\'s values', () => {
  const html = renderReportHtml(fakeReport(), { modelName: 'm.onnx' });
  assert.equal(count(html, /<rect class="bar" data-metric="amRel"/), 2, 'the op without a value has no bar');
  assert.equal(count(html, /<rect class="bar" data-metric="am"/), 2);
  assert.match(html, /data-metric="am" data-node="\/a\/shortcut\/Conv" data-stage="1" data-value="1.2"/);
  assert.equal(count(html, /<line class="stage-mean" data-metric="amRel"/), 2);
  assert.match(html, /data-stage="1" data-value="0.53"/);
  assert.equal(count(html, /class="acc-bar /), 4, 'clean, two attacks, all attacks');
  assert.equal(count(html, /<svg class="chart heatmap"/), 3);
  assert.equal(count(html, /<li class="ds"/), 3, 'every strided op marked among the layers');
  assert.match(html, /<dd data-field="cleanAccuracy" data-value="0.85">85.0%<\/dd>/);
  assert.match(html, /<strong id="hf-share" data-value="0.7285">72.9%<\/strong>/);
  assert.match(html, /n\/a/);
});

test('everything from the model is escaped, and the page loads nothing and runs no script', () => {
  const html = renderReportHtml(fakeReport(), { modelName: EVIL, jsonHref: '/audits/x/report?format=json' });
  assert.doesNotMatch(html, /<script/i);
  assert.match(html, /&lt;script&gt;alert\(&quot;x&quot;\)&lt;\/script&gt;/);
  assert.doesNotMatch(html, /(src|href)="https?:/, 'no external resource');
  assert.doesNotMatch(html, /<link rel="stylesheet"/);
  assert.match(html, /<a id="json-link" href="\/audits\/x\/report\?format=json"/);
});

test('the embedded JSON is the report', () => {
  const report = fakeReport();
  const html = renderReportHtml(report);
  const code = /<pre><code>([\s\S]*?)<\/code><\/pre>/.exec(html)?.[1] ?? '';
  const text = code.replace(/&(amp|lt|gt|quot|#39);/g, (_m, e: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" })[e] as string);
  assert.deepEqual(JSON.parse(text), report);
  assert.ok(readableJson(report).split('\n').length < 400, 'numeric arrays stay on one line');
});

test('a report without robustness or graph (older, or robustness none) still renders', () => {
  const { graph: _g, ...rest } = fakeReport();
  const html = renderReportHtml({ ...rest, robustness: null });
  assert.match(html, /Not measured/);
  assert.doesNotMatch(html, /Layers, input to logits/);
  assert.equal(count(html, /<rect class="bar" data-metric="am"/), 2);
});

test('numbers: 3 significant digits, percentages, 255ths, node names, ticks and colours', () => {
  assert.deepEqual([metric(2.19449), metric(0.000342), metric(0), metric(null), metric(12345.6)], ['2.19', '3.42e-4', '0', 'n/a', '12300']);
  assert.equal(percent(0.8512), '85.1%');
  assert.equal(over255(8 / 255), '8/255');
  assert.equal(over255(0.05), '0.05');
  assert.equal(shortNodeName('/layers/layers.1/shortcut/Conv'), 'layers.1/shortcut/Conv');
  assert.deepEqual(niceTicks(1), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(niceTicks(3.19), [0, 1, 2, 3, 4]);
  assert.equal(viridis(0), '#440154');
  assert.equal(viridis(1), '#fde725');
});

test('the preprocessing candidates and the preprocessing flags are shown, escaped', () => {
  const report = fakeReport();
  report.dataset.preprocessing = {
    ...report.dataset.preprocessing,
    name: 'cifar10',
    candidates: [
      { name: 'none', accuracy: 0.87, samples: 256 },
      { name: 'cifar10', accuracy: 0.5625, samples: 256 },
      { name: EVIL, accuracy: 0.1, samples: 256 },
    ],
  };
  const flag = 'preprocessing cifar10 scores 56.3% on the first 256 images, 30.7 points below none (87.0%): the model probably expects none; pass --preprocess none';
  report.flags = [flag];
  const html = renderReportHtml(report);
  const line = /<p class="note" id="preprocessing-candidates">([\s\S]*?)<\/p>/.exec(html)?.[1] ?? '';
  assert.match(line, /first 256 images/);
  assert.match(line, /<span data-candidate="none" data-value="0.87">none 87.0%<\/span>/);
  assert.match(line, /<span data-candidate="cifar10" data-value="0.5625"><strong>cifar10 56.3% \(used\)<\/strong><\/span>/);
  assert.doesNotMatch(html, /<script/i);
  assert.match(/<ul class="flags" aria-label="flags">([\s\S]*?)<\/ul>/.exec(html)?.[1] ?? '', new RegExp(`<li>${flag.replace(/[.()]/g, '\\$&')}</li>`));
  assert.doesNotMatch(line, /stops being scored/);
  // a preset stopped early shows how many images it was scored on
  report.dataset.preprocessing.candidates = [
    { name: 'none', accuracy: 0.87, samples: 256 },
    { name: 'cifar10', accuracy: 0.25, samples: 16 },
  ];
  report.dataset.preprocessing.name = 'none';
  const stopped = /<p class="note" id="preprocessing-candidates">([\s\S]*?)<\/p>/.exec(renderReportHtml(report))?.[1] ?? '';
  assert.match(stopped, /^Clean accuracy by preprocessing on the first 256 images: .*none 87\.0% \(used\).*cifar10 25\.0% \(first 16\)<\/span>; a preset stops being scored once it can no longer change the outcome\.$/);
  const { candidates: _c, ...without } = report.dataset.preprocessing;
  assert.doesNotMatch(renderReportHtml({ ...report, dataset: { ...report.dataset, preprocessing: without } }), /preprocessing-candidates/, 'older reports have no candidates line');
});
