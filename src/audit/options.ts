/**
 * Audit options shared by the CLI and the HTTP service (SPEC §6: same names, camelCase).
 * Everything arrives as text (argv or form fields) and is validated here, once.
 */
import { RobustnessOverrides } from '../attacks/presets.js';
import { ATTACK_NAMES, AttackName } from '../attacks/suite.js';
import type { Norm } from '../attacks/types.js';
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
  /** Attack suite: none, or a preset refined by `attack`. */
  robustness: 'none' | 'fast' | 'standard';
  attack: RobustnessOverrides;
  /** Fail (exit 1) when the worst-case robust accuracy is below this. */
  minRobustAccuracy?: number;
}

/** The values each choice option takes (the CLI, the form fields and the web page list these). */
export const PREPROCESS_CHOICES: readonly AuditOptions['preprocess'][] = ['auto', 'none', 'cifar10', 'imagenet'];
export const LAYOUT_CHOICES: readonly AuditOptions['layout'][] = ['auto', 'NCHW', 'NHWC'];
export const ROBUSTNESS_CHOICES: readonly AuditOptions['robustness'][] = ['none', 'fast', 'standard'];
export const NORM_CHOICES: readonly Norm[] = ['linf', 'l2'];

export const DEFAULT_AUDIT_OPTIONS: AuditOptions = {
  samples: 1000,
  batch: 50,
  preprocess: 'auto',
  scale: 1,
  layout: 'auto',
  ep: 'auto',
  robustness: 'none',
  attack: {},
};

/** Raw option values as text, keyed by camelCase name. */
export type RawOptions = Record<string, string | undefined>;

const KNOWN = new Set([
  'samples', 'batch', 'preprocess', 'mean', 'std', 'scale', 'layout', 'ep', 'maxAmRel', 'cifar10Dir',
  'robustness', 'norm', 'eps', 'seed', 'attackSamples', 'attacks', 'pgdSteps', 'pgdRestarts', 'pgdStepSize', 'squareQueries', 'minRobustAccuracy',
  'apgdIterations', 'apgdRestarts', 'apgdTargets', 'fabIterations', 'fabTargets',
]);

/** A fraction such as 8/255, or a plain number. */
export function parseFraction(name: string, text: string, min: number, max: number): number {
  const t = text.trim();
  const m = /^([0-9.eE+-]+)\s*\/\s*([0-9.eE+-]+)$/.exec(t);
  const v = m ? Number(m[1]) / Number(m[2]) : t === '' ? Number.NaN : Number(t);
  if (!Number.isFinite(v) || v < min || v > max) {
    throw new InvalidOptionError(`--${kebab(name)} must be a number or fraction such as 8/255 from ${min} to ${max} (got ${JSON.stringify(text)})`);
  }
  return v;
}

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
  const has = (k: string): boolean => raw[k] !== undefined && raw[k].trim() !== '';
  if (has('samples')) o.samples = integer('samples', raw.samples!, 1, 10000);
  if (has('batch')) o.batch = integer('batch', raw.batch!, 1, 1024);
  if (has('preprocess')) o.preprocess = oneOf('preprocess', raw.preprocess!, PREPROCESS_CHOICES);
  if (has('mean')) o.mean = raw.mean;
  if (has('std')) o.std = raw.std;
  if ((o.mean === undefined) !== (o.std === undefined)) throw new InvalidOptionError('--mean and --std go together: give both');
  if (has('scale')) o.scale = Number(oneOf('scale', raw.scale!, ['1', '255'] as const)) as 1 | 255;
  if (has('layout')) o.layout = oneOf('layout', raw.layout!, LAYOUT_CHOICES);
  if (has('ep')) o.ep = oneOf('ep', raw.ep!, EXECUTION_PROVIDERS);
  if (has('maxAmRel')) {
    const v = Number(raw.maxAmRel);
    if (!Number.isFinite(v) || v < 0) throw new InvalidOptionError(`--max-am-rel must be a number >= 0 (got ${JSON.stringify(raw.maxAmRel)})`);
    o.maxAmRel = v;
  }
  if (has('cifar10Dir')) o.cifar10Dir = raw.cifar10Dir;
  if (has('robustness')) o.robustness = oneOf('robustness', raw.robustness!, ROBUSTNESS_CHOICES);
  const a: RobustnessOverrides = {};
  if (has('norm')) a.norm = oneOf('norm', raw.norm!, NORM_CHOICES);
  if (has('eps')) {
    // An L2 ball of radius sqrt(3072) around any image holds the whole [0,1] cube.
    a.eps = parseFraction('eps', raw.eps!, 0, a.norm === 'l2' ? Math.sqrt(3 * 32 * 32) : 1);
    a.epsText = raw.eps!.trim();
  }
  if (has('seed')) a.seed = integer('seed', raw.seed!, 0, 2 ** 31 - 1);
  if (has('attackSamples')) a.attackSamples = integer('attackSamples', raw.attackSamples!, 1, 10000);
  if (has('attacks')) {
    const names = raw.attacks!.split(',').map((x) => oneOf('attacks', x, ATTACK_NAMES));
    a.attacks = [...new Set<AttackName>(names)];
  }
  if (has('pgdSteps')) a.pgdSteps = integer('pgdSteps', raw.pgdSteps!, 1, 1000);
  if (has('pgdRestarts')) a.pgdRestarts = integer('pgdRestarts', raw.pgdRestarts!, 1, 100);
  if (has('pgdStepSize')) a.pgdStepSize = parseFraction('pgdStepSize', raw.pgdStepSize!, 0, 1);
  if (has('squareQueries')) a.squareQueries = integer('squareQueries', raw.squareQueries!, 1, 100000);
  if (has('apgdIterations')) a.apgdIterations = integer('apgdIterations', raw.apgdIterations!, 1, 1000);
  if (has('apgdRestarts')) a.apgdRestarts = integer('apgdRestarts', raw.apgdRestarts!, 1, 100);
  if (has('apgdTargets')) a.apgdTargets = integer('apgdTargets', raw.apgdTargets!, 1, 9);
  if (has('fabIterations')) a.fabIterations = integer('fabIterations', raw.fabIterations!, 1, 1000);
  if (has('fabTargets')) a.fabTargets = integer('fabTargets', raw.fabTargets!, 1, 9);
  o.attack = a;
  if (has('minRobustAccuracy')) o.minRobustAccuracy = parseFraction('minRobustAccuracy', raw.minRobustAccuracy!, 0, 1);
  if (o.robustness === 'none' && (Object.keys(a).length > 0 || o.minRobustAccuracy !== undefined)) {
    throw new InvalidOptionError('attack options need --robustness fast or standard');
  }
  return o;
}
