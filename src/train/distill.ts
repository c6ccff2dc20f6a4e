import * as tf from "@tensorflow/tfjs-core";
import { InMemoryDataset, type DataSource } from "../data/dataset.js";
import type { TrainableModel } from "../students/trainable.js";
import { TeacherLogitCache, type LogitLookup, type Teacher } from "../teachers/teacher.js";
import { crossEntropy } from "../losses/cross-entropy.js";
import { kdLoss } from "../losses/kd.js";
import { regressionDistillLoss, regressionMse } from "../losses/regression.js";
import { fit, type FitOptions, type FitResult, type StepContext } from "./fit.js";
import { TsdistillError } from "../util/errors.js";

function targetsOf(ctx: StepContext): tf.Tensor1D {
  if (!ctx.targets) throw new Error(`regression training: batch without targets (dataset ${ctx.batch.size} rows)`);
  return ctx.targets;
}

/** Trains a model on hard labels: cross-entropy, or for a regression data set MSE on the standardised targets. */
export function train(model: TrainableModel, data: DataSource, options: FitOptions): Promise<FitResult> {
  if (data.task === "regression") return fit(model, data, (out, ctx) => regressionMse(out, targetsOf(ctx), ctx.y), options);
  return fit(model, data, (logits, ctx) => crossEntropy(logits, ctx.y), options);
}

export interface DistillOptions extends FitOptions {
  /** The teacher; may be omitted when `teacherLogits` supplies its outputs (e.g. an on-disk teacher cache). */
  teacher?: Teacher;
  /** Precomputed teacher logits by dataset row; the teacher is then not run at all. */
  teacherLogits?: LogitLookup;
  student: TrainableModel;
  data: DataSource;
  /** Softmax temperature T. */
  temperature?: number;
  /** Weight of the hard-label term; 1 − α goes to the soft targets. */
  alpha?: number;
  /**
   * Compute the teacher's logits once for the whole training set (default when the data is in memory);
   * otherwise the teacher runs on every batch.
   */
  cacheTeacher?: boolean;
}

export interface DistillResult extends FitResult {
  teacherSeconds: number;
}

/**
 * Hinton knowledge distillation: the student minimises α·CE(y, s) + (1−α)·T²·KL(softmax(t/T) ‖ softmax(s/T)).
 * On a regression data set: (1−α)·MSE(t, s) + α·MSE(y, s) on the standardised scale (the teacher's outputs must be
 * on it: see teachers/teacher-task.ts); the temperature is unused.
 */
export async function distill(options: DistillOptions): Promise<DistillResult> {
  const { teacher, teacherLogits, student, data, temperature = 4, alpha = 0.1, cacheTeacher, ...fitOptions } = options;
  const numClasses = teacherLogits?.numClasses ?? teacher?.numClasses;
  if (numClasses === undefined) throw new Error("distill needs a teacher or teacherLogits");
  if (numClasses !== student.numOutputs) {
    throw new Error(`teacher has ${numClasses} outputs but the student has ${student.numOutputs}`);
  }
  if (teacherLogits && fitOptions.augment) throw new Error("precomputed teacher logits hold the unaugmented inputs only; distil without augmentation");
  const t0 = performance.now();
  // Cached logits are only valid for the unaugmented inputs.
  const useCache = (cacheTeacher ?? true) && data instanceof InMemoryDataset && !fitOptions.augment;
  // Any teacher (sync or async, reading features or raw samples) runs once over the transfer set here.
  const cache: LogitLookup | null = teacherLogits ?? (useCache && teacher ? await TeacherLogitCache.compute(teacher, data as InMemoryDataset) : null);
  if (!cache && !teacher) throw new Error("distill needs a teacher to run on each batch");
  if (!cache && (teacher!.logitsAsync || (teacher!.metadata?.input.rawKinds?.length ?? 0) > 0)) {
    throw new TsdistillError(`teacher ${teacher!.name}: it runs asynchronously or reads raw samples, so it cannot run on every (augmented) batch; distil from its outputs over an in-memory transfer set without augmentation`);
  }
  const teacherSeconds = (performance.now() - t0) / 1000;
  const result = await fit(
    student,
    data,
    (logits, ctx) => {
      const t = cache ? cache.gather(ctx.batch.indices) : tf.tidy(() => teacher!.logits(ctx.x));
      if (data.task === "regression") return regressionDistillLoss(logits, t, targetsOf(ctx), ctx.y, alpha);
      return kdLoss(logits, t, ctx.y, { temperature, alpha });
    },
    { label: "distill", ...fitOptions },
  );
  return { ...result, teacherSeconds };
}
