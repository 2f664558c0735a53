/**
 * The training monitor (SPEC §5): one checkpoint per epoch, each measured on the same samples,
 * and the aliasing early-stopping decision over the series.
 */
import { EarlyStopSettings, EpochAliasing, InvalidEarlyStop } from '../metrics/earlyStopping.js';
import { AuditReport, StageReport } from './report.js';

export interface CheckpointAliasing extends EpochAliasing {
  cleanAccuracy: number;
  stages: StageReport[];
  /** The user's own PGD accuracy for this epoch, when given (for comparison only). */
  pgdAccuracy?: number;
}

/** Stage-1 aliasing of one checkpoint's report; a checkpoint without strided ops cannot be monitored. */
export function checkpointAliasing(report: AuditReport, epoch: number, pgdAccuracy?: number): CheckpointAliasing {
  const first = report.stages[0];
  if (!first) throw new InvalidEarlyStop(`checkpoint of epoch ${epoch} has no measurable downsampling op: nothing to monitor`);
  return { epoch, am: first.am, amRel: first.amRel, cleanAccuracy: report.cleanAccuracy, stages: report.stages, ...(pgdAccuracy === undefined ? {} : { pgdAccuracy }) };
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
