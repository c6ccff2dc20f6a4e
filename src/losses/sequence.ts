import * as tf from "@tensorflow/tfjs-core";
import { withGrad } from "../engine/ops.js";
import { assertPositive, assertRank, assertSameShape, shapeOf } from "./loss-utils.js";
import { generalizedJsdRows, topKKdRows, type TopKTail } from "./response.js";

// Token-level (sequence) distillation losses for language models. Logits are one row per token, [N, V] with
// N = B·T (an LM head's layout); `mask` [N] is 1 at the tokens a loss averages over (continuation tokens that are
// not padding) and 0 elsewhere (prompt, padding). Every loss is a masked mean over the kept tokens with a clamped
// denominator, Σ_n m_n·ℓ_n / max(Σ_n m_n, 1), as TRL's "batchmean" (so a batch with no kept token gives 0, not NaN).
// Temperature T divides both sides' logits and the divergences are scaled by T² (Hinton KD; Kim & Rush's
// token-level KD "as in Hinton KD"), so a weight means the same at every T and all terms here share one scale;
// at T = 1 (TRL's setting) each is exactly TRL's value. Masked rows must still be finite (they are multiplied by 0).
// As in response.ts the teacher side is not detached: differentiate with respect to the student's tensors only.

export interface TokenLossOptions {
  /** Softmax temperature T > 0 on both sides (default 1). */
  temperature?: number;
}

/** The gradient-free identity (TF.js has no stopGradient): value x, ∂/∂x = 0. */
export function stopGradient<T extends tf.Tensor>(x: T): T {
  return withGrad<T>([x], ([xx]) => ({ value: tf.clone(xx) as T, saved: [] }), (dy) => [tf.zerosLike(dy)]);
}

function checkMask(what: string, rows: number, mask: tf.Tensor | null): void {
  if (mask && (mask.rank !== 1 || mask.shape[0] !== rows)) throw new Error(`${what}: mask shape ${shapeOf(mask)} does not fit ${rows} token rows (need [${rows}])`);
}

// (1/max(Σ m, 1))·Σ_n m_n·v_n  (the mean over all rows when mask is null)
/** The masked token mean every loss here uses; `values` and `mask` are [N]. */
export function maskedTokenMean(values: tf.Tensor1D, mask: tf.Tensor1D | null): tf.Scalar {
  checkMask("maskedTokenMean", values.shape[0], mask);
  return tf.tidy(() => {
    if (!mask) return tf.mean(values) as tf.Scalar;
    const m = tf.cast(mask, "float32");
    return tf.div(tf.sum(tf.mul(values, m)), tf.maximum(tf.sum(m), 1)) as tf.Scalar;
  });
}

function pairChecks(what: string, s: tf.Tensor2D, t: tf.Tensor2D, mask: tf.Tensor1D | null, T: number): void {
  assertRank(what, s, 2, "student logits");
  assertSameShape(what, s, t);
  assertPositive(what, "temperature", T);
  checkMask(what, s.shape[0], mask);
}

// L = T²·mean_{n∈M} KL(P_T,n ‖ P_S,n),  P = softmax(z/T)
/** Forward KL (Kim & Rush token-level KD; mean-seeking): GKD's JSD at β = 0. */
export function tokenForwardKl(studentLogits: tf.Tensor2D, teacherLogits: tf.Tensor2D, mask: tf.Tensor1D | null, opts: TokenLossOptions = {}): tf.Scalar {
  return jsdLoss("tokenForwardKl", studentLogits, teacherLogits, mask, { ...opts, beta: 0 });
}

// L = T²·mean_{n∈M} KL(P_S,n ‖ P_T,n)
/** Reverse KL (MiniLLM's objective, mode-seeking), here under teacher forcing: GKD's JSD at β = 1. */
export function tokenReverseKl(studentLogits: tf.Tensor2D, teacherLogits: tf.Tensor2D, mask: tf.Tensor1D | null, opts: TokenLossOptions = {}): tf.Scalar {
  return jsdLoss("tokenReverseKl", studentLogits, teacherLogits, mask, { ...opts, beta: 1 });
}

export interface TokenJsdOptions extends TokenLossOptions {
  /** β ∈ [0, 1] (GKD/TRL default 0.5); β = 0 is forward KL and β = 1 reverse KL, special-cased as in TRL. */
  beta?: number;
}

// L = T²·mean_{n∈M} [β·KL(P_T ‖ M) + (1−β)·KL(P_S ‖ M)],  M = β·P_T + (1−β)·P_S;  β=0: KL(P_T‖P_S), β=1: KL(P_S‖P_T)
/** Generalised JSD(β) per token (GKD), in log space via response.ts's generalizedJsdRows. */
export function tokenJsd(studentLogits: tf.Tensor2D, teacherLogits: tf.Tensor2D, mask: tf.Tensor1D | null, opts: TokenJsdOptions = {}): tf.Scalar {
  return jsdLoss("tokenJsd", studentLogits, teacherLogits, mask, opts);
}

function jsdLoss(what: string, studentLogits: tf.Tensor2D, teacherLogits: tf.Tensor2D, mask: tf.Tensor1D | null, opts: TokenJsdOptions): tf.Scalar {
  const { beta = 0.5, temperature: T = 1 } = opts;
  pairChecks(what, studentLogits, teacherLogits, mask, T);
  if (!(beta >= 0 && beta <= 1)) throw new Error(`${what}: beta must be in [0, 1], got ${beta}`);
  return tf.tidy(() => tf.mul(maskedTokenMean(generalizedJsdRows(studentLogits, teacherLogits, { beta, temperature: T }), mask), T * T) as tf.Scalar);
}

export interface SkewKlOptions extends TokenLossOptions {
  /** Skew α ∈ [0, 1] (DistiLLM default 0.1); α = 0 is the plain KL, α = 1 gives 0. */
  alpha?: number;
}

export const SKEW_KL_DEFAULTS = { alpha: 0.1, temperature: 1 } as const;

/** Σ_v p·(log p − log(α·p + (1−α)·q)) per row, from log-probabilities, in log space. */
function skewKlRows(logP: tf.Tensor2D, logQ: tf.Tensor2D, alpha: number): tf.Tensor1D {
  if (alpha === 1) return tf.zeros([logP.shape[0]]);
  const logMix = alpha === 0 ? logQ : (tf.logSumExp(tf.stack([tf.add(logP, Math.log(alpha)), tf.add(logQ, Math.log(1 - alpha))]), 0) as tf.Tensor2D);
  return tf.sum(tf.mul(tf.exp(logP), tf.sub(logP, logMix)), 1) as tf.Tensor1D;
}

function skew(what: string, first: "teacher" | "student", s: tf.Tensor2D, t: tf.Tensor2D, mask: tf.Tensor1D | null, opts: SkewKlOptions): tf.Scalar {
  const { alpha, temperature: T } = { ...SKEW_KL_DEFAULTS, ...opts };
  pairChecks(what, s, t, mask, T);
  if (!(alpha >= 0 && alpha <= 1)) throw new Error(`${what}: alpha must be in [0, 1], got ${alpha}`);
  return tf.tidy(() => {
    const logPs = tf.logSoftmax(tf.div(s, T)) as tf.Tensor2D;
    const logPt = tf.logSoftmax(tf.div(t, T)) as tf.Tensor2D;
    const rows = first === "teacher" ? skewKlRows(logPt, logPs, alpha) : skewKlRows(logPs, logPt, alpha);
    return tf.mul(maskedTokenMean(rows, mask), T * T) as tf.Scalar;
  });
}

// L = T²·mean_{n∈M} KL(P_T ‖ α·P_T + (1−α)·P_S)
/** Skew KL (DistiLLM, Ko et al. 2024): the student's distribution mixed with α of the teacher's, which bounds the gradient. */
export function tokenSkewKl(studentLogits: tf.Tensor2D, teacherLogits: tf.Tensor2D, mask: tf.Tensor1D | null, opts: SkewKlOptions = {}): tf.Scalar {
  return skew("tokenSkewKl", "teacher", studentLogits, teacherLogits, mask, opts);
}

// L = T²·mean_{n∈M} KL(P_S ‖ α·P_S + (1−α)·P_T)
/** Skew reverse KL (DistiLLM): the roles of teacher and student swapped. */
export function tokenSkewReverseKl(studentLogits: tf.Tensor2D, teacherLogits: tf.Tensor2D, mask: tf.Tensor1D | null, opts: SkewKlOptions = {}): tf.Scalar {
  return skew("tokenSkewReverseKl", "student", studentLogits, teacherLogits, mask, opts);
}

export interface TokenTopKOptions extends TokenLossOptions {
  /** "bucket" (default): the teacher's missing mass is one extra outcome; "uniform": spread over the other tokens. */
  tail?: TopKTail;
  /** [N] the teacher's mass outside its top-k, when stored (a top-k cache); default 1 − Σ exp(topLogprobs). */
  tailMass?: tf.Tensor1D;
}

// L = T²·mean_{n∈M} KL(q_T,n ‖ q_S,n),  bucket: q_T = [p_1..p_k, r] (r = 1 − Σ_k p, the tail bucket), q_S = [P_S on the same k ids, Σ_rest P_S]; at T ≠ 1 tempered as topKKd
/**
 * Top-k KD per token against the teacher's top-k (token id, log-probability at T = 1) — what a top-k logit cache
 * or an API's top-logprobs give. Convention: the tail mass r is kept as one "other" bucket (not renormalised
 * away, not spread), compared with the student's total probability outside the teacher's top-k; with
 * tail = "uniform" it is spread evenly over the other tokens instead. The tempering at T ≠ 1 and the r ≈ 0 rule
 * are response.ts's topKKd (reused per token).
 */
export function tokenTopKKd(studentLogits: tf.Tensor2D, topIndices: tf.Tensor2D, topLogprobs: tf.Tensor2D, mask: tf.Tensor1D | null, opts: TokenTopKOptions = {}): tf.Scalar {
  const { temperature = 1, tail = "bucket", tailMass } = opts;
  checkMask("tokenTopKKd", studentLogits.shape[0], mask);
  return tf.tidy(() => maskedTokenMean(topKKdRows(studentLogits, topIndices, topLogprobs, { temperature, tail, tailMass }), mask));
}

/** log P_S(y_n) for each row: [N, V] logits, [N] int32 ids (a one-hot product: wasm has no gather gradient). */
export function tokenLogprobs(logits: tf.Tensor2D, ids: tf.Tensor1D): tf.Tensor1D {
  return tf.tidy(() => tf.sum(tf.mul(tf.logSoftmax(logits), tf.oneHot(tf.cast(ids, "int32"), logits.shape[1])), 1) as tf.Tensor1D);
}

function idChecks(what: string, logits: tf.Tensor2D, ids: tf.Tensor1D, mask: tf.Tensor1D | null): void {
  assertRank(what, logits, 2, "student logits");
  if (ids.rank !== 1 || ids.shape[0] !== logits.shape[0]) throw new Error(`${what}: token ids shape ${shapeOf(ids)} does not fit student logits shape ${shapeOf(logits)} (need [${logits.shape[0]}])`);
  checkMask(what, logits.shape[0], mask);
}

// L = −mean_{n∈M} log P_S(y_n)
/** Next-token cross-entropy on given targets [N] (int32; a negative target counts as masked out). */
export function tokenCrossEntropy(studentLogits: tf.Tensor2D, targets: tf.Tensor1D, mask: tf.Tensor1D | null): tf.Scalar {
  idChecks("tokenCrossEntropy", studentLogits, targets, mask);
  return tf.tidy(() => {
    const valid = tf.cast(tf.greaterEqual(targets, 0), "float32") as tf.Tensor1D;
    const keep = mask ? (tf.mul(tf.cast(mask, "float32"), valid) as tf.Tensor1D) : valid;
    return tf.neg(maskedTokenMean(tokenLogprobs(studentLogits, tf.maximum(targets, 0) as tf.Tensor1D), keep)) as tf.Scalar;
  });
}

// L = −mean_{n∈M} sg(r_n)·log P_S(y_n),  r_n = log P_T(y_n) − log P_S(y_n),  y_n sampled from the student, sg = no gradient
/**
 * Sampled-token reverse KL for black-box teachers (REINFORCE): the student sampled y, the teacher scored only those
 * tokens (`teacherLogprobs` [N], e.g. an API's echo + logprobs). The reward is not differentiated, so
 * ∇L = −mean r_n·∇log P_S(y_n), an unbiased estimate of ∇ reverse KL when y ~ P_S (sampling at T = 1). Its value
 * is a surrogate, not the divergence; `sampledReverseKlEstimate` gives the estimate −mean r.
 */
export function sampledTokenReverseKl(studentLogits: tf.Tensor2D, sampledIds: tf.Tensor1D, teacherLogprobs: tf.Tensor1D, mask: tf.Tensor1D | null): tf.Scalar {
  const what = "sampledTokenReverseKl";
  idChecks(what, studentLogits, sampledIds, mask);
  assertSameShape(what, sampledIds, teacherLogprobs, "sampled ids", "teacher log-probs");
  return tf.tidy(() => {
    const logPs = tokenLogprobs(studentLogits, sampledIds);
    const reward = stopGradient(tf.sub(tf.cast(teacherLogprobs, "float32"), logPs) as tf.Tensor1D);
    return tf.neg(maskedTokenMean(tf.mul(reward, logPs) as tf.Tensor1D, mask)) as tf.Scalar;
  });
}

// KL̂(P_S ‖ P_T) = mean_{n∈M} (log P_S(y_n) − log P_T(y_n)) for y ~ P_S
/** The Monte-Carlo estimate of the reverse KL that sampledTokenReverseKl descends (for logging). */
export function sampledReverseKlEstimate(studentLogits: tf.Tensor2D, sampledIds: tf.Tensor1D, teacherLogprobs: tf.Tensor1D, mask: tf.Tensor1D | null): tf.Scalar {
  idChecks("sampledReverseKlEstimate", studentLogits, sampledIds, mask);
  return tf.tidy(() => maskedTokenMean(tf.sub(tokenLogprobs(studentLogits, sampledIds), tf.cast(teacherLogprobs, "float32")) as tf.Tensor1D, mask));
}

export interface TokenMaskOptions {
  /** Targets equal to this id (padding) are left out. */
  padId?: number | null;
  /** Per window: how many leading tokens are prompt; positions predicting a prompt token are left out. */
  promptLengths?: ArrayLike<number>;
}

/**
 * The token mask [N = B·T] for windows x [B, T] followed by y [B] (see nextTokenTargets): position t predicts
 * token t+1 of the (T+1)-token window and is kept when that token is neither padding nor part of the prompt
 * (index t+1 < promptLengths[b]).
 */
export function nextTokenMask(x: tf.Tensor, y: tf.Tensor1D, opts: TokenMaskOptions = {}): tf.Tensor1D {
  if (x.rank !== 2) throw new Error(`nextTokenMask: expected token ids [batch, tokens], got shape ${shapeOf(x)}`);
  const [B, T] = x.shape as [number, number];
  if (y.rank !== 1 || y.shape[0] !== B) throw new Error(`nextTokenMask: next tokens shape ${shapeOf(y)} does not fit ids shape ${shapeOf(x)} (need [${B}])`);
  const { padId = null, promptLengths } = opts;
  if (promptLengths && promptLengths.length !== B) throw new Error(`nextTokenMask: ${promptLengths.length} prompt lengths for ${B} windows`);
  const xs = x.dataSync();
  const ys = y.dataSync();
  const m = new Float32Array(B * T);
  for (let b = 0; b < B; b++) {
    const prompt = promptLengths ? promptLengths[b] : 0;
    for (let t = 0; t < T; t++) {
      const target = t + 1 < T ? xs[b * T + t + 1] : ys[b];
      m[b * T + t] = t + 1 >= prompt && target !== padId ? 1 : 0;
    }
  }
  return tf.tensor1d(m);
}
