/**
 * GET /audits/{id}/events: server-sent events of one job, from its current state to its end.
 * Events come from the job service in the order the queue emits them; ids count up per stream.
 */
import { Router } from 'express';
import { ServiceError } from '../errors.js';
import { scopeOf } from '../http/auth.js';
import type { AuditService } from '../jobs/auditService.js';
import type { JobEvent } from '../jobs/types.js';
import { jobSummary } from '../jobs/views.js';

/** A comment line this often keeps proxies from closing an idle stream. */
const HEARTBEAT_MS = 15_000;

export function eventsRouter(service: AuditService): Router {
  const router = Router();

  router.get('/audits/:id/events', (req, res) => {
    const id = req.params.id;
    const scope = scopeOf(res);
    let seq = 0;
    let ended = false;
    const send = (event: string, data: unknown): void => {
      if (!ended) res.write(`id: ${++seq}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    const end = (): void => {
      if (ended) return;
      ended = true;
      clearInterval(heartbeat);
      unsubscribe();
      res.end();
    };
    const summary = (): Record<string, unknown> | null => {
      const job = service.get(scope, id);
      return job ? jobSummary(job) : null;
    };
    // Subscribe before the snapshot: an event between the two then still arrives (after it).
    const onEvent = (e: JobEvent): void => {
      switch (e.type) {
        case 'progress':
          return send('progress', e.progress);
        case 'queued':
        case 'started':
        case 'requeued':
          return send('status', summary());
        case 'succeeded':
        case 'failed':
          send('done', summary());
          return end();
        case 'deleted':
          send('done', { id, status: 'deleted' });
          return end();
      }
    };
    const unsubscribe = service.subscribe(id, onEvent);
    const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
    heartbeat.unref();
    const first = summary();
    if (!first) {
      ended = true;
      clearInterval(heartbeat);
      unsubscribe();
      throw new ServiceError('NOT_FOUND', `no audit job ${id}`);
    }
    res.status(200).set({ 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache, no-transform', 'X-Accel-Buffering': 'no' });
    res.flushHeaders();
    res.on('close', end);
    send('status', first);
    if (first.status === 'succeeded' || first.status === 'failed') {
      send('done', first);
      end();
    }
  });

  return router;
}
