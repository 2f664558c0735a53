/**
 * What every {@link ModelBlobs} must do, run against each implementation by
 * storeContract.test.ts: bytes back as they went in, a blob kept exactly while a queued or
 * running job of its tenant needs it (also when an upload and a release of it race), no blob
 * left by a job that could not be created, and one tenant's blobs out of another's reach.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { DEFAULT_AUDIT_OPTIONS } from '../../src/audit/options.js';
import { ServiceError } from '../../src/service/errors.js';
import { MissingBlobError, type ModelBlobs } from '../../src/service/jobs/blobs.js';
import type { Store } from '../../src/service/jobs/repository.js';
import type { TenantScope } from '../../src/service/jobs/scope.js';
import { A, B, REPORT } from './storeContract.js';

export interface BlobsUnderTest {
  blobs: ModelBlobs;
  store: Store;
  close(): Promise<void>;
}

export interface BlobsContractOptions {
  /** open() hands out a temporary copy (removed by its close()), not the stored file itself. */
  tempCopies: boolean;
}

const hashOf = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

function createJob(store: Store, owner: TenantScope, id: string, sha256: string): Promise<unknown> {
  return store.create(owner, id, { model: { sha256, bytes: 1, filename: null }, options: DEFAULT_AUDIT_OPTIONS, optionsKey: 'k' });
}

async function finish(store: Store, id: string): Promise<void> {
  assert.ok(await store.start(id));
  assert.equal(await store.succeed(id, REPORT), true);
}

export function blobsContract(name: string, open: () => Promise<BlobsUnderTest>, options: BlobsContractOptions): void {
  const dir = mkdtempSync(join(tmpdir(), 'alias-audit-blobs-contract-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  let uploads = 0;
  /** A fresh upload file with these bytes (adopt may move it). */
  const upload = (data: Buffer): string => {
    const path = join(dir, `upload-${++uploads}`);
    writeFileSync(path, data);
    return path;
  };

  const t = (title: string, body: (u: BlobsUnderTest) => Promise<void>): void => {
    test(title, async () => {
      const u = await open();
      try {
        await body(u);
      } finally {
        await u.close();
      }
    });
  };

  describe(name, () => {
    for (const [label, data] of [
      ['a small model', Buffer.from('a small model\n')],
      ['9 MiB of random bytes', randomBytes(9 * 1024 * 1024)],
    ] as const) {
      t(`adopt then open gives the same bytes (${label})`, async ({ blobs, store }) => {
        const sha = hashOf(data);
        const job = await blobs.adopt(A, upload(data), sha, () => createJob(store, A, 'j', sha));
        assert.equal((job as { id: string }).id, 'j', "adopt returns createJob's value");
        const [one, two] = await Promise.all([blobs.open(A, sha), blobs.open(A, sha)]);
        assert.ok(readFileSync(one.path).equals(data), 'identical bytes');
        assert.ok(readFileSync(two.path).equals(data));
        await one.close();
        await one.close(); // idempotent
        if (options.tempCopies) {
          assert.notEqual(one.path, two.path, 'each open has its own copy');
          assert.ok(!existsSync(one.path), 'close removes the temporary copy');
          assert.ok(readFileSync(two.path).equals(data), "closing one copy leaves the other's");
        } else {
          assert.ok(existsSync(one.path), 'close leaves the stored file itself');
        }
        await two.close();
      });
    }

    t('the same content adopted for two jobs survives the release after the first; the last release removes it', async ({ blobs, store }) => {
      const data = Buffer.from('shared model');
      const sha = hashOf(data);
      await blobs.adopt(A, upload(data), sha, () => createJob(store, A, 'first', sha));
      await blobs.adopt(A, upload(data), sha, () => createJob(store, A, 'second', sha));
      await finish(store, 'first');
      await blobs.releaseIfUnused(A, sha);
      const opened = await blobs.open(A, sha);
      assert.ok(readFileSync(opened.path).equals(data), 'the second job still has its model');
      await opened.close();
      await finish(store, 'second');
      await blobs.releaseIfUnused(A, sha);
      await assert.rejects(blobs.open(A, sha), MissingBlobError);
    });

    t('releaseIfUnused keeps the blob of a queued or running job, removes it after the job finished', async ({ blobs, store }) => {
      const data = Buffer.from('released model');
      const sha = hashOf(data);
      await blobs.adopt(A, upload(data), sha, () => createJob(store, A, 'j', sha));
      await blobs.releaseIfUnused(A, sha);
      await (await blobs.open(A, sha)).close();
      await store.start('j');
      await blobs.releaseIfUnused(A, sha);
      await (await blobs.open(A, sha)).close();
      await store.fail('j', new ServiceError('AUDIT_CRASHED', 'crashed').toProblem());
      await blobs.releaseIfUnused(A, sha);
      const err = await blobs.open(A, sha).then(
        () => null,
        (e: unknown) => e,
      );
      assert.ok(err instanceof MissingBlobError, `open rejects with MissingBlobError, not ${String(err)}`);
      assert.equal(err.sha256, sha);
      await blobs.releaseIfUnused(A, sha); // a second release of a gone blob is fine
      await assert.rejects(blobs.open(A, 'f'.repeat(64)), MissingBlobError, 'never stored');
    });

    t('a createJob that throws leaves no blob, and its error reaches the caller', async ({ blobs, store }) => {
      const data = Buffer.from('refused model');
      const sha = hashOf(data);
      const refusal = new Error('the database refused the job');
      await assert.rejects(
        blobs.adopt(A, upload(data), sha, () => Promise.reject(refusal)),
        (e) => e === refusal,
      );
      await assert.rejects(blobs.open(A, sha), MissingBlobError);
      // A real refusal of the store: the id is taken.
      await createJob(store, A, 'taken', sha);
      await finish(store, 'taken');
      await assert.rejects(blobs.adopt(A, upload(data), sha, () => createJob(store, A, 'taken', sha)));
      await assert.rejects(blobs.open(A, sha), MissingBlobError);
    });

    t('a createJob that throws removes the blob also when it was stored before and no job needs it', async ({ blobs, store }) => {
      const data = Buffer.from('orphan model');
      const sha = hashOf(data);
      // Stored for a job that finished, and not released yet (a release that failed, a crash).
      await blobs.adopt(A, upload(data), sha, () => createJob(store, A, 'done', sha));
      await finish(store, 'done');
      await assert.rejects(blobs.adopt(A, upload(data), sha, () => Promise.reject(new Error('refused'))), /refused/);
      await assert.rejects(blobs.open(A, sha), MissingBlobError, 'no job needs the blob: it goes');
    });

    t("blobs are per tenant: B cannot open A's, and B's release never removes A's", async ({ blobs, store }) => {
      const data = Buffer.from('tenant model');
      const sha = hashOf(data);
      await blobs.adopt(A, upload(data), sha, () => createJob(store, A, 'a', sha));
      await assert.rejects(blobs.open(B, sha), MissingBlobError);
      await finish(store, 'a');
      await blobs.releaseIfUnused(B, sha);
      const opened = await blobs.open(A, sha);
      assert.ok(readFileSync(opened.path).equals(data));
      await opened.close();
      // B uploads the same bytes: its own blob, released without touching A's.
      await blobs.adopt(B, upload(data), sha, () => createJob(store, B, 'b', sha));
      await finish(store, 'b');
      await blobs.releaseIfUnused(B, sha);
      await assert.rejects(blobs.open(B, sha), MissingBlobError);
      await (await blobs.open(A, sha)).close();
    });

    t('an adopt racing a release of the same blob keeps it for the new job', async ({ blobs, store }) => {
      const data = Buffer.from('raced model');
      const sha = hashOf(data);
      for (let round = 0; round < 6; round++) {
        await blobs.adopt(A, upload(data), sha, () => createJob(store, A, `old${round}`, sha));
        await finish(store, `old${round}`);
        const path = upload(data);
        const adopt = (): Promise<unknown> => blobs.adopt(A, path, sha, () => createJob(store, A, `new${round}`, sha));
        // Either one may start first.
        await (round % 2 ? Promise.all([adopt(), blobs.releaseIfUnused(A, sha)]) : Promise.all([blobs.releaseIfUnused(A, sha), adopt()]));
        const opened = await blobs.open(A, sha);
        assert.ok(readFileSync(opened.path).equals(data), `round ${round}: the new job's model is there`);
        await opened.close();
        await finish(store, `new${round}`);
        await blobs.releaseIfUnused(A, sha);
        await assert.rejects(blobs.open(A, sha), MissingBlobError);
      }
    });
  });
}
