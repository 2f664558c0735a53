/**
 * The training monitor (SPEC §5): one checkpoint per epoch, each measured on the same samples,
 * and the aliasing early-stopping decision over the series.
 */
import { AUTO_PRESETS } from '../data/preprocess.js';
import { EarlyStopSettings, EpochAliasing, InvalidEarlyStop } from '../metrics/earlyStopping.js';
import { AuditOptions } from './options.js';
import type { PreprocessingCandidate } from './preprocessingChoice.js';
import { AuditReport, StageReport } from './report.js';

export interface CheckpointAliasing extends EpochAliasing {
  cleanAccuracy: number;
  /** The preprocessing this epoch was measured with (its name: none, cifar10, imagenet, custom). */
  preprocessing: string;
  stages: StageReport[];
  /** The user's own PGD accuracy for this epoch, when given (for comparison only). */
  pgdAccuracy?: number;
}

/** Stage-1 aliasing of one checkpoint's report; a checkpoint without strided ops cannot be monitored. */
export function checkpointAliasing(report: AuditReport, epoch: number, pgdAccuracy?: number): CheckpointAliasing {
  const first = report.stages[0];
  if (!first) throw new InvalidEarlyStop(`checkpoint of epoch ${epoch} has no measurable downsampling op: nothing to monitor`);
  return {
    epoch,
    am: first.am,
    amRel: first.amRel,
    cleanAccuracy: report.cleanAccuracy,
    preprocessing: report.dataset.preprocessing.name,
    stages: report.stages,
    ...(pgdAccuracy === undefined ? {} : { pgdAccuracy }),
  };
}

/**
 * The preprocessing of a whole series of checkpoints. A stage-1 aliasing jump means something
 * only between epochs measured alike, and `auto` can pick differently on checkpoints whose
 * presets score alike, so under `auto` the first checkpoint measured chooses for all.
 */
export interface SeriesPreprocessing {
  name: string;
  mean: number[];
  std: number[];
  scale: number;
  /** 'auto': chosen on the checkpoint of `chosenOnEpoch`; 'preset' or 'explicit': given in the options. */
  chosenBy: 'auto' | 'preset' | 'explicit';
  chosenOnEpoch?: number;
  /** The scores the `auto` choice was made on (that checkpoint's report). */
  candidates?: PreprocessingCandidate[];
}

/** True when the options leave the preprocessing to `auto`, which a series then chooses once. */
export function choosesPreprocessing(options: AuditOptions): boolean {
  return options.preprocess === 'auto' && options.mean === undefined;
}

/** The series' preprocessing as the report of its first measured checkpoint (of `epoch`) shows it. */
export function seriesPreprocessing(report: AuditReport, epoch: number, options: AuditOptions): SeriesPreprocessing {
  const p = report.dataset.preprocessing;
  const chosenBy = p.chosenBy === 'auto' ? 'auto' : options.mean !== undefined ? 'explicit' : 'preset';
  return {
    name: p.name,
    mean: [...p.mean],
    std: [...p.std],
    scale: p.scale,
    chosenBy,
    ...(chosenBy === 'auto' ? { chosenOnEpoch: epoch, ...(p.candidates ? { candidates: p.candidates } : {}) } : {}),
  };
}

/** The options that measure a checkpoint with the series' preprocessing: under `auto`, its preset by name. */
export function withSeriesPreprocessing(options: AuditOptions, series: SeriesPreprocessing): AuditOptions {
  if (!choosesPreprocessing(options)) return options;
  const preset = AUTO_PRESETS.find((p) => p === series.name);
  if (!preset) throw new RangeError(`the series' preprocessing ${JSON.stringify(series.name)} is not a preset`);
  return { ...options, preprocess: preset };
}

/** Parses --signal, --threshold and --window (a number of epochs, or `all`). */
export function parseEarlyStopSettings(raw: { signal?: string; threshold?: string; window?: string }, defaults: EarlyStopSettings): EarlyStopSettings {
  const s: EarlyStopSettings = { ...defaults };
  if (raw.signal !== undefined && raw.signal.trim() !== '') {
    const v = raw.signal.trim();
    if (v !== 'am' && v !== 'amRel') throw new InvalidEarlyStop(`--signal must be am or amRel (got ${JSON.stringify(raw.signal)})`);
    s.signal = v;
  }
  if (raw.threshold !== undefined && raw.threshold.trim() !== '') {
    const t = Number(raw.threshold);
    if (!Number.isFinite(t) || t <= 0 || t > 10) throw new InvalidEarlyStop(`--threshold must be a number in (0, 10] (got ${JSON.stringify(raw.threshold)})`);
    s.threshold = t;
  }
  if (raw.window !== undefined && raw.window.trim() !== '') {
    const w = raw.window.trim();
    if (w === 'all') s.window = null;
    else {
      const n = Number(w);
      if (!Number.isInteger(n) || n < 1 || n > 1000) throw new InvalidEarlyStop(`--window must be a whole number of epochs or "all" (got ${JSON.stringify(raw.window)})`);
      s.window = n;
    }
  }
  return s;
}
