import * as tf from "@tensorflow/tfjs-core";

// Regression losses on the standardised target scale (the data's (y − mean) / std); the student has one output.

/**
 * MSE(y, s) = (1/|L|)·Σ_{i∈L} (s_i − y_i)², L = the labelled rows (label ≥ 0; unlabeled transfer samples have −1 and a
 * target of 0 that must not count).
 */
export function regressionMse(outputs: tf.Tensor2D, targets: tf.Tensor1D, labels: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => {
    const s = tf.reshape(outputs, [-1]);
    const mask = tf.cast(tf.greaterEqual(labels, 0), "float32");
    const labelled = tf.maximum(tf.sum(mask), 1);
    return tf.div(tf.sum(tf.mul(tf.square(tf.sub(s, targets)), mask)), labelled) as tf.Scalar;
  });
}

/**
 * Distillation for regression: (1 − α)·MSE(t, s) + α·MSE(y, s), the teacher's prediction t on every row, the hard
 * target y on the labelled rows only.
 */
export function regressionDistillLoss(outputs: tf.Tensor2D, teacher: tf.Tensor2D, targets: tf.Tensor1D, labels: tf.Tensor1D, alpha: number): tf.Scalar {
  return tf.tidy(() => {
    const soft = tf.mean(tf.square(tf.sub(tf.reshape(outputs, [-1]), tf.reshape(teacher, [-1])))) as tf.Scalar;
    if (alpha === 0) return soft;
    return tf.add(tf.mul(soft, 1 - alpha), tf.mul(regressionMse(outputs, targets, labels), alpha)) as tf.Scalar;
  });
}
