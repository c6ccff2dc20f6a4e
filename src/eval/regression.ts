// Regression metrics, in the target's units: a model's output z (standardised) means the value z·std + mean.
import { existsSync, statSync } from "node:fs";
import type { InMemoryDataset, RegressionTarget } from "../data/dataset.js";
import { loadPreprocess } from "../data/preprocess.js";
import { predictLogits, type Predictor } from "./classification.js";
import { regressionMetrics, type RegressionMetrics } from "./metrics.js";

export { regressionMetrics, type RegressionMetrics } from "./metrics.js";

/** Standardised values z → the target's units. */
export function toUnits(z: ArrayLike<number>, scale: { mean: number; std: number }): Float64Array {
  return Float64Array.from(z, (v) => v * scale.std + scale.mean);
}

/** The data set's targets in their units (its rows must all be labelled). */
export function targetValues(data: InMemoryDataset): Float64Array {
  const t = requireTarget(data);
  return toUnits(t.values, t);
}

export function requireTarget(data: InMemoryDataset): RegressionTarget {
  if (!data.target) throw new Error(`dataset ${data.name} has no regression targets`);
  return data.target;
}

/**
 * A model's predictions on `data` in the target's units and its metrics there. `scale` is the model's own output
 * scale (from its preprocess.json); default the data's.
 */
export function evaluateRegression(predict: Predictor, data: InMemoryDataset, scale?: { mean: number; std: number }): RegressionMetrics & { predictions: Float64Array } {
  const z = predictLogits(predict, data);
  if (data.size > 0 && z.length !== data.size) throw new Error(`regression model gave ${z.length / data.size} outputs per sample; expected 1`);
  const predictions = toUnits(z, scale ?? requireTarget(data));
  return { ...regressionMetrics(predictions, targetValues(data)), predictions };
}

/**
 * The scale of a saved model's output: tsdistill's regression models output standardised values and name the
 * target's mean and std in their preprocess.json; any other model (or folder) outputs the target's units.
 */
export function modelOutputScale(dir: string): { mean: number; std: number } {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return { mean: 0, std: 1 };
  const pre = loadPreprocess(dir);
  return pre?.kind === "tabular" && pre.task === "regression" && pre.target ? pre.target : { mean: 0, std: 1 };
}
