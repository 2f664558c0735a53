/**
 * Entry of an audit worker process (child_process.fork). It takes one request over IPC, runs
 * it, answers, and exits: ONNX Runtime's inference is synchronous native code, so running it
 * here keeps the server's event loop free, and a crash or hang here ends only this process.
 * A warm worker (see warmPool.ts) instead answers 'warmAudit' requests one after another,
 * keeping the samples and the loaded runtime between them.
 */
import { closeSync, readFileSync } from 'node:fs';
import { AuditProgress, runAudit } from '../../audit/audit.js';
import type { AuditOptions } from '../../audit/options.js';
import { Cifar10Set, DataIntegrityError, loadCifar10Test, parseCifar10Records, verifyCifar10Test } from '../../data/cifar10.js';
import { decodeModel, encodeModel } from '../../onnx/codec.js';
import { Graph, type Model } from '../../onnx/ir.js';
import { DataType } from '../../onnx/schema.js';
import { ModelSession } from '../../runtime/session.js';
import { estimateAuditMemory, MemoryEstimateInput } from './memoryEstimate.js';
import { probeAuditMemory } from './memoryProbe.js';
import { ProbeResult, toWireError, WireError, WorkerMessage, WorkerRequest } from './protocol.js';
import { formatMemory, memoryLimitFailure, ranOutOfMemory } from './seal.js';

/** Progress goes out at most this often (a phase change always goes out). */
const PROGRESS_INTERVAL_MS = 100;

function send(message: WorkerMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send || !process.connected) return resolve();
    process.send(message, undefined, {}, () => resolve());
  });
}

type AuditRequest = Extract<WorkerRequest, { type: 'audit' }>;

/**
 * Reads a descriptor the parent passed and closes it at once: workers of other audits run as
 * the same account and could otherwise open it through /proc.
 */
function readOnce(fd: number): Buffer {
  try {
    return readFileSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The samples from the descriptor the parent opened, verified as the loader verifies its cache; else the loader. */
async function loadSamples(req: Pick<AuditRequest, 'options' | 'fetchData' | 'samples'>): Promise<Cifar10Set> {
  if (!req.samples) return loadCifar10Test({ dir: req.options.cifar10Dir, fetch: req.fetchData });
  const set = parseCifar10Records(readOnce(req.samples.fd), req.samples.source);
  try {
    verifyCifar10Test(set);
  } catch (err) {
    throw new DataIntegrityError(`${(err as Error).message}. Delete the cached file to rebuild it.`, { cause: err });
  }
  return set;
}

/** Thrown when the estimate says the audit cannot fit the worker's memory limit. */
class MemoryEstimateError extends Error {
  readonly code = 'MEMORY_LIMIT';
  constructor(message: string) {
    super(message);
    this.name = 'MemoryLimit';
  }
}

/**
 * Refuses the audit when its memory estimate, from a one-image probe run (probeAuditMemory),
 * exceeds the limit. Any other trouble is left to the audit itself, which reports it as it
 * always does.
 */
async function preflight(bytes: Uint8Array, decoded: Model, options: AuditOptions, samples: number, limitBytes: number): Promise<void> {
  let input: MemoryEstimateInput;
  try {
    input = await probeAuditMemory(bytes.length, decoded, options, samples);
  } catch (err) {
    if (ranOutOfMemory((err as Error).message)) throw err;
    return;
  }
  const estimate = estimateAuditMemory(input);
  if (estimate.bytes <= limitBytes) return;
  // 1.9 GiB against a limit of 1.9 GiB would not say which is larger
  const [need, limit] = formatMemory(estimate.bytes) === formatMemory(limitBytes) ? [`${Math.ceil(estimate.bytes / 2 ** 20)} MiB`, `${Math.floor(limitBytes / 2 ** 20)} MiB`] : [formatMemory(estimate.bytes), formatMemory(limitBytes)];
  const twin = estimate.largestTwin ? `, the largest stride-1 twin (of "${estimate.largestTwin.node}") ${formatMemory(estimate.largestTwin.bytes)}` : '';
  throw new MemoryEstimateError(
    `the audit would need about ${need} (batch ${estimate.batch}: activations ${formatMemory(estimate.activationBytes)}${twin}), more than a worker may use (${limit}); ` +
      'use a smaller batch, or a server with a larger --worker-memory',
  );
}

async function audit(req: AuditRequest): Promise<void> {
  // Loaded here with the service's fetch setting rather than by runAudit's default (which may download).
  await auditBytes(readOnce(req.modelFd), req, await loadSamples(req));
}

type WarmRequest = Extract<WorkerRequest, { type: 'warmAudit' }>;

/** A warm worker's samples, kept from its first audit: the set and where it came from. */
let kept: { key: string; set: Promise<Cifar10Set> } | undefined;

/** The samples of a warm audit: the kept set when it comes from the same source; else loaded (and kept). */
function warmSamples(req: WarmRequest): Promise<Cifar10Set> {
  const key = req.samples ? req.samples.source : `loader:${req.options.cifar10Dir ?? ''}:${req.fetchData}`;
  if (kept?.key !== key) {
    const set = loadSamples(req);
    kept = { key, set };
    // A set that failed to load is not kept (the parent replaces the worker anyway).
    set.catch(() => {
      if (kept?.set === set) kept = undefined;
    });
  }
  return kept.set;
}

async function warmAudit(req: WarmRequest): Promise<void> {
  await auditBytes(req.model, req, await warmSamples(req));
}

async function auditBytes(bytes: Uint8Array, req: Pick<AuditRequest, 'options' | 'memory'>, dataset: Cifar10Set): Promise<void> {
  // Decoded once for the preflight and the audit; a model that does not decode is the audit's to report.
  let model: Model | undefined;
  try {
    model = decodeModel(bytes);
  } catch {
    model = undefined;
  }
  if (model && req.memory.limitBytes > 0 && req.memory.preflight) await preflight(bytes, model, req.options, Math.min(req.options.samples, dataset.count), req.memory.limitBytes);
  let last = 0;
  let lastPhase = '';
  const onProgress = (p: AuditProgress): void => {
    const t = Date.now();
    if (p.phase === lastPhase && t - last < PROGRESS_INTERVAL_MS && p.fraction < 1) return;
    last = t;
    lastPhase = p.phase;
    void send({ type: 'progress', progress: p });
  };
  const report = await runAudit(bytes, req.options, { dataset, onProgress, model });
  // In JSON's form whatever the channel's serialisation: a report is the same from either worker.
  await send({ type: 'report', report: JSON.parse(JSON.stringify(report)) as typeof report });
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

/** An error's wire form; a failed allocation under the limit, however a layer wrapped it, is the limit's problem. */
function failureOf(req: WorkerRequest, err: unknown): WireError {
  const limit = req.type === 'probe' ? 0 : req.memory.limitBytes;
  if (limit > 0 && !(err instanceof MemoryEstimateError) && err instanceof Error && ranOutOfMemory(err.message)) return memoryLimitFailure(limit);
  return toWireError(err);
}

let started = false;
process.on('message', (req: WorkerRequest) => {
  if (req.type === 'warmAudit') {
    // The parent sends the next audit only after this one's answer, and never after another kind of request.
    started = true;
    void warmAudit(req).catch((err: unknown) => send({ type: 'error', error: failureOf(req, err) }));
    return;
  }
  if (started) return;
  started = true;
  const work = req.type === 'audit' ? audit(req) : probe(req);
  work
    .catch((err: unknown) => send({ type: 'error', error: failureOf(req, err) }))
    .finally(() => {
      process.disconnect?.();
      process.exit(0);
    });
});
