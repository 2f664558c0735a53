/**
 * FGSM and PGD in pixel space under an L-infinity or L2 budget (SPEC §4). Batched; samples that
 * are fooled leave the batch (early exit), so later steps cost less.
 */
import { SeededRandom } from './random.js';
import { argmax, ascend, copyImage, GradientClassifier, LinfBall, Norm, PIXELS_PER_IMAGE, projectLinf, projectToBall, randomInBall, storeImage } from './types.js';

export interface AttackResult {
  /** 1 where the attack made the model misclassify the sample. */
  fooled: Uint8Array;
  /** The adversarial images (the fooling one, else the last iterate), [count,3,32,32]. */
  adversarial: Float32Array;
  /** Gradient evaluations (PGD/FGSM) or forward queries (Square), summed over samples. */
  evaluations: number;
}

export interface PgdOptions extends LinfBall {
  steps: number;
  /** Step size; SPEC default eps/4. */
  stepSize: number;
  restarts: number;
  randomStart: boolean;
  seed: number;
}

/** Packs the listed images (and labels) into the front of fresh buffers, in list order. */
function gather(images: Float32Array, labels: Uint8Array, indices: readonly number[]): { pixels: Float32Array; labels: Uint8Array } {
  const pixels = new Float32Array(indices.length * PIXELS_PER_IMAGE);
  const out = new Uint8Array(indices.length);
  indices.forEach((idx, j) => {
    copyImage(images, idx, pixels, j);
    out[j] = labels[idx];
  });
  return { pixels, labels: out };
}

/**
 * Steps every image of x (count images) by `stepSize` along its steepest-ascent direction of g for
 * the norm and projects onto the eps ball around `clean` and [0,1], in place.
 */
function stepAndProject(norm: Norm, x: Float32Array, g: Float32Array, clean: Float32Array, count: number, stepSize: number, eps: number): void {
  if (norm === 'linf') {
    for (let i = 0; i < count * PIXELS_PER_IMAGE; i++) x[i] += stepSize * Math.sign(g[i]);
    projectLinf(x, clean, eps, 0, count * PIXELS_PER_IMAGE);
    return;
  }
  const work = new Float64Array(PIXELS_PER_IMAGE);
  for (let j = 0; j < count; j++) {
    const o = j * PIXELS_PER_IMAGE;
    ascend(norm, x, g, o, stepSize, work);
    projectToBall(norm, work, clean, o, eps);
    storeImage(norm, work, clean, o, x, o);
  }
}

/**
 * Fast Gradient (Sign) Method: one step of size eps along the steepest-ascent direction of the
 * input gradient, the sign for L-infinity, g / ||g||_2 for L2; then into [0,1].
 */
export async function fgsm(model: GradientClassifier, clean: Float32Array, labels: Uint8Array, count: number, ball: LinfBall): Promise<AttackResult> {
  const { gradient } = await model.lossGradient(clean, labels, count);
  const adversarial = clean.slice(0, count * PIXELS_PER_IMAGE);
  stepAndProject(ball.norm ?? 'linf', adversarial, gradient, clean, count, ball.eps, ball.eps);
  const logits = await model.logits(adversarial, count);
  const fooled = new Uint8Array(count);
  for (let i = 0; i < count; i++) fooled[i] = argmax(logits, i, model.classes) !== labels[i] ? 1 : 0;
  return { fooled, adversarial, evaluations: count };
}

/**
 * Projected gradient descent (Madry et al.): random start in the ball, `steps` steepest-ascent
 * steps (L-infinity: signed; L2: along g / ||g||_2), projection after each; `restarts` fresh
 * starts for the samples not yet fooled. The model's fused `signedStep` serves L-infinity only.
 */
export async function pgd(model: GradientClassifier, clean: Float32Array, labels: Uint8Array, count: number, o: PgdOptions): Promise<AttackResult> {
  const rng = new SeededRandom(o.seed);
  const norm = o.norm ?? 'linf';
  const fooled = new Uint8Array(count);
  const adversarial = clean.slice(0, count * PIXELS_PER_IMAGE);
  let evaluations = 0;
  for (let restart = 0; restart < o.restarts; restart++) {
    let active = [...Array(count).keys()].filter((i) => !fooled[i]);
    if (active.length === 0) break;
    const start = gather(clean, labels, active);
    const origin = start.pixels.slice();
    let x = start.pixels;
    let batchLabels = start.labels;
    if (o.randomStart && norm === 'linf') {
      for (let i = 0; i < x.length; i++) x[i] += rng.uniform(-o.eps, o.eps);
      projectLinf(x, origin, o.eps);
    } else if (o.randomStart) {
      const work = new Float64Array(PIXELS_PER_IMAGE);
      for (let j = 0; j < active.length; j++) {
        randomInBall(norm, origin, j * PIXELS_PER_IMAGE, o.eps, rng, work);
        projectToBall(norm, work, origin, j * PIXELS_PER_IMAGE, o.eps);
        storeImage(norm, work, origin, j * PIXELS_PER_IMAGE, x, j * PIXELS_PER_IMAGE);
      }
    }
    let cleanOfBatch = origin;
    for (let step = 0; step <= o.steps; step++) {
      const last = step === o.steps;
      // The last round only checks the final iterate.
      let logits: Float32Array;
      let next: Float32Array | undefined;
      if (last) logits = await model.logits(x, active.length);
      else if (model.signedStep && norm === 'linf') ({ logits, next } = await model.signedStep(x, cleanOfBatch, batchLabels, active.length, o));
      else {
        const r = await model.lossGradient(x, batchLabels, active.length);
        logits = r.logits;
        next = x.slice(); // x itself is still the iterate whose logits these are
        stepAndProject(norm, next, r.gradient, cleanOfBatch, active.length, o.stepSize, o.eps);
      }
      if (!last) evaluations += active.length;
      const keep: number[] = [];
      active.forEach((idx, j) => {
        copyImage(x, j, adversarial, idx);
        if (argmax(logits, j, model.classes) !== batchLabels[j]) fooled[idx] = 1;
        else keep.push(j);
      });
      if (last || keep.length === 0 || !next) break;
      x = next;
      if (keep.length < active.length) {
        // early exit: fooled samples leave the batch
        const nextX = new Float32Array(keep.length * PIXELS_PER_IMAGE);
        const nextClean = new Float32Array(keep.length * PIXELS_PER_IMAGE);
        const nextLabels = new Uint8Array(keep.length);
        keep.forEach((j, k) => {
          copyImage(x, j, nextX, k);
          copyImage(cleanOfBatch, j, nextClean, k);
          nextLabels[k] = batchLabels[j];
        });
        active = keep.map((j) => active[j]);
        x = nextX;
        cleanOfBatch = nextClean;
        batchLabels = nextLabels;
      }
    }
  }
  return { fooled, adversarial, evaluations };
}
