/**
 * The CI integrations run with a simulated runner: the GitHub Action (action.yml and the script
 * its step runs, ci/github/run-audit.sh) with the env vars and files a runner gives a composite
 * step (inputs substituted into the step's env, GITHUB_OUTPUT, GITHUB_STEP_SUMMARY,
 * GITHUB_ACTION_PATH, RUNNER_TEMP), and the GitLab template's script lines (ci/gitlab/alias-audit.yml)
 * run as a runner runs them (bash -eo pipefail, the job's variables in the env). A stub
 * `alias-audit` first on PATH records its argv and environment, writes fake report, JUnit and
 * summary files and exits as told; the tests check the argv built from the inputs, the outputs
 * and files written, and the exit codes (0 pass, 1 a gate failed, 2 bad input). The README's
 * examples use only the inputs and variables these files define.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { parse } from 'yaml';
import { API_KEY_ENV } from '../../src/cli/remote.js';
import { codeBlocks, REPO } from '../readme/blocks.js';
import { cliPath, modelPath } from './cli.js';

const KEY = 'ci-secret-key-0123456789abcdef';
const root = mkdtempSync(join(tmpdir(), 'alias-audit-integrations-'));
after(() => rmSync(root, { recursive: true, force: true }));

let dirs = 0;
const freshDir = (name: string): string => {
  const d = join(root, `${++dirs}-${name}`);
  mkdirSync(d, { recursive: true });
  return d;
};

/**
 * A stub `alias-audit` in a folder of its own: appends {argv, apiKey, cwd} as a JSON line to
 * $STUB_LOG, writes the files named by --out, --junit and --summary, exits with $STUB_EXIT.
 */
const STUB = `#!/usr/bin/env node
const fs = require('node:fs');
const argv = process.argv.slice(2);
fs.appendFileSync(process.env.STUB_LOG, JSON.stringify({ argv, apiKey: process.env.${API_KEY_ENV} ?? null, cwd: process.cwd() }) + '\\n');
const code = Number(process.env.STUB_EXIT ?? '0');
const after = (flag) => { const i = argv.indexOf(flag); return i >= 0 ? argv[i + 1] : undefined; };
if (code <= 1) {
  const verdict = code === 0 ? 'pass' : 'fail';
  if (after('--out')) fs.writeFileSync(after('--out'), JSON.stringify({ tool: { name: 'alias-audit' }, verdict }) + '\\n');
  if (after('--junit')) fs.writeFileSync(after('--junit'), '<testsuites name="alias-audit"></testsuites>\\n');
  if (after('--summary')) fs.writeFileSync(after('--summary'), '### alias-audit: stub ' + verdict + '\\n');
  process.stdout.write('{"the": "report on stdout"}\\n');
} else {
  process.stderr.write('alias-audit: bad input (stub)\\n');
}
process.exit(code);
`;
const cjsCopy = (path: string): void => writeFileSync(path, STUB, { mode: 0o755 });

function stubBin(): { bin: string; log: string } {
  const bin = freshDir('bin');
  // .cjs semantics for the shebang script: `require` in a file without a package.json is CommonJS.
  cjsCopy(join(bin, 'alias-audit'));
  return { bin, log: join(bin, 'calls.jsonl') };
}

/** The built CLI (dist/cli/main.js) as `alias-audit`, in a folder of its own (no stub log: calls stays empty). */
function realBin(): { bin: string; log: string } {
  const bin = freshDir('real-bin');
  writeFileSync(join(bin, 'alias-audit'), `#!/bin/sh\nexec "${process.execPath}" "${cliPath}" "$@"\n`, { mode: 0o755 });
  return { bin, log: join(bin, 'calls.jsonl') };
}

interface Call {
  argv: string[];
  apiKey: string | null;
  cwd: string;
}

const calls = (log: string): Call[] => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Call) : []);
/** PATH for a child: the stub first, then node's own folder and the system's. */
const pathWith = (...first: string[]): string => [...first, dirname(process.execPath), '/usr/local/bin', '/usr/bin', '/bin'].join(':');

/** The values after each flag of an argv, and the flags without a value. */
function flagsOf(argv: string[]): Map<string, string | true> {
  const m = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    if (!argv[i].startsWith('--')) continue;
    const next = argv[i + 1];
    if (next !== undefined && !next.startsWith('--')) m.set(argv[i], argv[++i]);
    else m.set(argv[i], true);
  }
  return m;
}

// ------------------------------------------------------------------------------------------------
// GitHub Action

interface ActionInput {
  description: string;
  required?: boolean;
  default?: string;
}
interface Action {
  inputs: Record<string, ActionInput>;
  outputs: Record<string, { value: string }>;
  runs: { using: string; steps: { id?: string; if?: string; uses?: string; shell?: string; run?: string; env?: Record<string, string>; with?: Record<string, string> }[] };
}

const action = parse(readFileSync(join(REPO, 'action.yml'), 'utf8')) as Action;
const auditStep = action.runs.steps.find((s) => s.id === 'audit')!;

/** `${{ inputs.NAME }}` as the runner expands it: the `with:` value, else the input's default. */
function expand(text: string, withValues: Record<string, string>): string {
  return text.replace(/\$\{\{\s*inputs\.([\w-]+)\s*\}\}/g, (_, name: string) => {
    assert.ok(action.inputs[name], `action.yml uses an input it does not declare: ${name}`);
    return withValues[name] ?? action.inputs[name].default ?? '';
  });
}

interface StepRun {
  code: number;
  stdout: string;
  stderr: string;
  outputs: Record<string, string>;
  stepSummary: string;
  calls: Call[];
  workspace: string;
}

/** Runs the action's audit step as a runner does, with these `with:` values and STUB_EXIT. */
function runAction(withValues: Record<string, string>, stubExit: number, extraEnv: Record<string, string> = {}, real = false): StepRun {
  const { bin, log } = real ? realBin() : stubBin();
  const workspace = freshDir('workspace');
  const runnerTemp = freshDir('runner-temp');
  const outputFile = join(runnerTemp, 'github_output');
  const summaryFile = join(runnerTemp, 'step_summary');
  writeFileSync(outputFile, '');
  writeFileSync(summaryFile, '## Earlier step\n\n');
  const stepEnv = Object.fromEntries(Object.entries(auditStep.env ?? {}).map(([k, v]) => [k, expand(v, withValues)]));
  const env = {
    PATH: pathWith(bin),
    HOME: process.env.HOME ?? root,
    GITHUB_ACTIONS: 'true',
    GITHUB_WORKSPACE: workspace,
    GITHUB_ACTION_PATH: REPO,
    GITHUB_OUTPUT: outputFile,
    GITHUB_STEP_SUMMARY: summaryFile,
    RUNNER_TEMP: runnerTemp,
    STUB_LOG: log,
    STUB_EXIT: String(stubExit),
    ...stepEnv,
    ...extraEnv,
  };
  // `shell: bash` runs the step as `bash --noprofile --norc -eo pipefail {0}`, in the workspace.
  const r = spawnSync('bash', ['--noprofile', '--norc', '-eo', 'pipefail', '-c', auditStep.run!], { cwd: workspace, env, encoding: 'utf8' });
  const outputs: Record<string, string> = {};
  for (const line of readFileSync(outputFile, 'utf8').split('\n').filter(Boolean)) {
    const eq = line.indexOf('=');
    outputs[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, outputs, stepSummary: readFileSync(summaryFile, 'utf8'), calls: calls(log), workspace };
}

describe('the GitHub Action (action.yml, ci/github/run-audit.sh)', () => {
  test('action.yml: a composite action whose step gets every input in its env, the API key only as ' + API_KEY_ENV, () => {
    assert.equal(action.runs.using, 'composite');
    assert.equal(auditStep.shell, 'bash');
    assert.match(auditStep.run!, /"\$GITHUB_ACTION_PATH\/ci\/github\/run-audit\.sh"/);
    const env = auditStep.env!;
    for (const name of Object.keys(action.inputs)) {
      if (name === 'node-version') continue; // the setup-node step's
      const variable = name === 'api-key' ? API_KEY_ENV : `INPUT_${name.toUpperCase().replace(/-/g, '_')}`;
      assert.equal(env[variable], `\${{ inputs.${name} }}`, `input ${name} reaches the script as ${variable}`);
    }
    assert.equal(Object.keys(env).length, Object.keys(action.inputs).length - 1, 'no env beyond the inputs');
    assert.ok(!auditStep.run!.includes('api-key') && !auditStep.run!.includes(API_KEY_ENV), 'the key is not on the command line');
    assert.equal(action.inputs.model.required, true);
    for (const [name, output] of Object.entries(action.outputs)) assert.equal(output.value, `\${{ steps.audit.outputs.${name} }}`);
    assert.deepEqual(Object.keys(action.outputs).sort(), ['exit-code', 'junit', 'report', 'summary', 'verdict']);
    const setup = action.runs.steps.find((s) => s.uses?.startsWith('actions/setup-node@'));
    assert.equal(setup?.with?.['node-version'], '${{ inputs.node-version }}');
  });

  test('every input becomes its flag; pass (exit 0): outputs, report paths and the job summary appended', () => {
    const r = runAction(
      {
        model: 'models/new.onnx',
        baseline: 'base/report.json',
        'max-am-rel': '0.6',
        'max-am-rel-increase': '0.05',
        'max-accuracy-drop': '0.01',
        'max-robust-accuracy-drop': '0.02',
        'min-robust-accuracy': '0.3',
        samples: '500',
        preprocess: 'none',
        robustness: 'fast',
        server: 'https://audit.example.com',
        'api-key': KEY,
        'allow-option-mismatch': 'true',
        'extra-args': '--eps 4/255  --seed 7',
        install: 'false',
      },
      0,
    );
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.equal(r.calls.length, 1);
    const [call] = r.calls;
    const out = join(r.workspace, 'alias-audit-results');
    assert.deepEqual(call.argv, [
      'audit', 'models/new.onnx',
      '--out', join(out, 'report.json'), '--junit', join(out, 'junit.xml'), '--summary', join(out, 'summary.md'), '--quiet',
      '--baseline', 'base/report.json',
      '--max-am-rel', '0.6', '--max-am-rel-increase', '0.05', '--max-accuracy-drop', '0.01', '--max-robust-accuracy-drop', '0.02', '--min-robust-accuracy', '0.3',
      '--samples', '500', '--preprocess', 'none', '--robustness', 'fast',
      '--server', 'https://audit.example.com',
      '--allow-option-mismatch',
      '--eps', '4/255', '--seed', '7',
    ]);
    assert.equal(call.cwd, r.workspace);
    assert.equal(call.apiKey, KEY, `the key reaches the CLI as ${API_KEY_ENV}`);
    assert.ok(!call.argv.some((a) => a.includes(KEY)), 'the key is never an argument');
    assert.ok(r.stdout.includes(`::add-mask::${KEY}`), 'the key is masked in the log');
    assert.ok(!r.stderr.includes(KEY), 'the echoed command line has no key');
    assert.ok(!r.stdout.includes('report on stdout'), 'the report is in the file, not the log');

    assert.deepEqual(r.outputs, {
      'exit-code': '0',
      verdict: 'pass',
      report: join(out, 'report.json'),
      junit: join(out, 'junit.xml'),
      summary: join(out, 'summary.md'),
    });
    for (const p of [r.outputs.report, r.outputs.junit, r.outputs.summary]) assert.ok(isAbsolute(p) && existsSync(p), p);
    assert.equal(r.stepSummary, '## Earlier step\n\n### alias-audit: stub pass\n\n');
  });

  test('empty inputs stay out (the CLI defaults apply); working-directory and output-dir are honoured', () => {
    const r = runAction({ model: 'm.onnx', 'working-directory': 'sub', 'output-dir': 'out/ci', install: 'false' }, 0, {});
    // The folder does not exist: a clear error, exit 2, no CLI call.
    assert.equal(r.code, 2);
    assert.equal(r.calls.length, 0);
    assert.match(r.stdout, /::error::alias-audit: working-directory sub does not exist/);

    const ok = (() => {
      const { bin, log } = stubBin();
      const ws = freshDir('ws');
      mkdirSync(join(ws, 'sub'));
      const outputFile = join(ws, 'out.txt');
      const env = {
        PATH: pathWith(bin),
        GITHUB_ACTION_PATH: REPO,
        GITHUB_OUTPUT: outputFile,
        STUB_LOG: log,
        STUB_EXIT: '0',
        ...Object.fromEntries(Object.entries(auditStep.env!).map(([k, v]) => [k, expand(v, { model: 'm.onnx', 'working-directory': 'sub', 'output-dir': 'out/ci', install: 'false' })])),
      };
      const s = spawnSync('bash', ['-eo', 'pipefail', '-c', auditStep.run!], { cwd: ws, env, encoding: 'utf8' });
      return { code: s.status, stderr: s.stderr, call: calls(log)[0], ws, outputs: readFileSync(outputFile, 'utf8') };
    })();
    assert.equal(ok.code, 0, ok.stderr);
    const out = join(ok.ws, 'sub', 'out', 'ci');
    assert.deepEqual(ok.call.argv, ['audit', 'm.onnx', '--out', join(out, 'report.json'), '--junit', join(out, 'junit.xml'), '--summary', join(out, 'summary.md'), '--quiet']);
    assert.equal(ok.call.cwd, join(ok.ws, 'sub'));
    assert.equal(ok.call.apiKey, null, 'an empty api-key is no key');
    assert.match(ok.outputs, new RegExp(`^report=${join(out, 'report.json')}$`, 'm'));
  });

  test('a failed gate (exit 1): verdict fail, the step fails, the summary still appended; fail-on-gate false keeps it green', () => {
    const r = runAction({ model: 'm.onnx', baseline: 'b.json', 'max-accuracy-drop': '0.01', install: 'false' }, 1);
    assert.equal(r.code, 1);
    assert.equal(r.outputs.verdict, 'fail');
    assert.equal(r.outputs['exit-code'], '1');
    assert.ok(existsSync(r.outputs.report));
    assert.match(r.stdout, /^::error::alias-audit: a gate failed for m\.onnx/m);
    assert.ok(r.stepSummary.endsWith('### alias-audit: stub fail\n\n'));

    const soft = runAction({ model: 'm.onnx', 'fail-on-gate': 'false', 'job-summary': 'false', install: 'false' }, 1);
    assert.equal(soft.code, 0);
    assert.equal(soft.outputs.verdict, 'fail');
    assert.equal(soft.stepSummary, '## Earlier step\n\n', 'job-summary false writes nothing there');
  });

  test('bad input (exit 2): verdict error, the step fails with exit 2 and an error annotation; no model at all is exit 2 without a call', () => {
    const r = runAction({ model: 'missing.onnx', install: 'false' }, 2);
    assert.equal(r.code, 2);
    assert.equal(r.outputs.verdict, 'error');
    assert.equal(r.outputs['exit-code'], '2');
    assert.equal(r.outputs.report, undefined);
    assert.match(r.stdout, /^::error::alias-audit: the audit did not run \(exit 2: bad input or usage\)/m);
    assert.match(r.stderr, /alias-audit: bad input \(stub\)/);

    const none = runAction({ install: 'false' }, 0);
    assert.equal(none.code, 2);
    assert.equal(none.calls.length, 0);
    assert.equal(none.outputs.verdict, 'error');
    assert.match(none.stdout, /::error::alias-audit: the input "model" is required/);
  });

  test('with the real CLI: a passing and a failing gate against a baseline model, the summary appended', () => {
    const inputs = { model: modelPath('preact_resnet_standard.onnx'), 'baseline-model': modelPath('preact_resnet_fgsm.onnx'), samples: '30', preprocess: 'none', install: 'false' };
    const pass = runAction({ ...inputs, 'max-am-rel': '0.99', 'max-accuracy-drop': '0.5' }, 0, {}, true);
    assert.equal(pass.code, 0, pass.stderr);
    assert.equal(pass.outputs.verdict, 'pass');
    const report = JSON.parse(readFileSync(pass.outputs.report, 'utf8')) as { baseline?: { source: string }; thresholds?: Record<string, { verdict: string }> };
    assert.equal(report.baseline?.source, 'model');
    assert.deepEqual(Object.values(report.thresholds ?? {}).map((t) => t.verdict), ['pass', 'pass']);
    assert.match(pass.stepSummary, /^## Earlier step\n\n### alias-audit: preact_resnet_standard\.onnx — ✅/);
    assert.match(readFileSync(pass.outputs.junit, 'utf8'), /<testsuites/);

    // The FGSM model against the standard one: clean accuracy falls by far more than 0.01.
    const fail = runAction({ ...inputs, model: inputs['baseline-model'], 'baseline-model': inputs.model, 'max-accuracy-drop': '0.01' }, 0, {}, true);
    assert.equal(fail.code, 1, fail.stderr);
    assert.equal(fail.outputs.verdict, 'fail');
    assert.match(fail.stepSummary, /### alias-audit: preact_resnet_fgsm\.onnx — ❌/);
  });

  test('install true: npm ci (ONNXRUNTIME_NODE_INSTALL=skip) and the build in the action path, then that CLI runs', () => {
    // A fake action checkout and a fake npm that records its calls and "builds" dist/cli/main.js (the stub).
    const actionPath = freshDir('action');
    const fakeBin = freshDir('fake-npm');
    const npmLog = join(fakeBin, 'npm.log');
    writeFileSync(
      join(fakeBin, 'npm'),
      `#!/usr/bin/env bash\necho "$PWD|$ONNXRUNTIME_NODE_INSTALL|$*" >> "${npmLog}"\nif [ "$1" = run ]; then mkdir -p dist/cli && cp "${join(fakeBin, 'stub.cjs')}" dist/cli/main.js; fi\n`,
      { mode: 0o755 },
    );
    cjsCopy(join(fakeBin, 'stub.cjs'));
    const ws = freshDir('ws-install');
    const runnerTemp = freshDir('temp-install');
    const log = join(ws, 'calls.jsonl');
    const env = {
      PATH: pathWith(fakeBin),
      GITHUB_ACTION_PATH: actionPath,
      RUNNER_TEMP: runnerTemp,
      STUB_LOG: log,
      STUB_EXIT: '0',
      ...Object.fromEntries(Object.entries(auditStep.env!).map(([k, v]) => [k, expand(v, { model: 'm.onnx' })])),
    };
    const r = spawnSync('bash', ['-eo', 'pipefail', join(REPO, 'ci/github/run-audit.sh')], { cwd: ws, env, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const npmCalls = readFileSync(npmLog, 'utf8').trim().split('\n');
    assert.equal(npmCalls.length, 2);
    assert.match(npmCalls[0], new RegExp(`^${actionPath}\\|skip\\|ci `));
    assert.match(npmCalls[1], new RegExp(`^${actionPath}\\|\\|run --silent build$`));
    assert.equal(calls(log).length, 1, 'the built CLI ran');
    assert.equal(readFileSync(join(runnerTemp, 'alias-audit-bin', 'alias-audit'), 'utf8'), `#!/bin/sh\nexec node "${actionPath}/dist/cli/main.js" "$@"\n`);
  });
});

// ------------------------------------------------------------------------------------------------
// GitLab CI template

interface GitlabJob {
  image: string;
  variables: Record<string, string>;
  script: string[];
  artifacts: { when: string; paths: string[]; reports: { junit: string; dotenv: string } };
}

const template = parse(readFileSync(join(REPO, 'ci/gitlab/alias-audit.yml'), 'utf8')) as Record<string, GitlabJob>;
const job = template['.alias-audit'];

interface JobRun {
  code: number;
  stdout: string;
  stderr: string;
  project: string;
  calls: Call[];
}

/** The template's script lines as a runner runs them: one bash, -eo pipefail, the job's variables in the env. */
function runJob(variables: Record<string, string>, stubExit: number, opts: { stub?: boolean; real?: boolean } = {}): JobRun {
  const { bin, log } = opts.real ? realBin() : stubBin();
  const project = freshDir('project');
  const env = {
    PATH: opts.stub === false ? pathWith() : pathWith(bin),
    HOME: process.env.HOME ?? root,
    GITLAB_CI: 'true',
    CI: 'true',
    CI_PROJECT_DIR: project,
    STUB_LOG: log,
    STUB_EXIT: String(stubExit),
    ...job.variables,
    ...variables,
  };
  const r = spawnSync('bash', ['--noprofile', '--norc', '-eo', 'pipefail', '-c', job.script.join('\n')], { cwd: project, env, encoding: 'utf8' });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, project, calls: calls(log) };
}

describe('the GitLab CI template (ci/gitlab/alias-audit.yml)', () => {
  test('a hidden job with a variable per input and the JUnit file as a report artifact', () => {
    assert.ok(job, 'the template defines .alias-audit');
    assert.deepEqual(Object.keys(template), ['.alias-audit'], 'only the hidden job: including the template adds no job');
    for (const name of ['MODEL', 'BASELINE', 'BASELINE_MODEL', 'MAX_AM_REL', 'MAX_AM_REL_INCREASE', 'MAX_ACCURACY_DROP', 'MAX_ROBUST_ACCURACY_DROP', 'MIN_ROBUST_ACCURACY', 'SAMPLES', 'ROBUSTNESS', 'SERVER', 'EXTRA_ARGS']) {
      assert.ok(`ALIAS_AUDIT_${name}` in job.variables, `ALIAS_AUDIT_${name}`);
    }
    assert.ok(!(API_KEY_ENV in job.variables), 'the API key is a masked project variable, never in the template');
    assert.equal(job.artifacts.when, 'always');
    assert.equal(job.artifacts.reports.junit, 'alias-audit-results/junit.xml');
    assert.deepEqual(job.artifacts.paths, ['alias-audit-results/']);
  });

  test('pass (exit 0): the argv from the variables, the files at the artifact paths, the summary in the log', () => {
    const r = runJob(
      {
        ALIAS_AUDIT_MODEL: 'models/new.onnx',
        ALIAS_AUDIT_BASELINE_MODEL: 'models/main.onnx',
        ALIAS_AUDIT_MAX_AM_REL_INCREASE: '0.05',
        ALIAS_AUDIT_MAX_ACCURACY_DROP: '0.01',
        ALIAS_AUDIT_MIN_ROBUST_ACCURACY: '0.2',
        ALIAS_AUDIT_MAX_ROBUST_ACCURACY_DROP: '0.03',
        ALIAS_AUDIT_MAX_AM_REL: '0.7',
        ALIAS_AUDIT_SAMPLES: '300',
        ALIAS_AUDIT_PREPROCESS: 'none',
        ALIAS_AUDIT_ROBUSTNESS: 'fast',
        ALIAS_AUDIT_SERVER: 'https://audit.example.com',
        ALIAS_AUDIT_EXTRA_ARGS: '--seed 3',
        [API_KEY_ENV]: KEY,
      },
      0,
    );
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.equal(r.calls.length, 1);
    const [call] = r.calls;
    assert.deepEqual(call.argv, [
      'audit', 'models/new.onnx',
      '--out', 'alias-audit-results/report.json', '--junit', 'alias-audit-results/junit.xml', '--summary', 'alias-audit-results/summary.md', '--quiet',
      '--baseline-model', 'models/main.onnx',
      '--max-am-rel', '0.7', '--max-am-rel-increase', '0.05', '--max-accuracy-drop', '0.01', '--max-robust-accuracy-drop', '0.03', '--min-robust-accuracy', '0.2',
      '--samples', '300', '--preprocess', 'none', '--robustness', 'fast',
      '--server', 'https://audit.example.com',
      '--seed', '3',
    ]);
    assert.equal(call.apiKey, KEY);
    assert.ok(!r.stdout.includes(KEY) && !r.stderr.includes(KEY), 'the key is not in the log');
    const flags = flagsOf(call.argv);
    // What the artifacts name is what the CLI was told to write.
    assert.equal(flags.get('--junit'), job.artifacts.reports.junit);
    for (const flag of ['--out', '--junit', '--summary']) {
      const path = flags.get(flag) as string;
      assert.ok(job.artifacts.paths.some((p) => path.startsWith(p)), `${path} is under an artifact path`);
      assert.ok(existsSync(join(r.project, path)), path);
    }
    assert.equal(readFileSync(join(r.project, job.artifacts.reports.dotenv), 'utf8'), 'ALIAS_AUDIT_VERDICT=pass\nALIAS_AUDIT_EXIT_CODE=0\n');
    assert.match(r.stdout, /^### alias-audit: stub pass$/m);
  });

  test('a failed gate (exit 1) fails the job, unless ALIAS_AUDIT_FAIL_ON_GATE is false; bad input (exit 2) fails it with 2', () => {
    const fail = runJob({ ALIAS_AUDIT_MODEL: 'm.onnx', ALIAS_AUDIT_BASELINE: 'b.json', ALIAS_AUDIT_MAX_ACCURACY_DROP: '0.01' }, 1);
    assert.equal(fail.code, 1);
    assert.deepEqual(fail.calls[0].argv.slice(-4), ['--baseline', 'b.json', '--max-accuracy-drop', '0.01']);
    assert.equal(fail.calls[0].apiKey, null, 'no key set: none sent');
    assert.ok(existsSync(join(fail.project, job.artifacts.reports.junit)), 'the JUnit file is there for the report artifact');
    assert.equal(readFileSync(join(fail.project, job.artifacts.reports.dotenv), 'utf8'), 'ALIAS_AUDIT_VERDICT=fail\nALIAS_AUDIT_EXIT_CODE=1\n');

    const soft = runJob({ ALIAS_AUDIT_MODEL: 'm.onnx', ALIAS_AUDIT_FAIL_ON_GATE: 'false' }, 1);
    assert.equal(soft.code, 0);

    const bad = runJob({ ALIAS_AUDIT_MODEL: 'missing.onnx' }, 2);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /alias-audit: the audit did not run \(exit 2\)/);
    assert.equal(readFileSync(join(bad.project, job.artifacts.reports.dotenv), 'utf8'), 'ALIAS_AUDIT_VERDICT=error\nALIAS_AUDIT_EXIT_CODE=2\n');

    const none = runJob({}, 0);
    assert.equal(none.code, 2);
    assert.equal(none.calls.length, 0);
    assert.match(none.stderr, /set ALIAS_AUDIT_MODEL/);
  });

  test('with the real CLI: the JUnit report artifact holds the failing gate', () => {
    const r = runJob(
      { ALIAS_AUDIT_MODEL: modelPath('preact_resnet_fgsm.onnx'), ALIAS_AUDIT_BASELINE_MODEL: modelPath('preact_resnet_standard.onnx'), ALIAS_AUDIT_SAMPLES: '30', ALIAS_AUDIT_PREPROCESS: 'none', ALIAS_AUDIT_MAX_ACCURACY_DROP: '0.01' },
      0,
      { real: true },
    );
    assert.equal(r.code, 1, r.stderr);
    assert.match(readFileSync(join(r.project, job.artifacts.reports.junit), 'utf8'), /<testcase classname="alias-audit\.gates" name="maxAccuracyDrop"[^>]*>\s*<failure/);
    assert.equal(readFileSync(join(r.project, job.artifacts.reports.dotenv), 'utf8'), 'ALIAS_AUDIT_VERDICT=fail\nALIAS_AUDIT_EXIT_CODE=1\n');
    assert.match(r.stdout, /^### alias-audit: preact_resnet_fgsm\.onnx — ❌/m);
  });

  test('no CLI in the image and no ALIAS_AUDIT_SOURCE: exit 3 naming what to set', () => {
    const r = runJob({ ALIAS_AUDIT_MODEL: 'm.onnx' }, 0, { stub: false });
    if (r.calls.length > 0) return; // an alias-audit installed on this machine answered
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /no alias-audit CLI in the image: set ALIAS_AUDIT_SOURCE/);
  });
});

// ------------------------------------------------------------------------------------------------
// README

describe('README: "In CI pipelines"', () => {
  const blocks = codeBlocks(readFileSync(join(REPO, 'README.md'), 'utf8')).filter((b) => b.language === 'yaml');
  const github = blocks.filter((b) => b.heading === 'GitHub Actions');
  const gitlab = blocks.filter((b) => b.heading === 'GitLab CI');

  test('the GitHub examples give only inputs action.yml declares, the key from a secret', () => {
    assert.ok(github.length >= 2, 'a local and a remote example');
    let remote = 0;
    for (const b of github) {
      const doc = parse(b.text) as { jobs: Record<string, { steps: { uses?: string; with?: Record<string, unknown> }[] }> };
      const steps = Object.values(doc.jobs).flatMap((j) => j.steps).filter((s) => /alias-audit@/.test(s.uses ?? ''));
      assert.ok(steps.length > 0, `block at line ${b.line} uses the action`);
      for (const s of steps) {
        for (const name of Object.keys(s.with ?? {})) assert.ok(action.inputs[name], `line ${b.line}: ${name} is not an input of action.yml`);
        assert.ok(s.with?.model, `line ${b.line}: model is required`);
        if (s.with?.server) {
          remote++;
          assert.match(String(s.with['api-key']), /^\$\{\{ secrets\.\w+ \}\}$/);
        }
      }
    }
    assert.ok(remote > 0, 'one example runs the audit on a service');
  });

  test('the GitLab examples extend .alias-audit with the template\'s variables, the key not in the file', () => {
    assert.ok(gitlab.length >= 1);
    let extended = 0;
    for (const b of gitlab) {
      const doc = parse(b.text) as Record<string, { extends?: string; variables?: Record<string, string> }>;
      for (const [name, j] of Object.entries(doc)) {
        if (name === 'include' || j.extends !== '.alias-audit') continue;
        extended++;
        for (const v of Object.keys(j.variables ?? {})) assert.ok(v in job.variables, `line ${b.line}: ${v} is not a variable of the template`);
        assert.ok(!(API_KEY_ENV in (j.variables ?? {})));
      }
    }
    assert.ok(extended >= 2, 'a local and a remote job');
  });
});
