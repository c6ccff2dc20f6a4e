import * as tf from "@tensorflow/tfjs-core";
import { assertSameBatch, flattenBatch, l2NormalizeLastAxis, matMulBt, shapeOf } from "./loss-utils.js";
import { type Embeddings, type GradientCoefficients, rkdAngleKernel, rkdDistanceKernel } from "./rkd-kernels.js";

// Relation-based distillation losses: they compare how samples of a batch relate to each other, so student and
// teacher only need the same batch size (features are flattened per sample; widths may differ). Each returns a
// scalar. RKD runs as float64 loops (rkd-kernels.ts): O(B²·d + B³) time, O(B²) memory.

function batchOf(what: string, es: tf.Tensor, et: tf.Tensor, min: number): void {
  assertSameBatch(what, es, et);
  if (es.shape[0] < min) throw new Error(`${what}: needs a batch of at least ${min}, got student shape ${shapeOf(es)} and teacher shape ${shapeOf(et)}`);
}

/**
 * Wraps an RKD kernel (float64 loops) as a differentiable tf op on [B, d] inputs. The forward pass computes the
 * gradients as well: little more work than the value alone, and no second pass in the backward.
 */
function rkdOp(kernel: typeof rkdAngleKernel, es: tf.Tensor2D, et: tf.Tensor2D): tf.Scalar {
  const embeddings = (x: tf.Tensor): Embeddings => ({ rows: x.shape[0], width: x.shape[1] as number, values: new Float64Array(x.dataSync()) });
  const f = tf.customGrad(((s: tf.Tensor, t: tf.Tensor, save: tf.GradSaveFunc) => {
    const r = kernel(embeddings(s), embeddings(t));
    save([s, t]);
    return {
      value: tf.scalar(r.value),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const grad = (x: tf.Tensor, c: GradientCoefficients) => {
          const B = x.shape[0];
          const self = tf.tensor2d(new Float32Array(c.self), [B, 1]);
          const pairs = tf.tensor2d(new Float32Array(c.pairs), [B, B]);
          return tf.mul(tf.add(tf.mul(self, x), tf.matMul(pairs, x)), dy);
        };
        return [grad(saved[0], r.student), grad(saved[1], r.teacher)];
      },
    };
  }) as Parameters<typeof tf.customGrad>[0]);
  return f(es, et) as tf.Scalar;
}

// ---- RKD ----------------------------------------------------------------------------------------------------

// L_D = (1/B²)·Σ_{i,j} Huber(ψ_t(i,j) − ψ_s(i,j)),  ψ(i,j) = ‖e_i − e_j‖₂ / μ,  μ = (1/(B(B−1)))·Σ_{i≠j} ‖e_i − e_j‖₂
/**
 * RKD distance loss (Park et al. 2019), as in the reference code (RepDistiller / the authors'): distances are
 * divided by their mean over the B(B−1) ordered distinct pairs, squared distances are clamped at 1e-12 before
 * the square root (so coincident samples give finite gradients) and the diagonal is 0; the Huber (smooth-L1,
 * δ = 1) terms are averaged over all B×B entries of the distance matrix, the zero diagonal included (that is
 * F.smooth_l1_loss's default mean) — i.e. the sum over distinct pairs / B². Distances are computed from explicit
 * differences in float64, not ‖a‖² + ‖b‖² − 2ab (the reference's form), which loses precision in float32. The paper's
 * weight (25) is the caller's. Needs B ≥ 2.
 */
export function rkdDistance(es: tf.Tensor, et: tf.Tensor): tf.Scalar {
  const what = "rkdDistance";
  batchOf(what, es, et, 2);
  return tf.tidy(() => rkdOp(rkdDistanceKernel, flattenBatch(what, es, "embeddings"), flattenBatch(what, et, "embeddings")));
}

// L_A = (1/B³)·Σ_{i,j,k} Huber(ψ_t(i,j,k) − ψ_s(i,j,k)),  ψ(i,j,k) = ⟨(e_i − e_j)/‖e_i − e_j‖₂, (e_k − e_j)/‖e_k − e_j‖₂⟩
/**
 * RKD angle loss (Park et al. 2019), as in the reference code: for every vertex j the unit vectors to all i
 * (F.normalize, so the zero vector for i = j stays 0), all B³ cosines ψ(i,j,k), Huber (δ = 1) averaged over all
 * B³ entries. Degenerate triplets (i = j or k = j give 0, i = k gives 1, for student and teacher alike) add 0 to
 * the sum but count in the B³. Scale-invariant. The paper's weight (50) is the caller's. Needs B ≥ 2
 * (B ≥ 3 for a non-zero loss).
 */
export function rkdAngle(es: tf.Tensor, et: tf.Tensor): tf.Scalar {
  const what = "rkdAngle";
  batchOf(what, es, et, 2);
  return tf.tidy(() => rkdOp(rkdAngleKernel, flattenBatch(what, es, "embeddings"), flattenBatch(what, et, "embeddings")));
}

// ---- SP -----------------------------------------------------------------------------------------------------

// L = (1/B²)·‖G_t − G_s‖_F²,  G = row-L2-normalise(Q·Qᵀ),  Q = features flattened to [B, d]
/**
 * Similarity-preserving KD (Tung & Mori 2019), as in the reference: row normalisation is F.normalize
 * (÷ max(‖row‖, 1e-12)). The weight (3000 in RepDistiller) and the sum over layer pairs are the caller's. Only the
 * batch sizes must match.
 */
export function spLoss(fs: tf.Tensor, ft: tf.Tensor): tf.Scalar {
  const what = "spLoss";
  batchOf(what, fs, ft, 1);
  const B = fs.shape[0];
  return tf.tidy(() => {
    const gram = (f: tf.Tensor) => {
      const q = flattenBatch(what, f, "features");
      return l2NormalizeLastAxis(matMulBt(q, q));
    };
    return tf.div(tf.sum(tf.squaredDifference(gram(ft), gram(fs))), B * B) as tf.Scalar;
  });
}

// ---- CC -----------------------------------------------------------------------------------------------------

export interface CcOptions {
  /** RBF width γ > 0 in exp(−γ‖f_i − f_j‖²) (reference default 0.4). */
  gamma?: number;
  /** Order P ≥ 0 (integer) at which the Taylor series is cut (reference default 2). */
  order?: number;
}

export const CC_DEFAULTS = { gamma: 0.4, order: 2 } as const;

// L = (1/B²)·‖C_t − C_s‖_F²,  C_ij = Σ_{p=0}^{P} e^{−2γ}·(2γ)^p/p!·⟨f̂_i, f̂_j⟩^p,  f̂ = f/‖f‖₂
/**
 * Correlation congruence (Peng et al. 2019) with the P-order Taylor expansion of the Gaussian RBF kernel, as in
 * the CC implementation the authors shared (Knowledge-Distillation-Zoo, reused by later toolkits). Choices:
 * - embeddings are L2-normalised first (F.normalize): then ‖f̂_i − f̂_j‖² = 2 − 2⟨f̂_i, f̂_j⟩ and
 *   exp(−γ‖f̂_i − f̂_j‖²) = e^{−2γ}·e^{2γ⟨f̂_i, f̂_j⟩} exactly; only e^{2γ⟨·⟩} is truncated after order P;
 * - the p = 0 term is the same constant for student and teacher and cancels, but is kept so C is the kernel
 *   approximation itself;
 * - reduction: F.mse_loss over the B×B matrices, i.e. (1/B²)·‖C_t − C_s‖_F², diagonal included.
 * RepDistiller's `Correlation` class computes a different quantity (products of consecutive |f_s − f_t| rows)
 * and is not followed. Only batch sizes must match.
 */
export function ccLoss(es: tf.Tensor, et: tf.Tensor, opts: CcOptions = {}): tf.Scalar {
  const what = "ccLoss";
  const { gamma, order } = { ...CC_DEFAULTS, ...opts };
  if (!(gamma > 0) || !Number.isFinite(gamma)) throw new Error(`${what}: gamma must be a finite number > 0, got ${gamma}`);
  if (!Number.isInteger(order) || order < 0) throw new Error(`${what}: order must be an integer ≥ 0, got ${order}`);
  batchOf(what, es, et, 1);
  return tf.tidy(() => {
    const correlation = (f: tf.Tensor) => {
      const x = l2NormalizeLastAxis(flattenBatch(what, f, "embeddings")) as tf.Tensor2D;
      const sim = matMulBt(x, x);
      let power: tf.Tensor = tf.onesLike(sim);
      let coeff = Math.exp(-2 * gamma); // e^{−2γ}·(2γ)^p/p!
      let corr: tf.Tensor = tf.mul(power, coeff);
      for (let p = 1; p <= order; p++) {
        power = tf.mul(power, sim);
        coeff *= (2 * gamma) / p;
        corr = tf.add(corr, tf.mul(power, coeff));
      }
      return corr;
    };
    return tf.mean(tf.squaredDifference(correlation(et), correlation(es))) as tf.Scalar;
  });
}
