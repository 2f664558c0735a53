/**
 * One normalisation (x*scale - mean)/std for the audit, the attacks and the gradient graph: the
 * audit's inputs (fillModelInput from bytes), the attacks' inputs (pixelsToModelInput from the
 * float pixels they perturb) and the gradient graph's in-graph Mul/Sub/Div (run by ONNX Runtime)
 * give the same float32 bits for every byte value, preset and layout, so the three can never
 * disagree on an argmax tie.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GradientGraphClassifier, pixelsToModelInput } from '../../src/attacks/onnxClassifiers.js';
import type { Cifar10Set } from '../../src/data/cifar10.js';
import { fillModelInput, pixelsInUnitRange, resolvePreprocessing, type Layout, type Preprocessing } from '../../src/data/preprocess.js';
import { decodeModel } from '../../src/onnx/codec.js';
import { summarizeModel } from '../../src/onnx/inspect.js';
import { opModel } from '../attacks/grad/helpers.js';

/** Two images holding every byte value in every channel (and a reversed copy). */
function everyByte(): Cifar10Set {
  const images = new Uint8Array(2 * 3072);
  for (let i = 0; i < images.length; i++) images[i] = i < 3072 ? i % 256 : 255 - (i % 256);
  return { images, labels: new Uint8Array(2), count: 2, source: 'synthetic:every-byte' };
}

const CASES: { label: string; pre: Preprocessing }[] = [
  { label: 'none', pre: resolvePreprocessing({ preset: 'none' }) },
  { label: 'cifar10', pre: resolvePreprocessing({ preset: 'cifar10' }) },
  { label: 'imagenet', pre: resolvePreprocessing({ preset: 'imagenet' }) },
  { label: 'imagenet at scale 255', pre: resolvePreprocessing({ preset: 'imagenet', scale: 255 }) },
  { label: 'custom thirds', pre: resolvePreprocessing({ mean: '1/3,0.1,0.7', std: '0.3,1/7,0.9' }) },
];

/** The layout-independent view: NHWC values back in NCHW order. */
function toNchw(values: Float32Array, layout: Layout, count: number): Float32Array {
  if (layout === 'NCHW') return values;
  const out = new Float32Array(values.length);
  for (let i = 0; i < count; i++) for (let c = 0; c < 3; c++) for (let p = 0; p < 1024; p++) out[i * 3072 + c * 1024 + p] = values[i * 3072 + p * 3 + c];
  return out;
}

function firstDifference(a: Float32Array, b: Float32Array): string {
  const i = a.findIndex((v, k) => !Object.is(v, b[k]));
  return i < 0 ? 'none' : `element ${i}: ${a[i]} vs ${b[i]}`;
}

describe('the one normalisation', () => {
  const set = everyByte();
  const pixels = pixelsInUnitRange(set, 0, 2);
  // A model whose "logits" are its flattened input: the gradient graph's logits are then its preprocessing.
  const flatten = opModel({ opset: 13, input: ['N', 3, 32, 32], center: false, build: (g, x) => g.op('Flatten', [x]) });
  const flattened = summarizeModel(decodeModel(flatten)).outputs[0];

  for (const { label, pre } of CASES) {
    for (const layout of ['NCHW', 'NHWC'] as const) {
      it(`${label}, ${layout}: bytes, float pixels and the gradient graph agree to the bit`, async () => {
        const fromBytes = fillModelInput(set, 0, 2, pre, layout);
        const fromPixels = new Float32Array(2 * 3072);
        pixelsToModelInput(pixels, 2, pre, layout, fromPixels);
        assert.equal(firstDifference(fromBytes, fromPixels), 'none');
        if (layout === 'NHWC') return; // the gradient graph's transpose to NHWC moves values, it computes none
        const graph = await GradientGraphClassifier.open(flatten, { inputName: 'x', logitsName: flattened, layout, preprocessing: pre, fixedBatch: null, ep: 'cpu' }).catch((err: unknown) => {
          throw new Error(`gradient graph: ${(err as Error).message}`);
        });
        try {
          const { logits } = await graph.lossGradient(pixels, new Uint8Array(2), 2);
          assert.equal(firstDifference(toNchw(fromBytes, layout, 2), logits), 'none');
        } finally {
          await graph.release();
        }
      });
    }
  }
});
