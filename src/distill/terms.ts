import * as tf from "@tensorflow/tfjs-core";
import { z } from "zod";
import { getLoss, lossNames, type LossDefinition } from "../losses/registry.js";
import { ScheduledValue, valueAt } from "../util/schedules.js";
import { TsdistillError } from "../util/errors.js";
import { describeZodError } from "../util/zod-errors.js";
import { Projector } from "./projector.js";

/** One named term of a distillation loss, as written in a recipe. */
export const TermSpec = z
  .object({
    /** Registered loss name: ce, kd, logit-mse, dkd, dist, jsd, topk-kd, fitnets, at, pkt, cosine, rkd-distance, rkd-angle, sp, cc. */
    loss: z.string(),
    weight: ScheduledValue.default(1),
    options: z.record(z.string(), z.unknown()).default({}),
    /** For layer terms: the student layer read ("logits" for the output). */
    student: z.string().optional(),
    /** For layer terms: the teacher layer read ("logits" for the output). */
    teacher: z.string().optional(),
    /** auto: a projector when the widths differ and the loss allows one. */
    projector: z.enum(["auto", "none", "linear", "conv1x1"]).default("auto"),
  })
  .strict();
export type TermSpec = z.infer<typeof TermSpec>;

/** What the compiler needs to know about the two models. */
export interface ModelShapes {
  /** Output shape (no batch) of a named layer, or undefined if there is none. */
  studentLayer(name: string): number[] | undefined;
  teacherLayer(name: string): number[] | undefined;
  studentLayers: string[];
  teacherLayers: string[];
}

interface CompiledTerm {
  spec: TermSpec;
  def: LossDefinition;
  options: Record<string, unknown>;
  studentLayer: string;
  teacherLayer: string;
  projector: Projector | null;
}

export interface StepTensors {
  studentLogits: tf.Tensor2D;
  studentFeatures: Map<string, tf.Tensor>;
  teacherLogits: tf.Tensor2D;
  teacherFeatures: Map<string, tf.Tensor>;
  labels: tf.Tensor1D;
  /** Fractional epoch within the stage, and the stage's length, for scheduled weights and options. */
  epoch: number;
  epochs: number;
}

/**
 * A distillation loss made of weighted named terms (torchdistill's weighted sum): L = Σ_i w_i(epoch)·L_i.
 * Each term reads the logits or a named student layer and teacher layer (through a learned projector where
 * the widths differ).
 */
export class WeightedSumLoss {
  private constructor(
    readonly terms: CompiledTerm[],
    /** Student layers to capture during the forward pass. */
    readonly studentCapture: string[],
    /** Teacher layers the terms read (empty: the logits suffice and can be cached). */
    readonly teacherCapture: string[],
  ) {}

  /** Validates term specs against the registry and the models; errors name `where` and the term. */
  static compile(specs: TermSpec[], shapes: ModelShapes, seed: number, where = "loss.terms"): WeightedSumLoss {
    if (specs.length === 0) throw new TsdistillError(`${where}: expected at least one term`);
    const terms = specs.map((spec, i) => {
      const at = `${where}[${i}]`;
      const def = getLoss(spec.loss);
      if (!def) throw new TsdistillError(`${at}.loss: unknown loss "${spec.loss}"; expected one of ${lossNames().join(", ")}`);
      const parsed = def.options.safeParse(spec.options);
      if (!parsed.success) throw new TsdistillError(`${describeZodError(parsed.error, { base: `${at}.options` })} (loss ${spec.loss})`);
      let studentLayer = "logits";
      let teacherLayer = "logits";
      let projector: Projector | null = null;
      if (def.reads === "layers") {
        if (!spec.student || !spec.teacher) {
          throw new TsdistillError(`${at} (${spec.loss}): a ${def.family} loss needs "student" and "teacher" layer names (or "logits"); student layers: ${shapes.studentLayers.join(", ")}; teacher layers: ${shapes.teacherLayers.join(", ")}`);
        }
        studentLayer = spec.student;
        teacherLayer = spec.teacher;
        const from = shapes.studentLayer(studentLayer);
        const to = shapes.teacherLayer(teacherLayer);
        if (!from) throw new TsdistillError(`${at}.student: no student layer "${studentLayer}"; expected one of logits, ${shapes.studentLayers.join(", ")}`);
        if (!to) throw new TsdistillError(`${at}.teacher: no teacher layer "${teacherLayer}"; expected one of logits, ${shapes.teacherLayers.join(", ")}`);
        const wanted = spec.projector === "auto" ? (def.projectable ? Projector.kindFor(from, to) : null) : spec.projector === "none" ? null : spec.projector;
        if (wanted === "mismatch") throw new TsdistillError(`${at} (${spec.loss}): student layer ${studentLayer} [${from}] and teacher layer ${teacherLayer} [${to}] cannot be matched by a linear or 1×1-conv projector`);
        if (wanted) {
          if (!def.projectable) throw new TsdistillError(`${at}.projector: ${spec.loss} compares relations within the batch and takes no projector`);
          projector = new Projector(wanted, from, to, seed + i, `${i}-${studentLayer}-${teacherLayer}`);
        }
      } else if (spec.student || spec.teacher) {
        throw new TsdistillError(`${at} (${spec.loss}): reads the logits; remove "student"/"teacher" layer names`);
      }
      return { spec, def, options: parsed.data as Record<string, unknown>, studentLayer, teacherLayer, projector };
    });
    const studentCapture = [...new Set(terms.map((t) => t.studentLayer).filter((l) => l !== "logits"))];
    const teacherCapture = [...new Set(terms.map((t) => t.teacherLayer).filter((l) => l !== "logits"))];
    return new WeightedSumLoss(terms, studentCapture, teacherCapture);
  }

  /** Whether any term reads the teacher (false for hard labels only: the student trains alone). */
  get usesTeacher(): boolean {
    return this.terms.some((t) => t.def.family !== "hard");
  }

  /** Projector weights (trained with the student, dropped at export). */
  get extraParams(): tf.Variable[] {
    return this.terms.flatMap((t) => t.projector?.params ?? []);
  }

  /** The loss and each term's (unweighted) value as tensors, inside the caller's tidy. */
  compute(s: StepTensors): { total: tf.Scalar; parts: tf.Scalar[] } {
    const parts: tf.Scalar[] = [];
    let total: tf.Scalar = tf.scalar(0);
    for (const term of this.terms) {
      const w = valueAt(term.spec.weight, s.epoch, s.epochs);
      const options = Object.fromEntries(
        Object.entries(term.options).map(([k, v]) => [k, typeof v === "object" && v !== null && "kind" in v ? valueAt(v as ScheduledValue, s.epoch, s.epochs) : v]),
      );
      let student: tf.Tensor = term.studentLayer === "logits" ? s.studentLogits : s.studentFeatures.get(term.studentLayer)!;
      const teacher: tf.Tensor = term.teacherLayer === "logits" ? s.teacherLogits : s.teacherFeatures.get(term.teacherLayer)!;
      if (term.projector) student = term.projector.apply(student);
      const value = term.def.compute({ student, teacher, studentLogits: s.studentLogits, teacherLogits: s.teacherLogits, labels: s.labels, epoch: s.epoch }, options);
      parts.push(value);
      if (w !== 0) total = tf.add(total, tf.mul(value, w));
    }
    return { total, parts };
  }

  dispose(): void {
    for (const t of this.terms) t.projector?.dispose();
  }
}
