/** The in-process audit queue: FIFO, at most `concurrency` jobs at a time. */
import type { JobEvent } from '../jobs/types.js';
import { notifyListeners, type AuditJobData, type AuditProcessor, type AuditQueue, type QueueCounts, type StopReason } from './queue.js';

interface Active {
  controller: AbortController;
  done: Promise<void>;
}

export class LocalQueue implements AuditQueue {
  private readonly waiting: AuditJobData[] = [];
  private readonly active = new Map<string, Active>();
  private readonly listeners = new Set<(event: JobEvent) => void>();
  private closing = false;

  constructor(private readonly processor: AuditProcessor, private readonly concurrency: number) {
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError(`concurrency must be a whole number >= 1 (got ${concurrency})`);
  }

  add(data: AuditJobData): Promise<void> {
    if (this.closing) return Promise.reject(new Error('the queue is closed'));
    if (this.active.has(data.jobId) || this.waiting.some((w) => w.jobId === data.jobId)) return Promise.resolve();
    this.waiting.push(data);
    this.emit({ type: 'queued', jobId: data.jobId });
    this.pump();
    return Promise.resolve();
  }

  async cancel(jobId: string): Promise<boolean> {
    const i = this.waiting.findIndex((w) => w.jobId === jobId);
    if (i >= 0) {
      this.waiting.splice(i, 1);
      return true;
    }
    const a = this.active.get(jobId);
    if (!a) return false;
    a.controller.abort('cancelled' satisfies StopReason);
    await a.done;
    return true;
  }

  counts(): Promise<QueueCounts> {
    return Promise.resolve({ waiting: this.waiting.length, active: this.active.size });
  }

  subscribe(listener: (event: JobEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  announce(event: JobEvent): void {
    this.emit(event);
  }

  workers(): Promise<number> {
    return Promise.resolve(this.closing ? 0 : 1);
  }

  async close(graceMs: number): Promise<void> {
    this.closing = true;
    this.waiting.length = 0; // they stay queued in the job store, for the next start
    const all = Promise.all([...this.active.values()].map((a) => a.done));
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), graceMs);
    });
    const outcome = await Promise.race([all.then(() => 'done' as const), grace]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      for (const a of this.active.values()) a.controller.abort('shutdown' satisfies StopReason);
      await all;
    }
  }

  private emit(event: JobEvent): void {
    notifyListeners(this.listeners, event);
  }

  private pump(): void {
    while (!this.closing && this.active.size < this.concurrency && this.waiting.length > 0) {
      const data = this.waiting.shift()!;
      const controller = new AbortController();
      const done = this.processor(data, { signal: controller.signal, emit: (e) => this.emit(e) })
        .catch((err: unknown) => console.error(`alias-audit: processor failed on job ${data.jobId}:`, err))
        .finally(() => {
          this.active.delete(data.jobId);
          this.pump();
        });
      this.active.set(data.jobId, { controller, done });
    }
  }
}
