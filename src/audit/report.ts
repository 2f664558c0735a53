import type { RobustnessReport } from '../attacks/suite.js';
import type { StageSummary } from '../metrics/stages.js';
import type { PreprocessingCandidate } from './preprocessingChoice.js';

/** The audit report (SPEC §6): field names are a contract with users' pipelines. */

export interface TwinCheck {
  /** Largest |twin[::s] - original| over the images checked. */
  maxAbsError: number;
  /** maxAbsError relative to the largest |original| value. */
  relativeError: number;
  /** Images checked: the first of every batch (the twin's geometry does not depend on the image). */
  images: number;
  ok: boolean;
}

export interface DownsamplingReport {
  node: string;
  op: string;
  stride: [number, number];
  kernel: [number, number];
  dilations: [number, number];
  /** Pads of the stride-1 twin [top, left, bottom, right]: the op's begin pads, end pads extended to s*N. */
  twinPads: [number, number, number, number] | null;
  inputShape: number[];
  outputShape: number[];
  stage: number;
  am: number | null;
  amRel: number | null;
  aliasEnergy: number | null;
  /** Feature maps measured (images x channels). */
  maps: number;
  twinCheck: TwinCheck | null;
  /** Why this op could not be measured, when it could not. */
  error?: string;
}

/** A stage: ops of one output resolution, with the means of their metrics. */
export type StageReport = StageSummary;

export interface PreprocessingReport {
  name: string;
  mean: number[];
  std: number[];
  scale: number;
  layout: 'NCHW' | 'NHWC';
  /** How it was chosen: 'explicit' (mean/std), 'preset' (named), or 'auto' (the best candidate). */
  chosenBy: 'explicit' | 'preset' | 'auto';
  /**
   * Clean accuracy on the first samples of every preset, and of explicit mean/std when given
   * (each candidate says how many: 256 or fewer under `auto`; 64 for a given preprocessing, 256
   * when a preset beats it there by more than 5 points): what `auto` chooses from, and what a
   * poor explicit choice is flagged against.
   * Absent from reports of older versions, which scored them only under `auto`.
   */
  candidates?: PreprocessingCandidate[];
}

/** One node of the model's graph; `name` matches `DownsamplingReport.node` for strided ops. */
export interface GraphNodeReport {
  name: string;
  op: string;
  /** The first output's shape where the model declares it (value_info or a graph output). */
  outputShape?: (number | string | null)[];
}

/** The model's nodes in graph order, input to logits, for a picture of the layers (Constant nodes left out). */
export interface GraphReport {
  nodes: GraphNodeReport[];
  /** Nodes in the graph (Constant nodes left out); more than `nodes.length` when truncated. */
  total: number;
  truncated: boolean;
}

export interface AuditReport {
  tool: { name: 'alias-audit'; version: string };
  model: {
    sha256: string;
    bytes: number;
    opset: number;
    irVersion: number;
    producer: string;
    input: { name: string; shape: (number | string | null)[]; layout: 'NCHW' | 'NHWC'; batchUsed: number };
  };
  dataset: { name: 'CIFAR-10 test'; source: string; samples: number; selection: 'first'; preprocessing: PreprocessingReport };
  executionProvider: { requested: string; used: string; fallbacks: { provider: string; error: string }[] };
  cleanAccuracy: number;
  cleanCorrect: number;
  downsampling: DownsamplingReport[];
  stages: StageReport[];
  unsupported: { node: string; op: string; reason: string }[];
  /** The layers, for the HTML report; optional so that older stored reports stay valid. */
  graph?: GraphReport;
  /** Robustness estimates (SPEC §4); null unless attacks were requested (`robustness` option). */
  robustness: RobustnessReport | null;
  /** What may make the report unreliable, one sentence each: preprocessing, accuracy near chance, broken twins. */
  flags: string[];
  thresholds?: Thresholds;
  /** The comparison with a baseline (`--baseline`, `--baseline-model`); absent without one. */
  baseline?: BaselineComparison;
  timings: {
    totalSeconds: number;
    loadSeconds: number;
    probeSeconds: number;
    sessionSeconds: number;
    measureSeconds: number;
    robustnessSeconds: number;
    imagesPerSecond: number;
  };
}

/** A gate's outcome, as CI shows it. */
export type GateVerdict = 'pass' | 'fail';

/**
 * One CI gate: the value measured, the limit given and the verdict. `value` is null, and `reason`
 * says why, when there was nothing to measure (the gate then fails). `where` names the op or
 * stage the value comes from, for the gates over ops and stages.
 */
export interface GateCheck {
  limit: number;
  value: number | null;
  passed: boolean;
  verdict: GateVerdict;
  where?: string | null;
  reason?: string;
}

/**
 * The CI gates given (SPEC §6), each only when given. The first two keep the fields of earlier
 * versions (`worst`/`worstNode`, `value`); `value` and `verdict` were added beside them and are
 * optional so that reports of earlier versions stay valid.
 */
export interface Thresholds {
  /** `reason` says why the gate failed without a measurement (no op had an amRel). */
  maxAmRel?: { limit: number; worst: number | null; worstNode: string | null; passed: boolean; reason?: string; value?: number | null; verdict?: GateVerdict };
  minRobustAccuracy?: { limit: number; value: number; passed: boolean; verdict?: GateVerdict };
  /** The largest increase of amRel over the baseline, over matched ops and stages (absolute). */
  maxAmRelIncrease?: GateCheck;
  /** Baseline clean accuracy minus this one's (a fraction; negative when it improved). */
  maxAccuracyDrop?: GateCheck;
  /** Baseline robust accuracy minus this one's (a fraction). */
  maxRobustAccuracyDrop?: GateCheck;
}

/** A metric on both sides; `delta` is current minus baseline, null when either is missing. */
export interface MetricDelta {
  baseline: number | null;
  current: number | null;
  delta: number | null;
}

/** A downsampling op of this model paired with one of the baseline's. */
export interface BaselineOpDelta {
  node: string;
  baselineNode: string;
  op: string;
  /** How the pair was found: the same node name, or the same rank among the ops left over with the same op type and output shape. */
  matchedBy: 'name' | 'position';
  stage: number;
  baselineStage: number;
  am: MetricDelta;
  amRel: MetricDelta;
  aliasEnergy: MetricDelta;
}

export interface BaselineStageDelta {
  stage: number;
  resolution: [number, number];
  baselineResolution: [number, number];
  am: MetricDelta;
  amRel: MetricDelta;
  aliasEnergy: MetricDelta;
}

/** A downsampling op of one side that has no counterpart on the other. */
export interface UnmatchedOp {
  node: string;
  op: string;
  outputShape: number[];
}

/** A setting that differs between the two audits; values as JSON text. */
export interface BaselineDifference {
  field: string;
  baseline: string;
  current: string;
}

export interface BaselineComparison {
  /** Where the baseline came from: a report file, or a model audited in the same run. */
  source: 'report' | 'model';
  /** The baseline model's sha256 and the version of alias-audit that audited it. */
  model: { sha256: string };
  toolVersion: string;
  /** Same images: data set, selection and count (and, with robustness on both, the images attacked). */
  sameSamples: boolean;
  /** Same settings that decide the numbers: preprocessing and the attack suite. */
  sameOptions: boolean;
  /** What makes sameSamples or sameOptions false. */
  differences: BaselineDifference[];
  /** Differences that do not make the audits incomparable but may move the numbers slightly (version, provider). */
  notes: string[];
  cleanAccuracy: MetricDelta;
  /** Null unless both audits have robustness. */
  robustAccuracy: MetricDelta | null;
  ops: BaselineOpDelta[];
  stages: BaselineStageDelta[];
  unmatched: { current: UnmatchedOp[]; baseline: UnmatchedOp[] };
}
