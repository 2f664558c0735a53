/**
 * `/session`: browsers sign in with an API key (a session cookie, see http/session.ts), read
 * who they are and their CSRF token, and sign out. Scripts keep using the bearer header.
 */
import { Request, Response, Router } from 'express';
import { ServiceError } from '../errors.js';
import type { Principal } from '../http/auth.js';
import { DEFAULT_TENANT } from '../jobs/scope.js';
import { clearSessionCookie, KeyResolver, SessionClaims, SessionSigner, setSessionCookie } from '../http/session.js';
import { sendSignInPage } from '../web/pages.js';

export interface SessionRouteDeps {
  signer: SessionSigner;
  /** Turns a key into its caller; undefined when the server has no API keys (nothing to sign in to). */
  resolveKey: KeyResolver | undefined;
}


/** What GET /session and a JSON sign-in answer (the `Session` schema of openapi.yaml). */
function sessionView(how: 'none' | 'key' | 'session', principal: Principal, signer: SessionSigner, claims?: SessionClaims): Record<string, unknown> {
  const view: Record<string, unknown> = { authentication: how, tenant: principal.tenant, admin: principal.admin };
  if (claims) {
    view.expiresAt = new Date(claims.exp * 1000).toISOString();
    view.csrfToken = signer.csrfToken(claims);
  }
  return view;
}

function fromForm(req: Request): boolean {
  return req.is('application/x-www-form-urlencoded') === 'application/x-www-form-urlencoded';
}

function refuseKey(req: Request, res: Response, signer: SessionSigner): void {
  // The page's own form gets the page back with the reason; API clients get problem+json.
  if (fromForm(req)) return sendSignInPage(res, signer.ttlMs, 401, 'That key is not known here. Check it (no spaces around it) and try again.');
  throw new ServiceError('UNAUTHORIZED', 'the API key is not known');
}

export function sessionRouter({ signer, resolveKey }: SessionRouteDeps): Router {
  const router = Router();

  router.get('/session', (_req, res) => {
    res.set('Cache-Control', 'no-store');
    if (!resolveKey) return res.json(sessionView('none', { tenant: DEFAULT_TENANT, admin: false }, signer));
    const claims = res.locals.session as SessionClaims | undefined;
    const principal = res.locals.principal as Principal | undefined;
    if (claims && principal) return res.json(sessionView('session', principal, signer, claims));
    if (principal) return res.json(sessionView('key', principal, signer));
    throw new ServiceError('UNAUTHORIZED', 'not signed in: POST /session with an API key, or send "Authorization: Bearer <key>"');
  });

  router.post('/session', (req, res) => {
    if (!resolveKey) throw new ServiceError('NOT_FOUND', 'this server has no API keys: there is nothing to sign in to');
    const key = (req.body as { key?: unknown } | undefined)?.key;
    const principal = typeof key === 'string' ? resolveKey(key.trim()) : undefined;
    if (typeof key !== 'string' || !principal) return refuseKey(req, res, signer);
    const { value, claims } = signer.issue(principal);
    setSessionCookie(req, res, value, claims);
    res.set('Cache-Control', 'no-store');
    // See Other: the browser follows with a GET of the upload page, now signed in.
    if (fromForm(req)) return res.redirect(303, '/');
    res.status(201).json(sessionView('session', principal, signer, claims));
  });

  router.delete('/session', (req, res) => {
    clearSessionCookie(req, res);
    res.status(204).end();
  });

  return router;
}
