/**
 * `npm run bench` (attacks): one forward pass and one PGD step over the same 1,000 images, their
 * ratio, and the Square Attack's throughput, in one run on one machine. Prints figures only.
 *
 *   node dist/bench/attack-bench.js [MODEL.onnx] [--samples N] [--batch B] [--preprocess P]
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { GradientGraphClassifier, SessionClassifier } from '../attacks/onnxClassifiers.js';
import { squareAttack } from '../attacks/square.js';
import { PIXELS_PER_IMAGE, projectLinf } from '../attacks/types.js';
import { loadCifar10Test } from '../data/cifar10.js';
import { pixelsInUnitRange } from '../data/preprocess.js';
import { benchModelInterface } from './modelInterface.js';

const DEFAULT_MODEL = fileURLToPath(new URL('../../models/preact_resnet_standard.onnx', import.meta.url));

async function timed(f: () => Promise<void>): Promise<number> {
  await f(); // warm-up
  const t0 = performance.now();
  await f();
  return (performance.now() - t0) / 1000;
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { samples: { type: 'string', default: '1000' }, batch: { type: 'string', default: '50' }, preprocess: { type: 'string', default: 'none' } },
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
  const forwardSeconds = await timed(async () => {
    for (let s = 0; s < samples; s += batch) {
      const n = Math.min(batch, samples - s);
      await forward.logits(pixels.subarray(s * PIXELS_PER_IMAGE, (s + n) * PIXELS_PER_IMAGE), n);
    }
  });
  const pgdStepSeconds = await timed(async () => {
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
  });
  const squareImages = Math.min(100, samples);
  const squareQueries = 100;
  const t0 = performance.now();
  const square = await squareAttack(forward, pixels.subarray(0, squareImages * PIXELS_PER_IMAGE), dataset.labels.subarray(0, squareImages), squareImages, { eps, queries: squareQueries, pInit: 0.05, seed: 0 });
  const squareSeconds = (performance.now() - t0) / 1000;
  await forward.release();
  await gradient.release();

  console.log(`attack bench: ${path.split('/').pop()}, ${samples} CIFAR-10 test images, batch ${batch}, provider ${forward.provider}`);
  const rows: [string, string][] = [
    ['forward pass, seconds', forwardSeconds.toFixed(3)],
    [`PGD step (gradient, sign, step, projection${gradient.signedStep ? ', one graph' : ''}), seconds`, pgdStepSeconds.toFixed(3)],
    ['ratio PGD step / forward pass', (pgdStepSeconds / forwardSeconds).toFixed(2)],
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
