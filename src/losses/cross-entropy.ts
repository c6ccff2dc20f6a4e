import * as tf from "@tensorflow/tfjs-core";

// CE(y, s) = −(1/|L|)·Σ_{i∈L} log softmax(s_i)[y_i], L = the rows with a label (unlabeled transfer samples have y = −1)
export function crossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => {
    const numClasses = logits.shape[1];
    const y = tf.cast(labels, "int32");
    // tf.oneHot(−1) is a zero row: those rows add nothing to the sum, and the mean divides by the labelled rows only.
    const oneHot = tf.oneHot(y, numClasses);
    const labelled = tf.maximum(tf.sum(tf.cast(tf.greaterEqual(y, 0), "float32")), 1);
    return tf.neg(tf.div(tf.sum(tf.mul(oneHot, tf.logSoftmax(logits))), labelled)) as tf.Scalar;
  });
}
