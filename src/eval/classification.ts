import * as tf from "@tensorflow/tfjs-core";
import type { InMemoryDataset } from "../data/dataset.js";

/** Anything that maps a batch of inputs to logits: an engine model, a tf.layers model, a teacher. */
export type Predictor = (x: tf.Tensor) => tf.Tensor2D;

/** Logits for every sample, row-major [n, numOutputs]. */
export function predictLogits(predict: Predictor, data: InMemoryDataset, batchSize = 1000): Float32Array {
  let out: Float32Array | null = null;
  let cols = 0;
  for (const batch of data.batchesSync({ batchSize })) {
    const values = tf.tidy(() => {
      const logits = predict(tf.tensor(batch.x, [batch.size, ...data.sampleShape]));
      cols = logits.shape[1];
      return logits.dataSync() as Float32Array;
    });
    out ??= new Float32Array(data.size * cols);
    for (let i = 0; i < batch.size; i++) out.set(values.subarray(i * cols, (i + 1) * cols), batch.indices[i] * cols);
  }
  return out ?? new Float32Array(0);
}

export function argmaxRows(logits: Float32Array, cols: number): Int32Array {
  const n = logits.length / cols;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < cols; c++) if (logits[i * cols + c] > logits[i * cols + best]) best = c;
    out[i] = best;
  }
  return out;
}

export interface ClassificationMetrics {
  n: number;
  accuracy: number;
  errors: number;
  /** Mean cross-entropy of the labels under softmax(logits). */
  loss: number;
}

export function classificationMetrics(logits: Float32Array, labels: Int32Array, cols: number): ClassificationMetrics {
  const n = labels.length;
  const pred = argmaxRows(logits, cols);
  let errors = 0;
  let loss = 0;
  for (let i = 0; i < n; i++) {
    if (pred[i] !== labels[i]) errors++;
    let max = -Infinity;
    for (let c = 0; c < cols; c++) max = Math.max(max, logits[i * cols + c]);
    let sum = 0;
    for (let c = 0; c < cols; c++) sum += Math.exp(logits[i * cols + c] - max);
    loss += Math.log(sum) + max - logits[i * cols + labels[i]];
  }
  return { n, accuracy: n ? (n - errors) / n : 0, errors, loss: n ? loss / n : 0 };
}

/** Share of samples where two models predict the same class (fidelity of a student to its teacher). */
export function agreement(a: Float32Array, b: Float32Array, cols: number): number {
  const pa = argmaxRows(a, cols);
  const pb = argmaxRows(b, cols);
  let same = 0;
  for (let i = 0; i < pa.length; i++) if (pa[i] === pb[i]) same++;
  return pa.length ? same / pa.length : 0;
}

export function evaluate(predict: Predictor, data: InMemoryDataset, batchSize = 1000): ClassificationMetrics & { logits: Float32Array } {
  const logits = predictLogits(predict, data, batchSize);
  return { ...classificationMetrics(logits, data.y, logits.length / Math.max(data.size, 1)), logits };
}
