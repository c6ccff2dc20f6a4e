// An embedding student whose sentence vector is the mean of its tokens' rows in a table, optionally followed by a
// linear head: the static (Model2Vec-style, distilled without training) and the trained bag-of-embeddings students
// share this class and its saved format. Training runs through TF.js (a TrainableModel, so fit() trains it);
// inference runs through the dependency-free runtime (runtime/embed-runtime.mjs), the same code a browser page uses.
import * as tf from "@tensorflow/tfjs-core";
import { copyFileSync, existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { embeddingLookup } from "../engine/sequence-ops.js";
import type { ForwardOptions } from "../students/trainable.js";
import { assignParams, featureRecorder, snapshotParams, type TrainableModel } from "../students/trainable.js";
import { constParam, INIT_STD, normalParam, type NamedParam } from "../students/transformer-params.js";
import { loadTokenizer, writeTokenizerFiles } from "../tokenizers/io.js";
import type { Tokenizer } from "../tokenizers/tokenizer.js";
import { DataError, TsdistillError } from "../util/errors.js";
import { readDataFile, writeDirAtomic } from "../util/files.js";
import { Rng } from "../util/rng.js";
import { decodeSafetensors, encodeSafetensors, type SafetensorsTensor } from "../util/safetensors.js";
import { dequantizeTensors, EmbedRuntimeError, EMBEDDINGS_FORMAT, EmbeddingModel as RuntimeModel, type StoredTensor } from "../../src/embeddings/runtime/embed-runtime.mjs";
import { quantizeTable, type TableQuantization } from "./quantize-table.js";
import { contextList, contextPool, contextShapes, CONTEXT_TENSORS, createContext, type ContextParams } from "./context-layer.js";

export const EMBEDDINGS_CONFIG_FILE = "config.json";
export const EMBEDDINGS_WEIGHTS_FILE = "embeddings.safetensors";
/** Teacher space → student space (PCA mean and components) of a static model; not needed to embed. */
export const PROJECTION_FILE = "projection.safetensors";
/**
 * The runtime (plain JavaScript, no imports) and its types, copied into every saved folder so that a page can
 * embed with the folder alone. Through ../../src so the path is the same from src/ (tsx) and dist/ (compiled).
 */
export const EMBED_RUNTIME_FILES = {
  module: fileURLToPath(new URL("../../src/embeddings/runtime/embed-runtime.mjs", import.meta.url)),
  types: fileURLToPath(new URL("../../src/embeddings/runtime/embed-runtime.d.mts", import.meta.url)),
};

export interface EmbeddingModelConfig {
  readonly format: typeof EMBEDDINGS_FORMAT;
  readonly version: 1;
  /** static: rows distilled from a teacher without training (optionally refined); bag: trained from scratch. */
  readonly kind: "static" | "bag";
  readonly vocab: number;
  /** Width of the table rows. */
  readonly width: number;
  /** Width of the sentence vector (the head's output; the table width without a head). */
  readonly dim: number;
  readonly head: boolean;
  /** The sentence vector is L2-normalised (at inference and inside the training losses). */
  readonly normalize: boolean;
  /** Rows never averaged (padding); null: every id counts. */
  readonly padId: number | null;
  /** Hidden width of the context layer (context-layer.ts); 0: none, the plain mean. Absent in older folders: 0. */
  readonly context: number;
}

export interface EmbeddingModelSpec {
  kind?: "static" | "bag";
  vocab: number;
  width: number;
  /** A linear head to this width (default: none, the table width is the output). */
  dim?: number;
  normalize?: boolean;
  padId?: number | null;
  /** A context layer of this hidden width (context-layer.ts); default 0: none. */
  context?: number;
}

/** The teacher-space → student-space map of a static model: x ↦ (x − mean)·components. */
export interface Projection {
  mean: Float32Array;
  /** [teacherDim, dim] row-major. */
  components: Float32Array;
  teacherDim: number;
  dim: number;
}

function resolveConfig(spec: EmbeddingModelSpec): EmbeddingModelConfig {
  const { vocab, width } = spec;
  for (const [k, v] of [["vocab", vocab], ["width", width], ["dim", spec.dim ?? width]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new TsdistillError(`embedding model: ${k}: expected an integer ≥ 1, got ${v}`);
  }
  const context = spec.context ?? 0;
  if (!Number.isInteger(context) || context < 0) throw new TsdistillError(`embedding model: context: expected an integer ≥ 0 (0: no context layer), got ${context}`);
  const padId = spec.padId ?? null;
  if (padId !== null && !(Number.isInteger(padId) && padId >= 0 && padId < vocab)) throw new TsdistillError(`embedding model: padId: ${padId} is outside the vocabulary [0, ${vocab})`);
  const head = spec.dim !== undefined;
  return { format: EMBEDDINGS_FORMAT, version: 1, kind: spec.kind ?? (head ? "bag" : "static"), vocab, width, dim: spec.dim ?? width, head, normalize: spec.normalize ?? true, padId, context };
}

/**
 * Table [vocab, width] → mean over a sample's non-pad tokens (or, with a context layer, its weighted mean of
 * context-mixed rows) → optional linear head. Inputs: ids as floats [B, T], padding after the tokens.
 */
export class BagOfEmbeddingsModel implements TrainableModel {
  static readonly className = "BagOfEmbeddings";
  readonly config: EmbeddingModelConfig;
  readonly table: NamedParam;
  readonly kernel: NamedParam | null;
  readonly bias: NamedParam | null;
  readonly context: ContextParams | null;

  /** A table initialised N(0, 0.02) (or to `table` when given, e.g. distilled rows) and a zero-bias head. */
  constructor(spec: EmbeddingModelSpec, { seed = 0, table }: { seed?: number; table?: Float32Array } = {}) {
    this.config = resolveConfig(spec);
    const { vocab, width, dim, head } = this.config;
    const rng = new Rng(seed, "init");
    if (table) {
      if (table.length !== vocab * width) throw new TsdistillError(`embedding model: table has ${table.length} values; expected ${vocab}×${width}`);
      const t = tf.tensor2d(table, [vocab, width]);
      this.table = { name: "embeddings", tensor: tf.variable(t, true) };
      t.dispose();
    } else this.table = normalParam("embeddings", [vocab, width], INIT_STD, rng);
    // Head init N(0, 1/√width): the pooled rows are small, and the head must reach the teacher's scale quickly.
    this.kernel = head ? normalParam("head/kernel", [width, dim], 1 / Math.sqrt(width), rng) : null;
    this.bias = head ? constParam("head/bias", [dim], 0) : null;
    this.context = this.config.context > 0 ? createContext(width, this.config.context, rng) : null;
  }

  get inputShape(): number[] {
    return [0];
  }
  get outputShape(): number[] {
    return [this.config.dim];
  }
  get numOutputs(): number {
    return this.config.dim;
  }
  namedWeights(): NamedParam[] {
    return [this.table, ...(this.context ? contextList(this.context) : []), ...(this.kernel ? [this.kernel, this.bias!] : [])];
  }
  get params(): tf.Variable[] {
    return this.namedWeights().map((p) => p.tensor);
  }
  get paramCount(): number {
    return this.params.reduce((n, p) => n + p.size, 0);
  }
  layerNames(): string[] {
    return ["pooled"];
  }

  forward(x: tf.Tensor, opts: ForwardOptions = { training: false }): { logits: tf.Tensor2D; features: Map<string, tf.Tensor> } {
    const { features, record } = featureRecorder(opts.capture, this.layerNames());
    if (x.rank !== 2) throw new Error(`bag-of-embeddings input: expected token ids [batch, tokens], got shape [${x.shape}]`);
    const [B, T] = x.shape as [number, number];
    const values = x.dataSync();
    const ids = new Int32Array(values.length);
    const keep = new Float32Array(values.length);
    const { vocab, padId } = this.config;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (!(Number.isInteger(v) && v >= 0 && v < vocab)) throw new Error(`bag-of-embeddings input: token ${v} at row ${Math.floor(i / T)}, position ${i % T} is not an id in [0, ${vocab})`);
      ids[i] = v;
      keep[i] = v === padId ? 0 : 1;
    }
    const logits = tf.tidy(() => {
      const rows = embeddingLookup(this.table.tensor as tf.Tensor2D, tf.tensor2d(ids, [B, T], "int32")); // [B, T, W]
      const mask = tf.tensor3d(keep, [B, T, 1]);
      const pooled = this.context
        ? contextPool(this.context, tf.mul(rows, mask) as tf.Tensor3D, mask)
        : (tf.div(tf.sum(tf.mul(rows, mask), 1), tf.maximum(tf.sum(mask, 1), 1)) as tf.Tensor2D); // [B, W]
      record("pooled", pooled);
      if (!this.kernel) return pooled;
      return tf.add(tf.matMul(pooled, this.kernel.tensor as tf.Tensor2D), this.bias!.tensor) as tf.Tensor2D; // [B, dim]
    });
    return { logits, features };
  }

  predict(x: tf.Tensor): tf.Tensor2D {
    return this.forward(x).logits;
  }
  snapshot(): tf.Tensor[] {
    return snapshotParams(this.params);
  }
  setWeights(weights: tf.Tensor[]): void {
    assignParams(this.params, weights, this.namedWeights().map((p) => p.name));
  }
  dispose(): void {
    for (const p of this.params) p.dispose();
  }

  /** The weights as safetensors tensors (float32 copies). */
  tensors(): Record<string, SafetensorsTensor> {
    const out: Record<string, SafetensorsTensor> = {};
    for (const { name, tensor } of this.namedWeights()) out[name] = { dtype: "F32", shape: tensor.shape, data: Float32Array.from(tensor.dataSync() as Float32Array) };
    return out;
  }

  /** The current weights in the runtime (JavaScript loops; what `embed` and a browser page run). */
  toRuntime(tokenizer: Tokenizer): RuntimeModel {
    const tensors = Object.fromEntries(Object.entries(this.tensors()).map(([k, t]) => [k, { shape: t.shape, data: t.data as Float32Array }]));
    return new RuntimeModel({ ...this.config }, tensors, { encode: (text: string) => tokenizer.encode(text) });
  }
}

/** Embeds texts → [n, dim] row-major: a model plus its tokenizer, for evaluation, serving and benchmarks. */
export interface Embedder {
  readonly dim: number;
  readonly paramCount: number;
  embed(texts: readonly string[]): Float32Array;
  dispose(): void;
}

/** A bag/static model as an Embedder (snapshot of the current weights, run by the runtime). */
export function bagEmbedder(model: BagOfEmbeddingsModel, tokenizer: Tokenizer): Embedder {
  const runtime = model.toRuntime(tokenizer);
  return {
    dim: model.config.dim,
    paramCount: model.paramCount,
    embed: (texts) => {
      const out = new Float32Array(texts.length * runtime.dim);
      texts.forEach((t, i) => out.set(runtime.embedIds(tokenizer.encode(t)), i * runtime.dim));
      return out;
    },
    dispose: () => model.dispose(),
  };
}

export interface SaveEmbeddingOptions {
  tokenizer: Tokenizer;
  /** Store the table as int8 (a float32 scale per row) or fp16; the head, if any, stays float32. */
  quantize?: TableQuantization;
  metadata?: Record<string, unknown>;
  projection?: Projection | null;
}

/**
 * Saves the model as a folder: config.json ({...config, metadata}), embeddings.safetensors ("embeddings" [vocab,
 * width], and "head/kernel", "head/bias" for a head), the tokenizer (tokenizer.json, plus tokenizer_config.json for
 * Hugging Face tokenizers), embed-runtime.mjs (+ .d.mts: what a page imports) and, for static models,
 * projection.safetensors. Atomic.
 */
export async function saveEmbeddingModel(model: BagOfEmbeddingsModel, dir: string, opts: SaveEmbeddingOptions): Promise<void> {
  if (opts.tokenizer.vocabSize > model.config.vocab) {
    throw new TsdistillError(`the ${opts.tokenizer.kind} tokenizer has ${opts.tokenizer.vocabSize} ids but the embedding table has ${model.config.vocab} rows`);
  }
  const tensors = model.tensors();
  const { embeddings, ...rest } = tensors;
  const weights = encodeSafetensors(opts.quantize ? { ...rest, ...quantizeTable(embeddings.data as Float32Array, model.config.vocab, model.config.width, opts.quantize) } : tensors, { format: EMBEDDINGS_FORMAT });
  const p = opts.projection;
  const projection = p ? encodeSafetensors({ mean: { dtype: "F32", shape: [p.teacherDim], data: p.mean }, components: { dtype: "F32", shape: [p.teacherDim, p.dim], data: p.components } }) : null;
  await writeDirAtomic(dir, (tmp) => {
    writeFileSync(join(tmp, EMBEDDINGS_CONFIG_FILE), JSON.stringify({ ...model.config, metadata: opts.metadata ?? {} }, null, 2));
    writeFileSync(join(tmp, EMBEDDINGS_WEIGHTS_FILE), weights);
    if (projection) writeFileSync(join(tmp, PROJECTION_FILE), projection);
    writeTokenizerFiles(opts.tokenizer, tmp);
    copyFileSync(EMBED_RUNTIME_FILES.module, join(tmp, "embed-runtime.mjs"));
    copyFileSync(EMBED_RUNTIME_FILES.types, join(tmp, "embed-runtime.d.mts"));
  });
}

/** Whether `dir` holds a saved embedding model (config.json with format "tsdistill-embeddings"). */
export function isEmbeddingModelFolder(dir: string): boolean {
  const path = join(dir, EMBEDDINGS_CONFIG_FILE);
  if (!existsSync(path)) return false;
  try {
    return JSON.parse(readDataFile(path, "").toString("utf8"))?.format === EMBEDDINGS_FORMAT;
  } catch {
    return false;
  }
}

function readConfig(path: string): EmbeddingModelConfig & { metadata: Record<string, unknown> } {
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(readDataFile(path, "an embedding model's config.json").toString("utf8")) as Record<string, unknown>;
  } catch (err) {
    if (err instanceof TsdistillError) throw err;
    throw new DataError(path, `is not valid JSON (${(err as Error).message})`);
  }
  if (json?.format !== EMBEDDINGS_FORMAT) throw new DataError(path, `format is ${JSON.stringify(json?.format)}; expected "${EMBEDDINGS_FORMAT}"`);
  if (json.version !== 1) throw new DataError(path, `version is ${JSON.stringify(json.version)}; expected 1`);
  for (const k of ["vocab", "width", "dim"]) if (!Number.isInteger(json[k]) || (json[k] as number) < 1) throw new DataError(path, `${k}: expected an integer ≥ 1, got ${JSON.stringify(json[k])}`);
  if (typeof json.head !== "boolean" || typeof json.normalize !== "boolean") throw new DataError(path, "head and normalize: expected true or false");
  if (json.kind !== "static" && json.kind !== "bag") throw new DataError(path, `kind is ${JSON.stringify(json.kind)}; expected "static" or "bag"`);
  json.context ??= 0;
  if (!Number.isInteger(json.context) || (json.context as number) < 0) throw new DataError(path, `context: expected an integer ≥ 0 (0: no context layer), got ${JSON.stringify(json.context)}`);
  return json as unknown as EmbeddingModelConfig & { metadata: Record<string, unknown> };
}

export interface LoadedEmbeddingModel {
  model: BagOfEmbeddingsModel;
  tokenizer: Tokenizer;
  metadata: Record<string, unknown>;
  projection: Projection | null;
}

/** Loads a folder written by saveEmbeddingModel; bad files are one-line DataErrors naming them. */
export function loadEmbeddingModel(dir: string): LoadedEmbeddingModel {
  const configPath = join(dir, EMBEDDINGS_CONFIG_FILE);
  const c = readConfig(configPath);
  const weightsPath = join(dir, EMBEDDINGS_WEIGHTS_FILE);
  const stored = decodeSafetensors(new Uint8Array(readDataFile(weightsPath, "the embedding model's weights")), weightsPath).tensors;
  let tensors: Record<string, { shape: number[]; data: Float32Array }>;
  try {
    // A quantised table (I8 + per-row scale, or F16) is widened to float32 here, as the runtime does.
    tensors = dequantizeTensors(stored as Record<string, StoredTensor>, weightsPath);
  } catch (err) {
    if (err instanceof EmbedRuntimeError) throw new DataError(weightsPath, err.problem);
    throw err;
  }
  const expect = (name: string, shape: number[]): Float32Array => {
    const t = tensors[name];
    if (!t) throw new DataError(weightsPath, `has no tensor "${name}"; expected it for the model in config.json`);
    if (t.shape.join() !== shape.join()) throw new DataError(weightsPath, `tensor "${name}" is [${t.shape}]; expected [${shape}]`);
    return t.data;
  };
  const table = expect("embeddings", [c.vocab, c.width]);
  const tokenizer = loadTokenizer(dir);
  if (tokenizer.vocabSize > c.vocab) throw new DataError(join(dir, "tokenizer.json"), `has ${tokenizer.vocabSize} ids; the embedding table has ${c.vocab} rows`);
  const model = new BagOfEmbeddingsModel({ kind: c.kind, vocab: c.vocab, width: c.width, dim: c.head ? c.dim : undefined, normalize: c.normalize, padId: c.padId, context: c.context }, { table });
  const rest: [string, number[]][] = [
    ...(c.context > 0 ? CONTEXT_TENSORS.map((name, i): [string, number[]] => [name, contextShapes(c.width, c.context)[i]]) : []),
    ...(c.head ? ([["head/kernel", [c.width, c.dim]], ["head/bias", [c.dim]]] as [string, number[]][]) : []),
  ];
  if (rest.length > 0) {
    const w = [tf.tensor(table, [c.vocab, c.width]), ...rest.map(([name, shape]) => tf.tensor(expect(name, shape), shape))];
    model.setWeights(w);
    tf.dispose(w);
  }
  let projection: Projection | null = null;
  const projPath = join(dir, PROJECTION_FILE);
  if (existsSync(projPath)) {
    const p = decodeSafetensors(new Uint8Array(readDataFile(projPath, "a static model's PCA projection")), projPath).tensors;
    if (!p.mean || !p.components || p.components.shape[1] !== c.width || p.mean.shape[0] !== p.components.shape[0]) throw new DataError(projPath, `expected "mean" [D] and "components" [D, ${c.width}]`);
    projection = { mean: p.mean.data as Float32Array, components: p.components.data as Float32Array, teacherDim: p.mean.shape[0], dim: c.width };
  }
  return { model, tokenizer, metadata: c.metadata ?? {}, projection };
}

/**
 * A bag-of-embeddings student that starts where a static model is, in the teacher's coordinates: the static table,
 * and a head [width, teacherDim] = the PCA components transposed with bias = the PCA mean (x ↦ x·Wᵀ + μ, PCA's
 * inverse map). Training it on the teacher's vectors then fine-tunes the distilled rows (Model2Vec, then training).
 */
export function bagFromStatic(model: BagOfEmbeddingsModel, projection: Projection): BagOfEmbeddingsModel {
  const { vocab, width, padId, normalize } = model.config;
  if (model.config.head || projection.dim !== width) throw new TsdistillError(`bagFromStatic: expected a static model without head whose width (${width}) is the projection's (${projection.dim})`);
  if (model.config.context > 0) throw new TsdistillError(`bagFromStatic: the model has a context layer (hidden ${model.config.context}), which a bag student would drop; start from the plain static table`);
  const D = projection.teacherDim;
  const table = model.tensors().embeddings.data as Float32Array;
  const bag = new BagOfEmbeddingsModel({ kind: "bag", vocab, width, dim: D, padId, normalize }, { table });
  const kernel = new Float32Array(width * D);
  for (let j = 0; j < D; j++) for (let c = 0; c < width; c++) kernel[c * D + j] = projection.components[j * width + c];
  const w = [tf.tensor2d(table, [vocab, width]), tf.tensor2d(kernel, [width, D]), tf.tensor1d(projection.mean)];
  bag.setWeights(w);
  tf.dispose(w);
  return bag;
}

/**
 * The same model (table, head, settings) with a new context layer of hidden width `hidden` (context-layer.ts). The
 * layer starts as the identity, so the result embeds exactly as `model` does until it is trained.
 */
export function withContext(model: BagOfEmbeddingsModel, hidden: number, seed = 0): BagOfEmbeddingsModel {
  const c = model.config;
  if (c.context > 0) throw new TsdistillError(`withContext: the model already has a context layer (hidden ${c.context})`);
  const t = model.tensors();
  const out = new BagOfEmbeddingsModel({ kind: c.kind, vocab: c.vocab, width: c.width, dim: c.head ? c.dim : undefined, normalize: c.normalize, padId: c.padId, context: hidden }, { seed, table: t.embeddings.data as Float32Array });
  if (c.head) {
    const w = out.namedWeights().map(({ name, tensor }) => (t[name] ? tf.tensor(t[name].data as Float32Array, t[name].shape) : tf.clone(tensor)));
    out.setWeights(w);
    tf.dispose(w);
  }
  return out;
}

/** Teacher vectors [n, teacherDim] → the student's space [n, dim] through a static model's projection. */
export function projectTeacher(p: Projection, vectors: Float32Array, n: number): Float32Array {
  const out = new Float32Array(n * p.dim);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < p.teacherDim; j++) {
      const v = vectors[i * p.teacherDim + j] - p.mean[j];
      const base = j * p.dim;
      for (let c = 0; c < p.dim; c++) out[i * p.dim + c] += v * p.components[base + c];
    }
  }
  return out;
}
