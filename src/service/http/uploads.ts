/**
 * Uploads are streamed to disk by multer (never held in memory), into the data directory's
 * uploads/ folder, with the configured size limit; whatever a request leaves there is removed
 * when its response ends.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import type { RequestHandler } from 'express';
import multer from 'multer';

/** multer options for the OpenAPI validator's file uploader. */
export function uploadOptions(dir: string, maxBytes: number): multer.Options {
  return {
    storage: multer.diskStorage({
      destination: dir,
      filename: (_req, _file, cb) => cb(null, `${randomUUID()}.upload`),
    }),
    // One file (the model), a handful of short option fields.
    limits: { fileSize: maxBytes, files: 1, fields: 32, fieldSize: 4096, parts: 40, headerPairs: 200 },
  };
}

/** Empties (or creates) the uploads folder at start-up: leftovers of a killed process. */
export function resetUploadDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
}

/** Removes the request's uploaded files once its response is done (moved ones are gone already). */
export const removeUploadsAfterResponse: RequestHandler = (req, res, next) => {
  res.on('close', () => {
    const files = req.files;
    const list = Array.isArray(files) ? files : files ? Object.values(files).flat() : [];
    for (const f of list) void rm(f.path, { force: true });
  });
  next();
};
