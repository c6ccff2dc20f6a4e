// `tsdistill eval` on a regression data set: saved models side by side on the test split, in the target's units
// (RMSE, MAE, R²), the student's RMSE to the teacher's predictions, size and speed.
import type { InMemoryDataset } from "../data/dataset.js";
import { loadModel } from "../students/io.js";
import type { SequentialModel } from "../students/model.js";
import { DataError } from "../util/errors.js";
import { predictLogits } from "./classification.js";
import { checkFits, timeModels, type ModelEntry, type ModelTiming, type SuiteOptions } from "./model-eval.js";
import { measureCpu, type CpuCost } from "./energy.js";
import { modelOutputScale, regressionMetrics, targetValues, toUnits } from "./regression.js";
import { bytesOnDisk } from "./size.js";

export interface RegressionModelEvaluation {
  name: string;
  dir: string;
  teacher: boolean;
  params: number;
  bytesOnDisk: number;
  testSize: number;
  rmse: number;
  mae: number;
  r2: number;
  /** RMSE between this model's and the teacher's test predictions (target units); null without a teacher. */
  rmseVsTeacher: number | null;
  /** The scale the model's output was read on: value = output × std + mean. */
  outputScale: { mean: number; std: number };
  timing: ModelTiming | null;
  /** Process CPU time of the prediction pass over the test split (after a warm-up pass of its first rows). */
  cpu: CpuCost;
}

export interface RegressionSuite {
  task: "regression";
  data: string;
  target: string;
  testSize: number;
  batchSize: number;
  models: RegressionModelEvaluation[];
  comparisons: { teacher: string; student: string; rmseVsTeacher: number; compressionRatio: number; speedUp: number | null }[];
}

export async function evaluateRegressionModels(entries: ModelEntry[], data: InMemoryDataset, dataName: string, opts: SuiteOptions = {}): Promise<RegressionSuite> {
  const batchSize = opts.batchSize ?? 256;
  if (!data.target) throw new Error(`evaluateRegressionModels: ${dataName} is not a regression data set`);
  if (data.size === 0) throw new DataError(dataName, "has no test samples");
  const truth = targetValues(data);
  const loaded: { entry: ModelEntry; model: SequentialModel }[] = [];
  try {
    for (const entry of entries) {
      const { model } = await loadModel(entry.dir);
      loaded.push({ entry, model });
      checkFits(model, entry.dir, data, dataName);
    }
    const scales = loaded.map(({ entry }) => modelOutputScale(entry.dir));
    const cpus: CpuCost[] = [];
    const preds = loaded.map(({ model }, i) => {
      predictLogits((x) => model.predict(x), data.subset(Int32Array.from({ length: Math.min(data.size, 64) }, (_, r) => r)));
      const { value, cpu } = measureCpu(data.size, () => predictLogits((x) => model.predict(x), data));
      cpus.push(cpu);
      return toUnits(value, scales[i]);
    });
    const timings = opts.timing ?? true ? timeModels(loaded.map((l) => l.model), data, batchSize, opts) : loaded.map(() => null);
    const ti = loaded.findIndex((l) => l.entry.teacher);
    const models = loaded.map(({ entry, model }, i): RegressionModelEvaluation => {
      const m = regressionMetrics(preds[i], truth);
      return {
        name: entry.name,
        dir: entry.dir,
        teacher: Boolean(entry.teacher),
        params: model.paramCount,
        bytesOnDisk: bytesOnDisk(entry.dir),
        testSize: m.n,
        rmse: m.rmse,
        mae: m.mae,
        r2: m.r2,
        rmseVsTeacher: ti >= 0 && i !== ti ? regressionMetrics(preds[i], preds[ti]).rmse : null,
        outputScale: scales[i],
        timing: timings[i],
        cpu: cpus[i],
      };
    });
    const teacher = ti >= 0 ? models[ti] : null;
    const comparisons = teacher
      ? models
          .filter((m) => !m.teacher)
          .map((m) => ({
            teacher: teacher.name,
            student: m.name,
            rmseVsTeacher: m.rmseVsTeacher!,
            compressionRatio: teacher.bytesOnDisk / m.bytesOnDisk,
            speedUp: teacher.timing && m.timing ? teacher.timing.batch1.p50Ms / m.timing.batch1.p50Ms : null,
          }))
      : [];
    return { task: "regression", data: dataName, target: data.target.name, testSize: data.size, batchSize, models, comparisons };
  } finally {
    for (const { model } of loaded) model.dispose();
  }
}
