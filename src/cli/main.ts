#!/usr/bin/env node
/**
 * `alias-audit` command line. Exit codes: 0 pass, 1 a threshold failed (or early-stop says
 * stop), 2 bad input or usage, 3 an internal failure (a bug or a runtime crash, not the user's
 * input). Results go to stdout; progress, warnings and errors to stderr, each line starting
 * with `alias-audit:`.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { Command, Option } from 'commander';
import { compareWithBaseline, evaluateGates, GATE_FLAGS, gateFailures, parseBaselineGates, parseBaselineReport } from '../audit/baseline.js';
import { parseEarlyStopSettings } from '../audit/monitor.js';
import { AuditOptions, parseAuditOptions } from '../audit/options.js';
import type { AuditReport, BaselineDifference } from '../audit/report.js';
import { TOOL_VERSION } from '../audit/version.js';
import { Cifar10Set, defaultCacheDir, loadCifar10Test } from '../data/cifar10.js';
import { DEFAULT_EARLY_STOP } from '../metrics/earlyStopping.js';
import { ModelError } from '../onnx/codec.js';
import { addBaselineOptions, addGateOptions, addMeasurementOptions, addRobustnessOptions, rawAuditOptions, rawBaselineGates } from './auditOptions.js';
import { classify, EXIT_INTERNAL, EXIT_PASS, EXIT_THRESHOLD, formatCommanderError, shortReason, UsageError } from './errors.js';
import { checkpointArguments, checkWritable, readModelFile } from './inputs.js';
import { ProgressBar } from './progress.js';
import { configFromFlags, defineServeOptions, serveCommand } from './serve.js';
import { workerCommand } from './worker.js';

// The modules that load the runtime or the service (a good part of a second) are imported by the
// command that needs them, so that --help and usage errors answer at once.

/** early-stop's default --samples: fewer than an audit's, as it measures every epoch's checkpoint. */
const EARLY_STOP_SAMPLES = 500;

/** Set by the command's action; main() exits with it. */
let exitCode = EXIT_PASS;

type Values = Record<string, unknown>;

function examples(...lines: string[]): string {
  return `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}`;
}

function stderrLine(text: string): void {
  process.stderr.write(`alias-audit: ${text}\n`);
}

/**
 * The line for a GPU provider asked for by name that did not start, else null. `auto` falling
 * back is expected and recorded in the report (executionProvider.fallbacks); a named GPU is a
 * request, and running elsewhere is news.
 */
function providerNote(report: AuditReport): string | null {
  const ep = report.executionProvider;
  if (ep.requested === 'auto' || ep.requested === 'cpu' || ep.used === ep.requested) return null;
  const failure = ep.fallbacks.find((f) => f.provider === ep.requested) ?? ep.fallbacks[0];
  return `--ep ${ep.requested} did not start (${failure ? shortReason(failure.error) : 'no reason given'}); ran on ${ep.used}`;
}

/** The provider note (once) and each report's flags as warnings, prefixed with the model where several. */
function reportNotes(reports: AuditReport[], models?: string[]): void {
  for (const note of new Set(reports.map(providerNote))) if (note !== null) stderrLine(note);
  reports.forEach((r, i) => {
    for (const flag of r.flags) stderrLine(`warning: ${models ? `${models[i]}: ` : ''}${flag}`);
  });
}

/** The baseline report named by --baseline, read and checked (a bad file is exit 2). */
async function readBaselineReport(path: string): Promise<AuditReport> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(`cannot read --baseline ${path}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a folder, not a file' : (code ?? (err as Error).message)}; give a report written by alias-audit audit --out`);
  }
  return parseBaselineReport(text, `--baseline ${path}`);
}

/** The refusal of a baseline measured on other samples or with other options (exit 2). */
function mismatch(differences: BaselineDifference[]): UsageError {
  const list = differences.map((d) => `${d.field} ${d.baseline} vs ${d.current}`).join('; ');
  return new UsageError(`the baseline was measured differently (baseline vs this model: ${list}); audit both with the same options, or give --allow-option-mismatch`);
}

async function auditAction(model: string, values: Values): Promise<number> {
  const options = parseAuditOptions(rawAuditOptions(values));
  const gates = parseBaselineGates(rawBaselineGates(values));
  const baselineFile = values.baseline as string | undefined;
  const baselineModel = values.baselineModel as string | undefined;
  const hasBaseline = baselineFile !== undefined || baselineModel !== undefined;
  const gateKeys = Object.keys(gates) as (keyof typeof gates)[];
  if (!hasBaseline && gateKeys.length > 0) {
    throw new UsageError(`${gateKeys.map((k) => GATE_FLAGS[k]).join(', ')} ${gateKeys.length > 1 ? 'compare' : 'compares'} with a baseline: give --baseline REPORT.json or --baseline-model BASE.onnx`);
  }
  if (gates.maxRobustAccuracyDrop !== undefined && options.robustness === 'none') throw new UsageError('--max-robust-accuracy-drop needs --robustness fast or standard');
  const outputs: [string, string | undefined][] = [['--out', values.out as string | undefined], ['--html', values.html as string | undefined], ['--junit', values.junit as string | undefined], ['--summary', values.summary as string | undefined]];
  for (const [flag, path] of outputs) if (path !== undefined) await checkWritable(flag, path);
  const [out, html, junit, summary] = outputs.map(([, path]) => path);
  const bytes = await readModelFile(model);
  // A bad baseline is found before the audit runs, not after it.
  const baseReport = baselineFile !== undefined ? await readBaselineReport(baselineFile) : undefined;
  const baseBytes = baselineModel !== undefined ? await readModelFile(baselineModel) : undefined;
  // Other samples are known before the audit: refuse at once rather than after minutes of work.
  if (baseReport && baseReport.dataset.samples !== options.samples && !values.allowOptionMismatch) throw mismatch([{ field: 'dataset.samples', baseline: String(baseReport.dataset.samples), current: String(options.samples) }]);
  const server = values.server as string | undefined;
  // One audit here, or on the service named by --server (the same report either way).
  const auditOne = async (modelBytes: Uint8Array, path: string, auditOptions: AuditOptions, onProgress?: (p: { fraction: number; message: string }) => void, dataset?: Cifar10Set): Promise<AuditReport> => {
    try {
      if (server !== undefined) {
        const { runRemoteAudit, remoteFields, API_KEY_ENV } = await import('./remote.js');
        const fields = remoteFields(auditOptions === options ? values : { ...values, maxAmRel: undefined, minRobustAccuracy: undefined });
        return await runRemoteAudit({ server, apiKey: process.env[API_KEY_ENV] || undefined, model: modelBytes, modelName: basename(path), fields, onProgress });
      }
      const { runAudit } = await import('../audit/audit.js');
      return await runAudit(modelBytes, auditOptions, { dataset, onProgress });
    } catch (err) {
      throw baseBytes !== undefined && err instanceof ModelError ? new ModelError(err.code, `${path}: ${err.message}`) : err;
    }
  };
  const bar = !values.quiet && process.stderr.isTTY ? new ProgressBar(process.stderr) : undefined;
  let base = baseReport;
  let report: AuditReport;
  if (baseBytes !== undefined) {
    // Both on the same images; the baseline without the gates, which are about this model.
    const dataset = server === undefined ? await loadCifar10Test({ dir: options.cifar10Dir }) : undefined;
    const half = (offset: number, name: string) => (bar ? (p: { fraction: number; message: string }) => bar.update(offset + p.fraction / 2, `${name}: ${p.message}`) : undefined);
    base = await auditOne(baseBytes, baselineModel!, { ...options, maxAmRel: undefined, minRobustAccuracy: undefined }, half(0, basename(baselineModel!)), dataset);
    report = await auditOne(bytes, model, options, half(0.5, basename(model)), dataset);
  } else {
    report = await auditOne(bytes, model, options, bar ? (p) => bar.update(p.fraction, p.message) : undefined);
  }
  bar?.finish();
  if (base !== undefined) {
    report.baseline = compareWithBaseline(report, base, baseBytes !== undefined ? 'model' : 'report');
    const { sameOptions, sameSamples, differences } = report.baseline;
    if (!(sameOptions && sameSamples) && !values.allowOptionMismatch) throw mismatch(differences);
    for (const note of report.baseline.notes) stderrLine(`note: ${note}`);
  }
  const thresholds = evaluateGates(report, gates);
  if (thresholds) report.thresholds = thresholds;
  const json = `${JSON.stringify(report, null, 2)}\n`;
  process.stdout.write(json);
  if (out !== undefined) await writeFile(out, json);
  if (html !== undefined) {
    const { renderReportHtml } = await import('../report/html.js');
    await writeFile(html, renderReportHtml(report, { modelName: basename(model) }));
  }
  if (junit !== undefined) {
    const { renderJunit } = await import('../report/junit.js');
    await writeFile(junit, renderJunit(report, { modelName: basename(model), timestamp: new Date().toISOString() }));
  }
  if (summary !== undefined) {
    const { renderSummary } = await import('../report/summary.js');
    await writeFile(summary, renderSummary(report, { modelName: basename(model), baselineName: baselineFile ?? baselineModel }));
  }
  reportNotes([report]);
  const failures = gateFailures(report.thresholds);
  for (const line of failures) stderrLine(line);
  return failures.length > 0 ? EXIT_THRESHOLD : EXIT_PASS;
}

async function compareAction(models: string[], values: Values): Promise<number> {
  if (models.length < 2) throw new UsageError(`compare needs two or more models (got ${models.length}): give the .onnx files to put side by side`);
  const options = parseAuditOptions(rawAuditOptions(values));
  const bar = !values.quiet && process.stderr.isTTY ? new ProgressBar(process.stderr) : undefined;
  const onProgress = bar ? (i: number, n: number, f: number, message: string) => bar.update((i + f) / n, `${basename(models[i])}: ${message}`) : undefined;
  const { compareModels } = await import('./compare.js');
  const reports = await compareModels(models, options, (line) => process.stdout.write(`${line}\n`), onProgress);
  bar?.finish();
  reportNotes(reports, models.map((m) => basename(m)));
  return EXIT_PASS;
}

async function earlyStopAction(paths: string[], values: Values): Promise<number> {
  const options = parseAuditOptions(rawAuditOptions({ ...values, samples: values.samples ?? String(EARLY_STOP_SAMPLES) }));
  const settings = parseEarlyStopSettings({ signal: values.signal as string | undefined, threshold: values.threshold as string | undefined, window: values.window as string | undefined }, DEFAULT_EARLY_STOP);
  const files = await checkpointArguments(paths);
  const { earlyStop, formatEarlyStop } = await import('./earlyStop.js');
  const showProgress = !values.quiet && process.stderr.isTTY;
  // Checkpoints are measured in order, so the count of those done names the one that failed.
  let measured = 0;
  const result = await earlyStop(files, options, settings, (line) => {
    measured++;
    if (showProgress) process.stderr.write(`${line}\n`);
  }).catch((err: unknown) => {
    throw err instanceof ModelError && files[measured] !== undefined ? new ModelError(err.code, `${files[measured]}: ${err.message}`) : err;
  });
  process.stdout.write(values.json ? `${JSON.stringify(result, null, 2)}\n` : `${formatEarlyStop(result)}\n`);
  for (const flag of result.flags) stderrLine(`warning: ${flag}`);
  return result.decision.stop ? EXIT_THRESHOLD : EXIT_PASS;
}

async function dataAction(): Promise<number> {
  const set = await loadCifar10Test({ onProgress: (m) => process.stderr.write(`${m}\n`) });
  process.stdout.write(`CIFAR-10 test set ready: ${set.count} images, checks passed (${set.source}; cache ${defaultCacheDir()})\n`);
  return EXIT_PASS;
}

/** Runs a command's action and keeps its exit code for main. */
function run<A extends unknown[]>(action: (...args: A) => Promise<number>): (...args: A) => Promise<void> {
  return async (...args) => {
    exitCode = await action(...args);
  };
}

/** Errors of commander (unknown option, missing argument) as one line naming where help is. */
function withErrorStyle(cmd: Command, sibling?: Command): Command {
  const path = cmd.parent ? `alias-audit ${cmd.name()}` : 'alias-audit';
  return cmd.configureOutput({
    outputError: (text, write) => {
      // An option of `audit` given to compare or early-stop: say where it belongs, rather than
      // suggest a look-alike of this command.
      const flag = /unknown option '(--[^']+)'/.exec(text)?.[1];
      if (flag !== undefined && sibling?.options.some((o) => o.long === flag)) {
        write(`alias-audit: ${flag} is an option of alias-audit ${sibling.name()}, not of ${cmd.name()} (see ${path} --help)\n`);
        return;
      }
      write(`${formatCommanderError(text, `see ${path} --help`)}\n`);
    },
  });
}

function quietOption(what: string): Option {
  return new Option('--quiet', `no ${what} on stderr (warnings still print)`).helpGroup('Output:');
}

function buildProgram(): Command {
  const program = new Command('alias-audit')
    .description('Audits ONNX CIFAR-10 classifiers for aliasing in their downsampling layers and for adversarial robustness.')
    .version(TOOL_VERSION, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .helpCommand('help [command]', 'show the help of a command')
    .exitOverride()
    .showSuggestionAfterError(true)
    .addHelpText(
      'after',
      `\nExit codes: 0 pass, 1 a CI gate failed (or early-stop says stop), 2 bad input or usage, 3 internal error.\n` +
        examples(
          'alias-audit audit model.onnx --samples 1000 --out report.json',
          'alias-audit compare epoch_10.onnx epoch_20.onnx --samples 500',
          'alias-audit help audit',
        ),
    );
  withErrorStyle(program);
  const audit = program
    .command('audit')
    .summary('audit a CIFAR-10 classifier, print the JSON report')
    .description('Audits a CIFAR-10 classifier for aliasing (and, with --robustness, adversarial robustness): the JSON report goes to stdout, progress and warnings to stderr.')
    .argument('<model>', 'the ONNX model file');
  addMeasurementOptions(audit);
  addRobustnessOptions(audit);
  addGateOptions(audit);
  addBaselineOptions(audit);
  audit
    .addOption(new Option('--out <FILE>', 'also write the JSON report to FILE').helpGroup('Output:'))
    .addOption(new Option('--html <FILE>', 'also write the report as a self-contained HTML page to FILE').helpGroup('Output:'))
    .addOption(new Option('--junit <FILE>', 'also write JUnit XML to FILE: a testcase per gate, op and stage, for CI test tabs').helpGroup('Output:'))
    .addOption(new Option('--summary <FILE>', 'also write a short markdown summary to FILE (e.g. $GITHUB_STEP_SUMMARY)').helpGroup('Output:'))
    .addOption(
      new Option('--server <URL>', 'run the audit on an alias-audit service instead of here (API key from env ALIAS_AUDIT_API_KEY); same report and exit codes').helpGroup('Remote:'),
    )
    .addOption(quietOption('progress bar'))
    .addHelpText(
      'after',
      examples(
        'alias-audit audit model.onnx --samples 1000 --out report.json',
        'alias-audit audit model.onnx --preprocess cifar10 --max-am-rel 0.5      # exit 1 above 0.5',
        'alias-audit audit model.onnx --samples 500 --robustness fast --html report.html',
        'alias-audit audit new.onnx --baseline main.json --max-am-rel-increase 0.05 --max-accuracy-drop 0.01 --junit junit.xml --summary summary.md',
        'ALIAS_AUDIT_API_KEY=... alias-audit audit model.onnx --server https://audit.example.com --max-am-rel 0.5',
      ),
    )
    .action(run((model: string, values: Values) => auditAction(model, values)));
  withErrorStyle(audit);

  const compare = program
    .command('compare')
    .summary('audit several models on the same images, stages side by side')
    .description('Audits several models on the same CIFAR-10 test images and prints their clean accuracy and per-stage aliasing side by side.')
    .argument('<models...>', 'two or more ONNX model files');
  addMeasurementOptions(compare);
  compare
    .addOption(quietOption('progress bar'))
    .addHelpText('after', examples('alias-audit compare epoch_10.onnx epoch_20.onnx --samples 500', 'alias-audit compare standard.onnx robust.onnx --preprocess none'))
    .action(run((models: string[], values: Values) => compareAction(models, values)));
  withErrorStyle(compare, audit);

  const d = DEFAULT_EARLY_STOP;
  const earlyStopCmd = program
    .command('early-stop')
    .summary('aliasing early stopping over per-epoch checkpoints')
    .description('Measures stage-1 aliasing of each epoch\'s checkpoint on the same images and applies the early-stopping rule: exit 1 when it says stop, naming the checkpoint to keep.')
    .argument('<checkpoints...>', 'the checkpoints in epoch order, or one folder of them (epoch numbers in the names)');
  addMeasurementOptions(earlyStopCmd, EARLY_STOP_SAMPLES);
  earlyStopCmd
    .addOption(new Option('--signal <S>', `am | amRel: the stage-1 signal watched (default: ${d.signal})`).helpGroup('Early stopping:'))
    .addOption(new Option('--threshold <t>', `stop when the signal exceeds (1 + t) x the running median (default: ${d.threshold})`).helpGroup('Early stopping:'))
    .addOption(
      new Option('--window <N|all>', `median over the last N earlier epochs, or all of them (default: ${d.window ?? 'all'})`).helpGroup('Early stopping:'),
    )
    .addOption(new Option('--json', 'print the series and the decision as JSON instead of a table').helpGroup('Output:'))
    .addOption(quietOption('per-epoch progress'))
    .addHelpText(
      'after',
      examples(
        'alias-audit early-stop ckpt_01.onnx ckpt_02.onnx ckpt_03.onnx',
        'alias-audit early-stop checkpoints/ --signal amRel --threshold 0.3 --window 3 --json',
      ),
    )
    .action(run((paths: string[], values: Values) => earlyStopAction(paths, values)));
  withErrorStyle(earlyStopCmd, audit);

  const data = program
    .command('data')
    .summary('download and check the CIFAR-10 test set')
    .description(`Downloads the CIFAR-10 test set into the cache (${defaultCacheDir()}; env ALIAS_AUDIT_CACHE) and checks it.`)
    .addHelpText('after', examples('alias-audit data', 'ALIAS_AUDIT_CACHE=/srv/cache alias-audit data'))
    .action(run(() => dataAction()));
  withErrorStyle(data);

  const serve = program
    .command('serve')
    .summary('run the HTTP service')
    .description(
      'Runs the HTTP service: the API (docs at /docs), the web pages and a queue of audits in worker processes, until SIGTERM or SIGINT. ' +
        'With --redis and --database (distributed mode) it runs the API only, beside any number of others; audits run in `alias-audit worker` processes.',
    );
  defineServeOptions(serve).action(run((values: Values) => serveCommand(configFromFlags(values))));
  withErrorStyle(serve);

  const worker = program
    .command('worker')
    .summary('run audits for a distributed service (Redis + PostgreSQL)')
    .description(
      'Takes audits from the queue of a distributed service (serve --redis --database) and runs each in a sealed worker process, until SIGTERM or SIGINT. ' +
        'Run any number, on any machines that reach the Redis and the PostgreSQL.',
    );
  defineServeOptions(worker, 'worker').action(run((values: Values) => workerCommand(configFromFlags(values, process.env, 'worker'))));
  withErrorStyle(worker);

  // Kept from earlier versions: `alias-audit version`.
  program
    .command('version', { hidden: true })
    .action(run(() => {
      process.stdout.write(`${TOOL_VERSION}\n`);
      return Promise.resolve(EXIT_PASS);
    }));
  return program;
}

// `alias-audit audit m.onnx | head` closes stdout early: end quietly, as a shell tool does.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
  process.exit(process.exitCode ?? EXIT_PASS);
});

buildProgram()
  .parseAsync(process.argv)
  .then(
    () => {
      process.exitCode = exitCode;
    },
    (err: unknown) => {
      const { code, message } = classify(err);
      if (message !== null) stderrLine(message);
      if (code === EXIT_INTERNAL && process.env.ALIAS_AUDIT_DEBUG) process.stderr.write(`${(err as Error).stack}\n`);
      process.exitCode = code;
    },
  );
