/**
 * Entry of the upload check thread: decodes the uploaded model and finds its image input, so a
 * file that is not a usable model is refused (422) before it is queued. Pure JS (no runtime),
 * but it can take long on a large or hostile file, so it runs off the event loop.
 */
import { readFile } from 'node:fs/promises';
import { parentPort, workerData } from 'node:worker_threads';
import { resolveLayout } from '../../data/preprocess.js';
import { decodeModel } from '../../onnx/codec.js';
import { checkSpatialSize, findDownsamplingOps, summarizeModel } from '../../onnx/inspect.js';
import { toWireError } from './protocol.js';
import type { PrecheckReply, PrecheckRequest } from './precheck.js';

async function check(req: PrecheckRequest): Promise<PrecheckReply> {
  try {
    const model = decodeModel(await readFile(req.modelPath));
    const summary = summarizeModel(model);
    const layout = resolveLayout(req.layout, summary.input.shape);
    checkSpatialSize(summary, layout);
    const { ops, unsupported } = findDownsamplingOps(model);
    return { ok: true, input: summary.input.name, layout, downsamplingOps: ops.length, unsupportedOps: unsupported.length };
  } catch (err) {
    return { ok: false, error: toWireError(err) };
  }
}

void check(workerData as PrecheckRequest).then((reply) => parentPort!.postMessage(reply));
