import * as tf from "@tensorflow/tfjs-core";
import * as tfl from "@tensorflow/tfjs-layers";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { readModelArtifacts, readModelJson } from "./tfjs-folder.js";
import { DataError } from "../util/errors.js";
import { writeDirAtomic } from "../util/files.js";
import type { Activation, Padding } from "../engine/ops.js";
import { ACTIVATIONS } from "../engine/ops.js";
import type { LayerConfig } from "./layers.js";
import { SequentialModel } from "./model.js";

/** Free-form facts saved with a model (spec, preprocessing, class names, training summary). */
export type ModelMetadata = Record<string, unknown>;

/** The same network as a stock tf.layers Sequential model (shares no memory with `model`). */
export function toLayersModel(model: SequentialModel): tfl.Sequential {
  const seq = tfl.sequential({ name: "tsdistill_model" });
  model.layers.forEach((layer, i) => {
    const c = layer.config;
    const first = i === 0 ? { inputShape: model.config.inputShape } : {};
    switch (c.type) {
      case "dense":
        seq.add(tfl.layers.dense({ name: c.name, units: c.units, activation: c.activation, useBias: c.useBias, ...first }));
        break;
      case "conv2d":
        seq.add(tfl.layers.conv2d({ name: c.name, filters: c.filters, kernelSize: c.kernelSize, strides: c.strides, padding: c.padding, activation: c.activation, useBias: c.useBias, ...first }));
        break;
      case "maxPool2d":
        seq.add(tfl.layers.maxPooling2d({ name: c.name, poolSize: c.poolSize, strides: c.strides, padding: c.padding, ...first }));
        break;
      case "avgPool2d":
        seq.add(tfl.layers.averagePooling2d({ name: c.name, poolSize: c.poolSize, strides: c.strides, padding: c.padding, ...first }));
        break;
      case "flatten":
        seq.add(tfl.layers.flatten({ name: c.name, ...first }));
        break;
      case "dropout":
        seq.add(tfl.layers.dropout({ name: c.name, rate: c.rate, ...first }));
        break;
    }
  });
  seq.setWeights(model.params);
  return seq;
}

function joinWeightData(data: tf.io.WeightData | undefined): Uint8Array {
  if (!data) return new Uint8Array(0);
  const buffers = Array.isArray(data) ? data : [data];
  return new Uint8Array(tf.io.concatenateArrayBuffers(buffers));
}

/**
 * Saves in the TF.js layers format (model.json + weights.bin), atomically: `dir` is complete or untouched. `files`
 * (name → contents, e.g. preprocess.json) are written into the same folder in the same step.
 */
export async function saveModel(model: SequentialModel, dir: string, metadata: ModelMetadata = {}, files: Record<string, string | Uint8Array> = {}): Promise<void> {
  const lm = toLayersModel(model);
  try {
    await writeDirAtomic(dir, async (tmp) => {
      await lm.save(
        tf.io.withSaveHandler(async (artifacts) => {
          const weights = joinWeightData(artifacts.weightData);
          const modelJson = {
            format: "layers-model",
            generatedBy: `tsdistill (TensorFlow.js tfjs-layers v${tfl.version_layers})`,
            convertedBy: null,
            modelTopology: artifacts.modelTopology,
            weightsManifest: [{ paths: ["weights.bin"], weights: artifacts.weightSpecs }],
            userDefinedMetadata: { tsdistill: metadata },
          };
          for (const [name, data] of Object.entries(files)) writeFileSync(join(tmp, name), data);
          writeFileSync(join(tmp, "weights.bin"), weights);
          writeFileSync(join(tmp, "model.json"), JSON.stringify(modelJson));
          return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
        }),
      );
    });
  } finally {
    lm.dispose();
  }
}

/** Reads a TF.js layers model folder (model.json + weight shards) as a stock tf.layers model. */
export async function loadLayersModel(dir: string): Promise<{ model: tfl.LayersModel; metadata: ModelMetadata }> {
  const jsonPath = join(dir, "model.json");
  const json = readModelJson(dir, "a TF.js layers model folder (model.json + weight files)");
  const artifacts = readModelArtifacts(dir, json);
  let model: tfl.LayersModel;
  try {
    model = await tfl.loadLayersModel(tf.io.fromMemory({ modelTopology: artifacts.modelTopology, weightSpecs: artifacts.weightSpecs, weightData: artifacts.weightData }));
  } catch (err) {
    throw new DataError(jsonPath, `could not be loaded as a TF.js layers model (${(err as Error).message})`);
  }
  const metadata = (json.userDefinedMetadata?.tsdistill as ModelMetadata | undefined) ?? {};
  return { model, metadata };
}

const pair = (v: unknown, what: string, layer: string): number => {
  const arr = Array.isArray(v) ? v : [v];
  if (arr.length === 0 || arr.some((x) => x !== arr[0])) throw new Error(`layer ${layer}: only square ${what} are supported, got ${JSON.stringify(v)}`);
  return Number(arr[0]);
};

/**
 * Converts a stock tf.layers Sequential-style model into an engine model (for further training or as a
 * student to resume). A final softmax is dropped: engine models output logits.
 */
export function fromLayersModel(lm: tfl.LayersModel, source = "model"): SequentialModel {
  const layers: LayerConfig[] = [];
  const weights: tf.Tensor[] = [];
  const unsupported = (name: string, why: string): never => {
    throw new DataError(source, `layer "${name}" ${why}; the trainable engine supports Dense, Conv2D, MaxPooling2D, AveragePooling2D, Flatten, Dropout`);
  };
  const act = (a: unknown, name: string, last: boolean): Activation => {
    const s = String(a ?? "linear");
    if (s === "softmax" && last) return "linear";
    if ((ACTIVATIONS as readonly string[]).includes(s)) return s as Activation;
    return unsupported(name, `has activation "${s}"`);
  };
  const all = lm.layers.filter((l) => l.getClassName() !== "InputLayer");
  all.forEach((l, i) => {
    const c = l.getConfig() as Record<string, unknown>;
    const name = l.name;
    const last = i === all.length - 1;
    switch (l.getClassName()) {
      case "Dense":
        layers.push({ type: "dense", name, units: Number(c.units), activation: act(c.activation, name, last), useBias: c.useBias !== false });
        break;
      case "Conv2D":
        if (c.dataFormat && c.dataFormat !== "channelsLast") unsupported(name, "is not channels-last");
        if (pair(c.dilationRate ?? 1, "dilations", name) !== 1) unsupported(name, "is dilated");
        layers.push({ type: "conv2d", name, filters: Number(c.filters), kernelSize: pair(c.kernelSize, "kernels", name), strides: pair(c.strides ?? 1, "strides", name), padding: c.padding as Padding, activation: act(c.activation, name, last), useBias: c.useBias !== false });
        break;
      case "MaxPooling2D":
      case "AveragePooling2D": {
        const poolSize = pair(c.poolSize, "pools", name);
        const strides = c.strides == null ? poolSize : pair(c.strides, "strides", name);
        const type = l.getClassName() === "MaxPooling2D" ? "maxPool2d" : "avgPool2d";
        layers.push({ type, name, poolSize, strides, padding: c.padding as Padding });
        break;
      }
      case "Flatten":
        layers.push({ type: "flatten", name });
        break;
      case "Dropout":
        layers.push({ type: "dropout", name, rate: Number(c.rate) });
        break;
      default:
        unsupported(name, `is a ${l.getClassName()}`);
    }
    weights.push(...l.getWeights());
  });
  const inputShape = (lm.inputs[0].shape as (number | null)[]).slice(1) as number[];
  const model = new SequentialModel({ inputShape, layers });
  model.setWeights(weights);
  return model;
}

/** Loads a TF.js layers model folder as an engine model. */
export async function loadModel(dir: string): Promise<{ model: SequentialModel; metadata: ModelMetadata }> {
  const { model: lm, metadata } = await loadLayersModel(dir);
  try {
    return { model: fromLayersModel(lm, join(dir, "model.json")), metadata };
  } finally {
    lm.dispose();
  }
}
