/**
 * Pages for people, beside the JSON API: `/` (upload, live progress, recent audits and runs),
 * the report page at `/audits/{id}/report` and the run chart at `/runs/{id}`. The two API paths
 * are shared by content negotiation: a client that prefers `text/html` (a browser) gets the
 * page, every other client the JSON as before; `?format=html|json` overrides the Accept header
 * so that a link can name either.
 *
 * Scripts and styles are files under /assets/ (ours from static/ beside this file's source,
 * Chart.js from its npm package), never a CDN and never inline script, so the pages work
 * offline under helmet's default Content-Security-Policy (`script-src 'self'`).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import express, { Request, Response, Router } from 'express';
import { esc } from '../../report/format.js';
import { renderReportHtml } from '../../report/html.js';
import { auditFormSpec, AuditFormSpec, FormChoice } from '../formOptions.js';
import { principalOf, scopeOf } from '../http/auth.js';
import type { AuditService } from '../jobs/auditService.js';
import type { JobWithReport } from '../jobs/types.js';
import { renderStatusPage } from './statusPage.js';

/**
 * Our static files: beside this module (`npm run build` copies them into dist/, which is all
 * the Docker image keeps), else in the source tree (a plain `tsc`, or tests running src/).
 */
export const STATIC_DIR = [new URL('./static/', import.meta.url), new URL('../../../src/service/web/static/', import.meta.url)]
  .map((u) => fileURLToPath(u))
  .find((dir) => existsSync(join(dir, 'index.html'))) ?? fileURLToPath(new URL('./static/', import.meta.url));

/** Chart.js's own dist folder in node_modules (served as is: no bundler, no CDN). */
export const CHART_JS_DIR = dirname(createRequire(import.meta.url).resolve('chart.js'));

/** Where the pages' assets are served; the validator skips these paths (they are files, not API routes). */
export const ASSETS_PREFIX = '/assets/';

/** True when the request wants the page: `?format=html`, or an Accept header that prefers HTML to JSON. */
export function wantsHtml(req: Request): boolean {
  const format = req.query.format;
  if (format === 'html') return true;
  if (format === 'json') return false;
  return req.accepts(['application/json', 'text/html']) === 'text/html';
}

function sendPage(res: Response, file: string): void {
  // The page is a shell: its data comes from the API, so a cached copy is never stale.
  res.set('Cache-Control', 'no-cache').type('html').sendFile(join(STATIC_DIR, file));
}

function optionElements(choices: FormChoice[], selected: string): string {
  return choices.map((c) => `<option value="${esc(c.value)}"${c.value === selected ? ' selected' : ''}>${esc(c.label)}</option>`).join('');
}

/**
 * The upload page with its form's defaults and choices filled in from the options the CLI and
 * the API share (the `{{name}}` slots of static/index.html), so the page cannot drift from them.
 */
export function renderUploadPage(template: string, spec: AuditFormSpec = auditFormSpec()): string {
  const d = spec.defaults;
  const slots: Record<string, string> = {
    samples: esc(d.samples),
    batch: esc(d.batch),
    eps: esc(d.eps),
    seed: esc(d.seed),
    attackSamples: esc(`preset: ${Object.entries(spec.presetAttackSamples).map(([preset, n]) => `${n} (${preset})`).join(', ')}`),
    preprocessOptions: optionElements(spec.choices.preprocess, d.preprocess),
    robustnessOptions: optionElements(spec.choices.robustness, d.robustness),
    epOptions: optionElements(spec.choices.ep, d.ep),
  };
  return template.replace(/\{\{(\w+)\}\}/g, (_, name: string) => {
    const value = slots[name];
    if (value === undefined) throw new Error(`index.html has a slot {{${name}}} that the server does not fill`);
    return value;
  });
}

let uploadPage: string | undefined;

/** A session's length in words for the sign-in page: "8 hours", "30 minutes". */
function lengthInWords(ms: number): string {
  const [n, unit] = ms >= 3_600_000 && ms % 3_600_000 === 0 ? [ms / 3_600_000, 'hour'] : [Math.max(1, Math.round(ms / 60_000)), 'minute'];
  return `${n} ${unit}${n === 1 ? '' : 's'}`;
}

/**
 * The sign-in page (static/signin.html) with the session's length and, after a refused key,
 * the reason in an alert; its form posts the key to `POST /session` (no script needed).
 */
export function renderSignInPage(template: string, sessionTtlMs: number, message?: string): string {
  const slots: Record<string, string> = {
    ttl: esc(lengthInWords(sessionTtlMs)),
    message: message ? `<div id="signin-error" class="error" role="alert">${esc(message)}</div>` : '',
  };
  return template.replace(/\{\{(\w+)\}\}/g, (_, name: string) => {
    const value = slots[name];
    if (value === undefined) throw new Error(`signin.html has a slot {{${name}}} that the server does not fill`);
    return value;
  });
}

let signInTemplate: string | undefined;

/** Sends the sign-in page (status 200, or 401 after a refused key). */
export function sendSignInPage(res: Response, sessionTtlMs: number, status = 200, message?: string): void {
  signInTemplate ??= readFileSync(join(STATIC_DIR, 'signin.html'), 'utf8');
  res.status(status).set('Cache-Control', 'no-store').type('html').send(renderSignInPage(signInTemplate, sessionTtlMs, message));
}

/** How the pages treat callers: with API keys on, `/` signs in whoever has no principal yet. */
export interface PagesOptions {
  signInRequired: boolean;
  sessionTtlMs: number;
}

/** The report page, or while the audit is queued or running a page that follows it and reloads. */
function reportPage(res: Response, job: JobWithReport): void {
  res.set('Cache-Control', 'no-store');
  if (job.status === 'succeeded' && job.report) {
    const base = `/audits/${job.id}`;
    res.type('html').send(
      renderReportHtml(job.report, {
        modelName: job.model.filename ?? undefined,
        jsonHref: `${base}/report?format=json`,
        nav: [
          { label: 'Upload', href: '/' },
          { label: 'Job', href: base },
          { label: 'API docs', href: '/docs' },
        ],
      }),
    );
    return;
  }
  res.type('html').send(renderStatusPage(job));
}

/** The pages and their assets; on the API's paths it answers only requests that want HTML. */
export function pagesRouter(service: AuditService, options: PagesOptions = { signInRequired: false, sessionTtlMs: 0 }): Router {
  const router = Router();
  router.use('/assets/vendor/chart.js', express.static(CHART_JS_DIR, { index: false, maxAge: '1d' }));
  router.use('/assets', express.static(STATIC_DIR, { index: false }));

  router.get('/', (_req, res) => {
    // A browser cannot send a bearer key: without a session (or a key) it gets the sign-in form.
    if (options.signInRequired && principalOf(res) === undefined) return sendSignInPage(res, options.sessionTtlMs);
    uploadPage ??= renderUploadPage(readFileSync(join(STATIC_DIR, 'index.html'), 'utf8'));
    res.set('Cache-Control', 'no-cache').type('html').send(uploadPage);
  });

  router.get('/audits/:id/report', async (req, res, next) => {
    res.vary('Accept');
    if (!wantsHtml(req)) return next();
    const job = await service.get(scopeOf(res), req.params.id);
    // A missing or failed audit answers as the API does (problem+json), from the JSON route.
    if (!job || job.status === 'failed') return next();
    reportPage(res, job);
  });

  router.get('/runs/:id', async (req, res, next) => {
    res.vary('Accept');
    if (!wantsHtml(req) || !(await service.runs.get(scopeOf(res), req.params.id))) return next();
    sendPage(res, 'run.html');
  });

  return router;
}
