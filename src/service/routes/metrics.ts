/** GET /metrics: Prometheus text format. */
import { Router } from 'express';
import type { ServiceMetrics } from '../metrics.js';

export function metricsRouter(metrics: ServiceMetrics): Router {
  const router = Router();
  router.get('/metrics', async (_req, res) => {
    const body = await metrics.registry.metrics();
    res.type(metrics.registry.contentType).send(body);
  });
  return router;
}
