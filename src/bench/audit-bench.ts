/**
 * `npm run bench`: what an audit costs against the floor of its work, in one run on one machine,
 * for the bundled model and for a WideResNet-28-10 (random weights, built by wideResNet.ts):
 *
 * - plain inference: the model alone on the audit's images;
 * - the augmented forward pass: the model plus the stride-1 twin of every strided op, each twin
 *   reduced in the graph to one number, so its maps are computed but not copied out (no spectra).
 *   An audit cannot do less than this;
 * - the audit's measurement pass (`timings.measureSeconds`) and the whole audit, each audit in a
 *   fresh process (as a service worker runs a tenant's first audit), with its peak RSS. The
 *   measurement pass is its session's first, so the augmented pass's first run is printed too.
 *
 * Medians of `--runs` runs (plain and augmented after one warm-up run each); prints figures and
 * ratios, asserts nothing.
 *
 *   node dist/bench/audit-bench.js [MODEL.onnx] [--samples 1000] [--batch 100] [--runs 3]
 *     [--wrn-samples 200] [--wrn-batch 64] [--no-wrn] [--preprocess none] [--ep cpu]
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runAudit } from '../audit/audit.js';
import { parseAuditOptions } from '../audit/options.js';
import { defaultCacheDir, loadCifar10Test, type Cifar10Set } from '../data/cifar10.js';
import { fillModelInput, resolveLayout, resolvePreprocessing } from '../data/preprocess.js';
import { median } from '../metrics/earlyStopping.js';
import { reduce } from '../onnx/builders.js';
import { decodeModel, encodeModel } from '../onnx/codec.js';
import { findDownsamplingOps, summarizeModel } from '../onnx/inspect.js';
import { addStrideOneTwin, exposeForShapeProbe, type OpGeometry } from '../onnx/surgery.js';
import { ModelSession, type ExecutionProviderChoice } from '../runtime/session.js';
import { buildWideResNet } from './wideResNet.js';

const DEFAULT_MODEL = fileURLToPath(new URL('../../models/preact_resnet_standard.onnx', import.meta.url));
const SELF = fileURLToPath(import.meta.url);

interface Case {
  label: string;
  path: string;
  samples: number;
  batch: number;
}

interface Settings {
  runs: number;
  preprocess: string;
  ep: ExecutionProviderChoice;
}

/** What one audit in its own process measured. */
interface AuditRun {
  totalSeconds: number;
  measureSeconds: number;
  probeSeconds: number;
  sessionSeconds: number;
  maxRssBytes: number;
  provider: string;
  ops: number;
}

/** Each strided op's input and output sizes, from one run of the model with them exposed. */
async function opGeometries(bytes: Uint8Array, batch: number): Promise<Map<string, OpGeometry>> {
  const model = decodeModel(bytes);
  const summary = summarizeModel(model);
  const { ops } = findDownsamplingOps(model);
  const names = exposeForShapeProbe(model, ops);
  const layout = resolveLayout('auto', summary.input.shape);
  const n = summary.input.fixedBatch ?? batch;
  const session = await ModelSession.open(encodeModel(model), { ep: 'cpu' });
  try {
    const dims = layout === 'NCHW' ? [n, 3, 32, 32] : [n, 32, 32, 3];
    const out = await session.run({ [summary.input.name]: { data: new Float32Array(n * 3072), dims } }, names);
    const geometries = new Map<string, OpGeometry>();
    for (const op of ops) {
      const i = out[op.input].dims;
      const o = out[op.output].dims;
      if (i.length === 4 && o.length === 4) geometries.set(op.output, { inputHW: [i[2], i[3]], outputHW: [o[2], o[3]] });
    }
    return geometries;
  } finally {
    await session.release();
  }
}

/** The model plus every strided op's stride-1 twin, each twin summed in the graph to one output number. */
async function augmentedModel(bytes: Uint8Array, batch: number): Promise<{ bytes: Uint8Array; twinSums: string[] }> {
  const geometries = await opGeometries(bytes, batch);
  const model = decodeModel(bytes);
  const opset = model.opsetImports.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version ?? 1;
  const twinSums: string[] = [];
  for (const op of findDownsamplingOps(model).ops) {
    const geometry = geometries.get(op.output);
    if (!geometry) continue;
    const twin = addStrideOneTwin(model.graph, op, geometry);
    const sum = reduce(model.graph, opset, 'ReduceSum', twin.output, [0, 1, 2, 3]);
    model.graph.addOutput(sum);
    twinSums.push(sum);
  }
  model.graph.toposort();
  return { bytes: encodeModel(model), twinSums };
}

/** Seconds of one pass over the case's images, fetching the logits and `extraFetches`. */
async function timedPasses(
  modelBytes: Uint8Array,
  c: Case,
  dataset: Cifar10Set,
  s: Settings,
  extraFetches: (names: string[]) => string[],
): Promise<{ seconds: number[]; firstSeconds: number; provider: string }> {
  const summary = summarizeModel(decodeModel(modelBytes));
  const layout = resolveLayout('auto', summary.input.shape);
  const batch = summary.input.fixedBatch ?? c.batch;
  const pre = resolvePreprocessing({ preset: s.preprocess });
  const session = await ModelSession.open(modelBytes, { ep: s.ep });
  const buffer = new Float32Array(batch * 3072);
  const imageDims = layout === 'NCHW' ? [3, 32, 32] : [32, 32, 3];
  const fetches = [summary.outputs[0], ...extraFetches(summary.outputs)];
  const pass = async (): Promise<number> => {
    const t0 = performance.now();
    for (let start = 0; start < c.samples; start += batch) {
      const count = Math.min(batch, c.samples - start);
      // as the audit: a short last batch is padded only for a fixed-batch model
      const rows = summary.input.fixedBatch ?? count;
      fillModelInput(dataset, start, count, pre, layout, buffer.subarray(0, count * 3072));
      buffer.fill(0, count * 3072);
      await session.run({ [summary.input.name]: { data: buffer.subarray(0, rows * 3072), dims: [rows, ...imageDims] } }, fetches);
    }
    return (performance.now() - t0) / 1000;
  };
  try {
    // warm-up: a fresh session's first batches pay for memory and kernel selection, as the audit's do
    const firstSeconds = await pass();
    const seconds: number[] = [];
    for (let r = 0; r < s.runs; r++) seconds.push(await pass());
    return { seconds, firstSeconds, provider: session.provider };
  } finally {
    await session.release();
  }
}

/** One audit in a fresh process (`--child-audit`), as a service worker runs a tenant's first audit. */
function auditInChild(c: Case, s: Settings): Promise<AuditRun> {
  return new Promise((resolve, reject) => {
    const args = [SELF, '--child-audit', c.path, '--samples', String(c.samples), '--batch', String(c.batch), '--preprocess', s.preprocess, '--ep', s.ep];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      const line = out.trim().split('\n').pop() ?? '';
      if (code !== 0) reject(new Error(`the audit process exited ${code}: ${out.trim()}`));
      else resolve(JSON.parse(line) as AuditRun);
    });
  });
}

async function childAudit(path: string, samples: string, batch: string, preprocess: string, ep: string): Promise<void> {
  const bytes = await readFile(path);
  const options = parseAuditOptions({ samples, batch, preprocess, ep, robustness: 'none' });
  const dataset = await loadCifar10Test();
  const report = await runAudit(bytes, options, { dataset });
  const run: AuditRun = {
    totalSeconds: report.timings.totalSeconds,
    measureSeconds: report.timings.measureSeconds,
    probeSeconds: report.timings.probeSeconds,
    sessionSeconds: report.timings.sessionSeconds,
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
    provider: report.executionProvider.used,
    ops: report.downsampling.length,
  };
  console.log(JSON.stringify(run));
}

/** The WideResNet-28-10 of the bench, built once (seeded) into the cache. */
function wideResNetFile(): string {
  const dir = join(defaultCacheDir(), 'bench');
  const file = join(dir, 'wrn-28-10-seed1.onnx');
  if (!existsSync(file)) {
    mkdirSync(dir, { recursive: true });
    console.log('building WideResNet-28-10 (random weights, seed 1) ...');
    writeFileSync(file, buildWideResNet({ depth: 28, widen: 10, seed: 1 }));
  }
  return file;
}

async function benchCase(c: Case, dataset: Cifar10Set, s: Settings): Promise<Record<string, number | string>> {
  const bytes = await readFile(c.path);
  const plain = await timedPasses(bytes, c, dataset, s, () => []);
  const augmented = await augmentedModel(bytes, c.batch);
  const floor = await timedPasses(augmented.bytes, c, dataset, s, () => augmented.twinSums);
  const audits: AuditRun[] = [];
  for (let r = 0; r < s.runs; r++) audits.push(await auditInChild(c, s));
  const plainS = median(plain.seconds);
  const floorS = median(floor.seconds);
  const measureS = median(audits.map((a) => a.measureSeconds));
  const totalS = median(audits.map((a) => a.totalSeconds));
  const rss = Math.max(...audits.map((a) => a.maxRssBytes));
  const fmt = (xs: number[]): string => xs.map((x) => x.toFixed(2)).join(' / ');
  const rows: [string, string][] = [
    ['provider (plain / audit)', `${plain.provider} / ${audits[0].provider}`],
    ['strided ops (twins)', String(augmented.twinSums.length)],
    ['plain inference, s (runs)', `${plainS.toFixed(3)}  (${fmt(plain.seconds)})`],
    ['augmented forward pass, s (runs)', `${floorS.toFixed(3)}  (${fmt(floor.seconds)})`],
    ['  first pass of its session, s (one run)', floor.firstSeconds.toFixed(3)],
    ['audit measurement pass, s (runs)', `${measureS.toFixed(3)}  (${fmt(audits.map((a) => a.measureSeconds))})`],
    ['whole audit, s (runs)', `${totalS.toFixed(3)}  (${fmt(audits.map((a) => a.totalSeconds))})`],
    ['  of which probe + preprocessing, s', median(audits.map((a) => a.probeSeconds)).toFixed(3)],
    ['  of which session creation, s', median(audits.map((a) => a.sessionSeconds)).toFixed(3)],
    ['augmented / plain', (floorS / plainS).toFixed(2)],
    ['measurement pass / augmented (target <= 1.3)', (measureS / floorS).toFixed(2)],
    ['whole audit / augmented (target <= 1.5)', (totalS / floorS).toFixed(2)],
    ['measurement pass / augmented first pass', (measureS / floor.firstSeconds).toFixed(2)],
    ['measurement pass / plain', (measureS / plainS).toFixed(2)],
    ['audit peak RSS, MiB (max of runs)', (rss / 2 ** 20).toFixed(0)],
  ];
  console.log(`\n${c.label}: ${basename(c.path)}, ${c.samples} CIFAR-10 test images, batch ${c.batch}, ep ${s.ep}, medians of ${s.runs} runs`);
  const width = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) console.log(`  ${k.padEnd(width)}  ${v}`);
  return { model: basename(c.path), samples: c.samples, batch: c.batch, plainS, floorS, measureS, totalS, peakRssMiB: Math.round(rss / 2 ** 20) };
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      samples: { type: 'string', default: '1000' },
      batch: { type: 'string', default: '100' },
      runs: { type: 'string', default: '3' },
      'wrn-samples': { type: 'string', default: '200' },
      'wrn-batch': { type: 'string', default: '64' },
      'no-wrn': { type: 'boolean', default: false },
      preprocess: { type: 'string', default: 'none' },
      ep: { type: 'string', default: 'cpu' },
      'child-audit': { type: 'string' },
    },
  });
  if (values['child-audit']) return childAudit(values['child-audit'], values.samples, values.batch, values.preprocess, values.ep);
  const settings: Settings = { runs: Math.max(1, Number(values.runs)), preprocess: values.preprocess, ep: parseAuditOptions({ ep: values.ep }).ep };
  const cases: Case[] = [{ label: 'bundled model', path: positionals[0] ?? DEFAULT_MODEL, samples: Number(values.samples), batch: Number(values.batch) }];
  if (!values['no-wrn']) cases.push({ label: 'WideResNet-28-10', path: wideResNetFile(), samples: Number(values['wrn-samples']), batch: Number(values['wrn-batch']) });
  const dataset = await loadCifar10Test();
  console.log(`audit bench, ${new Date().toISOString()}: ${cpus().length} CPU cores (${cpus()[0]?.model ?? 'unknown'})`);
  const results = [];
  for (const c of cases) results.push(await benchCase(c, dataset, settings));
  console.log(JSON.stringify({ bench: 'audit', cores: cpus().length, runs: settings.runs, results }));
}

main().catch((err: unknown) => {
  console.error(`bench failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
