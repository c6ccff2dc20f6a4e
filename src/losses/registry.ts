import * as tf from "@tensorflow/tfjs-core";
import { z } from "zod";
import { LOSS_OPTIONS } from "./loss-options.js";
import { crossEntropy } from "./cross-entropy.js";
import { kdLoss } from "./kd.js";
import { dkdLoss, distLoss, generalizedJsd, logitMse, topKKd } from "./response.js";
import { attentionTransfer, cosineHidden, fitnetsHint, pktLoss } from "./feature.js";
import { ccLoss, rkdAngle, rkdDistance, spLoss } from "./relation.js";
import { sampledTokenReverseKl, tokenCrossEntropy, tokenForwardKl, tokenJsd, tokenReverseKl, tokenSkewKl, tokenSkewReverseKl, tokenTopKKd } from "./sequence.js";

export type LossFamily = "hard" | "response" | "feature" | "relation";

/** What one term sees at a step. For "logits" terms student/teacher are the logits; for "layers" terms, the matched outputs. */
export interface TermInputs {
  student: tf.Tensor;
  teacher: tf.Tensor;
  studentLogits: tf.Tensor2D;
  teacherLogits: tf.Tensor2D;
  labels: tf.Tensor1D;
  /** Fractional epoch within the stage (for warm-ups inside a loss, e.g. DKD). */
  epoch: number;
  /** Per-token inputs of language-model distillation; given to (and required by) terms of granularity "token". */
  tokens?: TokenInputs;
}

/**
 * What a token-level term sees besides the logits, which then hold one row per token ([N = B·T, V]). A teacher
 * known only by its top-k (a cache) or its sampled tokens' log-probs (an API) gives no full `teacherLogits`.
 */
export interface TokenInputs {
  /** [N] 1 at the tokens a loss averages over (continuation, not padding), 0 at prompt and padding. */
  mask: tf.Tensor1D;
  /** [N] int32 next-token targets (−1 where there is none). */
  targets: tf.Tensor1D;
  /** The teacher's top-k per token: ids [N, k] int32, log-probabilities [N, k], and its mass outside them [N]. */
  teacherTopK?: { indices: tf.Tensor2D; logprobs: tf.Tensor2D; tailMass?: tf.Tensor1D };
  /** Tokens sampled from the student [N] (int32) and the teacher's log-probabilities of them [N]. */
  sampled?: { ids: tf.Tensor1D; teacherLogprobs: tf.Tensor1D };
}

/** What a token-level term needs from the teacher. */
export type TokenTeacherInput = "none" | "logits" | "logits-or-top-k" | "sampled-logprobs";

export interface LossDefinition {
  name: string;
  family: LossFamily;
  summary: string;
  /** "logits": reads the logits (or only the labels); "layers": a term names a student and a teacher layer. */
  reads: "logits" | "layers";
  /** Whether a learned projector may map the student's layer to the teacher's width (FitNets). */
  projectable: boolean;
  /**
   * "sample" (default): one value per sample, from [B, C] logits or layers. "token": a language-model term over
   * per-token logits [B·T, V] and `TermInputs.tokens` (mask, targets, teacher top-k or sampled log-probs).
   */
  granularity?: "sample" | "token";
  /** For token terms: which teacher output the term reads (a top-k cache can serve only "none" and "logits-or-top-k"). */
  tokenTeacher?: TokenTeacherInput;
  /** Options; numbers may be schedules (resolved to numbers at every step). */
  options: z.ZodObject;
  compute(inputs: TermInputs, options: Record<string, unknown>): tf.Scalar;
}

const REGISTRY = new Map<string, LossDefinition>();

/** Adds a loss kind; recipes refer to it by name. */
export function registerLoss(def: LossDefinition): void {
  if (REGISTRY.has(def.name)) throw new Error(`a loss named "${def.name}" is already registered`);
  REGISTRY.set(def.name, def);
}

export function getLoss(name: string): LossDefinition | undefined {
  return REGISTRY.get(name);
}

export function lossNames(): string[] {
  return [...REGISTRY.keys()];
}

export function listLosses(): LossDefinition[] {
  return [...REGISTRY.values()];
}

const n = (v: unknown) => v as number;

// ---- hard labels ----------------------------------------------------------------------------------------
registerLoss({
  name: "ce",
  family: "hard",
  summary: "cross-entropy with the hard labels (hybrid training: mix it with any distillation term)",
  reads: "logits",
  projectable: false,
  options: LOSS_OPTIONS["ce"],
  compute: (i) => crossEntropy(i.studentLogits, i.labels),
});

// ---- response-based -------------------------------------------------------------------------------------
registerLoss({
  name: "kd",
  family: "response",
  summary: "Hinton KD: α·CE(y, s) + (1−α)·T²·KL(softmax(t/T) ‖ softmax(s/T)); α weights the hard labels",
  reads: "logits",
  projectable: false,
  options: LOSS_OPTIONS["kd"],
  compute: (i, o) => kdLoss(i.studentLogits, i.teacherLogits, i.labels, { temperature: n(o.temperature), alpha: n(o.alpha) }),
});
registerLoss({
  name: "logit-mse",
  family: "response",
  summary: "mean squared difference of the logits (KD's high-temperature limit)",
  reads: "logits",
  projectable: false,
  options: LOSS_OPTIONS["logit-mse"],
  compute: (i) => logitMse(i.studentLogits, i.teacherLogits),
});
registerLoss({
  name: "dkd",
  family: "response",
  summary: "decoupled KD (Zhao et al. 2022): T²·(α·TCKD + β·NCKD), with a linear warm-up over warmupEpochs",
  reads: "logits",
  projectable: false,
  options: LOSS_OPTIONS["dkd"],
  compute: (i, o) => {
    const warm = n(o.warmupEpochs) > 0 ? Math.min(i.epoch / n(o.warmupEpochs), 1) : 1;
    return tf.tidy(() => tf.mul(dkdLoss(i.studentLogits, i.teacherLogits, i.labels, { alpha: n(o.alpha), beta: n(o.beta), temperature: n(o.temperature) }), warm) as tf.Scalar);
  },
});
registerLoss({
  name: "dist",
  family: "response",
  summary: "DIST (Huang et al. 2022): inter- and intra-class Pearson relations, τ²·(β·inter + γ·intra)",
  reads: "logits",
  projectable: false,
  options: LOSS_OPTIONS["dist"],
  compute: (i, o) => distLoss(i.studentLogits, i.teacherLogits, { beta: n(o.beta), gamma: n(o.gamma), tau: n(o.tau) }),
});
registerLoss({
  name: "jsd",
  family: "response",
  summary: "generalised JSD(β) (GKD): β = 0 forward KL(P_t‖P_s), β = 1 reverse KL(P_s‖P_t)",
  reads: "logits",
  projectable: false,
  options: LOSS_OPTIONS["jsd"],
  compute: (i, o) => generalizedJsd(i.studentLogits, i.teacherLogits, { beta: n(o.beta), temperature: n(o.temperature) }),
});
registerLoss({
  name: "topk-kd",
  family: "response",
  summary: "KD from the teacher's top-k log-probabilities only (as APIs give them); the tail mass is spread or bucketed",
  reads: "logits",
  projectable: false,
  options: LOSS_OPTIONS["topk-kd"],
  compute: (i, o) =>
    tf.tidy(() => {
      const k = Math.min(o.k as number, i.teacherLogits.shape[1]);
      const { values, indices } = tf.topk(tf.logSoftmax(i.teacherLogits), k);
      return topKKd(i.studentLogits, indices as tf.Tensor2D, values as tf.Tensor2D, { temperature: n(o.temperature), tail: o.tail as "uniform" | "bucket" });
    }),
});

// ---- feature-based --------------------------------------------------------------------------------------
registerLoss({
  name: "fitnets",
  family: "feature",
  summary: "FitNets hint: ½‖f_t − r(f_s)‖² with a learned projector r when widths differ",
  reads: "layers",
  projectable: true,
  options: LOSS_OPTIONS["fitnets"],
  compute: (i) => fitnetsHint(i.student, i.teacher),
});
registerLoss({
  name: "at",
  family: "feature",
  summary: "attention transfer (Zagoruyko & Komodakis 2017) on feature maps [B, H, W, C]",
  reads: "layers",
  projectable: false,
  options: LOSS_OPTIONS["at"],
  compute: (i, o) => attentionTransfer(i.student as tf.Tensor4D, i.teacher as tf.Tensor4D, { p: n(o.p) }),
});
registerLoss({
  name: "pkt",
  family: "feature",
  summary: "probabilistic knowledge transfer (Passalis & Tefas 2018): cosine-kernel conditional distributions",
  reads: "layers",
  projectable: false,
  options: LOSS_OPTIONS["pkt"],
  compute: (i, o) => pktLoss(i.student, i.teacher, { eps: n(o.eps) }),
});
registerLoss({
  name: "cosine",
  family: "feature",
  summary: "1 − cos(h_s, h_t) on hidden states (DistilBERT); a projector maps widths that differ",
  reads: "layers",
  projectable: true,
  options: LOSS_OPTIONS["cosine"],
  compute: (i) => cosineHidden(i.student, i.teacher),
});

// ---- relation-based -------------------------------------------------------------------------------------
registerLoss({
  name: "rkd-distance",
  family: "relation",
  summary: "RKD distance (Park et al. 2019): Huber on pairwise distances normalised by their mean",
  reads: "layers",
  projectable: false,
  options: LOSS_OPTIONS["rkd-distance"],
  compute: (i) => rkdDistance(i.student, i.teacher),
});
registerLoss({
  name: "rkd-angle",
  family: "relation",
  summary: "RKD angle (Park et al. 2019): Huber on the angles of sample triplets",
  reads: "layers",
  projectable: false,
  options: LOSS_OPTIONS["rkd-angle"],
  compute: (i) => rkdAngle(i.student, i.teacher),
});
registerLoss({
  name: "sp",
  family: "relation",
  summary: "similarity-preserving KD (Tung & Mori 2019): row-normalised Gram matrices of the batch",
  reads: "layers",
  projectable: false,
  options: LOSS_OPTIONS["sp"],
  compute: (i) => spLoss(i.student, i.teacher),
});
registerLoss({
  name: "cc",
  family: "relation",
  summary: "correlation congruence (Peng et al. 2019) with a Gaussian-RBF kernel expansion",
  reads: "layers",
  projectable: false,
  options: LOSS_OPTIONS["cc"],
  compute: (i, o) => ccLoss(i.student, i.teacher, { gamma: n(o.gamma), order: o.order as number }),
});


// ---- token-level (language models) ------------------------------------------------------------------------
/** The per-token inputs, or a one-line error naming the term. */
function tokensOf(name: string, i: TermInputs): TokenInputs {
  if (!i.tokens) throw new Error(`loss ${name} is a token-level term: it needs per-token logits and a token mask (a language-model student and teacher)`);
  return i.tokens;
}
const token = (def: Omit<LossDefinition, "reads" | "projectable" | "granularity">): void =>
  registerLoss({ ...def, reads: "logits", projectable: false, granularity: "token" });

token({
  name: "token-ce",
  family: "hard",
  summary: "next-token cross-entropy over the kept (continuation, non-padding) tokens",
  tokenTeacher: "none",
  options: LOSS_OPTIONS["token-ce"],
  compute: (i) => tokenCrossEntropy(i.studentLogits, tokensOf("token-ce", i).targets, tokensOf("token-ce", i).mask),
});
token({
  name: "token-kl",
  family: "response",
  summary: "forward KL per token, T²·KL(P_T ‖ P_S) (Kim & Rush token-level KD; mean-seeking)",
  tokenTeacher: "logits",
  options: LOSS_OPTIONS["token-kl"],
  compute: (i, o) => tokenForwardKl(i.studentLogits, i.teacherLogits, tokensOf("token-kl", i).mask, { temperature: n(o.temperature) }),
});
token({
  name: "token-reverse-kl",
  family: "response",
  summary: "reverse KL per token, T²·KL(P_S ‖ P_T) (MiniLLM's divergence; mode-seeking)",
  tokenTeacher: "logits",
  options: LOSS_OPTIONS["token-reverse-kl"],
  compute: (i, o) => tokenReverseKl(i.studentLogits, i.teacherLogits, tokensOf("token-reverse-kl", i).mask, { temperature: n(o.temperature) }),
});
token({
  name: "token-jsd",
  family: "response",
  summary: "generalised JSD(β) per token (GKD): β = 0 forward KL, β = 1 reverse KL",
  tokenTeacher: "logits",
  options: LOSS_OPTIONS["token-jsd"],
  compute: (i, o) => tokenJsd(i.studentLogits, i.teacherLogits, tokensOf("token-jsd", i).mask, { beta: n(o.beta), temperature: n(o.temperature) }),
});
token({
  name: "token-skew-kl",
  family: "response",
  summary: "skew KL per token (DistiLLM): KL(P_T ‖ α·P_T + (1−α)·P_S), α = 0.1",
  tokenTeacher: "logits",
  options: LOSS_OPTIONS["token-skew-kl"],
  compute: (i, o) => tokenSkewKl(i.studentLogits, i.teacherLogits, tokensOf("token-skew-kl", i).mask, { alpha: n(o.alpha), temperature: n(o.temperature) }),
});
token({
  name: "token-skew-reverse-kl",
  family: "response",
  summary: "skew reverse KL per token (DistiLLM): KL(P_S ‖ α·P_S + (1−α)·P_T), α = 0.1",
  tokenTeacher: "logits",
  options: LOSS_OPTIONS["token-skew-reverse-kl"],
  compute: (i, o) => tokenSkewReverseKl(i.studentLogits, i.teacherLogits, tokensOf("token-skew-reverse-kl", i).mask, { alpha: n(o.alpha), temperature: n(o.temperature) }),
});
token({
  name: "token-topk-kd",
  family: "response",
  summary: "top-k KD per token from the teacher's top-k log-probs (a cache's, or the top k of its logits) with a tail bucket",
  tokenTeacher: "logits-or-top-k",
  options: LOSS_OPTIONS["token-topk-kd"],
  compute: (i, o) =>
    tf.tidy(() => {
      const t = tokensOf("token-topk-kd", i);
      const opts = { temperature: n(o.temperature), tail: o.tail as "uniform" | "bucket" };
      if (t.teacherTopK) return tokenTopKKd(i.studentLogits, t.teacherTopK.indices, t.teacherTopK.logprobs, t.mask, { ...opts, tailMass: t.teacherTopK.tailMass });
      const { values, indices } = tf.topk(tf.logSoftmax(i.teacherLogits), Math.min(o.k as number, i.teacherLogits.shape[1]));
      return tokenTopKKd(i.studentLogits, indices as tf.Tensor2D, values as tf.Tensor2D, t.mask, opts);
    }),
});
token({
  name: "token-sampled-reverse-kl",
  family: "response",
  summary: "sampled-token reverse KL for black-box teachers: −Σ r_t·log P_S(y_t), r_t = log P_T(y_t) − log P_S(y_t) (REINFORCE)",
  tokenTeacher: "sampled-logprobs",
  options: LOSS_OPTIONS["token-sampled-reverse-kl"],
  compute: (i) => {
    const t = tokensOf("token-sampled-reverse-kl", i);
    if (!t.sampled) throw new Error("loss token-sampled-reverse-kl needs the student's sampled tokens and the teacher's log-probabilities of them");
    return sampledTokenReverseKl(i.studentLogits, t.sampled.ids, t.sampled.teacherLogprobs, t.mask);
  },
});
