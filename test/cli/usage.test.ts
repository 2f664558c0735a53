/**
 * Usage mistakes on the CLI: each exits 2 with one `alias-audit:` line that says what to do,
 * never "internal error", and nothing on stdout.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { cliLines, CliRun, modelPath, runCli } from './cli.js';

const dir = mkdtempSync(join(tmpdir(), 'alias-audit-usage-'));
const STANDARD = modelPath('preact_resnet_standard.onnx');
const RUN = 'overfitting/run3-eps16-seed0-collapse';

/** Exit 2, nothing on stdout, exactly one line of reason matching `reason`. */
function assertUsageError(r: CliRun, reason: RegExp): void {
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stdout, '');
  const lines = cliLines(r.stderr);
  assert.equal(lines.length, 1, r.stderr);
  assert.doesNotMatch(lines[0], /internal error/);
  assert.match(lines[0], reason);
}

describe('unknown options and commands', () => {
  it('a misspelt option names the closest one', async () => {
    const r = await runCli(['audit', STANDARD, '--sample', '10']);
    assertUsageError(r, /^alias-audit: unknown option '--sample' \(did you mean --samples\?\)$/);
  });

  it("a misspelt serve option names the closest one", async () => {
    assertUsageError(await runCli(['serve', '--concurent', '2']), /unknown option '--concurent' \(did you mean --concurrency\?\)/);
  });

  it('an option with nothing like it says where the options are listed', async () => {
    assertUsageError(await runCli(['audit', STANDARD, '--frobnicate', '1']), /unknown option '--frobnicate' \(see alias-audit audit --help\)/);
  });

  it("an audit option given to compare says it belongs to audit", async () => {
    assertUsageError(await runCli(['compare', STANDARD, STANDARD, '--out', join(dir, 'x.json')]), /--out is an option of alias-audit audit, not of compare/);
  });

  it('a misspelt command names the closest one', async () => {
    assertUsageError(await runCli(['erly-stop', 'x']), /unknown command 'erly-stop' \(did you mean early-stop\?\)/);
  });

  it('a missing model argument says so', async () => {
    assertUsageError(await runCli(['audit']), /missing required argument 'model'/);
  });

  it('compare with one model asks for two or more', async () => {
    assertUsageError(await runCli(['compare', STANDARD]), /compare needs two or more models/);
  });
});

describe('early-stop checkpoints', () => {
  const emptyDir = join(dir, 'empty');
  mkdirSync(emptyDir);
  const oneDir = join(dir, 'one');
  mkdirSync(oneDir);
  copyFileSync(modelPath(`${RUN}/ckpt_01.onnx`), join(oneDir, 'ckpt_01.onnx'));

  for (const [what, args, reason] of [
    ['a missing folder', [join(dir, 'nonexistent') + '/'], /nonexistent\/ does not exist: give the checkpoints of two or more epochs/],
    ['an empty folder', [emptyDir], /no \.onnx checkpoints in .*empty: give a folder with one checkpoint per epoch/],
    ['a folder with one checkpoint', [oneDir], /only one checkpoint in .*one: early stopping compares epochs/],
    ['one checkpoint file', [modelPath(`${RUN}/ckpt_01.onnx`)], /only one checkpoint given: early stopping compares epochs/],
    ['a missing file among the checkpoints', [modelPath(`${RUN}/ckpt_01.onnx`), join(dir, 'ckpt_02.onnx')], /ckpt_02\.onnx does not exist/],
    ['a folder and a file', [modelPath(RUN), modelPath(`${RUN}/ckpt_01.onnx`)], /is a folder: .* not both/],
  ] as [string, string[], RegExp][]) {
    it(`${what} exits 2 and says what to give`, async () => {
      assertUsageError(await runCli(['early-stop', ...args, '--samples', '4', '--quiet']), reason);
    });
  }

  for (const [option, value, reason] of [
    ['--threshold', 'x', /--threshold must be a number/],
    ['--window', '0', /--window must be a whole number of epochs or "all"/],
    ['--signal', 'loss', /--signal must be am or amRel/],
  ] as [string, string, RegExp][]) {
    it(`a bad ${option} is a usage error, not an internal one`, async () => {
      assertUsageError(await runCli(['early-stop', modelPath(RUN), option, value, '--quiet']), reason);
    });
  }
});

describe('audit inputs', () => {
  it('a model file that does not exist', async () => {
    assertUsageError(await runCli(['audit', join(dir, 'missing.onnx'), '--quiet']), /cannot read .*missing\.onnx: no such file; give the path of an \.onnx model file/);
  });

  it('a folder instead of a model file', async () => {
    assertUsageError(await runCli(['audit', dir, '--quiet']), /it is a folder/);
  });

  it('a --layout that does not fit the model names the one that does', async () => {
    const r = await runCli(['audit', STANDARD, '--layout', 'NHWC', '--samples', '4', '--quiet']);
    assertUsageError(r, /layout NHWC does not fit the model's input \[batch,3,32,32\], which is NCHW: use --layout NCHW or auto/);
  });

  it('a bad option value', async () => {
    assertUsageError(await runCli(['audit', STANDARD, '--samples', 'many', '--quiet']), /--samples must be a whole number/);
  });

  it('an --out in a folder that does not exist fails before the audit', async () => {
    const r = await runCli(['audit', STANDARD, '--samples', '4', '--quiet', '--out', join(dir, 'no', 'such', 'report.json')]);
    assertUsageError(r, /cannot write --out .*report\.json: the folder .* does not exist/);
  });
});

describe('serve settings', () => {
  it('a bad flag value names the setting', async () => {
    assertUsageError(await runCli(['serve', '--port', 'eighty']), /port must be a whole number .*see alias-audit serve --help/);
  });

  it('a bad environment variable names the variable', async () => {
    const r = await runCli(['serve'], { ...process.env, ALIAS_AUDIT_CONCURRENCY: 'zero' });
    assertUsageError(r, /concurrency must be a whole number .* in ALIAS_AUDIT_CONCURRENCY: fix or unset that variable/);
  });
});
