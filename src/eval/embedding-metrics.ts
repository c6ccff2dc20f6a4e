// How well an embedding student stands in for its teacher: per-text cosine, agreement of nearest neighbours, and
// the accuracy of a linear probe (logistic regression on frozen vectors) on labelled text. Vectors are row-major
// Float32Arrays [n, dim].
import { Rng } from "../util/rng.js";

function cos(a: Float32Array, ai: number, b: Float32Array, bi: number, d: number): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let j = 0; j < d; j++) {
    const x = a[ai * d + j];
    const y = b[bi * d + j];
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return na > 0 && nb > 0 ? dot / Math.sqrt(na * nb) : 0;
}

/** Mean over rows of cos(student_i, teacher_i); both [n, d] in the same space. A zero row counts as cosine 0. */
export function meanCosine(student: Float32Array, teacher: Float32Array, n: number): number {
  if (n < 1 || student.length !== teacher.length || student.length % n !== 0) throw new Error(`meanCosine: expected two [${n}, d] arrays, got ${student.length} and ${teacher.length} values`);
  const d = student.length / n;
  let s = 0;
  for (let i = 0; i < n; i++) s += cos(student, i, teacher, i, d);
  return s / n;
}

/** Each row's k most cosine-similar other rows (ties: lower index first). */
export function nearestNeighbours(v: Float32Array, n: number, k: number): Int32Array[] {
  const d = v.length / n;
  const norms = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += v[i * d + j] ** 2;
    norms[i] = Math.sqrt(s) || 1;
  }
  const out: Int32Array[] = [];
  const sims = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    for (let m = 0; m < n; m++) {
      let dot = 0;
      for (let j = 0; j < d; j++) dot += v[i * d + j] * v[m * d + j];
      sims[m] = m === i ? -Infinity : dot / (norms[i] * norms[m]);
    }
    const idx = Array.from({ length: n }, (_, m) => m).sort((a, b) => sims[b] - sims[a] || a - b);
    out.push(Int32Array.from(idx.slice(0, k)));
  }
  return out;
}

/**
 * Top-k nearest-neighbour overlap: for every text, the share of its k nearest neighbours (cosine, itself excluded)
 * under the student that are also among its k nearest under the teacher, averaged. 1 = the same neighbourhoods.
 * The two spaces may differ in width.
 */
export function neighbourOverlap(student: Float32Array, teacher: Float32Array, n: number, k = 10): number {
  if (!(n > k)) throw new Error(`neighbourOverlap: ${n} texts; expected more than k = ${k}`);
  const s = nearestNeighbours(student, n, k);
  const t = nearestNeighbours(teacher, n, k);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const set = new Set(t[i]);
    total += s[i].filter((m) => set.has(m)).length / k;
  }
  return total / n;
}

export interface ProbeOptions {
  epochs?: number;
  /** Adam step size (default 0.01). */
  lr?: number;
  /** L2 penalty on the weights (default 1e-4). */
  l2?: number;
  batchSize?: number;
  seed?: number;
}

export interface ProbeResult {
  trainAccuracy: number;
  testAccuracy: number;
  trainSize: number;
  testSize: number;
}

/** A trained multinomial logistic regression on vectors: standardisation (the training rows') + weights. */
export interface LinearClassifier {
  readonly dim: number;
  readonly numClasses: number;
  /** Logits [rows, numClasses] of row-major vectors [rows, dim]. */
  logits(x: Float32Array, rows: number): Float32Array;
  /** Argmax class per row. */
  predict(x: Float32Array, rows: number): Int32Array;
  /** The same map as one affine layer on raw vectors: logits = x·kernel + bias (standardisation folded in). */
  affine(): { kernel: Float32Array; bias: Float32Array };
}

/**
 * Multinomial logistic regression on frozen vectors: features standardised with the training rows' mean and
 * standard deviation, weights from zero, trained with Adam on seeded mini-batches (float64). Same inputs and seed →
 * same weights. The head a frozen encoder is fine-tuned with, and the linear probe.
 */
export function fitLinearClassifier(train: { x: Float32Array; y: Int32Array }, numClasses: number, opts: ProbeOptions = {}): LinearClassifier {
  const { epochs = 100, lr = 0.01, l2 = 1e-4, batchSize = 32, seed = 0 } = opts;
  const n = train.y.length;
  if (n < 1 || train.x.length % n !== 0) throw new Error(`linearProbe: ${train.x.length} values for ${n} training rows`);
  const d = train.x.length / n;
  const C = numClasses;
  for (const y of train.y) if (!(Number.isInteger(y) && y >= 0 && y < C)) throw new Error(`linearProbe: label ${y} is outside [0, ${C})`);
  const mean = new Float64Array(d);
  const std = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j] += train.x[i * d + j] / n;
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) std[j] += (train.x[i * d + j] - mean[j]) ** 2 / n;
  for (let j = 0; j < d; j++) std[j] = Math.sqrt(std[j]) || 1;
  const z = (x: Float32Array, rows: number) => Float64Array.from({ length: rows * d }, (_, k) => (x[k] - mean[k % d]) / std[k % d]);
  const xt = z(train.x, n);
  const W = new Float64Array(d * C);
  const b = new Float64Array(C);
  const mW = new Float64Array(d * C);
  const vW = new Float64Array(d * C);
  const mb = new Float64Array(C);
  const vb = new Float64Array(C);
  const [beta1, beta2, eps] = [0.9, 0.999, 1e-8];
  let step = 0;
  const logits = (x: Float64Array, i: number, out: Float64Array) => {
    for (let c = 0; c < C; c++) {
      let s = b[c];
      for (let j = 0; j < d; j++) s += x[i * d + j] * W[j * C + c];
      out[c] = s;
    }
  };
  const p = new Float64Array(C);
  const gW = new Float64Array(d * C);
  const gb = new Float64Array(C);
  for (let epoch = 0; epoch < epochs; epoch++) {
    const order = new Rng(seed, "linear-probe", epoch).permutation(n);
    for (let start = 0; start < n; start += batchSize) {
      const rows = order.subarray(start, Math.min(start + batchSize, n));
      gW.fill(0);
      gb.fill(0);
      for (const i of rows) {
        logits(xt, i, p);
        const max = Math.max(...p);
        let sum = 0;
        for (let c = 0; c < C; c++) sum += p[c] = Math.exp(p[c] - max);
        for (let c = 0; c < C; c++) {
          const g = (p[c] / sum - (train.y[i] === c ? 1 : 0)) / rows.length;
          gb[c] += g;
          for (let j = 0; j < d; j++) gW[j * C + c] += g * xt[i * d + j];
        }
      }
      step++;
      const c1 = 1 - beta1 ** step;
      const c2 = 1 - beta2 ** step;
      for (let k = 0; k < W.length; k++) {
        const g = gW[k] + l2 * W[k];
        mW[k] = beta1 * mW[k] + (1 - beta1) * g;
        vW[k] = beta2 * vW[k] + (1 - beta2) * g * g;
        W[k] -= (lr * (mW[k] / c1)) / (Math.sqrt(vW[k] / c2) + eps);
      }
      for (let c = 0; c < C; c++) {
        mb[c] = beta1 * mb[c] + (1 - beta1) * gb[c];
        vb[c] = beta2 * vb[c] + (1 - beta2) * gb[c] * gb[c];
        b[c] -= (lr * (mb[c] / c1)) / (Math.sqrt(vb[c] / c2) + eps);
      }
    }
  }
  const allLogits = (x: Float32Array, rows: number) => {
    if (x.length !== rows * d) throw new Error(`linear classifier: ${x.length} values for ${rows} rows of ${d}`);
    const zx = z(x, rows);
    const out = new Float32Array(rows * C);
    for (let i = 0; i < rows; i++) {
      logits(zx, i, p);
      for (let c = 0; c < C; c++) out[i * C + c] = p[c];
    }
    return out;
  };
  return {
    dim: d,
    numClasses: C,
    logits: allLogits,
    predict: (x, rows) => argmaxRows(allLogits(x, rows), rows, C),
    affine: () => {
      // (x − μ)/σ · W + b = x · (W/σ) + (b − Σ_j μ_j W_j/σ_j)
      const kernel = new Float32Array(d * C);
      const bias = Float32Array.from(b);
      for (let j = 0; j < d; j++) {
        for (let c = 0; c < C; c++) {
          kernel[j * C + c] = W[j * C + c] / std[j];
          bias[c] -= (mean[j] * W[j * C + c]) / std[j];
        }
      }
      return { kernel, bias };
    },
  };
}

/** Index of each row's largest value (first on ties) of a row-major [rows, C] array. */
export function argmaxRows(v: Float32Array, rows: number, C: number): Int32Array {
  const out = new Int32Array(rows);
  for (let i = 0; i < rows; i++) {
    let best = 0;
    for (let c = 1; c < C; c++) if (v[i * C + c] > v[i * C + best]) best = c;
    out[i] = best;
  }
  return out;
}

/** Share of predictions equal to the labels. */
export function accuracyOf(pred: Int32Array, y: Int32Array): number {
  let ok = 0;
  for (let i = 0; i < y.length; i++) if (pred[i] === y[i]) ok++;
  return y.length ? ok / y.length : NaN;
}

/**
 * Linear probe: a multinomial logistic regression (fitLinearClassifier) trained on the training rows, then its
 * accuracy on the training and test rows. Same inputs and seed → same numbers.
 */
export function linearProbe(
  train: { x: Float32Array; y: Int32Array },
  test: { x: Float32Array; y: Int32Array },
  numClasses: number,
  opts: ProbeOptions = {},
): ProbeResult {
  const n = train.y.length;
  if (n < 1 || train.x.length % n !== 0) throw new Error(`linearProbe: ${train.x.length} values for ${n} training rows`);
  const d = train.x.length / n;
  if (test.x.length !== test.y.length * d) throw new Error(`linearProbe: test rows have ${test.x.length / Math.max(test.y.length, 1)} values; expected ${d}`);
  const clf = fitLinearClassifier(train, numClasses, opts);
  return {
    trainAccuracy: accuracyOf(clf.predict(train.x, n), train.y),
    testAccuracy: accuracyOf(clf.predict(test.x, test.y.length), test.y),
    trainSize: n,
    testSize: test.y.length,
  };
}

/** Rows `idx` of a row-major [n, d] array. */
export function pickRows(v: Float32Array, d: number, idx: ArrayLike<number>): Float32Array {
  const out = new Float32Array(idx.length * d);
  for (let k = 0; k < idx.length; k++) out.set(v.subarray(idx[k] * d, (idx[k] + 1) * d), k * d);
  return out;
}

// Batch-1 latency and batched throughput: plain JavaScript shared with browser pages (bench/embeddings-browser.ts).
export { timeEmbedding, type EmbedTiming, type TimeEmbeddingOptions } from "../../src/eval/time-embedding.mjs";

/** L2 penalties tried by chooseProbeL2 (log-spaced). */
export const PROBE_L2_GRID = [1e-3, 1e-2, 0.1, 1];

/**
 * The probe's L2 penalty chosen by k-fold cross-validation on the training rows only (sklearn's
 * LogisticRegressionCV): the grid value with the highest mean held-out-fold accuracy, the larger on ties. Folds are
 * a seeded permutation; the test rows are never looked at.
 */
export function chooseProbeL2(train: { x: Float32Array; y: Int32Array }, numClasses: number, opts: ProbeOptions & { grid?: number[]; folds?: number } = {}): { l2: number; cvAccuracy: number[] } {
  const { grid = PROBE_L2_GRID, folds = 3, seed = 0 } = opts;
  const n = train.y.length;
  if (n < folds * 2) throw new Error(`chooseProbeL2: ${n} training rows for ${folds} folds`);
  const d = train.x.length / n;
  const order = new Rng(seed, "probe-cv").permutation(n);
  const cvAccuracy = grid.map((l2) => {
    let sum = 0;
    for (let f = 0; f < folds; f++) {
      const held = Array.from(order).filter((_, k) => k % folds === f);
      const kept = Array.from(order).filter((_, k) => k % folds !== f);
      const clf = fitLinearClassifier({ x: pickRows(train.x, d, kept), y: Int32Array.from(kept, (i) => train.y[i]) }, numClasses, { ...opts, l2 });
      sum += accuracyOf(clf.predict(pickRows(train.x, d, held), held.length), Int32Array.from(held, (i) => train.y[i]));
    }
    return sum / folds;
  });
  let best = 0;
  for (let k = 1; k < grid.length; k++) if (cvAccuracy[k] >= cvAccuracy[best]) best = k;
  return { l2: grid[best], cvAccuracy };
}
