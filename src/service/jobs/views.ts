/** Jobs as the API shows them (the JobSummary, JobListItem and Job schemas of openapi.yaml). */
import type { AuditReport } from '../../audit/report.js';
import type { Job, JobWithReport } from './types.js';

/**
 * A finished audit's headline numbers, for lists and health checks that should not fetch every
 * report: null where the audit did not measure it (no strided op measured, no attacks run).
 */
export interface AuditResults {
  cleanAccuracy: number;
  /** The largest amRel over the downsampling ops, and the op (the report's thresholds use the same). */
  worstAmRel: number | null;
  worstAmRelNode: string | null;
  /** Correct on the clean image and under every attack (worst case per sample); null without attacks. */
  robustAccuracy: number | null;
}

export function auditResults(report: AuditReport): AuditResults {
  let worstAmRel: number | null = null;
  let worstAmRelNode: string | null = null;
  for (const op of report.downsampling) {
    if (op.amRel !== null && (worstAmRel === null || op.amRel > worstAmRel)) {
      worstAmRel = op.amRel;
      worstAmRelNode = op.node;
    }
  }
  return { cleanAccuracy: report.cleanAccuracy, worstAmRel, worstAmRelNode, robustAccuracy: report.robustness?.robustAccuracy ?? null };
}

export function jobLinks(id: string): { self: string; events: string; report: string } {
  return { self: `/audits/${id}`, events: `/audits/${id}/events`, report: `/audits/${id}/report` };
}

export function jobSummary(job: Job, cached = false): Record<string, unknown> {
  return {
    id: job.id,
    status: job.status,
    cached,
    model: job.model,
    createdAt: job.createdAt,
    progress: job.progress,
    ...(job.error ? { error: job.error } : {}),
    links: jobLinks(job.id),
  };
}

/** An item of GET /audits: the summary, the options it ran with, and its results once it succeeded. */
export function jobListItem(job: Job, results: AuditResults | null): Record<string, unknown> {
  const { links, ...summary } = jobSummary(job);
  return { ...summary, options: job.options, results: job.status === 'succeeded' ? results : null, links };
}

export function jobView(job: JobWithReport): Record<string, unknown> {
  return {
    id: job.id,
    status: job.status,
    model: job.model,
    options: job.options,
    createdAt: job.createdAt,
    startedAt: job.startedAt,
    finishedAt: job.finishedAt,
    attempts: job.attempts,
    progress: job.progress,
    ...(job.error ? { error: job.error } : {}),
    ...(job.report ? { report: job.report } : {}),
    links: jobLinks(job.id),
  };
}
