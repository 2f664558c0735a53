/**
 * Robustness presets (SPEC §4, issue 14) and how explicit parameters override them. standard is
 * the field's reference evaluation (AutoAttack's ensemble): APGD-CE (100 iterations), APGD-T
 * (DLR loss, 9 targets, 100 iterations), FAB-T (9 targets, 100 iterations) and Square (5,000
 * queries) on 500 images; fast is the
 * same gradient pair, shorter (20 iterations, 3 targets) on 200 images. Each attack runs on the
 * images the earlier ones left (suite.ts).
 */
import { FAB_T_DEFAULTS } from './fab.js';
import { AttackName, RobustnessPlan } from './suite.js';
import type { Norm } from './types.js';

export interface RobustnessOverrides {
  norm?: Norm;
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
  apgdIterations?: number;
  apgdRestarts?: number;
  /** APGD-T's target classes: the highest-scoring classes other than the true one. */
  apgdTargets?: number;
  fabIterations?: number;
  fabTargets?: number;
}

/**
 * The Square Attack's initial window share in both norms: AutoAttack's value for its 5,000-query
 * run (the Square paper's own defaults, 0.05 for L-infinity and 0.1 for L2, were tuned for
 * 10,000 queries on ImageNet). The schedule (squareShare) halves it as the queries go.
 */
const SQUARE_P_INIT = 0.8;

// PGD's values serve plans that name it (--attacks pgd); the presets no longer run it.
const PRESETS: Record<'fast' | 'standard', Omit<RobustnessPlan, 'norm' | 'eps' | 'epsText' | 'seed' | 'pgd' | 'preset'> & { pgd: { steps: number; restarts: number } }> = {
  fast: {
    attacks: ['apgd-ce', 'apgd-t'],
    samples: 200,
    pgd: { steps: 10, restarts: 1 },
    apgd: { iterations: 20, restarts: 1, targets: 3 },
    fab: { iterations: 20, restarts: 1, targets: 3 },
    square: { queries: 100, pInit: SQUARE_P_INIT },
  },
  standard: {
    attacks: ['apgd-ce', 'apgd-t', 'fab-t', 'square'],
    samples: 500,
    pgd: { steps: 20, restarts: 2 },
    apgd: { iterations: 100, restarts: 1, targets: 9 },
    fab: { iterations: FAB_T_DEFAULTS.iterations, restarts: FAB_T_DEFAULTS.restarts, targets: FAB_T_DEFAULTS.targets },
    square: { queries: 5000, pInit: SQUARE_P_INIT },
  },
};

/** The budgets of the field's benchmarks (RobustBench) on [0,1] CIFAR-10 pixels, per norm. */
export const DEFAULT_EPS: Readonly<Record<Norm, { eps: number; text: string }>> = { linf: { eps: 8 / 255, text: '8/255' }, l2: { eps: 0.5, text: '0.5' } };

/** The plan for a preset, explicit values overriding it; `samples` is capped by the audit's. */
export function robustnessPlan(preset: 'fast' | 'standard', o: RobustnessOverrides, auditSamples: number): RobustnessPlan {
  const base = PRESETS[preset];
  const norm = o.norm ?? 'linf';
  const eps = o.eps ?? DEFAULT_EPS[norm].eps;
  // norm, eps and seed are the preset's own knobs; changing what runs makes it a custom plan
  const custom = [o.attacks, o.attackSamples, o.pgdSteps, o.pgdRestarts, o.pgdStepSize, o.squareQueries, o.apgdIterations, o.apgdRestarts, o.apgdTargets, o.fabIterations, o.fabTargets].some((v) => v !== undefined);
  return {
    preset: custom ? 'custom' : preset,
    attacks: o.attacks ?? [...base.attacks],
    samples: Math.min(o.attackSamples ?? base.samples, auditSamples),
    norm,
    eps,
    epsText: o.epsText ?? (o.eps === undefined ? DEFAULT_EPS[norm].text : String(eps)),
    seed: o.seed ?? 0,
    pgd: { steps: o.pgdSteps ?? base.pgd.steps, stepSize: o.pgdStepSize ?? eps / 4, restarts: o.pgdRestarts ?? base.pgd.restarts, randomStart: true },
    apgd: { iterations: o.apgdIterations ?? base.apgd.iterations, restarts: o.apgdRestarts ?? base.apgd.restarts, targets: o.apgdTargets ?? base.apgd.targets },
    fab: { iterations: o.fabIterations ?? base.fab.iterations, restarts: base.fab.restarts, targets: o.fabTargets ?? base.fab.targets },
    square: { ...base.square, queries: o.squareQueries ?? base.square.queries },
  };
}
