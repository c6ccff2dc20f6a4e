/**
 * Model2Vec's Zipf/SIF token weights (model2vec `distill/inference.py`, compute_weights): with i the 0-based position
 * in a vocabulary sorted by frequency (id order), r_i = 1/(i + 2), p_i = r_i / Σ_{j<n} r_j, and w_i = a / (a + p_i).
 * Frequent (early) tokens get small weights, rare ones weights near 1. `a` is the SIF coefficient, 0 < a < 1
 * (model2vec's default 1e-4).
 */
export function sifWeights(n: number, a = 1e-4): Float64Array {
  if (!Number.isInteger(n) || n < 1) throw new Error(`sifWeights: n = ${n}; expected a vocabulary size ≥ 1`);
  if (!(a > 0 && a < 1)) throw new Error(`sifWeights: sif coefficient ${a}; expected 0 < a < 1`);
  let sum = 0;
  for (let j = 0; j < n; j++) sum += 1 / (j + 2);
  return Float64Array.from({ length: n }, (_, i) => a / (a + 1 / (i + 2) / sum));
}
