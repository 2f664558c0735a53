/**
 * Uploaded models on disk, by tenant and content: `<dir>/<tenant hash>/<sha256>.onnx`, kept
 * while a queued or running job of that tenant needs one (a restart re-runs from it) and
 * removed after. Each tenant's blobs are its own: deleting or finishing one tenant's job never
 * touches the file another tenant's job reads.
 */
import { createHash } from 'node:crypto';
import { createReadStream, mkdirSync, readdirSync, renameSync, unlinkSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { DEFAULT_TENANT, TenantScope } from './scope.js';
import type { JobStore } from './store.js';

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

export class ModelFiles {
  constructor(private readonly dir: string, private readonly store: JobStore) {
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
   * Moves an upload into place; the same content already there is replaced atomically. The
   * caller must create the job that needs the file right after this resolves, with no await in
   * between, so {@link releaseIfUnused} cannot remove the file first.
   */
  async adopt(owner: TenantScope, uploadPath: string, sha256: string): Promise<void> {
    const path = this.pathOf(owner, sha256);
    mkdirSync(join(path, '..'), { recursive: true });
    await rename(uploadPath, path);
  }

  /**
   * Removes the tenant's model once no queued or running job of it needs the file. Synchronous
   * on purpose: the check and the unlink happen in one turn of the event loop, so a new job for
   * the same model (created right after its upload is adopted) cannot slip in between.
   */
  releaseIfUnused(owner: TenantScope, sha256: string): void {
    if (this.store.modelInUse(owner, sha256)) return;
    try {
      unlinkSync(this.pathOf(owner, sha256));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') console.error(`alias-audit: cannot remove model ${sha256}:`, err);
    }
  }
}
