/** The one error middleware: every error becomes an `application/problem+json` response (RFC 9457). */
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { Problem, ServiceError, toServiceError } from '../errors.js';

export const PROBLEM_JSON = 'application/problem+json';

/** Writes a problem document; `instance` is the request's path. */
export function sendProblem(res: Parameters<RequestHandler>[1], problem: Problem, instance: string): void {
  res.status(problem.status).type(PROBLEM_JSON).json({ ...problem, instance });
}

/** For requests no route took. */
export const notFound: RequestHandler = (req, _res, next) => {
  next(new ServiceError('NOT_FOUND', `no resource at ${req.method} ${req.path}`));
};

export const problemHandler: ErrorRequestHandler = (err: unknown, req, res, next) => {
  const e = toServiceError(err);
  if (e.code === 'INTERNAL' || e.code === 'AUDIT_CRASHED') console.error(`alias-audit: ${req.method} ${req.originalUrl}:`, err);
  if (res.headersSent) {
    // Too late for a problem document (e.g. an event stream): end the response, let express close it.
    return next(err);
  }
  for (const [name, value] of Object.entries(e.extra.headers ?? {})) res.set(name, value);
  if (e.status === 401) res.set('WWW-Authenticate', 'Bearer realm="alias-audit"');
  sendProblem(res, e.toProblem(), req.originalUrl.split('?')[0]);
};
