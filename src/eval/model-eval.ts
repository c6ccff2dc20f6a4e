// Evaluates saved models side by side on one test split: quality, calibration, fidelity to a teacher, size and
// speed. Used by `tsdistill eval` and by the run report.
import * as tf from "@tensorflow/tfjs-core";
import type { InMemoryDataset } from "../data/dataset.js";
import { loadAnyModel, modelFile } from "../students/any-model.js";
import type { TrainableModel } from "../students/trainable.js";
import { DataError } from "../util/errors.js";
import { agreement, classificationMetrics, predictLogits } from "./classification.js";
import type { LatencyStats } from "./latency.js";
import { confusionMatrix, expectedCalibrationError, klDivergence, perClassAccuracy, topKAccuracy, type Calibration, type PerClassAccuracy } from "./metrics.js";
import { bytesOnDisk } from "./size.js";
import { measureInterleaved } from "./timing.js";
import { measureCpu, type CpuCost } from "./energy.js";
import { join } from "node:path";

export interface ModelEntry {
  /** Display name, e.g. "teacher", "student alone", "distilled". */
  name: string;
  /** Model folder (model.json + weights). */
  dir: string;
  /** The teacher is the reference for fidelity, KL, compression and speed-up. At most one entry. */
  teacher?: boolean;
}

export interface ModelTiming {
  /** Latency of one sample (batch 1), in ms. */
  batch1: LatencyStats;
  /** Latency of one batch of `batchSize` samples, and the throughput it gives. */
  batchN: LatencyStats & { batchSize: number; samplesPerSecond: number };
}

export interface ModelEvaluation {
  name: string;
  dir: string;
  teacher: boolean;
  /** null for a teacher evaluated from its outputs only (its weights not counted). */
  params: number | null;
  /** null where no model file or folder can be measured (function teachers, ensembles, caches). */
  bytesOnDisk: number | null;
  testSize: number;
  accuracy: number;
  errors: number;
  /** Mean cross-entropy of the labels. */
  loss: number;
  top1Accuracy: number;
  top5Accuracy: number;
  calibration: Calibration;
  perClass: PerClassAccuracy;
  /** confusionMatrix[true][predicted]. */
  confusionMatrix: number[][];
  /** Top-1 agreement with the teacher on the test split (fidelity); null without a teacher. */
  agreementWithTeacher: number | null;
  /** Batch mean of KL(teacher ‖ this model) at temperature 1, in nats; null without a teacher. */
  klFromTeacher: number | null;
  timing: ModelTiming | null;
  /** Process CPU time of one pass over the test split (after a warm-up batch); null where not measured here. */
  cpu: CpuCost | null;
}

export interface ModelComparison {
  teacher: string;
  student: string;
  /** Top-1 agreement (share of test samples where the student predicts the teacher's class). */
  fidelity: number;
  klTeacherStudent: number;
  /** teacher parameters / student parameters; null when the teacher's are unknown. */
  paramRatio: number | null;
  /** teacher bytes on disk / student bytes on disk; null when the teacher's size is unknown. */
  compressionRatio: number | null;
  /** teacher batch-1 p50 latency / student batch-1 p50 latency; null without timing. */
  speedUp: number | null;
  /** student throughput / teacher throughput at the batch size; null without timing. */
  throughputRatio: number | null;
}

export interface EvaluationSuite {
  data: string;
  testSize: number;
  numClasses: number;
  batchSize: number;
  models: ModelEvaluation[];
  comparisons: ModelComparison[];
}

export interface SuiteOptions {
  /** Samples per batch for the throughput measurement (default 256). */
  batchSize?: number;
  /** Measure latency and throughput (default true). */
  timing?: boolean;
  latencyRuns?: number;
  throughputRuns?: number;
  /** Seconds each timing loop may take in all (default 3). */
  maxSeconds?: number;
  /**
   * A teacher given by its outputs on `data` (any teacher kind, or a teacher cache of the test split): it is the
   * reference for fidelity and KL and gets the quality metrics; size where known, no timing.
   */
  externalTeacher?: ExternalTeacher;
}

export interface ExternalTeacher {
  name: string;
  /** What it was opened from (a model file or folder, fn:…, a teacher.yaml, a cache folder). */
  dir: string;
  /** Logits on `data`, row-major [data.size, numClasses]. */
  logits: Float32Array;
  params: number | null;
  bytesOnDisk: number | null;
  /** CPU time of the pass that produced `logits` (remote: an API teacher, whose model runs elsewhere). */
  cpu?: (CpuCost & { remote?: boolean }) | null;
}

/** Throws a one-line DataError when the model cannot run on the data. */
export function checkFits(model: TrainableModel, dir: string, data: InMemoryDataset, dataName: string): void {
  const inSize = model.inputShape.reduce((a, b) => a * b, 1);
  const file = modelFile(dir);
  if (inSize !== data.sampleSize) {
    throw new DataError(file, `takes inputs of shape [${model.inputShape}] but ${dataName} has samples of shape [${data.sampleShape}]`);
  }
  if (data.task === "regression" && model.numOutputs !== 1) throw new DataError(file, `has ${model.numOutputs} outputs (a classifier) but ${dataName} is a regression task (one output)`);
  if (data.task !== "regression" && model.numOutputs === 1) throw new DataError(file, `has 1 output (a regression model) but ${dataName} is a classification task with ${data.numClasses} classes`);
  if (model.numOutputs !== data.numClasses) throw new DataError(file, `has ${model.numOutputs} outputs but ${dataName} has ${data.numClasses} classes`);
}

/** n samples of `data` (repeated cyclically when it holds fewer) as one batch tensor. */
function batchTensor(data: InMemoryDataset, n: number): tf.Tensor {
  const d = data.sampleSize;
  const x = new Float32Array(n * d);
  for (let i = 0; i < n; i++) x.set(data.x.subarray((i % data.size) * d, ((i % data.size) + 1) * d), i * d);
  return tf.tensor(x, [n, ...data.sampleShape]);
}

/**
 * Latency (batch 1) and throughput (batch `batchSize`) of every model, measured round-robin in this process so the
 * numbers compare.
 */
export function timeModels(models: TrainableModel[], data: InMemoryDataset, batchSize: number, opts: SuiteOptions = {}): ModelTiming[] {
  const one = batchTensor(data, 1);
  const many = batchTensor(data, batchSize);
  try {
    const maxSeconds = opts.maxSeconds ?? 3;
    const b1 = measureInterleaved(
      models.map((model) => () => tf.tidy(() => void model.predict(one).dataSync())),
      { warmup: 50, runs: opts.latencyRuns ?? 300, maxSeconds },
    );
    const bn = measureInterleaved(
      models.map((model) => () => tf.tidy(() => void model.predict(many).dataSync())),
      { warmup: 3, runs: opts.throughputRuns ?? 50, maxSeconds, minRuns: 5 },
    );
    return models.map((_, i) => ({ batch1: b1[i], batchN: { ...bn[i], batchSize, samplesPerSecond: (batchSize * 1000) / bn[i].p50Ms } }));
  } finally {
    one.dispose();
    many.dispose();
  }
}

/**
 * Loads every model, checks it fits the data, and evaluates it on `data`. With a teacher among the entries,
 * every other model gets fidelity and KL against it and a comparison row. Latency (batch 1) and throughput
 * (batch `batchSize`) are measured round-robin over all models in this process, so the numbers compare.
 */
export async function evaluateModels(entries: ModelEntry[], data: InMemoryDataset, dataName: string, opts: SuiteOptions = {}): Promise<EvaluationSuite> {
  const batchSize = opts.batchSize ?? 256;
  const external = opts.externalTeacher;
  if (entries.filter((e) => e.teacher).length + (external ? 1 : 0) > 1) throw new Error("evaluateModels: at most one teacher");
  if (external && external.logits.length !== data.size * data.numClasses) throw new Error(`evaluateModels: the external teacher's logits hold ${external.logits.length} values, expected ${data.size}×${data.numClasses}`);
  if (data.size === 0) throw new DataError(dataName, "has no test samples");
  const loaded: { entry: ModelEntry; model: TrainableModel }[] = [];
  try {
    for (const entry of entries) {
      const { model } = await loadAnyModel(entry.dir);
      loaded.push({ entry, model });
      checkFits(model, entry.dir, data, dataName);
    }
    const cols = data.numClasses;
    // One warm-up batch (kernel set-up, first allocations), then the measured pass over the test split.
    const cpus: CpuCost[] = [];
    const logits = loaded.map(({ model }) => {
      const warm = batchTensor(data, Math.min(data.size, 64));
      tf.tidy(() => void model.predict(warm).dataSync());
      warm.dispose();
      const { value, cpu } = measureCpu(data.size, () => predictLogits((x) => model.predict(x), data));
      cpus.push(cpu);
      return value;
    });
    const ti = loaded.findIndex((l) => l.entry.teacher);
    const teacherLogits = external ? external.logits : ti >= 0 ? logits[ti] : null;

    const timings = opts.timing ?? true ? timeModels(loaded.map((l) => l.model), data, batchSize, opts) : loaded.map(() => null);

    const quality = (lg: Float32Array) => {
      const cm = classificationMetrics(lg, data.y, cols);
      return {
        testSize: cm.n,
        accuracy: cm.accuracy,
        errors: cm.errors,
        loss: cm.loss,
        top1Accuracy: topKAccuracy(lg, data.y, cols, 1),
        top5Accuracy: topKAccuracy(lg, data.y, cols, 5),
        calibration: expectedCalibrationError(lg, data.y, cols, 15),
        perClass: perClassAccuracy(lg, data.y, cols),
        confusionMatrix: confusionMatrix(lg, data.y, cols),
        agreementWithTeacher: teacherLogits ? agreement(teacherLogits, lg, cols) : null,
        klFromTeacher: teacherLogits ? klDivergence(teacherLogits, lg, cols) : null,
      };
    };
    const models: ModelEvaluation[] = loaded.map(({ entry, model }, i) => {
      const isTeacher = Boolean(entry.teacher);
      return { name: entry.name, dir: entry.dir, teacher: isTeacher, params: model.paramCount, bytesOnDisk: bytesOnDisk(entry.dir), ...quality(logits[i]), timing: timings[i], cpu: cpus[i] };
    });
    if (external) models.unshift({ name: external.name, dir: external.dir, teacher: true, params: external.params, bytesOnDisk: external.bytesOnDisk, ...quality(external.logits), timing: null, cpu: external.cpu ?? null });
    const teacher = models.find((m) => m.teacher) ?? null;
    const comparisons: ModelComparison[] = teacher
      ? models
          .filter((m) => !m.teacher)
          .map((m) => ({
            teacher: teacher.name,
            student: m.name,
            fidelity: m.agreementWithTeacher!,
            klTeacherStudent: m.klFromTeacher!,
            paramRatio: teacher.params !== null && m.params !== null ? teacher.params / m.params : null,
            compressionRatio: teacher.bytesOnDisk !== null && m.bytesOnDisk !== null ? teacher.bytesOnDisk / m.bytesOnDisk : null,
            speedUp: teacher.timing && m.timing ? teacher.timing.batch1.p50Ms / m.timing.batch1.p50Ms : null,
            throughputRatio: teacher.timing && m.timing ? m.timing.batchN.samplesPerSecond / teacher.timing.batchN.samplesPerSecond : null,
          }))
      : [];
    return { data: dataName, testSize: data.size, numClasses: cols, batchSize, models, comparisons };
  } finally {
    for (const { model } of loaded) model.dispose();
  }
}
