import { loadSplits, type SplitOptions } from "../data/sources.js";
import { savePreprocess } from "../data/preprocess.js";
import { randomShift } from "../data/augment.js";
import { SequentialModel, type ModelConfig } from "../students/model.js";
import { saveModel, type ModelMetadata } from "../students/io.js";
import { useBackend, type BackendName } from "../engine/backend.js";
import type { FitConfigInput, FitResult } from "./fit.js";
import type { TrainingReporter } from "./reporter.js";
import { train } from "./distill.js";
import { FileCheckpoint } from "./checkpoint.js";

/**
 * A self-contained hard-label training run, described by plain data so it can run in a worker thread:
 * it loads its data, trains, and saves the model to `outDir`.
 */
export interface TrainJob {
  label: string;
  backend: BackendName;
  data: string;
  split: SplitOptions;
  model: ModelConfig;
  initSeed: number;
  fit: FitConfigInput;
  /** Random shifts of up to this many pixels (0 = none). */
  augmentShift?: number;
  outDir: string;
  metadata?: ModelMetadata;
  /** Checkpoint file, written every epoch and continued from when it exists (see checkpoint.ts). */
  checkpoint?: string;
}

export interface TrainJobResult {
  fit: FitResult;
  modelDir: string;
  params: number;
}

export async function runTrainJob(job: TrainJob, reporter?: TrainingReporter): Promise<TrainJobResult> {
  await useBackend(job.backend);
  const { train: trainSet, validation, preprocess } = loadSplits(job.data, job.split);
  const model = new SequentialModel(job.model, job.initSeed);
  try {
    const fit = await train(model, trainSet, {
      ...job.fit,
      validation,
      reporter,
      label: job.label,
      augment: job.augmentShift ? randomShift(job.augmentShift) : undefined,
      checkpoint: job.checkpoint ? new FileCheckpoint(job.checkpoint) : undefined,
    });
    await saveModel(model, job.outDir, job.metadata ?? {});
    if (preprocess) savePreprocess(job.outDir, preprocess);
    return { fit, modelDir: job.outDir, params: model.paramCount };
  } finally {
    model.dispose();
  }
}
