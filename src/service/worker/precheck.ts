/** Checks an uploaded model in a worker thread before any audit work is queued. */
import { Worker } from 'node:worker_threads';
import { InvalidOptionError } from '../../data/preprocess.js';
import { ModelError, ModelErrorCode } from '../../onnx/codec.js';
import { ServiceError } from '../errors.js';
import { threadEntry } from './entry.js';
import type { WireError } from './protocol.js';

export interface PrecheckRequest {
  modelPath: string;
  layout: string;
}

export type PrecheckReply =
  | { ok: true; input: string; layout: 'NCHW' | 'NHWC'; downsamplingOps: number; unsupportedOps: number }
  | { ok: false; error: WireError };

const PRECHECK_TIMEOUT_MS = 60_000;
/** Heap of the check thread: the model's bytes live outside it; the IR of a huge graph inside. */
const PRECHECK_HEAP_MB = 1024;

/**
 * Decodes the model in a thread. Resolves with what it found; throws ModelError (422) or
 * InvalidOptionError (400) for what the audit would refuse anyway.
 */
export function precheckModel(req: PrecheckRequest): Promise<Extract<PrecheckReply, { ok: true }>> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(threadEntry('precheckThread'), { workerData: req, resourceLimits: { maxOldGenerationSizeMb: PRECHECK_HEAP_MB } });
    let done = false;
    const finish = (fn: () => void): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      void worker.terminate();
      fn();
    };
    const timer = setTimeout(
      () => finish(() => reject(new ModelError('UNSUPPORTED_MODEL', `checking the model took longer than ${PRECHECK_TIMEOUT_MS / 1000} s`))),
      PRECHECK_TIMEOUT_MS,
    );
    worker.on('message', (reply: PrecheckReply) =>
      finish(() => {
        if (reply.ok) return resolve(reply);
        const e = reply.error;
        if (e.name === 'ModelError') reject(new ModelError((e.code ?? 'UNSUPPORTED_MODEL') as ModelErrorCode, e.message));
        else if (e.name === 'InvalidOptionError') reject(new InvalidOptionError(e.message));
        else if (e.name === 'RangeError' || e.name === 'TypeError') reject(new ModelError('NOT_ONNX', `the model could not be decoded: ${e.message}`));
        else reject(new ServiceError('INTERNAL', `checking the model failed: ${e.message}`));
      }),
    );
    worker.on('error', (err) =>
      finish(() => {
        // ERR_WORKER_OUT_OF_MEMORY: a graph too large to inspect within the heap limit.
        const oom = (err as NodeJS.ErrnoException).code === 'ERR_WORKER_OUT_OF_MEMORY';
        reject(oom ? new ModelError('UNSUPPORTED_MODEL', 'the model is too large to inspect') : new ServiceError('INTERNAL', `checking the model failed: ${err.message}`));
      }),
    );
    worker.on('exit', () => finish(() => reject(new ServiceError('INTERNAL', 'the model check thread stopped without an answer'))));
  });
}
