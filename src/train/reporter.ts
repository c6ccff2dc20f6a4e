// What every training tells the outside world: one ProgressEvent shape for the library's callbacks, the CLI's
// progress output, run folders and training workers alike.

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

/** An epoch event: it always carries the epoch's metrics. */
export type EpochEvent = ProgressEvent & { kind: "epoch"; metrics: EpochMetrics };

/** What a training tells the outside world (progress bar, logs, run folder): ProgressEvents, and when a phase ends. */
export interface TrainingReporter {
  onBatch?(event: ProgressEvent): void;
  onEpoch?(event: EpochEvent): void;
  /** The training labelled `label` is over (finished, failed or aborted). */
  onPhaseEnd?(label: string): void;
  /** A fit continued from a checkpoint: the epochs it had already done. */
  onRestore?(label: string, history: EpochMetrics[], epochs: number): void;
}

/** The Distiller's and runRecipe's progress callbacks: the ProgressEvents of a TrainingReporter. */
export type ProgressCallbacks = Pick<TrainingReporter, "onBatch" | "onEpoch">;

/** One reporter that forwards every notification to each of `reporters` (undefined when none is given). */
export function allReporters(...reporters: (TrainingReporter | undefined)[]): TrainingReporter | undefined {
  const rs = reporters.filter((r): r is TrainingReporter => r !== undefined);
  if (rs.length <= 1) return rs[0];
  return {
    onBatch: (event) => rs.forEach((r) => r.onBatch?.(event)),
    onEpoch: (event) => rs.forEach((r) => r.onEpoch?.(event)),
    onPhaseEnd: (label) => rs.forEach((r) => r.onPhaseEnd?.(label)),
    onRestore: (label, history, epochs) => rs.forEach((r) => r.onRestore?.(label, history, epochs)),
  };
}

/**
 * Builds a training loop's ProgressEvents (fit's, and the text students' loops): throughput from the samples this
 * call has trained, the ETA from what is left of the training at that pace.
 */
export class ProgressTracker {
  private readonly start = performance.now();
  private samplesSeen = 0;

  constructor(
    private readonly reporter: TrainingReporter | undefined,
    readonly label: string,
    readonly epochs: number,
    /** Samples in one epoch, and batches. */
    readonly samplesPerEpoch: number,
    readonly stepsPerEpoch: number,
  ) {}

  /** After batch `step` (from 1) of `epoch` (from 0) of `batchSize` samples; `seen` samples of the epoch so far, `loss` their mean. */
  batch(epoch: number, step: number, batchSize: number, seen: number, loss: number): void {
    this.samplesSeen += batchSize;
    if (!this.reporter?.onBatch) return;
    const sps = this.samplesSeen / Math.max((performance.now() - this.start) / 1000, 1e-9);
    const remaining = (this.epochs - epoch) * this.samplesPerEpoch - seen;
    this.reporter.onBatch({ kind: "batch", label: this.label, epoch: epoch + 1, epochs: this.epochs, step, stepsPerEpoch: this.stepsPerEpoch, loss, samplesPerSecond: sps, etaSeconds: remaining / sps });
  }

  /** After an epoch of `steps` batches (`metrics.epoch` counts from 1). */
  epoch(metrics: EpochMetrics, steps: number): void {
    const etaSeconds = (this.epochs - metrics.epoch) * metrics.seconds;
    this.reporter?.onEpoch?.({ kind: "epoch", label: this.label, epoch: metrics.epoch, epochs: this.epochs, step: steps, stepsPerEpoch: this.stepsPerEpoch, loss: metrics.loss, samplesPerSecond: metrics.samplesPerSecond, etaSeconds, metrics });
  }

  /** The training is over (finished, failed or aborted). */
  end(): void {
    this.reporter?.onPhaseEnd?.(this.label);
  }
}
