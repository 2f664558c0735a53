/**
 * Entry of the provider probe process (see providerProbe.ts). It tries each execution provider
 * named on its command line on a one-node model, in order, and after each attempt writes one
 * record line to stderr: right behind that attempt's native output, so the parent can tell which
 * native lines belong to which provider.
 */
import { writeSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { encodeModel } from '../onnx/codec.js';
import { Graph } from '../onnx/ir.js';
import { DataType } from '../onnx/schema.js';
import { PROBE_RECORD_PREFIX, ProbeRecord } from './providerProbe.js';

ort.env.logLevel = 'fatal';

/** Written with a synchronous write on fd 2, the same stream native code writes to, in order. */
function record(r: ProbeRecord): void {
  writeSync(2, `\n${PROBE_RECORD_PREFIX}${JSON.stringify(r)}\n`);
}

/** y = Relu(x) on four values: any provider that starts at all runs it. */
function reluModel(): Uint8Array {
  const g = new Graph({ name: 'provider-probe', inputs: [{ name: 'x', elemType: DataType.FLOAT, shape: [1, 4] }] });
  g.addOutput(g.addNode({ opType: 'Relu', inputs: ['x'], outputs: ['y'] }).outputs[0]);
  return encodeModel({ irVersion: 8, opsetImports: [{ domain: '', version: 13 }], graph: g, producerName: 'alias-audit-provider-probe', otherFields: [] });
}

async function tryProvider(provider: string, model: Uint8Array): Promise<void> {
  const session = await ort.InferenceSession.create(model, { executionProviders: [provider], logSeverityLevel: 4 });
  try {
    const out = await session.run({ x: new ort.Tensor('float32', Float32Array.from([-1, 0, 1, 2]), [1, 4]) });
    const y = out.y.data as Float32Array;
    if (y[0] !== 0 || y[3] !== 2) throw new Error(`${provider} computed Relu wrongly`);
  } finally {
    await session.release();
  }
}

record({ ready: true });
const model = reluModel();
for (const provider of process.argv.slice(2)) {
  try {
    await tryProvider(provider, model);
    record({ provider, ok: true });
  } catch (err) {
    record({ provider, ok: false, error: err instanceof Error ? err.message : String(err) });
  }
}
