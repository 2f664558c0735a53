/**
 * express-rate-limit's counters in Redis, so that every API process of a distributed service
 * counts against one budget per caller. One MULTI per request: create the window's counter if
 * it is absent (with its expiry), count the request, read the time left. Written here rather
 * than taken from rate-limit-redis, whose script loading at start rejects unhandled when Redis
 * is not yet reachable and then keeps failing after Redis is back.
 */
import type { Redis } from 'ioredis';
import type { IncrementResponse, Options, Store } from 'express-rate-limit';

export class RedisRateStore implements Store {
  /** The counters live in Redis: express-rate-limit must not assume they are this process's. */
  readonly localKeys = false;
  private windowMs = 60_000;
  /** When the current Redis outage began (logged once), or null while Redis answers. */
  private unreachableSince: number | null = null;

  constructor(
    private readonly redis: Redis,
    /** Keys are `${prefix}${caller}`; one prefix per limiter. */
    readonly prefix: string,
  ) {}

  init(options: Options): void {
    this.windowMs = options.windowMs;
  }

  async increment(caller: string): Promise<IncrementResponse> {
    const key = this.prefix + caller;
    try {
      const replies = await this.redis.multi().set(key, 0, 'PX', this.windowMs, 'NX').incr(key).pttl(key).exec();
      if (!replies) throw new Error('the rate-limit transaction was aborted');
      for (const [err] of replies) if (err) throw err;
      this.unreachableSince = null;
      const totalHits = Number(replies[1][1]);
      const msLeft = Number(replies[2][1]);
      return { totalHits, resetTime: new Date(Date.now() + (msLeft > 0 ? msLeft : this.windowMs)) };
    } catch (err) {
      // Redis away: the request passes uncounted (the routes that need Redis answer 503 anyway),
      // with one line per outage in the log rather than a stack trace per request.
      if (this.unreachableSince === null) {
        this.unreachableSince = Date.now();
        console.warn(`alias-audit: rate limits not counted while Redis is unreachable (${err instanceof Error ? err.message : String(err)})`);
      }
      return { totalHits: 0, resetTime: new Date(Date.now() + this.windowMs) };
    }
  }

  async decrement(caller: string): Promise<void> {
    await this.redis.decr(this.prefix + caller).catch(() => undefined); // uncounted while Redis is away
  }

  async resetKey(caller: string): Promise<void> {
    await this.redis.del(this.prefix + caller);
  }
}
