/**
 * Audit options shared by the CLI and the HTTP service (SPEC §6: same names, camelCase).
 * Everything arrives as text (argv or form fields) and is validated here, once.
 */
import { InvalidOptionError } from '../data/preprocess.js';
import { EXECUTION_PROVIDERS, ExecutionProviderChoice } from '../runtime/session.js';

export interface AuditOptions {
  /** First N CIFAR-10 test images. */
  samples: number;
  /** Images per inference call (a model with a fixed batch size uses its own). */
  batch: number;
  preprocess: 'auto' | 'none' | 'cifar10' | 'imagenet';
  mean?: string;
  std?: string;
  scale: 1 | 255;
  layout: 'auto' | 'NCHW' | 'NHWC';
  ep: ExecutionProviderChoice;
  /** Fail (exit 1) when any downsampling op's amRel exceeds this. */
  maxAmRel?: number;
  /** Folder with the official CIFAR-10 binary batches. */
  cifar10Dir?: string;
}

export const DEFAULT_AUDIT_OPTIONS: AuditOptions = {
  samples: 1000,
  batch: 50,
  preprocess: 'auto',
  scale: 1,
  layout: 'auto',
  ep: 'auto',
};

/** Raw option values as text, keyed by camelCase name. */
export type RawOptions = Record<string, string | undefined>;

const KNOWN = new Set(['samples', 'batch', 'preprocess', 'mean', 'std', 'scale', 'layout', 'ep', 'maxAmRel', 'cifar10Dir', 'robustness']);

function integer(name: string, text: string, min: number, max: number): number {
  const v = Number(text);
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new InvalidOptionError(`--${kebab(name)} must be a whole number from ${min} to ${max} (got ${JSON.stringify(text)})`);
  }
  return v;
}

function oneOf<T extends string>(name: string, text: string, allowed: readonly T[]): T {
  const match = allowed.find((a) => a.toLowerCase() === text.trim().toLowerCase());
  if (!match) throw new InvalidOptionError(`--${kebab(name)} must be one of ${allowed.join(', ')} (got ${JSON.stringify(text)})`);
  return match;
}

export function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** Validates raw options; unknown names and bad values throw InvalidOptionError. */
export function parseAuditOptions(raw: RawOptions): AuditOptions {
  for (const key of Object.keys(raw)) {
    if (!KNOWN.has(key)) throw new InvalidOptionError(`unknown option --${kebab(key)}`);
  }
  const o: AuditOptions = { ...DEFAULT_AUDIT_OPTIONS };
  const has = (k: string): boolean => raw[k] !== undefined && raw[k]!.trim() !== '';
  if (has('samples')) o.samples = integer('samples', raw.samples!, 1, 10000);
  if (has('batch')) o.batch = integer('batch', raw.batch!, 1, 1024);
  if (has('preprocess')) o.preprocess = oneOf('preprocess', raw.preprocess!, ['auto', 'none', 'cifar10', 'imagenet'] as const);
  if (has('mean')) o.mean = raw.mean;
  if (has('std')) o.std = raw.std;
  if ((o.mean === undefined) !== (o.std === undefined)) throw new InvalidOptionError('--mean and --std go together: give both');
  if (has('scale')) o.scale = Number(oneOf('scale', raw.scale!, ['1', '255'] as const)) as 1 | 255;
  if (has('layout')) o.layout = oneOf('layout', raw.layout!, ['auto', 'NCHW', 'NHWC'] as const);
  if (has('ep')) o.ep = oneOf('ep', raw.ep!, EXECUTION_PROVIDERS);
  if (has('maxAmRel')) {
    const v = Number(raw.maxAmRel);
    if (!Number.isFinite(v) || v < 0) throw new InvalidOptionError(`--max-am-rel must be a number >= 0 (got ${JSON.stringify(raw.maxAmRel)})`);
    o.maxAmRel = v;
  }
  if (has('cifar10Dir')) o.cifar10Dir = raw.cifar10Dir;
  if (has('robustness') && raw.robustness!.trim() !== 'none') {
    throw new InvalidOptionError('--robustness: only "none" is available in this version; attacks are not implemented yet');
  }
  return o;
}
