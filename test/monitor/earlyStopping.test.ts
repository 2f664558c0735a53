import assert from 'node:assert/strict';
import { test } from 'node:test';
import { earlyStopDecision, median } from '../../src/metrics/earlyStopping.js';

const series = (values: number[]) => values.map((v, i) => ({ epoch: i + 1, am: v, amRel: v / 10 }));

test('median of odd and even counts', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.throws(() => median([]));
});

test('stops at the first jump over (1+t) times the median of all earlier epochs; keeps the epoch before', () => {
  const d = earlyStopDecision(series([1.0, 1.1, 0.9, 1.2, 1.6, 3.0]), { signal: 'am', threshold: 0.33, window: null });
  // epoch 5: median(1.0,1.1,0.9,1.2) = 1.05, limit 1.3965 < 1.6
  assert.equal(d.stop, true);
  assert.equal(d.triggeredAtEpoch, 5);
  assert.equal(d.recommendedEpoch, 4);
  assert.ok(Math.abs((d.series[4].limit ?? 0) - 1.3965) < 1e-12);
  assert.deepEqual(d.series.map((s) => s.triggered), [false, false, false, false, true, false]);
  assert.equal(d.series[0].median, null);
});

test('no jump, no stop; the first epoch never triggers', () => {
  const d = earlyStopDecision(series([5, 1, 1.2, 1.1]), { signal: 'am', threshold: 0.33, window: null });
  // epoch 2 compares with epoch 1 only; a falling signal never triggers
  assert.equal(d.stop, false);
  assert.equal(d.recommendedEpoch, null);
});

test('a window takes the median of the last epochs only; the signal can be amRel', () => {
  const values = [1, 1, 1, 2, 2, 2, 2.9];
  assert.equal(earlyStopDecision(series(values), { signal: 'am', threshold: 0.5, window: null }).triggeredAtEpoch, 4);
  // a gradual rise: each epoch is within 40% of the one before it, so a window of 1 never triggers
  const gradual = [1, 1.3, 1.69, 2.2, 2.86];
  assert.equal(earlyStopDecision(series(gradual), { signal: 'amRel', threshold: 0.4, window: 1 }).stop, false);
  // all earlier epochs: epoch 3 has 0.169 > 1.4 * median(0.1, 0.13) = 0.161
  assert.equal(earlyStopDecision(series(gradual), { signal: 'amRel', threshold: 0.4, window: null }).triggeredAtEpoch, 3);
});
