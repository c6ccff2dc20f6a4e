import * as tf from "@tensorflow/tfjs-core";

// Small helpers shared by the distillation losses in response.ts, feature.ts and relation.ts.

/** "[2, 3]" for error messages. */
export function shapeOf(x: tf.Tensor): string {
  return `[${x.shape.join(", ")}]`;
}

/** Throws, naming both shapes, unless `a` and `b` have exactly the same shape. */
export function assertSameShape(what: string, a: tf.Tensor, b: tf.Tensor, aName = "student", bName = "teacher"): void {
  const same = a.rank === b.rank && a.shape.every((d, i) => d === b.shape[i]);
  if (!same) throw new Error(`${what}: ${aName} shape ${shapeOf(a)} and ${bName} shape ${shapeOf(b)} must be equal`);
}

/** Throws, naming both shapes, unless `a` and `b` have the same leading (batch) dimension. */
export function assertSameBatch(what: string, a: tf.Tensor, b: tf.Tensor): void {
  if (a.rank < 1 || b.rank < 1 || a.shape[0] !== b.shape[0]) {
    throw new Error(`${what}: student shape ${shapeOf(a)} and teacher shape ${shapeOf(b)} need the same batch size (first dimension)`);
  }
}

export function assertRank(what: string, x: tf.Tensor, rank: number, name: string): void {
  if (x.rank !== rank) throw new Error(`${what}: ${name} must have rank ${rank}, got shape ${shapeOf(x)}`);
}

export function assertPositive(what: string, name: string, v: number): void {
  if (!(v > 0) || !Number.isFinite(v)) throw new Error(`${what}: ${name} must be a finite number > 0, got ${v}`);
}

export function assertFiniteNonNegative(what: string, name: string, v: number): void {
  if (!(v >= 0) || !Number.isFinite(v)) throw new Error(`${what}: ${name} must be a finite number ≥ 0, got ${v}`);
}

/** [B, ...] → [B, d] (d = product of the other dimensions). Rank-1 input is rejected: a batch is needed. */
export function flattenBatch(what: string, x: tf.Tensor, name: string): tf.Tensor2D {
  if (x.rank < 2) throw new Error(`${what}: ${name} must be [batch, ...features] (rank ≥ 2), got shape ${shapeOf(x)}`);
  return tf.reshape(x, [x.shape[0], -1]) as tf.Tensor2D;
}

/**
 * Row-wise L2 normalisation like PyTorch's F.normalize(x, dim=-1): x / max(‖x‖₂, eps) along the last axis.
 * The norm is computed as sqrt(max(Σx², eps²)), which is the same value and keeps the gradient finite (zero
 * through the clamp) for an all-zero row instead of the NaN that d√u/du = ∞ at u = 0 would give.
 */
export function l2NormalizeLastAxis(x: tf.Tensor, eps = 1e-12): tf.Tensor {
  const sumSq = tf.sum(tf.square(x), -1, true);
  return tf.div(x, tf.sqrt(tf.maximum(sumSq, eps * eps)));
}

// wasm's transposed matMul paths are much slower than an explicit transpose (see engine/ops.ts); BLAS takes the
// transpose as a flag, so the native backend skips the copy.
const transposeIsFree = (): boolean => tf.getBackend() === "native";

/** a·bᵀ for 2-D a, b. */
export function matMulBt(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  return transposeIsFree() ? tf.matMul(a, b, false, true) : tf.matMul(a, tf.transpose(b));
}

/** A large negative number added to logits/log-probs to take entries out of a softmax / logsumexp (exp → 0). */
export const MASK_NEG = -1e9;
