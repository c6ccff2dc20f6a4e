// The context layer of an embedding student: each token's row sees its two neighbours, and the sentence vector is
// a learned weighted mean instead of the plain mean. Per token t (rows r, zeros outside the text):
//   h_t = relu([r_{t−1}, r_t, r_{t+1}]·W1 + b1)      z_t = r_t + h_t·W2      a_t = h_t·q
//   pooled = Σ_t softmax(a)_t · z_t
// W2 and q start at zero, so a new layer leaves the table's mean untouched: it starts where the static table is.
// The runtime (runtime/embed-runtime.mjs) and the ONNX export compute the same thing.
import * as tf from "@tensorflow/tfjs-core";
import { constParam, normalParam, type NamedParam } from "../students/transformer-params.js";
import type { Rng } from "../util/rng.js";

export const CONTEXT_TENSORS = ["context/kernel1", "context/bias1", "context/kernel2", "context/query"] as const;

export interface ContextParams {
  kernel1: NamedParam;
  bias1: NamedParam;
  kernel2: NamedParam;
  query: NamedParam;
}

/** Shapes of the layer's tensors for table width W and hidden width H, in CONTEXT_TENSORS order. */
export const contextShapes = (W: number, H: number): number[][] => [[3 * W, H], [H], [H, W], [H]];

/** W1 ~ N(0, 1/√(3W)), the rest zero: the layer starts as the identity (plain mean of the rows). */
export function createContext(width: number, hidden: number, rng: Rng): ContextParams {
  return {
    kernel1: normalParam(CONTEXT_TENSORS[0], [3 * width, hidden], 1 / Math.sqrt(3 * width), rng),
    bias1: constParam(CONTEXT_TENSORS[1], [hidden], 0),
    kernel2: constParam(CONTEXT_TENSORS[2], [hidden, width], 0),
    query: constParam(CONTEXT_TENSORS[3], [hidden], 0),
  };
}

export const contextList = (c: ContextParams): NamedParam[] => [c.kernel1, c.bias1, c.kernel2, c.query];

/** rows [B, T, W] (zero at padding), keep [B, T, 1] (1 = real token) → pooled [B, W]. */
export function contextPool(c: ContextParams, rows: tf.Tensor3D, keep: tf.Tensor3D): tf.Tensor2D {
  const [B, T, W] = rows.shape;
  const H = c.bias1.tensor.shape[0];
  const padded = tf.pad(rows, [[0, 0], [1, 1], [0, 0]]);
  const window = tf.concat([tf.slice(padded, [0, 0, 0], [B, T, W]), rows, tf.slice(padded, [0, 2, 0], [B, T, W])], 2);
  const h = tf.relu(tf.add(tf.matMul(tf.reshape(window, [B * T, 3 * W]) as tf.Tensor2D, c.kernel1.tensor as tf.Tensor2D), c.bias1.tensor)) as tf.Tensor2D;
  const z = tf.add(rows, tf.reshape(tf.matMul(h, c.kernel2.tensor as tf.Tensor2D), [B, T, W]));
  const scores = tf.reshape(tf.matMul(h, tf.reshape(c.query.tensor, [H, 1]) as tf.Tensor2D), [B, T]);
  // Padding gets −1e9 before the softmax over tokens; a text without tokens (all padding) pools to zero.
  const keep2 = tf.reshape(keep, [B, T]);
  const weights = tf.reshape(tf.mul(tf.softmax(tf.add(scores, tf.mul(tf.sub(keep2, 1), 1e9))), keep2), [B, T, 1]);
  return tf.sum(tf.mul(z, weights), 1) as tf.Tensor2D;
}
