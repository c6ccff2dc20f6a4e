/**
 * The default training budget for a training set of n samples. Ten epochs of batches of 128 suit MNIST-sized data
 * (4,000+ steps) but give a table of a few hundred rows a handful of steps, and an untrained student (a 2-class
 * tabular student stayed below chance after 40 steps). So small sets get smaller batches (at least 16 per epoch)
 * and enough epochs for MIN_STEPS steps in all. Numbers the user gave are kept.
 */
export const DEFAULT_EPOCHS = 10;
export const DEFAULT_BATCH_SIZE = 128;
export const MIN_STEPS_PER_EPOCH = 16;
export const MIN_BATCH_SIZE = 8;
export const MIN_STEPS = 2000;
export const MAX_DEFAULT_EPOCHS = 200;

export const BUDGET_HELP = {
  epochs: `default ${DEFAULT_EPOCHS}, more on small training sets: enough for ${MIN_STEPS} steps, at most ${MAX_DEFAULT_EPOCHS}`,
  batchSize: `default ${DEFAULT_BATCH_SIZE}; on training sets under ${DEFAULT_BATCH_SIZE * MIN_STEPS_PER_EPOCH} samples n/${MIN_STEPS_PER_EPOCH}, at least ${MIN_BATCH_SIZE}`,
};

export function defaultBudget(n: number, given: { epochs?: number; batchSize?: number } = {}): { epochs: number; batchSize: number } {
  const batchSize = given.batchSize ?? Math.min(DEFAULT_BATCH_SIZE, Math.max(MIN_BATCH_SIZE, Math.floor(n / MIN_STEPS_PER_EPOCH)));
  const stepsPerEpoch = Math.max(1, Math.ceil(n / batchSize));
  const epochs = given.epochs ?? Math.min(MAX_DEFAULT_EPOCHS, Math.max(DEFAULT_EPOCHS, Math.ceil(MIN_STEPS / stepsPerEpoch)));
  return { epochs, batchSize };
}
