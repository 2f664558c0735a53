/**
 * The servers a distributed service depends on (PostgreSQL, Redis): their errors become 503
 * problems with Retry-After instead of 500s, and /readyz checks that each answers. Both clients
 * reconnect by themselves (pg's pool opens a new connection per checkout, ioredis retries), so
 * the service recovers when a server comes back, without a restart.
 */
import { ServiceError } from './errors.js';
import type { Store } from './jobs/repository.js';
import type { CheckState } from './readiness.js';

export type Dependency = 'database' | 'redis';

/** Node's errors of a connection that failed or broke. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);
/** pg's own words for a connection it lost or could not get. */
const PG_CONNECTION_MESSAGES = /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection ended|the database system is (starting up|shutting down)/i;

/**
 * Whether a PostgreSQL error means "the database is not reachable" (as opposed to a bug or a
 * constraint): network errors, SQLSTATE class 08 (connection exception), 57P01-57P03 (the server
 * shuts down or is starting), 53300 (too many connections).
 */
export function isDatabaseUnreachable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && (NETWORK_CODES.has(code) || code.startsWith('08') || /^57P0[123]$/.test(code) || code === '53300')) return true;
  if (err instanceof AggregateError) return err.errors.some(isDatabaseUnreachable);
  return PG_CONNECTION_MESSAGES.test(err.message);
}

export function storeUnavailable(err: unknown): ServiceError {
  const why = err instanceof Error ? err.message : String(err);
  return new ServiceError('STORE_UNAVAILABLE', `the database (PostgreSQL) is unreachable (${why}); try again shortly`, { headers: { 'Retry-After': '10' } });
}

/**
 * The store with every call's "database unreachable" error turned into STORE_UNAVAILABLE; other
 * errors pass as they are. A proxy, because the store's many methods (and `runs`) all need the
 * same treatment and a hand-written wrapper would have to follow every new one.
 */
export function guardStore(store: Store): Store {
  return guarded(store);
}

/** Any port on the database (the model blobs) with the same mapping as {@link guardStore}. */
export function guardDatabaseCalls<T extends object>(port: T): T {
  return guarded(port);
}

function guarded<T extends object>(target: T): T {
  return new Proxy(target, {
    get(t, property, receiver) {
      const value: unknown = Reflect.get(t, property, receiver);
      if (property === 'runs' && typeof value === 'object' && value !== null) return guarded(value);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]): unknown => {
        const result: unknown = (value as (...a: unknown[]) => unknown).apply(t, args);
        if (!(result instanceof Promise)) return result;
        return result.catch((err: unknown) => {
          throw isDatabaseUnreachable(err) ? storeUnavailable(err) : err;
        });
      };
    },
  });
}

/** How long /readyz waits for one server's answer, and how long an answer counts as current. */
const CHECK_DEADLINE_MS = 2_000;
const CHECK_FRESH_MS = 1_000;

/** Checks that each server answers (a ping), at most once a second, each within a deadline. */
export class DependencyChecks {
  private last: { at: number; states: Promise<Record<Dependency, CheckState>> } | null = null;

  constructor(private readonly pings: Record<Dependency, { name: string; ping: () => Promise<void> }>) {}

  states(): Promise<Record<Dependency, CheckState>> {
    if (this.last && Date.now() - this.last.at < CHECK_FRESH_MS) return this.last.states;
    const states = (async () => {
      const entries = await Promise.all(
        (Object.entries(this.pings) as [Dependency, { name: string; ping: () => Promise<void> }][]).map(async ([dep, { name, ping }]) => {
          const started = performance.now();
          try {
            await withDeadline(ping(), CHECK_DEADLINE_MS, `${name} did not answer within ${CHECK_DEADLINE_MS / 1000} s`);
            return [dep, { status: 'ok', detail: `${name} answers (${Math.round(performance.now() - started)} ms)` }] as const;
          } catch (err) {
            const message = err instanceof ServiceError ? err.detail : err instanceof Error ? err.message : String(err);
            return [dep, { status: 'failed', error: { name: `${name}Unreachable`, message } }] as const;
          }
        }),
      );
      return Object.fromEntries(entries) as Record<Dependency, CheckState>;
    })();
    this.last = { at: Date.now(), states };
    return states;
  }
}

function withDeadline<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  p.catch(() => undefined);
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}
