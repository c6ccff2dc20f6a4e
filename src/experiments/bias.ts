import { argmaxRows } from "../eval/classification.js";

/** The share of rows whose argmax is `cls` after adding `delta` to that class's logit. */
export function predictedShare(logits: Float32Array, cols: number, cls: number, delta: number): number {
  const rows = logits.length / cols;
  let hits = 0;
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    const raised = logits[o + cls] + delta;
    let best = true;
    for (let c = 0; c < cols; c++) {
      if (c !== cls && logits[o + c] > raised) {
        best = false;
        break;
      }
    }
    if (best) hits++;
  }
  return rows ? hits / rows : 0;
}

/**
 * The smallest logit bias δ ≥ 0 for class `cls` at which the student predicts that class for at least the share of
 * rows that truly belong to it (Hinton et al. 2015, §3: a student that never saw a 3 is fixed by raising the 3's bias).
 * Fitted on a labelled split the student did not train on; bisection, since the share grows with δ.
 */
export function fitClassBias(logits: Float32Array, labels: Int32Array, cols: number, cls: number, maxDelta = 50): { delta: number; targetShare: number; shareBefore: number } {
  const target = labels.reduce((n, y) => n + (y === cls ? 1 : 0), 0) / labels.length;
  const shareBefore = predictedShare(logits, cols, cls, 0);
  if (shareBefore >= target) return { delta: 0, targetShare: target, shareBefore };
  let lo = 0;
  let hi = maxDelta;
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    if (predictedShare(logits, cols, cls, mid) >= target) hi = mid;
    else lo = mid;
  }
  return { delta: hi, targetShare: target, shareBefore };
}

/** Logits with `delta` added to one class's column (a copy). */
export function withClassBias(logits: Float32Array, cols: number, cls: number, delta: number): Float32Array {
  const out = Float32Array.from(logits);
  for (let o = cls; o < out.length; o += cols) out[o] += delta;
  return out;
}

/** Errors overall and on the samples of one class. */
export function errorsOn(logits: Float32Array, labels: Int32Array, cols: number, cls?: number): { errors: number; total: number } {
  const pred = argmaxRows(logits, cols);
  let errors = 0;
  let total = 0;
  for (let i = 0; i < labels.length; i++) {
    if (cls !== undefined && labels[i] !== cls) continue;
    total++;
    if (pred[i] !== labels[i]) errors++;
  }
  return { errors, total };
}
