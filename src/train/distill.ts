import * as tf from "@tensorflow/tfjs-core";
import { InMemoryDataset, type DataSource } from "../data/dataset.js";
import type { SequentialModel } from "../students/model.js";
import { TeacherLogitCache, type Teacher } from "../teachers/teacher.js";
import { crossEntropy } from "../losses/cross-entropy.js";
import { kdLoss } from "../losses/kd.js";
import { fit, type FitOptions, type FitResult } from "./fit.js";

/** Trains a model on hard labels (cross-entropy). */
export function train(model: SequentialModel, data: DataSource, options: FitOptions): Promise<FitResult> {
  return fit(model, data, (logits, ctx) => crossEntropy(logits, ctx.y), options);
}

export interface DistillOptions extends FitOptions {
  teacher: Teacher;
  student: SequentialModel;
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
 */
export async function distill(options: DistillOptions): Promise<DistillResult> {
  const { teacher, student, data, temperature = 4, alpha = 0.1, cacheTeacher, ...fitOptions } = options;
  if (teacher.numClasses !== student.numOutputs) {
    throw new Error(`teacher has ${teacher.numClasses} outputs but the student has ${student.numOutputs}`);
  }
  const t0 = performance.now();
  // Cached logits are only valid for the unaugmented inputs.
  const useCache = (cacheTeacher ?? true) && data instanceof InMemoryDataset && !fitOptions.augment;
  const cache = useCache ? TeacherLogitCache.compute(teacher, data as InMemoryDataset) : null;
  const teacherSeconds = (performance.now() - t0) / 1000;
  const result = await fit(
    student,
    data,
    (logits, ctx) => {
      const t = cache ? cache.gather(ctx.batch.indices) : tf.tidy(() => teacher.logits(ctx.x));
      return kdLoss(logits, t, ctx.y, { temperature, alpha });
    },
    { label: "distill", ...fitOptions },
  );
  return { ...result, teacherSeconds };
}
