/**
 * `npm run bench`: what an audit costs against plain inference of the same model on the same
 * images, in one run on one machine. Prints figures; asserts nothing.
 *
 *   node dist/bench/audit-bench.js [MODEL.onnx] [--samples N] [--batch B] [--preprocess P] [--ep E]
 */
import { readFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runAudit } from '../audit/audit.js';
import { parseAuditOptions } from '../audit/options.js';
import { loadCifar10Test } from '../data/cifar10.js';
import { fillModelInput, resolveLayout, resolvePreprocessing } from '../data/preprocess.js';
import { decodeModel } from '../onnx/codec.js';
import { summarizeModel } from '../onnx/inspect.js';
import { ModelSession } from '../runtime/session.js';

const DEFAULT_MODEL = fileURLToPath(new URL('../../models/preact_resnet_standard.onnx', import.meta.url));

async function plainInference(bytes: Uint8Array, samples: number, batchOption: number, preset: string, ep: 'auto' | 'cpu' | 'cuda' | 'webgpu') {
  const summary = summarizeModel(decodeModel(bytes));
  const layout = resolveLayout('auto', summary.input.shape);
  const batch = summary.input.fixedBatch ?? batchOption;
  const pre = resolvePreprocessing({ preset });
  const dataset = await loadCifar10Test();
  const session = await ModelSession.open(bytes, { ep });
  const buffer = new Float32Array(batch * 3072);
  const dims = layout === 'NCHW' ? [batch, 3, 32, 32] : [batch, 32, 32, 3];
  const pass = async (): Promise<number> => {
    const t0 = performance.now();
    for (let start = 0; start < samples; start += batch) {
      const count = Math.min(batch, samples - start);
      fillModelInput(dataset, start, count, pre, layout, buffer.subarray(0, count * 3072));
      await session.run({ [summary.input.name]: { data: buffer, dims } }, [summary.outputs[0]]);
    }
    return (performance.now() - t0) / 1000;
  };
  await pass(); // warm-up: first runs pay for allocations and kernel selection
  const seconds = await pass();
  const provider = session.provider;
  await session.release();
  return { seconds, provider, batch };
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      samples: { type: 'string', default: '1000' },
      batch: { type: 'string', default: '50' },
      preprocess: { type: 'string', default: 'none' },
      ep: { type: 'string', default: 'cpu' },
    },
  });
  const modelPath = positionals[0] ?? DEFAULT_MODEL;
  const bytes = await readFile(modelPath);
  const options = parseAuditOptions({ samples: values.samples, batch: values.batch, preprocess: values.preprocess, ep: values.ep });
  const dataset = await loadCifar10Test();
  console.log(`audit bench: ${modelPath.split('/').pop()}, ${options.samples} CIFAR-10 test images, batch ${options.batch}, ep ${options.ep}, ${cpus().length} CPU cores (${cpus()[0]?.model ?? 'unknown'})`);

  const plain = await plainInference(bytes, options.samples, options.batch, options.preprocess, options.ep);
  await runAudit(bytes, { ...options, samples: Math.min(options.samples, 100) }, { dataset }); // warm-up
  const t0 = performance.now();
  const report = await runAudit(bytes, options, { dataset });
  const auditSeconds = (performance.now() - t0) / 1000;

  const rows: [string, string][] = [
    ['provider (plain / audit)', `${plain.provider} / ${report.executionProvider.used}`],
    ['plain inference, seconds', plain.seconds.toFixed(3)],
    ['plain inference, images/s', (options.samples / plain.seconds).toFixed(1)],
    ['audit total, seconds', auditSeconds.toFixed(3)],
    ['  of which measurement pass', report.timings.measureSeconds.toFixed(3)],
    ['  of which probe + preprocessing', report.timings.probeSeconds.toFixed(3)],
    ['  of which session creation', report.timings.sessionSeconds.toFixed(3)],
    ['audit, images/s', (options.samples / auditSeconds).toFixed(1)],
    ['ratio audit / plain inference', (auditSeconds / plain.seconds).toFixed(2)],
    ['ratio measurement pass / plain inference', (report.timings.measureSeconds / plain.seconds).toFixed(2)],
    ['downsampling ops measured', String(report.downsampling.length)],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) console.log(`  ${k.padEnd(width)}  ${v}`);
}

main().catch((err: unknown) => {
  console.error(`bench failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
