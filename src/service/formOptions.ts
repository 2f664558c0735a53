/**
 * Audit options from `POST /audit` form fields: the CLI's option names in camelCase (SPEC §6),
 * validated by the same parser as the CLI's flags.
 */
import { AuditOptions, parseAuditOptions, RawOptions } from '../audit/options.js';
import { InvalidOptionError, resolvePreprocessing } from '../data/preprocess.js';

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
