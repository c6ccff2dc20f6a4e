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

/** One labelling run: where and what it writes, its shards so far (index → manifest entry) and how it records them. */
interface LabelRun {
  dir: string;
  opts: LabelDatasetOptions;
  settings: LabelCacheSettings;
  numShards: number;
  batchSize: number;
  shards: Map<number, LabelCacheShard>;
  /** Records `shards` in the partial manifest. */
  writePartial(): void;
}

async function labelInto(teacher: Teacher, data: InMemoryDataset, dir: string, opts: LabelDatasetOptions, settings: LabelCacheSettings): Promise<LabelCacheManifest> {
  const numShards = Math.ceil(data.size / settings.shardSize);
  const manifestPath = join(dir, MANIFEST_FILE);
  const partialPath = join(dir, PARTIAL_MANIFEST_FILE);
  const now = () => (opts.now ? opts.now() : new Date()).toISOString();
  removeStaleTemps(dir);

  const earlier = earlierRun(dir, opts, settings);
  if (earlier.previous && earlier.previousPath === manifestPath && earlier.kept.size === numShards && isComplete(earlier.previous)) {
    rmSync(partialPath, { force: true });
    return earlier.previous;
  }
  const shards = shardsToKeep(dir, settings, numShards, earlier);
  const run: LabelRun = {
    dir,
    opts,
    settings,
    numShards,
    batchSize: opts.batchSize ?? Math.min(settings.shardSize, 1000),
    shards,
    writePartial: () => writeFileAtomic(partialPath, `${JSON.stringify({ ...settings, shards: sortedShards(shards), createdAt: now() }, null, 2)}\n`),
  };
  // From here on the folder is incomplete: record what is kept, then retract any complete manifest. (A new cache
  // gets its partial manifest with the first shard, so a run refused on the teacher's first batch leaves nothing.)
  if (earlier.previous || shards.size > 0) run.writePartial();
  rmSync(manifestPath, { force: true });

  const missing = Array.from({ length: numShards }, (_, i) => i).filter((i) => !shards.has(i));
  if (!opts.shardRunner) await computeShards(run, teacher, data, missing);
  else if (missing.length > 0) await runShardsElsewhere(run, opts.shardRunner, missing);

  const manifest: LabelCacheManifest = { ...settings, shards: sortedShards(shards), createdAt: now() };
  writeFileAtomic(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
  rmSync(partialPath, { force: true });
  return manifest;
}

function sortedShards(shards: Map<number, LabelCacheShard>): LabelCacheShard[] {
  return [...shards.entries()].sort((a, b) => a[0] - b[0]).map(([, s]) => s);
}

/** What an earlier run left in `dir`, and whether it must go (overwrite of another configuration or a damaged manifest). */
interface EarlierRun {
  previous: LabelCacheManifest | null;
  previousPath: string;
  /** The previous manifest's shards whose files are intact. */
  kept: Map<number, LabelCacheShard>;
  startOver: boolean;
}

/** Reads the earlier run's manifest (a complete one wins over a partial one); refuses a mismatch unless overwrite. */
function earlierRun(dir: string, opts: LabelDatasetOptions, settings: LabelCacheSettings): EarlierRun {
  const found: EarlierRun = { previous: null, previousPath: "", kept: new Map(), startOver: false };
  for (const path of [join(dir, MANIFEST_FILE), join(dir, PARTIAL_MANIFEST_FILE)]) {
    if (!existsSync(path)) continue;
    try {
      found.previous = readManifest(path);
      found.previousPath = path;
      break;
    } catch (err) {
      if (!opts.overwrite) throw err;
      found.startOver = true;
    }
  }
  if (found.previous) {
    const why = mismatch(found.previous, settings);
    if (why !== null && !opts.overwrite) throw new DataError(found.previousPath, `${why}; delete ${dir} or use another folder (or pass overwrite)`);
    if (why === null) found.kept = verifiedShards(dir, found.previous);
    else found.startOver = true;
  }
  return found;
}

/**
 * The shards this run keeps: on start-over none (every cache file of the other configuration is removed, only
 * ours, never anything else in dir); otherwise the verified ones plus complete shards whose manifest entry was
 * never written (full-logit and top-k shards alike carry their header).
 */
function shardsToKeep(dir: string, settings: LabelCacheSettings, numShards: number, earlier: EarlierRun): Map<number, LabelCacheShard> {
  if (!earlier.startOver) return adoptedShards(dir, settings, numShards, earlier.kept, earlier.previous);
  for (const name of readdirSync(dir)) if (isCacheFile(name)) rmSync(join(dir, name), { force: true });
  return new Map();
}

/** Runs the teacher over the missing shards in this process, writing each shard and the partial manifest as it goes. */
async function computeShards(run: LabelRun, teacher: Teacher, data: InMemoryDataset, missing: number[]): Promise<void> {
  const { dir, opts, settings, batchSize, numShards } = run;
  let first = true;
  for (const index of missing) {
    if (opts.signal?.aborted) throw abortError(opts.signal);
    // The first batch this run computes is validated (finite, not one answer for all, probabilities summing to 1).
    const { file, bytes, shard } = await encodeShard(teacher, data, settings, index, { batchSize, signal: opts.signal, validate: first, onWarning: opts.onWarning });
    first = false;
    writeFileAtomic(join(dir, file), bytes);
    run.shards.set(index, shard);
    run.writePartial();
    opts.onShard?.(index, numShards);
  }
}

/** Hands the missing shards to a `shardRunner` and records each one it reports written; all must be there after. */
async function runShardsElsewhere(run: LabelRun, runner: (plan: ShardPlan) => Promise<void>, missing: number[]): Promise<void> {
  const { dir, opts, settings, batchSize, numShards, shards } = run;
  const shardWritten = (index: number): boolean => {
    if (shards.has(index)) return true;
    const found = shardOnDisk(dir, settings, index, numShards);
    if (!found) return false;
    shards.set(index, found);
    run.writePartial();
    opts.onShard?.(index, numShards);
    return true;
  };
  await runner({ dir, settings, numShards, batchSize, missing, shardWritten });
  const left = missing.filter((i) => !shards.has(i));
  if (left.length > 0) throw new TsdistillError(`teacher cache ${dir}: shard(s) ${left.join(", ")} were not written`);
  // Writers killed mid-write (on this machine) leave their temp files; the finished cache holds none.
  removeStaleTemps(dir);
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
