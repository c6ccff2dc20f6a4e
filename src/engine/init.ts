import * as tf from "@tensorflow/tfjs-core";
import type { Rng } from "../util/rng.js";

/** Glorot/Xavier uniform: U(−l, l) with l = sqrt(6 / (fanIn + fanOut)), Keras's default kernel initialiser. */
export function glorotUniform(shape: number[], fanIn: number, fanOut: number, rng: Rng): tf.Tensor {
  const limit = Math.sqrt(6 / (fanIn + fanOut));
  const size = shape.reduce((a, b) => a * b, 1);
  const values = new Float32Array(size);
  for (let i = 0; i < size; i++) values[i] = (rng.next() * 2 - 1) * limit;
  return tf.tensor(values, shape, "float32");
}

/** Inverted-dropout mask: 1/keep with probability keep, else 0, drawn from the seeded stream. */
export function dropoutMask(shape: number[], rate: number, rng: Rng): tf.Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  const keep = 1 - rate;
  const scale = 1 / keep;
  const threshold = keep * 4294967296; // compare raw 32-bit draws: same as next() < keep, without the division
  const values = new Float32Array(size);
  for (let i = 0; i < size; i++) values[i] = rng.nextUint32() < threshold ? scale : 0;
  return tf.tensor(values, shape, "float32");
}
