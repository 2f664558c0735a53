/**
 * Caps on long-lived requests: open event streams, `?wait=true` requests, and uploads being
 * received and checked (each check decodes the model in a thread with its own heap). Each kind
 * has a cap for the whole service and one per tenant: a tenant at its own cap gets 429, anyone
 * when the service is at its cap gets 503, both with `Retry-After`. A slot is taken before the
 * body is read and given back when the response closes (or, for an upload, once it is checked).
 */
import type { RequestHandler, Response } from 'express';
import type { InFlightCap, InFlightCaps } from '../config.js';
import { ServiceError } from '../errors.js';
import { flag } from '../formOptions.js';
import { callerKey, normalisedPath } from './rateLimit.js';

export type InFlightKind = keyof InFlightCaps;

/** Names in problem details, and how long a client should wait before it tries again. */
const KINDS: Record<InFlightKind, { what: string; retryAfterS: number }> = {
  eventStreams: { what: 'open event streams', retryAfterS: 10 },
  waitRequests: { what: 'requests waiting for an audit (?wait=true)', retryAfterS: 10 },
  uploadChecks: { what: 'uploads being received or checked', retryAfterS: 5 },
};

/** Counts of one kind, in total and per tenant. */
export class InFlightCounter {
  private total = 0;
  private readonly byTenant = new Map<string, number>();

  constructor(
    readonly kind: InFlightKind,
    private readonly cap: InFlightCap,
  ) {}

  get inFlight(): number {
    return this.total;
  }

  /** Takes a slot for `tenant` or throws 429 (the tenant's cap) / 503 (the service's); the function gives it back, once. */
  acquire(tenant: string): () => void {
    const { what, retryAfterS } = KINDS[this.kind];
    const headers = { 'Retry-After': String(retryAfterS) };
    const mine = this.byTenant.get(tenant) ?? 0;
    if (this.cap.perTenant > 0 && mine >= this.cap.perTenant) {
      throw new ServiceError('TOO_MANY_IN_FLIGHT', `you have ${mine} ${what}, the most one client may have; try again when one has ended`, { headers });
    }
    if (this.cap.global > 0 && this.total >= this.cap.global) {
      throw new ServiceError('SERVICE_BUSY', `the service has ${this.total} ${what}, its limit; try again shortly`, { headers });
    }
    this.total++;
    this.byTenant.set(tenant, mine + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total--;
      const left = (this.byTenant.get(tenant) ?? 1) - 1;
      if (left > 0) this.byTenant.set(tenant, left);
      else this.byTenant.delete(tenant);
    };
  }
}

const EVENTS = /^\/audits\/[^/]+\/events$/;
const UPLOADS = /^\/(?:audit|runs\/[^/]+\/checkpoints)$/;

/** The upload's slot of a request, given back by {@link uploadChecked}. */
const UPLOAD_RELEASE = 'releaseUploadSlot';

/**
 * Gives back the request's upload slot once the upload has been checked and queued (or refused),
 * so that a `?wait=true` request does not hold it while it waits. Harmless when there is none.
 */
export function uploadChecked(res: Response): void {
  (res.locals[UPLOAD_RELEASE] as (() => void) | undefined)?.();
}

/** The middleware; after authentication (it counts per tenant) and before any body is read. */
export function inFlightCaps(caps: InFlightCaps): { middleware: RequestHandler; counters: Record<InFlightKind, InFlightCounter> } {
  const counters: Record<InFlightKind, InFlightCounter> = {
    eventStreams: new InFlightCounter('eventStreams', caps.eventStreams),
    waitRequests: new InFlightCounter('waitRequests', caps.waitRequests),
    uploadChecks: new InFlightCounter('uploadChecks', caps.uploadChecks),
  };
  const middleware: RequestHandler = (req, res, next) => {
    const path = normalisedPath(req.path);
    const kinds: InFlightKind[] = [];
    if ((req.method === 'GET' || req.method === 'HEAD') && EVENTS.test(path)) kinds.push('eventStreams'); // express answers HEAD with the GET route
    if (req.method === 'POST' && UPLOADS.test(path)) {
      if (flag(req.query.wait)) kinds.push('waitRequests');
      kinds.push('uploadChecks');
    }
    if (kinds.length === 0) return next();
    const caller = callerKey(req, res);
    const releases: (() => void)[] = [];
    try {
      for (const kind of kinds) releases.push(counters[kind].acquire(caller));
    } catch (err) {
      for (const release of releases) release();
      return next(err);
    }
    if (kinds.includes('uploadChecks')) res.locals[UPLOAD_RELEASE] = releases[releases.length - 1];
    res.on('close', () => {
      for (const release of releases) release();
    });
    next();
  };
  return { middleware, counters };
}
