/**
 * Rate limits per API key (or client IP without one): submissions and deletions have a small
 * budget, reads of /audits a large one (clients poll). Runs before the upload is parsed, so a
 * limited client cannot make the server store its upload first.
 */
import type { Request, RequestHandler, Response } from 'express';
import { ipKeyGenerator, rateLimit } from 'express-rate-limit';
import type { RateLimitConfig } from '../config.js';
import { ServiceError } from '../errors.js';

function limiter(windowMs: number, limit: number, what: string): RequestHandler {
  return rateLimit({
    windowMs,
    limit,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    keyGenerator: (req: Request, res: Response) => (res.locals.apiKeyId as string | undefined) ?? ipKeyGenerator(req.ip ?? 'unknown'),
    handler: (_req, res, next) => {
      const retry = res.get('Retry-After');
      next(new ServiceError('RATE_LIMITED', `more than ${limit} ${what} in ${windowMs / 1000} s; slow down`, { headers: retry ? { 'Retry-After': retry } : {} }));
    },
  });
}

export function rateLimits(config: RateLimitConfig): RequestHandler {
  const writes = config.writes > 0 ? limiter(config.windowMs, config.writes, 'submissions or deletions') : null;
  const reads = config.reads > 0 ? limiter(config.windowMs, config.reads, 'reads') : null;
  return (req, res, next) => {
    const isAudits = req.path === '/audit' || req.path === '/audits' || req.path.startsWith('/audits/') || req.path === '/runs' || req.path.startsWith('/runs/');
    if (!isAudits) return next();
    const l = req.method === 'GET' || req.method === 'HEAD' ? reads : writes;
    return l ? l(req, res, next) : next();
  };
}
