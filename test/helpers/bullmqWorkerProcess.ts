/**
 * A BullMQ audit worker in its own process, for tests that kill it: argv is the Redis URL, the
 * queue name, the lock duration and the stalled-check interval (ms), and the attempts. Its processor
 * writes "started <jobId>" on stdout, holds the job until it is aborted, then writes
 * "stopped <jobId> <reason>".
 */
import { BullmqQueue } from '../../src/service/queue/bullmqQueue.js';

const [redisUrl, queueName, lockMs, stalledMs, attempts] = process.argv.slice(2);
const queue = await BullmqQueue.open({
  redisUrl: redisUrl,
  queueName: queueName,
  attempts: Number(attempts),
  worker: {
    concurrency: 1,
    lockDurationMs: Number(lockMs),
    stalledIntervalMs: Number(stalledMs),
    processor: ({ jobId }, ctx) =>
      new Promise<void>((resolve) => {
        process.stdout.write(`started ${jobId}\n`);
        ctx.signal.addEventListener('abort', () => {
          process.stdout.write(`stopped ${jobId} ${String(ctx.signal.reason)}\n`);
          resolve();
        });
      }),
  },
});
process.stdout.write('ready\n');
process.once('SIGTERM', () => void queue.close(0).then(() => process.exit(0)));
