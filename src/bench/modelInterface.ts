/** How the benches read a model file: its input, first output and layout, on the CPU provider. */
import { ModelInterface } from '../attacks/onnxClassifiers.js';
import { resolveLayout, resolvePreprocessing } from '../data/preprocess.js';
import { decodeModel } from '../onnx/codec.js';
import { summarizeModel } from '../onnx/inspect.js';

export function benchModelInterface(bytes: Uint8Array, preset: string): ModelInterface {
  const summary = summarizeModel(decodeModel(bytes));
  return {
    inputName: summary.input.name,
    logitsName: summary.outputs[0],
    layout: resolveLayout('auto', summary.input.shape),
    preprocessing: resolvePreprocessing({ preset }),
    fixedBatch: summary.input.fixedBatch,
    ep: 'cpu',
  };
}
