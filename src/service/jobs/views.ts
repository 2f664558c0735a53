/** Jobs as the API shows them (the JobSummary and Job schemas of openapi.yaml). */
import type { Job, JobWithReport } from './types.js';

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
