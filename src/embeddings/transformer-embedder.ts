import * as tf from "@tensorflow/tfjs-core";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { encodeSequences } from "../data/token-sequences.js";
import { isTransformerFolder, loadTransformer } from "../students/transformer-io.js";
import type { TransformerModel } from "../students/transformer.js";
import type { Tokenizer } from "../tokenizers/tokenizer.js";
import { DataError } from "../util/errors.js";
import { bagEmbedder, isEmbeddingModelFolder, loadEmbeddingModel, type Embedder } from "./embedding-model.js";

/** How a transformer embedding student reads texts; saved in its metadata under `embedding`. */
export interface TransformerEmbeddingSettings {
  /** BOS before each text (default false). */
  addBos?: boolean;
  /** L2-normalise the vectors (default true). */
  normalize?: boolean;
}

/**
 * A transformer with head "embed" as an Embedder: texts cut to its context, batches padded to their longest text,
 * the head's vectors (L2-normalised by default).
 */
export function transformerEmbedder(model: TransformerModel, tokenizer: Tokenizer, settings: TransformerEmbeddingSettings = {}, batchSize = 32): Embedder {
  if (model.config.head !== "embed") throw new DataError("model", `has head "${model.config.head}"; an embedding student needs head "embed"`);
  const ctx = model.config.ctx;
  const dim = model.numOutputs;
  return {
    dim,
    paramCount: model.paramCount,
    embed: (texts) => {
      const out = new Float32Array(texts.length * dim);
      for (let start = 0; start < texts.length; start += batchSize) {
        const part = texts.slice(start, start + batchSize);
        const { ids, lengths } = encodeSequences(part, tokenizer, { ctx, addBos: settings.addBos ?? false, addEos: false });
        const T = Math.max(1, ...lengths);
        const x = new Float32Array(part.length * T);
        part.forEach((_, i) => x.set(ids.subarray(i * ctx, i * ctx + T), i * T));
        const v = tf.tidy(() => {
          const y = model.predict(tf.tensor2d(x, [part.length, T]));
          return settings.normalize === false ? y : tf.div(y, tf.maximum(tf.norm(y, 2, 1, true), 1e-12));
        });
        out.set(v.dataSync() as Float32Array, start * dim);
        v.dispose();
      }
      return out;
    },
    dispose: () => model.dispose(),
  };
}

/** A saved embedding student: an embedding-model folder (static or bag) or a transformer folder with head "embed". */
export async function openEmbedder(dir: string): Promise<Embedder & { kind: "static" | "bag" | "transformer"; metadata: Record<string, unknown> }> {
  if (isEmbeddingModelFolder(dir)) {
    const { model, tokenizer, metadata } = loadEmbeddingModel(dir);
    return { ...bagEmbedder(model, tokenizer), kind: model.config.kind, metadata };
  }
  if (isTransformerFolder(dir)) {
    const { model, tokenizer, metadata } = await loadTransformer(dir);
    if (model.config.head !== "embed") {
      model.dispose();
      throw new DataError(dir, `holds a transformer with head "${model.config.head}"; expected an embedding student (head "embed")`);
    }
    const settings = (metadata.embedding ?? {}) as TransformerEmbeddingSettings;
    return { ...transformerEmbedder(model, tokenizer, settings), kind: "transformer", metadata };
  }
  throw new DataError(dir, 'is not an embedding student; expected a folder with config.json of format "tsdistill-embeddings" or a transformer with head "embed"');
}

/** Whether `dir` holds an embedding student openEmbedder can open (without loading weights). */
export function isEmbedderFolder(dir: string): boolean {
  if (isEmbeddingModelFolder(dir)) return true;
  if (!isTransformerFolder(dir)) return false;
  try {
    const config = (JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as { config?: { head?: string } }).config;
    return config?.head === "embed";
  } catch {
    return false;
  }
}
