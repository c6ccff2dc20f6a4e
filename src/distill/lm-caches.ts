import type { InMemoryDataset } from "../data/dataset.js";
import { writeLmGenerationCache, type LmGenerationManifest } from "../teachers/lm-generation-cache.js";
import { lmTopKSource, type CausalLmTeacher } from "../teachers/lm-teacher.js";
import { writeLmTopKCache, type LmTopKManifest } from "../teachers/lm-topk-cache.js";
import type { Tokenizer } from "../tokenizers/tokenizer.js";
import { TsdistillError } from "../util/errors.js";
import { windowPrompts } from "./lm-seqkd.js";

// The two teacher caches of LM distillation over a corpus's training windows, as `tsdistill label` and the LM
// recipe make them: the per-token top-k (token-level KD without the teacher) and the teacher's generations
// (sequence-level KD). Both are resumable and atomic (see their modules).

export interface TopKCacheOptions {
  k: number;
  values?: "f16" | "int8";
  shardSize?: number;
  overwrite?: boolean;
  onShard?: (index: number, numShards: number) => void;
}

/** The teacher's top-k of every token of `data`'s windows, in `dir`. */
export async function cacheLmTopK(teacher: CausalLmTeacher, data: InMemoryDataset, dir: string, o: TopKCacheOptions): Promise<LmTopKManifest> {
  const source = lmTopKSource(teacher, data, o.k);
  return writeLmTopKCache(source, data, dir, { k: o.k, values: o.values, teacherHash: teacher.hash, shardSize: o.shardSize, overwrite: o.overwrite, onShard: o.onShard });
}

export interface GenerationCacheOptions {
  /** Prompt tokens from the start of each window (default ⌈ctx/4⌉). */
  promptTokens?: number;
  /** Continuations per prompt (default 1: as many training windows as the corpus, so steps stay equal). */
  n?: number;
  /** Tokens per continuation (default ctx − promptTokens: each prompt + continuation fills one window). */
  maxTokens?: number;
  temperature?: number;
  topK?: number;
  topP?: number;
  seed?: number;
  shardSize?: number;
  overwrite?: boolean;
  onShard?: (index: number, numShards: number) => void;
}

/**
 * The teacher's continuations of every window's first tokens, in `dir`. Windows start inside documents, so the
 * prompts do not begin documents (documentStart false).
 */
export async function cacheLmGenerations(teacher: CausalLmTeacher, data: InMemoryDataset, tokenizer: Tokenizer, dir: string, o: GenerationCacheOptions = {}): Promise<LmGenerationManifest> {
  const T = data.sampleShape[0];
  const P = o.promptTokens ?? Math.ceil(T / 4);
  if (!(Number.isInteger(P) && P >= 1 && P < T)) throw new TsdistillError(`generation cache: prompt tokens ${P}: expected an integer in [1, ${T - 1}] (windows hold ${T})`);
  const prompts = windowPrompts(data, tokenizer, P);
  return writeLmGenerationCache(teacher, prompts, dir, {
    n: o.n ?? 1,
    maxTokens: o.maxTokens ?? T - P,
    temperature: o.temperature ?? 1,
    topK: o.topK,
    topP: o.topP,
    seed: o.seed ?? 0,
    documentStart: false,
    shardSize: o.shardSize,
    overwrite: o.overwrite,
    onShard: o.onShard,
  });
}
