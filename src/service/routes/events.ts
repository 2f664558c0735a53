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

  router.get('/audits/:id/events', async (req, res) => {
    const id = req.params.id;
    const scope = scopeOf(res);
    let seq = 0;
    let ended = false;
    let heartbeat: NodeJS.Timeout | undefined = undefined; // set once the snapshot is out
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
    const summary = async (): Promise<Record<string, unknown> | null> => {
      const job = await service.get(scope, id);
      return job ? jobSummary(job) : null;
    };
    const onEvent = async (e: JobEvent): Promise<void> => {
      if (ended) return;
      switch (e.type) {
        case 'progress':
          return send('progress', e.progress);
        case 'queued':
        case 'started':
        case 'requeued':
          return send('status', await summary());
        case 'succeeded':
        case 'failed':
          send('done', await summary());
          return end();
        case 'deleted':
          send('done', { id, status: 'deleted' });
          return end();
      }
    };
    // Events are handled one after another, in the order they came, and only once the first
    // snapshot is out: a status read from the store must not overtake a later progress event.
    let snapshotSent!: () => void;
    let handled = new Promise<void>((resolve) => (snapshotSent = resolve));
    // Subscribe before the snapshot: an event between the two then still arrives (after it).
    const unsubscribe = service.subscribe(id, (e) => {
      handled = handled.then(() => onEvent(e)).catch(() => end()); // the store failed mid-stream: the client reconnects
    });
    res.on('close', end);
    let first: Record<string, unknown> | null;
    try {
      first = await summary();
    } catch (err) {
      ended = true;
      unsubscribe();
      throw err;
    }
    if (!first) {
      ended = true;
      unsubscribe();
      throw new ServiceError('NOT_FOUND', `no audit job ${id}`);
    }
    if (ended) return; // the client left while the snapshot was read
    res.status(200).set({ 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache, no-transform', 'X-Accel-Buffering': 'no' });
    res.flushHeaders();
    heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
    heartbeat.unref();
    send('status', first);
    if (first.status === 'succeeded' || first.status === 'failed') {
      send('done', first);
      end();
    }
    snapshotSent();
  });

  return router;
}
