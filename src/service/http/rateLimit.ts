/**
 * Rate limits per tenant (or client IP without keys): submissions and deletions have a small
 * budget, reads of /audits a large one (clients poll). Runs before the upload is parsed, so a
 * limited client cannot make the server store its upload first. Routes are matched as express
 * matches them (any case, a trailing slash allowed), so `/AUDIT` and `/audit/` count as `/audit`.
 */
import type { Request, RequestHandler, Response } from 'express';
import { ipKeyGenerator, rateLimit, type Store } from 'express-rate-limit';
import type { RateLimitConfig } from '../config.js';
import { ServiceError } from '../errors.js';
import { principalOf } from './auth.js';

/**
 * A path as the router sees it: lower case, without trailing slashes. Express routes
 * case-insensitively and non-strictly, so every spelling it sends to a handler maps to one key.
 */
export function normalisedPath(path: string): string {
  const lower = path.toLowerCase().replace(/\/+$/, '');
  return lower === '' ? '/' : lower;
}

/** The budget a request counts against: its tenant's, else (keys off) its client address's. */
export function callerKey(req: Request, res: Response): string {
  const tenant = principalOf(res)?.tenant;
  return tenant !== undefined ? `t:${tenant}` : `ip:${ipKeyGenerator(req.ip ?? 'unknown')}`;
}

function limiter(windowMs: number, limit: number, what: string, store: Store | undefined): RequestHandler {
  return rateLimit({
    windowMs,
    limit,
    // Shared counters (Redis) that cannot be reached let requests through: the routes behind
    // answer 503 for what needs Redis, and reads need not fail for a limiter.
    ...(store ? { store, passOnStoreError: true } : {}),
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    keyGenerator: callerKey,
    handler: (_req, res, next) => {
      const retry = res.get('Retry-After');
      next(new ServiceError('RATE_LIMITED', `more than ${limit} ${what} in ${windowMs / 1000} s; slow down`, { headers: retry ? { 'Retry-After': retry } : {} }));
    },
  });
}

/** Whether a (normalised) path is one of the limited API routes. */
function isLimited(path: string): boolean {
  return path === '/audit' || path === '/audits' || path.startsWith('/audits/') || path === '/runs' || path.startsWith('/runs/');
}

/** `shared(kind)`: a store the API processes share (distributed mode); in memory without one. */
export function rateLimits(config: RateLimitConfig, shared?: (kind: 'writes' | 'reads') => Store): RequestHandler {
  const writes = config.writes > 0 ? limiter(config.windowMs, config.writes, 'submissions or deletions', shared?.('writes')) : null;
  const reads = config.reads > 0 ? limiter(config.windowMs, config.reads, 'reads', shared?.('reads')) : null;
  return (req, res, next) => {
    if (!isLimited(normalisedPath(req.path))) return next();
    const l = req.method === 'GET' || req.method === 'HEAD' ? reads : writes;
    return l ? l(req, res, next) : next();
  };
}
