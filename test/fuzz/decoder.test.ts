/**
 * Fuzz the decoder (a modest number of runs, seconds): every hostile variant of the seed models
 * is decoded or refused with a ModelError, within a time bound. `npm run fuzz -- --runs N` runs
 * long campaigns of the same property, and of HTTP uploads.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { DECODE_BOUND_MS, hostileModel, judge, seedModels } from './modelFuzz.js';

test('hostile models are decoded or refused with a ModelError, within a bound', () => {
  const seeds = seedModels();
  const outcomes = new Map<string, number>();
  fc.assert(
    fc.property(hostileModel(seeds), (bytes) => {
      const t0 = performance.now();
      const outcome = judge(bytes);
      const ms = performance.now() - t0;
      if (outcome.kind === 'thrown') throw outcome.error;
      const key = outcome.kind === 'refused' ? outcome.code : 'decoded';
      outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
      assert.ok(ms < DECODE_BOUND_MS, `took ${ms.toFixed(0)} ms`);
    }),
    { numRuns: 200, seed: Number(process.env.FUZZ_SEED ?? 20261202) },
  );
  // The mutations reach both sides: some inputs still decode, several kinds of refusal occur.
  assert.ok((outcomes.get('decoded') ?? 0) > 0, JSON.stringify([...outcomes]));
  for (const code of ['NOT_ONNX', 'EXTERNAL_DATA', 'MODEL_LIMIT']) assert.ok((outcomes.get(code) ?? 0) > 0, `${code}: ${JSON.stringify([...outcomes])}`);
});
