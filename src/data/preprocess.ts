/**
 * Model-input preprocessing (SPEC §3): pixels x in [0,1] become `(x*scale - mean) / std`
 * per channel, laid out as the model's input wants (NCHW or NHWC).
 */
import { CIFAR10_IMAGE_BYTES, type Cifar10Set } from './cifar10.js';

/** Memory order of a model's image input. */
export type Layout = 'NCHW' | 'NHWC';

type Triple = [number, number, number];

/** Per-channel normalisation; `mean` and `std` are in the units of `scale` (1 or 255). */
export interface Preprocessing {
  name: string;
  mean: Triple;
  std: Triple;
  scale: 1 | 255;
}

/** A bad option value; the message is one line naming the option. */
export class InvalidOptionError extends Error {
  readonly code = 'INVALID_OPTION' as const;

  constructor(message: string) {
    super(message);
    this.name = 'InvalidOptionError';
  }
}

/**
 * Named presets in [0,1] units. With `scale` 255 the statistics of `cifar10` and `imagenet`
 * are multiplied by 255 (so they normalise identically at either scale), while `none` stays
 * mean 0, std 1: the model then gets raw 0-255 pixels.
 */
export const PREPROCESSING_PRESETS: Readonly<Record<'none' | 'cifar10' | 'imagenet', { mean: Triple; std: Triple }>> = {
  none: { mean: [0, 0, 0], std: [1, 1, 1] },
  cifar10: { mean: [0.4914, 0.4822, 0.4465], std: [0.2471, 0.2435, 0.2616] },
  imagenet: { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
};

/**
 * Presets that `--preprocess auto` tries, in order. `auto` itself is not a preset: the caller
 * resolves each name here with {@link resolvePreprocessing}, measures clean accuracy, and keeps
 * the best.
 */
export const AUTO_PRESETS = ['none', 'cifar10', 'imagenet'] as const;

/** Options as they come from the CLI or form fields (strings) or from code (numbers). */
export interface PreprocessingOptions {
  preset?: string;
  mean?: string | number[];
  std?: string | number[];
  scale?: number | string;
}

const isBlank = (v: unknown): boolean => v === undefined || (typeof v === 'string' && v.trim() === '');

/** Parses one number, also as a fraction such as `125/255`. */
function parseNumber(text: string): number {
  const t = text.trim();
  const frac = /^([^/]+)\/([^/]+)$/.exec(t);
  if (frac) return Number(frac[1].trim()) / Number(frac[2].trim());
  return t === '' ? Number.NaN : Number(t);
}

function parseTriple(option: string, value: string | number[]): Triple {
  const parts = typeof value === 'string' ? value.split(',').map(parseNumber) : value;
  if (parts.length !== 3 || !parts.every((v) => typeof v === 'number' && Number.isFinite(v))) {
    throw new InvalidOptionError(`--${option} must be 3 finite numbers a,b,c (got ${JSON.stringify(value)})`);
  }
  return [parts[0], parts[1], parts[2]];
}

function parseScale(value: number | string): 1 | 255 {
  const n = typeof value === 'number' ? value : Number(value.trim());
  if (n === 1 || n === 255) return n;
  throw new InvalidOptionError(`--scale must be 1 or 255 (got ${JSON.stringify(value)})`);
}

/**
 * Turns preprocessing options into concrete values. `preset` is one of `none`, `cifar10`,
 * `imagenet` (default `none`); `auto` is rejected here, because choosing needs a model: loop
 * over {@link AUTO_PRESETS} instead. With `scale` 255, `none` feeds raw 0-255 pixels and the
 * `cifar10`/`imagenet` statistics are multiplied by 255 (see {@link PREPROCESSING_PRESETS});
 * Caffe-style inputs (0-255 minus a mean, std 1) need explicit values. Explicit `mean`/`std`
 * (strings `a,b,c`, fractions allowed, or arrays) are taken as given, in the units of `scale`,
 * override the preset's, and name the result `custom`. Blank strings count as absent (empty
 * form fields).
 *
 * @throws InvalidOptionError for an unknown preset, not exactly 3 finite numbers, std <= 0,
 *   or a scale other than 1 or 255.
 */
export function resolvePreprocessing(opts: PreprocessingOptions): Preprocessing {
  const scale = isBlank(opts.scale) ? 1 : parseScale(opts.scale as number | string);
  const presetName = isBlank(opts.preset) ? 'none' : (opts.preset as string).trim().toLowerCase();
  if (presetName === 'auto') {
    throw new InvalidOptionError(`--preprocess auto must be resolved by trying each of ${AUTO_PRESETS.join(', ')}`);
  }
  if (!Object.hasOwn(PREPROCESSING_PRESETS, presetName)) {
    throw new InvalidOptionError(
      `--preprocess must be one of ${[...AUTO_PRESETS, 'auto'].join(', ')} (got ${JSON.stringify(opts.preset)})`,
    );
  }
  const preset = PREPROCESSING_PRESETS[presetName as keyof typeof PREPROCESSING_PRESETS];
  const hasMean = !isBlank(opts.mean);
  const hasStd = !isBlank(opts.std);
  // `none` is the identity at any scale (scale 255 then feeds raw 0-255 pixels); the other
  // presets are dataset statistics, converted to the pixel units of `scale`.
  const unit = presetName === 'none' ? 1 : scale;
  const mean = hasMean ? parseTriple('mean', opts.mean as string | number[]) : (preset.mean.map((v) => v * unit) as Triple);
  const std = hasStd ? parseTriple('std', opts.std as string | number[]) : (preset.std.map((v) => v * unit) as Triple);
  if (!std.every((v) => v > 0)) {
    throw new InvalidOptionError(`--std values must be > 0 (got ${std.join(',')})`);
  }
  return { name: hasMean || hasStd ? 'custom' : presetName, mean, std, scale };
}

/**
 * Detects the layout of a 4-D image input from its shape (symbolic dims as strings or null):
 * NCHW when dim 1 is 3, NHWC when dim 3 is 3.
 *
 * @throws InvalidOptionError when the shape is not 4-D or is ambiguous; the message says to
 *   pass --layout.
 */
export function detectLayout(shape: readonly (number | string | null)[]): Layout {
  if (shape.length !== 4) {
    throw new InvalidOptionError(
      `cannot detect the input layout: input shape [${shape.join(',')}] is not 4-D; pass --layout NCHW or NHWC if the model takes images`,
    );
  }
  const channelsFirst = shape[1] === 3;
  const channelsLast = shape[3] === 3;
  if (channelsFirst && !channelsLast) return 'NCHW';
  if (channelsLast && !channelsFirst) return 'NHWC';
  throw new InvalidOptionError(
    `cannot detect the input layout from shape [${shape.map((d) => d ?? '?').join(',')}]; pass --layout NCHW or --layout NHWC`,
  );
}

/**
 * Resolves a `--layout` value: `auto` (or blank) detects from the shape, else NCHW/NHWC in
 * any case.
 *
 * @throws InvalidOptionError for other values or when detection fails.
 */
export function resolveLayout(option: string | undefined, shape: readonly (number | string | null)[]): Layout {
  const v = (option ?? '').trim().toUpperCase();
  if (v === '' || v === 'AUTO') return detectLayout(shape);
  if (v === 'NCHW' || v === 'NHWC') return v;
  throw new InvalidOptionError(`--layout must be auto, NCHW or NHWC (got ${JSON.stringify(option)})`);
}

function checkRange(set: Cifar10Set, start: number, count: number): void {
  if (!Number.isInteger(start) || !Number.isInteger(count) || start < 0 || count < 0 || start + count > set.count) {
    throw new RangeError(`images [${start}, ${start + count}) are outside the set of ${set.count}`);
  }
}

/** Returns `out` viewed as exactly `n` floats, or a new array when none is given. */
function outputBuffer(n: number, out: Float32Array | undefined): Float32Array {
  if (out === undefined) return new Float32Array(n);
  if (out.length < n) throw new RangeError(`output buffer holds ${out.length} floats, ${n} needed`);
  return out.length === n ? out : out.subarray(0, n);
}

/** The constants of `(x*scale - mean) / std` as float32, the precision the gradient graph holds them in. */
export interface Normalisation {
  scale: number;
  mean: readonly [number, number, number];
  std: readonly [number, number, number];
}

export function normalisation(pre: Preprocessing): Normalisation {
  const f = Math.fround;
  return { scale: f(pre.scale), mean: [f(pre.mean[0]), f(pre.mean[1]), f(pre.mean[2])], std: [f(pre.std[0]), f(pre.std[1]), f(pre.std[2])] };
}

/**
 * The one normalisation of a pixel (SPEC §3) for channel `c`: times scale, minus mean, over std,
 * each step rounded to float32 as the gradient graph's Mul, Sub and Div nodes round it. The
 * audit's inputs, the attacks' inputs and the gradient graph then agree to the bit, also on
 * argmax ties. (A step the graph leaves out, e.g. Mul by 1, is exact here too.)
 */
export function normalisedPixel(x: number, k: Normalisation, c: number): number {
  return Math.fround(Math.fround(Math.fround(x * k.scale) - k.mean[c]) / k.std[c]);
}

/**
 * Writes images [start, start+count) as model input `(x*scale - mean[c]) / std[c]`,
 * x = byte/255, shape [count,3,32,32] (NCHW) or [count,32,32,3] (NHWC).
 *
 * @param out reused when given (e.g. one buffer per batch size); it must hold at least
 *   count*3072 floats. The result is `out` itself when its length matches, else a view of its
 *   first count*3072 floats, so no pixel data is allocated.
 */
export function fillModelInput(
  set: Cifar10Set,
  start: number,
  count: number,
  pre: Preprocessing,
  layout: Layout,
  out?: Float32Array,
): Float32Array {
  checkRange(set, start, count);
  const dst = outputBuffer(count * CIFAR10_IMAGE_BYTES, out);
  // One lookup table per channel: 768 normalisations instead of one per pixel. A byte's pixel
  // is the float32 byte/255 that pixelsInUnitRange gives the attacks.
  const lut = new Float32Array(3 * 256);
  const k = normalisation(pre);
  for (let c = 0; c < 3; c++) {
    for (let b = 0; b < 256; b++) lut[c * 256 + b] = normalisedPixel(Math.fround(b / 255), k, c);
  }
  const src = set.images;
  for (let i = 0; i < count; i++) {
    const s = (start + i) * CIFAR10_IMAGE_BYTES;
    const d = i * CIFAR10_IMAGE_BYTES;
    for (let c = 0; c < 3; c++) {
      const plane = s + c * 1024;
      const off = c * 256;
      if (layout === 'NCHW') {
        const dp = d + c * 1024;
        for (let p = 0; p < 1024; p++) dst[dp + p] = lut[off + src[plane + p]]!;
      } else {
        for (let p = 0; p < 1024; p++) dst[d + p * 3 + c] = lut[off + src[plane + p]]!;
      }
    }
  }
  return dst;
}

/**
 * Pixels of images [start, start+count) in [0,1] (byte/255), shape [count,3,32,32]: the
 * space attacks perturb before preprocessing. `out` is reused as in {@link fillModelInput}.
 */
export function pixelsInUnitRange(set: Cifar10Set, start: number, count: number, out?: Float32Array): Float32Array {
  checkRange(set, start, count);
  const dst = outputBuffer(count * CIFAR10_IMAGE_BYTES, out);
  const src = set.images.subarray(start * CIFAR10_IMAGE_BYTES, (start + count) * CIFAR10_IMAGE_BYTES);
  for (let k = 0; k < src.length; k++) dst[k] = src[k] / 255;
  return dst;
}
