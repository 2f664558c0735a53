/**
 * Audit options from `POST /audit` form fields: the CLI's option names in camelCase (SPEC §6),
 * validated by the same parser as the CLI's flags.
 */
import { robustnessPlan } from '../attacks/presets.js';
import type { RobustnessPlan } from '../attacks/suite.js';
import {
  AuditOptions,
  DEFAULT_AUDIT_OPTIONS,
  parseAuditOptions,
  PREPROCESS_CHOICES,
  RawOptions,
  ROBUSTNESS_CHOICES,
} from '../audit/options.js';
import { InvalidOptionError, resolvePreprocessing } from '../data/preprocess.js';
import { EXECUTION_PROVIDERS } from '../runtime/session.js';

/** Form fields that are not audit options. */
const NON_OPTION_FIELDS = new Set(['model', 'force']);
/** CLI options that name server-side paths: never settable by a client. */
const SERVER_ONLY = new Set(['cifar10Dir', 'out']);

/** Parses the form's option fields; throws InvalidOptionError (400) for bad or unknown ones. */
export function formOptions(body: Record<string, unknown>): AuditOptions {
  const raw: RawOptions = {};
  for (const [name, value] of Object.entries(body)) {
    if (NON_OPTION_FIELDS.has(name)) continue;
    if (SERVER_ONLY.has(name)) throw new InvalidOptionError(`${name} is a server setting and cannot be set per audit`);
    if (typeof value !== 'string') throw new InvalidOptionError(`field ${name} must be given once, as text`);
    raw[name] = value;
  }
  const options = parseAuditOptions(raw);
  // mean/std are kept as text by the parser and read by the audit; check them now, not in the job.
  if (options.mean !== undefined) resolvePreprocessing({ preset: 'none', mean: options.mean, std: options.std, scale: options.scale });
  return options;
}

/** Canonical text of options (sorted keys): with the model's sha256, the cache key of a report. */
export function optionsKey(options: AuditOptions): string {
  const entries = Object.entries(options).filter(([, v]) => v !== undefined);
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify(Object.fromEntries(entries));
}

/** Form or query flag: true for "true"/"1"/"yes"/"" (present without a value). */
export function flag(value: unknown): boolean {
  if (typeof value === 'boolean') return value;
  if (typeof value !== 'string') return false;
  return ['true', '1', 'yes', ''].includes(value.trim().toLowerCase());
}

/** One choice of a select field: the value the parser takes and what the page says about it. */
export interface FormChoice {
  value: string;
  label: string;
}

/**
 * What the upload page offers, from the same source as the CLI and the API: the defaults of
 * DEFAULT_AUDIT_OPTIONS and of the robustness presets, and every value the parser takes.
 */
export interface AuditFormSpec {
  defaults: Pick<AuditOptions, 'samples' | 'batch' | 'preprocess' | 'robustness' | 'ep'> & { eps: string; seed: number };
  choices: { preprocess: FormChoice[]; robustness: FormChoice[]; ep: FormChoice[] };
  /** Images each preset attacks unless `attackSamples` is given. */
  presetAttackSamples: Record<'fast' | 'standard', number>;
}

const PREPROCESS_LABELS: Record<string, string> = {
  auto: 'the best clean accuracy of the others',
  none: 'pixels in [0,1]',
  cifar10: 'CIFAR-10 mean/std',
  imagenet: 'ImageNet mean/std',
};

/** A preset in a few words, from its plan: "APGD-CE-20, APGD-T-20 (3 targets); 200 images". */
function presetLabel(plan: RobustnessPlan): string {
  const attacks = plan.attacks.map((a) => {
    if (a === 'pgd') return `PGD-${plan.pgd.steps}${plan.pgd.restarts > 1 ? ` x${plan.pgd.restarts}` : ''}`;
    if (a === 'square') return `Square ${plan.square.queries} queries`;
    if (a === 'apgd-ce') return `APGD-CE-${plan.apgd.iterations}`;
    if (a === 'apgd-t') return `APGD-T-${plan.apgd.iterations} (${plan.apgd.targets} targets)`;
    if (a === 'fab-t') return `FAB-T-${plan.fab.iterations} (${plan.fab.targets} targets)`;
    return 'FGSM';
  });
  return `${attacks.join(', ')}; ${plan.samples} images`;
}

export function auditFormSpec(): AuditFormSpec {
  // The plans as the parser leaves them with no attack options: the presets' own values.
  const plans = {
    fast: robustnessPlan('fast', {}, Number.MAX_SAFE_INTEGER),
    standard: robustnessPlan('standard', {}, Number.MAX_SAFE_INTEGER),
  };
  const d = DEFAULT_AUDIT_OPTIONS;
  return {
    defaults: { samples: d.samples, batch: d.batch, preprocess: d.preprocess, robustness: d.robustness, ep: d.ep, eps: plans.fast.epsText, seed: plans.fast.seed },
    choices: {
      preprocess: PREPROCESS_CHOICES.map((value) => ({ value, label: PREPROCESS_LABELS[value] ? `${value}: ${PREPROCESS_LABELS[value]}` : value })),
      robustness: ROBUSTNESS_CHOICES.map((value) => ({ value, label: value === 'none' ? 'none: aliasing only' : `${value}: ${presetLabel(plans[value])}` })),
      ep: EXECUTION_PROVIDERS.map((value) => ({ value, label: value })),
    },
    presetAttackSamples: { fast: plans.fast.samples, standard: plans.standard.samples },
  };
}
