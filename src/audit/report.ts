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
  thresholds?: {
    /** `reason` says why the gate failed without a measurement (no op had an amRel). */
    maxAmRel?: { limit: number; worst: number | null; worstNode: string | null; passed: boolean; reason?: string };
    minRobustAccuracy?: { limit: number; value: number; passed: boolean };
  };
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
