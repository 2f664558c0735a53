/**
 * The audit queue on Redis (BullMQ), for API and worker processes on several machines. The
 * audit id is the BullMQ job id, so an audit is queued once however many processes add it.
 * BullMQ's job locks own recovery: an audit whose worker died (its lock expired) is moved back
 * to waiting by the stalled-job check of any live worker and runs again.
 *
 * Events reach every process: 'queued' from BullMQ's own 'added' event, the processor's events
 * as custom events on the queue's event stream (one ordered stream, read by QueueEvents).
 * Cancelling a running audit works from any process: a Redis key (read when a job starts) and
 * a pub/sub message (for a job already running) abort the processor's signal with 'cancelled'.
 */
import { Queue, QueueEvents, QueueEventsProducer, WaitingError, Worker, type Job, type RedisOptions } from 'bullmq';
import { Redis } from 'ioredis';
import { ServiceError } from '../errors.js';
import type { JobEvent } from '../jobs/types.js';
import { notifyListeners, type AuditJobData, type AuditProcessor, type AuditQueue, type QueueCounts, type StopReason } from './queue.js';

export interface BullmqWorkerOptions {
  processor: AuditProcessor;
  /** Audits this process runs at a time. */
  concurrency: number;
  /** How long a worker's lock on a job lasts without renewal (BullMQ renews it at half). */
  lockDurationMs?: number;
  /** How often this worker looks for jobs whose worker died (expired locks). */
  stalledIntervalMs?: number;
}

export interface BullmqQueueOptions {
  /** redis://[user:password@]host:port[/db] (rediss:// for TLS). */
  redisUrl: string;
  /** The BullMQ queue name; its keys are `${prefix}:${queueName}:*`. */
  queueName?: string;
  prefix?: string;
  /** Present in a worker process: this process runs audits. An API process only adds them. */
  worker?: BullmqWorkerOptions;
  /** Runs of one audit in all, re-runs after a dead worker (stall) and after a thrown error included. */
  attempts?: number;
  /** First wait before re-running an audit whose processor threw; doubles each time. */
  backoffMs?: number;
  /** Finished audits stay in Redis this long, so that adding their id again stays a no-op. */
  keepFinishedSeconds?: number;
  /** How long cancel() waits for a running audit (possibly on another machine) to stop. */
  cancelWaitMs?: number;
  /** Called (in a worker process) when BullMQ gives an audit up: out of attempts or stalled too often. */
  onAbandoned?: (jobId: string, reason: string) => void;
  /** Connection trouble and other errors of the Redis clients (they reconnect by themselves). */
  onError?: (err: Error) => void;
}

const JOB_NAME = 'audit';
/** The custom event on the queue's event stream that carries a {@link JobEvent}. */
const AUDIT_EVENT = 'audit-event';
/** BullMQ's default length of the event stream; publishEvent would trim it to its own default of 1000. */
const MAX_EVENTS = 10_000;

/** ioredis options from a redis:// URL (BullMQ makes and owns its own connections from these). */
export function redisOptions(redisUrl: string): RedisOptions {
  let url: URL;
  try {
    url = new URL(redisUrl);
  } catch {
    throw new RangeError(`the Redis URL is not a URL: ${redisUrl}`);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw new RangeError(`the Redis URL must start with redis:// or rediss:// (got ${url.protocol}//)`);
  const db = url.pathname.length > 1 ? Number(url.pathname.slice(1)) : 0;
  if (!Number.isInteger(db) || db < 0) throw new RangeError(`the Redis URL's database must be a whole number (got ${url.pathname.slice(1)})`);
  return {
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port ? Number(url.port) : 6379,
    username: url.username ? decodeURIComponent(url.username) : undefined,
    password: url.password ? decodeURIComponent(url.password) : undefined,
    db,
    ...(url.protocol === 'rediss:' ? { tls: {} } : {}),
    // BullMQ's blocking commands need this; a command waits for the connection to come back.
    maxRetriesPerRequest: null,
  };
}

export class BullmqQueue implements AuditQueue {
  private readonly listeners = new Set<(event: JobEvent) => void>();
  /** Audits running in this process, by id. */
  private readonly running = new Map<string, AbortController>();
  private closing = false;
  private closed: Promise<void> | undefined;
  /** Events go out one after another, in the order the processor emitted them. */
  private publishing: Promise<void> = Promise.resolve();
  private worker: Worker<AuditJobData> | undefined;
  private subscriber: Redis | undefined;

  private constructor(
    private readonly options: Required<Omit<BullmqQueueOptions, 'worker' | 'onAbandoned'>> & Pick<BullmqQueueOptions, 'worker' | 'onAbandoned'>,
    private readonly queue: Queue<AuditJobData>,
    private readonly events: QueueEvents,
    private readonly producer: QueueEventsProducer,
    /** Commands of ours: cancel marks and messages. */
    private readonly redis: Redis,
  ) {}

  /** Connects to Redis and, with `options.worker`, starts taking audits. */
  static async open(options: BullmqQueueOptions): Promise<BullmqQueue> {
    const o = {
      queueName: 'audits',
      prefix: 'alias-audit',
      attempts: 3,
      backoffMs: 5_000,
      keepFinishedSeconds: 7 * 24 * 3600,
      cancelWaitMs: 60_000,
      onError: (err: Error) => console.error(`alias-audit: Redis queue: ${err.message}`),
      ...options,
    };
    if (!Number.isInteger(o.attempts) || o.attempts < 1) throw new RangeError(`attempts must be a whole number >= 1 (got ${o.attempts})`);
    const w = o.worker;
    if (w && (!Number.isInteger(w.concurrency) || w.concurrency < 1)) throw new RangeError(`concurrency must be a whole number >= 1 (got ${w.concurrency})`);
    const connection = redisOptions(o.redisUrl);
    const base = { connection, prefix: o.prefix };
    const redis = new Redis(connection);
    redis.on('error', o.onError);
    const queue = new Queue<AuditJobData>(o.queueName, {
      ...base,
      defaultJobOptions: {
        attempts: o.attempts,
        backoff: { type: 'exponential', delay: o.backoffMs },
        removeOnComplete: { age: o.keepFinishedSeconds },
        removeOnFail: { age: o.keepFinishedSeconds },
      },
    });
    queue.on('error', o.onError);
    let events: QueueEvents | undefined;
    let producer: QueueEventsProducer | undefined;
    try {
      await queue.waitUntilReady();
      // Read events from the stream's present end, fixed now: events between this call and the
      // reader's first XREAD (a '$' would skip them) still arrive.
      const last = (await redis.xrevrange(queue.keys.events, '+', '-', 'COUNT', 1))[0]?.[0] ?? '0-0';
      events = new QueueEvents(o.queueName, { ...base, lastEventId: last });
      events.on('error', o.onError);
      producer = new QueueEventsProducer(o.queueName, base);
      producer.on('error', o.onError);
      const q = new BullmqQueue(o, queue, events, producer, redis);
      events.on('added', ({ jobId }) => q.deliver({ type: 'queued', jobId }));
      // A custom event: QueueEvents' typed listener map knows only BullMQ's own event names.
      events.on(AUDIT_EVENT as 'added', (args: unknown) => q.deliverWire(args));
      await events.waitUntilReady();
      if (w) await q.startWorker(w, connection);
      return q;
    } catch (err) {
      await Promise.allSettled([events?.close(), producer?.close(), queue.close()]);
      redis.disconnect();
      throw err;
    }
  }

  async add(data: AuditJobData): Promise<void> {
    if (this.closing) throw new Error('the queue is closed');
    // An id that exists in Redis (waiting, running or recently finished) is not added again.
    await this.reachable(() => this.queue.add(JOB_NAME, { jobId: data.jobId }, { jobId: data.jobId }));
  }

  /** Rejects (QUEUE_UNAVAILABLE) unless Redis answers a PING within the deadline. */
  async ping(): Promise<void> {
    await this.reachable(() => this.redis.ping());
  }

  async workers(): Promise<number> {
    return (await this.reachable(() => this.queue.getWorkers())).length;
  }

  announce(event: JobEvent): void {
    this.publish(event);
  }

  async cancel(jobId: string): Promise<boolean> {
    const state = await this.reachable(() => this.queue.getJobState(jobId));
    if (state === 'unknown' || state === 'completed' || state === 'failed') return false;
    if (state !== 'active' && (await this.queue.remove(jobId)) === 1) return true;
    // Running (or it started in between): the mark stops it if its worker has not read it yet,
    // the message if it has.
    await this.redis.set(this.cancelKey(jobId), '1', 'PX', this.options.cancelWaitMs + (this.options.worker?.lockDurationMs ?? 30_000));
    await this.redis.publish(this.cancelChannel(), jobId);
    const deadline = Date.now() + this.options.cancelWaitMs;
    let now = await this.queue.getJobState(jobId);
    while (Date.now() < deadline && now === 'active') {
      await sleep(50);
      now = await this.queue.getJobState(jobId);
    }
    // Its worker had died: the stalled-job check put it back to waiting, where it can be dropped.
    if (now === 'waiting' || now === 'delayed' || now === 'prioritized') await this.queue.remove(jobId);
    return true;
  }

  async counts(): Promise<QueueCounts> {
    const c = await this.reachable(() => this.queue.getJobCounts('waiting', 'prioritized', 'delayed', 'active'));
    // A job waiting for its backoff is still waiting to run.
    return { waiting: (c.waiting ?? 0) + (c.prioritized ?? 0) + (c.delayed ?? 0), active: c.active ?? 0 };
  }

  subscribe(listener: (event: JobEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Stops taking jobs; running ones get `graceMs`, then stop with 'shutdown' and go back to waiting in Redis. */
  close(graceMs: number): Promise<void> {
    this.closing = true;
    this.closed ??= (async () => {
      if (this.worker) {
        const stopped = this.worker.close();
        let timer: NodeJS.Timeout | undefined;
        const grace = new Promise<'timeout'>((resolve) => {
          timer = setTimeout(() => resolve('timeout'), graceMs);
        });
        const outcome = await Promise.race([stopped.then(() => 'done' as const), grace]);
        clearTimeout(timer);
        if (outcome === 'timeout') for (const c of this.running.values()) c.abort('shutdown' satisfies StopReason);
        await stopped;
      }
      await this.publishing;
      await this.subscriber?.quit().catch(() => undefined);
      await Promise.all([this.events.close(), this.producer.close(), this.queue.close()]);
      await this.redis.quit().catch(() => undefined);
    })();
    return this.closed;
  }

  private async startWorker(w: BullmqWorkerOptions, connection: RedisOptions): Promise<void> {
    const subscriber = new Redis(connection);
    subscriber.on('error', this.options.onError);
    subscriber.on('message', (_channel: string, jobId: string) => this.running.get(jobId)?.abort('cancelled' satisfies StopReason));
    await subscriber.subscribe(this.cancelChannel());
    this.subscriber = subscriber;
    const lockDuration = w.lockDurationMs ?? 30_000;
    const worker = new Worker<AuditJobData>(this.options.queueName, (job, token) => this.run(w.processor, job, token), {
      connection,
      prefix: this.options.prefix,
      concurrency: w.concurrency,
      lockDuration,
      stalledInterval: w.stalledIntervalMs ?? lockDuration,
      // Runs after a dead worker count against the same attempts as runs that threw.
      maxStalledCount: this.options.attempts - 1,
    });
    worker.on('error', this.options.onError);
    worker.on('failed', (job, err) => {
      if (!job?.id || !this.options.onAbandoned) return;
      const onAbandoned = this.options.onAbandoned;
      // 'failed' also fires for a run that will be retried; only a job that ended failed is given up.
      void job
        .isFailed()
        .then((final) => final && onAbandoned(job.id!, err.message))
        .catch(this.options.onError);
    });
    this.worker = worker;
    await worker.waitUntilReady();
  }

  private async run(processor: AuditProcessor, job: Job<AuditJobData>, token: string | undefined): Promise<void> {
    const jobId = job.data.jobId;
    const controller = new AbortController();
    this.running.set(jobId, controller);
    try {
      // Registered before this read: a cancel after it arrives as a message.
      if (await this.redis.exists(this.cancelKey(jobId))) return;
      await processor(job.data, { signal: controller.signal, emit: (e) => this.publish(e) });
    } finally {
      this.running.delete(jobId);
    }
    if (controller.signal.reason === ('shutdown' satisfies StopReason)) {
      // Back to waiting for another worker, without using up an attempt.
      await job.moveToWait(token);
      throw new WaitingError();
    }
  }

  /**
   * A command for a client's request: while Redis is away, ioredis would hold it until Redis is
   * back (the blocking connections need that), so the request fails now instead, with 503.
   */
  private reachable<T>(issue: () => Promise<T>): Promise<T> {
    // Not issued at all while Redis is away: ioredis would queue it and run it later, after the
    // client was told 503 (an audit added then would run although its upload was refused).
    if (this.redis.status !== 'ready') return Promise.reject(queueUnavailable(`Redis is unreachable (connection ${this.redis.status})`));
    const command = issue();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(queueUnavailable(`Redis did not answer within ${COMMAND_DEADLINE_MS / 1000} s`)), COMMAND_DEADLINE_MS);
    });
    return Promise.race([command, deadline]).finally(() => clearTimeout(timer));
  }

  private publish(event: JobEvent): void {
    this.publishing = this.publishing
      .then(() => this.producer.publishEvent({ eventName: AUDIT_EVENT, jobId: event.jobId, payload: JSON.stringify(event) }, MAX_EVENTS))
      .catch((err: unknown) => this.options.onError(err instanceof Error ? err : new Error(String(err))));
  }

  private deliverWire(args: unknown): void {
    const text = (args as { payload?: unknown }).payload;
    let event: JobEvent;
    try {
      event = JSON.parse(String(text)) as JobEvent;
    } catch {
      // Not ours (another writer on the stream): a throw here would stop the event reader.
      return;
    }
    this.deliver(event);
  }

  private deliver(event: JobEvent): void {
    notifyListeners(this.listeners, event);
  }

  private cancelKey(jobId: string): string {
    return `${this.options.prefix}:${this.options.queueName}:cancel:${jobId}`;
  }

  private cancelChannel(): string {
    return `${this.options.prefix}:${this.options.queueName}:cancel`;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** How long a client's request waits for a Redis command before it gets 503. */
const COMMAND_DEADLINE_MS = 5_000;

function queueUnavailable(detail: string): ServiceError {
  return new ServiceError('QUEUE_UNAVAILABLE', `${detail}; the audit queue is unavailable, try again shortly`, { headers: { 'Retry-After': '10' } });
}
