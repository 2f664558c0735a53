/**
 * The service's structured log (pino, one JSON object a line) and its per-request part
 * (pino-http): every request gets a correlation id, taken from a sane incoming `X-Request-Id`
 * or made here, answered in the `X-Request-Id` header and in every problem document, and
 * carried by each log line about the request. Credentials never reach the log.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Request, RequestHandler, Response } from 'express';
import { pino, type DestinationStream, type Logger } from 'pino';
import { pinoHttp } from 'pino-http';

export type { Logger } from 'pino';

export const REQUEST_ID_HEADER = 'X-Request-Id';

/** An incoming id is kept only when it is short and plain (it is echoed and logged). */
const SANE_REQUEST_ID = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/;

/** What the log must never hold, wherever pino-http's serializers put it. */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'req.headers["x-csrf-token"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
];

/** The service's logger: JSON lines to `destination` (default stdout), credentials redacted. */
export function createServiceLogger(destination?: DestinationStream, level = 'info'): Logger {
  const options = { level, base: { service: 'alias-audit' }, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } };
  return destination ? pino(options, destination) : pino(options);
}

/** The request's correlation id (set by {@link requestLogging}). */
export function requestIdOf(res: Response): string | undefined {
  return res.locals.requestId as string | undefined;
}

/** The logger of one request: its lines carry the request's id. */
export function requestLog(req: Request, fallback: Logger): Logger {
  return (req as Request & { log?: Logger }).log ?? fallback;
}

function requestId(req: IncomingMessage, res: ServerResponse): string {
  const given = req.headers['x-request-id'];
  const id = typeof given === 'string' && SANE_REQUEST_ID.test(given) ? given : randomUUID();
  res.setHeader(REQUEST_ID_HEADER, id);
  (res as Response).locals.requestId = id;
  return id;
}

/**
 * The first middleware: the correlation id, `req.log`, and with `accessLog` one line per
 * finished request (method, URL, status, time; 4xx at warn, 5xx at error).
 */
export function requestLogging(logger: Logger, accessLog: boolean): RequestHandler {
  const http = pinoHttp({
    logger,
    genReqId: requestId,
    autoLogging: accessLog,
    customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info'),
  });
  return (req, res, next) => http(req, res, next);
}
