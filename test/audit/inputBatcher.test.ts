/** The audit's batches: exactly the images asked for unless the model's batch is fixed. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InputBatcher } from '../../src/audit/inputBatcher.js';
import type { Preprocessing } from '../../src/data/preprocess.js';
import { syntheticDataset } from '../helpers/modelBuilder.js';

const none: Preprocessing = { name: 'none', mean: [0, 0, 0], std: [1, 1, 1], scale: 1 };
const dataset = syntheticDataset(10);

test('a model that takes any batch size gets only the images asked for, as many rows as images', () => {
  const input = new InputBatcher(dataset, 4, 'NCHW', false);
  const one = input.fill(0, 1, none);
  assert.deepEqual(one.dims, [1, 3, 32, 32]);
  assert.equal(one.data.length, 3072);
  const last = input.fill(8, 2, none);
  assert.deepEqual(last.dims, [2, 3, 32, 32]);
  assert.equal(last.data.length, 2 * 3072);
  // the pixels of image 9, red channel first (NCHW), scaled to [0, 1]
  assert.equal(last.data[3072], Math.fround(dataset.images[9 * 3072] / 255));
  assert.deepEqual(input.fill(0, 4, none).dims, [4, 3, 32, 32]);
});

test('a fixed-batch model gets its whole batch, a short one padded with zeros after the images', () => {
  const input = new InputBatcher(dataset, 4, 'NHWC', true);
  input.fill(0, 4, none); // leaves non-zero pixels in every row
  const short = input.fill(8, 2, none);
  assert.deepEqual(short.dims, [4, 32, 32, 3]);
  assert.equal(short.data.length, 4 * 3072);
  assert.ok(short.data.subarray(0, 2 * 3072).some((v) => v !== 0));
  assert.ok(short.data.subarray(2 * 3072).every((v) => v === 0));
});
