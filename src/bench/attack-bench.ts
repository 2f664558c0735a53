/**
 * `npm run bench` (attacks): one forward pass and one PGD step over the same 1,000 images, their
 * ratio, and the Square Attack's throughput, in one run on one machine. Prints figures only.
 * The forward pass and the PGD step alternate, `--runs` rounds after one warm-up each, and the
 * medians are reported: one timing of each swung the ratio between 2.7 and 4.6 on a quiet VM.
 *
 *   node dist/bench/attack-bench.js [MODEL.onnx] [--samples N] [--batch B] [--preprocess P] [--runs R]
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { GradientGraphClassifier, SessionClassifier } from '../attacks/onnxClassifiers.js';
import { squareAttack } from '../attacks/square.js';
import { PIXELS_PER_IMAGE, projectLinf } from '../attacks/types.js';
import { loadCifar10Test } from '../data/cifar10.js';
import { median } from '../metrics/earlyStopping.js';
import { pixelsInUnitRange } from '../data/preprocess.js';
import { benchModelInterface } from './modelInterface.js';

const DEFAULT_MODEL = fileURLToPath(new URL('../../models/preact_resnet_standard.onnx', import.meta.url));

async function seconds(f: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await f();
  return (performance.now() - t0) / 1000;
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { samples: { type: 'string', default: '1000' }, batch: { type: 'string', default: '50' }, preprocess: { type: 'string', default: 'none' }, runs: { type: 'string', default: '5' } },
  });
  const path = positionals[0] ?? DEFAULT_MODEL;
  const bytes = await readFile(path);
  const m = benchModelInterface(bytes, values.preprocess);
  const samples = Number(values.samples);
  const batch = m.fixedBatch ?? Number(values.batch);
  const dataset = await loadCifar10Test();
  const pixels = pixelsInUnitRange(dataset, 0, samples);
  const forward = await SessionClassifier.open(bytes, m);
  const gradient = await GradientGraphClassifier.open(bytes, m);
  const eps = 8 / 255;
  const forwardPass = async (): Promise<void> => {
    for (let s = 0; s < samples; s += batch) {
      const n = Math.min(batch, samples - s);
      await forward.logits(pixels.subarray(s * PIXELS_PER_IMAGE, (s + n) * PIXELS_PER_IMAGE), n);
    }
  };
  const pgdStepPass = async (): Promise<void> => {
    for (let s = 0; s < samples; s += batch) {
      const n = Math.min(batch, samples - s);
      const clean = pixels.subarray(s * PIXELS_PER_IMAGE, (s + n) * PIXELS_PER_IMAGE);
      const labels = dataset.labels.subarray(s, s + n);
      if (gradient.signedStep) await gradient.signedStep(clean, clean, labels, n, { eps, stepSize: eps / 4 });
      else {
        const x = clean.slice();
        const { gradient: g } = await gradient.lossGradient(x, labels, n);
        for (let i = 0; i < x.length; i++) x[i] += (eps / 4) * Math.sign(g[i]);
        projectLinf(x, clean, eps);
      }
    }
  };
  await forwardPass(); // warm-up: first runs pay for allocations and kernel selection
  await pgdStepPass();
  const rounds: { forward: number; step: number }[] = [];
  for (let r = 0; r < Math.max(1, Number(values.runs)); r++) rounds.push({ forward: await seconds(forwardPass), step: await seconds(pgdStepPass) });
  const forwardSeconds = median(rounds.map((r) => r.forward));
  const pgdStepSeconds = median(rounds.map((r) => r.step));
  const stepRatio = median(rounds.map((r) => r.step / r.forward));
  const squareImages = Math.min(100, samples);
  const squareQueries = 100;
  const t0 = performance.now();
  const square = await squareAttack(forward, pixels.subarray(0, squareImages * PIXELS_PER_IMAGE), dataset.labels.subarray(0, squareImages), squareImages, { eps, queries: squareQueries, pInit: 0.05, seed: 0 });
  const squareSeconds = (performance.now() - t0) / 1000;
  await forward.release();
  await gradient.release();

  const fmt = (xs: number[]): string => xs.map((x) => x.toFixed(3)).join(' / ');
  console.log(`attack bench: ${path.split('/').pop()}, ${samples} CIFAR-10 test images, batch ${batch}, provider ${forward.provider}, medians of ${rounds.length} rounds`);
  const rows: [string, string][] = [
    ['forward pass, seconds (rounds)', `${forwardSeconds.toFixed(3)}  (${fmt(rounds.map((r) => r.forward))})`],
    [`PGD step (gradient, sign, step, projection${gradient.signedStep ? ', one graph' : ''}), seconds (rounds)`, `${pgdStepSeconds.toFixed(3)}  (${fmt(rounds.map((r) => r.step))})`],
    ['ratio PGD step / forward pass (median of the rounds\' ratios; target <= 3)', stepRatio.toFixed(2)],
    [`Square Attack, ${squareImages} images x up to ${squareQueries} queries, seconds`, squareSeconds.toFixed(3)],
    ['Square Attack, queries/second', (square.evaluations / squareSeconds).toFixed(1)],
    ['Square Attack, images/second', (squareImages / squareSeconds).toFixed(2)],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) console.log(`  ${k.padEnd(width)}  ${v}`);
}

main().catch((err: unknown) => {
  console.error(`bench failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
