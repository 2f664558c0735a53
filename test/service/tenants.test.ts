/**
 * Tenants and safe defaults: keys name tenants (a bare key is a tenant of its own), the cache and
 * `?sha256=` never cross tenants, admin keys see all, the key file holds hashes, data dirs from
 * before tenants belong to "default", and a non-loopback bind without keys does not start.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { TOOL_VERSION } from '../../src/audit/version.js';
import { serveConfig } from '../../src/cli/serve.js';
import { defaultConfig } from '../../src/service/config.js';
import { AuthSetupError, checkBindSafety, isLoopbackHost, keyDigest, loadApiKeys, ownTenant, parseKeyFile } from '../../src/service/http/auth.js';
import { ModelFiles } from '../../src/service/jobs/modelFiles.js';
import { JobStore } from '../../src/service/jobs/store.js';
import { DB_FILE, startService } from '../../src/service/server.js';
import { cliLines, runCli } from '../cli/cli.js';
import { bundledModel, STANDARD } from '../helpers/models.js';
import { sqlOnStore, startTestService, testServiceConfig, TestService } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'alias-audit-tenants-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const ALICE = 'alice-key-0123456789abcdef';
const BOB = 'bob-key-0123456789abcdef';
const LONER = 'loner-key-0123456789abcdef'; // listed bare: a tenant of its own
const ADMIN = 'ops-key-0123456789abcdef';

function form(fields: Record<string, string>): FormData {
  const f = new FormData();
  f.set('model', new Blob([bundledModel(STANDARD)]), 'model.onnx');
  for (const [k, v] of Object.entries(fields)) f.set(k, v);
  return f;
}

describe('keys and binds', () => {
  it('serves loopback by default; loopback is 127.0.0.0/8, ::1 and localhost', () => {
    assert.equal(defaultConfig().host, '127.0.0.1');
    for (const host of ['127.0.0.1', '127.8.9.10', 'localhost', '::1', '[::1]', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1']) assert.ok(isLoopbackHost(host), host);
    for (const host of ['0.0.0.0', '::', '10.0.0.1', '128.0.0.1', 'example.org', '::ffff:10.0.0.1', '::2']) assert.ok(!isLoopbackHost(host), host);
  });

  it('refuses a non-loopback bind without keys, unless allowed; keys make it safe', () => {
    const none = loadApiKeys({ apiKeys: [], adminKeys: [], apiKeysFile: null });
    assert.throws(() => checkBindSafety({ host: '0.0.0.0', allowUnauthenticated: false }, none), (err: Error) => err instanceof AuthSetupError && /--allow-unauthenticated/.test(err.message) && !err.message.includes('\n'));
    checkBindSafety({ host: '0.0.0.0', allowUnauthenticated: true }, none);
    checkBindSafety({ host: '127.0.0.1', allowUnauthenticated: false }, none);
    checkBindSafety({ host: '0.0.0.0', allowUnauthenticated: false }, loadApiKeys({ apiKeys: [ALICE], adminKeys: [], apiKeysFile: null }));
  });

  it('the CLI refuses the open bind with exit 2 and one line, and takes --allow-unauthenticated', async () => {
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ALIAS_AUDIT_') && k !== 'PORT'));
    const refused = await runCli(['serve', '--host', '0.0.0.0', '--port', '0', '--data-dir', join(tmp, 'cli-data')], env);
    assert.equal(refused.code, 2, refused.stderr);
    const lines = cliLines(refused.stderr);
    assert.equal(lines.length, 1, refused.stderr);
    assert.match(lines[0], /refusing to listen on 0\.0\.0\.0 without API keys/);
    const badFile = await runCli(['serve', '--api-keys-file', join(tmp, 'no-such-file'), '--port', '0', '--data-dir', join(tmp, 'cli-data')], env);
    assert.equal(badFile.code, 2, badFile.stderr);
    assert.match(cliLines(badFile.stderr).join('\n'), /cannot read the API key file/);
    assert.equal(serveConfig(['--host', '0.0.0.0', '--allow-unauthenticated'], {}).allowUnauthenticated, true);
    assert.equal(serveConfig(['--allow-unauthenticated', 'false'], {}).allowUnauthenticated, false);
    assert.equal(serveConfig([], { ALIAS_AUDIT_ALLOW_UNAUTHENTICATED: 'true' }).allowUnauthenticated, true);
    assert.equal(serveConfig([], { ALIAS_AUDIT_API_KEYS_FILE: 'keys.txt' }).apiKeysFile, join(process.cwd(), 'keys.txt'));
  });

  it('a bare key is a tenant named from its hash; a named key is its tenant; admin keys are admins', () => {
    const keys = loadApiKeys({ apiKeys: [`alice:${ALICE}`, LONER], adminKeys: [`ops:${ADMIN}`], apiKeysFile: null });
    assert.deepEqual(keys.principalForKey(ALICE), { tenant: 'alice', admin: false });
    const loner = keys.principalForKey(LONER);
    assert.deepEqual(loner, { tenant: ownTenant(keyDigest(LONER)), admin: false });
    assert.ok(!loner.tenant.includes(LONER.slice(0, 8)), 'the tenant name does not show the key');
    assert.deepEqual(keys.principalForKey(ADMIN), { tenant: 'ops', admin: true });
    assert.equal(keys.principalForKey(BOB), undefined);
    assert.throws(() => loadApiKeys({ apiKeys: [`a:${ALICE}`, `b:${ALICE}`], adminKeys: [], apiKeysFile: null }), /listed twice/);
    assert.throws(() => loadApiKeys({ apiKeys: [`../x:${ALICE}`], adminKeys: [], apiKeysFile: null }), /tenant name/);
  });

  it('the key file holds hashes: "[tenant] sha256:<hex> [admin]", comments and blank lines allowed', () => {
    const text = `# team keys\nalice sha256:${keyDigest(ALICE)}\n\nsha256:${keyDigest(LONER).toUpperCase()}  # a tenant of its own\nops sha256:${keyDigest(ADMIN)} admin\n`;
    assert.deepEqual(parseKeyFile(text, 'keys.txt'), [
      { digest: keyDigest(ALICE), principal: { tenant: 'alice', admin: false } },
      { digest: keyDigest(LONER), principal: { tenant: ownTenant(keyDigest(LONER)), admin: false } },
      { digest: keyDigest(ADMIN), principal: { tenant: 'ops', admin: true } },
    ]);
    assert.throws(() => parseKeyFile(`alice ${ALICE}\n`, 'keys.txt'), (err: Error) => err instanceof AuthSetupError && /keys.txt line 1/.test(err.message) && !err.message.includes(ALICE));
    assert.throws(() => parseKeyFile(`ok sha256:${keyDigest(ALICE)}\nbad sha256:1234\n`, 'keys.txt'), /line 2/);
  });

  it('a service started with a key file takes its keys, and refuses to start on a bad one', async () => {
    const file = join(tmp, 'keys.txt');
    writeFileSync(file, `alice sha256:${keyDigest(ALICE)}\nops sha256:${keyDigest(ADMIN)} admin\n`);
    const svc = await startTestService({ apiKeysFile: file });
    try {
      assert.equal((await fetch(`${svc.url}/audits`, { headers: { authorization: `Bearer ${ALICE}` } })).status, 200);
      assert.equal((await fetch(`${svc.url}/audits`, { headers: { authorization: `Bearer ${keyDigest(ALICE)}` } })).status, 401, 'the hash is not a key');
      assert.equal((await fetch(`${svc.url}/audits`)).status, 401);
    } finally {
      await svc.stop();
    }
    writeFileSync(file, `alice ${ALICE}\n`);
    await assert.rejects(startService(testServiceConfig(join(tmp, 'bad-file-data'), { apiKeysFile: file })), AuthSetupError);
  });
});

describe('tenants over HTTP', () => {
  let svc: TestService;
  const as = (key: string): Record<string, string> => ({ authorization: `Bearer ${key}` });
  let sha256 = '';
  let aliceJob = '';

  before(async () => {
    svc = await startTestService({ apiKeys: [`alice:${ALICE}`, `bob:${BOB}`, LONER], adminKeys: [`ops:${ADMIN}`] });
    const res = await fetch(`${svc.url}/audit?wait=true&timeout=120`, { method: 'POST', headers: as(ALICE), body: form({ samples: '20', preprocess: 'none' }) });
    assert.equal(res.status, 200, await res.clone().text());
    aliceJob = res.headers.get('location')!.split('/').pop()!;
    sha256 = ((await (await fetch(`${svc.url}/audits/${aliceJob}`, { headers: as(ALICE) })).json()) as { model: { sha256: string } }).model.sha256;
  });
  after(() => svc?.stop());

  const idsOf = async (key: string, query = ''): Promise<string[]> => {
    const res = await fetch(`${svc.url}/audits${query}`, { headers: as(key) });
    assert.equal(res.status, 200);
    return ((await res.json()) as { items: { id: string }[] }).items.map((j) => j.id);
  };

  it('the same model and options from another tenant is a new audit, not the first tenant\'s cached one', async () => {
    const again = await fetch(`${svc.url}/audit`, { method: 'POST', headers: as(ALICE), body: form({ samples: '20', preprocess: 'none' }) });
    assert.equal(again.status, 200, 'the owner gets its cached report');
    assert.equal(((await again.json()) as { id: string }).id, aliceJob);
    const bob = await fetch(`${svc.url}/audit`, { method: 'POST', headers: as(BOB), body: form({ samples: '20', preprocess: 'none' }) });
    assert.equal(bob.status, 202);
    const bobJob = ((await bob.json()) as { id: string; cached?: boolean }).id;
    assert.notEqual(bobJob, aliceJob);
    // ?sha256= answers each tenant its own jobs only; the admin sees both.
    assert.deepEqual(await idsOf(BOB, `?sha256=${sha256}`), [bobJob]);
    assert.deepEqual(await idsOf(ALICE, `?sha256=${sha256}`), [aliceJob]);
    assert.deepEqual(new Set(await idsOf(ADMIN, `?sha256=${sha256}`)), new Set([aliceJob, bobJob]));
    assert.deepEqual(await idsOf(LONER), [], 'a bare key is a tenant of its own');
    // Bob's model file is his own: deleting his job leaves Alice's audit and report whole.
    assert.equal((await fetch(`${svc.url}/audits/${bobJob}`, { method: 'DELETE', headers: as(ALICE) })).status, 404);
    assert.equal((await fetch(`${svc.url}/audits/${bobJob}`, { method: 'DELETE', headers: as(ADMIN) })).status, 204, 'an admin deletes any tenant\'s job');
    assert.equal((await fetch(`${svc.url}/audits/${bobJob}`, { headers: as(BOB) })).status, 404);
    assert.equal((await fetch(`${svc.url}/audits/${aliceJob}/report`, { headers: as(ALICE) })).status, 200);
  });

  it('an admin reads and lists every tenant\'s jobs and runs; others get 404 for them', async () => {
    assert.equal((await fetch(`${svc.url}/audits/${aliceJob}`, { headers: as(ADMIN) })).status, 200);
    assert.equal((await fetch(`${svc.url}/audits/${aliceJob}/report`, { headers: as(LONER) })).status, 404);
    const run = await fetch(`${svc.url}/runs`, { method: 'POST', headers: { ...as(BOB), 'content-type': 'application/json' }, body: JSON.stringify({ name: 'bob', samples: 10 }) });
    const runId = ((await run.json()) as { id: string }).id;
    const runIds = async (key: string): Promise<string[]> => ((await (await fetch(`${svc.url}/runs`, { headers: as(key) })).json()) as { items: { id: string }[] }).items.map((r) => r.id);
    assert.ok((await runIds(ADMIN)).includes(runId));
    assert.ok(!(await runIds(ALICE)).includes(runId));
    assert.equal((await fetch(`${svc.url}/runs/${runId}`, { headers: as(ALICE) })).status, 404);
    assert.equal((await fetch(`${svc.url}/runs/${runId}`, { method: 'DELETE', headers: as(ALICE) })).status, 404);
    assert.equal((await fetch(`${svc.url}/runs/${runId}`, { headers: as(BOB) })).status, 200, 'still there after the other tenant\'s delete');
  });

  it('a stored report of another tool version is not reused', async () => {
    const [{ options_key: key }] = (await sqlOnStore(svc, 'SELECT options_key FROM jobs WHERE id = ?', [aliceJob])) as { options_key: string }[];
    assert.ok(key.startsWith(`${TOOL_VERSION} `), key);
    await sqlOnStore(svc, 'UPDATE jobs SET options_key = ? WHERE id = ?', [key.replace(TOOL_VERSION, `${TOOL_VERSION}-older`), aliceJob]);
    const res = await fetch(`${svc.url}/audit`, { method: 'POST', headers: as(ALICE), body: form({ samples: '20', preprocess: 'none' }) });
    assert.equal(res.status, 202);
    const fresh = ((await res.json()) as { id: string }).id;
    assert.notEqual(fresh, aliceJob);
    assert.equal((await fetch(`${svc.url}/audits/${fresh}`, { method: 'DELETE', headers: as(ALICE) })).status, 204);
    assert.deepEqual(svc.responseViolations, []);
  });
});

describe('with keys off, and data from before tenants', () => {
  it('with keys off everything is the tenant "default"', async () => {
    const svc = await startTestService();
    try {
      const res = await fetch(`${svc.url}/runs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'open', samples: 10 }) });
      const id = ((await res.json()) as { id: string }).id;
      assert.equal((await svc.store.runs.get({ tenant: 'default' }, id))?.tenant, 'default');
      assert.equal(await svc.store.runs.get({ tenant: 'other' }, id), null);
    } finally {
      await svc.stop();
    }
  });

  it('an older data dir: its jobs, runs and queued model files become the default tenant\'s', async () => {
    const dir = join(tmp, 'old-data');
    mkdirSync(join(dir, 'models'), { recursive: true });
    const sha = 'c'.repeat(64);
    writeFileSync(join(dir, 'models', `${sha}.onnx`), 'model bytes');
    const db = new Database(join(dir, DB_FILE));
    // The tables as a version before tenants created them (the columns that matter here).
    db.exec(`CREATE TABLE jobs (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, status TEXT NOT NULL, model_sha256 TEXT NOT NULL,
      model_bytes INTEGER NOT NULL, model_filename TEXT, options_json TEXT NOT NULL, options_key TEXT NOT NULL, created_at TEXT NOT NULL,
      started_at TEXT, finished_at TEXT, attempts INTEGER NOT NULL DEFAULT 0, progress_percent REAL NOT NULL DEFAULT 0,
      progress_stage TEXT NOT NULL DEFAULT 'queued', progress_message TEXT NOT NULL DEFAULT '', error_json TEXT);
      CREATE INDEX jobs_by_audit ON jobs (model_sha256, options_key, status);
      CREATE TABLE runs (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, name TEXT NOT NULL, options_json TEXT NOT NULL,
      signal TEXT NOT NULL, threshold REAL NOT NULL, median_window INTEGER, created_at TEXT NOT NULL);`);
    db.prepare(`INSERT INTO jobs (id, status, model_sha256, model_bytes, options_json, options_key, created_at) VALUES ('old', 'queued', ?, 11, '{}', 'k', 'then')`).run(sha);
    db.prepare(`INSERT INTO runs (id, name, options_json, signal, threshold, created_at) VALUES ('old-run', 'r', '{}', 'am', 0.3, 'then')`).run();
    db.close();
    const store = new JobStore(join(dir, DB_FILE));
    try {
      assert.equal((await store.get({ tenant: 'default' }, 'old'))?.tenant, 'default');
      assert.equal(await store.get({ tenant: 'alice' }, 'old'), null);
      assert.equal((await store.runs.get({ tenant: 'default' }, 'old-run'))?.tenant, 'default');
      const models = new ModelFiles(join(dir, 'models'), store);
      assert.ok(existsSync(models.pathOf({ tenant: 'default' }, sha)), 'the queued model moved to the default tenant');
      assert.ok(!existsSync(join(dir, 'models', `${sha}.onnx`)));
      assert.notEqual(models.pathOf({ tenant: 'alice' }, sha), models.pathOf({ tenant: 'default' }, sha));
      // Another tenant's release leaves the default tenant's file, which a queued job needs.
      await models.releaseIfUnused({ tenant: 'alice' }, sha);
      await models.releaseIfUnused({ tenant: 'default' }, sha);
      assert.ok(existsSync(models.pathOf({ tenant: 'default' }, sha)));
    } finally {
      await store.close();
    }
    const reopened = new JobStore(join(dir, DB_FILE)); // the migration runs once
    assert.equal((await reopened.list({ tenant: 'default' }, { limit: 5 })).items.length, 1);
    await reopened.close();
  });
});
