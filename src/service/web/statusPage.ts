/**
 * The page a browser gets at `/audits/{id}/report` before the report exists: where the audit
 * is, refreshed every few seconds by the browser itself (a meta refresh needs no script), so a
 * bookmarked or shared report link simply turns into the report once the audit finishes.
 */
import { esc } from '../../report/format.js';
import type { JobWithReport } from '../jobs/types.js';

const REFRESH_S = 2;

/** The page for a queued or running audit: its progress, and a refresh that turns into the report. */
export function renderStatusPage(job: JobWithReport): string {
  const name = job.model.filename ?? job.model.sha256.slice(0, 12);
  const { percent, stage, message } = job.progress;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="${REFRESH_S}">
<title>${esc(name)}: audit ${esc(job.status)}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/app.css">
</head>
<body>
<header class="top"><nav aria-label="service"><a class="brand" href="/">alias-audit</a><a href="/">Upload</a><a href="/docs">API docs</a></nav></header>
<main id="content">
<h1>${esc(name)}</h1>
<p id="job-status" role="status">The audit is ${esc(job.status)}: ${esc(stage)}${message ? ` (${esc(message)})` : ''}. This page reloads every ${REFRESH_S} s and shows the report when it is ready.</p>
<progress max="100" value="${percent}" aria-label="audit progress">${percent}%</progress> <span>${percent.toFixed(0)}%</span>
</main>
</body>
</html>
`;
}
