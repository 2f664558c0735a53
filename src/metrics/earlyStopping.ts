/**
 * Aliasing-based early stopping (SPEC §5, the paper's Algorithm 1): robust overfitting shows as
 * a jump in stage-1 aliasing. With a_e the signal of epoch e and m_e the median of the earlier
 * epochs' signals (all of them, or the last `window`), training should stop at the first
 * e >= 2 with a_e > (1 + t) * m_e, and the checkpoint to keep is epoch e - 1.
 */

export type EarlyStopSignal = 'am' | 'amRel';

/** Settings or a series the rule cannot work with (bad input: exit 2 / HTTP 400). */
export class InvalidEarlyStop extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidEarlyStop';
  }
}

export interface EarlyStopSettings {
  signal: EarlyStopSignal;
  /** t: the relative jump over the running median that triggers a stop. */
  threshold: number;
  /** Median over the last `window` earlier epochs; null: over all earlier epochs. */
  window: number | null;
}

/**
 * Stage-1 am, t = 0.2, against the previous epoch (window 1), chosen on five runs
 * (models/overfitting, README "Early stopping"): it keeps a checkpoint from before the collapse
 * on the three that collapse and stays silent on the two that do not. The paper's setting (am,
 * t = 0.33, all earlier epochs) keeps an already collapsed checkpoint on two of the three: am
 * falls steeply over the first epochs, so the median of all earlier epochs stays high for long.
 * On a sixth run, trained afterwards as a check, both fire one epoch after the collapse.
 */
export const DEFAULT_EARLY_STOP: EarlyStopSettings = { signal: 'am', threshold: 0.2, window: 1 };

export interface EpochAliasing {
  epoch: number;
  am: number;
  amRel: number;
}

export interface EpochDecision extends EpochAliasing {
  /** m_e, null for the first epoch. */
  median: number | null;
  /** (1 + t) * m_e. */
  limit: number | null;
  triggered: boolean;
}

export interface EarlyStopDecision {
  stop: boolean;
  triggeredAtEpoch: number | null;
  /** The checkpoint to keep: the epoch before the trigger; null while training should go on. */
  recommendedEpoch: number | null;
  series: EpochDecision[];
}

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median of nothing');
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Applies the rule to a series in epoch order (as far as it goes). */
export function earlyStopDecision(epochs: readonly EpochAliasing[], settings: EarlyStopSettings = DEFAULT_EARLY_STOP): EarlyStopDecision {
  const signal = (e: EpochAliasing): number => e[settings.signal];
  let triggeredAt: number | null = null;
  const series = epochs.map((e, i): EpochDecision => {
    if (i === 0) return { ...e, median: null, limit: null, triggered: false };
    const earlier = epochs.slice(settings.window === null ? 0 : Math.max(0, i - settings.window), i).map(signal);
    const m = median(earlier);
    const limit = (1 + settings.threshold) * m;
    const triggered = triggeredAt === null && signal(e) > limit;
    if (triggered) triggeredAt = i;
    return { ...e, median: m, limit, triggered };
  });
  return {
    stop: triggeredAt !== null,
    triggeredAtEpoch: triggeredAt === null ? null : epochs[triggeredAt].epoch,
    recommendedEpoch: triggeredAt === null ? null : epochs[triggeredAt - 1].epoch,
    series,
  };
}
