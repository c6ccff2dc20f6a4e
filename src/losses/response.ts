import * as tf from "@tensorflow/tfjs-core";
import { MASK_NEG, assertFiniteNonNegative, assertPositive, assertRank, assertSameShape, shapeOf } from "./loss-utils.js";

// Response-based distillation losses: functions of the student's and the teacher's logits (or the teacher's
// top-k log-probabilities). Each returns a scalar; the teacher side is not detached (TF.js has no stopGradient),
// so differentiate with respect to the student's tensors only, as tf.grad / tf.variableGrads on the student do.

/** Σ_c p·(log p − log q) per row, from log-probabilities (rows that are exact distributions). */
function klRows(logP: tf.Tensor2D, logQ: tf.Tensor2D): tf.Tensor1D {
  return tf.sum(tf.mul(tf.exp(logP), tf.sub(logP, logQ)), 1) as tf.Tensor1D;
}

function assertLogitPair(what: string, s: tf.Tensor, t: tf.Tensor): void {
  assertRank(what, s, 2, "student logits");
  assertSameShape(what, s, t);
}

// ---- logit MSE ----------------------------------------------------------------------------------------------

// L = (1/(B·C))·Σ_{i,c} (s[i,c] − t[i,c])²
/**
 * Logit matching (Ba & Caruana 2014; the high-temperature limit of KD for zero-mean logits). Reduction: the mean
 * over all B·C elements, as in methods.md ("mean (s − t)²") and PyTorch's F.mse_loss default, not a per-sample sum.
 * Any shape is accepted as long as student and teacher shapes are equal.
 */
export function logitMse(studentLogits: tf.Tensor, teacherLogits: tf.Tensor): tf.Scalar {
  assertSameShape("logitMse", studentLogits, teacherLogits);
  return tf.tidy(() => tf.mean(tf.squaredDifference(studentLogits, teacherLogits)) as tf.Scalar);
}

// ---- DKD ----------------------------------------------------------------------------------------------------

export interface DkdOptions {
  /** Weight of TCKD (reference default 1). */
  alpha?: number;
  /** Weight of NCKD (reference default 8). */
  beta?: number;
  /** Softmax temperature T > 0 (reference default 4). */
  temperature?: number;
}

/** Reference defaults of Zhao et al. (2022) / mdistiller for CIFAR-100. */
export const DKD_DEFAULTS = { alpha: 1, beta: 8, temperature: 4 } as const;

// L = T²·(α·KL(b_t ‖ b_s) + β·KL(p̂_t ‖ p̂_s)),  b = [p_gt, 1 − p_gt] of softmax(z/T),  p̂ = softmax(z/T) over the non-target classes; batch-mean
/**
 * Decoupled KD (Zhao et al. 2022): TCKD + NCKD only, scaled by T², averaged over the batch (the reference
 * divides the summed KL by the batch size). The paper's full objective is CE + warmup(epoch)·(this); the CE term
 * and the linear warm-up (20 epochs in the reference) are NOT included here — the caller adds them.
 *
 * Numerics: log b^{¬gt} = logsumexp of the non-target log-probabilities (no 1 − p cancellation) and p̂ is a
 * log-softmax with the target logit pushed to −1e9, so its probability is exactly 0 (the reference pushes by
 * −1000, which can leak at large logits); the target column is also masked out of the NCKD sum.
 * Labels are class indices (int32 or float, cast like crossEntropy); −1 (an unlabelled transfer sample) uses the
 * teacher's top class as the target.
 */
export function dkdLoss(studentLogits: tf.Tensor2D, teacherLogits: tf.Tensor2D, labels: tf.Tensor1D, opts: DkdOptions = {}): tf.Scalar {
  const what = "dkdLoss";
  const { alpha, beta, temperature: T } = { ...DKD_DEFAULTS, ...opts };
  assertLogitPair(what, studentLogits, teacherLogits);
  assertPositive(what, "temperature", T);
  assertFiniteNonNegative(what, "alpha", alpha);
  assertFiniteNonNegative(what, "beta", beta);
  const [B, C] = studentLogits.shape;
  if (C < 2) throw new Error(`${what}: needs at least 2 classes, got logits of shape ${shapeOf(studentLogits)}`);
  if (labels.rank !== 1 || labels.shape[0] !== B) {
    throw new Error(`${what}: labels shape ${shapeOf(labels)} does not match logits shape ${shapeOf(studentLogits)} (expected [${B}])`);
  }
  return tf.tidy(() => {
    // Unlabelled transfer rows (label −1) take the teacher's top class as their target: without a target class the
    // TCKD/NCKD split does not exist (a zero one-hot row would turn the row into plain KD weighted by β).
    const y = tf.cast(labels, "int32");
    const target = tf.where(tf.greaterEqual(y, 0), y, tf.cast(tf.argMax(teacherLogits, 1), "int32"));
    const gt = tf.cast(tf.oneHot(target as tf.Tensor1D, C), "float32") as tf.Tensor2D;
    const other = tf.sub(1, gt) as tf.Tensor2D;
    const gtPush = tf.mul(gt, MASK_NEG);
    const parts = (z: tf.Tensor2D) => {
      const logP = tf.logSoftmax(tf.div(z, T)) as tf.Tensor2D;
      const logBgt = tf.sum(tf.mul(logP, gt), 1);
      const logBother = tf.logSumExp(tf.add(logP, gtPush), 1);
      const logPhat = tf.logSoftmax(tf.add(tf.div(z, T), gtPush)) as tf.Tensor2D;
      return { logBgt, logBother, logPhat };
    };
    const s = parts(studentLogits);
    const t = parts(teacherLogits);
    const tckd = tf.add(
      tf.mul(tf.exp(t.logBgt), tf.sub(t.logBgt, s.logBgt)),
      tf.mul(tf.exp(t.logBother), tf.sub(t.logBother, s.logBother)),
    );
    const nckd = tf.sum(tf.mul(tf.mul(tf.exp(t.logPhat), tf.sub(t.logPhat, s.logPhat)), other), 1);
    const perSample = tf.add(tf.mul(tckd, alpha), tf.mul(nckd, beta));
    return tf.mul(tf.mean(perSample), T * T) as tf.Scalar;
  });
}

// ---- DIST ---------------------------------------------------------------------------------------------------

export interface DistOptions {
  /** Weight of the inter-class (per-sample, across classes) relation (default 1). */
  beta?: number;
  /** Weight of the intra-class (per-class, across the batch) relation (default 1). */
  gamma?: number;
  /** Softmax temperature τ > 0 (default 1). */
  tau?: number;
}

/** Defaults of the DIST reference implementation (β = γ = 1, τ = 1; the paper also uses β = γ = 2). */
export const DIST_DEFAULTS = { beta: 1, gamma: 1, tau: 1 } as const;

/** ε in the Pearson denominator, as in the DIST reference: ρ = ⟨a−ā, b−b̄⟩ / (‖a−ā‖·‖b−b̄‖ + 1e-8). */
export const DIST_EPS = 1e-8;

// ρ(a, b) = ⟨a − ā, b − b̄⟩ / (‖a − ā‖₂·‖b − b̄‖₂ + ε), one value per row
function pearsonRows(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor1D {
  const ac = tf.sub(a, tf.mean(a, 1, true));
  const bc = tf.sub(b, tf.mean(b, 1, true));
  // sqrt(max(Σx², 1e-30)): the same value for any non-degenerate row, and a zero (not NaN) gradient for a
  // constant row, like PyTorch's norm backward at 0.
  const norm = (x: tf.Tensor) => tf.sqrt(tf.maximum(tf.sum(tf.square(x), 1), 1e-30));
  return tf.div(tf.sum(tf.mul(ac, bc), 1), tf.add(tf.mul(norm(ac), norm(bc)), DIST_EPS)) as tf.Tensor1D;
}

// R = β·(1/B)·Σ_i [1 − ρ(Y_s[i,:], Y_t[i,:])] + γ·(1/C)·Σ_c [1 − ρ(Y_s[:,c], Y_t[:,c])]
/**
 * DIST's relation term on given prediction matrices [B, C] (usually probabilities), without τ². Exposed so the
 * Pearson-based part can be used (and tested) on its own; distLoss applies it to softmax(z/τ).
 * The intra-class term needs B ≥ 2 (a column of one value has no correlation: ρ = 0 there).
 */
export function distRelation(ys: tf.Tensor2D, yt: tf.Tensor2D, opts: { beta?: number; gamma?: number } = {}): tf.Scalar {
  const what = "distRelation";
  const { beta, gamma } = { ...DIST_DEFAULTS, ...opts };
  assertLogitPair(what, ys, yt);
  assertFiniteNonNegative(what, "beta", beta);
  assertFiniteNonNegative(what, "gamma", gamma);
  return tf.tidy(() => {
    const inter = tf.sub(1, tf.mean(pearsonRows(ys, yt)));
    const intra = tf.sub(1, tf.mean(pearsonRows(tf.transpose(ys), tf.transpose(yt))));
    return tf.add(tf.mul(inter, beta), tf.mul(intra, gamma)) as tf.Scalar;
  });
}

// L = τ²·(β·(1/B)·Σ_i [1 − ρ(Y_s[i,:], Y_t[i,:])] + γ·(1/C)·Σ_c [1 − ρ(Y_s[:,c], Y_t[:,c])]),  Y = softmax(Z/τ)
/**
 * DIST (Huang et al. 2022), the distillation term only (the paper's objective adds CE; the caller does that).
 * ρ is the Pearson correlation with the reference's ε = 1e-8 in the denominator, so DIST(s, s) is ≈ 0 (of order
 * ε/‖Y−Ȳ‖², not exactly 0).
 */
export function distLoss(studentLogits: tf.Tensor2D, teacherLogits: tf.Tensor2D, opts: DistOptions = {}): tf.Scalar {
  const what = "distLoss";
  const { beta, gamma, tau } = { ...DIST_DEFAULTS, ...opts };
  assertLogitPair(what, studentLogits, teacherLogits);
  assertPositive(what, "tau", tau);
  return tf.tidy(() => {
    const ys = tf.softmax(tf.div(studentLogits, tau)) as tf.Tensor2D;
    const yt = tf.softmax(tf.div(teacherLogits, tau)) as tf.Tensor2D;
    return tf.mul(distRelation(ys, yt, { beta, gamma }), tau * tau) as tf.Scalar;
  });
}

// ---- generalised JSD ----------------------------------------------------------------------------------------

export interface GeneralizedJsdOptions {
  /** Interpolation β ∈ [0, 1] (GKD default 0.5). β = 0: forward KL(P_t‖P_s); β = 1: reverse KL(P_s‖P_t). */
  beta?: number;
  /** Softmax temperature T > 0 applied to both logits (default 1). */
  temperature?: number;
}

export const GENERALIZED_JSD_DEFAULTS = { beta: 0.5, temperature: 1 } as const;

// JSD_β = (1/B)·Σ_i [β·KL(P_t ‖ M) + (1−β)·KL(P_s ‖ M)],  M = β·P_t + (1−β)·P_s,  P = softmax(z/T);  β=0: KL(P_t‖P_s), β=1: KL(P_s‖P_t)
/**
 * Generalised Jensen–Shannon divergence of GKD (Agarwal et al. 2024), following TRL's GKDTrainer convention:
 * - 0 < β < 1: the formula above, log M = logsumexp(log P_t + log β, log P_s + log(1−β)) (no log of a sum of
 *   small probabilities);
 * - β = 0 and β = 1 are special-cased to forward KL(P_t‖P_s) and reverse KL(P_s‖P_t). The formula itself is 0 at
 *   both ends (M becomes P_s resp. P_t); what tends to those KLs is JSD_β/β as β → 0 and JSD_β/(1−β) as β → 1.
 *   So the value jumps at the endpoints, as in TRL; no log 0 is ever taken, hence no NaN at β = 0 or 1.
 * Reduction: the sum over classes, mean over the batch (TRL's "batchmean" for [B, C] logits). Like TRL, no T²
 * factor is applied.
 */
export function generalizedJsd(studentLogits: tf.Tensor2D, teacherLogits: tf.Tensor2D, opts: GeneralizedJsdOptions = {}): tf.Scalar {
  return tf.tidy(() => tf.mean(generalizedJsdRows(studentLogits, teacherLogits, opts)) as tf.Scalar);
}

/** generalizedJsd's per-row divergences [B] before the batch mean (sequence losses mask and average them per token). */
export function generalizedJsdRows(studentLogits: tf.Tensor2D, teacherLogits: tf.Tensor2D, opts: GeneralizedJsdOptions = {}): tf.Tensor1D {
  const what = "generalizedJsd";
  const { beta, temperature: T } = { ...GENERALIZED_JSD_DEFAULTS, ...opts };
  assertLogitPair(what, studentLogits, teacherLogits);
  assertPositive(what, "temperature", T);
  if (!(beta >= 0 && beta <= 1)) throw new Error(`${what}: beta must be in [0, 1], got ${beta}`);
  return tf.tidy(() => {
    const logPs = tf.logSoftmax(tf.div(studentLogits, T)) as tf.Tensor2D;
    const logPt = tf.logSoftmax(tf.div(teacherLogits, T)) as tf.Tensor2D;
    if (beta === 0) return klRows(logPt, logPs);
    if (beta === 1) return klRows(logPs, logPt);
    const logM = tf.logSumExp(tf.stack([tf.add(logPt, Math.log(beta)), tf.add(logPs, Math.log(1 - beta))]), 0) as tf.Tensor2D;
    return tf.add(tf.mul(klRows(logPt, logM), beta), tf.mul(klRows(logPs, logM), 1 - beta)) as tf.Tensor1D;
  });
}

// ---- top-k KD -----------------------------------------------------------------------------------------------

export type TopKTail = "uniform" | "bucket";

export interface TopKKdOptions {
  /** Temperature T > 0 applied to both the student's logits and the teacher's (reconstructed) distribution. */
  temperature: number;
  /**
   * How the teacher's missing mass r = 1 − Σ exp(topLogprobs) is used:
   * "uniform": spread evenly over the m = C − k classes outside the top-k, then a full C-class KL;
   * "bucket": kept as one extra outcome "other", compared with the student's total probability on those classes.
   */
  tail: TopKTail;
}

/** The r below which topKKd treats the teacher's tail as empty: 2·k·2⁻²³ (float32 rounding of 1 − Σ_k p). */
export function topKTailResolution(k: number): number {
  return 2 * k * 2 ** -23;
}

// L = T²·(1/B)·Σ_i KL(q_t,i ‖ q_s,i):  q_s = softmax(s/T) (uniform) or [softmax(s/T) on the top-k, Σ_rest] (bucket);  q_t ∝ [p_j^(1/T) (j in top-k), m·(r/m)^(1/T) (tail)],  r = 1 − Σ_j p_j
/**
 * KD from a teacher that reveals only its top-k classes per sample, as (index, log-probability) pairs — e.g. an
 * API returning top-k logprobs. `topLogprobs` must be log-probabilities of the teacher's full softmax at
 * temperature 1, so Σ exp(topLogprobs) ≤ 1; `topIndices` (int32, [B, k]) must hold k distinct classes per row.
 *
 * The teacher's distribution is rebuilt as follows (r is clamped to [0, 1], m = C − k):
 * - Tail model. The missing mass r is assumed to lie evenly on the m other classes, r/m each (the maximum-entropy
 *   completion). It is never dropped: with tail = "uniform" the student is matched on each of those classes;
 *   with tail = "bucket" only the student's total mass on them, Σ_{c∉top-k} softmax(s/T)_c, is matched.
 * - Temperature. p^(1/T) is renormalised over the known entries plus the tail classes of that model:
 *   q_j = p_j^(1/T)/Z for the top-k, each tail class gets (r/m)^(1/T)/Z, so the tail as a whole gets
 *   m·(r/m)^(1/T)/Z = m^(1−1/T)·r^(1/T)/Z, where Z = Σ_j p_j^(1/T) + m^(1−1/T)·r^(1/T). Both modes use this
 *   same tempered teacher; the bucket compares the aggregated tail. (Treating the bucket as a single class,
 *   r^(1/T), would shrink the teacher's tail by m^(1−1/T) relative to the student's aggregated tempered tail at
 *   T > 1.) At T = 1 it is exactly (p_1..p_k, r), and with no assumption at all in "bucket" mode. If the teacher's
 *   true full distribution really has a flat tail, this equals softmax(t/T) exactly.
 * - k = C: there is no tail; the known probabilities are renormalised (this only absorbs rounding) and the loss
 *   equals KD's soft term T²·KL(softmax(t/T) ‖ softmax(s/T)) in both modes.
 * - r ≤ 2·k·2⁻²³ (topKTailResolution: the float32 rounding of 1 − Σ p over k terms) is taken as r = 0; then with
 *   k < C the tail classes get probability 0 and contribute 0 (no 0·log 0). Without this, tempering would turn
 *   rounding noise into real mass (r = 1e-7 → r^(1/3) ≈ 5e-3 at T = 3).
 * Scale: T² like KD's soft term (kdLoss with α = 0), batch-mean over samples.
 */
export function topKKd(studentLogits: tf.Tensor2D, topIndices: tf.Tensor2D, topLogprobs: tf.Tensor2D, opts: TopKKdOptions): tf.Scalar {
  return tf.tidy(() => tf.mean(topKKdRows(studentLogits, topIndices, topLogprobs, opts)) as tf.Scalar);
}

/**
 * topKKd's per-row values T²·KL(q_t ‖ q_s) [B] before the batch mean. `tailMass` [B], when given, is the teacher's
 * missing mass r itself (e.g. stored by a top-k cache whose quantised log-probs would make 1 − Σ exp(·) noisy);
 * otherwise r = 1 − Σ exp(topLogprobs).
 */
export function topKKdRows(studentLogits: tf.Tensor2D, topIndices: tf.Tensor2D, topLogprobs: tf.Tensor2D, opts: TopKKdOptions & { tailMass?: tf.Tensor1D }): tf.Tensor1D {
  const what = "topKKd";
  const { temperature: T, tail } = opts;
  assertRank(what, studentLogits, 2, "student logits");
  assertRank(what, topIndices, 2, "topIndices");
  assertSameShape(what, topIndices, topLogprobs, "topIndices", "topLogprobs");
  assertPositive(what, "temperature", T);
  if (tail !== "uniform" && tail !== "bucket") throw new Error(`${what}: tail must be "uniform" or "bucket", got ${String(tail)}`);
  if (topIndices.dtype !== "int32") throw new Error(`${what}: topIndices must be an int32 tensor, got ${topIndices.dtype}`);
  const [B, C] = studentLogits.shape;
  const k = topIndices.shape[1];
  if (topIndices.shape[0] !== B || k < 1 || k > C) {
    throw new Error(`${what}: topIndices shape ${shapeOf(topIndices)} does not fit student logits shape ${shapeOf(studentLogits)} (need [${B}, k] with 1 ≤ k ≤ ${C})`);
  }
  if (opts.tailMass && (opts.tailMass.rank !== 1 || opts.tailMass.shape[0] !== B)) {
    throw new Error(`${what}: tailMass shape ${shapeOf(opts.tailMass)} does not fit student logits shape ${shapeOf(studentLogits)} (need [${B}])`);
  }
  const m = C - k;
  return tf.tidy(() => {
    // Dense [B, C] placement of the teacher's known entries (teacher side only: no gradient is needed through it).
    const rows = tf.tile(tf.reshape(tf.range(0, B, 1, "int32"), [B, 1]), [1, k]);
    const ndIdx = tf.reshape(tf.stack([rows, topIndices], 2), [B * k, 2]) as tf.Tensor2D;
    const scatter = (v: tf.Tensor) => tf.scatterND(ndIdx, tf.reshape(v, [B * k]), [B, C]) as tf.Tensor2D;

    // −∞ (a probability of exactly 0, as some APIs report) becomes −1e9: same probability, no 0·∞ = NaN.
    const lp = tf.maximum(tf.cast(topLogprobs, "float32"), -1e9) as tf.Tensor2D;
    const lpT = tf.div(lp, T) as tf.Tensor2D;
    let logZ: tf.Tensor1D;
    let logTail: tf.Tensor1D | null = null; // log of the tempered tail's total weight, −1e9 when r = 0
    if (m === 0) {
      logZ = tf.logSumExp(lpT, 1) as tf.Tensor1D;
    } else {
      const r = tf.clipByValue(opts.tailMass ? tf.cast(opts.tailMass, "float32") : tf.sub(1, tf.sum(tf.exp(lp), 1)), 0, 1);
      // r at or below the float32 rounding of a k-term sum near 1 is indistinguishable from 0 and is taken as 0:
      // at T > 1 the tempering m^(1−1/T)·r^(1/T) would otherwise blow rounding noise up (1e-7 → ~5e-3 at T = 3).
      const positive = tf.greater(r, topKTailResolution(k));
      const logR = tf.log(tf.where(positive, r, tf.onesLike(r)));
      logTail = tf.where(positive, tf.add(tf.div(logR, T), (1 - 1 / T) * Math.log(m)), tf.fill(r.shape, MASK_NEG)) as tf.Tensor1D;
      logZ = tf.logSumExp(tf.concat([lpT, tf.reshape(logTail, [B, 1])], 1), 1) as tf.Tensor1D;
    }
    const logQk = tf.sub(lpT, tf.reshape(logZ, [B, 1]));
    const qk = tf.exp(logQk);
    // Σ q·log q of the teacher (constant in the student, kept so the loss is a KL: 0 at a perfect match).
    let teacherNegEntropy = tf.sum(tf.mul(qk, logQk), 1);
    const logQs = tf.logSoftmax(tf.div(studentLogits, T)) as tf.Tensor2D;
    let cross = tf.sum(tf.mul(scatter(qk), logQs), 1); // Σ_{j ∈ top-k} q_j·log q_s,j
    if (logTail) {
      const logQtail = tf.sub(logTail, logZ); // ≈ −1e9 when r = 0: exp → 0 and 0·(−1e9) = 0
      const qTail = tf.exp(logQtail);
      const known = scatter(tf.onesLike(lp));
      if (tail === "uniform") {
        // Each tail class: q = qTail/m, so Σ q log q = qTail·(log qTail − log m), Σ q log q_s = (qTail/m)·Σ_rest log q_s.
        teacherNegEntropy = tf.add(teacherNegEntropy, tf.mul(qTail, tf.sub(logQtail, Math.log(m))));
        cross = tf.add(cross, tf.mul(tf.div(qTail, m), tf.sum(tf.mul(tf.sub(1, known), logQs), 1)));
      } else {
        // The student's log-mass outside the top-k, by logsumexp (not log(1 − Σ top-k), which cancels).
        const logQsTail = tf.logSumExp(tf.add(logQs, tf.mul(known, MASK_NEG)), 1);
        teacherNegEntropy = tf.add(teacherNegEntropy, tf.mul(qTail, logQtail));
        cross = tf.add(cross, tf.mul(qTail, logQsTail));
      }
    }
    return tf.mul(tf.sub(teacherNegEntropy, cross), T * T) as tf.Tensor1D;
  });
}
