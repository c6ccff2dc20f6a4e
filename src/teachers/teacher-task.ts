// A teacher and a data set must agree on the task before any work starts: a classifier's class count must be the
// data's, and a regression data set needs a teacher with one output. For regression the teacher's numbers are
// brought to the student's scale: tsdistill's own regression models output standardised values (their
// preprocess.json names the target's mean and std); any other teacher, and every teacher cache, holds values in
// the target's units.
import * as tf from "@tensorflow/tfjs-core";
import type { InMemoryDataset } from "../data/dataset.js";
import { modelOutputScale } from "../eval/regression.js";
import { UsageError } from "../util/errors.js";
import type { LogitLookup, Teacher } from "./teacher.js";

export interface TargetScale {
  mean: number;
  std: number;
}

/** The target's own units. */
export const UNITS: TargetScale = { mean: 0, std: 1 };

/**
 * Refuses a teacher whose outputs do not fit the data's task, with one line naming both sides (`teacher` and `data`
 * name them, e.g. the --teacher path and the --data spec).
 */
export function checkTeacherTask(outputs: number, data: InMemoryDataset, teacher: string, dataName: string, option = "--teacher"): void {
  if (data.task === "regression") {
    if (outputs !== 1) {
      throw new UsageError(`${option}: ${teacher} has ${outputs} outputs (a classifier) but ${dataName} is a regression task (one output, "${data.target!.name}"); give a regression teacher (one output) or task=classification`);
    }
    return;
  }
  if (outputs === 1) {
    throw new UsageError(`${option}: ${teacher} has 1 output (a regression model) but ${dataName} is a classification task with ${data.numClasses} classes; give a classifier with ${data.numClasses} outputs or task=regression`);
  }
  if (outputs !== data.numClasses) throw new UsageError(`${option}: ${teacher} has ${outputs} outputs but ${dataName} has ${data.numClasses} classes`);
}

/** The scale of a teacher's output: its model folder's preprocess.json target when it has one, else the units. */
export function teacherOutputScale(path: string): TargetScale {
  return modelOutputScale(path);
}

function affine(from: TargetScale, to: TargetScale): { a: number; b: number } | null {
  if (from.mean === to.mean && from.std === to.std) return null;
  return { a: from.std / to.std, b: (from.mean - to.mean) / to.std };
}

/** The teacher with its one output mapped from scale `from` to scale `to` (v ↦ ((v·σf + μf) − μt) / σt). */
export function rescaledTeacher(teacher: Teacher, from: TargetScale, to: TargetScale): Teacher {
  const m = affine(from, to);
  if (!m) return teacher;
  const { a, b } = m;
  const map = (t: tf.Tensor2D) => tf.tidy(() => tf.add(tf.mul(t, a), b) as tf.Tensor2D);
  const wrapped: Teacher = {
    name: teacher.name,
    numClasses: teacher.numClasses,
    metadata: teacher.metadata,
    logits: (x) => tf.tidy(() => map(teacher.logits(x))),
  };
  if (teacher.logitsAsync) {
    const inner = teacher.logitsAsync.bind(teacher);
    wrapped.logitsAsync = async (input) => Float32Array.from(await inner(input), (v) => v * a + b);
  }
  return wrapped;
}

/** Looked-up teacher values mapped from scale `from` to scale `to`. */
export function rescaledLookup(lookup: LogitLookup, from: TargetScale, to: TargetScale): LogitLookup {
  const m = affine(from, to);
  if (!m) return lookup;
  return { numClasses: lookup.numClasses, gather: (indices) => tf.tidy(() => tf.add(tf.mul(lookup.gather(indices), m.a), m.b) as tf.Tensor2D) };
}
