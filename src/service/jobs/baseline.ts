/**
 * A job's baseline (issue 15 over HTTP): the report it is compared with, the gates over the
 * comparison, and how both travel with the job. The comparison runs where the report is stored
 * (the processor), not in the sealed worker, which sees only the model and the options.
 *
 * The baseline is stored inside the job's options JSON under {@link STORED_KEY} rather than in a
 * column of its own: both stores keep that JSON as text, so no schema step is needed and a job
 * read by any API or worker process after a restart still has its baseline.
 */
import { createHash } from 'node:crypto';
import { BASELINE_GATE_KEYS, BaselineGates, compareWithBaseline, evaluateGates } from '../../audit/baseline.js';
import type { AuditOptions } from '../../audit/options.js';
import type { AuditReport, BaselineDifference } from '../../audit/report.js';

export interface JobBaseline {
  /** The stored audit (of the same tenant) compared with, or null for an uploaded report. */
  auditId: string | null;
  /** The baseline report, less the parts the comparison does not read (see {@link comparedPart}). */
  report: AuditReport;
  gates: BaselineGates;
  /** Compare even when the samples or options differ (else the comparison is flagged and its gates fail). */
  allowOptionMismatch: boolean;
}

/** The key of the baseline in the stored options JSON; no audit option starts with an underscore. */
const STORED_KEY = '_baseline';

/** The options JSON a store writes for a job. */
export function storedOptionsJson(options: AuditOptions, baseline: JobBaseline | undefined): string {
  return JSON.stringify(baseline ? { ...options, [STORED_KEY]: baseline } : options);
}

/** A job's options and baseline from the stored options JSON (jobs of earlier versions have no baseline). */
export function parseStoredOptions(json: string): { options: AuditOptions; baseline?: JobBaseline } {
  const { [STORED_KEY]: baseline, ...options } = JSON.parse(json) as AuditOptions & { [STORED_KEY]?: JobBaseline };
  return baseline ? { options, baseline } : { options };
}

/**
 * What the comparison reads of a baseline report: the report without its pictures, per-image
 * outcomes, spectrum and graph, which can be most of its size and are stored with every job.
 */
export function comparedPart(report: AuditReport): AuditReport {
  const { graph: _graph, ...rest } = report;
  const r = report.robustness;
  return { ...rest, robustness: r ? { ...r, perImage: [], examples: [], perturbationSpectrum: null } : null };
}

/** Part of the cache key: a report reused for a submission must have the same baseline and gates. */
export function baselineKey(baseline: JobBaseline | undefined): string {
  if (!baseline) return '';
  const { auditId: _id, ...compared } = baseline; // the same report under another id compares the same
  return ` baseline:${createHash('sha256').update(JSON.stringify(compared)).digest('hex')}`;
}

/** The sentence of a refusal for other samples or options, as the CLI words it. */
export function mismatchText(differences: BaselineDifference[]): string {
  const list = differences.map((d) => `${d.field} ${d.baseline} vs ${d.current}`).join('; ');
  return `the baseline was measured differently (baseline vs this model: ${list})`;
}

/**
 * The finished report with `baseline` and `thresholds` as the CLI writes them. Where the CLI
 * refuses a baseline measured differently (exit 2), the service keeps the audit's work: the
 * comparison stays (sameSamples/sameOptions false, `differences`), a flag says so, and every
 * baseline gate fails with that reason unless `allowOptionMismatch` was given.
 */
export function finishWithBaseline(report: AuditReport, baseline: JobBaseline | undefined): AuditReport {
  const out: AuditReport = { ...report };
  let refused: string | undefined;
  if (baseline) {
    out.baseline = compareWithBaseline(report, baseline.report, 'report');
    const { sameOptions, sameSamples, differences } = out.baseline;
    if (!(sameOptions && sameSamples) && !baseline.allowOptionMismatch) {
      refused = `${mismatchText(differences)}; audit both with the same options, or give allowOptionMismatch=true`;
      out.flags = [...report.flags, `${refused}: the baseline's deltas compare unlike audits and its gates fail`];
    }
  }
  const thresholds = evaluateGates(out, baseline?.gates ?? {});
  if (thresholds && refused) {
    for (const key of BASELINE_GATE_KEYS) {
      const gate = thresholds[key];
      if (gate) thresholds[key] = { ...gate, passed: false, verdict: 'fail', reason: refused };
    }
  }
  if (thresholds) out.thresholds = thresholds;
  return out;
}
