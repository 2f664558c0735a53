/** GET /healthz (liveness) and GET /readyz (readiness). Neither touches the database or the runtime. */
import { Router } from 'express';
import type { ServiceConfig } from '../config.js';
import { ServiceError } from '../errors.js';
import type { AuditService } from '../jobs/auditService.js';
import type { Readiness } from '../readiness.js';

export function healthRouter(config: ServiceConfig, service: AuditService, readiness: Readiness): Router {
  const router = Router();
  const started = performance.now();

  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok', uptimeSeconds: Math.round(performance.now() - started) / 1000 });
  });

  router.get('/readyz', async (_req, res) => {
    void readiness.check(); // re-checks a failed check now and then; never waits here
    const { waiting, active } = await service.counts();
    const saturated = waiting >= config.maxQueued;
    const state = readiness.state();
    const checks = {
      ...state,
      accepting: !service.isClosing,
      queue: { status: saturated ? 'saturated' : 'ok', waiting, active, maxQueued: config.maxQueued },
    };
    if (readiness.ok() && !saturated && !service.isClosing) return res.json({ status: 'ready', checks });
    const why = [
      state.runtime.status !== 'ok' ? `runtime ${state.runtime.status}` : '',
      state.samples.status !== 'ok' ? `samples ${state.samples.status}` : '',
      saturated ? `queue saturated (${waiting} waiting)` : '',
      service.isClosing ? 'shutting down' : '',
    ].filter(Boolean);
    throw new ServiceError('NOT_READY', `not ready: ${why.join(', ')}`, { members: { checks } });
  });

  return router;
}
