/**
 * The one error middleware: every error becomes an `application/problem+json` response (RFC 9457)
 * with the request's correlation id. What a client sees never holds a stack trace or a path of
 * this machine; the log gets the error whole, under the same id.
 */
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { Problem, publicDetail, ServiceError, toServiceError } from '../errors.js';
import { Logger, requestIdOf, requestLog } from '../logging.js';

export const PROBLEM_JSON = 'application/problem+json';

/**
 * Writes a problem document; `instance` is the request's path. Stored problems (a failed job's)
 * pass here too, so one written before details were cleaned is cleaned on the way out.
 */
export function sendProblem(res: Parameters<RequestHandler>[1], problem: Problem, instance: string): void {
  const requestId = requestIdOf(res);
  res.status(problem.status).type(PROBLEM_JSON).json({ ...problem, detail: publicDetail(problem.detail), instance, ...(requestId ? { requestId } : {}) });
}

/** What a client learns of a bug: that the log has it, under the request id beside this. */
const INTERNAL_DETAIL = 'internal error; the server log has the details under this requestId';

/** For requests no route took. */
export const notFound: RequestHandler = (req, _res, next) => {
  next(new ServiceError('NOT_FOUND', `no resource at ${req.method} ${req.path}`));
};

/** The error middleware; `logger` when a request has no logger of its own. */
export function problemHandler(logger: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, next) => {
    const e = toServiceError(err);
    // A bug or a crash: the log gets the error whole (message, stack) under the request's id.
    if (e.code === 'INTERNAL' || e.code === 'AUDIT_CRASHED') requestLog(req, logger).error({ err, code: e.code }, `${req.method} ${req.path} failed`);
    if (res.headersSent) {
      // Too late for a problem document (e.g. an event stream): end the response, let express close it.
      return next(err);
    }
    for (const [name, value] of Object.entries(e.extra.headers ?? {})) res.set(name, value);
    if (e.status === 401) res.set('WWW-Authenticate', 'Bearer realm="alias-audit"');
    // An internal error's own words (a thread's message, say) are for the log, which has them.
    const problem = e.code === 'INTERNAL' ? { ...e.toProblem(), detail: INTERNAL_DETAIL } : e.toProblem();
    sendProblem(res, problem, req.originalUrl.split('?')[0]);
  };
}
