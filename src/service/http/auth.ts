/** Optional API keys: `Authorization: Bearer <key>`. Keys are compared by hash, in constant time. */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { ServiceError } from '../errors.js';

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** Paths anyone may call: health checks, metrics scrapes, the API's documentation. */
export function isPublicPath(path: string): boolean {
  return path === '/healthz' || path === '/readyz' || path === '/metrics' || path === '/openapi.yaml' || path === '/openapi.json' || path === '/docs' || path.startsWith('/docs/');
}

/**
 * With no keys configured, everything is open. Otherwise non-public paths need a known key;
 * `res.locals.apiKeyId` (a short hash, never the key) then names the caller for rate limits.
 */
export function bearerAuth(keys: readonly string[]): RequestHandler {
  const digests = keys.map(digest);
  return (req, res, next) => {
    if (digests.length === 0 || isPublicPath(req.path)) return next();
    const header = req.get('authorization') ?? '';
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!m) return next(new ServiceError('UNAUTHORIZED', 'send an API key as "Authorization: Bearer <key>"'));
    const given = digest(m[1]);
    // Compare with every key (no early exit), so timing does not tell which prefix matched.
    let match = false;
    for (const d of digests) match = timingSafeEqual(d, given) || match;
    if (!match) return next(new ServiceError('UNAUTHORIZED', 'the API key is not known'));
    res.locals.apiKeyId = given.toString('hex').slice(0, 16);
    next();
  };
}
