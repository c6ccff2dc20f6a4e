import * as tf from "@tensorflow/tfjs-core";
import type { Augment } from "./augment.js";

export interface MungeOptions {
  /** Probability that an attribute takes its value from the nearest neighbour's side (Bucilă et al.: p). */
  swap?: number;
  /** Local spread: a swapped continuous value is drawn from N(e'_a, |e_a − e'_a| / spread) (Bucilă et al.: s). */
  spread?: number;
}

/**
 * Each row's nearest other row by Euclidean distance (ties: the lower index), from ‖a‖² + ‖b‖² − 2a·b in blocks
 * of rows so that the distance matrix never exceeds block × candidates values. Above `maxCandidates` rows the
 * neighbours are searched among that many evenly spaced rows (the search is quadratic).
 */
export function nearestNeighbours(x: Float32Array, n: number, d: number, block = 512, maxCandidates = 20000): Int32Array {
  if (x.length !== n * d) throw new Error(`nearestNeighbours: ${x.length} values do not make ${n} rows of ${d}`);
  const nn = new Int32Array(n);
  if (n < 2) return nn;
  const m = Math.min(n, Math.max(2, maxCandidates));
  const candidates = Int32Array.from({ length: m }, (_, j) => Math.floor((j * n) / m));
  const norms = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let k = 0; k < d; k++) s += x[i * d + k] ** 2;
    norms[i] = s;
  }
  // The candidates as columns [d, m], so each block is a plain matMul (wasm's transposed matMul is far slower).
  const pool = tf.tidy(() => tf.transpose(tf.gather(tf.tensor2d(x, [n, d]), candidates)));
  try {
    for (let start = 0; start < n; start += block) {
      const rows = Math.min(block, n - start);
      const dots = tf.tidy(() => tf.matMul(tf.tensor2d(x.subarray(start * d, (start + rows) * d), [rows, d]), pool)).dataSync();
      for (let r = 0; r < rows; r++) {
        const i = start + r;
        let best = -1;
        let bestDist = Infinity;
        for (let j = 0; j < m; j++) {
          const c = candidates[j];
          if (c === i) continue;
          const dist = norms[i] + norms[c] - 2 * dots[r * m + j];
          if (dist < bestDist) (bestDist = dist), (best = c);
        }
        nn[i] = best;
      }
    }
  } finally {
    pool.dispose();
  }
  return nn;
}

/** Columns with at most two distinct values (one-hot and yes/no columns): MUNGE copies them instead of sampling. */
export function discreteColumns(x: Float32Array, n: number, d: number): Uint8Array {
  const out = new Uint8Array(d);
  for (let k = 0; k < d; k++) {
    const a = x[k];
    let b: number | null = null;
    let discrete = 1;
    for (let i = 1; i < n && discrete; i++) {
      const v = x[i * d + k];
      if (v === a || v === b) continue;
      if (b === null) b = v;
      else discrete = 0;
    }
    out[k] = discrete;
  }
  return out;
}

/**
 * MUNGE on the fly (Bucilă, Caruana & Niculescu-Mizil 2006, "Model compression"): synthetic rows near the data for
 * the teacher to label. Each sample e of a batch, with e' its nearest neighbour in `x` (the rows its batch indices
 * point into), becomes: for each attribute with probability `swap`, e_a ← e'_a for two-valued columns and
 * e_a ~ N(e'_a, |e_a − e'_a| / spread) for the others; else e_a stays. Tabular and other flat feature vectors.
 */
export function mungeBatches(x: Float32Array, n: number, d: number, options: MungeOptions = {}): Augment {
  const { swap = 0.5, spread = 1 } = options;
  if (!(swap >= 0 && swap <= 1)) throw new Error(`munge: swap must be in [0, 1], got ${swap}`);
  if (!(spread > 0)) throw new Error(`munge: spread must be > 0, got ${spread}`);
  const nn = nearestNeighbours(x, n, d);
  const discrete = discreteColumns(x, n, d);
  return (batch, shape, rng) => {
    const width = shape.reduce((a, b) => a * b, 1);
    if (width !== d) throw new Error(`munge: samples of shape [${shape}] do not have the ${d} values it was built for`);
    const out = new Float32Array(batch.x);
    for (let i = 0; i < batch.size; i++) {
      const row = batch.indices[i];
      if (row < 0 || row >= n) throw new Error(`munge: batch row ${row} is outside the ${n} rows it was built for`);
      const other = nn[row] * d;
      for (let k = 0; k < d; k++) {
        if (rng.next() >= swap) continue;
        const a = out[i * d + k];
        const b = x[other + k];
        out[i * d + k] = discrete[k] ? b : b + (Math.abs(a - b) / spread) * rng.normal();
      }
    }
    return { ...batch, x: out };
  };
}
