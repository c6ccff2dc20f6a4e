import * as tf from "@tensorflow/tfjs-core";
import { symmetricEigen } from "./eigen.js";

/**
 * Principal components of a row-major [rows, cols] matrix, as sklearn's PCA without whitening: rows are centred on
 * their mean, and projected onto the top-k eigenvectors of the covariance (1/(rows − 1))·XcᵀXc.
 */
export interface Pca {
  cols: number;
  k: number;
  /** Mean row [cols]. */
  mean: Float64Array;
  /** Components as columns of a row-major [cols, k] matrix (x ↦ (x − mean)·components). */
  components: Float64Array;
  /** Variance along each component, largest first [k]. */
  variances: Float64Array;
  /** Total variance (trace of the covariance), for the explained share. */
  totalVariance: number;
}

/** Fits PCA on the rows of `x` whose index `use(i)` allows (default all): mean, covariance, eigenvectors (float64). */
export function fitPca(x: ArrayLike<number>, rows: number, cols: number, k: number, use: (row: number) => boolean = () => true): Pca {
  if (!Number.isInteger(k) || k < 1 || k > cols) throw new Error(`fitPca: k = ${k} components; expected 1 to ${cols} (the number of columns)`);
  const kept: number[] = [];
  for (let i = 0; i < rows; i++) if (use(i)) kept.push(i);
  if (kept.length < 2) throw new Error(`fitPca: ${kept.length} rows to fit; expected at least 2`);
  const mean = new Float64Array(cols);
  for (const i of kept) for (let j = 0; j < cols; j++) mean[j] += x[i * cols + j];
  for (let j = 0; j < cols; j++) mean[j] /= kept.length;
  const cov = scatterMatrix(x, kept, cols, mean);
  const scale = 1 / (kept.length - 1);
  let total = 0;
  for (let a = 0; a < cols; a++) {
    for (let b = a; b < cols; b++) {
      const v = ((cov[a * cols + b] + cov[b * cols + a]) / 2) * scale; // exactly symmetric
      cov[a * cols + b] = v;
      cov[b * cols + a] = v;
    }
    total += cov[a * cols + a];
  }
  const { values, vectors } = symmetricEigen(cov, cols);
  const components = new Float64Array(cols * k);
  for (let r = 0; r < cols; r++) for (let c = 0; c < k; c++) components[r * k + c] = vectors[r * cols + c];
  return { cols, k, mean, components, variances: values.slice(0, k).map((v) => Math.max(v, 0)), totalVariance: total };
}

/** (x − mean)·components for each row of `x` [rows, cols] → [rows, k] (float32; a TF.js product off the cpu backend). */
export function projectPca(pca: Pca, x: ArrayLike<number>, rows: number): Float32Array {
  const { cols, k, mean, components } = pca;
  if (x.length !== rows * cols) throw new Error(`projectPca: ${x.length} values are not ${rows} rows of ${cols}`);
  if (tf.getBackend() !== "cpu") {
    const xc = Float32Array.from({ length: rows * cols }, (_, i) => x[i] - mean[i % cols]);
    const a = tf.tensor2d(xc, [rows, cols]);
    const w = tf.tensor2d(Float32Array.from(components), [cols, k]);
    const y = tf.matMul(a, w);
    const out = y.dataSync() as Float32Array;
    tf.dispose([a, w, y]);
    return Float32Array.from(out);
  }
  const out = new Float32Array(rows * k);
  const acc = new Float64Array(k);
  for (let i = 0; i < rows; i++) {
    acc.fill(0);
    for (let j = 0; j < cols; j++) {
      const v = x[i * cols + j] - mean[j];
      if (v === 0) continue;
      const base = j * k;
      for (let c = 0; c < k; c++) acc[c] += v * components[base + c];
    }
    out.set(acc, i * k);
  }
  return out;
}

/** Share of the total variance the components keep. */
export function explainedVariance(pca: Pca): number {
  return pca.totalVariance > 0 ? pca.variances.reduce((a, b) => a + b, 0) / pca.totalVariance : 1;
}

/**
 * XcᵀXc (upper triangle filled, the rest possibly too) of the kept rows centred on `mean`, [cols, cols] float64.
 * A TF.js matrix product on the wasm and native backends (about 1 s for 8,000 × 512 on wasm; float32 accumulation
 * is ample for PCA); float64 loops on the cpu backend, whose matMul is slower than plain JavaScript.
 */
function scatterMatrix(x: ArrayLike<number>, kept: number[], cols: number, mean: Float64Array): Float64Array {
  if (tf.getBackend() !== "cpu") {
    const n = kept.length;
    const xc = new Float32Array(n * cols);
    const xt = new Float32Array(n * cols);
    kept.forEach((i, r) => {
      for (let j = 0; j < cols; j++) xt[j * n + r] = xc[r * cols + j] = x[i * cols + j] - mean[j];
    });
    // Transposed by hand: wasm's matMul(a, b, transposeA) is about 20× slower than the plain product.
    const a = tf.tensor2d(xt, [cols, n]);
    const b = tf.tensor2d(xc, [n, cols]);
    const product = tf.matMul(a, b);
    const out = Float64Array.from(product.dataSync());
    tf.dispose([a, b, product]);
    return out;
  }
  const cov = new Float64Array(cols * cols);
  const row = new Float64Array(cols);
  for (const i of kept) {
    for (let j = 0; j < cols; j++) row[j] = x[i * cols + j] - mean[j];
    for (let a = 0; a < cols; a++) {
      const ra = row[a];
      if (ra === 0) continue;
      const base = a * cols;
      for (let b = a; b < cols; b++) cov[base + b] += ra * row[b];
    }
  }
  for (let a = 0; a < cols; a++) for (let b = 0; b < a; b++) cov[a * cols + b] = cov[b * cols + a];
  return cov;
}
