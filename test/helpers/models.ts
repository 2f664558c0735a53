/**
 * The models committed in models/ (ours, in every clone), for tests that need a real CIFAR-10
 * classifier. All of them normalise inside the graph: they take [0,1] pixels (`preprocess none`).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const modelsDir = new URL('../../models/', import.meta.url);

/** PreAct-ResNet, ordinary training: 84% clean, 0% under PGD at 8/255. Dynamic batch. */
export const STANDARD = 'preact_resnet_standard.onnx';
/** The same network, FGSM adversarial training: 57% clean, 31% under PGD at 8/255. */
export const FGSM = 'preact_resnet_fgsm.onnx';
/**
 * Two epochs of a training run that overfits catastrophically at epoch 12: stage-1 `am` is
 * about 0.38 at epoch 11 and about 0.9 at epoch 13 (models/overfitting/run3-eps16-seed0-collapse/series.json).
 */
export const BEFORE_COLLAPSE = 'overfitting/run3-eps16-seed0-collapse/ckpt_11.onnx';
export const AFTER_COLLAPSE = 'overfitting/run3-eps16-seed0-collapse/ckpt_13.onnx';

/** A committed model's path, `name` relative to models/. */
export function bundledModelPath(name: string): string {
  return fileURLToPath(new URL(name, modelsDir));
}

/** A committed model's bytes (in a buffer of its own, as fetch and Blob want them). */
export function bundledModel(name: string): Uint8Array<ArrayBuffer> {
  return readFileSync(bundledModelPath(name));
}
