/**
 * Stages (SPEC §2): downsampling ops grouped by output spatial size, numbered in graph order.
 */

/** Metrics of one downsampling op, as the stage functions need them. */
export interface OpMetrics {
  /** ONNX node name. */
  node: string;
  /** `[C,H,W]` or `[N,C,H,W]`; the spatial dims are the last two. */
  outputShape: readonly number[];
  am: number;
  amRel: number;
  aliasEnergy: number;
}

/** An op tagged with its stage number (1-based). */
export type Staged<T> = T & { stage: number };

/** Per-stage means of its ops' metrics. */
export interface StageSummary {
  stage: number;
  /** Output spatial size `[H, W]` shared by the stage's ops. */
  resolution: [number, number];
  /** Node names, in graph order. */
  ops: string[];
  am: number;
  amRel: number;
  aliasEnergy: number;
}

/**
 * Numbers downsampling ops by stage: ops with the same output spatial size `(H, W)` share a
 * stage, and stages are numbered from 1 in order of first appearance, so stage 1 is the
 * network's first downsampling.
 *
 * @param ops - downsampling ops in graph order; each is copied with `stage` added.
 */
export function assignStages<T extends { outputShape: readonly number[] }>(ops: readonly T[]): Staged<T>[] {
  const stageOf = new Map<string, number>();
  return ops.map((op) => {
    const key = resolutionOf(op.outputShape).join('x');
    let stage = stageOf.get(key);
    if (stage === undefined) {
      stage = stageOf.size + 1;
      stageOf.set(key, stage);
    }
    return { ...op, stage };
  });
}

/**
 * Summarises each stage as the mean of its ops' `am`, `amRel` and `aliasEnergy` (the paper's
 * per-layer value: e.g. mean of a block's strided conv and strided shortcut).
 *
 * @param ops - ops tagged by {@link assignStages}, in graph order.
 * @returns one summary per stage, ordered by stage number.
 */
export function stageSummaries<T extends OpMetrics & { stage: number }>(ops: readonly T[]): StageSummary[] {
  const byStage = new Map<number, T[]>();
  for (const op of ops) {
    const members = byStage.get(op.stage);
    if (members) members.push(op);
    else byStage.set(op.stage, [op]);
  }
  return [...byStage.entries()]
    .sort(([a], [b]) => a - b)
    .map(([stage, members]) => ({
      stage,
      resolution: resolutionOf(members[0].outputShape),
      ops: members.map((op) => op.node),
      am: mean(members.map((op) => op.am)),
      amRel: mean(members.map((op) => op.amRel)),
      aliasEnergy: mean(members.map((op) => op.aliasEnergy)),
    }));
}

function resolutionOf(shape: readonly number[]): [number, number] {
  if (shape.length < 2) throw new RangeError(`output shape [${shape.join(',')}] has no spatial dims`);
  return [shape[shape.length - 2], shape[shape.length - 1]];
}

function mean(values: readonly number[]): number {
  let total = 0;
  for (const v of values) total += v;
  return total / values.length;
}
