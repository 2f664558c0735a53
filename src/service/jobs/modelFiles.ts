/**
 * Uploaded models on disk, by tenant and content: `<dir>/<tenant hash>/<sha256>.onnx`, kept
 * while a queued or running job of that tenant needs one (a restart re-runs from it) and
 * removed after. Each tenant's blobs are its own: deleting or finishing one tenant's job never
 * touches the file another tenant's job reads.
 *
 * The store is asynchronous, so "no job needs this file" and the unlink are no longer one turn
 * of the event loop: the moves, job creations and removals of one blob take turns through a
 * lock per blob, in this process (the one that owns the data directory).
 */
import { createHash } from 'node:crypto';
import { createReadStream, mkdirSync, readdirSync, renameSync, unlinkSync } from 'node:fs';
import { access, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { DEFAULT_TENANT, TenantScope } from './scope.js';
import type { JobRepository } from './repository.js';
import { MissingBlobError, type ModelBlobs, type OpenedBlob } from './blobs.js';

/** SHA-256 of a file, streamed (uploads can be hundreds of MiB). */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}

const MODEL_FILE = /^[0-9a-f]{64}\.onnx$/;

/** A tenant's folder name: a hash, since tenant names come from the operator's key list. */
function tenantFolder(tenant: string): string {
  return `t-${createHash('sha256').update(tenant).digest('hex').slice(0, 32)}`;
}

/** The embedded {@link ModelBlobs}: files in the data directory, which the one process owns. */
export class ModelFiles implements ModelBlobs {
  /** Per blob path: the tail of the operations on it that hold or wait for its lock. */
  private readonly locks = new Map<string, Promise<void>>();

  constructor(private readonly dir: string, private readonly store: Pick<JobRepository, 'modelInUse'>) {
    mkdirSync(dir, { recursive: true });
    // Models queued by a data directory from before tenants belong to the default tenant.
    const legacy = readdirSync(dir).filter((name) => MODEL_FILE.test(name));
    if (legacy.length > 0) {
      const target = join(dir, tenantFolder(DEFAULT_TENANT));
      mkdirSync(target, { recursive: true });
      for (const name of legacy) renameSync(join(dir, name), join(target, name));
    }
  }

  pathOf(owner: TenantScope, sha256: string): string {
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw new RangeError(`not a sha256: ${sha256}`);
    return join(this.dir, tenantFolder(owner.tenant), `${sha256}.onnx`);
  }

  /**
   * Moves an upload into place (the same content already there is replaced atomically) and
   * creates the job that needs it with `createJob`, both under the blob's lock, so that
   * {@link releaseIfUnused} cannot remove the file between the two. When `createJob` fails, the
   * file goes again unless another job needs it.
   */
  adopt<T>(owner: TenantScope, uploadPath: string, sha256: string, createJob: () => Promise<T>): Promise<T> {
    const path = this.pathOf(owner, sha256);
    return this.exclusive(path, async () => {
      mkdirSync(join(path, '..'), { recursive: true });
      await rename(uploadPath, path);
      try {
        return await createJob();
      } catch (err) {
        await this.removeUnlessNeeded(owner, sha256, path);
        throw err;
      }
    });
  }

  /** The file itself: the audit child opens it in place. */
  async open(owner: TenantScope, sha256: string): Promise<OpenedBlob> {
    const path = this.pathOf(owner, sha256);
    try {
      await access(path);
    } catch {
      throw new MissingBlobError(sha256);
    }
    return { path, close: () => Promise.resolve() };
  }

  /** Removes the tenant's model once no queued or running job of it needs the file. */
  releaseIfUnused(owner: TenantScope, sha256: string): Promise<void> {
    const path = this.pathOf(owner, sha256);
    return this.exclusive(path, () => this.removeUnlessNeeded(owner, sha256, path));
  }

  private async removeUnlessNeeded(owner: TenantScope, sha256: string, path: string): Promise<void> {
    if (await this.store.modelInUse(owner, sha256)) return;
    try {
      unlinkSync(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') console.error(`alias-audit: cannot remove model ${sha256}:`, err);
    }
  }

  /** Runs `operation` once every earlier operation on the same blob has ended (settled either way). */
  private async exclusive<T>(path: string, operation: () => Promise<T>): Promise<T> {
    const before = this.locks.get(path) ?? Promise.resolve();
    let release!: () => void;
    const done = new Promise<void>((resolve) => (release = resolve));
    const tail = before.then(() => done);
    this.locks.set(path, tail);
    try {
      await before;
      return await operation();
    } finally {
      release();
      if (this.locks.get(path) === tail) this.locks.delete(path);
    }
  }
}
