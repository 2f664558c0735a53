// Runs every test/**/*.test.ts with node's test runner (Node 20 takes no glob patterns) and lists
// the tests that did not run (skipped or todo). Under CI=true each of them fails the run unless
// scripts/test-skips-allowed.json allows it, so a test cannot quietly stop running in CI.
//
//   node scripts/run-tests.mjs [node flags] [test files or folders] [--skips-allowed=FILE]
//
// Arguments that name an existing file or folder are what to run (default: test/); the others
// go to node as they are (e.g. --test-name-pattern=...). --skips-allowed replaces the allow-list.
// The exit status is the test run's when it fails; else 1 for skips CI does not allow; else 0.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const DEFAULT_ALLOW_LIST = fileURLToPath(new URL('test-skips-allowed.json', import.meta.url));
const REPORTER = pathToFileURL(fileURLToPath(new URL('skip-reporter.mjs', import.meta.url))).href;

/** CI=true (or any value but empty, 0 and false, as CI services set it). */
function inCi(env) {
  return env.CI !== undefined && !['', '0', 'false'].includes(env.CI.trim().toLowerCase());
}

function find(path) {
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? find(join(path, e.name)) : e.name.endsWith('.test.ts') ? [join(path, e.name)] : [],
  );
}

/** Fails with exit 2 and one sentence: the run could not be set up. */
function usageError(message) {
  console.error(`run-tests: ${message}`);
  process.exit(2);
}

/** The allow-list, checked: every entry names a file, two valid patterns and why it may skip. */
function loadAllowList(file) {
  let document;
  try {
    document = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    usageError(`cannot read the skip allow-list ${file}: ${err.message}`);
  }
  if (!Array.isArray(document?.allowed)) usageError(`${file} must hold {"allowed": [...]}`);
  return document.allowed.map((entry, i) => {
    const where = `${file}, entry ${i + 1}`;
    for (const key of ['file', 'test', 'reason', 'why']) {
      if (typeof entry?.[key] !== 'string' || entry[key].trim() === '') usageError(`${where} needs a non-empty "${key}"`);
    }
    const pattern = (key) => {
      try {
        return new RegExp(entry[key]);
      } catch (err) {
        usageError(`${where}: "${key}" is not a regular expression (${err.message})`);
      }
    };
    return { file: entry.file, test: pattern('test'), reason: pattern('reason'), why: entry.why };
  });
}

function allowance(notRun, allowList) {
  return allowList.find((a) => a.file === notRun.file && a.test.test(notRun.name) && a.reason.test(notRun.reason));
}

function line(notRun) {
  return `${notRun.kind.padEnd(4)} ${notRun.file}: ${notRun.name}${notRun.reason ? ` (${notRun.reason})` : ''}`;
}

const args = process.argv.slice(2);
let allowListFile = DEFAULT_ALLOW_LIST;
const paths = [];
const nodeFlags = [];
for (const arg of args) {
  if (arg.startsWith('--skips-allowed=')) allowListFile = resolve(arg.slice('--skips-allowed='.length));
  else if (!arg.startsWith('-') && existsSync(arg)) paths.push(arg);
  else nodeFlags.push(arg);
}
const allowList = loadAllowList(allowListFile);
const files = (paths.length > 0 ? paths : ['test']).flatMap(find).sort();
if (files.length === 0) usageError(`no *.test.ts files in ${paths.join(', ')}`);

// The suites audit the real CIFAR-10 test set, and the services they start do not download it
// (fetchData off): make it available once, here (a no-op when it is cached).
const data = spawnSync(process.execPath, [fileURLToPath(new URL('fetch-cifar10.mjs', import.meta.url))], { stdio: ['ignore', 'ignore', 'inherit'] });
if (data.status !== 0) console.error('run-tests: the CIFAR-10 test set is not available; the tests that need it fail or say why');

const reportDir = mkdtempSync(join(tmpdir(), 'alias-audit-tests-'));
const notRunFile = join(reportDir, 'not-run.json');
let status;
let notRun;
try {
  const result = spawnSync(
    process.execPath,
    [
      '--import', 'tsx', '--test', '--test-concurrency=1',
      '--test-reporter=spec', '--test-reporter-destination=stdout',
      `--test-reporter=${REPORTER}`, `--test-reporter-destination=${notRunFile}`,
      ...nodeFlags, ...files,
    ],
    { stdio: 'inherit' },
  );
  status = result.status ?? 1; // killed by a signal: a failed run
  try {
    notRun = JSON.parse(readFileSync(notRunFile, 'utf8')).notRun;
  } catch {
    notRun = undefined;
  }
} finally {
  rmSync(reportDir, { recursive: true, force: true });
}

const ci = inCi(process.env);
const listName = relative(process.cwd(), allowListFile);
if (!notRun) {
  console.error('\nrun-tests: the skip reporter left no list, so skipped tests cannot be checked.');
  process.exit(status !== 0 ? status : ci ? 1 : 0);
}
const allowed = notRun.filter((t) => allowance(t, allowList));
const unexpected = notRun.filter((t) => !allowance(t, allowList));
if (allowed.length > 0) {
  console.log(`\n${allowed.length} test(s) did not run, as the allow-list ${listName} permits:`);
  for (const t of allowed) console.log(`  ${line(t)}\n       allowed: ${allowance(t, allowList).why}`);
}
if (unexpected.length > 0) {
  const heading = ci
    ? `CI=true: ${unexpected.length} test(s) did not run and are not on the allow-list ${listName}:`
    : `${unexpected.length} test(s) did not run and are not on the allow-list ${listName} (under CI=true the run would fail):`;
  const print = ci ? console.error : console.log;
  print(`\n${heading}`);
  for (const t of unexpected) print(`  ${line(t)}`);
  if (ci) print('Make them run here, or add an entry with the reason they may skip to the allow-list.');
}
process.exit(status !== 0 ? status : ci && unexpected.length > 0 ? 1 : 0);
