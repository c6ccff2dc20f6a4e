import * as tf from "@tensorflow/tfjs-core";
import { assertPositive, assertRank, assertSameBatch, assertSameShape, flattenBatch, l2NormalizeLastAxis, matMulBt, shapeOf } from "./loss-utils.js";

// Feature-based distillation losses: functions of intermediate student/teacher features. Student and teacher
// tensors are [B, ...]; feature maps are NHWC (TF.js layout). Each returns a scalar.

// ---- FitNets ------------------------------------------------------------------------------------------------

// L = (1/B)·Σ_i ½·‖f_t,i − r(f_s,i)‖²
/**
 * FitNets hint loss (Romero et al. 2015) on the already-projected student feature r(f_s) — the regressor r is
 * applied by the caller (projectLinear / projectConv1x1 or any layer). ½ times the squared L2 distance per sample
 * (all non-batch dimensions flattened), averaged over the batch. (RepDistiller's HintLoss uses nn.MSELoss, the
 * mean over all elements: that is this value × 2/D for D features per sample.) Shapes must be equal.
 */
export function fitnetsHint(studentFeatureProjected: tf.Tensor, teacherFeature: tf.Tensor): tf.Scalar {
  const what = "fitnetsHint";
  assertSameShape(what, studentFeatureProjected, teacherFeature, "projected student", "teacher");
  if (studentFeatureProjected.rank < 2) throw new Error(`${what}: features must be [batch, ...] (rank ≥ 2), got shape ${shapeOf(studentFeatureProjected)}`);
  return tf.tidy(() => {
    const d = tf.squaredDifference(flattenBatch(what, teacherFeature, "teacher"), flattenBatch(what, studentFeatureProjected, "student"));
    return tf.mul(tf.mean(tf.sum(d, 1)), 0.5) as tf.Scalar;
  });
}

// r(x) = x·W + b,  x [N, d_in], W [d_in, d_out], b [d_out]
/** Linear projector for FitNets-style hints (a pure function: W and b are the caller's variables). */
export function projectLinear(x: tf.Tensor2D, W: tf.Tensor2D, b: tf.Tensor1D | null = null): tf.Tensor2D {
  const what = "projectLinear";
  assertRank(what, x, 2, "x");
  assertRank(what, W, 2, "W");
  if (x.shape[1] !== W.shape[0]) throw new Error(`${what}: x shape ${shapeOf(x)} does not fit W shape ${shapeOf(W)} (x's last dimension must equal W's first)`);
  if (b && (b.rank !== 1 || b.shape[0] !== W.shape[1])) throw new Error(`${what}: bias shape ${shapeOf(b)} does not fit W shape ${shapeOf(W)} (expected [${W.shape[1]}])`);
  return tf.tidy(() => {
    const y = tf.matMul(x, W);
    return (b ? tf.add(y, b) : y) as tf.Tensor2D;
  });
}

// r(x)[n,h,w,:] = x[n,h,w,:]·W + b,  x NHWC [B, H, W, C_in], W [C_in, C_out] (or a conv filter [1, 1, C_in, C_out]), b [C_out]
/** 1×1-convolution projector for NHWC feature maps, written as one matMul over all B·H·W positions. */
export function projectConv1x1(x: tf.Tensor4D, W: tf.Tensor2D | tf.Tensor4D, b: tf.Tensor1D | null = null): tf.Tensor4D {
  const what = "projectConv1x1";
  assertRank(what, x, 4, "x (NHWC)");
  if (W.rank === 4 && (W.shape[0] !== 1 || W.shape[1] !== 1)) throw new Error(`${what}: a 4-D W must be a 1×1 filter [1, 1, C_in, C_out], got shape ${shapeOf(W)}`);
  if (W.rank !== 2 && W.rank !== 4) throw new Error(`${what}: W must be [C_in, C_out] or [1, 1, C_in, C_out], got shape ${shapeOf(W)}`);
  const cin = W.shape[W.rank - 2];
  const cout = W.shape[W.rank - 1];
  if (x.shape[3] !== cin) throw new Error(`${what}: x shape ${shapeOf(x)} does not fit W shape ${shapeOf(W)} (x has ${x.shape[3]} channels, W expects ${cin})`);
  if (b && (b.rank !== 1 || b.shape[0] !== cout)) throw new Error(`${what}: bias shape ${shapeOf(b)} does not fit W shape ${shapeOf(W)} (expected [${cout}])`);
  const [B, H, Wd] = x.shape;
  return tf.tidy(() => {
    const y = projectLinear(tf.reshape(x, [B * H * Wd, cin]) as tf.Tensor2D, tf.reshape(W, [cin, cout]) as tf.Tensor2D, b);
    return tf.reshape(y, [B, H, Wd, cout]) as tf.Tensor4D;
  });
}

// ---- Attention transfer -------------------------------------------------------------------------------------

export interface AttentionTransferOptions {
  /** Exponent p > 0 of the attention map Σ_c |A_c|^p (paper and reference: 2). */
  p?: number;
}

// L = (1/(B·H·W))·Σ_i ‖Q_s,i/‖Q_s,i‖₂ − Q_t,i/‖Q_t,i‖₂‖²,  Q_i = vec(Σ_c |A_i[:,:,c]|^p)
/**
 * Attention transfer (Zagoruyko & Komodakis 2017) for one pair of NHWC maps. Q sums |A|^p over channels (the
 * reference code takes the mean of A^p over channels, which only rescales Q and is removed by the
 * normalisation; |·| matters only for odd p). The per-sample L2 normalisation is F.normalize's
 * x / max(‖x‖, 1e-12), and the reduction is the reference's: the mean of the squared difference over all B·H·W
 * entries (not the paper's (β/2)·‖·‖₂). The weight (β = 1000 in the reference) and the sum over layer pairs are
 * left to the caller. Channel counts may differ; batch and spatial sizes must be equal (resize or pool first —
 * the reference adaptive-average-pools the larger map). p < 1 gives an infinite gradient at exact zeros.
 */
export function attentionTransfer(fs: tf.Tensor4D, ft: tf.Tensor4D, opts: AttentionTransferOptions = {}): tf.Scalar {
  const what = "attentionTransfer";
  const p = opts.p ?? 2;
  assertPositive(what, "p", p);
  assertRank(what, fs, 4, "student map (NHWC)");
  assertRank(what, ft, 4, "teacher map (NHWC)");
  if (fs.shape[0] !== ft.shape[0] || fs.shape[1] !== ft.shape[1] || fs.shape[2] !== ft.shape[2]) {
    throw new Error(
      `${what}: student map ${shapeOf(fs)} and teacher map ${shapeOf(ft)} (NHWC) need the same batch and spatial size ` +
        `(got ${fs.shape[1]}×${fs.shape[2]} vs ${ft.shape[1]}×${ft.shape[2]}); resize or pool one of them first`,
    );
  }
  return tf.tidy(() => {
    const attention = (a: tf.Tensor4D) => {
      const powered = p === 2 ? tf.square(a) : tf.pow(tf.abs(a), p);
      const q = tf.sum(powered, 3); // [B, H, W]
      return l2NormalizeLastAxis(tf.reshape(q, [a.shape[0], -1]));
    };
    return tf.mean(tf.squaredDifference(attention(fs), attention(ft))) as tf.Scalar;
  });
}

// ---- PKT ----------------------------------------------------------------------------------------------------

export interface PktOptions {
  /** ε in the feature normalisation x/(‖x‖ + ε) and in log((p_t + ε)/(p_s + ε)) (reference: 1e-7). */
  eps?: number;
}

// L = (1/B)·Σ_i Σ_j p^t_{j|i}·log((p^t_{j|i} + ε)/(p^s_{j|i} + ε)),  p_{j|i} = K_ij / Σ_k K_ik,  K_ij = (cos(f_i, f_j) + 1)/2
/**
 * Probabilistic knowledge transfer (Passalis & Tefas 2018) with the cosine kernel. As in the reference code,
 * features (flattened per sample) are divided by ‖f‖ + ε, the self-similarity j = i is included in p_{·|i}, and
 * ε appears inside the log. Reduction: the per-anchor KL summed over j and averaged over the B anchors
 * (batch-mean); the reference takes torch.mean over the B×B matrix, i.e. this value / B — divide a weight tuned
 * there (e.g. RepDistiller's 30000) by B. Feature widths may differ; batch sizes must match.
 */
export function pktLoss(fs: tf.Tensor, ft: tf.Tensor, opts: PktOptions = {}): tf.Scalar {
  const what = "pktLoss";
  const eps = opts.eps ?? 1e-7;
  if (!(eps >= 0) || !Number.isFinite(eps)) throw new Error(`${what}: eps must be a finite number ≥ 0, got ${eps}`);
  assertSameBatch(what, fs, ft);
  return tf.tidy(() => {
    const conditional = (f: tf.Tensor) => {
      const x = flattenBatch(what, f, "features");
      const norm = tf.sqrt(tf.maximum(tf.sum(tf.square(x), 1, true), 1e-30));
      const xn = tf.div(x, tf.add(norm, eps)) as tf.Tensor2D;
      const k = tf.div(tf.add(matMulBt(xn, xn), 1), 2);
      return tf.div(k, tf.sum(k, 1, true));
    };
    const ps = conditional(fs);
    const pt = conditional(ft);
    const kl = tf.sum(tf.mul(pt, tf.log(tf.div(tf.add(pt, eps), tf.add(ps, eps)))), 1);
    return tf.mean(kl) as tf.Scalar;
  });
}

// ---- cosine on hidden states --------------------------------------------------------------------------------

// L = mean over positions of 1 − ⟨h_s, h_t⟩ / √((‖h_s‖² + ε)(‖h_t‖² + ε)),  ε = 1e-12, along the last axis
/**
 * Cosine loss on hidden states (DistilBERT's nn.CosineEmbeddingLoss with target 1, same ε form). The last axis
 * is the feature axis; the mean runs over all other positions (e.g. B·L tokens for [B, L, d]) — drop padding
 * positions before calling. Shapes must be equal (project the student first if widths differ).
 */
export function cosineHidden(hs: tf.Tensor, ht: tf.Tensor): tf.Scalar {
  const what = "cosineHidden";
  assertSameShape(what, hs, ht);
  if (hs.rank < 2) throw new Error(`${what}: hidden states must be [batch, ..., width] (rank ≥ 2), got shape ${shapeOf(hs)}`);
  return tf.tidy(() => {
    const eps = 1e-12;
    const dot = tf.sum(tf.mul(hs, ht), -1);
    const den = tf.sqrt(tf.mul(tf.add(tf.sum(tf.square(hs), -1), eps), tf.add(tf.sum(tf.square(ht), -1), eps)));
    return tf.mean(tf.sub(1, tf.div(dot, den))) as tf.Scalar;
  });
}
