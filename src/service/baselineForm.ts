/**
 * The baseline of `POST /audit` (issue 15): a stored audit's id in the field `baseline`, or a
 * report file in `baselineReport`, with the gates over the comparison. Everything is checked
 * here, before a job is stored or queued; the comparison itself runs when the audit has
 * finished (jobs/baseline.ts).
 */
import { readFile } from 'node:fs/promises';
import { BASELINE_GATE_KEYS, checkBaselineReport, parseBaselineGates, parseBaselineReport } from '../audit/baseline.js';
import type { AuditOptions, RawOptions } from '../audit/options.js';
import type { AuditReport } from '../audit/report.js';
import { InvalidOptionError } from '../data/preprocess.js';
import { ServiceError } from './errors.js';
import { flag } from './formOptions.js';
import { comparedPart, JobBaseline, mismatchText } from './jobs/baseline.js';
import type { JobWithReport } from './jobs/types.js';

/** The form fields of the baseline; the rest are audit options. */
const BASELINE_FIELDS: ReadonlySet<string> = new Set(['baseline', 'baselineReport', 'allowOptionMismatch', ...BASELINE_GATE_KEYS]);

/** An uploaded baseline report may be this large: a report with robustness and its pictures is well under it. */
export const MAX_BASELINE_REPORT_BYTES = 16 * 1024 * 1024;

/** The form's fields as audit options (for formOptions) and the baseline's fields. */
export function splitBaselineFields(body: Record<string, unknown>): { optionFields: Record<string, unknown>; baselineFields: Record<string, unknown> } {
  const optionFields: Record<string, unknown> = {};
  const baselineFields: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(body)) (BASELINE_FIELDS.has(name) ? baselineFields : optionFields)[name] = value;
  return { optionFields, baselineFields };
}

/**
 * The job's baseline from the form, checked: undefined when none was given. `report` is the
 * uploaded file in `baselineReport`; `lookup` reads a job in the caller's own tenant (another
 * tenant's id is a missing one: 404). Throws ServiceError or InvalidOptionError (400).
 */
export async function formBaseline(
  fields: Record<string, unknown>,
  report: Express.Multer.File | undefined,
  options: AuditOptions,
  lookup: (id: string) => Promise<JobWithReport | null>,
): Promise<JobBaseline | undefined> {
  const raw: RawOptions = {};
  for (const [name, value] of Object.entries(fields)) {
    if (name === 'baselineReport') {
      // The validator marks an uploaded file with an empty field of its name; text there is no file.
      if (!report && value !== '') throw new InvalidOptionError('baselineReport must be a file: the JSON report of an earlier audit');
      continue;
    }
    if (typeof value !== 'string') throw new InvalidOptionError(`field ${name} must be given once, as text`);
    raw[name] = value;
  }
  const gates = parseBaselineGates(raw);
  const gateKeys = Object.keys(gates);
  const id = raw.baseline?.trim() || undefined;
  const allowOptionMismatch = raw.allowOptionMismatch !== undefined && flag(raw.allowOptionMismatch);
  if (id !== undefined && report) throw new InvalidOptionError('give either baseline (a stored audit\'s id) or baselineReport (a report file), not both');
  if (id === undefined && !report) {
    if (gateKeys.length > 0) {
      throw new InvalidOptionError(
        `${gateKeys.join(', ')} ${gateKeys.length > 1 ? 'compare' : 'compares'} with a baseline: give baseline (a stored audit's id) or baselineReport (a report file)`,
      );
    }
    return undefined;
  }
  if (gates.maxRobustAccuracyDrop !== undefined && options.robustness === 'none') throw new InvalidOptionError('maxRobustAccuracyDrop needs robustness fast or standard');
  const base = report ? await uploadedReport(report) : await storedReport(id!, lookup);
  // Other samples are known now: refused before the audit runs, as the CLI does.
  if (base.dataset.samples !== options.samples && !allowOptionMismatch) {
    const differences = [{ field: 'dataset.samples', baseline: String(base.dataset.samples), current: String(options.samples) }];
    throw new InvalidOptionError(`${mismatchText(differences)}; audit with the baseline's samples, or give allowOptionMismatch=true`);
  }
  return { auditId: id ?? null, report: comparedPart(base), gates, allowOptionMismatch };
}

async function uploadedReport(file: Express.Multer.File): Promise<AuditReport> {
  if (file.size > MAX_BASELINE_REPORT_BYTES) {
    throw new ServiceError('PAYLOAD_TOO_LARGE', `baselineReport has ${file.size} bytes; a baseline report may have at most ${MAX_BASELINE_REPORT_BYTES}`);
  }
  return parseBaselineReport(await readFile(file.path, 'utf8'), 'baselineReport');
}

async function storedReport(id: string, lookup: (id: string) => Promise<JobWithReport | null>): Promise<AuditReport> {
  const job = await lookup(id);
  if (!job) throw new ServiceError('NOT_FOUND', `no audit job ${id} to compare with (field baseline)`);
  if (job.status !== 'succeeded' || !job.report) {
    const why = job.status === 'failed' ? `failed${job.error ? ` (${job.error.code})` : ''}` : `${job.status}; wait until it has succeeded`;
    throw new ServiceError('BASELINE_NOT_SUCCEEDED', `the baseline audit ${id} ${job.status === 'failed' ? why : `is ${why}`}`);
  }
  // Reports of earlier versions may lack what the comparison reads: checked as an uploaded one.
  return checkBaselineReport(job.report, `the report of audit ${id}`);
}
