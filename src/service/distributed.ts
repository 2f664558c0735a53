/**
 * The distributed implementations of the service's ports, opened from the configuration:
 * PostgreSQL for the store and the model blobs, BullMQ on Redis for the queue and its events,
 * Redis for the shared rate-limit counters. The API (server.ts) and the worker (workerRole.ts)
 * open the same ones; a worker's queue also takes audits.
 */
import { join } from 'node:path';
import type { Store as RateStore } from 'express-rate-limit';
import { Redis } from 'ioredis';
import type { ServiceConfig } from './config.js';
import { DependencyChecks, guardDatabaseCalls, guardStore } from './dependencies.js';
import type { ModelBlobs } from './jobs/blobs.js';
import { PgModelBlobs } from './jobs/pg/pgBlobs.js';
import { PgStore } from './jobs/pg/pgStore.js';
import type { Store } from './jobs/repository.js';
import { RedisRateStore } from './http/redisRateStore.js';
import type { Logger } from './logging.js';
import { BullmqQueue, redisOptions, type BullmqQueueOptions } from './queue/bullmqQueue.js';

export interface DistributedBackends {
  /** The store, its "database unreachable" errors turned into 503 problems. */
  store: Store;
  models: ModelBlobs;
  queue: BullmqQueue;
  dependencies: DependencyChecks;
  sharedRateStore: (kind: 'writes' | 'reads') => RateStore;
  /** Closes the queue (after `graceMs` for running audits), then Redis and the pool. */
  close(graceMs?: number): Promise<void>;
}

export interface OpenOptions {
  logger: Logger;
  /** Where models are copied for an audit child to read (workers); default `<data dir>/blob-copies`. */
  copiesDir?: string;
  /** A worker process: the queue runs audits with what this returns (given the opened store and blobs). */
  worker?: (store: Store, models: ModelBlobs) => Pick<BullmqQueueOptions, 'worker' | 'onAbandoned'>;
}

/** How long a start waits for PostgreSQL and Redis before it gives up with a clear error. */
const CONNECT_DEADLINE_MS = 30_000;

/** Where the queue and the store are, for log lines: hosts and names, never a password. */
export function describeBackends(config: Pick<ServiceConfig, 'redisUrl' | 'databaseUrl'>): string {
  const where = (text: string | null): string => {
    if (!text) return 'none';
    const u = new URL(text);
    return `${u.host || u.searchParams.get('host') || '?'}${u.pathname && u.pathname !== '/' ? u.pathname : ''}`;
  };
  return `Redis ${where(config.redisUrl)}, PostgreSQL ${where(config.databaseUrl)}`;
}

export async function openDistributedBackends(config: ServiceConfig, options: OpenOptions): Promise<DistributedBackends> {
  if (!config.redisUrl || !config.databaseUrl) throw new RangeError('distributed mode needs both a Redis and a PostgreSQL URL');
  const { logger } = options;
  const pg = await within(
    PgStore.open(config.databaseUrl, { onError: (err) => logger.warn({ err: err.message }, 'PostgreSQL connection error') }),
    `PostgreSQL at ${describeBackends({ redisUrl: null, databaseUrl: config.databaseUrl }).replace(/^Redis none, PostgreSQL /, '')}`,
  );
  const store = guardStore(pg);
  const models = guardDatabaseCalls(new PgModelBlobs(pg.blobPool, store, options.copiesDir ?? join(config.dataDir, 'blob-copies')));
  let queue: BullmqQueue;
  try {
    queue = await within(
      BullmqQueue.open({
        redisUrl: config.redisUrl,
        attempts: config.maxAttempts,
        onError: (err) => logger.warn({ err: err.message }, 'Redis connection error'),
        ...options.worker?.(store, models),
      }),
      `Redis at ${new URL(config.redisUrl).host}`,
    );
  } catch (err) {
    await pg.close();
    throw err;
  }
  // Counters fail fast while Redis is away (the limiter then lets requests through) instead of
  // waiting in ioredis's offline queue.
  const counters = new Redis({ ...redisOptions(config.redisUrl), enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  counters.on('error', () => undefined); // the queue's clients already log the same outage
  const dependencies = new DependencyChecks({
    database: { name: 'PostgreSQL', ping: () => pg.ping() },
    redis: { name: 'Redis', ping: () => queue.ping() },
  });
  let closed: Promise<void> | undefined;
  return {
    store,
    models,
    queue,
    dependencies,
    sharedRateStore: (kind) => new RedisRateStore(counters, `alias-audit:rate:${kind}:`),
    close(graceMs = 0) {
      closed ??= (async () => {
        await queue.close(graceMs);
        counters.disconnect();
        await pg.close();
      })();
      return closed;
    },
  };
}

/** `opening`, or a clear error once the deadline passes (a server that never answers would hang the start). */
async function within<T>(opening: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new BackendUnreachableError(`cannot reach ${what} within ${CONNECT_DEADLINE_MS / 1000} s`)), CONNECT_DEADLINE_MS);
  });
  try {
    return await Promise.race([opening, deadline]);
  } catch (err) {
    opening.catch(() => undefined);
    if (err instanceof BackendUnreachableError) throw err;
    throw new BackendUnreachableError(`cannot open ${what}: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    clearTimeout(timer);
  }
}

/** A start that could not reach PostgreSQL or Redis: the operator's setup, exit 2 with one line. */
export class BackendUnreachableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BackendUnreachableError';
  }
}
