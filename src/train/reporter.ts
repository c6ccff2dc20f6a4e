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
