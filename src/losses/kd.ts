import * as tf from "@tensorflow/tfjs-core";
import { crossEntropy } from "./cross-entropy.js";

// KL(p_t^T ‖ p_s^T) = (1/B)·Σ_i Σ_c p_t[i,c]·(log p_t[i,c] − log p_s[i,c]),  p^T = softmax(z/T)
export function softKl(studentLogits: tf.Tensor2D, teacherLogits: tf.Tensor2D, temperature: number): tf.Scalar {
  return tf.tidy(() => {
    const logPt = tf.logSoftmax(tf.div(teacherLogits, temperature));
    const logPs = tf.logSoftmax(tf.div(studentLogits, temperature));
    return tf.mean(tf.sum(tf.mul(tf.exp(logPt), tf.sub(logPt, logPs)), 1)) as tf.Scalar;
  });
}

export interface KdOptions {
  /** Softmax temperature T (> 0). */
  temperature: number;
  /** Weight of the hard-label cross-entropy; the soft term gets 1 − α. */
  alpha: number;
}

/**
 * Hinton, Vinyals & Dean (2015):
 * L = α·CE(y, s) + (1−α)·T²·KL(softmax(t/T) ‖ softmax(s/T)), batch-mean.
 * Here α weights the hard labels (α = 0 is pure distillation). T² keeps the soft term's gradient,
 * (1/T)(p_s − p_t), on the same scale as the hard term's as T changes.
 */
export function kdLoss(studentLogits: tf.Tensor2D, teacherLogits: tf.Tensor2D, labels: tf.Tensor1D | null, opts: KdOptions): tf.Scalar {
  const { temperature: T, alpha } = opts;
  if (!(T > 0)) throw new Error(`KD temperature must be > 0, got ${T}`);
  if (!(alpha >= 0 && alpha <= 1)) throw new Error(`KD alpha must be in [0, 1], got ${alpha}`);
  return tf.tidy(() => {
    const soft = tf.mul(softKl(studentLogits, teacherLogits, T), (1 - alpha) * T * T);
    if (alpha === 0) return soft as tf.Scalar;
    if (!labels) throw new Error("KD with alpha > 0 needs hard labels");
    return tf.add(tf.mul(crossEntropy(studentLogits, labels), alpha), soft) as tf.Scalar;
  });
}
