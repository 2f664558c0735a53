/**
 * The shape probe: static shapes of every value of a model from one run. Gradient rules need
 * them where ONNX wants static facts (which axes an Add broadcast, a Conv's input size for its
 * ConvTranspose, a Concat's offsets). Each value is exposed as `Cast(Shape(v), float)`, so the
 * probe returns a few numbers per value whatever its type, and ModelSession (float outputs
 * only) can run it.
 */
import { editableModel, encodeModel, ModelError } from '../../onnx/codec.js';
import { attr, Dim, Graph, Model, ValueInfo } from '../../onnx/ir.js';
import { DataType } from '../../onnx/schema.js';
import { FloatTensor, ModelSession } from '../../runtime/session.js';
import type { ShapeTable } from './registry.js';

/** Batch size of the probe when the model's is dynamic: 2, so broadcasting from 1 shows. */
export const PROBE_BATCH = 2;

export interface ShapeProbe {
  /** The model with every value's shape exposed as an extra float output. */
  bytes: Uint8Array;
  /** The model's image input: its name and declared dims. */
  input: { name: string; dims: readonly Dim[] };
  /** The batch size the model fixes, or null when dynamic. */
  fixedBatch: number | null;
  /** Probe output name -> value name. */
  exposed: ReadonlyMap<string, string>;
}

/** The single input of `g` that is not an initializer (the image). Throws ModelError otherwise. */
export function imageInput(g: Graph): ValueInfo {
  const real = g.inputs.filter((i) => !g.initializers.has(i.name));
  if (real.length !== 1) {
    throw new ModelError('UNSUPPORTED_MODEL', `the model needs exactly one input besides its weights (it has ${real.map((i) => i.name).join(', ') || 'none'})`);
  }
  return real[0];
}

/** Builds the probe model: the original graph plus `Cast(Shape(v))` outputs for its input and every node output. */
export function shapeProbeModel(source: Uint8Array | Model): ShapeProbe {
  const model = editableModel(source);
  const g = model.graph;
  const input = imageInput(g);
  const values = [input.name];
  for (const n of g.nodes) for (const o of n.outputs) if (o) values.push(o);
  const exposed = new Map<string, string>();
  for (const v of [...new Set(values)]) {
    const shape = g.op('Shape', [v], [], 'probe_shape');
    const out = g.addNode({ opType: 'Cast', inputs: [shape], attributes: [attr.int('to', DataType.FLOAT)], name: 'probe_cast', outputs: ['probe_shape_of'] }).outputs[0];
    g.addOutput(out);
    exposed.set(out, v);
  }
  const dims = input.shape ?? [];
  const batch = dims[0];
  return {
    bytes: encodeModel(model),
    input: { name: input.name, dims },
    fixedBatch: typeof batch === 'number' && batch > 0 ? batch : null,
    exposed,
  };
}

/** Turns one run of the probe model into value name -> dims. */
export function shapeTableFromRun(probe: ShapeProbe, result: Readonly<Record<string, FloatTensor>>): ShapeTable {
  const table = new Map<string, readonly number[]>();
  for (const [out, value] of probe.exposed) {
    const t = result[out];
    if (t) table.set(value, Array.from(t.data, (d) => Math.round(d)));
  }
  return table;
}

export interface ProbeOptions {
  /** Batch size for a dynamic batch (default PROBE_BATCH); a fixed batch is always used as is. */
  batch?: number;
  /** Size for other symbolic dims of the input (default 32, CIFAR-10's height and width). */
  symbolicSize?: number;
  /** Threads for ONNX Runtime (default: its choice). */
  intraOpThreads?: number;
}

/**
 * Runs the model once on a constant input (CPU) and returns the shape of every value. A model
 * with a dynamic batch that cannot run at batch 2 (e.g. a Reshape to [1, -1]) is probed at
 * batch 1; its gradient graph then only runs at batch 1 too.
 *
 * @throws ModelError when the model has not exactly one input or does not run.
 */
export async function probeShapes(source: Uint8Array | Model, options: ProbeOptions = {}): Promise<ShapeTable> {
  const probe = shapeProbeModel(source);
  const session = await ModelSession.open(probe.bytes, { ep: 'cpu', intraOpThreads: options.intraOpThreads });
  try {
    const batches = probe.fixedBatch ? [probe.fixedBatch] : [options.batch ?? PROBE_BATCH, 1];
    let lastError: unknown;
    for (const batch of batches) {
      const dims = probe.input.dims.map((d, i) => (i === 0 ? batch : typeof d === 'number' && d > 0 ? d : (options.symbolicSize ?? 32)));
      const data = new Float32Array(dims.reduce((a, b) => a * b, 1)).fill(0.5);
      try {
        const result = await session.run({ [probe.input.name]: { data, dims } }, [...probe.exposed.keys()]);
        return shapeTableFromRun(probe, result);
      } catch (err) {
        lastError = err;
      }
    }
    throw new ModelError('UNSUPPORTED_MODEL', `the shape probe failed: ${(lastError as Error).message}`);
  } finally {
    await session.release();
  }
}
