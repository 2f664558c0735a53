/** GET /healthz (liveness) and GET /readyz (readiness). Neither touches the runtime; /readyz pings the database and Redis of a distributed service. */
import { Router } from 'express';
import type { ServiceConfig } from '../config.js';
import { ServiceError } from '../errors.js';
import type { DependencyChecks } from '../dependencies.js';
import type { AuditService } from '../jobs/auditService.js';
import type { CheckState, Readiness } from '../readiness.js';

/** `dependencies`: in distributed mode, PostgreSQL and Redis, each checked on every /readyz (cached for a second). */
export function healthRouter(config: ServiceConfig, service: AuditService, readiness: Readiness, dependencies?: DependencyChecks): Router {
  const router = Router();
  const started = performance.now();

  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok', uptimeSeconds: Math.round(performance.now() - started) / 1000 });
  });

  router.get('/readyz', async (_req, res) => {
    void readiness.check(); // re-checks a failed check now and then; never waits here
    const servers = dependencies ? { ...(await dependencies.states()) } : null; // a copy: the states are cached
    const down = servers ? Object.entries<CheckState>(servers).filter(([, s]) => s.status !== 'ok').map(([name]) => name) : [];
    // Without Redis there is no queue to count; the check above says why, or (when Redis went
    // away since that check) the count's own failure does.
    let counts: Awaited<ReturnType<typeof service.counts>> | null = null;
    if (servers?.redis.status !== 'failed') {
      try {
        counts = await service.counts();
      } catch (err) {
        if (!servers) throw err;
        servers.redis = { status: 'failed', error: { name: 'RedisUnreachable', message: err instanceof ServiceError ? err.detail : err instanceof Error ? err.message : String(err) } };
        down.push('redis');
      }
    }
    const saturated = counts !== null && counts.waiting >= config.maxQueued;
    const state = readiness.state();
    const checks = {
      ...state,
      ...(servers ?? {}),
      ...(dependencies && counts !== null ? { workers: await service.workers().catch(() => 0) } : {}),
      accepting: !service.isClosing,
      queue: { status: counts === null ? 'unknown' : saturated ? 'saturated' : 'ok', waiting: counts?.waiting ?? 0, active: counts?.active ?? 0, maxQueued: config.maxQueued },
    };
    if (readiness.ok() && down.length === 0 && !saturated && !service.isClosing) return res.json({ status: 'ready', checks });
    const why = [
      ...down.map((name) => `${name === 'database' ? 'PostgreSQL' : 'Redis'} unreachable`),
      state.runtime.status !== 'ok' ? `runtime ${state.runtime.status}` : '',
      state.samples.status !== 'ok' ? `samples ${state.samples.status}` : '',
      saturated ? `queue saturated (${counts?.waiting ?? 0} waiting)` : '',
      service.isClosing ? 'shutting down' : '',
    ].filter(Boolean);
    throw new ServiceError('NOT_READY', `not ready: ${why.join(', ')}`, { members: { checks } });
  });

  return router;
}
