/**
 * API keys as tenants: `Authorization: Bearer <key>`. A key is listed as `tenant:key` (the
 * tenant named) or bare (then it is a tenant of its own, named from the key's hash, never from
 * the key); admin keys see every tenant's jobs and runs. Keys are held only as SHA-256 digests
 * and compared in constant time; the key file stores digests, never keys. With no keys at all,
 * everything is open and belongs to one tenant, "default".
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { RequestHandler, Response } from 'express';
import type { ServiceConfig } from '../config.js';
import { ServiceError } from '../errors.js';
import { DEFAULT_TENANT, Scope } from '../jobs/scope.js';
import { isSignInPath } from './session.js';

/** Who a request acts for: `res.locals.principal`, set by {@link bearerAuth} (or a session). */
export interface Principal {
  tenant: string;
  /** Sees every tenant's jobs and runs; still owns what it creates under its own tenant. */
  admin: boolean;
}

/** A configuration mistake in the keys or the bind address: the server does not start. */
export class AuthSetupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AuthSetupError';
  }
}

export const MIN_KEY_LENGTH = 16;
const TENANT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const DIGEST_HEX = /^[0-9a-f]{64}$/;

/** SHA-256 of a key, hex: what the key file holds (`printf %s KEY | sha256sum`). */
export function keyDigest(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** The tenant of a key listed without a name: from its digest, so the key never shows. */
export function ownTenant(digestHex: string): string {
  return `key-${digestHex.slice(0, 16)}`;
}

/**
 * One entry of `--api-keys` / `--admin-keys`: `tenant:key`, or a bare key (a key with a colon
 * must then be given a tenant). Throws RangeError naming what is wrong, never the key.
 */
export function parseKeyEntry(entry: string): { tenant: string | null; key: string } {
  const colon = entry.indexOf(':');
  const tenant = colon > 0 ? entry.slice(0, colon) : null;
  const key = colon > 0 ? entry.slice(colon + 1) : entry;
  if (tenant !== null && !TENANT_NAME.test(tenant)) throw new RangeError(`a tenant name is 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit (got ${JSON.stringify(tenant)})`);
  if (key.length < MIN_KEY_LENGTH) throw new RangeError(`API keys must be at least ${MIN_KEY_LENGTH} characters`);
  return { tenant, key };
}

/**
 * Reads a key file: one key a line, `[tenant] sha256:<hex> [admin]`; `#` starts a comment.
 * Without a tenant the key is a tenant of its own, as on the command line.
 */
export function parseKeyFile(text: string, file: string): { digest: string; principal: Principal }[] {
  const out: { digest: string; principal: Principal }[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') return;
    const fields = line.split(/\s+/);
    const admin = fields[fields.length - 1] === 'admin';
    if (admin) fields.pop();
    const [tenant, hashed] = fields.length === 1 ? [null, fields[0]] : fields.length === 2 ? fields : [null, ''];
    const hex = /^sha256:(.*)$/i.exec(hashed)?.[1].toLowerCase() ?? '';
    if (!DIGEST_HEX.test(hex)) {
      throw new AuthSetupError(`${file} line ${i + 1}: expected "[tenant] sha256:<64 hex digits> [admin]" (the key's hash, from: printf %s KEY | sha256sum)`);
    }
    if (tenant !== null && !TENANT_NAME.test(tenant)) throw new AuthSetupError(`${file} line ${i + 1}: a tenant name is 1-64 letters, digits, ".", "_" or "-"`);
    out.push({ digest: hex, principal: { tenant: tenant ?? ownTenant(hex), admin } });
  });
  return out;
}

/** The known keys, by digest; answers who a key is. */
export class ApiKeys {
  private readonly digests: Buffer[] = [];
  private readonly principals: Principal[] = [];

  add(digestHex: string, principal: Principal, where: string): void {
    const digest = Buffer.from(digestHex, 'hex');
    const i = this.digests.findIndex((d) => d.equals(digest));
    if (i >= 0) {
      const p = this.principals[i];
      if (p.tenant === principal.tenant && p.admin === principal.admin) return;
      throw new AuthSetupError(`${where}: a key is listed twice, for different tenants or roles (${p.tenant} and ${principal.tenant})`);
    }
    this.digests.push(digest);
    this.principals.push(principal);
  }

  /** Whether keys are required at all. */
  get enabled(): boolean {
    return this.digests.length > 0;
  }

  get size(): number {
    return this.digests.length;
  }

  /** The principal of a presented key, or undefined for an unknown one (for sessions too). */
  principalForKey(key: string): Principal | undefined {
    const given = createHash('sha256').update(key).digest();
    // Compare with every key (no early exit), so timing does not tell which one matched.
    let found = -1;
    this.digests.forEach((d, i) => {
      if (timingSafeEqual(d, given)) found = i;
    });
    return found >= 0 ? { ...this.principals[found] } : undefined;
  }
}

/** The keys of `--api-keys`, `--admin-keys` and `--api-keys-file` (read now). */
export function loadApiKeys(config: Pick<ServiceConfig, 'apiKeys' | 'adminKeys' | 'apiKeysFile'>): ApiKeys {
  const keys = new ApiKeys();
  const addEntries = (entries: readonly string[], admin: boolean, where: string): void => {
    for (const entry of entries) {
      let parsed: { tenant: string | null; key: string };
      try {
        parsed = parseKeyEntry(entry);
      } catch (err) {
        throw new AuthSetupError(`${where}: ${(err as Error).message}`);
      }
      const digest = keyDigest(parsed.key);
      keys.add(digest, { tenant: parsed.tenant ?? ownTenant(digest), admin }, where);
    }
  };
  addEntries(config.apiKeys, false, '--api-keys');
  addEntries(config.adminKeys, true, '--admin-keys');
  if (config.apiKeysFile) {
    let text: string;
    try {
      text = readFileSync(config.apiKeysFile, 'utf8');
    } catch (err) {
      throw new AuthSetupError(`cannot read the API key file ${config.apiKeysFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    for (const { digest, principal } of parseKeyFile(text, config.apiKeysFile)) keys.add(digest, principal, config.apiKeysFile);
  }
  return keys;
}

/** 127.0.0.0/8, ::1 (also as ::ffff:127.x.y.z) and localhost. */
export function isLoopbackHost(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) {
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h)?.[1];
    if (mapped) return mapped.startsWith('127.');
    return /^(0{0,4}:){2,7}0{0,3}1$/.test(h) || h === '::1';
  }
  return false;
}

/** Refuses to serve beyond loopback with no keys, unless the operator said so. */
export function checkBindSafety(config: Pick<ServiceConfig, 'host' | 'allowUnauthenticated'>, keys: ApiKeys): void {
  if (keys.enabled || config.allowUnauthenticated || isLoopbackHost(config.host)) return;
  throw new AuthSetupError(
    `refusing to listen on ${config.host} without API keys (anyone who reaches it could run and read every audit): ` +
      'set --api-keys or --api-keys-file, bind 127.0.0.1, or pass --allow-unauthenticated',
  );
}

/** Paths anyone may call: health checks, metrics scrapes, the API's documentation. */
export function isPublicPath(path: string): boolean {
  return path === '/healthz' || path === '/readyz' || path === '/metrics' || path === '/openapi.yaml' || path === '/openapi.json' || path === '/docs' || path.startsWith('/docs/');
}

/** The request's principal; undefined when keys are off (or on a public path). */
export function principalOf(res: Response): Principal | undefined {
  return res.locals.principal as Principal | undefined;
}

/** Sets the request's principal (bearerAuth, and a session cookie's check before it). */
export function setPrincipal(res: Response, principal: Principal): void {
  res.locals.principal = principal;
  // The rate limits' key: the tenant, never the key.
  res.locals.apiKeyId = `t:${principal.tenant}`;
}

/** What the caller may see: its tenant's rows, or every row for an admin key. */
export function scopeOf(res: Response): Scope {
  const p = principalOf(res);
  if (!p) return { tenant: DEFAULT_TENANT };
  return p.admin ? 'admin' : { tenant: p.tenant };
}

/** The tenant the caller's new jobs and runs belong to (an admin's own tenant). */
export function ownerOf(res: Response): { tenant: string } {
  return { tenant: principalOf(res)?.tenant ?? DEFAULT_TENANT };
}

/**
 * With no keys configured, everything is open. Otherwise non-public paths need a known key,
 * unless an earlier middleware (a session cookie) has set the principal already.
 */
export function bearerAuth(keys: ApiKeys): RequestHandler {
  return (req, res, next) => {
    if (!keys.enabled || isPublicPath(req.path) || principalOf(res)) return next();
    const header = req.get('authorization') ?? '';
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    // The sign-in page, its assets and /session answer without a known key: they show the
    // sign-in form or say who the caller is themselves (session.ts).
    const signIn = isSignInPath(req.path);
    if (!m) return signIn ? next() : next(new ServiceError('UNAUTHORIZED', 'send an API key as "Authorization: Bearer <key>"'));
    const principal = keys.principalForKey(m[1]);
    if (!principal) return signIn ? next() : next(new ServiceError('UNAUTHORIZED', 'the API key is not known'));
    setPrincipal(res, principal);
    next();
  };
}
