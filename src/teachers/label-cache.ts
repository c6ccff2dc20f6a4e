/**
 * An offline teacher cache: a teacher's outputs over a transfer set, computed once and stored on disk as sharded
 * safetensors files plus a JSON manifest, so training can run from the cache without loading the teacher.
 *
 *   DIR/shard-00000-of-00006.safetensors   "logits" F32 [n, C]  (or "topk_indices" I32 [n, k] + "topk_logprobs" F32 [n, k])
 *   …                                      "indices" I32 [n]: the dataset rows the shard holds (start … start+n−1)
 *   DIR/manifest.json                      written last; its presence means the cache is complete
 *   DIR/manifest.partial.json              while labelling: the shards finished so far (removed at the end)
 *
 * Every file is written atomically (temp file + rename). Labelling is resumable: a rerun keeps the finished
 * shards whose sha256 still matches and computes only the rest, in the same batches, so the result is
 * byte-identical to an uninterrupted run. One labelling process per folder at a time.
 */
import { createHash } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, rmSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { z } from "zod";
import type { InMemoryDataset } from "../data/dataset.js";
import { DataError, TsdistillError } from "../util/errors.js";
import { readDataFile, writeFileAtomic } from "../util/files.js";
import { describeZodError } from "../util/zod-errors.js";
import { decodeSafetensors, encodeSafetensors, type SafetensorsTensor } from "./safetensors.js";
import type { LogitLookup, Teacher } from "./teacher.js";
import { runTeacher } from "./teacher-run.js";

export const LABEL_CACHE_FORMAT = "tsdistill.teacher-cache";
export const LABEL_CACHE_VERSION = 1;
export const MANIFEST_FILE = "manifest.json";
export const PARTIAL_MANIFEST_FILE = "manifest.partial.json";
export const DEFAULT_SHARD_SIZE = 10000;

const SHA256 = /^[0-9a-f]{64}$/;
const SHARD_FILE = /^shard-(\d{5,})-of-(\d{5,})\.safetensors$/;
/** Temp files of cache files left by util/files.ts writeFileAtomic: `.NAME.PID.<digits>[.<digits>…].tmp`. */
const TEMP_FILE = /^\.(manifest\.json|manifest\.partial\.json|shard-\d{5,}-of-\d{5,}\.safetensors)\.(\d+)(?:\.\d+)+\.tmp$/;

const shardSchema = z
  .object({
    file: z.string().regex(SHARD_FILE, "expected a file name like shard-00000-of-00001.safetensors"),
    start: z.number().int().nonnegative(),
    count: z.number().int().positive(),
    sha256: z.string().regex(SHA256, "expected 64 lowercase hex digits"),
  })
  .strict();

const manifestSchema = z
  .object({
    format: z.literal(LABEL_CACHE_FORMAT),
    version: z.literal(LABEL_CACHE_VERSION),
    teacherHash: z.string().min(1),
    datasetHash: z.string().min(1),
    numSamples: z.number().int().positive(),
    numClasses: z.number().int().positive(),
    shardSize: z.number().int().positive(),
    dtype: z.literal("float32"),
    topK: z.number().int().positive().nullable(),
    shards: z.array(shardSchema),
    createdAt: z.string(),
  })
  .strict();

export type LabelCacheShard = z.infer<typeof shardSchema>;
export type LabelCacheManifest = z.infer<typeof manifestSchema>;

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

/** sha256 (hex) of one file, read in chunks. */
export function sha256File(path: string): string {
  const hash = createHash("sha256");
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (err) {
    throw new DataError(path, `could not be read for hashing (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const got = readSync(fd, buf, 0, buf.length, null);
      if (got === 0) break;
      hash.update(buf.subarray(0, got));
    }
  } catch (err) {
    throw new DataError(path, `could not be read for hashing (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  } finally {
    closeSync(fd);
  }
  return hash.digest("hex");
}

/**
 * One hash for a set of files (e.g. a teacher's model.json and weights): sha256 over each file's hex sha256
 * followed by "\n", in the order given (so `sha256sum a b | cut -c1-64 | sha256sum` reproduces it). File names
 * do not enter the hash; order does.
 */
export function hashFiles(paths: string[]): string {
  if (paths.length === 0) throw new TsdistillError("hashFiles: no files given");
  const hash = createHash("sha256");
  for (const p of paths) hash.update(`${sha256File(p)}\n`);
  return hash.digest("hex");
}

function bytesOf(a: Float32Array | Int32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/**
 * sha256 (hex) identifying a dataset's contents: over the UTF-8 JSON of sampleShape (e.g. "[28,28,1]"), then
 * the x values as little-endian float32 bytes, then the y labels as little-endian int32 bytes.
 */
export function hashDataset(data: InMemoryDataset): string {
  return createHash("sha256").update(JSON.stringify(data.sampleShape)).update(bytesOf(data.x)).update(bytesOf(data.y)).digest("hex");
}

export function shardFileName(index: number, numShards: number): string {
  const pad = (v: number) => String(v).padStart(5, "0");
  return `shard-${pad(index)}-of-${pad(numShards)}.safetensors`;
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Reads and validates a manifest (complete or partial); any problem is a DataError naming the file. */
function readManifest(path: string): LabelCacheManifest {
  const text = readDataFile(path, "a tsdistill teacher-cache manifest").toString("utf8");
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new DataError(path, `not valid JSON (${(err as Error).message}); expected a tsdistill teacher-cache manifest`);
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) throw new DataError(path, `not a valid teacher-cache manifest: ${describeZodError(parsed.error)}`);
  const m = parsed.data;
  if (m.topK !== null && m.topK > m.numClasses) throw new DataError(path, `topK ${m.topK} exceeds numClasses ${m.numClasses}`);
  const numShards = Math.ceil(m.numSamples / m.shardSize);
  const seen = new Set<number>();
  for (const s of m.shards) {
    const match = SHARD_FILE.exec(s.file)!;
    const index = Number(match[1]);
    const expected = layoutOf(index, numShards, m.numSamples, m.shardSize);
    if (Number(match[2]) !== numShards || s.file !== expected.file || s.start !== expected.start || s.count !== expected.count) {
      throw new DataError(path, `shard entry ${s.file} (start ${s.start}, count ${s.count}) does not fit ${m.numSamples} samples in shards of ${m.shardSize}`);
    }
    if (seen.has(index)) throw new DataError(path, `shard ${s.file} is listed twice`);
    seen.add(index);
  }
  return m;
}

function layoutOf(index: number, numShards: number, numSamples: number, shardSize: number): { file: string; start: number; count: number } {
  const start = index * shardSize;
  return { file: shardFileName(index, numShards), start, count: Math.min(shardSize, numSamples - start) };
}

function isComplete(m: LabelCacheManifest): boolean {
  const numShards = Math.ceil(m.numSamples / m.shardSize);
  return m.shards.length === numShards && m.shards.every((s, i) => s.file === shardFileName(i, numShards));
}

/** What a cache is made with: its manifest without the shard list and the time. */
export type LabelCacheSettings = Omit<LabelCacheManifest, "shards" | "createdAt">;
type Settings = LabelCacheSettings;

const short = (h: string) => (h.length > 24 ? `${h.slice(0, 12)}…` : h);

/**
 * Which of teacher and data a cache was not made for, in words, with both hashes: "made by another teacher
 * (teacher hash a… in the cache, b… now)", "made from other data (…)", or both. Null when both match.
 */
export function describeCacheMismatch(found: { teacherHash: string; datasetHash: string; numSamples: number }, want: { teacherHash?: string; datasetHash?: string; numSamples?: number }): string | null {
  const teacher = want.teacherHash !== undefined && found.teacherHash !== want.teacherHash;
  const data = (want.datasetHash !== undefined && found.datasetHash !== want.datasetHash) || (want.numSamples !== undefined && found.numSamples !== want.numSamples);
  if (!teacher && !data) return null;
  const parts: string[] = [];
  if (teacher) parts.push(`made by another teacher (teacher hash ${short(found.teacherHash)} in the cache, ${short(want.teacherHash!)} now)`);
  if (data) {
    const samples = want.numSamples !== undefined && found.numSamples !== want.numSamples ? `${found.numSamples} samples in the cache, ${want.numSamples} now` : `${found.numSamples} samples`;
    const hashes = want.datasetHash !== undefined && found.datasetHash !== want.datasetHash ? `, data set hash ${short(found.datasetHash)} in the cache, ${short(want.datasetHash)} now` : "";
    parts.push(`made from other data (${samples}${hashes})`);
  }
  return `stale cache: ${teacher && data ? `${parts[0]} and ${parts[1]}` : parts[0]}`;
}

/** Why an existing manifest cannot be reused for these settings, or null when it can. */
function mismatch(found: LabelCacheManifest, want: Settings): string | null {
  const which = describeCacheMismatch(found, want);
  if (which) return which;
  for (const key of ["numSamples", "numClasses", "shardSize", "topK", "dtype"] as const) {
    if (found[key] !== want[key]) return `cache was made with ${key} ${found[key]}, now ${want[key]}`;
  }
  return null;
}

function pidAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

function isCacheFile(name: string): boolean {
  return name === MANIFEST_FILE || name === PARTIAL_MANIFEST_FILE || SHARD_FILE.test(name);
}

/** Removes temp files of cache files left by a writer that was killed mid-write (its process no longer exists). */
function removeStaleTemps(dir: string): void {
  for (const name of readdirSync(dir)) {
    const m = TEMP_FILE.exec(name);
    if (m && !pidAlive(Number(m[2]))) rmSync(join(dir, name), { force: true });
  }
}

/** Verified shards of a previous (partial or complete) run: their sha256 still matches. */
function verifiedShards(dir: string, m: LabelCacheManifest): Map<number, LabelCacheShard> {
  const kept = new Map<number, LabelCacheShard>();
  for (const s of m.shards) {
    const path = join(dir, s.file);
    if (!existsSync(path)) continue;
    let digest: string;
    try {
      digest = sha256File(path);
    } catch {
      continue;
    }
    if (digest === s.sha256) kept.set(Number(SHARD_FILE.exec(s.file)![1]), s);
  }
  return kept;
}

/**
 * Shard files on disk that no manifest lists yet: a run killed between a shard's rename and the manifest update.
 * Shards are renamed into place whole, so such a file is complete; it is kept when its own header names this
 * cache's settings and its place (teacher, data, shard index, rows), so a resumed run never computes it twice.
 */
function adoptedShards(dir: string, settings: Settings, numShards: number, kept: Map<number, LabelCacheShard>, listed: LabelCacheManifest | null): Map<number, LabelCacheShard> {
  const out = new Map(kept);
  // A shard the manifest lists but whose sha256 no longer matches is damaged: it is computed again, never adopted.
  const known = new Set((listed?.shards ?? []).map((s) => s.file));
  for (const name of readdirSync(dir)) {
    const m = SHARD_FILE.exec(name);
    if (!m || Number(m[2]) !== numShards) continue;
    const index = Number(m[1]);
    if (out.has(index) || index >= numShards || known.has(name)) continue;
    const found = shardOnDisk(dir, settings, index, numShards);
    if (found) out.set(index, found);
  }
  return out;
}

/**
 * Shard `index` of a cache with these settings when a complete file for it is in `dir`: its header names this
 * cache's teacher, data, shard index and rows, and its values have the expected shape. Null otherwise.
 */
export function shardOnDisk(dir: string, settings: LabelCacheSettings, index: number, numShards: number): LabelCacheShard | null {
  const expected = layoutOf(index, numShards, settings.numSamples, settings.shardSize);
  let bytes: Uint8Array;
  let decoded: ReturnType<typeof decodeSafetensors>;
  try {
    bytes = readFileSync(join(dir, expected.file));
    decoded = decodeSafetensors(bytes, expected.file);
  } catch {
    return null;
  }
  const meta = decoded.metadata;
  const values = settings.topK === null ? decoded.tensors.logits : decoded.tensors.topk_logprobs;
  const width = settings.topK ?? settings.numClasses;
  if (!values || values.shape.join() !== `${expected.count},${width}`) return null;
  const want = shardHeader(settings, index, numShards, expected.start, expected.count);
  return meta && Object.entries(want).every(([k, v]) => meta[k] === v) ? { ...expected, sha256: sha256(bytes) } : null;
}

function shardHeader(settings: LabelCacheSettings, index: number, numShards: number, start: number, count: number): Record<string, string> {
  return {
    format: LABEL_CACHE_FORMAT,
    version: String(LABEL_CACHE_VERSION),
    teacherHash: settings.teacherHash,
    datasetHash: settings.datasetHash,
    shard: `${index}/${numShards}`,
    start: String(start),
    count: String(count),
  };
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
  const settings: Settings = {
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

async function labelInto(teacher: Teacher, data: InMemoryDataset, dir: string, opts: LabelDatasetOptions, settings: Settings): Promise<LabelCacheManifest> {
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
