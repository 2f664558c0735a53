/**
 * The training monitor over HTTP (SPEC §5): POST and GET /runs, GET and DELETE /runs/{id},
 * POST /runs/{id}/checkpoints. Each checkpoint is an audit job (robustness none, the run's
 * samples and preprocessing) through the same queue and workers as POST /audit, so time limits,
 * isolation, restart-resume and the report store are the audit's own. Under `auto` the job runs
 * with the preprocessing the run pins on its first measured checkpoint (jobs/runPreprocessing.ts).
 */
import { randomUUID } from 'node:crypto';
import { Request, Response, Router } from 'express';
import { parseEarlyStopSettings } from '../../audit/monitor.js';
import { parseFraction } from '../../audit/options.js';
import { DEFAULT_EARLY_STOP } from '../../metrics/earlyStopping.js';
import type { ServiceConfig } from '../config.js';
import { ServiceError } from '../errors.js';
import { flag, formOptions } from '../formOptions.js';
import { ownerOf, scopeOf } from '../http/auth.js';
import { uploadChecked } from '../http/inFlight.js';
import { sendProblem } from '../http/problem.js';
import type { AuditService } from '../jobs/auditService.js';
import type { NewRun, Run } from '../jobs/runStore.js';
import type { Scope } from '../jobs/scope.js';
import { CheckpointState, runLinks, RunSeries, runSeries, runSummary, runView } from '../jobs/runViews.js';
import type { Readiness } from '../readiness.js';

export interface RunsRouterDeps {
  config: ServiceConfig;
  service: AuditService;
  readiness: Readiness;
}

const DEFAULT_WAIT_S = 120;

/** Fields of POST /runs that are audit options, named as the form fields of POST /audit. */
const OPTION_FIELDS = ['samples', 'batch', 'preprocess', 'mean', 'std', 'scale', 'layout', 'ep'] as const;

/** A field as text: numbers and booleans as written, anything else (an object) as JSON, so a bad value is named as sent. */
function text(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? String(value) : JSON.stringify(value);
}

/** A run from the JSON body, validated by the audit's and the CLI's own parsers (400 on bad input). */
function newRun(body: Record<string, unknown>): NewRun {
  const raw: Record<string, string> = {};
  for (const field of OPTION_FIELDS) {
    const value = text(body[field]);
    if (value !== undefined) raw[field] = value;
  }
  const options = formOptions(raw);
  const settings = parseEarlyStopSettings({ signal: text(body.signal), threshold: text(body.threshold), window: text(body.window) }, DEFAULT_EARLY_STOP);
  const name = (text(body.name) ?? '').trim();
  if (name === '') throw new ServiceError('INVALID_OPTION', 'name must not be blank');
  return { name, options, settings };
}

/** The checkpoint upload (the same field as POST /audit's model). */
function uploadedCheckpoint(req: Request): Express.Multer.File {
  const files = Array.isArray(req.files) ? req.files : [];
  const other = files.find((f) => f.fieldname !== 'model');
  if (other) throw new ServiceError('UNEXPECTED_FILE', `only one file is taken, in the field "model" (got a file in "${other.fieldname}")`);
  const model = files.find((f) => f.fieldname === 'model');
  if (!model) throw new ServiceError('MODEL_MISSING', 'send the ONNX checkpoint as a file in the multipart field "model"');
  return model;
}

function run404(id: string): ServiceError {
  return new ServiceError('NOT_FOUND', `no run ${id}`);
}

function epochExists(runId: string, epoch: number): ServiceError {
  return new ServiceError('EPOCH_EXISTS', `run ${runId} has a checkpoint of epoch ${epoch} already; delete its audit job (see the series) to post it again`);
}

/** The run's checkpoints with their jobs as they are now, and the decision over them. */
async function seriesOf(service: AuditService, scope: Scope, run: Run): Promise<RunSeries> {
  const checkpoints = await service.runs.checkpoints(scope, run.id);
  const jobs = await Promise.all(checkpoints.map((checkpoint) => service.get(scope, checkpoint.jobId)));
  // A checkpoint whose job was deleted meanwhile is left out, as its row goes with the job.
  const states = checkpoints.flatMap((checkpoint, i): CheckpointState[] => {
    const job = jobs[i];
    return job ? [{ checkpoint, job }] : [];
  });
  return runSeries(run, states);
}

/**
 * The epoch's entry and the run's decision: 200 once measured, 202 while queued or running;
 * with `wait`, a failed checkpoint answers its problem (as POST /audit?wait=true does).
 */
async function answerCheckpoint(res: Response, service: AuditService, run: Run, epoch: number, waited: boolean): Promise<void> {
  const series = await seriesOf(service, scopeOf(res), run);
  const entry = series.entries.find((e) => e.epoch === epoch);
  if (!entry) throw new ServiceError('NOT_FOUND', `the checkpoint of epoch ${epoch} was deleted`);
  if (waited && entry.error) return sendProblem(res, entry.error, runLinks(run.id).checkpoints);
  res.status(waited && entry.status === 'succeeded' ? 200 : 202).json({ checkpoint: entry, decision: series.decision });
}

export function runsRouter({ config, service, readiness }: RunsRouterDeps): Router {
  const router = Router();

  router.post('/runs', async (req, res) => {
    const run = await service.runs.create(ownerOf(res), randomUUID(), newRun((req.body ?? {}) as Record<string, unknown>));
    res.location(runLinks(run.id).self).status(201).json(runView(run, runSeries(run, [])));
  });

  router.get('/runs', async (req, res) => {
    const page = await service.runs.list(scopeOf(res), {
      limit: req.query.limit === undefined ? 20 : Number(req.query.limit),
      cursor: typeof req.query.cursor === 'string' ? req.query.cursor : undefined,
    });
    res.json({ items: page.items.map(runSummary), next: page.next });
  });

  router.get('/runs/:id', async (req, res) => {
    const scope = scopeOf(res);
    const run = await service.runs.get(scope, req.params.id);
    if (!run) throw run404(req.params.id);
    res.json(runView(run, await seriesOf(service, scope, run)));
  });

  router.delete('/runs/:id', async (req, res) => {
    const scope = scopeOf(res);
    const jobIds = await service.runs.delete(scope, req.params.id);
    if (!jobIds) throw run404(req.params.id);
    // The checkpoints' audits go with the run (a running one is stopped first).
    for (const jobId of jobIds) await service.delete(scope, jobId);
    res.status(204).end();
  });

  router.post('/runs/:id/checkpoints', async (req, res) => {
    const scope = scopeOf(res);
    const run = await service.runs.get(scope, req.params.id);
    if (!run) throw run404(req.params.id);
    const body = (req.body ?? {}) as Record<string, unknown>;
    const epoch = Number(body.epoch);
    // Before the upload is hashed and checked: a repeated post is answered at once.
    if (await service.runs.checkpoint(scope, run.id, epoch)) throw epochExists(run.id, epoch);
    const pgdText = text(body.pgdAccuracy);
    const pgdAccuracy = pgdText === undefined ? null : parseFraction('pgdAccuracy', pgdText, 0, 1);
    const file = uploadedCheckpoint(req);
    const samplesError = readiness.samplesError();
    if (samplesError) throw new ServiceError(samplesError.name === 'DataIntegrityError' ? 'DATA_INTEGRITY' : 'DATA_UNAVAILABLE', samplesError.message);
    // force: every checkpoint owns its job, so deleting the run cannot take another client's audit.
    // The job belongs to the run's tenant (an admin posting to another tenant's run adds to it).
    const { job } = await service.submit({ owner: { tenant: run.tenant }, uploadPath: file.path, filename: file.originalname || null, bytes: file.size, options: run.options, force: true });
    uploadChecked(res); // a waiting request no longer holds an upload slot
    const added = await service.runs.addCheckpoint(scope, { runId: run.id, epoch, jobId: job.id, pgdAccuracy });
    if (added !== 'added') {
      await service.delete(scope, job.id); // the epoch was taken, or the run deleted, while the upload was checked
      throw added === 'no-run' ? run404(run.id) : epochExists(run.id, epoch);
    }
    const waited = flag(req.query.wait);
    if (waited) {
      const seconds = req.query.timeout === undefined ? DEFAULT_WAIT_S : Number(req.query.timeout);
      const gone = new AbortController();
      res.on('close', () => gone.abort());
      await service.waitFor(scope, job.id, Math.min(seconds * 1000, config.maxWaitMs), gone.signal);
      if (res.writableEnded || gone.signal.aborted) return;
      if (!(await service.runs.get(scope, run.id))) throw run404(run.id); // deleted while we waited
    }
    await answerCheckpoint(res, service, run, epoch, waited);
  });

  return router;
}
