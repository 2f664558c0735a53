/** The audit's model inputs: CIFAR-10 images, preprocessed, one batch at a time. */
import type { Cifar10Set } from '../data/cifar10.js';
import { fillModelInput, type Layout, type Preprocessing } from '../data/preprocess.js';
import type { FloatTensor } from '../runtime/session.js';

/**
 * Reuses one input buffer per batch. A model that takes any batch size gets exactly the images
 * asked for; a fixed-batch model gets its batch, a short one padded with zeros. Padding a
 * dynamic model's batch ran the shape probe's one image as a whole batch and a short last batch
 * as a full one (64 WideResNet images for the probe, 256 for an audit of 200).
 */
export class InputBatcher {
  private readonly buffer: Float32Array;
  private readonly imageDims: number[];

  constructor(private readonly dataset: Cifar10Set, readonly batch: number, layout: Layout, readonly fixedBatch: boolean) {
    this.buffer = new Float32Array(batch * 3072);
    this.imageDims = layout === 'NCHW' ? [3, 32, 32] : [32, 32, 3];
  }

  get labels(): Uint8Array {
    return this.dataset.labels;
  }

  fill(start: number, count: number, pre: Preprocessing): FloatTensor {
    fillModelInput(this.dataset, start, count, pre, this.layout(), this.buffer.subarray(0, count * 3072));
    if (!this.fixedBatch) return { data: this.buffer.subarray(0, count * 3072), dims: [count, ...this.imageDims] };
    if (count < this.batch) this.buffer.fill(0, count * 3072);
    return { data: this.buffer, dims: [this.batch, ...this.imageDims] };
  }

  private layout(): Layout {
    return this.imageDims[0] === 3 ? 'NCHW' : 'NHWC';
  }
}
