/**
 * Model bytes by owner and content (sha256), kept while a queued or running job of that owner
 * needs them and removed after: the reference count is the store's own count of such jobs
 * ({@link JobRepository.modelInUse}), read under a lock that the creation of a job needing the
 * same blob also holds. Embedded: files in the data directory (modelFiles.ts). Distributed: rows
 * in PostgreSQL that every worker machine reads (pg/pgBlobs.ts).
 */
import type { TenantScope } from './scope.js';

/** A local copy (or the file itself) of a blob, for the audit child to open. */
export interface OpenedBlob {
  path: string;
  /** Removes a temporary copy; a no-op where the blob already was a local file. Idempotent. */
  close(): Promise<void>;
}

export interface ModelBlobs {
  /**
   * Takes the upload's bytes as the owner's blob `sha256` (the same content already there stays
   * or is replaced) and creates the job that needs it with `createJob`, under the blob's lock, so
   * that {@link releaseIfUnused} cannot remove the blob between the two. When `createJob`
   * throws, the blob goes again unless another job needs it. The upload file itself is left
   * where it is or moved; the caller removes whatever is left at `uploadPath`.
   */
  adopt<T>(owner: TenantScope, uploadPath: string, sha256: string, createJob: () => Promise<T>): Promise<T>;
  /** Removes the owner's blob once no queued or running job of the owner needs it. */
  releaseIfUnused(owner: TenantScope, sha256: string): Promise<void>;
  /** The blob as a local file for a worker; rejects with a {@link MissingBlobError} when it is gone. */
  open(owner: TenantScope, sha256: string): Promise<OpenedBlob>;
  /**
   * Removes blobs older than `olderThanMs` that no queued or running job needs: those of a
   * process that died between storing a blob and creating its job, or before releasing it.
   * Returns how many went. Optional: the embedded service's one process needs no sweep.
   */
  sweepUnused?(olderThanMs: number): Promise<number>;
}

/** The job's model is not stored (it was released, or never stored): the job cannot run. */
export class MissingBlobError extends Error {
  constructor(readonly sha256: string) {
    super(`the model ${sha256} is no longer stored`);
    this.name = 'MissingBlobError';
  }
}
