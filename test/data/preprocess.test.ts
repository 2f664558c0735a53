import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Cifar10Set } from '../../src/data/cifar10.js';
import {
  AUTO_PRESETS,
  InvalidOptionError,
  detectLayout,
  fillModelInput,
  pixelsInUnitRange,
  resolveLayout,
  resolvePreprocessing,
} from '../../src/data/preprocess.js';

const close = (a: number, b: number, tol = 1e-6): void => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);

/** Three images with distinct, recognisable bytes: value depends on image, channel, pixel. */
function syntheticSet(): Cifar10Set {
  const count = 3;
  const images = new Uint8Array(count * 3072);
  for (let i = 0; i < count; i++) {
    for (let c = 0; c < 3; c++) {
      for (let p = 0; p < 1024; p++) images[i * 3072 + c * 1024 + p] = (i * 50 + c * 80 + p) & 255;
    }
  }
  return { images, labels: Uint8Array.from([3, 8, 8]), count, source: 'synthetic' };
}
const byteAt = (i: number, c: number, p: number): number => (i * 50 + c * 80 + p) & 255;

describe('resolvePreprocessing', () => {
  it('resolves the SPEC presets, default none', () => {
    assert.deepEqual(resolvePreprocessing({}), { name: 'none', mean: [0, 0, 0], std: [1, 1, 1], scale: 1 });
    const c = resolvePreprocessing({ preset: 'cifar10' });
    assert.deepEqual(c, { name: 'cifar10', mean: [0.4914, 0.4822, 0.4465], std: [0.2471, 0.2435, 0.2616], scale: 1 });
    const i = resolvePreprocessing({ preset: 'ImageNet' });
    assert.deepEqual(i.mean, [0.485, 0.456, 0.406]);
    assert.deepEqual(i.std, [0.229, 0.224, 0.225]);
  });

  it('puts preset values in the 0-255 scale when scale is 255', () => {
    const p = resolvePreprocessing({ preset: 'imagenet', scale: '255' });
    assert.equal(p.scale, 255);
    [123.675, 116.28, 103.53].forEach((m, c) => close(p.mean[c], m, 1e-9));
    [58.395, 57.12, 57.375].forEach((s, c) => close(p.std[c], s, 1e-9));
    assert.deepEqual(resolvePreprocessing({ scale: 255 }), { name: 'none', mean: [0, 0, 0], std: [1, 1, 1], scale: 255 });
  });

  it('takes explicit mean/std as given, as strings or arrays, and names them custom', () => {
    const p = resolvePreprocessing({ mean: '125.3, 123.0,113.9', std: [63, 62.1, 66.7], scale: 255 });
    assert.deepEqual(p, { name: 'custom', mean: [125.3, 123, 113.9], std: [63, 62.1, 66.7], scale: 255 });
    const q = resolvePreprocessing({ preset: 'cifar10', mean: '0.5,0.5,0.5' });
    assert.deepEqual(q.std, [0.2471, 0.2435, 0.2616], 'std stays the preset');
    close(resolvePreprocessing({ mean: '128/255,0,0' }).mean[0], 128 / 255);
    assert.equal(resolvePreprocessing({ preset: '', mean: '', std: '', scale: '' }).name, 'none');
  });

  it('rejects bad options with an InvalidOptionError naming the option', () => {
    const cases: [Parameters<typeof resolvePreprocessing>[0], RegExp][] = [
      [{ preset: 'mnist' }, /--preprocess/],
      [{ preset: 'auto' }, /--preprocess auto/],
      [{ mean: '0.5,0.5' }, /--mean/],
      [{ mean: '0.5,x,0.5' }, /--mean/],
      [{ mean: [0, 0, Number.NaN] }, /--mean/],
      [{ std: '1,0,1' }, /--std/],
      [{ std: '1,-2,1' }, /--std/],
      [{ std: '1,Infinity,1' }, /--std/],
      [{ scale: 2 }, /--scale/],
      [{ scale: '255x' }, /--scale/],
    ];
    for (const [opts, pattern] of cases) {
      assert.throws(() => resolvePreprocessing(opts), (err: unknown) => {
        assert.ok(err instanceof InvalidOptionError, JSON.stringify(opts));
        assert.match(err.message, pattern);
        assert.ok(!err.message.includes('\n'), 'one line');
        return true;
      });
    }
  });

  it('lists every auto candidate as a resolvable preset', () => {
    for (const name of AUTO_PRESETS) assert.equal(resolvePreprocessing({ preset: name }).name, name);
  });
});

describe('layout', () => {
  it('detects NCHW and NHWC, with symbolic batch dims', () => {
    assert.equal(detectLayout([1, 3, 32, 32]), 'NCHW');
    assert.equal(detectLayout(['batch', 3, 32, 32]), 'NCHW');
    assert.equal(detectLayout([null, 32, 32, 3]), 'NHWC');
    assert.equal(detectLayout(['N', 'H', 'W', 3]), 'NHWC');
  });

  it('asks for --layout when ambiguous or not 4-D', () => {
    for (const shape of [[1, 3, 32, 3], [1, 32, 32, 32], ['N', 'C', 'H', 'W'], [1, 3072], [1, 1, 3, 32, 32]]) {
      assert.throws(() => detectLayout(shape), (err: unknown) => err instanceof InvalidOptionError && /--layout/.test(err.message));
    }
  });

  it('resolves the --layout option', () => {
    assert.equal(resolveLayout('auto', [1, 32, 32, 3]), 'NHWC');
    assert.equal(resolveLayout(undefined, [1, 3, 32, 32]), 'NCHW');
    assert.equal(resolveLayout('nhwc', [1, 3, 32, 32]), 'NHWC');
    assert.throws(() => resolveLayout('CHW', [1, 3, 32, 32]), InvalidOptionError);
  });
});

describe('fillModelInput', () => {
  const set = syntheticSet();
  const pre = resolvePreprocessing({ preset: 'cifar10' });
  const expected = (i: number, c: number, p: number): number => (byteAt(i, c, p) / 255 - pre.mean[c]) / pre.std[c];

  it('writes (x*scale - mean)/std in NCHW', () => {
    const out = fillModelInput(set, 1, 2, pre, 'NCHW');
    assert.equal(out.length, 2 * 3072);
    for (const [k, c, y, x] of [[0, 0, 0, 0], [0, 2, 31, 31], [1, 1, 5, 7], [1, 2, 16, 0]] as const) {
      close(out[k * 3072 + c * 1024 + y * 32 + x], expected(1 + k, c, y * 32 + x), 1e-5);
    }
  });

  it('writes the same values in NHWC order', () => {
    const out = fillModelInput(set, 1, 2, pre, 'NHWC');
    for (const [k, c, y, x] of [[0, 0, 0, 0], [0, 2, 31, 31], [1, 1, 5, 7], [1, 2, 16, 0]] as const) {
      close(out[k * 3072 + (y * 32 + x) * 3 + c], expected(1 + k, c, y * 32 + x), 1e-5);
    }
  });

  it('handles scale 255 (raw pixels for none, matching values for a preset)', () => {
    const raw = fillModelInput(set, 0, 1, resolvePreprocessing({ scale: 255 }), 'NCHW');
    for (const p of [0, 100, 1023]) close(raw[1024 + p], byteAt(0, 1, p), 1e-4);
    const a = fillModelInput(set, 0, 1, resolvePreprocessing({ preset: 'imagenet' }), 'NCHW');
    const b = fillModelInput(set, 0, 1, resolvePreprocessing({ preset: 'imagenet', scale: 255 }), 'NCHW');
    for (let k = 0; k < a.length; k += 97) close(a[k], b[k], 1e-5);
  });

  it('reuses the output buffer, returning a view when it is larger', () => {
    const buf = new Float32Array(3 * 3072);
    const full = fillModelInput(set, 0, 3, pre, 'NCHW', buf);
    assert.equal(full, buf);
    const part = fillModelInput(set, 2, 1, pre, 'NHWC', buf);
    assert.equal(part.buffer, buf.buffer);
    assert.equal(part.length, 3072);
    close(buf[5 * 3 + 1], expected(2, 1, 5), 1e-5);
    assert.throws(() => fillModelInput(set, 0, 2, pre, 'NCHW', new Float32Array(3072)), RangeError);
  });

  it('rejects ranges outside the set', () => {
    assert.throws(() => fillModelInput(set, 2, 2, pre, 'NCHW'), RangeError);
    assert.throws(() => fillModelInput(set, -1, 1, pre, 'NCHW'), RangeError);
    assert.throws(() => pixelsInUnitRange(set, 0, 1.5), RangeError);
  });
});

describe('pixelsInUnitRange', () => {
  it('returns byte/255 in NCHW, reusing the buffer', () => {
    const set = syntheticSet();
    const buf = new Float32Array(2 * 3072);
    const out = pixelsInUnitRange(set, 1, 2, buf);
    assert.equal(out, buf);
    for (const [k, c, p] of [[0, 0, 0], [1, 2, 1023], [1, 1, 77]] as const) {
      close(out[k * 3072 + c * 1024 + p], byteAt(1 + k, c, p) / 255);
    }
    assert.ok(out.every((v) => v >= 0 && v <= 1));
  });
});
