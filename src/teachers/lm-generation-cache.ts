/**
 * A cache of teacher generations for sequence-level KD: N continuations per prompt from an LM teacher, stored as
 * JSON-lines shards with a manifest, so students train on them without the teacher (and across tokenizers: the
 * cache holds text, plus the teacher's token ids where it knows them).
 *
 *   DIR/shard-00000-of-00004.jsonl   one line per prompt: {"index": i, "prompt": "…", "generations":
 *                                    [{"text": "…", "ids": [..] | null, "finish": "stop" | "length"}, …]}
 *   DIR/manifest.json                written last; its presence means the cache is complete
 *   DIR/manifest.partial.json        while generating: the shards finished so far
 *
 * Atomic and resumable like the label cache (label-cache.ts): every file is written to a temp file and renamed; a
 * rerun keeps the shards whose sha256 matches the manifest and generates only the rest. Continuation s of prompt i
 * is sampled with a seed derived from (seed, i, s), so a resumed run writes the same shards as an uninterrupted one
 * (for an API teacher, as far as the server honours seeds). A cache made with another teacher, prompts or sampling
 * settings is refused unless overwrite.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { DataError, TsdistillError } from "../util/errors.js";
import { readDataFile, writeFileAtomic } from "../util/files.js";
import { describeZodError } from "../util/zod-errors.js";
import { sha256File } from "../util/hashing.js";
import type { CausalLmTeacher, LmTeacherGeneration } from "./lm-teacher.js";
import { pidAlive } from "../util/process-owner.js";

export const LM_GENERATION_CACHE_FORMAT = "tsdistill.lm-generation-cache";
export const LM_GENERATION_CACHE_VERSION = 1;
const MANIFEST = "manifest.json";
const PARTIAL = "manifest.partial.json";
const SHARD_FILE = /^shard-(\d{5,})-of-(\d{5,})\.jsonl$/;
const TEMP_FILE = /^\.(manifest\.json|manifest\.partial\.json|shard-\d{5,}-of-\d{5,}\.jsonl)\.(\d+)(?:\.\d+)+\.tmp$/;

const shardSchema = z.object({ file: z.string().regex(SHARD_FILE), start: z.number().int().nonnegative(), count: z.number().int().positive(), sha256: z.string().regex(/^[0-9a-f]{64}$/) }).strict();
const sampling = z
  .object({
    n: z.number().int().positive(),
    maxTokens: z.number().int().positive(),
    temperature: z.number().min(0),
    topK: z.number().int().min(0),
    topP: z.number().gt(0).max(1),
    seed: z.number().int(),
    documentStart: z.boolean(),
  })
  .strict();
const manifestSchema = z
  .object({
    format: z.literal(LM_GENERATION_CACHE_FORMAT),
    version: z.literal(LM_GENERATION_CACHE_VERSION),
    teacherHash: z.string().min(1),
    teacherName: z.string(),
    promptsHash: z.string().regex(/^[0-9a-f]{64}$/),
    numPrompts: z.number().int().positive(),
    sampling,
    shardSize: z.number().int().positive(),
    shards: z.array(shardSchema),
    createdAt: z.string(),
  })
  .strict();
export type LmGenerationManifest = z.infer<typeof manifestSchema>;
export type LmGenerationSampling = z.infer<typeof sampling>;
type Settings = Omit<LmGenerationManifest, "shards" | "createdAt">;

const lineSchema = z
  .object({
    index: z.number().int().nonnegative(),
    prompt: z.string(),
    generations: z.array(z.object({ text: z.string(), ids: z.array(z.number().int().nonnegative()).nullable(), finish: z.enum(["stop", "length"]) }).strict()),
  })
  .strict();

/** One prompt of the cache with its continuations. */
export interface LmGenerationRecord {
  index: number;
  prompt: string;
  generations: LmTeacherGeneration[];
}

export interface WriteLmGenerationOptions {
  /** Continuations per prompt (default 1). */
  n?: number;
  maxTokens: number;
  /** Default 1 (0: greedy). */
  temperature?: number;
  topK?: number;
  topP?: number;
  seed?: number;
  /** Prompts begin documents (default true; see LmGenerateOptions.documentStart). */
  documentStart?: boolean;
  /** Prompts per shard (default 64). */
  shardSize?: number;
  overwrite?: boolean;
  onShard?: (index: number, numShards: number) => void;
  /** Stops between shards; finished shards stay for a resume. */
  signal?: AbortSignal;
  now?: () => Date;
}

/** sha256 identifying a list of prompts (their JSON). */
export function hashPrompts(prompts: readonly string[]): string {
  return createHash("sha256").update(JSON.stringify(prompts)).digest("hex");
}

export function generationShardFileName(index: number, numShards: number): string {
  const pad = (v: number) => String(v).padStart(5, "0");
  return `shard-${pad(index)}-of-${pad(numShards)}.jsonl`;
}

function readManifest(path: string): LmGenerationManifest {
  let raw: unknown;
  try {
    raw = JSON.parse(readDataFile(path, "an LM generation cache manifest").toString("utf8"));
  } catch (err) {
    if (err instanceof DataError) throw err;
    throw new DataError(path, `not valid JSON (${(err as Error).message}); expected an LM generation cache manifest`);
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) throw new DataError(path, `not a valid LM generation cache manifest: ${describeZodError(parsed.error)}`);
  const m = parsed.data;
  const numShards = Math.ceil(m.numPrompts / m.shardSize);
  for (const s of m.shards) {
    const want = layoutOf(Number(SHARD_FILE.exec(s.file)![1]), numShards, m);
    if (s.file !== want.file || s.start !== want.start || s.count !== want.count) throw new DataError(path, `shard entry ${s.file} does not fit ${m.numPrompts} prompts in shards of ${m.shardSize}`);
  }
  return m;
}

function layoutOf(index: number, numShards: number, m: { numPrompts: number; shardSize: number }): { file: string; start: number; count: number } {
  const start = index * m.shardSize;
  return { file: generationShardFileName(index, numShards), start, count: Math.min(m.shardSize, m.numPrompts - start) };
}

function mismatch(found: LmGenerationManifest, want: Settings): string | null {
  for (const key of ["teacherHash", "promptsHash", "numPrompts", "shardSize"] as const) {
    if (found[key] !== want[key]) return `stale cache: ${key} is ${found[key]} in the cache, now ${want[key]}`;
  }
  for (const key of Object.keys(want.sampling) as (keyof LmGenerationSampling)[]) {
    if (found.sampling[key] !== want.sampling[key]) return `stale cache: sampling.${key} is ${found.sampling[key]} in the cache, now ${want.sampling[key]}`;
  }
  return null;
}

/**
 * Generates `n` continuations of every prompt with the teacher into `dir` (layout in the file comment). A complete
 * cache with the same settings is returned as is, a partial one resumed, another one refused (DataError) unless
 * `overwrite`.
 */
export async function writeLmGenerationCache(teacher: Pick<CausalLmTeacher, "generate" | "hash" | "name">, prompts: readonly string[], dir: string, opts: WriteLmGenerationOptions): Promise<LmGenerationManifest> {
  const { shardSize = 64 } = opts;
  if (prompts.length === 0) throw new TsdistillError("LM generation cache: no prompts given");
  prompts.forEach((p, i) => {
    if (typeof p !== "string") throw new TsdistillError(`LM generation cache: prompt ${i} is a ${typeof p}, expected a string`);
  });
  if (!(Number.isSafeInteger(shardSize) && shardSize >= 1)) throw new TsdistillError(`LM generation cache: shardSize ${shardSize}: expected a positive integer`);
  const s = sampling.safeParse({ n: opts.n ?? 1, maxTokens: opts.maxTokens, temperature: opts.temperature ?? 1, topK: opts.topK ?? 0, topP: opts.topP ?? 1, seed: opts.seed ?? 0, documentStart: opts.documentStart ?? true });
  if (!s.success) throw new TsdistillError(`LM generation cache: ${describeZodError(s.error)}`);
  const settings: Settings = {
    format: LM_GENERATION_CACHE_FORMAT,
    version: LM_GENERATION_CACHE_VERSION,
    teacherHash: teacher.hash,
    teacherName: teacher.name,
    promptsHash: hashPrompts(prompts),
    numPrompts: prompts.length,
    sampling: s.data,
    shardSize,
  };
  const numShards = Math.ceil(prompts.length / shardSize);
  const [manifestPath, partialPath] = [join(dir, MANIFEST), join(dir, PARTIAL)];
  const now = () => (opts.now ? opts.now() : new Date()).toISOString();
  mkdirSync(dir, { recursive: true });
  for (const name of readdirSync(dir)) {
    const m = TEMP_FILE.exec(name);
    if (m && Number(m[2]) !== process.pid && !pidAlive(Number(m[2]))) rmSync(join(dir, name), { force: true });
  }

  let previous: LmGenerationManifest | null = null;
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
    for (const sh of previous.shards) {
      const path = join(dir, sh.file);
      if (existsSync(path) && sha256File(path) === sh.sha256) shards.set(Number(SHARD_FILE.exec(sh.file)![1]), sh);
    }
    if (previousPath === manifestPath && shards.size === numShards) {
      rmSync(partialPath, { force: true });
      return previous;
    }
  } else if (previous || opts.overwrite) {
    for (const name of readdirSync(dir)) if (name === MANIFEST || name === PARTIAL || SHARD_FILE.test(name)) rmSync(join(dir, name), { force: true });
  }
  const list = () => [...shards.entries()].sort((a, b) => a[0] - b[0]).map(([, sh]) => sh);
  const writePartial = () => writeFileAtomic(partialPath, `${JSON.stringify({ ...settings, shards: list(), createdAt: now() }, null, 2)}\n`);
  writePartial();
  rmSync(manifestPath, { force: true });

  const { n, maxTokens, temperature, topK, topP, seed, documentStart } = settings.sampling;
  for (let index = 0; index < numShards; index++) {
    if (shards.has(index)) continue;
    await new Promise((resolve) => setImmediate(resolve));
    if (opts.signal?.aborted) throw opts.signal.reason ?? new DOMException("writing the LM generation cache was aborted", "AbortError");
    const { file, start, count } = layoutOf(index, numShards, settings);
    const part = prompts.slice(start, start + count);
    const gens = await teacher.generate(part, { n, maxTokens, temperature, topK, topP, seed, documentStart, promptIndexBase: start });
    if (gens.length !== count || gens.some((g) => g.length !== n)) throw new TsdistillError(`LM generation cache: the teacher ${teacher.name} returned ${gens.map((g) => g.length).join("/")} continuations for ${count} prompts at n = ${n}`);
    const lines = part.map((prompt, i) => JSON.stringify({ index: start + i, prompt, generations: gens[i].map((g) => ({ text: g.text, ids: g.ids, finish: g.finish })) }));
    const bytes = Buffer.from(`${lines.join("\n")}\n`, "utf8");
    writeFileAtomic(join(dir, file), bytes);
    shards.set(index, { file, start, count, sha256: createHash("sha256").update(bytes).digest("hex") });
    writePartial();
    opts.onShard?.(index, numShards);
  }
  const manifest: LmGenerationManifest = { ...settings, shards: list(), createdAt: now() };
  writeFileAtomic(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
  rmSync(partialPath, { force: true });
  return manifest;
}

export interface LmGenerationExpect {
  teacherHash?: string;
  promptsHash?: string;
}

/** Reads a complete cache (sha256-checked), prompts in order; `expect` mismatches are "stale cache" DataErrors. */
export function readLmGenerationCache(dir: string, expect: LmGenerationExpect = {}): { manifest: LmGenerationManifest; records: LmGenerationRecord[] } {
  const manifestPath = join(dir, MANIFEST);
  if (!existsSync(manifestPath) && existsSync(join(dir, PARTIAL))) throw new DataError(dir, `LM generation cache is incomplete (only ${PARTIAL}); run the generation again to finish it`);
  const m = readManifest(manifestPath);
  const numShards = Math.ceil(m.numPrompts / m.shardSize);
  if (m.shards.length !== numShards) throw new DataError(manifestPath, `lists ${m.shards.length} of ${numShards} shards`);
  for (const key of ["teacherHash", "promptsHash"] as const) {
    if (expect[key] !== undefined && expect[key] !== m[key]) throw new DataError(manifestPath, `stale cache: ${key} is ${m[key]} in the cache, expected ${expect[key]}; delete ${dir} and generate again`);
  }
  const records: LmGenerationRecord[] = [];
  for (const entry of m.shards) {
    const path = join(dir, entry.file);
    const bytes = readDataFile(path, `shard ${entry.file} of the LM generation cache in ${dir}`);
    if (createHash("sha256").update(bytes).digest("hex") !== entry.sha256) throw new DataError(path, `corrupt LM generation cache shard: sha256 does not match ${MANIFEST}; delete ${dir} and generate again`);
    const lines = bytes.toString("utf8").split("\n").filter((l) => l !== "");
    if (lines.length !== entry.count) throw new DataError(path, `holds ${lines.length} prompts, the manifest ${entry.count}`);
    lines.forEach((line, i) => {
      let parsed;
      try {
        parsed = lineSchema.safeParse(JSON.parse(line));
      } catch (err) {
        throw new DataError(path, `line ${i + 1} is not valid JSON (${(err as Error).message})`);
      }
      if (!parsed.success) throw new DataError(path, `line ${i + 1}: ${describeZodError(parsed.error)}`);
      if (parsed.data.index !== entry.start + i) throw new DataError(path, `line ${i + 1} holds prompt ${parsed.data.index}, expected ${entry.start + i}`);
      if (parsed.data.generations.length !== m.sampling.n) throw new DataError(path, `line ${i + 1} holds ${parsed.data.generations.length} continuations, expected n = ${m.sampling.n}`);
      records.push(parsed.data);
    });
  }
  return { manifest: m, records };
}
