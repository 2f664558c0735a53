/**
 * Prometheus metrics (prom-client, a registry per service instance): audits by outcome, their
 * durations, queue depth, HTTP latency, and the process defaults (event-loop lag included).
 */
import type { NextFunction, Request, Response } from 'express';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { JobEvent } from './jobs/types.js';

export type AuditOutcome = 'succeeded' | 'failed' | 'cached';

export interface ServiceMetrics {
  registry: Registry;
  /** Counts a cache hit (a submission answered by a stored or running audit). */
  cached(): void;
  /** Feeds job events (succeeded/failed) into the counters and histogram. */
  onJobEvent(e: JobEvent): void;
  /** Express middleware timing each request by its route template. */
  http: (req: Request, res: Response, next: NextFunction) => void;
}

/** `workers`: in distributed mode, the live worker processes (from Redis); the gauge is left out without it. */
export function createMetrics(queueCounts: () => Promise<{ waiting: number; active: number }>, workers?: () => Promise<number>): ServiceMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'alias_audit_' });
  const audits = new Counter({
    name: 'alias_audit_audits_total',
    help: 'Audits by outcome: succeeded, failed (by problem code), cached (answered from a stored or running audit)',
    labelNames: ['outcome', 'code'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'alias_audit_audit_duration_seconds',
    help: 'Wall time of an audit in its worker process, by outcome',
    labelNames: ['outcome'] as const,
    buckets: [0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800],
    registers: [registry],
  });
  new Gauge({
    name: 'alias_audit_queue_jobs',
    help: 'Audit jobs in the queue, by state (waiting, active)',
    labelNames: ['state'] as const,
    registers: [registry],
    async collect() {
      // Redis away (distributed mode): the scrape still answers, without these series.
      const c = await queueCounts().catch(() => null);
      if (!c) return this.reset();
      this.set({ state: 'waiting' }, c.waiting);
      this.set({ state: 'active' }, c.active);
    },
  });
  if (workers) {
    new Gauge({
      name: 'alias_audit_workers',
      help: 'Worker processes taking audits now (live BullMQ workers in Redis)',
      registers: [registry],
      async collect() {
        const n = await workers().catch(() => null);
        if (n === null) this.reset();
        else this.set(n);
      },
    });
  }
  const requests = new Histogram({
    name: 'alias_audit_http_request_duration_seconds',
    help: 'HTTP request latency by method, route template and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30],
    registers: [registry],
  });
  // Zero series, so dashboards see every outcome from the start.
  for (const outcome of ['succeeded', 'failed', 'cached'] as const) audits.inc({ outcome, code: '' }, 0);

  return {
    registry,
    cached: () => audits.inc({ outcome: 'cached', code: '' }),
    onJobEvent(e) {
      if (e.type === 'succeeded') {
        audits.inc({ outcome: 'succeeded', code: '' });
        duration.observe({ outcome: 'succeeded' }, e.seconds);
      } else if (e.type === 'failed') {
        audits.inc({ outcome: 'failed', code: e.error.code });
        duration.observe({ outcome: 'failed' }, e.seconds);
      }
    },
    http: (req, res, next) => {
      const end = requests.startTimer();
      res.on('finish', () => {
        // The route template, never the raw path: ids would make one series per job.
        const routePath = (req.route as { path?: unknown } | undefined)?.path;
        const route = typeof routePath === 'string' && routePath ? routePath : 'unmatched';
        end({ method: req.method, route, status: String(res.statusCode) });
      });
      next();
    },
  };
}
