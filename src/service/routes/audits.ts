/** POST /audit, GET /audits, GET and DELETE /audits/{id}, GET /audits/{id}/report. */
import { Request, Response, Router } from 'express';
import { formBaseline, splitBaselineFields } from '../baselineForm.js';
import type { ServiceConfig } from '../config.js';
import { ServiceError } from '../errors.js';
import { flag, formOptions } from '../formOptions.js';
import { ownerOf, scopeOf } from '../http/auth.js';
import { uploadChecked } from '../http/inFlight.js';
import { sendProblem } from '../http/problem.js';
import type { AuditService } from '../jobs/auditService.js';
import type { Scope } from '../jobs/scope.js';
import type { JobStatus, JobWithReport } from '../jobs/types.js';
import { AuditResults, auditResults, jobLinks, jobListItem, jobSummary, jobView } from '../jobs/views.js';
import type { ServiceMetrics } from '../metrics.js';
import type { Readiness } from '../readiness.js';

export interface AuditsRouterDeps {
  config: ServiceConfig;
  service: AuditService;
  readiness: Readiness;
  metrics: ServiceMetrics;
}

const DEFAULT_WAIT_S = 120;
/** Results of finished audits kept in memory for the list (a report never changes once stored). */
const RESULTS_CACHE_SIZE = 5000;

/** The headline results of succeeded jobs, read from each report once; asked only for jobs the caller's list holds. */
class ResultsCache {
  private readonly byJob = new Map<string, AuditResults | null>();

  constructor(private readonly service: AuditService) {}

  async of(scope: Scope, jobId: string): Promise<AuditResults | null> {
    if (this.byJob.has(jobId)) return this.byJob.get(jobId)!;
    const report = (await this.service.get(scope, jobId))?.report;
    const results = report ? auditResults(report) : null;
    if (report) {
      // Oldest first out: a Map iterates in insertion order.
      if (this.byJob.size >= RESULTS_CACHE_SIZE) this.byJob.delete(this.byJob.keys().next().value!);
      this.byJob.set(jobId, results);
    }
    return results;
  }
}

/** The model file, and the baseline report when one was uploaded; any other file is refused. */
function uploadedFiles(req: Request): { model: Express.Multer.File; baselineReport?: Express.Multer.File } {
  const files = Array.isArray(req.files) ? req.files : [];
  // A second file of one field is refused by the upload's file filter already (http/uploads.ts).
  const other = files.find((f) => f.fieldname !== 'model' && f.fieldname !== 'baselineReport');
  if (other) throw new ServiceError('UNEXPECTED_FILE', `only the model is taken, in the field "model", and a baseline report in "baselineReport" (got a file in "${other.fieldname}")`);
  const model = files.find((f) => f.fieldname === 'model');
  if (!model) throw new ServiceError('MODEL_MISSING', 'send the ONNX model as a file in the multipart field "model"');
  const baselineReport = files.find((f) => f.fieldname === 'baselineReport');
  return baselineReport ? { model, baselineReport } : { model };
}

function job404(id: string): ServiceError {
  return new ServiceError('NOT_FOUND', `no audit job ${id}`);
}

/** Answers a finished or waited-for job the way `?wait=true` promises. */
function answerWaited(res: Response, job: JobWithReport, cached: boolean): void {
  if (job.status === 'succeeded' && job.report) {
    res.status(200).json(job.report);
  } else if (job.status === 'failed' && job.error) {
    sendProblem(res, job.error, jobLinks(job.id).self);
  } else {
    res.status(202).json(jobSummary(job, cached));
  }
}

export function auditsRouter({ config, service, readiness, metrics }: AuditsRouterDeps): Router {
  const router = Router();
  const results = new ResultsCache(service);

  router.post('/audit', async (req, res) => {
    const { model: file, baselineReport } = uploadedFiles(req);
    const body = (req.body ?? {}) as Record<string, unknown>;
    const { optionFields, baselineFields } = splitBaselineFields(body);
    const options = formOptions(optionFields);
    // Checked before anything is stored or queued; only the caller's own audits can be a baseline.
    const owner = ownerOf(res);
    const baseline = await formBaseline(baselineFields, baselineReport, options, (id) => service.get(owner, id));
    const samplesError = readiness.samplesError();
    if (samplesError) throw new ServiceError(samplesError.name === 'DataIntegrityError' ? 'DATA_INTEGRITY' : 'DATA_UNAVAILABLE', samplesError.message);
    const { job, reused } = await service.submit({
      owner,
      uploadPath: file.path,
      filename: file.originalname || null,
      bytes: file.size,
      options,
      force: flag(req.query.force) || flag(body.force),
      ...(baseline ? { baseline } : {}),
    });
    uploadChecked(res); // a waiting request no longer holds an upload slot
    if (reused) metrics.cached();
    res.location(jobLinks(job.id).self);
    if (flag(req.query.wait)) {
      const seconds = req.query.timeout === undefined ? DEFAULT_WAIT_S : Number(req.query.timeout);
      const timeoutMs = Math.min(seconds * 1000, config.maxWaitMs);
      const gone = new AbortController();
      res.on('close', () => gone.abort());
      const finished = await service.waitFor(scopeOf(res), job.id, timeoutMs, gone.signal);
      if (!finished) throw job404(job.id); // deleted while we waited
      if (!res.writableEnded && !gone.signal.aborted) answerWaited(res, finished, reused);
      return;
    }
    res.status(reused && job.status === 'succeeded' ? 200 : 202).json(jobSummary(job, reused));
  });

  router.get('/audits', async (req, res) => {
    const limit = req.query.limit === undefined ? 20 : Number(req.query.limit);
    const scope = scopeOf(res);
    const page = await service.list(scope, {
      limit,
      cursor: typeof req.query.cursor === 'string' ? req.query.cursor : undefined,
      status: typeof req.query.status === 'string' ? (req.query.status as JobStatus) : undefined,
      sha256: typeof req.query.sha256 === 'string' ? req.query.sha256 : undefined,
    });
    const items = await Promise.all(page.items.map(async (j) => jobListItem(j, j.status === 'succeeded' ? await results.of(scope, j.id) : null)));
    res.json({ items, next: page.next });
  });

  router.get('/audits/:id', async (req, res) => {
    const job = await service.get(scopeOf(res), req.params.id);
    if (!job) throw job404(req.params.id);
    res.json(jobView(job));
  });

  router.get('/audits/:id/report', async (req, res) => {
    const job = await service.get(scopeOf(res), req.params.id);
    if (!job) throw job404(req.params.id);
    if (job.status === 'failed' && job.error) return sendProblem(res, job.error, req.originalUrl.split('?')[0]);
    if (job.status !== 'succeeded' || !job.report) {
      throw new ServiceError('AUDIT_NOT_FINISHED', `the audit is ${job.status} (${job.progress.percent}%, ${job.progress.stage}); poll /audits/${job.id} or follow its events`);
    }
    res.json(job.report);
  });

  router.delete('/audits/:id', async (req, res) => {
    if (!(await service.delete(scopeOf(res), req.params.id))) throw job404(req.params.id);
    res.status(204).end();
  });

  return router;
}

