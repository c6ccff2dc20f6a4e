// One trial of `tsdistill auto`, described by plain data so that it runs in a worker thread: train a candidate
// student for a number of epochs on the teacher's cached logits, score it on the validation split, save it.
// Also the latency probe: batch-1 latency of an untrained candidate (the same architecture, so the same speed).
import * as tf from "@tensorflow/tfjs-core";
import { useBackend, type BackendName } from "../engine/backend.js";
import { loadSplits, type SplitOptions } from "../data/sources.js";
import type { InMemoryDataset } from "../data/dataset.js";
import { PREPROCESS_FILE, type DataPreprocess } from "../data/preprocess.js";
import { SequentialModel } from "../students/model.js";
import { modelConfigFromSpec } from "../students/spec.js";
import { saveModel, type ModelMetadata } from "../students/io.js";
import { cacheLogitLookup, hashDataset, openLabelCache, type LabelCache } from "../teachers/label-cache.js";
import type { LogitLookup } from "../teachers/teacher.js";
import { Distiller } from "../distill/distiller.js";
import { fit } from "../train/fit.js";
import type { EpochMetrics, TrainingReporter } from "../train/reporter.js";
import { agreement, evaluate, predictLogits } from "../eval/classification.js";
import { regressionMetrics, targetValues, toUnits } from "../eval/regression.js";
import { regressionDistillLoss } from "../losses/regression.js";
import { rescaledLookup, UNITS } from "../teachers/teacher-task.js";
import { measureLatency } from "../eval/latency.js";
import { candidateTerms, REGRESSION_METHOD, type Candidate } from "./space.js";

export interface TrainTrialJob {
  kind: "train";
  backend: BackendName;
  data: string;
  split: SplitOptions;
  /** Teacher caches (tsdistill label format) over exactly the transfer set and the validation split. */
  teacherCache: string;
  validationCache: string;
  candidate: Candidate;
  epochs: number;
  batchSize: number;
  seed: number;
  modelDir: string;
  metadata: ModelMetadata;
}

export interface MeasureJob {
  kind: "measure";
  backend: BackendName;
  spec: string;
  inputShape: number[];
  numClasses: number;
  /** Seconds of timed runs at most. */
  maxSeconds: number;
}

export type AutoJob = TrainTrialJob | MeasureJob;

export interface TrainTrialResult {
  kind: "train";
  history: EpochMetrics[];
  bestEpoch: number;
  /** Classification: validation accuracy; regression: validation R². */
  valAccuracy: number;
  /** Classification: cross-entropy; regression: RMSE in the target's units. */
  valLoss: number;
  /**
   * Classification: share of validation samples where the student predicts the teacher's class; regression: R² of
   * the student's predictions against the teacher's.
   */
  valAgreement: number;
  params: number;
  seconds: number;
  modelDir: string;
}

export interface MeasureResult {
  kind: "measure";
  params: number;
  latencyMs: number;
  latencyP99Ms: number;
  runs: number;
}

export type AutoJobResult = TrainTrialResult | MeasureResult;

interface Prepared {
  train: InMemoryDataset;
  /** The data's fitted preprocessing: saved with every trial model, so <out>/best takes raw inputs too. */
  preprocess?: DataPreprocess;
  validation: InMemoryDataset;
  lookup: LogitLookup;
  teacherValLogits: Float32Array;
  caches: LabelCache[];
}

// One worker runs many trials over the same data: load the splits and open the caches once per worker.
let prepared: { key: string; value: Prepared } | null = null;

function prepare(job: TrainTrialJob): Prepared {
  const key = JSON.stringify([job.data, job.split, job.teacherCache, job.validationCache]);
  if (prepared?.key === key) return prepared.value;
  prepared?.value.caches.forEach((c) => c.close());
  prepared = null;
  const { train, validation, preprocess } = loadSplits(job.data, job.split);
  const cache = openLabelCache(job.teacherCache, { datasetHash: hashDataset(train), numSamples: train.size });
  const valCache = openLabelCache(job.validationCache, { datasetHash: hashDataset(validation), numSamples: validation.size });
  const teacherValLogits = valCache.logitsFor(Int32Array.from({ length: validation.size }, (_, i) => i));
  // Regression caches hold the target's units; the student trains on the standardised scale.
  const raw = cacheLogitLookup(cache, job.teacherCache);
  const lookup = train.target ? rescaledLookup(raw, UNITS, train.target) : raw;
  const value = { train, validation, preprocess, lookup, teacherValLogits, caches: [cache, valCache] };
  prepared = { key, value };
  return value;
}

export async function runTrainTrial(job: TrainTrialJob, onEpoch?: (m: EpochMetrics) => void): Promise<TrainTrialResult> {
  await useBackend(job.backend);
  const { train, validation, preprocess, lookup, teacherValLogits } = prepare(job);
  const c = job.candidate;
  const student = new SequentialModel(modelConfigFromSpec(c.student, { inputShape: train.sampleShape, numClasses: train.numClasses }), job.seed + 1);
  const regression = c.method === REGRESSION_METHOD;
  // Classification candidates train through the Distiller (their terms read the cached teacher logits only);
  // regression keeps the MSE pair of losses/regression.ts, which no registered term expresses.
  const distiller = regression ? null : new Distiller({ teacherLogits: lookup, student, terms: candidateTerms(c), seed: job.seed, where: "candidate loss" });
  const reporter: TrainingReporter | undefined = onEpoch && { onEpoch: (e) => onEpoch(e.metrics) };
  try {
    const settings = {
      epochs: job.epochs,
      batchSize: job.batchSize,
      optimizer: { kind: "adam" as const, lr: c.lr },
      schedule: { kind: "cosine" as const, minFactor: 0, warmupEpochs: 0 },
      seed: job.seed,
      validation,
      label: "trial",
      reporter,
    };
    const result = distiller
      ? await distiller.fit(train, settings)
      : await fit(student, train, (logits, ctx) => regressionDistillLoss(logits, lookup.gather(ctx.batch.indices), ctx.targets!, ctx.y, c.alpha), settings);
    // keep-best restored the best validation epoch's weights: score exactly those.
    // The fitted preprocessing travels with every trial's model (a regression model's output scale is in it), so <out>/best takes raw inputs too.
    await saveModel(student, job.modelDir, job.metadata, preprocess ? { [PREPROCESS_FILE]: JSON.stringify(preprocess, null, 2) + "\n" } : {});
    if (regression) {
      const pred = toUnits(predictLogits((x) => student.predict(x), validation), validation.target!);
      const truth = regressionMetrics(pred, targetValues(validation));
      return {
        kind: "train",
        history: result.history,
        bestEpoch: result.bestEpoch,
        valAccuracy: truth.r2,
        valLoss: truth.rmse,
        valAgreement: regressionMetrics(pred, teacherValLogits).r2,
        params: student.paramCount,
        seconds: result.seconds,
        modelDir: job.modelDir,
      };
    }
    const v = evaluate((x) => student.predict(x), validation);
    return {
      kind: "train",
      history: result.history,
      bestEpoch: result.bestEpoch,
      valAccuracy: v.accuracy,
      valLoss: v.loss,
      valAgreement: agreement(teacherValLogits, v.logits, train.numClasses),
      params: student.paramCount,
      seconds: result.seconds,
      modelDir: job.modelDir,
    };
  } finally {
    distiller?.dispose();
    student.dispose();
  }
}

/** Batch-1 inference latency (p50 over the timed runs) of an untrained model with this spec. */
export async function runMeasure(job: MeasureJob): Promise<MeasureResult> {
  await useBackend(job.backend);
  const model = new SequentialModel(modelConfigFromSpec(job.spec, { inputShape: job.inputShape, numClasses: job.numClasses }), 0);
  const one = tf.zeros([1, ...job.inputShape]);
  try {
    const s = measureLatency(() => tf.tidy(() => model.predict(one).dataSync()), { warmup: 20, runs: 300, maxSeconds: job.maxSeconds });
    return { kind: "measure", params: model.paramCount, latencyMs: s.p50Ms, latencyP99Ms: s.p99Ms, runs: s.runs };
  } finally {
    one.dispose();
    model.dispose();
  }
}

export function runAutoJob(job: AutoJob, onEpoch?: (m: EpochMetrics) => void): Promise<AutoJobResult> {
  return job.kind === "train" ? runTrainTrial(job, onEpoch) : runMeasure(job);
}
