import * as tf from "@tensorflow/tfjs-core";
import { z } from "zod";
import { ScheduledValue } from "../train/schedules.js";
import { crossEntropy } from "./cross-entropy.js";
import { kdLoss } from "./kd.js";
import { dkdLoss, distLoss, generalizedJsd, logitMse, topKKd } from "./response.js";
import { attentionTransfer, cosineHidden, fitnetsHint, pktLoss } from "./feature.js";
import { ccLoss, rkdAngle, rkdDistance, spLoss } from "./relation.js";

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
}

export interface LossDefinition {
  name: string;
  family: LossFamily;
  summary: string;
  /** "logits": reads the logits (or only the labels); "layers": a term names a student and a teacher layer. */
  reads: "logits" | "layers";
  /** Whether a learned projector may map the student's layer to the teacher's width (FitNets). */
  projectable: boolean;
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

/** A number option that may be scheduled. */
const num = (d: number) => ScheduledValue.default(d);
const n = (v: unknown) => v as number;

// ---- hard labels ----------------------------------------------------------------------------------------
registerLoss({
  name: "ce",
  family: "hard",
  summary: "cross-entropy with the hard labels (hybrid training: mix it with any distillation term)",
  reads: "logits",
  projectable: false,
  options: z.object({}).strict(),
  compute: (i) => crossEntropy(i.studentLogits, i.labels),
});

// ---- response-based -------------------------------------------------------------------------------------
registerLoss({
  name: "kd",
  family: "response",
  summary: "Hinton KD: α·CE(y, s) + (1−α)·T²·KL(softmax(t/T) ‖ softmax(s/T)); α weights the hard labels",
  reads: "logits",
  projectable: false,
  options: z.object({ temperature: num(4), alpha: num(0) }).strict(),
  compute: (i, o) => kdLoss(i.studentLogits, i.teacherLogits, i.labels, { temperature: n(o.temperature), alpha: n(o.alpha) }),
});
registerLoss({
  name: "logit-mse",
  family: "response",
  summary: "mean squared difference of the logits (KD's high-temperature limit)",
  reads: "logits",
  projectable: false,
  options: z.object({}).strict(),
  compute: (i) => logitMse(i.studentLogits, i.teacherLogits),
});
registerLoss({
  name: "dkd",
  family: "response",
  summary: "decoupled KD (Zhao et al. 2022): T²·(α·TCKD + β·NCKD), with a linear warm-up over warmupEpochs",
  reads: "logits",
  projectable: false,
  options: z.object({ alpha: num(1), beta: num(8), temperature: num(4), warmupEpochs: num(0) }).strict(),
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
  options: z.object({ beta: num(1), gamma: num(1), tau: num(1) }).strict(),
  compute: (i, o) => distLoss(i.studentLogits, i.teacherLogits, { beta: n(o.beta), gamma: n(o.gamma), tau: n(o.tau) }),
});
registerLoss({
  name: "jsd",
  family: "response",
  summary: "generalised JSD(β) (GKD): β = 0 forward KL(P_t‖P_s), β = 1 reverse KL(P_s‖P_t)",
  reads: "logits",
  projectable: false,
  options: z.object({ beta: num(0.5), temperature: num(1) }).strict(),
  compute: (i, o) => generalizedJsd(i.studentLogits, i.teacherLogits, { beta: n(o.beta), temperature: n(o.temperature) }),
});
registerLoss({
  name: "topk-kd",
  family: "response",
  summary: "KD from the teacher's top-k log-probabilities only (as APIs give them); the tail mass is spread or bucketed",
  reads: "logits",
  projectable: false,
  options: z.object({ k: z.number().int().positive().default(5), temperature: num(1), tail: z.enum(["uniform", "bucket"]).default("bucket") }).strict(),
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
  options: z.object({}).strict(),
  compute: (i) => fitnetsHint(i.student, i.teacher),
});
registerLoss({
  name: "at",
  family: "feature",
  summary: "attention transfer (Zagoruyko & Komodakis 2017) on feature maps [B, H, W, C]",
  reads: "layers",
  projectable: false,
  options: z.object({ p: num(2) }).strict(),
  compute: (i, o) => attentionTransfer(i.student as tf.Tensor4D, i.teacher as tf.Tensor4D, { p: n(o.p) }),
});
registerLoss({
  name: "pkt",
  family: "feature",
  summary: "probabilistic knowledge transfer (Passalis & Tefas 2018): cosine-kernel conditional distributions",
  reads: "layers",
  projectable: false,
  options: z.object({ eps: num(1e-7) }).strict(),
  compute: (i, o) => pktLoss(i.student, i.teacher, { eps: n(o.eps) }),
});
registerLoss({
  name: "cosine",
  family: "feature",
  summary: "1 − cos(h_s, h_t) on hidden states (DistilBERT); a projector maps widths that differ",
  reads: "layers",
  projectable: true,
  options: z.object({}).strict(),
  compute: (i) => cosineHidden(i.student, i.teacher),
});

// ---- relation-based -------------------------------------------------------------------------------------
registerLoss({
  name: "rkd-distance",
  family: "relation",
  summary: "RKD distance (Park et al. 2019): Huber on pairwise distances normalised by their mean",
  reads: "layers",
  projectable: false,
  options: z.object({}).strict(),
  compute: (i) => rkdDistance(i.student, i.teacher),
});
registerLoss({
  name: "rkd-angle",
  family: "relation",
  summary: "RKD angle (Park et al. 2019): Huber on the angles of sample triplets",
  reads: "layers",
  projectable: false,
  options: z.object({}).strict(),
  compute: (i) => rkdAngle(i.student, i.teacher),
});
registerLoss({
  name: "sp",
  family: "relation",
  summary: "similarity-preserving KD (Tung & Mori 2019): row-normalised Gram matrices of the batch",
  reads: "layers",
  projectable: false,
  options: z.object({}).strict(),
  compute: (i) => spLoss(i.student, i.teacher),
});
registerLoss({
  name: "cc",
  family: "relation",
  summary: "correlation congruence (Peng et al. 2019) with a Gaussian-RBF kernel expansion",
  reads: "layers",
  projectable: false,
  options: z.object({ gamma: num(0.4), order: z.number().int().min(0).default(2) }).strict(),
  compute: (i, o) => ccLoss(i.student, i.teacher, { gamma: n(o.gamma), order: o.order as number }),
});

