/** Reading a complete teacher cache made by labelDataset (see label-cache.ts for the layout). */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { DataError, TsdistillError } from "../util/errors.js";
import { readDataFile } from "../util/files.js";
import { sha256Bytes as sha256 } from "../util/hashing.js";
import { decodeSafetensors } from "./safetensors.js";
import type { LogitLookup } from "./teacher.js";
import { MANIFEST_FILE, PARTIAL_MANIFEST_FILE, type LabelCacheManifest, readManifest, isComplete, describeCacheMismatch } from "./label-cache-format.js";

export interface LabelCacheExpect {
  teacherHash?: string;
  datasetHash?: string;
  numSamples?: number;
}

export interface TopKRows {
  /** [n, k] class indices, most likely first. */
  indices: Int32Array;
  /** [n, k] log-softmax values matching `indices`. */
  logprobs: Float32Array;
}

export interface LabelCache {
  readonly manifest: LabelCacheManifest;
  /** Full logits for these dataset rows, row-major [n, numClasses] (caches made without topK). */
  logitsFor(indices: Int32Array): Float32Array;
  /** Top-k classes and log-probabilities for these dataset rows (caches made with topK). */
  topKFor(indices: Int32Array): TopKRows;
  /** Drops the loaded shards; the cache cannot be used afterwards. */
  close(): void;
}

interface LoadedShard {
  logits?: Float32Array;
  topkIndices?: Int32Array;
  topkLogprobs?: Float32Array;
}

/**
 * Opens a complete cache made by `labelDataset`, checking it against `expect` (a mismatch is a "stale cache"
 * DataError saying whether the teacher or the data differs, with both values). Shards are read on first use and checked against the manifest's
 * sha256, shape and row indices; a missing or corrupt shard is a DataError naming the file.
 */
export function openLabelCache(dir: string, expect: LabelCacheExpect = {}): LabelCache {
  const manifestPath = join(dir, MANIFEST_FILE);
  if (!existsSync(manifestPath) && existsSync(join(dir, PARTIAL_MANIFEST_FILE))) {
    throw new DataError(dir, `teacher cache is incomplete (only ${PARTIAL_MANIFEST_FILE}); run the labelling again to finish it`);
  }
  const manifest = readManifest(manifestPath);
  if (!isComplete(manifest)) throw new DataError(manifestPath, `lists ${manifest.shards.length} of ${Math.ceil(manifest.numSamples / manifest.shardSize)} shards`);
  const stale = describeCacheMismatch(manifest, expect);
  if (stale) throw new DataError(manifestPath, `${stale}; label again into a new folder (same --data, --split, --validation-size, --train-size and --seed as this run)`);
  const { numClasses: c, shardSize, numSamples, topK } = manifest;
  const loaded = new Map<number, LoadedShard>();
  let closed = false;

  const load = (index: number): LoadedShard => {
    const hit = loaded.get(index);
    if (hit) return hit;
    const entry = manifest.shards[index];
    const path = join(dir, entry.file);
    const bytes = readDataFile(path, `shard ${index} of the teacher cache in ${dir}`);
    if (sha256(bytes) !== entry.sha256) throw new DataError(path, `corrupt teacher-cache shard: sha256 does not match ${MANIFEST_FILE}; delete ${dir} and label again`);
    const { tensors } = decodeSafetensors(bytes, path);
    const get = (name: string, dtype: "F32" | "I32", shape: number[]) => {
      const t = tensors[name];
      if (!t) throw new DataError(path, `teacher-cache shard has no "${name}" tensor`);
      if (t.dtype !== dtype || t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
        throw new DataError(path, `tensor "${name}" is ${t.dtype} [${t.shape}], expected ${dtype} [${shape}]`);
      }
      return t.data;
    };
    const rows = get("indices", "I32", [entry.count]) as Int32Array;
    for (let i = 0; i < entry.count; i++) {
      if (rows[i] !== entry.start + i) throw new DataError(path, `"indices"[${i}] is ${rows[i]}, expected ${entry.start + i}`);
    }
    const shard: LoadedShard =
      topK === null
        ? { logits: get("logits", "F32", [entry.count, c]) as Float32Array }
        : { topkIndices: get("topk_indices", "I32", [entry.count, topK]) as Int32Array, topkLogprobs: get("topk_logprobs", "F32", [entry.count, topK]) as Float32Array };
    loaded.set(index, shard);
    return shard;
  };

  const locate = (indices: Int32Array, i: number): { shard: LoadedShard; row: number } => {
    const r = indices[i];
    if (!(Number.isInteger(r) && r >= 0 && r < numSamples)) throw new RangeError(`teacher cache ${dir}: row ${r} is outside [0, ${numSamples})`);
    const s = Math.floor(r / shardSize);
    return { shard: load(s), row: r - s * shardSize };
  };

  return {
    manifest,
    logitsFor(indices) {
      if (closed) throw new TsdistillError(`teacher cache ${dir} is closed`);
      if (topK !== null) throw new TsdistillError(`teacher cache ${dir} stores only the top ${topK} classes; use topKFor`);
      const out = new Float32Array(indices.length * c);
      for (let i = 0; i < indices.length; i++) {
        const { shard, row } = locate(indices, i);
        out.set(shard.logits!.subarray(row * c, (row + 1) * c), i * c);
      }
      return out;
    },
    topKFor(indices) {
      if (closed) throw new TsdistillError(`teacher cache ${dir} is closed`);
      if (topK === null) throw new TsdistillError(`teacher cache ${dir} stores full logits; use logitsFor`);
      const k = topK;
      const out: TopKRows = { indices: new Int32Array(indices.length * k), logprobs: new Float32Array(indices.length * k) };
      for (let i = 0; i < indices.length; i++) {
        const { shard, row } = locate(indices, i);
        out.indices.set(shard.topkIndices!.subarray(row * k, (row + 1) * k), i * k);
        out.logprobs.set(shard.topkLogprobs!.subarray(row * k, (row + 1) * k), i * k);
      }
      return out;
    },
    close() {
      closed = true;
      loaded.clear();
    },
  };
}

/** A cache of full logits as a row lookup for distillation (the teacher itself is never loaded). */
export function cacheLogitLookup(cache: LabelCache, dir: string): LogitLookup {
  const { numClasses, topK } = cache.manifest;
  if (topK) throw new DataError(dir, `this teacher cache holds only the top-${topK} classes per sample; label again without --top-k to distil from full logits`);
  return { numClasses, gather: (indices) => tf.tensor2d(cache.logitsFor(indices), [indices.length, numClasses]) };
}
