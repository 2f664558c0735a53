#!/usr/bin/env node
/**
 * `alias-audit` command line. Exit codes: 0 pass, 1 a threshold failed, 2 bad input or usage,
 * 3 an internal failure (a bug or a runtime crash, not the user's input).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { runAudit } from '../audit/audit.js';
import { parseAuditOptions, RawOptions } from '../audit/options.js';
import { TOOL_VERSION } from '../audit/version.js';
import { defaultCacheDir, loadCifar10Test } from '../data/cifar10.js';
import { DataIntegrityError, DataUnavailableError } from '../data/errors.js';
import { InvalidOptionError } from '../data/preprocess.js';
import { ModelError } from '../onnx/codec.js';
import { renderReportHtml } from '../report/html.js';
import { parseEarlyStopSettings } from '../audit/monitor.js';
import { DEFAULT_EARLY_STOP, InvalidEarlyStop } from '../metrics/earlyStopping.js';
import { compareModels } from './compare.js';
import { earlyStop, formatEarlyStop } from './earlyStop.js';
import { ProgressBar } from './progress.js';
import { serveCommand, ServeUsageError } from './serve.js';

const USAGE = `usage:
  alias-audit audit MODEL.onnx [options]   audit a CIFAR-10 classifier, print the JSON report
  alias-audit compare A.onnx B.onnx ... [options]
                                           audit several models on the same images, stages side by side
  alias-audit early-stop CKPT... | DIR [options]
                                           aliasing early stopping over per-epoch checkpoints
                                           (--signal am|amRel --threshold t --window N|all --json;
                                           exit 1 when it says stop)
  alias-audit data                         download and check the CIFAR-10 test set
  alias-audit serve [options]              run the HTTP service (alias-audit serve --help)
  alias-audit --version | --help

audit options:
  --samples N          first N CIFAR-10 test images (default 1000)
  --batch B            images per inference call (default 50; fixed-batch models use their own)
  --preprocess P       auto | none | cifar10 | imagenet (default auto: best clean accuracy)
  --mean a,b,c --std a,b,c   explicit normalisation, in the units of --scale
  --scale 1|255        pixel scale the model expects (default 1)
  --layout L           auto | NCHW | NHWC (default auto, from the input shape)
  --ep E               auto | cpu | cuda | webgpu (default auto: a GPU when one works, else CPU)
  --max-am-rel X       exit 1 when any downsampling op's amRel exceeds X
  --cifar10-dir DIR    folder with the official CIFAR-10 binary batches (or env CIFAR10_DIR)
  --robustness R       none | fast | standard: attacks for robust accuracy (default none)
  --eps E              L-infinity budget, a number or fraction (default 8/255)
  --seed S             seed of the attacks' randomness (default 0)
  --attack-samples N   attack the first N samples (fast 200, standard 500)
  --attacks LIST       any of fgsm,pgd,square
  --pgd-steps N --pgd-restarts N --pgd-step-size X --square-queries N
  --min-robust-accuracy X   exit 1 when the worst-case robust accuracy is below X
  --out FILE           also write the report to FILE
  --html FILE          also write the report as a self-contained HTML page to FILE
  --quiet              no progress on stderr`;

const EXIT_PASS = 0;
const EXIT_THRESHOLD = 1;
const EXIT_BAD_INPUT = 2;
const EXIT_INTERNAL = 3;

class UsageError extends Error {}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'audit':
      return auditCommand(rest);
    case 'compare':
      return compareCommand(rest);
    case 'early-stop':
      return earlyStopCommand(rest);
    case 'data':
      return dataCommand();
    case 'serve':
      return serveCommand(rest);
    case '--version':
    case 'version':
      process.stdout.write(`${TOOL_VERSION}\n`);
      return EXIT_PASS;
    case undefined:
    case '--help':
    case '-h':
    case 'help':
      process.stdout.write(`${USAGE}\n`);
      return command === undefined ? EXIT_BAD_INPUT : EXIT_PASS;
    default:
      throw new UsageError(`unknown command "${command}"\n${USAGE}`);
  }
}

const AUDIT_FLAGS = {
  samples: { type: 'string' },
  batch: { type: 'string' },
  preprocess: { type: 'string' },
  mean: { type: 'string' },
  std: { type: 'string' },
  scale: { type: 'string' },
  layout: { type: 'string' },
  ep: { type: 'string' },
  'max-am-rel': { type: 'string' },
  'cifar10-dir': { type: 'string' },
  robustness: { type: 'string' },
  eps: { type: 'string' },
  seed: { type: 'string' },
  'attack-samples': { type: 'string' },
  attacks: { type: 'string' },
  'pgd-steps': { type: 'string' },
  'pgd-restarts': { type: 'string' },
  'pgd-step-size': { type: 'string' },
  'square-queries': { type: 'string' },
  'min-robust-accuracy': { type: 'string' },
  out: { type: 'string' },
  html: { type: 'string' },
  quiet: { type: 'boolean' },
} as const;

const EARLY_STOP_FLAGS = {
  ...AUDIT_FLAGS,
  signal: { type: 'string' },
  threshold: { type: 'string' },
  window: { type: 'string' },
  json: { type: 'boolean' },
} as const;

/**
 * Parses audit flags, plus early-stop's own where `earlyStopFlags`; usage problems become
 * UsageError, bad values InvalidOptionError.
 */
function parseAuditFlags(args: string[], earlyStopFlags = false) {
  let parsed;
  try {
    parsed = parseArgs({ args, allowPositionals: true, strict: true, options: EARLY_STOP_FLAGS });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const foreign = Object.keys(parsed.values).filter((k) => !earlyStopFlags && !(k in AUDIT_FLAGS));
  if (foreign.length) throw new UsageError(`Unknown option '--${foreign[0]}'`);
  const { values, positionals } = parsed;
  const raw: RawOptions = {
    samples: values.samples,
    batch: values.batch,
    preprocess: values.preprocess,
    mean: values.mean,
    std: values.std,
    scale: values.scale,
    layout: values.layout,
    ep: values.ep,
    maxAmRel: values['max-am-rel'],
    cifar10Dir: values['cifar10-dir'],
    robustness: values.robustness,
    eps: values.eps,
    seed: values.seed,
    attackSamples: values['attack-samples'],
    attacks: values.attacks,
    pgdSteps: values['pgd-steps'],
    pgdRestarts: values['pgd-restarts'],
    pgdStepSize: values['pgd-step-size'],
    squareQueries: values['square-queries'],
    minRobustAccuracy: values['min-robust-accuracy'],
  };
  return { values, positionals, options: parseAuditOptions(raw) };
}

async function compareCommand(args: string[]): Promise<number> {
  const { positionals, options } = parseAuditFlags(args);
  if (positionals.length < 2) throw new UsageError(`compare takes two or more models (got ${positionals.length})\n${USAGE}`);
  await compareModels(positionals, options, (line) => process.stdout.write(`${line}\n`));
  return EXIT_PASS;
}

async function earlyStopCommand(args: string[]): Promise<number> {
  const { values, positionals, options } = parseAuditFlags(['--samples', '500', ...args], true);
  if (positionals.length === 0) throw new UsageError(`early-stop takes checkpoints in epoch order, or a folder of them\n${USAGE}`);
  const settings = parseEarlyStopSettings({ signal: values.signal, threshold: values.threshold, window: values.window }, DEFAULT_EARLY_STOP);
  const bar = !values.quiet && process.stderr.isTTY;
  const result = await earlyStop(positionals, options, settings, bar ? (line) => process.stderr.write(`${line}\n`) : undefined);
  process.stdout.write(values.json ? `${JSON.stringify(result, null, 2)}\n` : `${formatEarlyStop(result)}\n`);
  return result.decision.stop ? EXIT_THRESHOLD : EXIT_PASS;
}

async function auditCommand(args: string[]): Promise<number> {
  const { values, positionals, options } = parseAuditFlags(args);
  if (positionals.length !== 1) throw new UsageError(`audit takes exactly one MODEL.onnx (got ${positionals.length})\n${USAGE}`);

  let bytes: Uint8Array;
  try {
    bytes = await readFile(positionals[0]);
  } catch (err) {
    throw new UsageError(`cannot read ${positionals[0]}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const bar = !values.quiet && process.stderr.isTTY ? new ProgressBar(process.stderr) : undefined;
  const report = await runAudit(bytes, options, { onProgress: bar ? (p) => bar.update(p.fraction, p.message) : undefined });
  bar?.finish();
  const json = `${JSON.stringify(report, null, 2)}\n`;
  process.stdout.write(json);
  if (values.out) await writeFile(values.out, json);
  if (values.html) await writeFile(values.html, renderReportHtml(report, { modelName: basename(positionals[0]) }));
  let code = EXIT_PASS;
  const amRel = report.thresholds?.maxAmRel;
  if (amRel && !amRel.passed) {
    process.stderr.write(`alias-audit: amRel ${amRel.worst?.toFixed(4)} of ${amRel.worstNode} exceeds --max-am-rel ${amRel.limit}\n`);
    code = EXIT_THRESHOLD;
  }
  const robust = report.thresholds?.minRobustAccuracy;
  if (robust && !robust.passed) {
    process.stderr.write(`alias-audit: robust accuracy ${robust.value.toFixed(4)} is below --min-robust-accuracy ${robust.limit}\n`);
    code = EXIT_THRESHOLD;
  }
  return code;
}

async function dataCommand(): Promise<number> {
  const set = await loadCifar10Test({ onProgress: (m) => process.stderr.write(`${m}\n`) });
  process.stdout.write(`CIFAR-10 test set ready: ${set.count} images, checks passed (${set.source}; cache ${defaultCacheDir()})\n`);
  return EXIT_PASS;
}

/** Maps an error to its exit code and one-line message. */
function classify(err: unknown): { code: number; message: string } {
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof UsageError || err instanceof ServeUsageError || err instanceof InvalidOptionError || err instanceof ModelError) {
    return { code: EXIT_BAD_INPUT, message };
  }
  if (err instanceof DataUnavailableError || err instanceof DataIntegrityError) return { code: EXIT_BAD_INPUT, message };
  return { code: EXIT_INTERNAL, message: `internal error: ${message}` };
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const { code, message } = classify(err);
    process.stderr.write(`alias-audit: ${code === EXIT_BAD_INPUT ? message.split('\n')[0] : message}\n`);
    if (err instanceof UsageError && message.includes('\n')) process.stderr.write(`${message.split('\n').slice(1).join('\n')}\n`);
    if (code === EXIT_INTERNAL && process.env.ALIAS_AUDIT_DEBUG) process.stderr.write(`${(err as Error).stack}\n`);
    process.exitCode = code;
  },
);
