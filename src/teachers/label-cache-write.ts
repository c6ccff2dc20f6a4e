/** Writing a teacher cache: labelling a data set shard by shard, resumably (see label-cache.ts for the layout). */
import { existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { InMemoryDataset } from "../data/dataset.js";
import { hashDataset } from "../data/dataset-hash.js";
import { DataError, TsdistillError } from "../util/errors.js";
import { writeFileAtomic } from "../util/files.js";
import { sha256Bytes as sha256 } from "../util/hashing.js";
import { encodeSafetensors, type SafetensorsTensor } from "./safetensors.js";
import type { Teacher } from "./teacher.js";
import { runTeacher } from "./teacher-run.js";
import { LABEL_CACHE_FORMAT, LABEL_CACHE_VERSION, MANIFEST_FILE, PARTIAL_MANIFEST_FILE, DEFAULT_SHARD_SIZE, SHARD_FILE, type LabelCacheShard, type LabelCacheManifest, readManifest, layoutOf, isComplete, type LabelCacheSettings, mismatch, isCacheFile, removeStaleTemps, verifiedShards, adoptedShards, shardOnDisk, shardHeader } from "./label-cache-format.js";

export interface LabelDatasetOptions {
  /** Identifies the teacher (e.g. `hashFiles` over its weight files); stored and checked on reuse. */
  teacherHash: string;
  /** Identifies the transfer set; default `hashDataset(data)`. */
  datasetHash?: string;
  /** Samples per shard (default 10000). */
  shardSize?: number;
  /** Samples per teacher call (default min(shardSize, 1000)); batches never straddle shards. */
  batchSize?: number;
  /** Store only each row's k most likely classes: int32 indices and float32 log-softmax values, most likely first. */
  topK?: number;
  /** Replace a cache in `dir` that was made with other hashes or settings instead of refusing. */
  overwrite?: boolean;
  /** Called after each shard this call computes and writes (shard index, number of shards). */
  onShard?: (index: number, numShards: number) => void;
  /** Stops labelling between teacher batches; finished shards stay on disk for a later resume. */
  signal?: AbortSignal;
  /** Clock for the manifest's createdAt (tests pin it). */
  now?: () => Date;
  /** Receives warnings about the teacher's first batch (validateTeacherOutputs; default stderr). */
  onWarning?: (message: string) => void;
  /**
   * Computes the missing shards elsewhere (e.g. queue workers) instead of in this process. The runner has each
   * shard written into `dir` (encodeShard's bytes, renamed into place whole) and calls `shardWritten` once it is
   * there; this process alone writes the manifests. The teacher is then only used for its class count.
   */
  shardRunner?: (plan: ShardPlan) => Promise<void>;
}

/** The shards a labelling run still needs, for a `shardRunner`. */
export interface ShardPlan {
  dir: string;
  settings: LabelCacheSettings;
  numShards: number;
  batchSize: number;
  /** Shard indices not on disk yet, ascending. */
  missing: number[];
  /**
   * Records shard `index` when a complete file of this cache is on disk for it (header checked as for adopted
   * shards): updates the partial manifest and calls onShard. Returns false while no such file is there.
   */
  shardWritten(index: number): boolean;
}


function abortError(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException("labelling was aborted", "AbortError");
}

/** Top-k (descending logit, ties to the lower class) of each row, with log-softmax values computed in float64. */
function topKRows(logits: Float32Array, rows: number, c: number, k: number): { indices: Int32Array; logprobs: Float32Array } {
  const indices = new Int32Array(rows * k);
  const logprobs = new Float32Array(rows * k);
  const order = new Int32Array(c);
  for (let r = 0; r < rows; r++) {
    const row = logits.subarray(r * c, (r + 1) * c);
    let max = -Infinity;
    for (let j = 0; j < c; j++) if (row[j] > max) max = row[j];
    let sum = 0;
    for (let j = 0; j < c; j++) sum += Math.exp(row[j] - max);
    const lse = max + Math.log(sum);
    for (let j = 0; j < c; j++) order[j] = j;
    order.sort((a, b) => row[b] - row[a] || a - b);
    for (let j = 0; j < k; j++) {
      indices[r * k + j] = order[j];
      logprobs[r * k + j] = row[order[j]] - lse;
    }
  }
  return { indices, logprobs };
}

/**
 * Runs `teacher` over `data` and stores its outputs in `dir` (see the file comment for the layout). Returns the
 * manifest. A complete cache with the same hashes and settings is returned as-is; a partial one is resumed; one
 * made with other hashes or settings is refused (DataError) unless `overwrite`.
 */
export async function labelDataset(teacher: Teacher, data: InMemoryDataset, dir: string, opts: LabelDatasetOptions): Promise<LabelCacheManifest> {
  const shardSize = opts.shardSize ?? DEFAULT_SHARD_SIZE;
  if (!Number.isSafeInteger(shardSize) || shardSize < 1) throw new TsdistillError(`shardSize: expected a positive integer, got ${shardSize}`);
  const batchSize = opts.batchSize ?? Math.min(shardSize, 1000);
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new TsdistillError(`batchSize: expected a positive integer, got ${batchSize}`);
  if (typeof opts.teacherHash !== "string" || opts.teacherHash === "") throw new TsdistillError("teacherHash: expected a non-empty string");
  const numClasses = teacher.numClasses;
  const topK = opts.topK ?? null;
  if (topK !== null && !(Number.isSafeInteger(topK) && topK >= 1 && topK <= numClasses)) {
    throw new TsdistillError(`topK: expected an integer in [1, ${numClasses}], got ${topK}`);
  }
  if (data.size === 0) throw new TsdistillError(`dataset ${data.name} is empty; nothing to label`);
  const settings: LabelCacheSettings = {
    format: LABEL_CACHE_FORMAT,
    version: LABEL_CACHE_VERSION,
    teacherHash: opts.teacherHash,
    datasetHash: opts.datasetHash ?? hashDataset(data),
    numSamples: data.size,
    numClasses,
    shardSize,
    dtype: "float32",
    topK,
  };

  const createdDir = !existsSync(dir);
  mkdirSync(dir, { recursive: true });
  try {
    return await labelInto(teacher, data, dir, opts, settings);
  } catch (err) {
    // A run refused or failed before its first shard leaves no folder behind (nor a manifest it made).
    if (createdDir && !readdirSync(dir).some((f) => SHARD_FILE.test(f))) rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

async function labelInto(teacher: Teacher, data: InMemoryDataset, dir: string, opts: LabelDatasetOptions, settings: LabelCacheSettings): Promise<LabelCacheManifest> {
  const { shardSize } = settings;
  const batchSize = opts.batchSize ?? Math.min(shardSize, 1000);
  const numShards = Math.ceil(data.size / shardSize);
  const manifestPath = join(dir, MANIFEST_FILE);
  const partialPath = join(dir, PARTIAL_MANIFEST_FILE);
  const now = () => (opts.now ? opts.now() : new Date()).toISOString();
  const refuse = (path: string, why: string): never => {
    throw new DataError(path, `${why}; delete ${dir} or use another folder (or pass overwrite)`);
  };
  removeStaleTemps(dir);

  // What an earlier run left: a complete manifest wins over a partial one.
  let kept = new Map<number, LabelCacheShard>();
  let previous: LabelCacheManifest | null = null;
  let previousPath = "";
  let startOver = false;
  for (const path of [manifestPath, partialPath]) {
    if (!existsSync(path)) continue;
    try {
      previous = readManifest(path);
      previousPath = path;
      break;
    } catch (err) {
      if (!opts.overwrite) throw err;
      startOver = true;
    }
  }
  if (previous) {
    const why = mismatch(previous, settings);
    if (why !== null && !opts.overwrite) refuse(previousPath, why);
    if (why === null) kept = verifiedShards(dir, previous);
    else startOver = true;
  }
  if (previous && previousPath === manifestPath && kept.size === numShards && isComplete(previous)) {
    rmSync(partialPath, { force: true });
    return previous;
  }
  if (startOver) {
    // overwrite: remove every cache file of the other configuration (only ours, never anything else in dir).
    kept = new Map();
    for (const name of readdirSync(dir)) if (isCacheFile(name)) rmSync(join(dir, name), { force: true });
  }

  // Complete shards whose manifest entry was never written (full-logit and top-k shards alike carry their header).
  const shards = startOver ? new Map(kept) : adoptedShards(dir, settings, numShards, kept, previous);
  const writePartial = () => {
    const list = [...shards.entries()].sort((a, b) => a[0] - b[0]).map(([, s]) => s);
    writeFileAtomic(partialPath, `${JSON.stringify({ ...settings, shards: list, createdAt: now() }, null, 2)}\n`);
  };
  // From here on the folder is incomplete: record what is kept, then retract any complete manifest. (A new cache
  // gets its partial manifest with the first shard, so a run refused on the teacher's first batch leaves nothing.)
  if (previous || shards.size > 0) writePartial();
  rmSync(manifestPath, { force: true });

  const missing = Array.from({ length: numShards }, (_, i) => i).filter((i) => !shards.has(i));
  if (opts.shardRunner && missing.length > 0) {
    const shardWritten = (index: number): boolean => {
      if (shards.has(index)) return true;
      const found = shardOnDisk(dir, settings, index, numShards);
      if (!found) return false;
      shards.set(index, found);
      writePartial();
      opts.onShard?.(index, numShards);
      return true;
    };
    await opts.shardRunner({ dir, settings, numShards, batchSize, missing, shardWritten });
    const left = missing.filter((i) => !shards.has(i));
    if (left.length > 0) throw new TsdistillError(`teacher cache ${dir}: shard(s) ${left.join(", ")} were not written`);
    // Writers killed mid-write (on this machine) leave their temp files; the finished cache holds none.
    removeStaleTemps(dir);
  }
  let first = true;
  for (const index of opts.shardRunner ? [] : missing) {
    if (opts.signal?.aborted) throw abortError(opts.signal);
    // The first batch this run computes is validated (finite, not one answer for all, probabilities summing to 1).
    const { file, bytes, shard } = await encodeShard(teacher, data, settings, index, { batchSize, signal: opts.signal, validate: first, onWarning: opts.onWarning });
    first = false;
    writeFileAtomic(join(dir, file), bytes);
    shards.set(index, shard);
    writePartial();
    opts.onShard?.(index, numShards);
  }

  const manifest: LabelCacheManifest = { ...settings, shards: [...shards.entries()].sort((a, b) => a[0] - b[0]).map(([, s]) => s), createdAt: now() };
  writeFileAtomic(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
  rmSync(partialPath, { force: true });
  return manifest;
}

export interface EncodeShardOptions {
  /** Samples per teacher call; batches never straddle shards. */
  batchSize: number;
  signal?: AbortSignal;
  /** Check the first batch's outputs (validateTeacherOutputs). */
  validate?: boolean;
  onWarning?: (message: string) => void;
}

/**
 * Runs the teacher over shard `index` of a cache with these settings and returns the shard file's name and bytes
 * (the same bytes wherever it runs, for the same teacher, data, batch size and backend) with its manifest entry.
 */
export async function encodeShard(teacher: Teacher, data: InMemoryDataset, settings: LabelCacheSettings, index: number, opts: EncodeShardOptions): Promise<{ file: string; bytes: Uint8Array; shard: LabelCacheShard }> {
  const { numClasses, topK } = settings;
  const numShards = Math.ceil(settings.numSamples / settings.shardSize);
  const { file, start, count } = layoutOf(index, numShards, settings.numSamples, settings.shardSize);
  const rows = new Int32Array(count);
  for (let i = 0; i < count; i++) rows[i] = start + i;
  const logits = await runTeacher(teacher, data, { rows, batchSize: opts.batchSize, signal: opts.signal, validate: opts.validate ?? false, onWarning: opts.onWarning });
  const tensors: Record<string, SafetensorsTensor> = { indices: { dtype: "I32", shape: [count], data: rows } };
  if (topK === null) {
    tensors.logits = { dtype: "F32", shape: [count, numClasses], data: logits };
  } else {
    const top = topKRows(logits, count, numClasses, topK);
    tensors.topk_indices = { dtype: "I32", shape: [count, topK], data: top.indices };
    tensors.topk_logprobs = { dtype: "F32", shape: [count, topK], data: top.logprobs };
  }
  const bytes = encodeSafetensors(tensors, shardHeader(settings, index, numShards, start, count));
  return { file, bytes, shard: { file, start, count, sha256: sha256(bytes) } };
}
