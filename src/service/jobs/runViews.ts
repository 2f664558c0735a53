/**
 * Runs as the API shows them (the Run, RunSummary, CheckpointEntry and CheckpointResult schemas
 * of openapi.yaml): each checkpoint's state and measurements from its audit job, and the
 * early-stopping decision (SPEC §5) over the checkpoints measured so far, in epoch order.
 */
import { CheckpointAliasing, checkpointAliasing, choosesPreprocessing, SeriesPreprocessing } from '../../audit/monitor.js';
import type { StageReport } from '../../audit/report.js';
import { resolvePreprocessing } from '../../data/preprocess.js';
import { earlyStopDecision, EpochDecision, InvalidEarlyStop } from '../../metrics/earlyStopping.js';
import { Problem, ServiceError } from '../errors.js';
import type { Run, RunCheckpoint } from './runStore.js';
import type { JobProgress, JobStatus, JobWithReport } from './types.js';
import { jobLinks } from './views.js';

/** A checkpoint with its audit job as it is now. */
export interface CheckpointState {
  checkpoint: RunCheckpoint;
  job: JobWithReport;
}

/** The rule's answer: stop at `triggeredAtEpoch`, keep the checkpoint of `recommendedEpoch`. */
export interface RunDecision {
  stop: boolean;
  triggeredAtEpoch: number | null;
  recommendedEpoch: number | null;
}

export interface RunSeries {
  /** One entry per checkpoint, in epoch order. */
  entries: CheckpointEntry[];
  decision: RunDecision;
}

/** One epoch as the API shows it; the measurements only once its audit succeeded, `error` once it failed. */
export interface CheckpointEntry {
  epoch: number;
  status: JobStatus;
  jobId: string;
  createdAt: string;
  progress: JobProgress;
  pgdAccuracy?: number;
  am?: number;
  amRel?: number;
  cleanAccuracy?: number;
  /** The preprocessing this epoch was measured with (the run's, see {@link runPreprocessing}). */
  preprocessing?: string;
  stages?: StageReport[];
  median?: number | null;
  limit?: number | null;
  triggered?: boolean;
  error?: Problem;
  links: { run: string; job: string; events: string; report: string };
}

type Outcome = { measured: CheckpointAliasing } | { error: Problem } | null;

/** What a checkpoint's job says: its stage-1 aliasing, why it cannot count, or nothing yet. */
function outcomeOf({ checkpoint, job }: CheckpointState): Outcome {
  if (job.status === 'failed') return { error: job.error ?? new ServiceError('INTERNAL', 'the audit failed').toProblem() };
  if (job.status !== 'succeeded' || !job.report) return null;
  try {
    return { measured: checkpointAliasing(job.report, checkpoint.epoch) };
  } catch (err) {
    // A checkpoint without a strided op has no stage-1 aliasing: it fails, and stays out of the rule.
    if (err instanceof InvalidEarlyStop) return { error: new ServiceError('UNSUPPORTED_MODEL', err.message).toProblem() };
    throw err;
  }
}

export function runLinks(runId: string): { self: string; checkpoints: string } {
  return { self: `/runs/${runId}`, checkpoints: `/runs/${runId}/checkpoints` };
}

function checkpointEntry(state: CheckpointState, outcome: Outcome, decided: EpochDecision | undefined): CheckpointEntry {
  const { checkpoint, job } = state;
  const measured = outcome && 'measured' in outcome ? outcome.measured : null;
  const error = outcome && 'error' in outcome ? outcome.error : null;
  return {
    epoch: checkpoint.epoch,
    status: error ? 'failed' : job.status,
    jobId: job.id,
    createdAt: checkpoint.createdAt,
    progress: job.progress,
    ...(checkpoint.pgdAccuracy === null ? {} : { pgdAccuracy: checkpoint.pgdAccuracy }),
    ...(measured && decided
      ? {
          am: measured.am,
          amRel: measured.amRel,
          cleanAccuracy: measured.cleanAccuracy,
          preprocessing: measured.preprocessing,
          stages: measured.stages,
          median: decided.median,
          limit: decided.limit,
          triggered: decided.triggered,
        }
      : {}),
    ...(error ? { error } : {}),
    links: { run: runLinks(checkpoint.runId).self, job: jobLinks(job.id).self, events: jobLinks(job.id).events, report: jobLinks(job.id).report },
  };
}

/**
 * The series and the decision: the rule runs over the succeeded checkpoints in epoch order;
 * queued, running and failed ones are listed but left out (a failed one with its error).
 */
export function runSeries(run: Run, states: readonly CheckpointState[]): RunSeries {
  const sorted = [...states].sort((a, b) => a.checkpoint.epoch - b.checkpoint.epoch);
  const outcomes = sorted.map(outcomeOf);
  const measured = outcomes.flatMap((o) => (o && 'measured' in o ? [o.measured] : []));
  const decision = earlyStopDecision(measured, run.settings);
  const byEpoch = new Map(decision.series.map((e) => [e.epoch, e]));
  return {
    entries: sorted.map((s, i) => checkpointEntry(s, outcomes[i], byEpoch.get(s.checkpoint.epoch))),
    decision: { stop: decision.stop, triggeredAtEpoch: decision.triggeredAtEpoch, recommendedEpoch: decision.recommendedEpoch },
  };
}

/** The early-stopping settings as the API shows them (`window` is `all` or a number of epochs). */
function settingsView(run: Run): Record<string, unknown> {
  return { signal: run.settings.signal, threshold: run.settings.threshold, window: run.settings.window ?? 'all' };
}

/** A run in a list: settings and how many checkpoints it has, without measurements. */
export function runSummary(run: Run & { checkpoints: number }): Record<string, unknown> {
  return { id: run.id, name: run.name, createdAt: run.createdAt, settings: settingsView(run), options: run.options, checkpoints: run.checkpoints, links: runLinks(run.id) };
}

/**
 * The preprocessing of every checkpoint of the run: from its options when they name one, else
 * (`auto`) the one its first measured checkpoint chose, or null before that.
 */
export function runPreprocessing(run: Run): SeriesPreprocessing | null {
  if (choosesPreprocessing(run.options)) return run.preprocessing;
  const o = run.options;
  const pre = resolvePreprocessing({ preset: o.preprocess === 'auto' ? 'none' : o.preprocess, mean: o.mean, std: o.std, scale: o.scale });
  return { name: pre.name, mean: [...pre.mean], std: [...pre.std], scale: pre.scale, chosenBy: o.mean !== undefined ? 'explicit' : 'preset' };
}

/** The whole run: settings, preprocessing, series and decision. */
export function runView(run: Run, series: RunSeries): Record<string, unknown> {
  return {
    id: run.id,
    name: run.name,
    createdAt: run.createdAt,
    settings: settingsView(run),
    options: run.options,
    preprocessing: runPreprocessing(run),
    series: series.entries,
    decision: series.decision,
    links: runLinks(run.id),
  };
}
