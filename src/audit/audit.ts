/**
 * One audit end to end, as six named steps: read the subject (the model decoded once, its
 * strided ops, the samples) -> probe (shapes, preprocessing) -> measure aliasing (stride-1
 * twins with the measurement in the graph, one pass over the samples) -> check the
 * preprocessing (a given one's score comes from the measurement pass) -> estimate robustness
 * (when asked) -> assemble the report.
 */
import { createHash } from 'node:crypto';
import { Cifar10Set, loadCifar10Test } from '../data/cifar10.js';
import { AUTO_PRESETS, Layout, Preprocessing, resolveLayout, resolvePreprocessing } from '../data/preprocess.js';
import { addSums, aliasingMetrics, AliasingSums, emptySums } from '../metrics/aliasing.js';
import { addAliasingMeasurement, AliasingOutputs } from '../metrics/spectralGraph.js';
import { assignStages, stageSummaries } from '../metrics/stages.js';
import { decodeModel, encodeModel, ModelError } from '../onnx/codec.js';
import { cloneModel, type Dim, type Model } from '../onnx/ir.js';
import { checkSpatialSize, DownsamplingOp, findDownsamplingOps, ModelSummary, summarizeModel } from '../onnx/inspect.js';
import { addStrideOneTwin, exposeForShapeProbe, OpGeometry } from '../onnx/surgery.js';
import { FloatTensor, ModelSession, ProviderAttempt, RuntimeLoadError, startProviderProbe } from '../runtime/session.js';
import { RobustnessReport } from '../attacks/suite.js';
import { InputBatcher } from './inputBatcher.js';
import { AuditOptions } from './options.js';
import {
  autoPreset,
  CANDIDATE_SAMPLES,
  CHANCE_ACCURACY,
  CHECK_SAMPLES,
  checkGivenPreprocessing,
  PartialScore,
  PreprocessingCandidate,
  preprocessingFlags,
  PROBE_KEPT_OPEN_MAX_BYTES,
  ScoreMore,
  scoreAutoPresets,
  scoredSoFar,
} from './preprocessingChoice.js';
import { auditRobustness } from './robustness.js';
import { AuditReport, DownsamplingReport, GraphReport, PreprocessingReport } from './report.js';
import { TOOL_VERSION } from './version.js';

export interface AuditProgress {
  phase: 'loading' | 'probing' | 'choosing-preprocessing' | 'measuring' | 'attacking' | 'done';
  /** 0..1 over the whole audit. */
  fraction: number;
  message: string;
}

export interface AuditEnvironment {
  /** A dataset already in memory (the service keeps one); loaded on demand otherwise. */
  dataset?: Cifar10Set;
  onProgress?: (p: AuditProgress) => void;
  /** The model already decoded from these bytes (by a caller's own check); the audit does not edit it. */
  model?: Model;
  /** Overrides {@link PROBE_KEPT_OPEN_MAX_BYTES}, so that a test reaches the reopened probe session with a small model. */
  probeKeptOpenMaxBytes?: number;
}

/** Relative tolerance of the twin invariant: float32 rounding of differently ordered sums. */
const TWIN_TOLERANCE = 1e-4;

/** Runs one audit. Bad input throws ModelError or InvalidOptionError; both are the caller's 4xx / exit 2. */
export async function runAudit(modelBytes: Uint8Array, options: AuditOptions, env: AuditEnvironment = {}): Promise<AuditReport> {
  const started = performance.now();
  const progress = env.onProgress ?? (() => {});
  startProviderProbe(options.ep);
  const subject = await readSubject(modelBytes, options, env, progress);
  const probed = await probeModel(subject, options, env.probeKeptOpenMaxBytes ?? PROBE_KEPT_OPEN_MAX_BYTES, progress);
  let measured: Measured;
  let checked: CheckedPreprocessing;
  try {
    measured = await measureAliasing(subject, probed, options, progress);
    checked = await checkPreprocessing(subject, probed, measured, options, progress);
  } finally {
    await probed.checkSession?.release();
  }
  const attacked = await estimateRobustness(subject, probed.pre, options, progress);
  const report = assembleReport(subject, probed, checked, measured, attacked, options, seconds(started));
  progress({ phase: 'done', fraction: 1, message: 'done' });
  return report;
}

/** What every step reads: the model (decoded once), its interface, the strided ops and the samples. */
interface AuditSubject {
  bytes: Uint8Array;
  /** Never edited: each graph an audit builds is built on a clone. */
  model: Model;
  summary: ModelSummary;
  layout: Layout;
  ops: DownsamplingOp[];
  unsupported: ReturnType<typeof findDownsamplingOps>['unsupported'];
  dataset: Cifar10Set;
  samples: number;
  batch: number;
  loadSeconds: number;
}

/** With attacks to run, the aliasing pass is the smaller part of the work (progress fractions). */
function aliasingShare(options: AuditOptions): number {
  return attacking(options) ? 0.3 : 1;
}

function attacking(options: AuditOptions): boolean {
  return options.robustness !== undefined && options.robustness !== 'none';
}

/** Step 1: decode (unless the caller did), check the input, find the strided ops, load the samples. */
async function readSubject(bytes: Uint8Array, options: AuditOptions, env: AuditEnvironment, progress: (p: AuditProgress) => void): Promise<AuditSubject> {
  const started = performance.now();
  progress({ phase: 'loading', fraction: 0, message: 'reading model' });
  const model = env.model ?? decodeModel(bytes);
  const summary = summarizeModel(model);
  const layout = resolveLayout(options.layout, summary.input.shape);
  checkSpatialSize(summary, layout);
  const { ops, unsupported } = findDownsamplingOps(model);
  const dataset = env.dataset ?? (await loadCifar10Test({ dir: options.cifar10Dir }));
  const samples = Math.min(options.samples, dataset.count);
  const batch = summary.input.fixedBatch ?? Math.min(options.batch, samples);
  return { bytes, model, summary, layout, ops, unsupported, dataset, samples, batch, loadSeconds: seconds(started) };
}

/** The audit's images in its batches, preprocessed as each step asks. */
function batcherFor(subject: AuditSubject): InputBatcher {
  return new InputBatcher(subject.dataset, subject.batch, subject.layout, subject.summary.input.fixedBatch !== null);
}

interface Probed {
  geometries: Map<string, Geometry>;
  pre: Preprocessing;
  choice: PreprocessingScores;
  /**
   * The probe session, kept open for the check of a given preprocessing after the measurement
   * pass when the model is small (see {@link PROBE_KEPT_OPEN_MAX_BYTES}); null otherwise, and
   * under `auto`, whose choice is final here. runAudit releases it.
   */
  checkSession: ModelSession | null;
  probeSeconds: number;
}

/** Step 2: one CPU session of the model with the strided ops exposed: their shapes, then the preprocessing. */
async function probeModel(subject: AuditSubject, options: AuditOptions, keptOpenMaxBytes: number, progress: (p: AuditProgress) => void): Promise<Probed> {
  progress({ phase: 'probing', fraction: 0.02, message: 'probing shapes' });
  const started = performance.now();
  const probe = await openProbe(subject.model);
  let keep = false;
  try {
    const input = batcherFor(subject);
    const geometries = await probeGeometry(probe.session, probe.ops, subject.summary, input, PRESET_FOR_PROBE);
    const choice = await choosePreprocessing(probe.session, subject.summary, options, input, subject.samples, progress);
    keep = choice.given !== null && subject.bytes.length <= keptOpenMaxBytes;
    return { geometries, pre: choice.pre, choice, checkSession: keep ? probe.session : null, probeSeconds: seconds(started) };
  } finally {
    if (!keep) await probe.session.release();
  }
}

interface Measured {
  plan: { measured: MeasuredOp[] };
  sums: AliasingSums[];
  twinStats: { maxAbsError: number; maxAbsOutput: number; images: number }[];
  correct: number;
  /** Correct answers on the first {@link CHECK_SAMPLES} and {@link CANDIDATE_SAMPLES} images: the given preprocessing's scores. */
  correctFirst: { check: number; candidate: number };
  provider: { used: string; fallbacks: ProviderAttempt[] };
  sessionSeconds: number;
  measureSeconds: number;
}

/** Step 3: the audit graph (model, twins, in-graph measurement) in one session, one pass over the samples. */
async function measureAliasing(subject: AuditSubject, probed: Probed, options: AuditOptions, progress: (p: AuditProgress) => void): Promise<Measured> {
  const { summary, dataset, samples, batch } = subject;
  const sessionStarted = performance.now();
  const { plan, session } = await openAuditSession(subject.model, probed.geometries, options);
  const sessionSeconds = seconds(sessionStarted);

  const measureStarted = performance.now();
  const share = aliasingShare(options);
  let correct = 0;
  const correctFirst = { check: 0, candidate: 0 };
  const sums = plan.measured.map(() => emptySums());
  const twinStats = plan.measured.map(() => ({ maxAbsError: 0, maxAbsOutput: 0, images: 0 }));
  const input = batcherFor(subject);
  try {
    const logitsName = summary.outputs[0];
    const fetches = [logitsName, ...plan.measured.flatMap((m) => (m.outputs ? [m.outputs.sums, m.outputs.twinError, m.outputs.outputMaxAbs] : []))];
    for (let start = 0; start < samples; start += batch) {
      const count = Math.min(batch, samples - start);
      const result = await session.run({ [summary.input.name]: input.fill(start, count, probed.pre) }, fetches);
      correct += countCorrect(result[logitsName], dataset.labels, start, count);
      if (start < CANDIDATE_SAMPLES) correctFirst.candidate += countCorrect(result[logitsName], dataset.labels, start, Math.min(count, CANDIDATE_SAMPLES - start));
      if (start < CHECK_SAMPLES) correctFirst.check += countCorrect(result[logitsName], dataset.labels, start, Math.min(count, CHECK_SAMPLES - start));
      plan.measured.forEach((m, i) => {
        if (!m.outputs) return;
        sums[i] = addSums(sums[i], batchSums(result, m.outputs, count));
        const stats = twinStats[i];
        // the twin check covers the first image of every batch
        stats.maxAbsError = Math.max(stats.maxAbsError, maxOf(result[m.outputs.twinError].data, 1));
        stats.maxAbsOutput = Math.max(stats.maxAbsOutput, maxOf(result[m.outputs.outputMaxAbs].data, 1));
        stats.images++;
      });
      const done = start + count;
      progress({ phase: 'measuring', fraction: 0.1 + share * 0.9 * (done / samples), message: `${done}/${samples} images` });
    }
  } finally {
    await session.release();
  }
  return {
    plan,
    sums,
    twinStats,
    correct,
    correctFirst,
    provider: { used: session.provider, fallbacks: [...session.failedProviders] },
    sessionSeconds,
    measureSeconds: seconds(measureStarted),
  };
}

/** Step 4: the attacks, when asked for, on the model's bytes and a clone of its graph. */
async function estimateRobustness(
  subject: AuditSubject,
  pre: Preprocessing,
  options: AuditOptions,
  progress: (p: AuditProgress) => void,
): Promise<{ robustness: RobustnessReport | null; robustnessSeconds: number }> {
  const started = performance.now();
  if (!attacking(options)) return { robustness: null, robustnessSeconds: 0 };
  const { summary } = subject;
  const share = aliasingShare(options);
  const classifier = { inputName: summary.input.name, logitsName: summary.outputs[0], layout: subject.layout, preprocessing: pre, fixedBatch: summary.input.fixedBatch, ep: options.ep };
  const robustness = await auditRobustness(subject.bytes, subject.model, classifier, options, subject.dataset, subject.samples, subject.batch, (f, message) =>
    progress({ phase: 'attacking', fraction: 0.1 + 0.9 * share + 0.9 * (1 - share) * f, message }),
  );
  return { robustness, robustnessSeconds: seconds(started) };
}

/** Step 5: metrics per op and stage, flags, thresholds and timings, as the report (SPEC §6). */
function assembleReport(
  subject: AuditSubject,
  probed: Probed,
  checked: CheckedPreprocessing,
  measured: Measured,
  attacked: { robustness: RobustnessReport | null; robustnessSeconds: number },
  options: AuditOptions,
  totalSeconds: number,
): AuditReport {
  const { summary, layout, samples, dataset, batch } = subject;
  const { geometries, pre } = probed;
  const { plan, sums, twinStats, correct } = measured;
  const { robustness } = attacked;
  const downsampling = assignStages(
    plan.measured.map((m, i): Omit<DownsamplingReport, 'stage'> => {
      const geometry = geometries.get(m.op.output);
      const metrics = m.outputs ? aliasingMetrics(sums[i]) : null;
      const { maxAbsError, maxAbsOutput, images } = twinStats[i];
      const relativeError = maxAbsOutput > 0 ? maxAbsError / maxAbsOutput : maxAbsError;
      const twinOk = m.outputs !== undefined && relativeError <= TWIN_TOLERANCE;
      return {
        node: m.op.node.name || m.op.output,
        op: m.op.op,
        stride: m.op.strides,
        kernel: m.op.kernel,
        dilations: m.op.dilations,
        twinPads: m.twinPads ?? null,
        inputShape: geometry ? [...geometry.inputShape] : [],
        outputShape: geometry ? [...geometry.outputShape] : [],
        am: metrics?.am ?? null,
        amRel: metrics?.amRel ?? null,
        aliasEnergy: metrics?.aliasEnergy ?? null,
        maps: sums[i].maps,
        twinCheck: m.outputs ? { maxAbsError, relativeError, images, ok: twinOk } : null,
        ...(m.error ? { error: m.error } : !twinOk ? { error: `stride-1 twin breaks the invariant twin[::s] == output (relative error ${relativeError.toExponential(2)})` } : {}),
      };
    }),
  );
  const measuredOk = downsampling.filter((d) => d.am !== null && !d.error) as (DownsamplingReport & { am: number; amRel: number; aliasEnergy: number })[];
  const cleanAccuracy = correct / samples;
  const flags: string[] = [...checked.flags];
  if (cleanAccuracy < CHANCE_ACCURACY) {
    flags.push(`clean accuracy ${(cleanAccuracy * 100).toFixed(1)}% is near chance: the preprocessing (${pre.name}) or layout (${layout}) probably does not match the model`);
  }
  if (subject.ops.length === 0) flags.push('no strided Conv/MaxPool/AveragePool: nothing to measure for aliasing');
  for (const d of downsampling) if (d.error) flags.push(`${d.node}: ${d.error}`);

  const report: AuditReport = {
    tool: { name: 'alias-audit', version: TOOL_VERSION },
    model: {
      sha256: createHash('sha256').update(subject.bytes).digest('hex'),
      bytes: subject.bytes.length,
      opset: summary.opset,
      irVersion: summary.irVersion,
      producer: summary.producer,
      input: { name: summary.input.name, shape: summary.input.shape, layout, batchUsed: batch },
    },
    dataset: { name: 'CIFAR-10 test', source: dataset.source, samples, selection: 'first', preprocessing: { ...checked.report, layout } },
    executionProvider: { requested: options.ep, used: measured.provider.used, fallbacks: measured.provider.fallbacks },
    cleanAccuracy,
    cleanCorrect: correct,
    downsampling,
    stages: stageSummaries(measuredOk),
    unsupported: subject.unsupported,
    graph: graphOutline(subject.model),
    robustness,
    flags,
    timings: {
      totalSeconds,
      loadSeconds: subject.loadSeconds,
      probeSeconds: probed.probeSeconds + checked.seconds,
      sessionSeconds: measured.sessionSeconds,
      measureSeconds: measured.measureSeconds,
      robustnessSeconds: attacked.robustnessSeconds,
      imagesPerSecond: samples / Math.max(measured.measureSeconds, 1e-9),
    },
  };
  if (options.maxAmRel !== undefined || options.minRobustAccuracy !== undefined) report.thresholds = {};
  if (options.maxAmRel !== undefined) report.thresholds!.maxAmRel = maxAmRelCheck(downsampling, options.maxAmRel);
  if (options.minRobustAccuracy !== undefined && robustness) {
    const value = robustness.robustAccuracy;
    report.thresholds!.minRobustAccuracy = { limit: options.minRobustAccuracy, value, passed: value >= options.minRobustAccuracy };
  }
  return report;
}


/** Nodes listed in the report's graph at most: enough for any CIFAR-10 classifier, bounded for huge graphs. */
const GRAPH_NODE_LIMIT = 500;

/** The model's layers in graph order (ONNX graphs are stored topologically sorted). */
function graphOutline(model: Model): GraphReport {
  const shapes = new Map<string, readonly Dim[]>();
  for (const v of [...model.graph.valueInfo, ...model.graph.outputs]) if (v.shape) shapes.set(v.name, v.shape);
  // Constant nodes are weights, not layers: listing them would bury the network's structure.
  const layers = model.graph.nodes.filter((n) => n.opType !== 'Constant');
  const nodes = layers.slice(0, GRAPH_NODE_LIMIT).map((n) => {
    const shape = shapes.get(n.outputs[0]);
    return { name: n.name || n.outputs[0], op: n.opType, ...(shape ? { outputShape: [...shape] } : {}) };
  });
  return { nodes, total: layers.length, truncated: layers.length > nodes.length };
}

const PRESET_FOR_PROBE: Preprocessing = { name: 'none', mean: [0, 0, 0], std: [1, 1, 1], scale: 1 };

function seconds(since: number): number {
  return (performance.now() - since) / 1000;
}

interface Probe {
  session: ModelSession;
  ops: DownsamplingOp[];
}

/** The original model with each strided op's input and output exposed, on CPU. */
async function openProbe(decoded: Model): Promise<Probe> {
  const model = cloneModel(decoded);
  const { ops } = findDownsamplingOps(model);
  exposeForShapeProbe(model, ops);
  try {
    return { session: await ModelSession.open(encodeModel(model), { ep: 'cpu' }), ops };
  } catch (err) {
    if (err instanceof RuntimeLoadError) throw new ModelError('UNSUPPORTED_MODEL', err.message);
    throw err;
  }
}

type Geometry = OpGeometry & { inputShape: readonly number[]; outputShape: readonly number[] };

/** Reads each strided op's real input and output shapes from one run. */
async function probeGeometry(session: ModelSession, ops: DownsamplingOp[], summary: ModelSummary, input: InputBatcher, pre: Preprocessing): Promise<Map<string, Geometry>> {
  const geometries = new Map<string, Geometry>();
  if (ops.length === 0) return geometries;
  const names = [...new Set(ops.flatMap((o) => [o.input, o.output]))];
  let result: Record<string, FloatTensor>;
  try {
    result = await session.run({ [summary.input.name]: input.fill(0, 1, pre) }, names);
  } catch (err) {
    throw new ModelError('UNSUPPORTED_MODEL', `the model does not run on a CIFAR-10 image: ${(err as Error).message}`);
  }
  for (const op of ops) {
    const inShape = result[op.input].dims;
    const outShape = result[op.output].dims;
    if (inShape.length !== 4 || outShape.length !== 4) continue;
    geometries.set(op.output, {
      inputHW: [inShape[2], inShape[3]],
      outputHW: [outShape[2], outShape[3]],
      inputShape: inShape.slice(1),
      outputShape: outShape.slice(1),
    });
  }
  return geometries;
}

/**
 * The preprocessing's scores as the probe leaves them. For `auto`, every preset scored on up to
 * {@link CANDIDATE_SAMPLES} images, final. For a given preprocessing, nothing yet: its check
 * needs its own score, which the measurement pass gives (see checkPreprocessing).
 */
interface PreprocessingScores {
  pre: Preprocessing;
  chosenBy: PreprocessingReport['chosenBy'];
  /** The candidates in report order: none, cifar10, imagenet, then explicit mean/std. */
  scored: Preprocessing[];
  /** Aligned with `scored` under `auto`; empty for a given preprocessing until its check. */
  scores: PartialScore[];
  /** The given preprocessing's slot in `scored`; null under `auto`. */
  given: number | null;
}

/** Correct answers on images [from, to) under `pre`, in batches of the batcher's size. */
async function correctOn(session: ModelSession, summary: ModelSummary, input: InputBatcher, pre: Preprocessing, from: number, to: number): Promise<number> {
  let correct = 0;
  for (let start = from; start < to; start += input.batch) {
    const count = Math.min(input.batch, to - start);
    const out = await session.run({ [summary.input.name]: input.fill(start, count, pre) }, [summary.outputs[0]]);
    correct += countCorrect(out[summary.outputs[0]], input.labels, start, count);
  }
  return correct;
}

/**
 * Images of a candidate's first look, for a model that takes any batch size: a preset far from
 * the answer stops after them. A fixed-batch model runs whole batches anyway.
 */
const FIRST_LOOK_IMAGES = 16;

/** The probe session as the choice's scorer: a first look, then whole batches of the candidate's preprocessing. */
function scorer(session: ModelSession, summary: ModelSummary, input: InputBatcher, candidates: readonly Preprocessing[]): ScoreMore {
  return async (index, score) => {
    const size = score.scored === 0 && !input.fixedBatch ? Math.min(FIRST_LOOK_IMAGES, input.batch) : input.batch;
    const to = Math.min(score.total, score.scored + size);
    score.correct += await correctOn(session, summary, input, candidates[index], score.scored, to);
    score.scored = to;
  };
}

/**
 * Scores the presets on the first samples with the probe session under `auto`, and takes the best
 * (see {@link autoPreset}). Explicit mean/std or a given preset is used as given; its check
 * against the presets waits for the measurement pass, which scores it.
 */
async function choosePreprocessing(
  session: ModelSession,
  summary: ModelSummary,
  options: AuditOptions,
  input: InputBatcher,
  samples: number,
  progress: (p: AuditProgress) => void,
): Promise<PreprocessingScores> {
  const presets = AUTO_PRESETS.map((preset) => resolvePreprocessing({ preset, scale: options.scale }));
  if (options.mean === undefined && options.preprocess === 'auto') {
    progress({ phase: 'choosing-preprocessing', fraction: 0.04, message: 'scoring preprocessing presets' });
    const scores = await scoreAutoPresets(AUTO_PRESETS, Math.min(samples, CANDIDATE_SAMPLES), scorer(session, summary, input, presets));
    const pre = resolvePreprocessing({ preset: autoPreset(scores.map(scoredSoFar)), scale: options.scale });
    return { pre, chosenBy: 'auto', scored: presets, scores, given: null };
  }
  if (options.mean !== undefined) {
    const pre = resolvePreprocessing({ preset: options.preprocess === 'auto' ? 'none' : options.preprocess, mean: options.mean, std: options.std, scale: options.scale });
    return { pre, chosenBy: 'explicit', scored: [...presets, pre], scores: [], given: presets.length };
  }
  const pre = resolvePreprocessing({ preset: options.preprocess, scale: options.scale });
  const given = presets.findIndex((p) => p.name === pre.name);
  return given >= 0 ? { pre, chosenBy: 'preset', scored: presets, scores: [], given } : { pre, chosenBy: 'preset', scored: [...presets, pre], scores: [], given: presets.length };
}

interface CheckedPreprocessing {
  report: Omit<PreprocessingReport, 'layout'>;
  flags: string[];
  /** Time spent scoring the other candidates of a given preprocessing, else 0. */
  seconds: number;
}

/**
 * Step 3b: checks a given preprocessing against the other candidates with the probe session, its
 * own score taken from the measurement pass (the same images, the same preprocessing; see
 * {@link checkGivenPreprocessing}). For a model that fits its given preprocessing, a wrong preset
 * stops after a few images instead of 64.
 */
async function checkPreprocessing(subject: AuditSubject, probed: Probed, measured: Measured, options: AuditOptions, progress: (p: AuditProgress) => void): Promise<CheckedPreprocessing> {
  const { pre, chosenBy, scored, given } = probed.choice;
  if (given === null || chosenBy === 'auto') return { ...preprocessingChoice(pre, chosenBy, probed.choice.scores.map(scoredSoFar)), seconds: 0 };
  progress({ phase: 'choosing-preprocessing', fraction: 0.1 + 0.9 * aliasingShare(options), message: `checking preprocessing ${pre.name} against the presets` });
  const started = performance.now();
  const { summary } = subject;
  const session = probed.checkSession ?? (await openProbe(subject.model)).session;
  try {
    const input = batcherFor(subject);
    const candidates = await checkGivenPreprocessing(
      { names: scored.map((p) => p.name), given, chosenBy, samples: subject.samples, correctFirst: measured.correctFirst },
      scorer(session, summary, input, scored),
    );
    return { ...preprocessingChoice(pre, chosenBy, candidates), seconds: seconds(started) };
  } finally {
    if (session !== probed.checkSession) await session.release();
  }
}

function preprocessingChoice(
  pre: Preprocessing,
  chosenBy: PreprocessingReport['chosenBy'],
  candidates: PreprocessingCandidate[],
): { report: Omit<PreprocessingReport, 'layout'>; flags: string[] } {
  return {
    report: { name: pre.name, mean: [...pre.mean], std: [...pre.std], scale: pre.scale, chosenBy, candidates },
    flags: preprocessingFlags({ name: pre.name, chosenBy }, candidates),
  };
}

interface MeasuredOp {
  op: DownsamplingOp;
  outputs?: AliasingOutputs;
  twinPads?: [number, number, number, number];
  error?: string;
}

/**
 * The audit graph's session. The graph's encoding does not outlive the call: ONNX Runtime has
 * its own copy, and the rest of the audit needs only the plan.
 */
async function openAuditSession(decoded: Model, geometries: Map<string, OpGeometry>, options: AuditOptions): Promise<{ plan: { measured: MeasuredOp[] }; session: ModelSession }> {
  const { bytes, measured } = buildAuditModel(decoded, geometries);
  try {
    return { plan: { measured }, session: await ModelSession.open(bytes, { ep: options.ep }) };
  } catch (err) {
    if (err instanceof RuntimeLoadError) throw new ModelError('UNSUPPORTED_MODEL', err.message);
    throw err;
  }
}

/** The audit graph: the model plus, per strided op, its twin and the in-graph measurement. */
function buildAuditModel(decoded: Model, geometries: Map<string, OpGeometry>): { bytes: Uint8Array; measured: MeasuredOp[] } {
  const model = cloneModel(decoded);
  const { ops } = findDownsamplingOps(model);
  const opset = model.opsetImports.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version ?? 1;
  const measured: MeasuredOp[] = ops.map((op, i) => {
    const geometry = geometries.get(op.output);
    if (!geometry) return { op, error: 'shape probe did not give a 4-D input and output' };
    try {
      const twin = addStrideOneTwin(model.graph, op, geometry);
      const outputs = addAliasingMeasurement(model.graph, opset, op.output, twin.output, geometry.outputHW, op.strides, `aa_op${i}`);
      return { op, outputs, twinPads: twin.pads };
    } catch (err) {
      return { op, error: (err as Error).message };
    }
  });
  model.graph.toposort();
  return { bytes: encodeModel(model), measured };
}

/** Adds up the per-map sums [B, C, 4] of the first `count` images (the rest pad a fixed batch). */
function batchSums(result: Record<string, FloatTensor>, o: AliasingOutputs, count: number): AliasingSums {
  const { data, dims } = result[o.sums];
  const maps = count * (dims[1] ?? 1);
  const totals = [0, 0, 0, 0];
  for (let m = 0; m < maps; m++) for (let f = 0; f < 4; f++) totals[f] += data[m * 4 + f];
  const [sumAbsD, sumAbsF2, sumSqD, sumSqF2] = totals;
  return { sumAbsD, sumAbsF2, sumSqD, sumSqF2, maps };
}

function maxOf(data: Float32Array, count: number): number {
  let m = 0;
  for (let i = 0; i < count; i++) m = Number.isNaN(data[i]) ? Number.POSITIVE_INFINITY : Math.max(m, data[i]);
  return m;
}

function countCorrect(logits: FloatTensor, labels: Uint8Array, start: number, count: number): number {
  const classes = logits.data.length / logits.dims[0];
  let correct = 0;
  for (let i = 0; i < count; i++) {
    let best = 0;
    for (let k = 1; k < classes; k++) if (logits.data[i * classes + k] > logits.data[i * classes + best]) best = k;
    if (best === labels[start + i]) correct++;
  }
  return correct;
}

/**
 * The `--max-am-rel` gate. It passes only on a measurement: with no op measured (no strided op,
 * or every twin broken) there is nothing to hold under the limit, so it fails with a reason.
 */
function maxAmRelCheck(ops: DownsamplingReport[], limit: number): NonNullable<NonNullable<AuditReport['thresholds']>['maxAmRel']> {
  let worst: number | null = null;
  let worstNode: string | null = null;
  for (const op of ops) {
    if (op.error) continue; // a broken twin's numbers are not a measurement
    if (op.amRel !== null && (worst === null || op.amRel > worst)) {
      worst = op.amRel;
      worstNode = op.node;
    }
  }
  if (worst === null) {
    const reason = ops.length === 0 ? 'the model has no strided downsampling op to measure' : `none of the ${ops.length} downsampling ops could be measured (see their twin checks)`;
    return { limit, worst, worstNode, passed: false, reason };
  }
  return { limit, worst, worstNode, passed: worst <= limit };
}
