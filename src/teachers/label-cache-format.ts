/** The teacher cache's on-disk format (see label-cache.ts): manifest schema, shard layout, validation and resume checks. */
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { DataError } from "../util/errors.js";
import { readDataFile } from "../util/files.js";
import { sha256Bytes as sha256, sha256File } from "../util/hashing.js";
import { describeZodError } from "../util/zod-errors.js";
import { pidAlive } from "../util/process-owner.js";
import { decodeSafetensors } from "./safetensors.js";

export const LABEL_CACHE_FORMAT = "tsdistill.teacher-cache";
export const LABEL_CACHE_VERSION = 1;
export const MANIFEST_FILE = "manifest.json";
export const PARTIAL_MANIFEST_FILE = "manifest.partial.json";
export const DEFAULT_SHARD_SIZE = 10000;

export const SHA256 = /^[0-9a-f]{64}$/;
export const SHARD_FILE = /^shard-(\d{5,})-of-(\d{5,})\.safetensors$/;
/** Temp files of cache files left by util/files.ts writeFileAtomic: `.NAME.PID.<digits>[.<digits>…].tmp`. */
export const TEMP_FILE = /^\.(manifest\.json|manifest\.partial\.json|shard-\d{5,}-of-\d{5,}\.safetensors)\.(\d+)(?:\.\d+)+\.tmp$/;

export const shardSchema = z
  .object({
    file: z.string().regex(SHARD_FILE, "expected a file name like shard-00000-of-00001.safetensors"),
    start: z.number().int().nonnegative(),
    count: z.number().int().positive(),
    sha256: z.string().regex(SHA256, "expected 64 lowercase hex digits"),
  })
  .strict();

export const manifestSchema = z
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

export function shardFileName(index: number, numShards: number): string {
  const pad = (v: number) => String(v).padStart(5, "0");
  return `shard-${pad(index)}-of-${pad(numShards)}.safetensors`;
}


/** Reads and validates a manifest (complete or partial); any problem is a DataError naming the file. */
export function readManifest(path: string): LabelCacheManifest {
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

export function layoutOf(index: number, numShards: number, numSamples: number, shardSize: number): { file: string; start: number; count: number } {
  const start = index * shardSize;
  return { file: shardFileName(index, numShards), start, count: Math.min(shardSize, numSamples - start) };
}

export function isComplete(m: LabelCacheManifest): boolean {
  const numShards = Math.ceil(m.numSamples / m.shardSize);
  return m.shards.length === numShards && m.shards.every((s, i) => s.file === shardFileName(i, numShards));
}

/** What a cache is made with: its manifest without the shard list and the time. */
export type LabelCacheSettings = Omit<LabelCacheManifest, "shards" | "createdAt">;

export const short = (h: string) => (h.length > 24 ? `${h.slice(0, 12)}…` : h);

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
export function mismatch(found: LabelCacheManifest, want: LabelCacheSettings): string | null {
  const which = describeCacheMismatch(found, want);
  if (which) return which;
  for (const key of ["numSamples", "numClasses", "shardSize", "topK", "dtype"] as const) {
    if (found[key] !== want[key]) return `cache was made with ${key} ${found[key]}, now ${want[key]}`;
  }
  return null;
}

export { pidAlive };

export function isCacheFile(name: string): boolean {
  return name === MANIFEST_FILE || name === PARTIAL_MANIFEST_FILE || SHARD_FILE.test(name);
}

/** Removes temp files of cache files left by a writer that was killed mid-write (its process no longer exists). */
export function removeStaleTemps(dir: string): void {
  for (const name of readdirSync(dir)) {
    const m = TEMP_FILE.exec(name);
    if (m && !pidAlive(Number(m[2]))) rmSync(join(dir, name), { force: true });
  }
}

/** Verified shards of a previous (partial or complete) run: their sha256 still matches. */
export function verifiedShards(dir: string, m: LabelCacheManifest): Map<number, LabelCacheShard> {
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
export function adoptedShards(dir: string, settings: LabelCacheSettings, numShards: number, kept: Map<number, LabelCacheShard>, listed: LabelCacheManifest | null): Map<number, LabelCacheShard> {
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

export function shardHeader(settings: LabelCacheSettings, index: number, numShards: number, start: number, count: number): Record<string, string> {
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
