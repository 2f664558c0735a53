/**
 * The fuzz suite's inputs and judge: hostile variants of real models (the committed ones and
 * small ones built in memory), and the one property: every input is decoded and inspected, or
 * refused with a ModelError; nothing else is thrown and nothing takes longer than a bound.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { decodeModel, ModelError } from '../../src/onnx/codec.js';
import { findDownsamplingOps, summarizeModel } from '../../src/onnx/inspect.js';
import { appendToSubmessage, buildModel, concatBytes, listFields, varintBytes, varintField } from '../helpers/modelBuilder.js';
import { attributeBytes, baseModel, externalDataPlaces, nestedIf, nodeBytes, tensorBytes, withGraphField, withNode } from './onnxParts.js';

/** Seeds: the committed classifiers and small built ones (conv, pools, NHWC, a fixed batch, an If). */
export function seedModels(): Uint8Array[] {
  const seeds: Uint8Array[] = [readFileSync('models/preact_resnet_standard.onnx'), readFileSync('models/preact_resnet_fgsm.onnx')].map((b) => new Uint8Array(b));
  seeds.push(baseModel());
  seeds.push(buildModel({ ops: [{ op: 'MaxPool', kernel: [2, 2], strides: [2, 2] }, { op: 'AveragePool', kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }] }).bytes);
  seeds.push(buildModel({ ops: [{ op: 'Conv', kernel: [3, 3], strides: [2, 2] }], layout: 'NHWC', batch: 8 }).bytes);
  seeds.push(withNode(baseModel(), nestedIf(2)));
  return seeds;
}

/** Paths (field, occurrence) to every length-delimited field that parses as a message, up to `maxDepth`. */
function messagePaths(buf: Uint8Array, maxDepth: number, prefix: [number, number][] = [], out: [number, number][][] = []): [number, number][][] {
  if (prefix.length >= maxDepth || out.length > 2000) return out;
  let fields;
  try {
    fields = listFields(buf);
  } catch {
    return out;
  }
  const seen = new Map<number, number>();
  for (const f of fields) {
    if (f.wire !== 2) continue;
    const occurrence = seen.get(f.field) ?? 0;
    seen.set(f.field, occurrence + 1);
    const path: [number, number][] = [...prefix, [f.field, occurrence]];
    out.push(path);
    const inner = buf.subarray(f.payloadStart, f.end);
    if (inner.length < 200_000) messagePaths(inner, maxDepth, path, out);
  }
  return out;
}

const pathsCache = new WeakMap<Uint8Array, [number, number][][]>();
function pathsOf(seed: Uint8Array): [number, number][][] {
  let paths = pathsCache.get(seed);
  if (!paths) pathsCache.set(seed, (paths = messagePaths(seed, 6)));
  return paths;
}

const HUGE = [2n ** 31n, 2n ** 32n, 2n ** 53n, 2n ** 63n - 1n, -1n, -(2n ** 63n), 1024n, 65n, 2n ** 20n];

/** One mutation of a seed; each is a function of the seed so that fast-check can shrink the choice. */
export type Mutation = (seed: Uint8Array) => Uint8Array;

const bitFlips: fc.Arbitrary<Mutation> = fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 7 })), { minLength: 1, maxLength: 8 }).map((flips) => (seed) => {
  const out = new Uint8Array(seed);
  for (const [at, bit] of flips) out[at % out.length] ^= 1 << bit;
  return out;
});

/** Cut anywhere but at the very start (an empty file is one case, not a fifth of them). */
const truncation: fc.Arbitrary<Mutation> = fc.nat().map((at) => (seed) => seed.subarray(0, 1 + (at % Math.max(1, seed.length - 1))));

const splice: fc.Arbitrary<Mutation> = fc.tuple(fc.nat(), fc.nat({ max: 64 }), fc.uint8Array({ maxLength: 32 })).map(([at, cut, bytes]) => (seed) => {
  const p = at % (seed.length + 1);
  return concatBytes(seed.subarray(0, p), bytes, seed.subarray(Math.min(seed.length, p + cut)));
});

/** A field with a huge varint value, or a length-delimited field whose length runs far past its message, inside a random message. */
const hugeNumbers: fc.Arbitrary<Mutation> = fc.tuple(fc.nat(), fc.integer({ min: 1, max: 30 }), fc.constantFrom(...HUGE), fc.boolean()).map(([pick, field, value, asLength]) => (seed) => {
  const paths = pathsOf(seed);
  const path = paths[pick % (paths.length + 1)] ?? []; // [] is the model itself
  const extra = asLength ? concatBytes(varintBytes(field * 8 + 2), varintBytes(value), new Uint8Array(3)) : varintField(field, value);
  return appendToSubmessage(seed, path, extra);
});

/** Deep If nesting, from a few levels to thousands. */
const nests = new Map<number, Uint8Array>();
const deepNesting: fc.Arbitrary<Mutation> = fc.constantFrom(1, 2, 5, 16, 17, 40, 120, 3000).map((depth) => (seed) => {
  let node = nests.get(depth);
  if (!node) nests.set(depth, (node = nestedIf(depth)));
  return withNode(seed, node);
});

/** Conv/pool geometry and dims, small to absurd. */
const hugeGeometry: fc.Arbitrary<Mutation> = fc
  .tuple(fc.constantFrom('strides', 'kernel_shape', 'pads', 'dilations'), fc.constantFrom('Conv', 'MaxPool', 'AveragePool', 'ConvTranspose'), fc.constantFrom(...HUGE, 2n, 64n), fc.constantFrom(...HUGE, 2n, 0n))
  .map(([name, op, a, dim]) => (seed) => {
    const withOp = withNode(seed, nodeBytes(op, ['image', 'w'], ['y'], [attributeBytes(name, { ints: [a, a] })]));
    return dim === 0n ? withOp : withGraphField(withOp, 5, tensorBytes('big', [dim, 3n]));
  });

/** External data in one of the places ONNX allows, pointing anywhere. */
const externalData: fc.Arbitrary<Mutation> = fc
  .tuple(fc.nat(), fc.constantFrom<Record<string, string>>({ location: 'models/preact_resnet_standard.onnx' }, { location: '/etc/passwd' }, { location: 'missing.bin' }, {}, { location: '../x', offset: '0', length: '99999999999' }))
  .map(([pick, entries]) => (seed) => {
    const places = externalDataPlaces(seed, { entries });
    return places[pick % places.length].bytes;
  });

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(bitFlips, truncation, splice, hugeNumbers, deepNesting, hugeGeometry, externalData);

/** Several mutations in a row on one seed. */
export function hostileModel(seeds: readonly Uint8Array[]): fc.Arbitrary<Uint8Array> {
  return fc.tuple(fc.nat({ max: seeds.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 3 })).map(([i, ms]) =>
    ms.reduce((bytes, m) => {
      try {
        return m(bytes);
      } catch {
        return bytes; // a structural mutation of bytes an earlier one already broke: the test splicer cannot parse them
      }
    }, seeds[i]),
  );
}

export type Outcome = { kind: 'decoded' } | { kind: 'refused'; code: string } | { kind: 'thrown'; error: unknown };

/** Decodes and inspects as the upload check does; ModelError is a refusal, anything else a bug. */
export function judge(bytes: Uint8Array): Outcome {
  try {
    const model = decodeModel(bytes);
    summarizeModel(model);
    findDownsamplingOps(model);
    return { kind: 'decoded' };
  } catch (err) {
    return err instanceof ModelError ? { kind: 'refused', code: err.code } : { kind: 'thrown', error: err };
  }
}

/** Longest one input may take to decode and inspect (a large seed on a loaded machine is well under). */
export const DECODE_BOUND_MS = 2000;

