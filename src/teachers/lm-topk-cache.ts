/**
 * A top-k logit cache for language-model teachers: for every token of every window of a token-window dataset, the
 * teacher's k most likely next tokens with their log-probabilities, quantised, plus the mass outside them (the
 * tail bucket), in safetensors shards with a JSON manifest — so token-level KD can run without the teacher.
 *
 *   DIR/shard-00000-of-00004.safetensors   "rows" I32 [n]: the dataset windows the shard holds (start … start+n−1)
 *                                          ids: "topk_ids_u16le" U8 [n, T, k, 2] (vocab ≤ 65536) or "topk_ids" I32 [n, T, k]
 *                                          f16:  "topk_logprobs" F16 [n, T, k]
 *                                          int8: "topk_codes" U8 [n, T, k] and "topk_scale" F32 [n, T]:
 *                                                log-prob = −code·scale, scale = (−min log-prob of the token)/255
 *                                          "tail_mass" F16 [n, T]: 1 − Σ of the top-k probabilities
 *   DIR/manifest.json                      written last; its presence means the cache is complete
 *   DIR/manifest.partial.json              while writing: the shards finished so far
 *
 * Entries are ordered most likely first (as the backend's topk orders them). fp16 keeps log-probs within 2⁻¹¹ relative (|lp|·2⁻¹¹
 * + 2⁻²⁵); int8 within scale/2 = range/510 nats (8-bit codes; log-probs are ≤ 0, so the codes are unsigned).
 * Atomic and resumable like the classification label cache (label-cache.ts): every file is written to a temp file
 * and renamed, a rerun keeps the shards whose sha256 matches the manifest and computes only the rest (byte-identical
 * to an uninterrupted run), and a cache made with another teacher, dataset or settings is refused unless overwrite.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { z } from "zod";
import type { InMemoryDataset } from "../data/dataset.js";
import { DataError, TsdistillError } from "../util/errors.js";
import { readDataFile, writeFileAtomic } from "../util/files.js";
import { decodeHalf, encodeHalf } from "../util/float16.js";
import { describeZodError } from "../util/zod-errors.js";
import { shardFileName } from "./label-cache.js";
import { hashDataset } from "../data/dataset-hash.js";
import { sha256File } from "../util/hashing.js";
import { decodeSafetensors, encodeSafetensors, type SafetensorsTensor } from "./safetensors.js";
import { pidAlive } from "../util/process-owner.js";

export const LM_TOPK_CACHE_FORMAT = "tsdistill.lm-topk-cache";
export const LM_TOPK_CACHE_VERSION = 1;
const MANIFEST = "manifest.json";
const PARTIAL = "manifest.partial.json";
/** DistillKit's reference size: about 300 bytes per token at k = 128 (methods.md). */
export const DISTILLKIT_BYTES_PER_TOKEN_K128 = 300;

const SHARD_FILE = /^shard-(\d{5,})-of-(\d{5,})\.safetensors$/;
const TEMP_FILE = /^\.(manifest\.json|manifest\.partial\.json|shard-\d{5,}-of-\d{5,}\.safetensors)\.(\d+)(?:\.\d+)+\.tmp$/;

const shardSchema = z.object({ file: z.string().regex(SHARD_FILE), start: z.number().int().nonnegative(), count: z.number().int().positive(), sha256: z.string().regex(/^[0-9a-f]{64}$/) }).strict();
const manifestSchema = z
  .object({
    format: z.literal(LM_TOPK_CACHE_FORMAT),
    version: z.literal(LM_TOPK_CACHE_VERSION),
    teacherHash: z.string().min(1),
    datasetHash: z.string().min(1),
    numWindows: z.number().int().positive(),
    /** Tokens per window (T): each has its own top-k. */
    ctx: z.number().int().positive(),
    vocab: z.number().int().min(2),
    k: z.number().int().positive(),
    values: z.enum(["f16", "int8"]),
    indexDtype: z.enum(["u16", "i32"]),
    shardSize: z.number().int().positive(),
    bytesPerToken: z.number().positive(),
    shards: z.array(shardSchema),
    createdAt: z.string(),
  })
  .strict();
export type LmTopKManifest = z.infer<typeof manifestSchema>;
type Settings = Omit<LmTopKManifest, "shards" | "createdAt">;

/** A token's top-k entries for a batch of tokens, row-major [tokens, k], and each token's tail mass [tokens]. */
export interface LmTopKRows {
  indices: Int32Array;
  logprobs: Float32Array;
  tailMass: Float32Array;
}

/** Where the teacher's top-k come from: an in-process LM's per-token logits, or a source of top-k directly (an API). */
export type LmTopKSource =
  | { vocab: number; logits: (x: tf.Tensor) => tf.Tensor2D }
  | { vocab: number; topK: (x: Float32Array, windows: number, rows: Int32Array) => Promise<LmTopKRows> | LmTopKRows };

export interface WriteLmTopKOptions {
  k: number;
  /** "f16" (default) or "int8" (8-bit codes with a per-token scale). */
  values?: "f16" | "int8";
  /** Identifies the teacher (e.g. hashModelFolder); stored and checked on reuse. */
  teacherHash: string;
  /** Identifies the windows; default hashDataset(data). */
  datasetHash?: string;
  /** Windows per shard (default 256). */
  shardSize?: number;
  /** Windows per teacher call (default min(shardSize, 16)). */
  batchSize?: number;
  overwrite?: boolean;
  onShard?: (index: number, numShards: number) => void;
  signal?: AbortSignal;
  now?: () => Date;
}

/** Bytes one token takes in the shards (ids + values + scale + tail). */
export function lmTopKBytesPerToken(k: number, values: "f16" | "int8", indexDtype: "u16" | "i32"): number {
  return k * (indexDtype === "u16" ? 2 : 4) + (values === "f16" ? 2 * k : k + 4) + 2;
}

/** One line for logs: k, encoding, bytes per token against DistillKit's reference. */
export function describeLmTopKCache(m: LmTopKManifest): string {
  const tokens = m.numWindows * m.ctx;
  return `LM top-k cache: k=${m.k}, ${m.values} values, ${m.indexDtype} ids, ${m.bytesPerToken} bytes/token (DistillKit ≈ ${DISTILLKIT_BYTES_PER_TOKEN_K128} at k = 128), ${tokens} tokens, ${(tokens * m.bytesPerToken / 1e6).toFixed(2)} MB`;
}

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

function readManifest(path: string): LmTopKManifest {
  let raw: unknown;
  try {
    raw = JSON.parse(readDataFile(path, "an LM top-k cache manifest").toString("utf8"));
  } catch (err) {
    if (err instanceof DataError) throw err;
    throw new DataError(path, `not valid JSON (${(err as Error).message}); expected an LM top-k cache manifest`);
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) throw new DataError(path, `not a valid LM top-k cache manifest: ${describeZodError(parsed.error)}`);
  const m = parsed.data;
  const numShards = Math.ceil(m.numWindows / m.shardSize);
  for (const s of m.shards) {
    const want = layoutOf(Number(SHARD_FILE.exec(s.file)![1]), numShards, m);
    if (s.file !== want.file || s.start !== want.start || s.count !== want.count) throw new DataError(path, `shard entry ${s.file} does not fit ${m.numWindows} windows in shards of ${m.shardSize}`);
  }
  return m;
}

function layoutOf(index: number, numShards: number, m: { numWindows: number; shardSize: number }): { file: string; start: number; count: number } {
  const start = index * m.shardSize;
  return { file: shardFileName(index, numShards), start, count: Math.min(m.shardSize, m.numWindows - start) };
}

function mismatch(found: LmTopKManifest, want: Settings): string | null {
  for (const key of ["teacherHash", "datasetHash", "numWindows", "ctx", "vocab", "k", "values", "indexDtype", "shardSize"] as const) {
    if (found[key] !== want[key]) return `stale cache: ${key} is ${found[key]} in the cache, now ${want[key]}`;
  }
  return null;
}

/** The teacher's top-k for windows, from per-token logits: log-softmax and top-k on the backend, the tail in float64. */
function topKFromLogits(logits: tf.Tensor2D, k: number): LmTopKRows {
  const { values, indices } = tf.tidy(() => tf.topk(tf.logSoftmax(logits), k));
  try {
    const lp = Float32Array.from(values.dataSync());
    const tokens = logits.shape[0];
    const tailMass = new Float32Array(tokens);
    for (let t = 0; t < tokens; t++) {
      let top = 0;
      for (let j = 0; j < k; j++) top += Math.exp(lp[t * k + j]);
      tailMass[t] = Math.max(0, 1 - top);
    }
    return { indices: Int32Array.from(indices.dataSync()), logprobs: lp, tailMass };
  } finally {
    values.dispose();
    indices.dispose();
  }
}

/** Quantises one shard's top-k rows into its safetensors tensors. */
function encodeShard(rows: Int32Array, top: LmTopKRows, s: Settings): Record<string, SafetensorsTensor> {
  const { ctx: T, k } = s;
  const n = rows.length;
  const out: Record<string, SafetensorsTensor> = { rows: { dtype: "I32", shape: [n], data: rows } };
  if (s.indexDtype === "u16") {
    const bytes = new Uint8Array(top.indices.length * 2);
    for (let i = 0; i < top.indices.length; i++) (bytes[2 * i] = top.indices[i] & 0xff), (bytes[2 * i + 1] = top.indices[i] >>> 8);
    out.topk_ids_u16le = { dtype: "U8", shape: [n, T, k, 2], data: bytes };
  } else {
    out.topk_ids = { dtype: "I32", shape: [n, T, k], data: top.indices };
  }
  const lp = top.logprobs.map((v) => Math.max(Math.min(v, 0), -65504)); // log-probs are ≤ 0; −∞ → the fp16 floor
  if (s.values === "f16") {
    out.topk_logprobs = { dtype: "F16", shape: [n, T, k], data: encodeHalf(lp) };
  } else {
    const codes = new Uint8Array(lp.length);
    const scale = new Float32Array(n * T);
    for (let t = 0; t < n * T; t++) {
      let min = 0;
      for (let j = 0; j < k; j++) min = Math.min(min, lp[t * k + j]);
      const sc = Math.fround(-min / 255);
      scale[t] = sc;
      for (let j = 0; j < k; j++) codes[t * k + j] = sc > 0 ? Math.min(255, Math.round(-lp[t * k + j] / sc)) : 0;
    }
    out.topk_codes = { dtype: "U8", shape: [n, T, k], data: codes };
    out.topk_scale = { dtype: "F32", shape: [n, T], data: scale };
  }
  out.tail_mass = { dtype: "F16", shape: [n, T], data: encodeHalf(top.tailMass.map((r) => Math.min(Math.max(r, 0), 1))) };
  return out;
}

/**
 * Runs the teacher over the windows of `data` and stores its per-token top-k in `dir` (layout in the file comment).
 * A complete cache with the same settings is returned as is, a partial one resumed, another one refused (DataError)
 * unless `overwrite`.
 */
export async function writeLmTopKCache(source: LmTopKSource, data: InMemoryDataset, dir: string, opts: WriteLmTopKOptions): Promise<LmTopKManifest> {
  const { k, values = "f16", shardSize = 256 } = opts;
  const batchSize = opts.batchSize ?? Math.min(shardSize, 16);
  const T = data.sampleShape[0];
  const vocab = source.vocab;
  if (data.sampleShape.length !== 1) throw new TsdistillError(`LM top-k cache: dataset ${data.name} is not token windows (sample shape [${data.sampleShape}])`);
  if (!(Number.isSafeInteger(k) && k >= 1 && k <= vocab)) throw new TsdistillError(`LM top-k cache: k ${k}: expected an integer in [1, ${vocab}]`);
  if (values !== "f16" && values !== "int8") throw new TsdistillError(`LM top-k cache: values ${String(values)}: expected f16 or int8`);
  for (const [name, v] of [["shardSize", shardSize], ["batchSize", batchSize]] as const) {
    if (!(Number.isSafeInteger(v) && v >= 1)) throw new TsdistillError(`LM top-k cache: ${name} ${v}: expected a positive integer`);
  }
  if (!opts.teacherHash) throw new TsdistillError("LM top-k cache: teacherHash: expected a non-empty string");
  if (data.size === 0) throw new TsdistillError(`LM top-k cache: dataset ${data.name} is empty`);
  const indexDtype = vocab <= 65536 ? "u16" : "i32";
  const settings: Settings = {
    format: LM_TOPK_CACHE_FORMAT,
    version: LM_TOPK_CACHE_VERSION,
    teacherHash: opts.teacherHash,
    datasetHash: opts.datasetHash ?? hashDataset(data),
    numWindows: data.size,
    ctx: T,
    vocab,
    k,
    values,
    indexDtype,
    shardSize,
    bytesPerToken: lmTopKBytesPerToken(k, values, indexDtype),
  };
  const numShards = Math.ceil(data.size / shardSize);
  const [manifestPath, partialPath] = [join(dir, MANIFEST), join(dir, PARTIAL)];
  const now = () => (opts.now ? opts.now() : new Date()).toISOString();
  mkdirSync(dir, { recursive: true });
  for (const name of readdirSync(dir)) {
    const m = TEMP_FILE.exec(name);
    if (m && Number(m[2]) !== process.pid && !pidAlive(Number(m[2]))) rmSync(join(dir, name), { force: true });
  }

  let previous: LmTopKManifest | null = null;
  let previousPath = "";
  for (const path of [manifestPath, partialPath]) {
    if (!existsSync(path)) continue;
    try {
      previous = readManifest(path);
      previousPath = path;
    } catch (err) {
      if (!opts.overwrite) throw err;
    }
    break;
  }
  const why = previous ? mismatch(previous, settings) : null;
  if (why && !opts.overwrite) throw new DataError(previousPath, `${why}; delete ${dir} or use another folder (or pass overwrite)`);
  const shards = new Map<number, z.infer<typeof shardSchema>>();
  if (previous && !why) {
    for (const s of previous.shards) {
      const path = join(dir, s.file);
      if (existsSync(path) && sha256File(path) === s.sha256) shards.set(Number(SHARD_FILE.exec(s.file)![1]), s);
    }
    if (previousPath === manifestPath && shards.size === numShards) {
      rmSync(partialPath, { force: true });
      return previous;
    }
  } else if (previous || opts.overwrite) {
    for (const name of readdirSync(dir)) if (name === MANIFEST || name === PARTIAL || SHARD_FILE.test(name)) rmSync(join(dir, name), { force: true });
  }
  const list = () => [...shards.entries()].sort((a, b) => a[0] - b[0]).map(([, s]) => s);
  const writePartial = () => writeFileAtomic(partialPath, `${JSON.stringify({ ...settings, shards: list(), createdAt: now() }, null, 2)}\n`);
  writePartial();
  rmSync(manifestPath, { force: true });

  for (let index = 0; index < numShards; index++) {
    if (shards.has(index)) continue;
    const { file, start, count } = layoutOf(index, numShards, settings);
    const rows = Int32Array.from({ length: count }, (_, i) => start + i);
    const top: LmTopKRows = { indices: new Int32Array(count * T * k), logprobs: new Float32Array(count * T * k), tailMass: new Float32Array(count * T) };
    for (let b = 0; b < count; b += batchSize) {
      await new Promise((resolve) => setImmediate(resolve));
      if (opts.signal?.aborted) throw opts.signal.reason ?? new DOMException("writing the LM top-k cache was aborted", "AbortError");
      const batchRows = rows.subarray(b, Math.min(b + batchSize, count));
      const batch = data.gather(batchRows);
      let got: LmTopKRows;
      if ("logits" in source) {
        const logits = tf.tidy(() => source.logits(tf.tensor(batch.x, [batch.size, T])));
        try {
          if (logits.rank !== 2 || logits.shape[0] !== batch.size * T || logits.shape[1] !== vocab) {
            throw new TsdistillError(`LM top-k cache: the teacher's logits have shape [${logits.shape}], expected [${batch.size * T}, ${vocab}] (one row per token)`);
          }
          got = topKFromLogits(logits, k);
        } finally {
          logits.dispose();
        }
      } else {
        got = await source.topK(batch.x, batch.size, batchRows);
      }
      const tokens = batch.size * T;
      if (got.indices.length !== tokens * k || got.logprobs.length !== tokens * k || got.tailMass.length !== tokens) {
        throw new TsdistillError(`LM top-k cache: the teacher returned ${got.indices.length} ids, ${got.logprobs.length} log-probs, ${got.tailMass.length} tail masses for ${tokens} tokens at k = ${k}`);
      }
      top.indices.set(got.indices, b * T * k);
      top.logprobs.set(got.logprobs, b * T * k);
      top.tailMass.set(got.tailMass, b * T);
    }
    for (const id of top.indices) if (!(id >= 0 && id < vocab)) throw new TsdistillError(`LM top-k cache: the teacher returned token id ${id}, outside the vocabulary [0, ${vocab})`);
    const bytes = encodeSafetensors(encodeShard(rows, top, settings), { format: LM_TOPK_CACHE_FORMAT, teacherHash: settings.teacherHash, datasetHash: settings.datasetHash, shard: `${index}/${numShards}` });
    writeFileAtomic(join(dir, file), bytes);
    shards.set(index, { file, start, count, sha256: sha256(bytes) });
    writePartial();
    opts.onShard?.(index, numShards);
  }
  const manifest: LmTopKManifest = { ...settings, shards: list(), createdAt: now() };
  writeFileAtomic(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
  rmSync(partialPath, { force: true });
  return manifest;
}

export interface LmTopKCache {
  readonly manifest: LmTopKManifest;
  /** The top-k of every token of these windows, [windows·T, k] row-major (dequantised), and the tail masses. */
  gather(rows: Int32Array): LmTopKRows;
  /** The same as tensors for a token-level loss: ids [N, k] int32, log-probs [N, k], tail mass [N]. */
  tensors(rows: Int32Array): { indices: tf.Tensor2D; logprobs: tf.Tensor2D; tailMass: tf.Tensor1D };
  close(): void;
}

export interface LmTopKExpect {
  teacherHash?: string;
  datasetHash?: string;
  numWindows?: number;
  ctx?: number;
  vocab?: number;
}

/** Opens a complete cache, checking `expect` (a mismatch is a "stale cache" DataError); shards are sha256-checked on first use. */
export function openLmTopKCache(dir: string, expect: LmTopKExpect = {}): LmTopKCache {
  const manifestPath = join(dir, MANIFEST);
  if (!existsSync(manifestPath) && existsSync(join(dir, PARTIAL))) throw new DataError(dir, `LM top-k cache is incomplete (only ${PARTIAL}); run the caching again to finish it`);
  const m = readManifest(manifestPath);
  const numShards = Math.ceil(m.numWindows / m.shardSize);
  if (m.shards.length !== numShards) throw new DataError(manifestPath, `lists ${m.shards.length} of ${numShards} shards`);
  for (const key of ["teacherHash", "datasetHash", "numWindows", "ctx", "vocab"] as const) {
    if (expect[key] !== undefined && expect[key] !== m[key]) throw new DataError(manifestPath, `stale cache: ${key} is ${m[key]} in the cache, expected ${expect[key]}; delete ${dir} and cache again`);
  }
  const { ctx: T, k } = m;
  const loaded = new Map<number, LmTopKRows>();
  let closed = false;
  const load = (index: number): LmTopKRows => {
    const hit = loaded.get(index);
    if (hit) return hit;
    const entry = m.shards[index];
    const path = join(dir, entry.file);
    const bytes = readDataFile(path, `shard ${index} of the LM top-k cache in ${dir}`);
    if (sha256(bytes) !== entry.sha256) throw new DataError(path, `corrupt LM top-k cache shard: sha256 does not match ${MANIFEST}; delete ${dir} and cache again`);
    const { tensors } = decodeSafetensors(bytes, path);
    const get = (name: string, dtype: string, shape: number[]) => {
      const t = tensors[name];
      if (!t || t.dtype !== dtype || t.shape.join() !== shape.join()) throw new DataError(path, `expected tensor "${name}" ${dtype} [${shape}], found ${t ? `${t.dtype} [${t.shape}]` : "none"}`);
      return t.data;
    };
    const n = entry.count;
    const rows = get("rows", "I32", [n]) as Int32Array;
    rows.forEach((r, i) => {
      if (r !== entry.start + i) throw new DataError(path, `"rows"[${i}] is ${r}, expected ${entry.start + i}`);
    });
    let indices: Int32Array;
    if (m.indexDtype === "u16") {
      const b = get("topk_ids_u16le", "U8", [n, T, k, 2]) as Uint8Array;
      indices = Int32Array.from({ length: b.length / 2 }, (_, i) => b[2 * i] | (b[2 * i + 1] << 8));
    } else {
      indices = get("topk_ids", "I32", [n, T, k]) as Int32Array;
    }
    let logprobs: Float32Array;
    if (m.values === "f16") {
      logprobs = decodeHalf(get("topk_logprobs", "F16", [n, T, k]) as Uint16Array);
    } else {
      const codes = get("topk_codes", "U8", [n, T, k]) as Uint8Array;
      const scale = get("topk_scale", "F32", [n, T]) as Float32Array;
      logprobs = Float32Array.from(codes, (c, i) => -c * scale[Math.floor(i / k)]);
    }
    const shard = { indices, logprobs, tailMass: decodeHalf(get("tail_mass", "F16", [n, T]) as Uint16Array) };
    loaded.set(index, shard);
    return shard;
  };
  const gather = (rows: Int32Array): LmTopKRows => {
    if (closed) throw new TsdistillError(`LM top-k cache ${dir} is closed`);
    const out: LmTopKRows = { indices: new Int32Array(rows.length * T * k), logprobs: new Float32Array(rows.length * T * k), tailMass: new Float32Array(rows.length * T) };
    rows.forEach((r, i) => {
      if (!(Number.isInteger(r) && r >= 0 && r < m.numWindows)) throw new RangeError(`LM top-k cache ${dir}: window ${r} is outside [0, ${m.numWindows})`);
      const s = Math.floor(r / m.shardSize);
      const shard = load(s);
      const at = r - s * m.shardSize;
      out.indices.set(shard.indices.subarray(at * T * k, (at + 1) * T * k), i * T * k);
      out.logprobs.set(shard.logprobs.subarray(at * T * k, (at + 1) * T * k), i * T * k);
      out.tailMass.set(shard.tailMass.subarray(at * T, (at + 1) * T), i * T);
    });
    return out;
  };
  return {
    manifest: m,
    gather,
    tensors(rows) {
      const g = gather(rows);
      const N = rows.length * T;
      return { indices: tf.tensor2d(g.indices, [N, k], "int32"), logprobs: tf.tensor2d(g.logprobs, [N, k]), tailMass: tf.tensor1d(g.tailMass) };
    },
    close() {
      closed = true;
      loaded.clear();
    },
  };
}
