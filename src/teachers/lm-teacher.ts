import * as tf from "@tensorflow/tfjs-core";
import type { Tokenizer } from "../tokenizers/tokenizer.js";
import { TsdistillError } from "../util/errors.js";
import { Rng } from "../util/rng.js";
import type { InMemoryDataset } from "../data/dataset.js";
import type { LmTopKRows, LmTopKSource } from "./lm-topk-cache.js";

/*
 * One interface for causal language-model teachers, whatever runs them: a tsdistill LM in-process
 * (lm-teacher-model.ts), an ONNX causal LM with Hugging Face Optimum names through onnxruntime-node
 * (lm-teacher-onnx.ts), or an OpenAI-compatible server's /v1/completions (api-lm-teacher.ts).
 *
 * Token windows are in the teacher's own ids: a loop that feeds it the student's windows must first check that both
 * sides share one tokenizer (tokenizers/compare.ts checkSameVocabulary). Rows are in an LM head's order: row
 * (b, t) of a window batch [B, T] is the distribution after token t, predicting token t+1 — x[b, t+1] for t < T−1,
 * `next[b]` for the last row. Generation is text in, text out, so it works whatever the student's tokenizer.
 */

export type LmTeacherKind = "tsdistill" | "onnx" | "api";

/** A batch of token windows: ids [batch, length] row-major, and the token after each window (what the last row predicts). */
export interface TokenWindows {
  ids: Int32Array;
  batch: number;
  length: number;
  /** [batch]; needed by topK and targetLogprobs (the last row's target), ignored by logits. */
  next?: Int32Array;
}

export interface LmGenerateOptions {
  /** Most tokens per continuation (the teacher's tokens; EOS counts). */
  maxTokens: number;
  /** Continuations per prompt (default 1). */
  n?: number;
  /** τ ≥ 0 (0: greedy); default 1. */
  temperature?: number;
  topK?: number;
  topP?: number;
  /** Same seed, teacher and backend → same continuations (an API server: as far as it honours `seed`). */
  seed?: number;
  /**
   * The run-wide index of prompts[0] (default 0): continuation s of prompt i is sampled with
   * generationSeed(seed, promptIndexBase + i, s), so a run done in chunks samples what one call would.
   */
  promptIndexBase?: number;
  /**
   * Prompts begin documents (default true): the teacher's ids start with its EOS — the separator packed corpora put
   * before every document (data/token-sequences.ts) — or BOS when it has no EOS. False: the prompt's ids alone (an
   * empty prompt still starts from EOS/BOS). API teachers send the text as it is (the server adds what it adds).
   */
  documentStart?: boolean;
}

export interface LmTeacherGeneration {
  /** The continuation's text (special tokens left out). */
  text: string;
  /** Its ids in the teacher's vocabulary, where the teacher knows them; null otherwise (an API returning text). */
  ids: number[] | null;
  /** "stop": ended by the teacher's end-of-sequence (or a stop string); "length": reached maxTokens. */
  finish: "stop" | "length";
}

/** What a teacher can give; loops check these before training, naming what is missing. */
export interface LmTeacherCapabilities {
  /** Full next-token logits per row (logits()). */
  logits: boolean;
  /** Largest k topK() serves (the vocabulary for full-logit teachers, the server's top_logprobs cap for an API); 0: none. */
  maxTopK: number;
  /** log P_T of given tokens (targetLogprobs, sequenceLogprobs): false when the teacher's tokenizer is unknown. */
  tokenLogprobs: boolean;
}

export interface CausalLmTeacher {
  readonly kind: LmTeacherKind;
  /** For logs and errors: "tsdistill:DIR", "onnx:FILE", "api:MODEL". */
  readonly name: string;
  /** Identifies what the teacher answers (weights + tokenizer, or endpoint + model); stored in caches and checked on reuse. */
  readonly hash: string;
  /** The teacher's tokenizer; null when unknown (an API model whose tokenizer was not declared: sequence-level KD only). */
  readonly tokenizer: Tokenizer | null;
  /** Logit width; null when unknown. */
  readonly vocab: number | null;
  /** Longest window it scores in one pass; null when it declares none. */
  readonly ctx: number | null;
  readonly capabilities: LmTeacherCapabilities;
  /** [B·T·V] row-major logits (rows as described at the top of this file). */
  logits(w: TokenWindows): Promise<Float32Array>;
  /** The k most likely next tokens of every row (most likely first), their log-probabilities and each row's mass outside them. */
  topK(w: TokenWindows, k: number): Promise<LmTopKRows>;
  /** [B·T]: log P_T(target of each row | the tokens before it). */
  targetLogprobs(w: TokenWindows): Promise<Float32Array>;
  /** log P_T(ids[i] | ids[<i]) for i = 1 … n−1 (eval/lm.ts SequenceLogprobs). */
  sequenceLogprobs(ids: readonly number[]): Promise<number[]>;
  /** `n` continuations per text prompt, prompt by prompt. */
  generate(prompts: readonly string[], opts: LmGenerateOptions): Promise<LmTeacherGeneration[][]>;
  close(): Promise<void>;
}

/** One line for logs: kind, name, tokenizer and what it serves. */
export function describeLmTeacher(t: CausalLmTeacher): string {
  const tok = t.tokenizer ? `${t.tokenizer.kind} tokenizer` : "tokenizer unknown";
  const c = t.capabilities;
  const serves = [c.logits ? "logits" : null, c.maxTopK > 0 ? `top-${c.maxTopK}` : null, c.tokenLogprobs ? "token log-probs" : null, "generations"].filter(Boolean).join(", ");
  return `LM teacher ${t.name} (${t.kind}; ${tok}; vocab ${t.vocab ?? "?"}; ctx ${t.ctx ?? "?"}; serves ${serves})`;
}

/** Checks a window batch against a teacher: ids in its vocabulary, length within its context, `next` present when needed. */
export function checkWindows(t: Pick<CausalLmTeacher, "name" | "vocab" | "ctx">, w: TokenWindows, needNext: boolean): void {
  const { batch: B, length: T } = w;
  if (!(Number.isInteger(B) && B >= 1 && Number.isInteger(T) && T >= 1) || w.ids.length !== B * T) {
    throw new TsdistillError(`LM teacher ${t.name}: ${w.ids.length} ids do not make ${B} windows of ${T} tokens`);
  }
  if (t.ctx !== null && T > t.ctx) throw new TsdistillError(`LM teacher ${t.name}: windows of ${T} tokens, but its context is ${t.ctx}`);
  if (needNext && (!w.next || w.next.length !== B)) throw new TsdistillError(`LM teacher ${t.name}: expected the token after each of the ${B} windows (next)`);
  const V = t.vocab;
  const bad = (id: number) => !(Number.isInteger(id) && id >= 0 && (V === null || id < V));
  for (const arr of [w.ids, ...(needNext && w.next ? [w.next] : [])]) {
    const i = arr.findIndex(bad);
    if (i >= 0) throw new TsdistillError(`LM teacher ${t.name}: token ${arr[i]} is not an id in [0, ${V ?? "?"})`);
  }
}

/** The target of every row: x[b, t+1], and next[b] for the last row. */
export function rowTargets(w: TokenWindows): Int32Array {
  const { batch: B, length: T, ids, next } = w;
  const out = new Int32Array(B * T);
  for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) out[b * T + t] = t + 1 < T ? ids[b * T + t + 1] : next![b];
  return out;
}

/** log softmax(row)[target] per row of [N, V] logits, in float64. */
export function logprobsOfTargets(logits: Float32Array, V: number, targets: Int32Array): Float32Array {
  const N = targets.length;
  const out = new Float32Array(N);
  for (let n = 0; n < N; n++) {
    const o = n * V;
    let max = -Infinity;
    for (let v = 0; v < V; v++) if (logits[o + v] > max) max = logits[o + v];
    let sum = 0;
    for (let v = 0; v < V; v++) sum += Math.exp(logits[o + v] - max);
    out[n] = logits[o + targets[n]] - max - Math.log(sum);
  }
  return out;
}

/** Top-k of [N, V] logits as log-probabilities (backend topk: most likely first, ties to the lower id) with each row's tail mass. */
export function topKOfLogits(logits: Float32Array, N: number, V: number, k: number): LmTopKRows {
  if (!(Number.isInteger(k) && k >= 1 && k <= V)) throw new TsdistillError(`top-k: k ${k}: expected an integer in [1, ${V}]`);
  const { values, indices } = tf.tidy(() => tf.topk(tf.logSoftmax(tf.tensor2d(logits, [N, V])), k));
  try {
    const lp = Float32Array.from(values.dataSync());
    const tailMass = new Float32Array(N);
    for (let n = 0; n < N; n++) {
      let top = 0;
      for (let j = 0; j < k; j++) top += Math.exp(lp[n * k + j]);
      tailMass[n] = Math.max(0, 1 - top);
    }
    return { indices: Int32Array.from(indices.dataSync()), logprobs: lp, tailMass };
  } finally {
    values.dispose();
    indices.dispose();
  }
}

/**
 * SequenceLogprobs from a window scorer: a sequence longer than the context is scored in windows of ctx tokens
 * advancing by ⌈ctx/2⌉, each token once (the strided perplexity of eval/lm.ts modelSequenceLogprobs).
 */
export async function sequenceLogprobsByWindows(ctx: number | null, score: (w: TokenWindows) => Promise<Float32Array>, ids: readonly number[]): Promise<number[]> {
  const n = ids.length;
  if (n < 2) return [];
  if (ctx === null || n - 1 <= ctx) {
    const w = { ids: Int32Array.from(ids.slice(0, n - 1)), batch: 1, length: n - 1, next: Int32Array.of(ids[n - 1]) };
    return Array.from(await score(w));
  }
  const stride = Math.ceil(ctx / 2);
  const out: number[] = [];
  let next = 1; // first target not scored yet
  for (let begin = 0; next < n; begin += stride) {
    const end = Math.min(begin + ctx, n - 1); // window ids[begin, end), targets ids[begin+1 … end]
    const lp = await score({ ids: Int32Array.from(ids.slice(begin, end)), batch: 1, length: end - begin, next: Int32Array.of(ids[end]) });
    for (let j = Math.max(next, begin + 1); j <= end; j++) out.push(lp[j - begin - 1]);
    next = end + 1;
  }
  return out;
}

/** The seed of continuation `sample` of prompt `prompt`, derived from the run's seed. */
export function generationSeed(seed: number, prompt: number, sample: number): number {
  return new Rng(seed, "lm-teacher-generate", prompt, sample).nextUint32();
}

/** The token a document starts after: EOS (packed corpora separate documents with it), else BOS; null when neither exists. */
export function documentStartId(tokenizer: Tokenizer): number | null {
  return tokenizer.special.eos ?? tokenizer.special.bos;
}

/** A text prompt as the teacher's ids (see LmGenerateOptions.documentStart). */
export function promptIds(tokenizer: Tokenizer, text: string, teacher: string, documentStart = true): number[] {
  const ids = tokenizer.encode(text);
  if (ids.length > 0 && !documentStart) return ids;
  const start = documentStartId(tokenizer);
  if (start === null) {
    if (ids.length > 0) return ids;
    throw new TsdistillError(`LM teacher ${teacher}: an empty prompt, and its tokenizer has no EOS or BOS token to start from`);
  }
  return [start, ...ids];
}

export function checkGenerateOptions(opts: LmGenerateOptions, teacher: string): Required<Pick<LmGenerateOptions, "n" | "seed" | "promptIndexBase">> {
  const { n = 1, seed = 0, promptIndexBase = 0 } = opts;
  if (!(Number.isSafeInteger(promptIndexBase) && promptIndexBase >= 0)) throw new TsdistillError(`LM teacher ${teacher}: promptIndexBase ${promptIndexBase}: expected an integer ≥ 0`);
  if (!(Number.isSafeInteger(opts.maxTokens) && opts.maxTokens >= 1)) throw new TsdistillError(`LM teacher ${teacher}: maxTokens ${opts.maxTokens}: expected an integer ≥ 1`);
  if (!(Number.isSafeInteger(n) && n >= 1)) throw new TsdistillError(`LM teacher ${teacher}: n ${n}: expected an integer ≥ 1 (continuations per prompt)`);
  if (!Number.isSafeInteger(seed)) throw new TsdistillError(`LM teacher ${teacher}: seed ${seed}: expected an integer`);
  return { n, seed, promptIndexBase };
}

/**
 * A CausalLmTeacher as the source of an LM top-k cache (lm-topk-cache.ts writeLmTopKCache) over the windows of
 * `data`: its top-k per token, the windows' next tokens looked up by row (an API scores each window with it).
 */
export function lmTopKSource(teacher: CausalLmTeacher, data: InMemoryDataset, k: number): LmTopKSource {
  if (teacher.vocab === null || teacher.capabilities.maxTopK < k) throw new TsdistillError(`LM top-k cache: the teacher ${teacher.name} gives ${teacher.vocab === null ? "no per-token outputs (its tokenizer is unknown)" : `at most its top ${teacher.capabilities.maxTopK} per token, not ${k}`}`);
  const T = data.sampleShape[0];
  return { vocab: teacher.vocab, topK: (x, windows, rows) => teacher.topK({ ids: Int32Array.from(x), batch: windows, length: T, next: Int32Array.from(rows, (r) => data.y[r]) }, k) };
}
