/**
 * A report compared with a baseline report (issue 15): the deltas per op and stage, whether the
 * two audits are comparable, and the CI gates over both. Pure functions: the CLI and the service
 * read the files and run the audits; this module only compares reports.
 */
import { InvalidOptionError } from '../data/preprocess.js';
import type {
  AuditReport,
  BaselineComparison,
  BaselineDifference,
  BaselineOpDelta,
  BaselineStageDelta,
  DownsamplingReport,
  GateCheck,
  MetricDelta,
  Thresholds,
  UnmatchedOp,
} from './report.js';
import { kebab, parseFraction, RawOptions } from './options.js';

/** A baseline report that cannot be used: bad input (exit 2), so it extends InvalidOptionError. */
export class BaselineError extends InvalidOptionError {
  constructor(message: string) {
    super(message);
    this.name = 'BaselineError';
  }
}

// ---------------------------------------------------------------------------------------------
// Reading a baseline report

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Checks the parts of a report that the comparison reads, so that a wrong file (another tool's
 * JSON, a truncated report, an early-stop result) is one clear sentence rather than NaNs later.
 * `label` names the file in the messages.
 */
export function parseBaselineReport(text: string, label: string): AuditReport {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new BaselineError(`${label} is not JSON (${(err as Error).message}); give a report written by alias-audit audit --out`);
  }
  return checkBaselineReport(doc, label);
}

/** {@link parseBaselineReport} on a value already parsed (a stored report). */
export function checkBaselineReport(doc: unknown, label: string): AuditReport {
  const fail = (path: string, what: string): never => {
    throw new BaselineError(`${label} is not an alias-audit report: ${path} ${what}; give a report written by alias-audit audit --out`);
  };
  if (!isObject(doc)) return fail('the document', 'must be an object');
  const tool = doc.tool;
  if (!isObject(tool) || tool.name !== 'alias-audit') fail('tool.name', 'must be "alias-audit"');
  if (typeof (tool as Json).version !== 'string') fail('tool.version', 'must be text');
  const num = (v: unknown, path: string, nullable = false): void => {
    if (v === null && nullable) return;
    if (typeof v !== 'number' || !Number.isFinite(v)) fail(path, nullable ? 'must be a number or null' : 'must be a number');
  };
  const str = (v: unknown, path: string): void => {
    if (typeof v !== 'string') fail(path, 'must be text');
  };
  const numbers = (v: unknown, path: string, length?: number): void => {
    if (!Array.isArray(v) || (length !== undefined && v.length !== length) || v.some((x) => typeof x !== 'number')) {
      fail(path, length === undefined ? 'must be a list of numbers' : `must be a list of ${length} numbers`);
    }
  };
  if (!isObject(doc.model)) fail('model', 'must be an object');
  str((doc.model as Json).sha256, 'model.sha256');
  const dataset = doc.dataset;
  if (!isObject(dataset)) return fail('dataset', 'must be an object');
  str(dataset.name, 'dataset.name');
  num(dataset.samples, 'dataset.samples');
  str(dataset.selection, 'dataset.selection');
  const pre = dataset.preprocessing;
  if (!isObject(pre)) return fail('dataset.preprocessing', 'must be an object');
  str(pre.name, 'dataset.preprocessing.name');
  numbers(pre.mean, 'dataset.preprocessing.mean');
  numbers(pre.std, 'dataset.preprocessing.std');
  num(pre.scale, 'dataset.preprocessing.scale');
  num(doc.cleanAccuracy, 'cleanAccuracy');
  if (!Array.isArray(doc.downsampling)) fail('downsampling', 'must be a list');
  (doc.downsampling as unknown[]).forEach((d, i) => {
    const at = `downsampling[${i}]`;
    if (!isObject(d)) return fail(at, 'must be an object');
    str(d.node, `${at}.node`);
    str(d.op, `${at}.op`);
    num(d.stage, `${at}.stage`);
    numbers(d.outputShape, `${at}.outputShape`);
    for (const k of ['am', 'amRel', 'aliasEnergy']) num(d[k], `${at}.${k}`, true);
    if (d.error !== undefined) str(d.error, `${at}.error`);
  });
  if (!Array.isArray(doc.stages)) fail('stages', 'must be a list');
  (doc.stages as unknown[]).forEach((s, i) => {
    const at = `stages[${i}]`;
    if (!isObject(s)) return fail(at, 'must be an object');
    num(s.stage, `${at}.stage`);
    numbers(s.resolution, `${at}.resolution`, 2);
    for (const k of ['am', 'amRel', 'aliasEnergy']) num(s[k], `${at}.${k}`);
  });
  const r = doc.robustness;
  if (r !== null && r !== undefined) {
    if (!isObject(r)) return fail('robustness', 'must be an object or null');
    num(r.robustAccuracy, 'robustness.robustAccuracy');
    num(r.eps, 'robustness.eps');
    num(r.samples, 'robustness.samples');
    str(r.preset, 'robustness.preset');
    if (!Array.isArray(r.attacks) || r.attacks.some((a) => !isObject(a) || typeof a.name !== 'string')) fail('robustness.attacks', 'must be a list of attacks');
  }
  // Older reports may lack fields this version adds; what the comparison reads is checked above.
  return { ...(doc as unknown as AuditReport), robustness: (r ?? null) as AuditReport['robustness'] };
}

// ---------------------------------------------------------------------------------------------
// The comparison

/** An op's metric as a measurement: null where the op was not measured or its twin broke. */
function measured(op: DownsamplingReport, key: 'am' | 'amRel' | 'aliasEnergy'): number | null {
  return op.error === undefined ? op[key] : null;
}

function delta(baseline: number | null, current: number | null): MetricDelta {
  return { baseline, current, delta: baseline === null || current === null ? null : current - baseline };
}

const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * Pairs the downsampling ops of the two reports: first by node name (exporters name layers
 * after the module path, stable across checkpoints of one architecture); the rest by their rank
 * among the unpaired ops of each side, in graph order, when op type and output shape agree.
 * Returns the pairs as [current index, baseline index], in the current graph order.
 */
export function matchOps(current: readonly DownsamplingReport[], baseline: readonly DownsamplingReport[]): { pairs: [number, number, 'name' | 'position'][]; current: number[]; baseline: number[] } {
  const byName = new Map<string, number[]>();
  baseline.forEach((op, j) => byName.set(op.node, [...(byName.get(op.node) ?? []), j]));
  const taken = new Set<number>();
  const pairs: [number, number, 'name' | 'position'][] = [];
  const leftCurrent: number[] = [];
  current.forEach((op, i) => {
    const j = byName.get(op.node)?.find((k) => !taken.has(k));
    if (j === undefined) {
      leftCurrent.push(i);
      return;
    }
    taken.add(j);
    pairs.push([i, j, 'name']);
  });
  const leftBaseline = baseline.map((_, j) => j).filter((j) => !taken.has(j));
  const unmatchedCurrent: number[] = [];
  const usedBaseline = new Set<number>();
  leftCurrent.forEach((i, rank) => {
    const j = leftBaseline[rank];
    if (j !== undefined && current[i].op === baseline[j].op && sameShape(current[i].outputShape, baseline[j].outputShape)) {
      pairs.push([i, j, 'position']);
      usedBaseline.add(j);
    } else {
      unmatchedCurrent.push(i);
    }
  });
  pairs.sort((a, b) => a[0] - b[0]);
  return { pairs, current: unmatchedCurrent, baseline: leftBaseline.filter((j) => !usedBaseline.has(j)) };
}

const text = (v: unknown): string => JSON.stringify(v ?? null);

/** The settings and samples of both audits that must agree for the deltas to mean something. */
function comparability(current: AuditReport, base: AuditReport): { samples: BaselineDifference[]; options: BaselineDifference[]; notes: string[] } {
  const samples: BaselineDifference[] = [];
  const options: BaselineDifference[] = [];
  const check = (into: BaselineDifference[], field: string, b: unknown, c: unknown): void => {
    if (text(b) !== text(c)) into.push({ field, baseline: text(b), current: text(c) });
  };
  check(samples, 'dataset.name', base.dataset.name, current.dataset.name);
  check(samples, 'dataset.selection', base.dataset.selection, current.dataset.selection);
  check(samples, 'dataset.samples', base.dataset.samples, current.dataset.samples);
  const bp = base.dataset.preprocessing;
  const cp = current.dataset.preprocessing;
  check(options, 'preprocessing.name', bp.name, cp.name);
  check(options, 'preprocessing.mean', bp.mean, cp.mean);
  check(options, 'preprocessing.std', bp.std, cp.std);
  check(options, 'preprocessing.scale', bp.scale, cp.scale);
  const br = base.robustness;
  const cr = current.robustness;
  check(options, 'robustness.preset', br?.preset ?? 'none', cr?.preset ?? 'none');
  if (br && cr) {
    check(samples, 'robustness.samples', br.samples, cr.samples);
    check(options, 'robustness.norm', br.norm, cr.norm);
    check(options, 'robustness.eps', br.eps, cr.eps);
    check(options, 'robustness.attacks', br.attacks.map((a) => a.name), cr.attacks.map((a) => a.name));
    for (const ca of cr.attacks) {
      const ba = br.attacks.find((a) => a.name === ca.name);
      if (!ba) continue;
      check(options, `robustness.${ca.name}.seed`, ba.seed, ca.seed);
      check(options, `robustness.${ca.name}.parameters`, ba.parameters, ca.parameters);
    }
  }
  const notes: string[] = [];
  if (base.tool.version !== current.tool.version) notes.push(`the baseline was audited by alias-audit ${base.tool.version}, this model by ${current.tool.version}`);
  const bep = base.executionProvider?.used;
  if (bep !== undefined && bep !== current.executionProvider.used) notes.push(`the baseline ran on ${bep}, this model on ${current.executionProvider.used}: expect differences in the last digits`);
  const bl = base.dataset.preprocessing.layout;
  if (bl !== undefined && bl !== cp.layout) notes.push(`the baseline model takes ${bl} input, this one ${cp.layout}`);
  return { samples, options, notes };
}

const unmatched = (op: DownsamplingReport): UnmatchedOp => ({ node: op.node, op: op.op, outputShape: [...op.outputShape] });

/** The `baseline` section of `report` against `base` (an earlier report, or the baseline model's audit in the same run). */
export function compareWithBaseline(report: AuditReport, base: AuditReport, source: BaselineComparison['source'] = 'report'): BaselineComparison {
  const { samples, options, notes } = comparability(report, base);
  const match = matchOps(report.downsampling, base.downsampling);
  const ops: BaselineOpDelta[] = match.pairs.map(([i, j, matchedBy]) => {
    const c = report.downsampling[i];
    const b = base.downsampling[j];
    return {
      node: c.node,
      baselineNode: b.node,
      op: c.op,
      matchedBy,
      stage: c.stage,
      baselineStage: b.stage,
      am: delta(measured(b, 'am'), measured(c, 'am')),
      amRel: delta(measured(b, 'amRel'), measured(c, 'amRel')),
      aliasEnergy: delta(measured(b, 'aliasEnergy'), measured(c, 'aliasEnergy')),
    };
  });
  const stages: BaselineStageDelta[] = [];
  for (const c of report.stages) {
    const b = base.stages.find((s) => s.stage === c.stage);
    if (!b) continue;
    stages.push({
      stage: c.stage,
      resolution: [...c.resolution],
      baselineResolution: [...b.resolution],
      am: delta(b.am, c.am),
      amRel: delta(b.amRel, c.amRel),
      aliasEnergy: delta(b.aliasEnergy, c.aliasEnergy),
    });
  }
  return {
    source,
    model: { sha256: base.model.sha256 },
    toolVersion: base.tool.version,
    sameSamples: samples.length === 0,
    sameOptions: options.length === 0,
    differences: [...samples, ...options],
    notes,
    cleanAccuracy: delta(base.cleanAccuracy, report.cleanAccuracy),
    robustAccuracy: base.robustness && report.robustness ? delta(base.robustness.robustAccuracy, report.robustness.robustAccuracy) : null,
    ops,
    stages,
    unmatched: { current: match.current.map((i) => unmatched(report.downsampling[i])), baseline: match.baseline.map((j) => unmatched(base.downsampling[j])) },
  };
}

// ---------------------------------------------------------------------------------------------
// The gates

/** The gates that need a baseline, as parsed from their options. */
export interface BaselineGates {
  maxAmRelIncrease?: number;
  maxAccuracyDrop?: number;
  maxRobustAccuracyDrop?: number;
}

export const BASELINE_GATE_KEYS = ['maxAmRelIncrease', 'maxAccuracyDrop', 'maxRobustAccuracyDrop'] as const;

/** Validates the baseline gates' option values (text); bad values throw InvalidOptionError. */
export function parseBaselineGates(raw: RawOptions): BaselineGates {
  const gates: BaselineGates = {};
  for (const key of BASELINE_GATE_KEYS) {
    const v = raw[key];
    if (v === undefined || v.trim() === '') continue;
    // An increase of amRel can exceed 1 in principle; accuracies are fractions.
    gates[key] = key === 'maxAmRelIncrease' ? nonNegative(key, v) : parseFraction(key, v, 0, 1);
  }
  return gates;
}

function nonNegative(key: string, v: string): number {
  const x = Number(v.trim());
  if (v.trim() === '' || !Number.isFinite(x) || x < 0) throw new InvalidOptionError(`--${kebab(key)} must be a number >= 0 (got ${JSON.stringify(v)})`);
  return x;
}

function check(limit: number, value: number | null, passed: boolean, extra: { where?: string | null; reason?: string } = {}): GateCheck {
  return { limit, value, passed, verdict: passed ? 'pass' : 'fail', ...extra };
}

/**
 * Every gate of the report with its value, limit and verdict: the audit's own gates
 * (`maxAmRel`, `minRobustAccuracy`, given `value` and `verdict` beside their fields) and the
 * baseline gates in `gates`, which need `report.baseline` (without it they fail with a reason).
 * Returns undefined when no gate was given.
 */
export function evaluateGates(report: AuditReport, gates: BaselineGates): Thresholds | undefined {
  const t: Thresholds = {};
  const am = report.thresholds?.maxAmRel;
  if (am) t.maxAmRel = { ...am, value: am.worst, verdict: am.passed ? 'pass' : 'fail' };
  const ra = report.thresholds?.minRobustAccuracy;
  if (ra) t.minRobustAccuracy = { ...ra, verdict: ra.passed ? 'pass' : 'fail' };
  const b = report.baseline;
  const noBaseline = 'no baseline to compare with';
  if (gates.maxAmRelIncrease !== undefined) {
    const limit = gates.maxAmRelIncrease;
    let worst: number | null = null;
    let where: string | null = null;
    const consider = (d: number | null, name: string): void => {
      if (d !== null && (worst === null || d > worst)) {
        worst = d;
        where = name;
      }
    };
    for (const op of b?.ops ?? []) consider(op.amRel.delta, op.node);
    for (const s of b?.stages ?? []) consider(s.amRel.delta, `stage ${s.stage}`);
    t.maxAmRelIncrease =
      worst === null
        ? check(limit, null, false, { where: null, reason: b ? 'no op or stage was measured on both sides' : noBaseline })
        : check(limit, worst, worst <= limit, { where });
  }
  if (gates.maxAccuracyDrop !== undefined) {
    const limit = gates.maxAccuracyDrop;
    const d = b?.cleanAccuracy.delta ?? null;
    t.maxAccuracyDrop = d === null ? check(limit, null, false, { reason: noBaseline }) : check(limit, -d, -d <= limit);
  }
  if (gates.maxRobustAccuracyDrop !== undefined) {
    const limit = gates.maxRobustAccuracyDrop;
    const d = b?.robustAccuracy?.delta ?? null;
    const reason = !b ? noBaseline : !report.robustness ? 'this audit has no robustness (give --robustness)' : 'the baseline has no robustness';
    t.maxRobustAccuracyDrop = d === null ? check(limit, null, false, { reason }) : check(limit, -d, -d <= limit);
  }
  return Object.keys(t).length > 0 ? t : undefined;
}

/** The flag of each gate, for messages. */
export const GATE_FLAGS: Record<keyof Thresholds, string> = {
  maxAmRel: '--max-am-rel',
  minRobustAccuracy: '--min-robust-accuracy',
  maxAmRelIncrease: '--max-am-rel-increase',
  maxAccuracyDrop: '--max-accuracy-drop',
  maxRobustAccuracyDrop: '--max-robust-accuracy-drop',
};

/** A gate as one row: name, flag, value, limit, verdict, and where or why. The writers and the CLI list gates this way. */
export interface GateRow {
  gate: keyof Thresholds;
  flag: string;
  value: number | null;
  limit: number;
  passed: boolean;
  /** The op or stage of the value, or why there is none. */
  detail: string | null;
}

export function gateRows(t: Thresholds | undefined): GateRow[] {
  if (!t) return [];
  const rows: GateRow[] = [];
  for (const gate of Object.keys(GATE_FLAGS) as (keyof Thresholds)[]) {
    const g = t[gate];
    if (!g) continue;
    const value = 'worst' in g ? g.worst : g.value;
    const where = 'worstNode' in g ? g.worstNode : 'where' in g ? g.where : null;
    const reason = 'reason' in g ? g.reason : undefined;
    rows.push({ gate, flag: GATE_FLAGS[gate], value, limit: g.limit, passed: g.passed, detail: value === null ? (reason ?? null) : (where ?? null) });
  }
  return rows;
}

/** One sentence per failed gate, for stderr. */
export function gateFailures(t: Thresholds | undefined): string[] {
  return gateRows(t)
    .filter((r) => !r.passed)
    .map((r) => {
      if (r.value === null) return `${r.flag} ${r.limit} fails: ${r.detail ?? 'nothing was measured'}`;
      const v = r.value.toFixed(4);
      switch (r.gate) {
        case 'maxAmRel':
          return `amRel ${v} of ${r.detail} exceeds --max-am-rel ${r.limit}`;
        case 'minRobustAccuracy':
          return `robust accuracy ${v} is below --min-robust-accuracy ${r.limit}`;
        case 'maxAmRelIncrease':
          return `amRel of ${r.detail} rose by ${v} over the baseline, more than --max-am-rel-increase ${r.limit}`;
        case 'maxAccuracyDrop':
          return `clean accuracy fell by ${v} from the baseline, more than --max-accuracy-drop ${r.limit}`;
        case 'maxRobustAccuracyDrop':
          return `robust accuracy fell by ${v} from the baseline, more than --max-robust-accuracy-drop ${r.limit}`;
      }
      return `${r.flag} fails`;
    });
}
