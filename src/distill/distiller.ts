/**
 * The library's one way to distil (in the spirit of Keras 3's keras.distillation.Distiller): a teacher, a student
 * and the terms of the loss, then `fit`.
 *
 *   const d = new Distiller({ teacher, student, terms: [kd({ temperature: 4, alpha: 0.1 })] });
 *   const { history } = await d.fit(train, { epochs: 5, validation, signal, callbacks: { onEpoch: (e) => … } });
 *
 * The other ways in are thin adapters over it: recipes (runRecipe, hence `tsdistill distill --config`, `tsdistill run`
 * and experiments) run each stage through a Distiller, `tsdistill distill --teacher` and `tsdistill demo` one kd
 * term, and `tsdistill auto` each classification trial. Regression (an MSE pair no registered term expresses) still trains through distill().
 */
import * as tf from "@tensorflow/tfjs-core";
import type { InMemoryDataset } from "../data/dataset.js";
import { agreement, evaluate } from "../eval/classification.js";
import type { TrainableModel } from "../students/trainable.js";
import { layerOutputShape } from "../students/any-model.js";
import { TeacherOutputCache } from "../teachers/output-cache.js";
import { TeacherLogitCache, type LogitLookup, type Teacher } from "../teachers/teacher.js";
import type { FitCheckpoint } from "../train/checkpoint.js";
import { fit, type FitConfigInput, type FitResult, type LossFn } from "../train/fit.js";
import { allReporters, type ProgressCallbacks, type TrainingReporter } from "../train/reporter.js";
import { TsdistillError } from "../util/errors.js";
import { WeightedSumLoss, type ModelShapes, type TermSpec } from "./terms.js";

export interface DistillerOptions {
  /** The teacher; may be omitted when `teacherLogits` holds its outputs (an on-disk cache) and no term reads its layers. */
  teacher?: Teacher;
  /** The teacher's logits by dataset row (e.g. cacheLogitLookup over a label cache); the teacher then never runs. */
  teacherLogits?: LogitLookup;
  student: TrainableModel;
  /** The loss: a weighted sum of these terms (build them with kd(), fitnets(), ce(), … from term-builders). */
  terms: TermSpec[];
  /** Seeds the projectors' initial weights (default 42). */
  seed?: number;
  /** Names the terms in validation errors (default "terms"). */
  where?: string;
  /** Notes on what the Distiller does (e.g. which teacher outputs it cached). */
  info?: (message: string) => void;
}

export interface DistillerFitOptions extends FitConfigInput {
  validation?: InMemoryDataset;
  /** Stops before the next batch; `fit` then rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Progress: one event shape (ProgressEvent) after every batch and every epoch. */
  callbacks?: ProgressCallbacks;
  /** A reporter that also receives the same events, and when the training ends (the CLI's progress output, a run folder's log). */
  reporter?: TrainingReporter;
  /** Label in progress events (default "distill"). */
  label?: string;
  /** Written every epoch; a fit with the same settings continues from it. */
  checkpoint?: FitCheckpoint;
}

export interface DistillerResult extends FitResult {
  /** Seconds spent computing the teacher's outputs over the data before training. */
  teacherSeconds: number;
}

/** The shapes of the layers a term may name, on both sides (the loss registry checks terms against them). */
export function layerShapes(student: TrainableModel, teacher: Teacher | undefined, teacherOutputShape: number[]): ModelShapes {
  const teacherLayers = teacher?.layers?.() ?? [];
  return {
    studentLayer: (name) => layerOutputShape(student, name),
    teacherLayer: (name) => (name === "logits" ? teacherOutputShape : teacherLayers.find((l) => l.name === name)?.shape),
    studentLayers: student.layerNames(),
    teacherLayers: teacherLayers.map((l) => l.name),
  };
}

export class Distiller {
  readonly student: TrainableModel;
  readonly teacher: Teacher | undefined;
  /** The compiled loss (its projectors train with the student and are not part of it). */
  readonly loss: WeightedSumLoss;
  private logits: LogitLookup | null;
  private readonly info: (message: string) => void;

  /** Validates every term against the registry and both models before any training (errors name the term). */
  constructor(opts: DistillerOptions) {
    const { teacher, teacherLogits, student } = opts;
    const numOutputs = teacherLogits?.numClasses ?? teacher?.numClasses;
    if (numOutputs === undefined) throw new TsdistillError("Distiller: give a teacher or teacherLogits");
    if (numOutputs !== student.numOutputs) throw new TsdistillError(`Distiller: the teacher has ${numOutputs} outputs but the student has ${student.numOutputs}`);
    this.student = student;
    this.teacher = teacher;
    this.logits = teacherLogits ?? null;
    this.info = opts.info ?? (() => {});
    this.loss = WeightedSumLoss.compile(opts.terms, layerShapes(student, teacher, [numOutputs]), opts.seed ?? 42, opts.where ?? "terms");
  }

  /** The teacher's logits over the data set fitted on (computed once; hand them to the next stage's Distiller). */
  get teacherLogits(): LogitLookup | null {
    return this.logits;
  }

  set teacherLogits(logits: LogitLookup | null) {
    this.logits = logits;
  }

  /**
   * Trains the student on `data` (the transfer set) with this loss: the teacher's logits are computed once over
   * the data when no term reads its layers; captured layers are cached too when they fit in memory, else the teacher
   * runs on every batch. Same seed and backend → same numbers.
   */
  async fit(data: InMemoryDataset, opts: DistillerFitOptions): Promise<DistillerResult> {
    const { callbacks, reporter, label = "distill", ...fitOptions } = opts;
    const loss = this.loss;
    const teacher = this.teacher;
    const t0 = performance.now();
    const cached = loss.teacherCapture.length === 0;
    if (cached && loss.usesTeacher) this.logits ??= await TeacherLogitCache.compute(teacher!, data);
    const logits = this.logits;
    // Captured teacher layers: computed once over the transfer set as well, when they fit in memory.
    const outputs = !cached && loss.usesTeacher ? TeacherOutputCache.tryCompute(teacher!, data, loss.teacherCapture) : null;
    if (outputs) this.info(`teacher outputs cached for ${data.size} rows: ${loss.teacherCapture.join(", ")}`);
    const teacherSeconds = (performance.now() - t0) / 1000;
    const epochs = opts.epochs;
    const lossFn: LossFn = (studentLogits, ctx) => {
      // Hard labels only (the student alone): no term reads the teacher, so its logits are never computed.
      const tOut = !loss.usesTeacher
        ? { logits: studentLogits, features: new Map<string, tf.Tensor>() }
        : cached
          ? { logits: logits!.gather(ctx.batch.indices), features: new Map<string, tf.Tensor>() }
          : outputs
            ? outputs.gather(ctx.batch.indices)
            : teacher!.forward!(ctx.x, loss.teacherCapture);
      return loss.compute({
        studentLogits,
        studentFeatures: ctx.features,
        teacherLogits: tOut.logits,
        teacherFeatures: tOut.features,
        labels: ctx.y,
        epoch: ctx.progress,
        epochs,
      }).total;
    };
    const result = await fit(this.student, data, lossFn, {
      ...fitOptions,
      label,
      reporter: allReporters(callbacks, reporter),
      capture: loss.studentCapture,
      extraParams: loss.extraParams,
    });
    return { ...result, teacherSeconds };
  }

  /**
   * The student's accuracy on `test` and its top-1 agreement with the teacher there (with the teacher itself, or
   * with `teacherLogits` when they were computed over this very data set). Agreement is null when neither applies.
   */
  evaluate(test: InMemoryDataset, teacherLogitsOfTest?: LogitLookup): { accuracy: number; errors: number; agreement: number | null } {
    const s = evaluate((x) => this.student.predict(x), test);
    let teacherRows: Float32Array | null = null;
    if (this.teacher) teacherRows = evaluate((x) => this.teacher!.logits(x), test).logits;
    else if (teacherLogitsOfTest) {
      const all = Int32Array.from({ length: test.size }, (_, i) => i);
      teacherRows = tf.tidy(() => teacherLogitsOfTest.gather(all).dataSync() as Float32Array);
    }
    return { accuracy: s.accuracy, errors: s.errors, agreement: teacherRows ? agreement(teacherRows, s.logits, test.numClasses) : null };
  }

  /** Frees the projectors (the student and teacher stay with their owner). */
  dispose(): void {
    this.loss.dispose();
  }
}
