/**
 * The CLI as a user runs it (the built dist/cli/main.js): every bad input gives exit code 2 and
 * a one-line reason; a model without strided ops gives a clean report.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { bundledModelPath, STANDARD } from '../helpers/models.js';
import { externalDataModel, tinyClassifier, vectorModel } from './fixtures.js';

const cli = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'alias-audit-cli-'));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cli, ...args], { maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 99) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

function file(name: string, content: Uint8Array | string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

/** The reason: stderr's lines, less the runtime's own provider-probe warnings and the report's flags. */
function reasonLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.startsWith('alias-audit:') && !l.startsWith('alias-audit: warning:'));
}

const badInputs: [string, () => string, RegExp][] = [
  ['an empty file', () => file('empty.onnx', new Uint8Array(0)), /empty/],
  ['random bytes', () => file('random.onnx', Uint8Array.from({ length: 4096 }, (_, i) => (i * 2654435761) >>> 24)), /not an ONNX model/],
  ['a truncated model', () => file('truncated.onnx', tinyClassifier(2).subarray(0, 700)), /truncated/],
  ['a text file', () => file('notes.onnx', 'This is a README, not a model.\nSecond line.\n'), /not an ONNX model/],
  ['a model with external data', () => file('external.onnx', externalDataModel()), /external data/],
  ['a non-image model', () => file('vector.onnx', vectorModel()), /not an image classifier/],
  ['a missing file', () => join(dir, 'does-not-exist.onnx'), /cannot read/],
];

for (const [what, make, reason] of badInputs) {
  test(`audit of ${what} exits 2 with a one-line reason`, async () => {
    const r = await run(['audit', make(), '--samples', '4', '--quiet']);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stdout, '', 'no report on stdout');
    const lines = reasonLines(r.stderr);
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], reason);
  });
}

for (const [args, reason] of [
  [['--samples', '0'], /--samples must be a whole number/],
  [['--ep', 'tpu'], /--ep must be one of/],
  [['--preprocess', 'magic'], /--preprocess must be one of/],
  [['--mean', '0.5,0.5'], /--mean and --std go together/],
  [['--mean', '0.5,0.5', '--std', '1,1,1'], /mean/],
  [['--bogus', '1'], /Unknown option/i],
] as [string[], RegExp][]) {
  test(`audit with a wrong option (${args.join(' ')}) exits 2`, async () => {
    const r = await run(['audit', file('ok.onnx', tinyClassifier(2)), '--samples', '4', '--quiet', ...args]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(reasonLines(r.stderr)[0] ?? '', reason);
  });
}

test('a model without strided ops gets a clean report saying so', async () => {
  const r = await run(['audit', file('flat.onnx', tinyClassifier(1)), '--samples', '8', '--preprocess', 'none', '--quiet']);
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout) as { downsampling: unknown[]; stages: unknown[]; flags: string[]; dataset: { samples: number } };
  assert.deepEqual(report.downsampling, []);
  assert.deepEqual(report.stages, []);
  assert.equal(report.dataset.samples, 8);
  assert.ok(report.flags.some((f) => /no strided/.test(f)), JSON.stringify(report.flags));
});

test('--max-am-rel fails with exit 1 above the threshold and passes below it', async () => {
  // The standard PreAct-ResNet's worst amRel on 10 images is about 0.62.
  const common = ['audit', bundledModelPath(STANDARD), '--samples', '10', '--preprocess', 'none', '--quiet'];
  const failing = await run([...common, '--max-am-rel', '0.1']);
  assert.equal(failing.code, 1, failing.stderr);
  assert.match(reasonLines(failing.stderr)[0] ?? '', /exceeds --max-am-rel 0.1/);
  const report = JSON.parse(failing.stdout) as { thresholds: { maxAmRel: { passed: boolean; worstNode: string } } };
  assert.equal(report.thresholds.maxAmRel.passed, false);
  const outFile = join(dir, 'report.json');
  const passing = await run([...common, '--max-am-rel', '0.99', '--out', outFile]);
  assert.equal(passing.code, 0, passing.stderr);
  assert.deepEqual(JSON.parse(readFileSync(outFile, 'utf8')), JSON.parse(passing.stdout));
});

test('usage errors exit 2', async () => {
  assert.equal((await run([])).code, 2);
  assert.equal((await run(['frobnicate'])).code, 2);
  assert.equal((await run(['audit'])).code, 2);
});
