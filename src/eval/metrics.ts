// Pure evaluation metrics on row-major logits [n, C] (Float32Array) and integer labels (Int32Array).
// Every accumulation is in float64; nothing here touches TF.js.
//
// Conventions shared by all functions:
// - the predicted class of a row is its first maximal logit (the same rule as argmaxRows in classification.ts);
// - probabilities are softmax(logits) computed with the row maximum subtracted.

import { argmaxRows } from "./classification.js";

function checkShape(logits: ArrayLike<number>, cols: number, labels?: ArrayLike<number>): number {
  if (!(Number.isInteger(cols) && cols > 0)) throw new Error(`expected a positive number of classes, got ${cols}`);
  if (logits.length % cols !== 0) throw new Error(`${logits.length} logits do not make rows of ${cols} classes`);
  const n = logits.length / cols;
  if (labels && labels.length !== n) throw new Error(`${n} rows of logits but ${labels.length} labels`);
  if (labels) {
    for (let i = 0; i < labels.length; i++) {
      if (!(Number.isInteger(labels[i]) && labels[i] >= 0 && labels[i] < cols)) throw new Error(`label ${labels[i]} at row ${i} is outside 0..${cols - 1}`);
    }
  }
  return n;
}

/** log-softmax of row `i` into `out` (float64). */
function logSoftmaxRow(logits: ArrayLike<number>, cols: number, i: number, out: Float64Array, temperature = 1): void {
  let max = -Infinity;
  for (let c = 0; c < cols; c++) max = Math.max(max, logits[i * cols + c] / temperature);
  let sum = 0;
  for (let c = 0; c < cols; c++) sum += Math.exp(logits[i * cols + c] / temperature - max);
  const lse = Math.log(sum) + max;
  for (let c = 0; c < cols; c++) out[c] = logits[i * cols + c] / temperature - lse;
}

/** softmax(logits) row by row, in float64. */
export function softmaxRows(logits: ArrayLike<number>, cols: number, temperature = 1): Float64Array {
  const n = checkShape(logits, cols);
  const out = new Float64Array(n * cols);
  const row = new Float64Array(cols);
  for (let i = 0; i < n; i++) {
    logSoftmaxRow(logits, cols, i, row, temperature);
    for (let c = 0; c < cols; c++) out[i * cols + c] = Math.exp(row[c]);
  }
  return out;
}

/**
 * Share of rows whose label is among the k highest logits. Ties rank by class index (a tied class with a lower
 * index ranks first), so top-1 equals the accuracy of argmaxRows. k ≥ C gives 1.
 */
export function topKAccuracy(logits: Float32Array, labels: Int32Array, cols: number, k: number): number {
  if (!(Number.isInteger(k) && k >= 1)) throw new Error(`top-k: expected an integer k ≥ 1, got ${k}`);
  const n = checkShape(logits, cols, labels);
  if (n === 0) return 0;
  let hits = 0;
  for (let i = 0; i < n; i++) {
    const y = labels[i];
    const v = logits[i * cols + y];
    let rank = 0;
    for (let c = 0; c < cols; c++) {
      const u = logits[i * cols + c];
      if (u > v || (u === v && c < y)) rank++;
    }
    if (rank < k) hits++;
  }
  return hits / n;
}

export interface ReliabilityBin {
  /** The bin covers confidences in (lower, upper]; the first bin also holds confidence 0. */
  lower: number;
  upper: number;
  count: number;
  /** Mean top-1 confidence of the bin's samples; null when the bin is empty. */
  meanConfidence: number | null;
  /** Share of the bin's samples whose top-1 prediction is right; null when the bin is empty. */
  accuracy: number | null;
}

export interface Calibration {
  /** Σ_b |accuracy_b − confidence_b| · n_b / n over the non-empty bins. */
  ece: number;
  /** max_b |accuracy_b − confidence_b| over the non-empty bins. */
  mce: number;
  n: number;
  bins: ReliabilityBin[];
}

/** Index of the equal-width bin (lower, upper] that holds `p` (p = 0 goes to bin 0). */
export function binIndex(p: number, numBins: number): number {
  let b = Math.min(numBins - 1, Math.max(0, Math.ceil(p * numBins) - 1));
  // Correct p·B rounding so the edges follow the (b/B, (b+1)/B] convention exactly.
  while (b > 0 && p <= b / numBins) b--;
  while (b < numBins - 1 && p > (b + 1) / numBins) b++;
  return b;
}

/**
 * Expected calibration error of the top-1 prediction (Guo et al. 2017) with `numBins` equal-width confidence
 * bins (default 15), and the reliability curve: per bin its count, mean confidence and accuracy.
 */
export function expectedCalibrationError(logits: Float32Array, labels: Int32Array, cols: number, numBins = 15): Calibration {
  if (!(Number.isInteger(numBins) && numBins >= 1)) throw new Error(`ECE: expected an integer number of bins ≥ 1, got ${numBins}`);
  const n = checkShape(logits, cols, labels);
  const pred = argmaxRows(logits, cols);
  const count = new Float64Array(numBins);
  const confSum = new Float64Array(numBins);
  const correct = new Float64Array(numBins);
  const row = new Float64Array(cols);
  for (let i = 0; i < n; i++) {
    logSoftmaxRow(logits, cols, i, row);
    const conf = Math.exp(row[pred[i]]);
    const b = binIndex(conf, numBins);
    count[b]++;
    confSum[b] += conf;
    if (pred[i] === labels[i]) correct[b]++;
  }
  let ece = 0;
  let mce = 0;
  const bins: ReliabilityBin[] = [];
  for (let b = 0; b < numBins; b++) {
    const m = count[b];
    const meanConfidence = m ? confSum[b] / m : null;
    const accuracy = m ? correct[b] / m : null;
    if (m) {
      const gap = Math.abs(accuracy! - meanConfidence!);
      ece += (gap * m) / n;
      mce = Math.max(mce, gap);
    }
    bins.push({ lower: b / numBins, upper: (b + 1) / numBins, count: m, meanConfidence, accuracy });
  }
  return { ece, mce, n, bins };
}

export interface PerClassAccuracy {
  /** Samples whose label is the class. */
  count: number[];
  /** Of those, how many were predicted right. */
  correct: number[];
  /** correct / count; null for a class with no samples. */
  accuracy: (number | null)[];
}

/** Accuracy within each true class (recall per class). */
export function perClassAccuracy(logits: Float32Array, labels: Int32Array, cols: number): PerClassAccuracy {
  checkShape(logits, cols, labels);
  const pred = argmaxRows(logits, cols);
  const count = new Array<number>(cols).fill(0);
  const correct = new Array<number>(cols).fill(0);
  for (let i = 0; i < labels.length; i++) {
    count[labels[i]]++;
    if (pred[i] === labels[i]) correct[labels[i]]++;
  }
  return { count, correct, accuracy: count.map((m, c) => (m ? correct[c] / m : null)) };
}

/** matrix[true][predicted] = number of samples. */
export function confusionMatrix(logits: Float32Array, labels: Int32Array, cols: number): number[][] {
  checkShape(logits, cols, labels);
  const pred = argmaxRows(logits, cols);
  const m = Array.from({ length: cols }, () => new Array<number>(cols).fill(0));
  for (let i = 0; i < labels.length; i++) m[labels[i]][pred[i]]++;
  return m;
}

/**
 * KL(teacher ‖ student) = Σ_c p_t(c)·(log p_t(c) − log p_s(c)) with p = softmax(logits / T), averaged over the
 * rows (batch mean), in nats. Classes with p_t = 0 add nothing.
 */
export function klDivergence(teacherLogits: Float32Array, studentLogits: Float32Array, cols: number, temperature = 1): number {
  if (!(temperature > 0)) throw new Error(`KL: expected a temperature > 0, got ${temperature}`);
  const n = checkShape(teacherLogits, cols);
  if (studentLogits.length !== teacherLogits.length) throw new Error(`KL: ${teacherLogits.length} teacher logits but ${studentLogits.length} student logits`);
  if (n === 0) return 0;
  const lt = new Float64Array(cols);
  const ls = new Float64Array(cols);
  let total = 0;
  for (let i = 0; i < n; i++) {
    logSoftmaxRow(teacherLogits, cols, i, lt, temperature);
    logSoftmaxRow(studentLogits, cols, i, ls, temperature);
    let kl = 0;
    for (let c = 0; c < cols; c++) {
      const p = Math.exp(lt[c]);
      if (p > 0) kl += p * (lt[c] - ls[c]);
    }
    total += kl;
  }
  return total / n;
}

export interface RegressionMetrics {
  n: number;
  /** Mean of (prediction − target)² over every element. */
  mse: number;
  rmse: number;
  /** Mean of |prediction − target| over every element. */
  mae: number;
  /** 1 − Σ(prediction − target)² / Σ(target − mean target)²; 0 when every target is the same. */
  r2: number;
}

/** Error of a regression head: predictions and targets of the same length (any shape, flattened). */
export function regressionMetrics(predictions: ArrayLike<number>, targets: ArrayLike<number>): RegressionMetrics {
  if (predictions.length !== targets.length) throw new Error(`regression: ${predictions.length} predictions but ${targets.length} targets`);
  const n = predictions.length;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += targets[i];
  mean = n ? mean / n : 0;
  let se = 0;
  let ae = 0;
  let st = 0;
  for (let i = 0; i < n; i++) {
    const d = predictions[i] - targets[i];
    se += d * d;
    ae += Math.abs(d);
    st += (targets[i] - mean) ** 2;
  }
  const mse = n ? se / n : 0;
  return { n, mse, rmse: Math.sqrt(mse), mae: n ? ae / n : 0, r2: st > 0 ? 1 - se / st : 0 };
}
