/** The in-process queue: the queue contract (bounded concurrency, FIFO, cancel, graceful close), and its own checks. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LocalQueue } from '../../src/service/queue/localQueue.js';
import { queueContract } from './queueContract.js';

queueContract('LocalQueue', (processor, concurrency) => Promise.resolve(new LocalQueue(processor, concurrency)));

test('concurrency must be a whole number >= 1', () => {
  assert.throws(() => new LocalQueue(async () => {}, 0), RangeError);
});
