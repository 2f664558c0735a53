/** One service per data directory; a lock left by a killed process is taken over. */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { lockDataDir } from '../../src/service/dataDirLock.js';

const dir = mkdtempSync(join(tmpdir(), 'alias-audit-lock-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('a live owner keeps the lock; a dead one does not', () => {
  writeFileSync(join(dir, 'service.lock'), `${process.ppid}\n`); // a process that is alive and not us
  assert.throws(() => lockDataDir(dir), /in use by another alias-audit service \(pid \d+\)/);
  writeFileSync(join(dir, 'service.lock'), '999999999\n'); // no such process
  const release = lockDataDir(dir);
  assert.ok(existsSync(join(dir, 'service.lock')));
  release();
  assert.equal(existsSync(join(dir, 'service.lock')), false);
});
