/**
 * Entry of an audit worker process (child_process.fork). It takes one request over IPC, runs
 * it, answers, and exits: ONNX Runtime's inference is synchronous native code, so running it
 * here keeps the server's event loop free, and a crash or hang here ends only this process.
 */
import { readFile } from 'node:fs/promises';
import { AuditProgress, runAudit } from '../../audit/audit.js';
import { loadCifar10Test } from '../../data/cifar10.js';
import { encodeModel } from '../../onnx/codec.js';
import { Graph } from '../../onnx/ir.js';
import { DataType } from '../../onnx/schema.js';
import { ModelSession } from '../../runtime/session.js';
import { ProbeResult, toWireError, WorkerMessage, WorkerRequest } from './protocol.js';

/** Progress goes out at most this often (a phase change always goes out). */
const PROGRESS_INTERVAL_MS = 100;

function send(message: WorkerMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send || !process.connected) return resolve();
    process.send(message, undefined, {}, () => resolve());
  });
}

async function audit(req: Extract<WorkerRequest, { type: 'audit' }>): Promise<void> {
  const bytes = await readFile(req.modelPath);
  // Loaded here with the service's fetch setting rather than by runAudit's default (which may download).
  const dataset = await loadCifar10Test({ dir: req.options.cifar10Dir, fetch: req.fetchData });
  let last = 0;
  let lastPhase = '';
  const onProgress = (p: AuditProgress): void => {
    const t = Date.now();
    if (p.phase === lastPhase && t - last < PROGRESS_INTERVAL_MS && p.fraction < 1) return;
    last = t;
    lastPhase = p.phase;
    void send({ type: 'progress', progress: p });
  };
  const report = await runAudit(bytes, req.options, { dataset, onProgress });
  await send({ type: 'report', report });
}

/** A one-node model (Relu): proves the runtime loads and runs in this environment. */
function tinyModel(): Uint8Array {
  const g = new Graph({ name: 'probe', inputs: [{ name: 'x', elemType: DataType.FLOAT, shape: [1, 4] }] });
  g.addOutput(g.addNode({ opType: 'Relu', inputs: ['x'], outputs: ['y'] }).outputs[0]);
  return encodeModel({ irVersion: 8, opsetImports: [{ domain: '', version: 13 }], graph: g, producerName: 'alias-audit-probe', otherFields: [] });
}

async function probe(req: Extract<WorkerRequest, { type: 'probe' }>): Promise<void> {
  const result: ProbeResult = { runtime: { ok: false, error: { name: 'Error', message: 'not checked' } }, samples: { ok: false, error: { name: 'Error', message: 'not checked' } } };
  try {
    const session = await ModelSession.open(tinyModel(), { ep: 'cpu' });
    const out = await session.run({ x: { data: Float32Array.from([-1, 0, 1, 2]), dims: [1, 4] } }, ['y']);
    if (out.y.data[0] !== 0 || out.y.data[3] !== 2) throw new Error('the runtime computed Relu wrongly');
    result.runtime = { ok: true, provider: session.provider };
    await session.release();
  } catch (err) {
    result.runtime = { ok: false, error: toWireError(err) };
  }
  try {
    // A first start may download and decode the set: its steps go to the service's log.
    const onProgress = (message: string): void => void send({ type: 'progress', progress: { phase: 'loading', fraction: 0, message } });
    const set = await loadCifar10Test({ fetch: req.fetchData, onProgress });
    result.samples = { ok: true, source: set.source, count: set.count };
  } catch (err) {
    result.samples = { ok: false, error: toWireError(err) };
  }
  await send({ type: 'probe', result });
}

// The service is gone (killed, or it closed the channel): stop at once, do not run on as an orphan.
process.on('disconnect', () => process.exit(0));

process.once('message', (req: WorkerRequest) => {
  const work = req.type === 'audit' ? audit(req) : probe(req);
  work
    .catch((err: unknown) => send({ type: 'error', error: toWireError(err) }))
    .finally(() => {
      process.disconnect?.();
      process.exit(0);
    });
});
