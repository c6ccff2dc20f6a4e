// A tsdistill model folder as a teacher with its own preprocessing: an MLP trained on hashed n-grams teaching a
// transformer that reads token ids (or the reverse, or two transformers with different tokenizers). The teacher
// gets the raw samples (the data set's second view, data/raw.ts) and turns them into its own input through its
// preprocess.json; the student reads the data's features as usual.
import * as tf from "@tensorflow/tfjs-core";
import { join } from "node:path";
import type { InMemoryDataset } from "../data/dataset.js";
import { applyPreprocess, loadPreprocess, type DataPreprocess } from "../data/preprocess.js";
import type { RawKind } from "../data/raw.js";
import { isModelFolder, loadAnyModel } from "../students/any-model.js";
import type { TrainableModel } from "../students/trainable.js";
import { isTransformerFolder } from "../students/transformer-io.js";
import { TransformerModel } from "../students/transformer.js";
import { DataError } from "../util/errors.js";
import { hashFiles } from "./label-cache.js";
import type { Teacher } from "./teacher.js";
import type { OpenedTeacher } from "./teacher-openers.js";
import { readdirSync } from "node:fs";

const RAW_KIND: Record<DataPreprocess["kind"], RawKind> = { tabular: "record", text: "text", tokens: "text", image: "image" };

function logitsOf(model: TrainableModel, x: Float32Array, n: number): Float32Array {
  return tf.tidy(() => Float32Array.from(model.predict(tf.tensor(x, [n, ...model.inputShape], "float32")).dataSync() as Float32Array));
}

/** A saved model that reads raw samples (texts, records, images) through its own preprocessing. */
export function preprocessedTeacher(model: TrainableModel, pre: DataPreprocess, name: string, hash: string | null): Teacher {
  const rawKind = RAW_KIND[pre.kind];
  return {
    name,
    numClasses: model.numOutputs,
    metadata: {
      kind: "engine",
      input: { shape: [null, ...model.inputShape], dtype: "float32", layout: model instanceof TransformerModel ? "sequence" : "flat", rawKinds: [rawKind] },
      output: { numClasses: model.numOutputs, kind: "logits", ...(pre.labelNames.length === model.numOutputs ? { classNames: pre.labelNames } : {}) },
      hash,
    },
    logits: () => {
      throw new Error(`teacher ${name}: it reads raw ${rawKind} samples through its own preprocess.json; run it with runTeacher (teacher-run.ts)`);
    },
    logitsAsync: async (input) => {
      if (!input.raw) throw new DataError(name, `reads raw ${rawKind} samples, but the batch has none`);
      return logitsOf(model, applyPreprocess(pre, input.raw, { source: `${name} input` }), input.n);
    },
  };
}

/** A transformer teacher over the data's own token ids (its tokenizer and context match the data's). */
function tokenTeacher(model: TransformerModel, name: string, hash: string | null): Teacher {
  return {
    name,
    numClasses: model.numOutputs,
    metadata: { kind: "engine", input: { shape: [null, ...model.inputShape], dtype: "float32", layout: "sequence" }, output: { numClasses: model.numOutputs, kind: "logits" }, hash },
    logits: (x) => model.predict(x),
    forward: (x, capture) => model.forward(x, { training: false, capture }),
  };
}

function folderHash(dir: string): string {
  return hashFiles(readdirSync(dir).sort().map((f) => join(dir, f)));
}

/**
 * Opens a tsdistill model folder as a teacher when it needs more than the student's features: a transformer
 * folder, or any model whose preprocess.json differs from the data's preprocessing `dataPre` (without `dataPre`:
 * whose input shape differs from the data's samples). Returns null for a folder the plain TF.js path opens as before.
 */
export async function openSavedModelTeacher(dir: string, data: InMemoryDataset, dataPre?: DataPreprocess): Promise<OpenedTeacher | null> {
  if (!isModelFolder(dir)) return null;
  const transformer = isTransformerFolder(dir);
  const pre = loadPreprocess(dir);
  if (!transformer && !pre) return null;
  // The data was prepared as this model's input: the plain path reads its features (no second load here).
  if (!transformer && dataPre && JSON.stringify(pre) === JSON.stringify(dataPre)) return null;
  const loaded = await loadAnyModel(dir).catch((err: unknown) => {
    if (transformer) throw err;
    return null; // a stock TF.js layers model: the TF.js path opens it
  });
  if (!loaded) return null;
  const { model } = loaded;
  const differs = pre !== null && (dataPre ? JSON.stringify(pre) !== JSON.stringify(dataPre) : model.inputShape.join() !== data.sampleShape.join());
  if (!transformer && !differs) {
    model.dispose();
    return null;
  }
  const hash = folderHash(dir);
  const close = async () => model.dispose();
  if (differs) return { teacher: preprocessedTeacher(model, pre!, dir, hash), hash, close, paramCount: model.paramCount };
  if (model.inputShape.join() !== data.sampleShape.join()) {
    model.dispose();
    throw new DataError(join(dir, "config.json"), `a transformer over [${model.inputShape}] token ids without a preprocess.json, but the data has samples of shape [${data.sampleShape}]; expected the data it was trained on`);
  }
  return { teacher: tokenTeacher(model as TransformerModel, dir, hash), hash, close, paramCount: model.paramCount };
}
