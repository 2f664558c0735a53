/**
 * Uploads are streamed to disk by multer (never held in memory), into the data directory's
 * uploads/ folder, with the configured size limit; whatever a request leaves there is removed
 * when its response ends. A body declared too large is refused from its headers, before a byte
 * of it is read; a body that is not well-formed multipart, or names its file with control
 * characters, is the client's mistake (400), not ours.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import type { ErrorRequestHandler, Request, RequestHandler } from 'express';
import multer from 'multer';
import { ServiceError } from '../errors.js';

/** Room for the multipart framing and the option fields around the model file. */
export const MULTIPART_OVERHEAD_BYTES = 64 * 1024;

/**
 * Answers 413 when Content-Length announces more than an upload may be. The connection is
 * closed after the answer, so the body is neither read nor stored.
 */
export function refuseOversizedBodies(maxUploadBytes: number): RequestHandler {
  return (req, res, next) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > maxUploadBytes + MULTIPART_OVERHEAD_BYTES) {
      res.setHeader('Connection', 'close');
      next(new ServiceError('PAYLOAD_TOO_LARGE', `the request body has ${declared} bytes; uploads take at most ${maxUploadBytes} bytes`));
      return;
    }
    next();
  };
}

/** Why this request's file was not taken, set by the file filter. */
const refusals = new WeakMap<Request, ServiceError>();

/** The file fields an upload may have, each once: the model and (POST /audit) a baseline report. */
const FILE_FIELDS: readonly string[] = ['model', 'baselineReport'];
/** The file fields seen so far in each request. */
const fileFieldsSeen = new WeakMap<Request, Set<string>>();

/** Control characters (CR, LF, NUL, ...) in a file name: a header injection or a truncation trick. */
// eslint-disable-next-line no-control-regex -- control characters are what it finds
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/;

/** busboy's and multer's words for a body that is not well-formed multipart/form-data (or was cut off). */
const MALFORMED_MULTIPART =
  /^(Malformed (part header|urlencoded form|content type)|Unexpected end of (form|file)|Part terminated early|Multipart: Boundary not found|Unsupported content type|Missing Content-Type|Request (aborted|closed|error))\b/i;

/**
 * After the multipart parser: a refused file name or a malformed body becomes MALFORMED_UPLOAD
 * (the validator would answer the first as a missing field and the second as a 500).
 */
export function uploadProblems(): [RequestHandler, ErrorRequestHandler] {
  const refused: RequestHandler = (req, _res, next) => {
    next(refusals.get(req));
  };
  const malformed: ErrorRequestHandler = (err: unknown, req, _res, next) => {
    const why = refusals.get(req);
    if (why !== undefined) return next(why);
    const status = (err as { status?: unknown } | null)?.status;
    if (err instanceof Error && status === 500 && MALFORMED_MULTIPART.test(err.message)) {
      return next(new ServiceError('MALFORMED_UPLOAD', `the multipart/form-data body is malformed: ${err.message.split('\n')[0]}`));
    }
    next(err);
  };
  return [refused, malformed];
}

/** multer options for the OpenAPI validator's file uploader. */
export function uploadOptions(dir: string, maxBytes: number): multer.Options {
  return {
    storage: multer.diskStorage({
      destination: dir,
      filename: (_req, _file, cb) => cb(null, `${randomUUID()}.upload`),
    }),
    fileFilter: (req, file, cb) => {
      if (CONTROL_CHARACTERS.test(file.originalname) || CONTROL_CHARACTERS.test(file.fieldname)) {
        refusals.set(req, new ServiceError('MALFORMED_UPLOAD', 'the uploaded file\'s name or field name holds control characters (CR, LF, NUL, ...)'));
        return cb(null, false);
      }
      // Refused here, not by the validator: a stray file is UNEXPECTED_FILE, whatever the route's form says.
      const seen = fileFieldsSeen.get(req) ?? new Set<string>();
      fileFieldsSeen.set(req, seen);
      if (!FILE_FIELDS.includes(file.fieldname) || seen.has(file.fieldname)) {
        refusals.set(req, new ServiceError('UNEXPECTED_FILE', `only the model is taken, once, in the field "model" (and, for POST /audit, a report in "baselineReport"); got another file in "${file.fieldname}"`));
        return cb(null, false);
      }
      seen.add(file.fieldname);
      cb(null, true);
    },
    // The model (and, for POST /audit, a baseline report), a handful of short option fields.
    limits: { fileSize: maxBytes, files: 2, fields: 32, fieldSize: 4096, parts: 40, headerPairs: 200 },
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
    // A file cut off mid-upload (the client went away) may have no path yet: nothing to remove.
    for (const f of list) if (typeof f.path === 'string') void rm(f.path, { force: true });
  });
  next();
};
