// Regression metrics, in the target's units: a model's output z (standardised) means the value z·std + mean.
import { existsSync, statSync } from "node:fs";
import type { InMemoryDataset, RegressionTarget } from "../data/dataset.js";
import { loadPreprocess } from "../data/preprocess.js";
import { predictLogits, type Predictor } from "./classification.js";

export interface RegressionMetrics {
  n: number;
  /** √(Σ(p − y)² / n). */
  rmse: number;
  /** Σ|p − y| / n. */
  mae: number;
  /** 1 − Σ(p − y)² / Σ(y − ȳ)² (0 when every y is the same). */
  r2: number;
}

/** Metrics of predictions against truths, accumulated in float64. */
export function regressionMetrics(pred: ArrayLike<number>, truth: ArrayLike<number>): RegressionMetrics {
  const n = truth.length;
  if (pred.length !== n) throw new Error(`${pred.length} predictions for ${n} targets`);
  if (n === 0) return { n, rmse: 0, mae: 0, r2: 0 };
  let mean = 0;
  for (let i = 0; i < n; i++) mean += truth[i];
  mean /= n;
  let sse = 0;
  let sae = 0;
  let sst = 0;
  for (let i = 0; i < n; i++) {
    const d = pred[i] - truth[i];
    sse += d * d;
    sae += Math.abs(d);
    sst += (truth[i] - mean) ** 2;
  }
  return { n, rmse: Math.sqrt(sse / n), mae: sae / n, r2: sst > 0 ? 1 - sse / sst : 0 };
}

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
