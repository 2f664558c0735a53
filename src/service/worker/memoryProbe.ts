/**
 * What the worker's memory estimate needs to know of a model, from one run on one blank image
 * with every value exposed: the size of each value the model computes, and each strided op's
 * shapes. The values' sizes go through the graph's order into the peak of what is alive at once.
 */
import type { AuditOptions } from '../../audit/options.js';
import { resolveLayout } from '../../data/preprocess.js';
import { encodeModel } from '../../onnx/codec.js';
import { cloneModel, outerReferences, type Model } from '../../onnx/ir.js';
import { checkSpatialSize, findDownsamplingOps, summarizeModel } from '../../onnx/inspect.js';
import { exposeForShapeProbe } from '../../onnx/surgery.js';
import { ModelSession } from '../../runtime/session.js';
import { MemoryEstimateInput, peakLiveBytes, ProbedOp, ValueFlow } from './memoryEstimate.js';

/** The estimate's inputs for an audit of `decoded` (`modelBytes` long) with these options over `samples` images. */
export async function probeAuditMemory(modelBytes: number, decoded: Model, options: AuditOptions, samples: number): Promise<MemoryEstimateInput> {
  const model = cloneModel(decoded);
  const summary = summarizeModel(model);
  const layout = resolveLayout(options.layout, summary.input.shape);
  checkSpatialSize(summary, layout);
  const { ops } = findDownsamplingOps(model);
  const batch = summary.input.fixedBatch ?? Math.min(options.batch, samples);
  const g = model.graph;
  // Read before the probe adds outputs: what the model itself keeps to the end.
  const kept = new Set(g.outputs.map((o) => o.name));
  const flow: ValueFlow[] = g.nodes.map((n) => ({ reads: [...n.inputs, ...outerReferences(n)].filter((name) => name !== ''), writes: n.outputs.filter((name) => name !== '') }));
  exposeForShapeProbe(model, ops);
  // Every value a node computes, untyped (ORT infers the type); weights are not activations.
  const values = g.nodes.filter((n) => n.opType !== 'Constant').flatMap((n) => n.outputs).filter((name) => name !== '');
  const exposed = new Set(g.outputs.map((o) => o.name));
  for (const name of values) {
    if (exposed.has(name)) continue;
    exposed.add(name);
    g.outputs.push({ name });
  }
  const session = await ModelSession.open(encodeModel(model), { ep: 'cpu' });
  try {
    const n = summary.input.fixedBatch ?? 1;
    const dims = layout === 'NCHW' ? [n, 3, 32, 32] : [n, 32, 32, 3];
    const sizes = await session.sizes({ [summary.input.name]: { data: new Float32Array(n * 3072), dims } }, g.outputs.map((o) => o.name));
    const perImage = new Map(Object.entries(sizes).map(([name, { bytes }]) => [name, bytes / n]));
    const probed: ProbedOp[] = [];
    for (const op of ops) {
      const inDims = sizes[op.input].dims;
      const outDims = sizes[op.output].dims;
      if (inDims.length !== 4 || outDims.length !== 4) continue;
      probed.push({ node: op.node.name || op.output, inputShape: inDims.slice(1), outputShape: outDims.slice(1), strides: op.strides, kernel: op.kernel });
    }
    return { modelBytes, batch, activationBytesPerImage: peakLiveBytes(flow, perImage, kept), ops: probed };
  } finally {
    await session.release();
  }
}
