/**
 * The service's life: open the data directory, recover interrupted jobs, listen; on close,
 * stop taking work, let running audits finish within the grace period (or re-queue them), and
 * close the database.
 *
 * The composition root of the API: embedded (SQLite, model files in the data directory, the
 * in-process queue running audits here) or distributed (PostgreSQL, BullMQ on Redis; audits run
 * in `alias-audit worker` processes, see workerRole.ts). The routes see only the ports.
 */
import { mkdirSync } from 'node:fs';
import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Express } from 'express';
import { join } from 'node:path';
import { createApp, ResponseViolation, ServiceApp, uploadDir } from './app.js';
import { isDistributed, type ServiceConfig } from './config.js';
import { DependencyChecks } from './dependencies.js';
import { lockDataDir } from './dataDirLock.js';
import { checkBindSafety, loadApiKeys } from './http/auth.js';
import { resetUploadDir } from './http/uploads.js';
import { AuditService } from './jobs/auditService.js';
import type { ModelBlobs } from './jobs/blobs.js';
import { ModelFiles } from './jobs/modelFiles.js';
import { createAuditProcessor } from './jobs/processor.js';
import type { Store } from './jobs/repository.js';
import { JobStore } from './jobs/store.js';
import { createMetrics } from './metrics.js';
import { LocalQueue } from './queue/localQueue.js';
import type { AuditQueue } from './queue/queue.js';
import type { Store as RateStore } from 'express-rate-limit';
import { createServiceLogger, Logger } from './logging.js';
import { Readiness } from './readiness.js';
import { loadSpec } from './spec.js';
import { workerSeal } from './worker/seal.js';

export interface RunningService {
  /** `http://host:port`, with the port actually bound. */
  url: string;
  port: number;
  server: Server;
  app: Express;
  store: Store;
  service: AuditService;
  readiness: Readiness;
  responseViolations: ResponseViolation[];
  /** Event streams, `?wait=true` requests and upload checks in flight, by kind. */
  inFlight: ServiceApp['inFlight'];
  /** Whether API keys are required (from --api-keys, --admin-keys or --api-keys-file). */
  authenticated: boolean;
  /** Jobs found queued or running at start-up and queued again. */
  recovered: { requeued: string[]; failed: string[]; queued: number };
  /** Distributed mode: where the queue and the store are (no passwords); null when embedded. */
  backends: string | null;
  /** Graceful stop; `graceMs` overrides the configured shutdown grace. Idempotent. */
  close(graceMs?: number): Promise<void>;
}

/** Database file in the data directory. */
export const DB_FILE = 'alias-audit.db';

export interface StartOptions {
  /** Where the service's own log lines go (loading the samples at start); default stdout. */
  log?: (line: string) => void;
  /** The structured log (requests, errors, failed audits' raw messages); JSON lines on stdout when absent. */
  logger?: Logger;
}

export async function startService(config: ServiceConfig, options: StartOptions = {}): Promise<RunningService> {
  // Before anything is opened: a bad key file or an open bind stops the start (AuthSetupError).
  const keys = loadApiKeys(config);
  checkBindSafety(config, keys);
  // An account the workers cannot run as stops the start too (WorkerSealError).
  const seal = isDistributed(config) ? null : workerSeal(config);
  const logger = options.logger ?? createServiceLogger();
  mkdirSync(config.dataDir, { recursive: true });
  // Each API process owns its data directory (uploads in flight), in either mode.
  const unlock = lockDataDir(config.dataDir);
  let store: Store;
  let models: ModelBlobs;
  let queue: AuditQueue;
  let dependencies: DependencyChecks | undefined;
  let sharedRateStore: ((kind: 'writes' | 'reads') => RateStore) | undefined;
  let closeBackends: () => Promise<void>;
  // Warm audit workers end once the queue has stopped (embedded: the processor here keeps them).
  let closeWorkers = (): Promise<void> => Promise.resolve();
  let backends: string | null = null;
  try {
    resetUploadDir(uploadDir(config));
    if (isDistributed(config)) {
      // Loaded only here: the embedded service never loads the PostgreSQL and Redis clients.
      const { openDistributedBackends, describeBackends } = await import('./distributed.js');
      backends = describeBackends(config);
      const b = await openDistributedBackends(config, { logger });
      ({ store, models, dependencies, sharedRateStore } = b);
      queue = b.queue;
      closeBackends = () => b.close();
    } else {
      const sqlite = new JobStore(join(config.dataDir, DB_FILE));
      store = sqlite;
      models = new ModelFiles(join(config.dataDir, 'models'), sqlite);
      const processor = createAuditProcessor({
        store,
        models,
        auditTimeoutMs: config.auditTimeoutMs,
        fetchData: config.fetchData,
        workerNiceness: config.workerNiceness,
        seal: seal ?? workerSeal(config),
        // A failure's own words (worker output, paths) go here, never to the client.
        logFailure: (jobId, message) => logger.warn({ jobId, failure: message }, 'audit failed'),
        warmWorkers: config.warmWorkers,
      });
      closeWorkers = () => processor.close();
      queue = new LocalQueue(processor, config.concurrency);
      closeBackends = () => sqlite.close();
    }
  } catch (err) {
    unlock();
    throw err;
  }
  const distributed = dependencies !== undefined;
  const service = new AuditService(store, queue, models, { maxQueued: config.maxQueued, maxAttempts: config.maxAttempts, distributed });
  const metrics = createMetrics(() => queue.counts(), distributed ? () => queue.workers() : undefined);
  service.subscribe('*', (e) => metrics.onJobEvent(e));
  const readiness = new Readiness(config.fetchData, config.workerNiceness, options.log ?? ((line) => process.stdout.write(`alias-audit: ${line}\n`)), !distributed);
  void readiness.check();

  const { app, responseViolations, inFlight } = createApp({ config, spec: loadSpec(), service, readiness, metrics, keys, logger, dependencies, sharedRateStore });
  const server = createServer(app);
  // Large uploads on slow links: allow 30 minutes for a request to arrive (Node's default is 5).
  server.requestTimeout = 30 * 60_000;
  server.headersTimeout = 60_000;
  server.keepAliveTimeout = 5_000;

  let recovered: RunningService['recovered'];
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    recovered = await service.start();
  } catch (err) {
    server.close();
    readiness.close();
    await service.close(0);
    await closeWorkers();
    await closeBackends();
    unlock();
    throw err;
  }
  const { port } = server.address() as AddressInfo;
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;

  let closing: Promise<void> | undefined;
  const close = (graceMs = config.shutdownGraceMs): Promise<void> => {
    closing ??= (async () => {
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      readiness.close();
      await service.close(graceMs);
      await closeWorkers();
      // Event streams and other open responses end now; their clients reconnect elsewhere.
      server.closeAllConnections();
      await stopped;
      await closeBackends();
      unlock();
    })();
    return closing;
  };

  return { url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`, port, server, app, store, service, readiness, responseViolations, inFlight, authenticated: keys.enabled, recovered, backends, close };
}
