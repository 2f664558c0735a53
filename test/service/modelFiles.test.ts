/**
 * Model files beside an asynchronous store: "does a job still need this file?" and the unlink
 * are no longer one turn of the event loop, so an upload of the same model that arrives while
 * a release is asking must keep its file.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, test } from 'node:test';
import { DEFAULT_AUDIT_OPTIONS } from '../../src/audit/options.js';
import type { AuditReport } from '../../src/audit/report.js';
import { ModelFiles } from '../../src/service/jobs/modelFiles.js';
import type { TenantScope } from '../../src/service/jobs/scope.js';
import { JobStore } from '../../src/service/jobs/store.js';

const dir = mkdtempSync(join(tmpdir(), 'alias-audit-models-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const OWN: TenantScope = { tenant: 'default' };
const SHA = 'd'.repeat(64);

/** The SQLite store answering "in use?" as slowly as a database across a network would. */
class DistantStore extends JobStore {
  override async modelInUse(owner: TenantScope, sha256: string): Promise<boolean> {
    const answer = await super.modelInUse(owner, sha256);
    await sleep(50);
    return answer;
  }
}

function newJob(store: JobStore, id: string): Promise<unknown> {
  return store.create(OWN, id, { model: { sha256: SHA, bytes: 5, filename: null }, options: DEFAULT_AUDIT_OPTIONS, optionsKey: 'k' });
}

test('an upload adopted while a release of the same model is under way keeps its file', async () => {
  const store = new DistantStore(join(dir, 'race.db'));
  try {
    const models = new ModelFiles(join(dir, 'models'), store);
    const path = models.pathOf(OWN, SHA);
    // A finished job's model: no job needs it, so the release removes it...
    const upload1 = join(dir, 'upload-1');
    writeFileSync(upload1, 'model');
    await models.adopt(OWN, upload1, SHA, () => Promise.resolve());
    assert.ok(existsSync(path));
    const releasing = models.releaseIfUnused(OWN, SHA);
    // ... while the same model is uploaded again, for a new job that needs the file.
    const upload2 = join(dir, 'upload-2');
    writeFileSync(upload2, 'model');
    const adopting = models.adopt(OWN, upload2, SHA, () => newJob(store, 'again'));
    await Promise.all([releasing, adopting]);
    assert.ok(existsSync(path), 'the queued job still has its model');
    assert.equal((await store.get(OWN, 'again'))?.status, 'queued');
    // Once no job needs it, the next release removes it.
    await store.delete(OWN, 'again');
    await models.releaseIfUnused(OWN, SHA);
    assert.ok(!existsSync(path));
  } finally {
    await store.close();
  }
});

test('a job that cannot be created leaves no model file behind, and the error reaches the caller', async () => {
  const store = new JobStore(join(dir, 'fails.db'));
  try {
    const models = new ModelFiles(join(dir, 'models-fails'), store);
    const upload = join(dir, 'upload-3');
    writeFileSync(upload, 'model');
    // A finished job of this model, which needs its file no longer.
    await newJob(store, 'dup');
    await store.start('dup');
    await store.succeed('dup', { tool: { name: 'alias-audit', version: 'test' } } as unknown as AuditReport);
    // The id is taken: the insert fails, as a database that refuses a write would.
    await assert.rejects(models.adopt(OWN, upload, SHA, () => newJob(store, 'dup')), /UNIQUE/);
    assert.ok(!existsSync(models.pathOf(OWN, SHA)));
  } finally {
    await store.close();
  }
});

test('a call on a closed store rejects: it never throws at the caller', async () => {
  const store = new JobStore(join(dir, 'closed.db'));
  await store.close();
  await store.close(); // idempotent
  let pending: Promise<unknown> | undefined;
  assert.doesNotThrow(() => {
    pending = store.get(OWN, 'x');
  });
  await assert.rejects(pending!, /not open/);
  await assert.rejects(store.runs.get(OWN, 'x'), /not open/);
});
