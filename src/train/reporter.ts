/** What the training loop tells the outside world (progress bar, logs, run folder). */
export interface StepInfo {
  label: string;
  epoch: number;
  epochs: number;
  step: number;
  stepsPerEpoch: number;
  loss: number;
  samplesPerSecond: number;
  /** Seconds left in this training phase, from the running throughput. */
  etaSeconds: number;
}

export interface EpochMetrics {
  epoch: number;
  loss: number;
  lr: number;
  seconds: number;
  samplesPerSecond: number;
  valAccuracy?: number;
  valLoss?: number;
  /** Regression: validation RMSE in the target's units, and R². */
  valRmse?: number;
  valR2?: number;
}

export interface TrainingReporter {
  onStep?(info: StepInfo): void;
  onEpochEnd?(label: string, metrics: EpochMetrics, epochs: number): void;
  onPhaseEnd?(label: string): void;
  /** A fit continued from a checkpoint: the epochs it had already done. */
  onRestore?(label: string, history: EpochMetrics[], epochs: number): void;
}

/**
 * The one progress event every training gives its callbacks (the Distiller's onBatch / onEpoch): after each batch
 * (`kind: "batch"`, running mean loss of the epoch so far) and after each epoch (`kind: "epoch"`, with the
 * epoch's metrics). `epoch` counts from 1.
 */
export interface ProgressEvent {
  kind: "batch" | "epoch";
  label: string;
  epoch: number;
  epochs: number;
  /** Batches done in this epoch (at an epoch event: all of them). */
  step: number;
  stepsPerEpoch: number;
  loss: number;
  samplesPerSecond: number;
  /** Seconds left in this training, from the running throughput (0 at the last epoch event). */
  etaSeconds: number;
  /** Epoch events: the epoch's metrics (validation accuracy/loss when a validation set is given). */
  metrics?: EpochMetrics;
}

export interface ProgressCallbacks {
  onBatch?(event: ProgressEvent): void;
  onEpoch?(event: ProgressEvent): void;
}

/** A reporter that turns the training loop's notifications into ProgressEvents (and forwards them to `also`). */
export function progressReporter(callbacks: ProgressCallbacks, also?: TrainingReporter): TrainingReporter {
  let last: StepInfo | null = null;
  return {
    onStep(info) {
      last = info;
      also?.onStep?.(info);
      callbacks.onBatch?.({ kind: "batch", label: info.label, epoch: info.epoch + 1, epochs: info.epochs, step: info.step, stepsPerEpoch: info.stepsPerEpoch, loss: info.loss, samplesPerSecond: info.samplesPerSecond, etaSeconds: info.etaSeconds });
    },
    onEpochEnd(label, metrics, epochs) {
      also?.onEpochEnd?.(label, metrics, epochs);
      const steps = last?.stepsPerEpoch ?? 0;
      const eta = metrics.epoch >= epochs ? 0 : (epochs - metrics.epoch) * metrics.seconds;
      callbacks.onEpoch?.({ kind: "epoch", label, epoch: metrics.epoch, epochs, step: steps, stepsPerEpoch: steps, loss: metrics.loss, samplesPerSecond: metrics.samplesPerSecond, etaSeconds: eta, metrics });
    },
    onPhaseEnd: (label) => also?.onPhaseEnd?.(label),
    onRestore: (label, history, epochs) => also?.onRestore?.(label, history, epochs),
  };
}
