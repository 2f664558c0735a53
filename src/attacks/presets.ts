/**
 * Robustness presets (issue 4 / SPEC §4) and how explicit parameters override them.
 * fast: FGSM + PGD-10 + a small Square budget on 200 samples; standard: PGD-20 with restarts and
 * Square with 5,000 queries.
 */
import { AttackName, RobustnessPlan } from './suite.js';

export interface RobustnessOverrides {
  eps?: number;
  epsText?: string;
  seed?: number;
  attackSamples?: number;
  attacks?: AttackName[];
  pgdSteps?: number;
  pgdRestarts?: number;
  /** Absolute step size; default eps/4. */
  pgdStepSize?: number;
  squareQueries?: number;
}

const PRESETS: Record<'fast' | 'standard', Omit<RobustnessPlan, 'eps' | 'epsText' | 'seed' | 'pgd' | 'preset'> & { pgd: { steps: number; restarts: number }; }> = {
  fast: { attacks: ['fgsm', 'pgd', 'square'], samples: 200, pgd: { steps: 10, restarts: 1 }, square: { queries: 100, pInit: 0.05 } },
  standard: { attacks: ['pgd', 'square'], samples: 500, pgd: { steps: 20, restarts: 2 }, square: { queries: 5000, pInit: 0.05 } },
};

export const DEFAULT_EPS = 8 / 255;

/** The plan for a preset, explicit values overriding it; `samples` is capped by the audit's. */
export function robustnessPlan(preset: 'fast' | 'standard', o: RobustnessOverrides, auditSamples: number): RobustnessPlan {
  const base = PRESETS[preset];
  const eps = o.eps ?? DEFAULT_EPS;
  // eps and seed are the preset's own knobs; changing what runs makes it a custom plan
  const custom = [o.attacks, o.attackSamples, o.pgdSteps, o.pgdRestarts, o.pgdStepSize, o.squareQueries].some((v) => v !== undefined);
  return {
    preset: custom ? 'custom' : preset,
    attacks: o.attacks ?? [...base.attacks],
    samples: Math.min(o.attackSamples ?? base.samples, auditSamples),
    eps,
    epsText: o.epsText ?? (o.eps === undefined ? '8/255' : String(eps)),
    seed: o.seed ?? 0,
    pgd: { steps: o.pgdSteps ?? base.pgd.steps, stepSize: o.pgdStepSize ?? eps / 4, restarts: o.pgdRestarts ?? base.pgd.restarts, randomStart: true },
    square: { ...base.square, queries: o.squareQueries ?? base.square.queries },
  };
}
