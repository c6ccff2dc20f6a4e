import type { Rng } from "../util/rng.js";
import type { Batch } from "./dataset.js";

/** Changes a batch's inputs on the fly (training only); labels and indices stay as they are. */
export type Augment = (batch: Batch, sampleShape: number[], rng: Rng) => Batch;

/**
 * Shifts each image by a random whole number of pixels in [−maxShift, maxShift] along each axis, filling
 * with zeros (Hinton et al. jittered MNIST inputs by up to 2 pixels).
 */
export function randomShift(maxShift: number): Augment {
  return (batch, shape, rng) => {
    if (shape.length !== 3) throw new Error(`random shift needs image samples [height, width, channels], got [${shape}]`);
    const [h, w, c] = shape;
    const d = h * w * c;
    const out = new Float32Array(batch.x.length);
    for (let i = 0; i < batch.size; i++) {
      const dy = rng.int(2 * maxShift + 1) - maxShift;
      const dx = rng.int(2 * maxShift + 1) - maxShift;
      const src = i * d;
      for (let y = 0; y < h; y++) {
        const sy = y - dy;
        if (sy < 0 || sy >= h) continue;
        const x0 = Math.max(0, dx);
        const x1 = Math.min(w, w + dx);
        if (x1 <= x0) continue;
        out.set(batch.x.subarray(src + (sy * w + (x0 - dx)) * c, src + (sy * w + (x1 - dx)) * c), src + (y * w + x0) * c);
      }
    }
    return { ...batch, x: out };
  };
}

/**
 * Mixup on the fly, for function matching (Zhang et al. 2018; Beyer et al. 2022 distil on it; transfer.ts's mixup()
 * makes a fixed set of blends instead, labelled once): each sample of every batch becomes
 * x'_i = λ_i·x_i + (1 − λ_i)·x_{π(i)}, π a seeded permutation of the batch and λ_i uniform in [0.5, 1], so the sample's
 * own label stays the dominant one (the hard-label term keeps y_i; the teacher labels x'_i itself). Works on any
 * feature vector (images, tables, hashed n-grams); labels, targets and indices stay as they are.
 */
export function mixupBatches(): Augment {
  return (batch, shape, rng) => {
    const d = shape.reduce((a, b) => a * b, 1);
    if (batch.x.length !== batch.size * d) throw new Error(`mixup: ${batch.x.length} input values do not make ${batch.size} samples of shape [${shape}]`);
    const partner = rng.permutation(batch.size);
    const out = new Float32Array(batch.x.length);
    for (let i = 0; i < batch.size; i++) {
      const lambda = 0.5 + 0.5 * rng.next();
      const a = i * d;
      const b = partner[i] * d;
      for (let k = 0; k < d; k++) out[a + k] = lambda * batch.x[a + k] + (1 - lambda) * batch.x[b + k];
    }
    return { ...batch, x: out };
  };
}
