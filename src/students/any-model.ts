// One entry point for the two model families a command may build, save or load: sequential MLP/CNN models (the
// TF.js layers format, model.json) and transformers over token ids (config.json + model.safetensors + tokenizer).
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { DataPreprocess } from "../data/preprocess.js";
import { savePreprocess } from "../data/preprocess.js";
import { tokenizerOf } from "../data/jsonl-tokens.js";
import { ByteTokenizer } from "../tokenizers/byte.js";
import { TsdistillError } from "../util/errors.js";
import { loadModel, saveModel, type ModelMetadata } from "./io.js";
import { SequentialModel } from "./model.js";
import { isTransformerSpec, modelConfigFromSpec, transformerConfigFromSpec } from "./spec.js";
import type { TransformerSpecInput } from "./transformer-config.js";
import { isTransformerFolder, loadTransformer, saveTransformer } from "./transformer-io.js";
import { TransformerModel } from "./transformer.js";
import type { TrainableModel } from "./trainable.js";

export type AnyModel = SequentialModel | TransformerModel;

export interface BuildModelOptions {
  /** The data's sample shape ([ctx] token ids for a transformer). */
  inputShape: number[];
  numClasses: number;
  /** The data's preprocessing: a transformer needs token ids (jsonl: with tokenizer=), whose tokenizer sets its vocabulary. */
  preprocess?: DataPreprocess;
  /** MLP/CNN only (a transformer's dropout is in its spec). */
  dropout?: number;
  inputDropout?: number;
  seed: number;
}

export const TOKEN_DATA_HINT = 'expected token ids: --data jsonl:FILE?tokenizer=byte (or tokenizer=bpe:N, or a tokenizer.json) and ctx=N';

/**
 * A model from a spec: `mlp:…`/`cnn:…`, or `transformer:…` (string or YAML object) as a classifier over the data's
 * token ids, its vocabulary, pad id and context taken from the data's tokenizer where the spec leaves them out.
 */
export function buildModel(spec: string | TransformerSpecInput, opts: BuildModelOptions): AnyModel {
  if (typeof spec === "string" && !isTransformerSpec(spec)) {
    return new SequentialModel(modelConfigFromSpec(spec, { inputShape: opts.inputShape, numClasses: opts.numClasses, dropout: opts.dropout, inputDropout: opts.inputDropout }), opts.seed);
  }
  const name = typeof spec === "string" ? spec : "transformer";
  const pre = opts.preprocess;
  if (pre?.kind !== "tokens") throw new TsdistillError(`model spec "${name}": a transformer reads token ids, but the data has ${pre ? `${pre.kind} features` : `samples of shape [${opts.inputShape}]`}; ${TOKEN_DATA_HINT}`);
  if ((opts.dropout ?? 0) > 0 || (opts.inputDropout ?? 0) > 0) throw new TsdistillError(`model spec "${name}": --dropout and --input-dropout apply to mlp/cnn; expected dropout=R in the transformer spec`);
  const tokenizer = tokenizerOf(pre);
  const context = { vocab: tokenizer.vocabSize, seqLen: pre.ctx, numClasses: opts.numClasses, padId: tokenizer.special.pad, head: "classify" as const };
  const config = transformerConfigFromSpec(spec, context);
  if (config.head !== "classify") throw new TsdistillError(`model spec "${name}": head=${config.head}; a classifier needs head=classify (the default here)`);
  // The saved model's input is the data's sequence ([ctx] ids from preprocess.json): a longer context would only
  // hold positions no input ever reaches, and eval/serve check the two shapes against each other.
  if (config.ctx !== pre.ctx) throw new TsdistillError(`model spec "${name}": ctx: ${config.ctx} differs from the data's ${pre.ctx} tokens per text; expected the same (ctx= in the jsonl: spec sets both, or leave ctx out of the model spec)`);
  return new TransformerModel(config, opts.seed);
}

/**
 * Saves a model folder with its preprocessing (preprocess.json; a transformer also gets its tokenizer files).
 * MLP/CNN: the TF.js layers format; transformer: config.json + model.safetensors + tokenizer.json.
 */
export async function saveAnyModel(model: TrainableModel, dir: string, metadata: ModelMetadata, preprocess?: DataPreprocess): Promise<void> {
  if (model instanceof TransformerModel) {
    const tokenizer = preprocess?.kind === "tokens" ? tokenizerOf(preprocess) : new ByteTokenizer();
    await saveTransformer(model, dir, { tokenizer, metadata });
  } else if (model instanceof SequentialModel) {
    await saveModel(model, dir, metadata);
  } else {
    throw new Error("saveAnyModel: expected a SequentialModel or a TransformerModel");
  }
  if (preprocess) savePreprocess(dir, preprocess);
}

/** Whether `dir` holds a model this module loads (model.json, or a saved transformer's config.json). */
export function isModelFolder(dir: string): boolean {
  return existsSync(join(dir, "model.json")) || isTransformerFolder(dir);
}

/** The file that names a model folder's architecture, for errors. */
export function modelFile(dir: string): string {
  return join(dir, isTransformerFolder(dir) ? "config.json" : "model.json");
}

/** Loads a model folder of either family. */
export async function loadAnyModel(dir: string): Promise<{ model: AnyModel; metadata: ModelMetadata }> {
  if (isTransformerFolder(dir)) {
    const { model, metadata } = await loadTransformer(dir);
    return { model, metadata };
  }
  return loadModel(dir);
}

/** A capturable layer's output shape without the batch dimension (a SequentialModel's layer, or a transformer's). */
export function layerOutputShape(model: TrainableModel, name: string): number[] | undefined {
  if (name === "logits") return model.outputShape;
  if (model instanceof SequentialModel) return model.layers.find((l) => l.config.name === name)?.outputShape;
  if (!(model instanceof TransformerModel) || !model.layerNames().includes(name)) return undefined;
  const { ctx, dim, heads } = model.config;
  return name === "pooled" ? [dim] : name.endsWith("/attention") ? [heads, ctx, ctx] : [ctx, dim];
}
