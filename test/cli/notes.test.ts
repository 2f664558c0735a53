/**
 * What an audit tells the user on stderr besides progress: the report's flags as
 * `alias-audit: warning:` lines (also with --quiet), and one line when a GPU provider asked for
 * by name did not start.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { cliLines, cliPath, modelPath, runCli } from './cli.js';

const STANDARD = modelPath('preact_resnet_standard.onnx');

interface Report {
  flags: string[];
  executionProvider: { requested: string; used: string; fallbacks: { provider: string; error: string }[] };
}

describe('warnings after an audit', () => {
  it('a preprocessing that does not fit the model gives a warning line per flag, even with --quiet', async () => {
    // The bundled models normalise inside the graph; cifar10 normalisation on top hurts them.
    const r = await runCli(['audit', STANDARD, '--samples', '300', '--preprocess', 'cifar10', '--quiet']);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as Report;
    const warnings = cliLines(r.stderr).filter((l) => l.startsWith('alias-audit: warning: '));
    assert.deepEqual(warnings, report.flags.map((f) => `alias-audit: warning: ${f}`));
    assert.ok(warnings.some((w) => /preprocessing/.test(w)), `a warning about the preprocessing: ${r.stderr}`);
  });

  it('a fitting preprocessing gives no warning', async () => {
    const r = await runCli(['audit', STANDARD, '--samples', '100', '--preprocess', 'none', '--quiet']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual((JSON.parse(r.stdout) as Report).flags, []);
    assert.deepEqual(cliLines(r.stderr), []);
  });
});

describe('--ep', () => {
  it('cuda asked for by name: one line when it did not start, none when it did', async () => {
    const r = await runCli(['audit', STANDARD, '--samples', '20', '--preprocess', 'none', '--ep', 'cuda', '--quiet']);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as Report;
    const notes = cliLines(r.stderr).filter((l) => l.includes('did not start'));
    if (report.executionProvider.used === 'cuda') {
      assert.deepEqual(notes, []);
    } else {
      assert.equal(notes.length, 1, r.stderr);
      assert.match(notes[0], new RegExp(`^alias-audit: --ep cuda did not start \\(.+\\); ran on ${report.executionProvider.used}$`));
      assert.ok(notes[0].length < 160, 'short');
    }
  });

  it('auto falling back to the CPU prints nothing', async () => {
    const r = await runCli(['audit', STANDARD, '--samples', '20', '--preprocess', 'none', '--ep', 'auto', '--quiet']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(cliLines(r.stderr), []);
  });
});

describe('serve flags', () => {
  it('serve takes --port, --host and --data-dir as `npm start -- ...` passes them', async () => {
    const dataDir = join(mkdtempSync(join(tmpdir(), 'alias-audit-serve-')), 'data');
    const child = spawn(process.execPath, [cliPath, 'serve', '--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir, '--fetch-data', 'false', '--shutdown-grace', '0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    const listening = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const m = /listening on (http:\/\/127\.0\.0\.1:\d+) \(data (.+?),/.exec(out);
        if (m) resolve(`${m[1]} ${m[2]}`);
      });
      child.on('exit', (code) => reject(new Error(`serve exited ${code}: ${out}`)));
    });
    assert.ok(listening.endsWith(` ${dataDir}`), listening);
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
  });
});
