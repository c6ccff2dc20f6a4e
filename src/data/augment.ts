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
