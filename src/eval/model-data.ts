// The test data of a saved model: the data set recorded in its folder (or the one given with --data), its test split
// featurised with the model's own preprocessing and labelled with the model's class indices. Used by `eval` and
// by `export`'s check, so neither needs --data and neither falls back to a data set the model was not made for.
import { InMemoryDataset } from "../data/dataset.js";
import { applyPreprocess, type DataPreprocess } from "../data/preprocess.js";
import { loadImageData } from "../data/sources.js";
import type { ModelMetadata } from "../students/io.js";
import { loadAnyModel } from "../students/any-model.js";
import { modelPreprocess } from "../students/student.js";
import { DataError, TsdistillError, UsageError } from "../util/errors.js";

export interface ModelInfo {
  dir: string;
  inputShape: readonly number[];
  numOutputs: number;
  metadata: ModelMetadata;
  /** The model's preprocess.json, when it has one. */
  savedPreprocess: DataPreprocess | null;
}

export interface ModelTestData {
  /** The data spec the samples come from. */
  spec: string;
  /** given: --data; recorded: the model's metadata; default: mnist for an unrecorded 28×28×1, 10-class model. */
  source: "given" | "recorded" | "default";
  test: InMemoryDataset;
  /** One line on how the data was chosen or prepared, when that is not obvious. */
  note?: string;
}

const RAW_KIND: Record<DataPreprocess["kind"], string> = { tabular: "record", text: "text", image: "image", tokens: "text" };

/** Reads a model folder's shape, metadata and preprocess.json (checked against the model); the weights are not kept. */
export async function modelInfo(dir: string): Promise<ModelInfo> {
  const { model, metadata } = await loadAnyModel(dir);
  try {
    const inputShape = [...model.inputShape];
    const pre = modelPreprocess(dir, inputShape, model.numOutputs, metadata);
    return { dir, inputShape, numOutputs: model.numOutputs, metadata, savedPreprocess: pre.saved ? pre.preprocess : null };
  } finally {
    model.dispose();
  }
}

/** The data spec a model folder records (metadata `data`), or null. */
export function recordedData(metadata: ModelMetadata): string | null {
  return typeof metadata.data === "string" && metadata.data !== "" ? metadata.data : null;
}

function isRegression(pre: DataPreprocess | null | undefined): boolean {
  return (pre as { task?: string } | null | undefined)?.task === "regression";
}

/**
 * The test split for `model`: from `given` (a --data value) or else the data recorded in the model. Returns null
 * when neither exists (and the model is not an MNIST-shaped legacy model). Refuses, in one line naming both, data
 * whose samples do not fit the model; says which path was recorded when the recorded data cannot be read.
 */
export function modelTestData(model: ModelInfo, given?: string, option = "--data"): ModelTestData | null {
  const recorded = recordedData(model.metadata);
  let spec: string;
  let source: ModelTestData["source"];
  let note: string | undefined;
  if (given !== undefined) {
    spec = given;
    source = "given";
  } else if (recorded) {
    spec = recorded;
    source = "recorded";
  } else if (model.inputShape.join() === "28,28,1" && model.numOutputs === 10 && !model.savedPreprocess) {
    spec = "mnist";
    source = "default";
    note = `${model.dir} records no data set; using mnist, which fits its input [28,28,1] (${option} chooses another)`;
  } else {
    return null;
  }
  let data;
  try {
    data = loadImageData(spec);
  } catch (err) {
    if (source === "recorded" && err instanceof TsdistillError) {
      throw new DataError(`${model.dir}/model.json`, `records its data as "${spec}", which cannot be read now (${err.message}); give ${option} with where that data is now`);
    }
    throw err;
  }
  const trainedOn = recorded && source === "given" && recorded !== spec ? ` (it was trained on ${recorded})` : "";
  let test = data.test;
  if (test.size === 0) throw new UsageError(`${option} ${spec}: has no test samples; expected a test split to evaluate on`);
  const pre = model.savedPreprocess;
  const raw = test.rawView();
  if (pre && !isRegression(pre) && raw && raw.kind === RAW_KIND[pre.kind]) {
    const same = data.preprocess !== undefined && JSON.stringify(data.preprocess) === JSON.stringify(pre);
    if (!same) {
      // The data was prepared differently (another file, changed options or contents): its raw test samples go
      // through the model's own preprocessing, and its class names are matched to the model's.
      const all = Int32Array.from({ length: test.size }, (_, i) => i);
      const x = applyPreprocess(pre, raw.rows(all), { source: `${spec} test sample` });
      const dataNames = data.preprocess?.labelNames ?? Array.from({ length: test.numClasses }, (_, i) => String(i));
      const index = new Map(pre.labelNames.map((n, i) => [n, i]));
      const y = Int32Array.from(test.y, (k) => {
        const name = dataNames[k] ?? String(k);
        const mapped = index.get(name);
        if (mapped === undefined) {
          throw new UsageError(`${option} ${spec}: has class "${name}", which ${model.dir} does not know; its classes are ${pre.labelNames.join(", ")}${trainedOn}`);
        }
        return mapped;
      });
      test = new InMemoryDataset(test.name, x, y, [...model.inputShape], pre.labelNames.length, raw);
      note = `${spec}: test samples prepared with ${model.dir}/preprocess.json (the data's own preprocessing differs from the model's)`;
    }
  }
  if (test.sampleShape.join() !== model.inputShape.join() || test.numClasses !== model.numOutputs) {
    throw new UsageError(
      `${option} ${spec}: its samples have shape [${test.sampleShape}] and ${test.numClasses} classes, but ${model.dir} takes [${model.inputShape}] with ${model.numOutputs} outputs${trainedOn}`,
    );
  }
  return { spec, source, test, note };
}
