/**
 * The test runner's skip policy (scripts/run-tests.mjs): it runs fixture test files in a
 * subprocess, with and without CI=true, and with allow-lists written here. Without CI skips
 * only print a summary; under CI=true a skipped or todo test fails the run unless an entry
 * allows it (file, name and reason); a failing test fails the run either way.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SHARED_MODELS_MISSING } from '../helpers/shared.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const SAMPLE = 'test/fixtures/skip-policy/sample.fixture.ts';
const FAILING = 'test/fixtures/skip-policy/failing.fixture.ts';
const dir = mkdtempSync(join(tmpdir(), 'alias-audit-skip-policy-'));
after(() => rmSync(dir, { recursive: true, force: true }));

interface Entry {
  file: string;
  test: string;
  reason: string;
  why: string;
}

const widget: Entry = { file: SAMPLE, test: '^needs a missing widget$', reason: '^no widget beside', why: 'the fixture has no widget' };
const runtimeSkip: Entry = { file: SAMPLE, test: '^a suite > skips itself$', reason: '^decided at run time$', why: 'the fixture decides so' };
const todo: Entry = { file: SAMPLE, test: '^not written yet$', reason: '^$', why: 'the fixture leaves it to do' };

function allowList(name: string, allowed: unknown[]): string {
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify({ allowed }));
  return file;
}

/** scripts/run-tests.mjs on `files`, with CI set as given and nothing of this test run's context. */
function runTests(files: string[], opts: { ci: boolean; allowed: string }): { code: number | null; stdout: string; stderr: string } {
  const env = { ...process.env };
  // A node --test child would otherwise report to us in the parent's protocol, not print.
  delete env.NODE_TEST_CONTEXT;
  delete env.CI;
  if (opts.ci) env.CI = 'true';
  const r = spawnSync(process.execPath, ['scripts/run-tests.mjs', ...files, `--skips-allowed=${opts.allowed}`], { cwd: root, env, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('without CI the skips and todos are listed, and the run passes', () => {
  const r = runTests([SAMPLE], { ci: false, allowed: allowList('widget.json', [widget]) });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /1 test\(s\) did not run, as the allow-list .*widget\.json permits:\n {2}skip test\/fixtures\/skip-policy\/sample\.fixture\.ts: needs a missing widget \(no widget beside this checkout\)\n +allowed: the fixture has no widget/);
  assert.match(r.stdout, /2 test\(s\) did not run and are not on the allow-list .*\(under CI=true the run would fail\):/);
  assert.match(r.stdout, /skip test\/fixtures\/skip-policy\/sample\.fixture\.ts: a suite > skips itself \(decided at run time\)/);
  assert.match(r.stdout, /todo test\/fixtures\/skip-policy\/sample\.fixture\.ts: not written yet/);
  assert.doesNotMatch(r.stderr, /CI=true/);
});

test('under CI=true a skip or todo off the allow-list fails the run and is named', () => {
  const r = runTests([SAMPLE], { ci: true, allowed: allowList('widget.json', [widget]) });
  assert.equal(r.code, 1);
  const [, failure = ''] = r.stderr.split('CI=true: ');
  assert.match(failure, /^2 test\(s\) did not run and are not on the allow-list/);
  assert.match(failure, /a suite > skips itself \(decided at run time\)/);
  assert.match(failure, /todo test\/fixtures\/skip-policy\/sample\.fixture\.ts: not written yet/);
  assert.doesNotMatch(failure, /needs a missing widget/, 'the allowed skip is not among the failures');
});

test('under CI=true the run passes when every skip and todo is allowed', () => {
  const r = runTests([SAMPLE], { ci: true, allowed: allowList('all.json', [widget, runtimeSkip, todo]) });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /3 test\(s\) did not run, as the allow-list .*all\.json permits/);
});

test('an entry allows a skip only for its own reason and file', () => {
  const otherReason = { ...runtimeSkip, reason: '^no widget' };
  const otherFile = { ...widget, file: FAILING };
  const r = runTests([SAMPLE], { ci: true, allowed: allowList('narrow.json', [otherReason, otherFile, todo]) });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /CI=true: 2 test\(s\)[^]*needs a missing widget[^]*a suite > skips itself/);
});

test('a failing test fails the run with or without CI, its skips allowed or not', () => {
  const all = allowList('failing.json', [{ ...widget, file: FAILING }]);
  for (const ci of [false, true]) {
    const r = runTests([FAILING], { ci, allowed: all });
    assert.equal(r.code, 1, `CI ${ci}`);
    assert.match(r.stdout, /✖ fails/);
  }
});

test('a broken allow-list stops the run with exit 2 and says what is wrong', () => {
  const noWhy = runTests([SAMPLE], { ci: false, allowed: allowList('no-why.json', [{ ...widget, why: '' }]) });
  assert.equal(noWhy.code, 2);
  assert.match(noWhy.stderr, /no-why\.json, entry 1 needs a non-empty "why"/);
  const badPattern = runTests([SAMPLE], { ci: false, allowed: allowList('bad-pattern.json', [{ ...widget, test: '(' }]) });
  assert.equal(badPattern.code, 2);
  assert.match(badPattern.stderr, /entry 1: "test" is not a regular expression/);
});

test("the project's allow-list only lets tests skip that need ../shared/models, each in a file that exists", () => {
  const { allowed } = JSON.parse(readFileSync(join(root, 'scripts/test-skips-allowed.json'), 'utf8')) as { allowed: Entry[] };
  assert.ok(allowed.length > 0);
  for (const entry of allowed) {
    assert.ok(existsSync(join(root, entry.file)), `${entry.file} exists`);
    assert.match(SHARED_MODELS_MISSING, new RegExp(entry.reason), `${entry.file}: ${entry.reason} is the missing shared models' reason`);
    assert.ok(entry.why.trim().length > 20, `${entry.file} says why`);
    new RegExp(entry.test); // compiles
  }
});
