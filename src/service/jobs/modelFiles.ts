/**
 * Uploaded models on disk, by content: `<dir>/<sha256>.onnx`, kept while a queued or running
 * job needs one (a restart re-runs from it) and removed after.
 */
import { createHash } from 'node:crypto';
import { createReadStream, mkdirSync, unlinkSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { JobStore } from './store.js';

/** SHA-256 of a file, streamed (uploads can be hundreds of MiB). */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}

export class ModelFiles {
  constructor(private readonly dir: string, private readonly store: JobStore) {
    mkdirSync(dir, { recursive: true });
  }

  pathOf(sha256: string): string {
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw new RangeError(`not a sha256: ${sha256}`);
    return join(this.dir, `${sha256}.onnx`);
  }

  /**
   * Moves an upload into place; the same content already there is replaced atomically. The
   * caller must create the job that needs the file right after this resolves, with no await in
   * between, so {@link releaseIfUnused} cannot remove the file first.
   */
  async adopt(uploadPath: string, sha256: string): Promise<void> {
    await rename(uploadPath, this.pathOf(sha256));
  }

  /**
   * Removes the model once no queued or running job needs it. Synchronous on purpose: the
   * check and the unlink happen in one turn of the event loop, so a new job for the same
   * model (created right after its upload is adopted) cannot slip in between.
   */
  releaseIfUnused(sha256: string): void {
    if (this.store.modelInUse(sha256)) return;
    try {
      unlinkSync(this.pathOf(sha256));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') console.error(`alias-audit: cannot remove model ${sha256}:`, err);
    }
  }
}
