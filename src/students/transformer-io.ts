import * as tf from "@tensorflow/tfjs-core";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DataError, TsdistillError } from "../util/errors.js";
import { readDataFile, writeDirAtomic } from "../util/files.js";
import { decodeSafetensors, encodeSafetensors, type SafetensorsTensor } from "../util/safetensors.js";
import { ByteTokenizer } from "../tokenizers/byte.js";
import { loadTokenizer, writeTokenizerFiles } from "../tokenizers/io.js";
import type { Tokenizer } from "../tokenizers/tokenizer.js";
import { savedTransformerConfig } from "./transformer-config.js";
import { TransformerModel } from "./transformer.js";

export const TRANSFORMER_FORMAT = "tsdistill-transformer";
export const CONFIG_FILE = "config.json";
export const WEIGHTS_FILE = "model.safetensors";

/**
 * Saves a transformer as a folder: config.json ({format, version, config, metadata}), model.safetensors (float32
 * weights under their namedWeights names) and the tokenizer (tokenizer.json, plus tokenizer_config.json for
 * Hugging Face tokenizers). Atomic: the folder is complete or untouched.
 */
export async function saveTransformer(model: TransformerModel, dir: string, { tokenizer = new ByteTokenizer() as Tokenizer, metadata = {} as Record<string, unknown> } = {}): Promise<void> {
  if (tokenizer.vocabSize > model.config.vocab) {
    throw new TsdistillError(`the ${tokenizer.kind} tokenizer has ${tokenizer.vocabSize} ids but the model's vocabulary has ${model.config.vocab}; expected a tokenizer the model can read`);
  }
  const tensors: Record<string, SafetensorsTensor> = {};
  for (const { name, tensor } of model.namedWeights()) tensors[name] = { dtype: "F32", shape: tensor.shape, data: Float32Array.from(tensor.dataSync() as Float32Array) };
  const weights = encodeSafetensors(tensors, { format: TRANSFORMER_FORMAT });
  await writeDirAtomic(dir, (tmp) => {
    writeFileSync(join(tmp, CONFIG_FILE), JSON.stringify({ format: TRANSFORMER_FORMAT, version: 1, config: model.config, metadata }, null, 2));
    writeFileSync(join(tmp, WEIGHTS_FILE), weights);
    writeTokenizerFiles(tokenizer, tmp);
  });
}

/** Whether `dir` holds a saved transformer (rather than a TF.js layers model). */
export function isTransformerFolder(dir: string): boolean {
  const path = join(dir, CONFIG_FILE);
  if (!existsSync(path)) return false;
  try {
    return JSON.parse(readDataFile(path, "").toString("utf8"))?.format === TRANSFORMER_FORMAT;
  } catch {
    return false;
  }
}

function readConfigJson(path: string): Record<string, unknown> {
  let json: unknown;
  try {
    json = JSON.parse(readDataFile(path, "a saved transformer's config.json").toString("utf8"));
  } catch (err) {
    if (err instanceof TsdistillError) throw err;
    throw new DataError(path, `is not valid JSON (${(err as Error).message})`);
  }
  const obj = (json ?? {}) as Record<string, unknown>;
  if (obj.format !== TRANSFORMER_FORMAT) throw new DataError(path, `format is ${JSON.stringify(obj.format)}; expected "${TRANSFORMER_FORMAT}"`);
  if (obj.version !== 1) throw new DataError(path, `version is ${JSON.stringify(obj.version)}; expected 1`);
  return obj;
}

/** Loads a folder written by saveTransformer; the saved config decides the architecture. */
export async function loadTransformer(dir: string): Promise<{ model: TransformerModel; tokenizer: Tokenizer; metadata: Record<string, unknown> }> {
  const configPath = join(dir, CONFIG_FILE);
  const saved = readConfigJson(configPath);
  const config = savedTransformerConfig(saved.config, configPath);
  const weightsPath = join(dir, WEIGHTS_FILE);
  const { tensors } = decodeSafetensors(new Uint8Array(readDataFile(weightsPath, "the model's safetensors weights")), weightsPath);
  const tokenizer = loadTokenizer(dir);
  if (tokenizer.vocabSize > config.vocab) throw new DataError(join(dir, "tokenizer.json"), `has ${tokenizer.vocabSize} ids; the model's vocabulary has ${config.vocab}`);
  const model = new TransformerModel(config, 0);
  try {
    const expected = model.namedWeights();
    const extra = Object.keys(tensors).filter((name) => !expected.some((p) => p.name === name));
    if (extra.length > 0) throw new DataError(weightsPath, `has tensor "${extra[0]}", which the model in config.json does not have`);
    const weights = expected.map(({ name, tensor }) => {
      const t = tensors[name];
      if (!t) throw new DataError(weightsPath, `has no tensor "${name}"; expected every weight of the model in config.json`);
      if (t.dtype !== "F32" || !tf.util.arraysEqual(t.shape, tensor.shape)) throw new DataError(weightsPath, `tensor "${name}" is ${t.dtype} [${t.shape}]; expected F32 [${tensor.shape}]`);
      return tf.tensor(t.data as Float32Array, t.shape, "float32");
    });
    model.setWeights(weights);
    tf.dispose(weights);
  } catch (err) {
    model.dispose();
    throw err;
  }
  return { model, tokenizer, metadata: (saved.metadata ?? {}) as Record<string, unknown> };
}
