import * as tf from "@tensorflow/tfjs-core";
import { z } from "zod";
import type { Batch, DataSource, InMemoryDataset } from "../data/dataset.js";
import type { Augment } from "../data/augment.js";
import type { TrainableModel } from "../students/trainable.js";
import { validate } from "./validation.js";
import { Rng } from "../util/rng.js";
import { TsdistillError } from "../util/errors.js";
import { createOptimizer, OptimizerConfig } from "./optimizers.js";
import { lrFactor, ScheduleConfig } from "../util/schedules.js";
import { ProgressTracker, type EpochMetrics, type TrainingReporter } from "./reporter.js";
import { fitFingerprint, restoreFit, saveFit, type FitCheckpoint } from "./checkpoint.js";

export const FitConfig = z.object({
  epochs: z.number().int().positive(),
  batchSize: z.number().int().positive().default(128),
  optimizer: OptimizerConfig.default({ kind: "adam", lr: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-7, weightDecay: 0 }),
  schedule: ScheduleConfig.default({ kind: "cosine", minFactor: 0, warmupEpochs: 0 }),
  seed: z.number().int().default(42),
  /** Restore the weights of the epoch with the best validation accuracy (regression: lowest RMSE) at the end. */
  keepBest: z.boolean().default(true),
});
export type FitConfig = z.infer<typeof FitConfig>;
export type FitConfigInput = z.input<typeof FitConfig>;

/** What a loss sees at each step besides the student's logits. */
export interface StepContext {
  batch: Batch;
  /** The batch inputs as a tensor [n, ...sampleShape]. */
  x: tf.Tensor;
  /** Integer labels [n] (regression: 0, or −1 for an unlabeled sample). */
  y: tf.Tensor1D;
  /** Regression: standardised targets [n]. */
  targets?: tf.Tensor1D;
  epoch: number;
  /** Fractional epoch (epoch + step / stepsPerEpoch), for schedules of loss weights, α and T. */
  progress: number;
  /** The student's intermediate outputs named in FitOptions.capture. */
  features: Map<string, tf.Tensor>;
}

/** Per-step training loss: a pure function of tensors, called inside the gradient tape. */
export type LossFn = (logits: tf.Tensor2D, ctx: StepContext) => tf.Scalar;

export interface FitResult {
  history: EpochMetrics[];
  bestEpoch: number;
  bestValAccuracy: number | null;
  /** Regression: the kept epoch's validation RMSE (target units). */
  bestValRmse?: number | null;
  seconds: number;
}

export interface FitOptions extends FitConfigInput {
  validation?: InMemoryDataset;
  /** On-the-fly input augmentation (seeded per epoch). */
  augment?: Augment;
  reporter?: TrainingReporter;
  /** Label shown in progress output and logs. */
  label?: string;
  /** Student layers whose outputs the loss reads (feature-based distillation). */
  capture?: string[];
  /** Trainable tensors outside the model that the loss uses (e.g. projectors); trained and checkpointed, not saved with the model. */
  extraParams?: tf.Variable[];
  /** Written after every epoch; when it already holds a state of this training, the fit continues from it. */
  checkpoint?: FitCheckpoint;
  /** Stops the training before the next batch (rejecting with the signal's reason); a checkpoint keeps the finished epochs. */
  signal?: AbortSignal;
}

/**
 * The training loop: seeded shuffling and dropout, optimiser + LR schedule, validation each epoch and a
 * keep-best checkpoint. Same seed and backend → same numbers.
 */
export async function fit(model: TrainableModel, train: DataSource, loss: LossFn, options: FitOptions): Promise<FitResult> {
  const { validation, reporter, augment, label = "train", capture, extraParams = [], checkpoint, signal, ...rest } = options;
  const cfg = FitConfig.parse(rest);
  const optimizer = createOptimizer(cfg.optimizer);
  const params = [...model.params, ...extraParams];
  const stepsPerEpoch = Math.ceil(train.size / cfg.batchSize);
  const history: EpochMetrics[] = [];
  let best: { epoch: number; score: number; weights: tf.Tensor[] } | null = null;
  const start = performance.now();
  const progress = new ProgressTracker(reporter, label, cfg.epochs, train.size, stepsPerEpoch);
  const fingerprint = checkpoint ? fitFingerprint(cfg, train.size, params) : {};
  let secondsBefore = 0;
  try {
    signal?.throwIfAborted();
    const restored = checkpoint ? restoreFit(checkpoint, fingerprint, params, optimizer) : null;
    if (restored) {
      history.push(...restored.history);
      best = restored.best;
      secondsBefore = restored.seconds;
      reporter?.onRestore?.(label, history, cfg.epochs);
    }
    for (let epoch = restored?.epoch ?? 0; epoch < cfg.epochs; epoch++) {
      const epochStart = performance.now();
      const shuffle = new Rng(cfg.seed, "shuffle", epoch);
      const dropout = new Rng(cfg.seed, "dropout", epoch);
      const augmentRng = new Rng(cfg.seed, "augment", epoch);
      let lossSum = 0;
      let seen = 0;
      let step = 0;
      let lr = 0;
      for await (const raw of train.batches({ batchSize: cfg.batchSize, rng: shuffle })) {
        signal?.throwIfAborted();
        const batch = augment ? augment(raw, train.sampleShape, augmentRng) : raw;
        lr = cfg.optimizer.lr * lrFactor(cfg.schedule, epoch + step / stepsPerEpoch, cfg.epochs);
        const value = tf.tidy(() => {
          const x = tf.tensor(batch.x, [batch.size, ...train.sampleShape]);
          const y = tf.tensor1d(batch.y, "int32");
          const targets = batch.targets ? tf.tensor1d(batch.targets, "float32") : undefined;
          const { value: l, grads } = tf.variableGrads(() => {
            const out = model.forward(x, { training: true, rng: dropout, capture, inputGradient: false });
            return loss(out.logits, { batch, x, y, targets, epoch, progress: epoch + step / stepsPerEpoch, features: out.features });
          }, params);
          optimizer.step(params, params.map((p) => grads[p.name] ?? tf.zerosLike(p)), lr);
          return l.dataSync()[0];
        });
        if (!Number.isFinite(value)) throw new TsdistillError(`${label}: loss became ${value} at epoch ${epoch + 1}, step ${step + 1}; try a lower learning rate`);
        lossSum += value * batch.size;
        seen += batch.size;
        step++;
        progress.batch(epoch, step, batch.size, seen, lossSum / seen);
      }
      const seconds = (performance.now() - epochStart) / 1000;
      const metrics: EpochMetrics = { epoch: epoch + 1, loss: lossSum / Math.max(seen, 1), lr, seconds, samplesPerSecond: seen / seconds };
      if (validation) {
        const v = validate((x) => model.predict(x), validation);
        Object.assign(metrics, v.metrics);
        if (cfg.keepBest && (!best || v.score > best.score)) {
          best?.weights.forEach((w) => w.dispose());
          best = { epoch: epoch + 1, score: v.score, weights: model.snapshot() };
        }
      }
      history.push(metrics);
      if (checkpoint) saveFit(checkpoint, { epoch: epoch + 1, fingerprint, history, best, params, optimizer, seconds: secondsBefore + (performance.now() - start) / 1000 });
      progress.epoch(metrics, step);
    }
    if (best) model.setWeights(best.weights);
  } finally {
    best?.weights.forEach((w) => w.dispose());
    optimizer.dispose();
    progress.end();
  }
  const last = history.length ? history[history.length - 1] : undefined;
  const regression = validation?.task === "regression";
  return {
    history,
    bestEpoch: best?.epoch ?? history.length,
    bestValAccuracy: regression ? null : best ? best.score : last?.valAccuracy ?? null,
    ...(regression ? { bestValRmse: best ? -best.score : last?.valRmse ?? null } : {}),
    seconds: secondsBefore + (performance.now() - start) / 1000,
  };
}
