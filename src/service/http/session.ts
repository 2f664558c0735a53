/**
 * Browser sessions and the checks that keep other sites from acting through a visitor's browser.
 *
 * A browser cannot send `Authorization: Bearer`, so with API keys on the sign-in form trades a
 * key for a session cookie: `<claims>.<HMAC-SHA256>` under a server secret, HttpOnly and
 * SameSite=Strict, with an expiry. The cookie carries the caller the key names (tenant, admin)
 * and never the key; several API processes accept each other's cookies when they share the
 * secret. Sessions are stateless: one ends at its expiry, at sign-out (the browser forgets it),
 * or when the secret changes (by default it is random per start).
 *
 * State-changing requests (POST, PUT, PATCH, DELETE) from browsers must come from our own
 * origin, with keys on or off; those that a session cookie authenticates must also carry the
 * session's CSRF token in the `X-CSRF-Token` header, which only a page of ours can read
 * (`GET /session`, answered to same-origin scripts only: the service sends no CORS headers).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Request, RequestHandler, Response } from 'express';
import { ServiceError } from '../errors.js';
import { type Principal, setPrincipal } from './auth.js';

/** Turns an API key into its caller, or undefined when the key is not known (ApiKeys.principalForKey). */
export type KeyResolver = (key: string) => Principal | undefined;

export const SESSION_COOKIE = 'alias_audit_session';
export const CSRF_HEADER = 'X-CSRF-Token';

/** What a session cookie says, signed. */
export interface SessionClaims {
  /** Random per sign-in; the CSRF token is derived from it. */
  sid: string;
  tenant: string;
  admin: boolean;
  /** Expiry, Unix seconds. */
  exp: number;
}

const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** True for methods that change state, which other sites must not trigger. */
export function isStateChanging(method: string): boolean {
  return UNSAFE_METHODS.has(method.toUpperCase());
}

function isClaims(v: unknown): v is SessionClaims {
  const c = v as Partial<SessionClaims> | null;
  return (
    typeof c === 'object' && c !== null &&
    typeof c.sid === 'string' && typeof c.tenant === 'string' && typeof c.admin === 'boolean' &&
    typeof c.exp === 'number' && Number.isFinite(c.exp)
  );
}

/** Signs and checks session cookies and their CSRF tokens with one secret. */
export class SessionSigner {
  private readonly secret: Buffer;

  /** `secret` undefined: a random one, so cookies last as long as this process. */
  constructor(secret: string | undefined, readonly ttlMs: number) {
    this.secret = secret === undefined ? randomBytes(32) : Buffer.from(secret, 'utf8');
  }

  /** Distinct labels keep a session's signature from ever serving as a CSRF token, and back. */
  private mac(label: string, text: string): Buffer {
    return createHmac('sha256', this.secret).update(`${label}\0${text}`).digest();
  }

  /** A new session for the caller a key named. */
  issue(principal: Principal, now = Date.now()): { value: string; claims: SessionClaims } {
    const claims: SessionClaims = { sid: randomBytes(16).toString('base64url'), tenant: principal.tenant, admin: principal.admin, exp: Math.floor((now + this.ttlMs) / 1000) };
    const body = Buffer.from(JSON.stringify(claims)).toString('base64url');
    return { value: `${body}.${this.mac('session', body).toString('base64url')}`, claims };
  }

  /** The claims of a cookie value whose signature holds and which has not expired; else undefined. */
  verify(value: string, now = Date.now()): SessionClaims | undefined {
    const dot = value.indexOf('.');
    if (dot <= 0) return undefined;
    const body = value.slice(0, dot);
    const given = Buffer.from(value.slice(dot + 1), 'base64url');
    const expected = this.mac('session', body);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    let claims: unknown;
    try {
      claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
    } catch {
      return undefined;
    }
    if (!isClaims(claims) || claims.exp * 1000 <= now) return undefined;
    return claims;
  }

  /** The CSRF token of a session: bound to it, so a token of another session is worthless. */
  csrfToken(claims: SessionClaims): string {
    return this.mac('csrf', claims.sid).toString('base64url');
  }

  csrfTokenMatches(claims: SessionClaims, token: string | undefined): boolean {
    if (!token) return false;
    const given = Buffer.from(token, 'base64url');
    const expected = this.mac('csrf', claims.sid);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }
}

/** One cookie's value from the `Cookie` header (no cookie-parser: this is the only cookie). */
export function cookieValue(req: Request, name: string): string | undefined {
  for (const part of (req.get('cookie') ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

function cookieAttributes(req: Request, maxAgeS: number): string {
  // Secure only over HTTPS (or behind a proxy that says so, with --trust-proxy): a plain-HTTP
  // service inside a cluster would otherwise never get its cookie back.
  return `Path=/; Max-Age=${maxAgeS}; HttpOnly; SameSite=Strict${req.secure ? '; Secure' : ''}`;
}

/** Sets the session cookie on the response. */
export function setSessionCookie(req: Request, res: Response, value: string, claims: SessionClaims): void {
  const maxAge = Math.max(0, claims.exp - Math.floor(Date.now() / 1000));
  res.append('Set-Cookie', `${SESSION_COOKIE}=${value}; ${cookieAttributes(req, maxAge)}`);
}

/** Tells the browser to forget the session cookie. */
export function clearSessionCookie(req: Request, res: Response): void {
  res.append('Set-Cookie', `${SESSION_COOKIE}=; ${cookieAttributes(req, 0)}`);
}

/** The host (and port) of a URL, lower case; undefined when it is not a URL with a host ("null"). */
function hostOf(url: string): string | undefined {
  try {
    const u = new URL(url);
    return u.host ? u.host.toLowerCase() : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Why a state-changing request is not from our own pages, or undefined when it may be.
 * `Origin` decides when present (and not "null"), else `Sec-Fetch-Site`, else `Referer`; a request with none of
 * them is not from a browser (curl, CI scripts) and passes. Hosts are compared, not schemes: a
 * proxy that ends TLS makes the service see http while the browser says https.
 */
export function crossOriginReason(req: Request): string | undefined {
  const host = (req.get('host') ?? '').toLowerCase();
  const origin = req.get('origin');
  const site = req.get('sec-fetch-site');
  // "null": a sandboxed frame, a file, or a page under Referrer-Policy no-referrer; then the
  // browser's Sec-Fetch-Site (sent to HTTPS and loopback) still says where it comes from.
  if (origin !== undefined && !(origin === 'null' && site !== undefined)) {
    return hostOf(origin) === host && host !== '' ? undefined : `the request comes from ${JSON.stringify(origin.slice(0, 200))}, not from this server's pages`;
  }
  if (site !== undefined) {
    // "none": the user typed or bookmarked it, no page asked for it.
    return site === 'same-origin' || site === 'none' ? undefined : `the request comes from another site (Sec-Fetch-Site: ${site.slice(0, 40)})`;
  }
  const referer = req.get('referer');
  if (referer !== undefined) {
    return hostOf(referer) === host && host !== '' ? undefined : "the request comes from another site's page (Referer)";
  }
  return undefined;
}

/** Refuses state-changing requests that a browser sends from another origin (403), keys on or off. */
export function sameOriginWrites(): RequestHandler {
  return (req, _res, next) => {
    if (!isStateChanging(req.method)) return next();
    const why = crossOriginReason(req);
    next(why ? new ServiceError('CROSS_ORIGIN', `${why}; post from this server's pages or from a client without Origin`) : undefined);
  };
}

/** Where sign-in happens: reachable without a key (the page itself decides what to show). */
export function isSignInPath(path: string): boolean {
  return path === '/' || path === '/session' || path.startsWith('/assets/');
}

/**
 * With keys on, a request that brings no `Authorization` header but a valid session cookie is
 * the cookie's caller: `res.locals.principal` (as for its key) and `res.locals.session` are
 * set, and bearer auth (which runs next) lets it pass. A state-changing request on a session
 * must carry its CSRF token, else 403 (signing in again needs none: it proves a key). A bad or
 * expired cookie counts as none (and is cleared), so bearer auth answers 401 where a key is needed.
 */
export function sessionAuth(signer: SessionSigner, keysOn: boolean): RequestHandler {
  return (req, res, next) => {
    if (!keysOn || req.get('authorization') !== undefined) return next();
    const value = cookieValue(req, SESSION_COOKIE);
    if (value === undefined) return next();
    const claims = signer.verify(value);
    if (!claims) {
      clearSessionCookie(req, res);
      return next();
    }
    const signingIn = req.method === 'POST' && req.path === '/session';
    if (isStateChanging(req.method) && !signingIn && !signer.csrfTokenMatches(claims, req.get(CSRF_HEADER))) {
      return next(new ServiceError('CSRF_TOKEN_INVALID', `a request on a session cookie needs the session's CSRF token in the ${CSRF_HEADER} header (GET /session has it)`));
    }
    setPrincipal(res, { tenant: claims.tenant, admin: claims.admin });
    res.locals.session = claims;
    next();
  };
}
