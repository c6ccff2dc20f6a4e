import type { InMemoryDataset } from "../data/dataset.js";
import { evaluate, type Predictor } from "../eval/classification.js";
import { evaluateRegression } from "../eval/regression.js";
import type { EpochMetrics } from "./reporter.js";

/**
 * One validation pass: the epoch's metrics and a score where higher is better (keep-best keeps its maximum):
 * accuracy for classification, −RMSE (in the target's units) for regression.
 */
export function validate(predict: Predictor, validation: InMemoryDataset): { metrics: Partial<EpochMetrics>; score: number } {
  if (validation.task === "regression") {
    const v = evaluateRegression(predict, validation);
    return { metrics: { valRmse: v.rmse, valR2: v.r2 }, score: -v.rmse };
  }
  const v = evaluate(predict, validation);
  return { metrics: { valAccuracy: v.accuracy, valLoss: v.loss }, score: v.accuracy };
}
