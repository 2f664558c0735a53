/**
 * `npm run bench` (robustness presets): seconds per attacked image of the fast and standard
 * presets on the bundled models, with each attack's share, in one run on one machine. The
 * attacks run in order on the images still standing, so a model that few images survive (the
 * standard-trained one) costs far less per image than an adversarially trained one. Prints
 * figures only.
 *
 *   node dist/bench/preset-bench.js [--samples 100] [--presets fast,standard] []
 */
import { readFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runAudit } from '../audit/audit.js';
import { parseAuditOptions } from '../audit/options.js';
import { loadCifar10Test } from '../data/cifar10.js';

const MODELS = ['preact_resnet_standard.onnx', 'preact_resnet_fgsm.onnx'];

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { samples: { type: 'string', default: '100' }, presets: { type: 'string', default: 'fast,standard' } } });
  const samples = values.samples;
  const dataset = await loadCifar10Test();
  console.log(`preset bench, ${new Date().toISOString()}: ${cpus().length} CPU cores (${cpus()[0]?.model.trim() ?? 'unknown'}), first ${samples} CIFAR-10 test images, eps 8/255, L-infinity, ep cpu`);
  const results: Record<string, unknown>[] = [];
  for (const file of MODELS) {
    const bytes = await readFile(fileURLToPath(new URL(`../../models/${file}`, import.meta.url)));
    for (const preset of values.presets.split(',')) {
      const options = parseAuditOptions({ samples, attackSamples: samples, preprocess: 'none', ep: 'cpu', robustness: preset });
      const report = await runAudit(bytes, options, { dataset });
      const r = report.robustness;
      if (!r) throw new Error('no robustness report');
      const seconds = report.timings.robustnessSeconds;
      const perAttack = r.attacks.map((a) => `${a.name} ${a.seconds.toFixed(1)} s on ${a.attacked}`).join(', ');
      console.log(
        `  ${file.padEnd(28)} ${preset.padEnd(9)} ${(seconds / r.samples).toFixed(3)} s/image  (${seconds.toFixed(1)} s; clean ${(r.cleanAccuracy * 100).toFixed(1)}%, robust ${(r.robustAccuracy * 100).toFixed(1)}%; ${perAttack})`,
      );
      results.push({ model: file, preset, samples: r.samples, seconds, secondsPerImage: seconds / r.samples, robustAccuracy: r.robustAccuracy });
    }
  }
  console.log(JSON.stringify({ bench: 'presets', results }));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
