/**
 * `npm run bench` (training monitor): what one epoch's check costs. The aliasing check is what
 * the monitor runs per checkpoint (a fresh model: decode, probe, twins, sessions, stage-1..n
 * aliasing); the PGD-10 check is what a training loop would run instead on the same images
 * (eps 8/255, step 2/255, one random start), also from a fresh model file. The paper reports
 * 903 ms vs 1,316 ms per epoch on its GPU. Prints figures only.
 *
 *   node dist/bench/monitor-bench.js [CHECKPOINT.onnx] [--samples N] [--batch B] [--repeats R]
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runAudit } from '../audit/audit.js';
import { DEFAULT_AUDIT_OPTIONS } from '../audit/options.js';
import { pgd } from '../attacks/gradientAttacks.js';
import { SeededRandom } from '../attacks/random.js';
import { GradientGraphClassifier } from '../attacks/onnxClassifiers.js';
import { argmax, PIXELS_PER_IMAGE, projectLinf } from '../attacks/types.js';
import { loadCifar10Test } from '../data/cifar10.js';
import { pixelsInUnitRange } from '../data/preprocess.js';
import { benchModelInterface } from './modelInterface.js';

const DEFAULT_MODEL = fileURLToPath(new URL('../../models/preact_resnet_fgsm.onnx', import.meta.url));
const EPS = 8 / 255;
const STEP = 2 / 255;
const STEPS = 10;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function timedRuns(repeats: number, f: () => Promise<void>): Promise<number> {
  await f(); // warm-up: the first ORT session of the process pays one-off costs
  const runs: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    await f();
    runs.push((performance.now() - t0) / 1000);
  }
  return median(runs);
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { samples: { type: 'string', default: '1000' }, batch: { type: 'string', default: '50' }, repeats: { type: 'string', default: '3' } },
  });
  const path = positionals[0] ?? DEFAULT_MODEL;
  const samples = Number(values.samples);
  const repeats = Number(values.repeats);
  const dataset = await loadCifar10Test();
  const pixels = pixelsInUnitRange(dataset, 0, samples);
  const labels = dataset.labels.subarray(0, samples);

  // The monitor's per-epoch measurement, exactly as `early-stop` and POST /runs/{id}/checkpoints run it.
  let provider = '';
  const aliasingSeconds = await timedRuns(repeats, async () => {
    const bytes = await readFile(path);
    const report = await runAudit(bytes, { ...DEFAULT_AUDIT_OPTIONS, samples, batch: Number(values.batch), preprocess: 'none', ep: 'cpu', robustness: 'none' }, { dataset });
    provider = report.executionProvider.used;
  });

  async function openGradient(): Promise<{ model: GradientGraphClassifier; batch: number }> {
    const bytes = await readFile(path);
    const m = benchModelInterface(bytes, 'none');
    return { model: await GradientGraphClassifier.open(bytes, m), batch: m.fixedBatch ?? Number(values.batch) };
  }

  // A PGD-10 check as a training loop runs it: every image takes all ten steps, then one forward.
  let robust = 0;
  const pgdFullSeconds = await timedRuns(repeats, async () => {
    const { model, batch } = await openGradient();
    const rng = new SeededRandom(0);
    try {
      robust = 0;
      for (let s = 0; s < samples; s += batch) {
        const n = Math.min(batch, samples - s);
        const clean = pixels.subarray(s * PIXELS_PER_IMAGE, (s + n) * PIXELS_PER_IMAGE);
        const y = labels.subarray(s, s + n);
        let x: Float32Array = clean.slice();
        for (let i = 0; i < x.length; i++) x[i] += rng.uniform(-EPS, EPS);
        projectLinf(x, clean, EPS);
        for (let step = 0; step < STEPS; step++) {
          if (model.signedStep) x = (await model.signedStep(x, clean, y, n, { eps: EPS, stepSize: STEP })).next;
          else {
            const { gradient } = await model.lossGradient(x, y, n);
            for (let i = 0; i < x.length; i++) x[i] += STEP * Math.sign(gradient[i]);
            projectLinf(x, clean, EPS);
          }
        }
        const logits = await model.logits(x, n);
        for (let i = 0; i < n; i++) if (argmax(logits, i, model.classes) === y[i]) robust++;
      }
    } finally {
      await model.release();
    }
  });

  // The same attack as the audit runs it: images leave as soon as they are fooled.
  let earlyExitRobust = 0;
  const pgdEarlyExitSeconds = await timedRuns(repeats, async () => {
    const { model } = await openGradient();
    try {
      const r = await pgd(model, pixels, labels, samples, { eps: EPS, stepSize: STEP, steps: STEPS, restarts: 1, randomStart: true, seed: 0 });
      earlyExitRobust = samples - r.fooled.reduce((a, b) => a + b, 0);
    } finally {
      await model.release();
    }
  });

  console.log(`monitor bench: ${path.split('/').pop()}, ${samples} CIFAR-10 test images, provider ${provider}, median of ${repeats} runs (each from the model file)`);
  const rows: [string, string][] = [
    ['aliasing check (the monitor, one checkpoint), seconds', aliasingSeconds.toFixed(3)],
    [`PGD-10 check, all images all steps (robust ${(robust / samples).toFixed(3)}), seconds`, pgdFullSeconds.toFixed(3)],
    [`PGD-10 check, fooled images leave early (robust ${(earlyExitRobust / samples).toFixed(3)}), seconds`, pgdEarlyExitSeconds.toFixed(3)],
    ['ratio aliasing / PGD-10 (all steps)', (aliasingSeconds / pgdFullSeconds).toFixed(2)],
    ['ratio aliasing / PGD-10 (early exit)', (aliasingSeconds / pgdEarlyExitSeconds).toFixed(2)],
    ['paper (GPU): 0.903 s / 1.316 s', (0.903 / 1.316).toFixed(2)],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) console.log(`  ${k.padEnd(width)}  ${v}`);
}

main().catch((err: unknown) => {
  console.error(`bench failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
