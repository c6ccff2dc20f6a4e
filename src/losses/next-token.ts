import * as tf from "@tensorflow/tfjs-core";
import { crossEntropy } from "./cross-entropy.js";

/**
 * Language-model targets for windows of ids x [B, T] whose following token is y [B] (how token-window datasets
 * store a window of T+1 tokens): position t predicts x[:, t+1], the last position predicts y. Returns [B·T] int32
 * in the (sample, position) order of an LM head's logits rows; targets equal to `ignoreId` (padding) become −1,
 * which crossEntropy leaves out.
 */
export function nextTokenTargets(x: tf.Tensor, y: tf.Tensor1D, ignoreId: number | null = null): tf.Tensor1D {
  return tf.tidy(() => {
    const [B, T] = x.shape as [number, number];
    const ids = tf.concat([tf.slice(tf.cast(x, "int32"), [0, 1], [B, T - 1]), tf.reshape(tf.cast(y, "int32"), [B, 1])], 1); // [B, T]
    const flat = tf.reshape(ids, [B * T]) as tf.Tensor1D;
    return ignoreId === null ? flat : (tf.where(tf.equal(flat, ignoreId), tf.fill([B * T], -1, "int32"), flat) as tf.Tensor1D);
  });
}

// CE over every position: −(1/|P|)·Σ_{(b,t)∈P} log softmax(s_{b,t})[x_{b,t+1}], P = positions whose target is not padding
/** Next-token cross-entropy of per-token logits [B·T, V] for windows x [B, T] followed by y [B]. */
export function nextTokenCrossEntropy(logits: tf.Tensor2D, x: tf.Tensor, y: tf.Tensor1D, ignoreId: number | null = null): tf.Scalar {
  if (logits.shape[0] !== x.shape[0] * x.shape[1]!) {
    throw new Error(`nextTokenCrossEntropy: ${logits.shape[0]} logits rows for ${x.shape[0]}×${x.shape[1]} tokens; expected one row per token (an LM head)`);
  }
  return tf.tidy(() => crossEntropy(logits, nextTokenTargets(x, y, ignoreId)));
}
