import { createHash } from "node:crypto";
import { z } from "zod";
import { MASK_NEG } from "../losses/loss-utils.js";
import { tokenizerFingerprint } from "../tokenizers/compare.js";
import { openTokenizer } from "../tokenizers/io.js";
import type { Tokenizer } from "../tokenizers/tokenizer.js";
import { TsdistillError } from "../util/errors.js";
import { describeZodError } from "../util/zod-errors.js";
import { ApiBatchError, ApiHttpClient, ApiRequestError, apiHttpFields, checkBackoff, runBatch, type ApiHttpOptions, type ApiHttpStats, type BatchOptions } from "./api-http.js";
import { ServerTokenMap } from "./api-lm-tokens.js";
import type { LmTopKRows } from "./lm-topk-cache.js";
import {
  checkGenerateOptions,
  checkWindows,
  generationSeed,
  sequenceLogprobsByWindows,
  type CausalLmTeacher,
  type LmGenerateOptions,
  type LmTeacherCapabilities,
  type LmTeacherGeneration,
  type TokenWindows,
} from "./lm-teacher.js";

/*
 * A causal LM behind an OpenAI-compatible /v1/completions endpoint (vLLM, llama.cpp, TGI, …) as a teacher.
 *
 * - Scoring: the prompt is sent as token ids with echo: true, logprobs: k and max_tokens: scoreMaxTokens (0 by
 *   default: only the prompt is scored). Entry i of the echo is the distribution after tokens < i, so entries
 *   1 … n−1 give the rows of a window of n tokens. This needs the server's tokenizer: `tokenizer` declares it
 *   ("byte" or a tokenizer.json), and the echoed tokens are checked against the ids sent (one error line naming the
 *   declared tokenizer when they differ). Top-logprob strings are mapped to ids by api-lm-tokens.ts; entries that
 *   map to no id, and everything outside the top k, make up the tail mass. At most 20 per token (OpenAI's cap).
 * - Without a declared tokenizer the teacher serves only text: generations for sequence-level KD, and
 *   continuationNll (the server tokenises; text offsets split prompt from continuation).
 * - Generation: one request per prompt with n, temperature, top_p, seed (derived per prompt from the run's seed;
 *   deterministic as far as the server honours it), max_tokens and stop strings. top_k is sent only when set
 *   (vLLM accepts it, OpenAI does not).
 * - Retries, limits, key handling and cost accounting are the shared client's (api-http.ts); a batch either
 *   completes or rejects with one ApiBatchError.
 */

export const ApiLmTeacherConfig = z
  .object({
    kind: z.literal("api-lm"),
    /** baseURL ("/completions" is appended), model, apiKeyEnv, limits, retries, timeout, backoff, pricing. */
    ...apiHttpFields,
    /** The server's tokenizer: "byte" or the path of its tokenizer.json; null: unknown (sequence-level KD only). */
    tokenizer: z.string().min(1).nullable().default(null),
    /** top_logprobs per token the server allows (OpenAI: at most 20). */
    topLogprobs: z.number().int().min(1).max(20).default(20),
    /** Send vLLM's return_tokens_as_token_ids, so every token string is "token_id:N" (exact mapping). */
    tokenIds: z.boolean().default(false),
    /** max_tokens of scoring requests (0: score the prompt only; some servers need 1 — the extra token is ignored). */
    scoreMaxTokens: z.number().int().min(0).max(1).default(0),
    /** The model's context length, when known: windows of up to contextLength − 1 tokens are scored (each is sent with the token after it). */
    contextLength: z.number().int().min(2).optional(),
    /** Stop strings for generations. */
    stop: z.array(z.string().min(1)).max(4).optional(),
  })
  .strict()
  .refine(...checkBackoff);
export type ApiLmTeacherConfig = z.infer<typeof ApiLmTeacherConfig>;
export type ApiLmTeacherConfigInput = z.input<typeof ApiLmTeacherConfig>;

const TopLogprobs = z.array(z.record(z.string(), z.number()).nullable());
const CompletionResponse = z.object({
  choices: z
    .array(
      z.object({
        index: z.number().int().optional(),
        text: z.string(),
        finish_reason: z.string().nullable().optional(),
        logprobs: z
          .object({
            tokens: z.array(z.string()),
            token_logprobs: z.array(z.number().nullable()),
            top_logprobs: TopLogprobs.nullable().optional(),
            text_offset: z.array(z.number()).nullable().optional(),
          })
          .nullable()
          .optional(),
      }),
    )
    .min(1),
  usage: z.object({ prompt_tokens: z.number().optional(), completion_tokens: z.number().optional() }).nullable().optional(),
});
type Completion = z.infer<typeof CompletionResponse>;

export interface ApiLmTeacherStats extends ApiHttpStats {
  /** Token sequences scored, text pairs scored, prompts generated from. */
  scored: number;
  textsScored: number;
  generated: number;
  failed: number;
  /** Top-logprob entries whose string maps to no id of the declared tokenizer (their mass went to the tail). */
  unmappedTopTokens: number;
}

/** One scored sequence: per target position i = 1 … n−1, log P(ids[i]) and the top entries mapped to ids. */
interface ScoredSequence {
  target: Float64Array;
  top: [id: number, logprob: number][][];
}

export type ApiLmBatchOptions = BatchOptions;

export interface ApiLmTeacherOptions extends ApiHttpOptions {
  /** The server's tokenizer, overriding config.tokenizer. */
  tokenizer?: Tokenizer;
  /** Passed to every batch (progress, retry logging, cancellation). */
  batch?: ApiLmBatchOptions;
}

function logAddExp(a: number, b: number): number {
  const m = Math.max(a, b);
  return m + Math.log(Math.exp(a - m) + Math.exp(b - m));
}

export class ApiLmTeacher implements CausalLmTeacher {
  readonly kind = "api" as const;
  readonly config: ApiLmTeacherConfig;
  readonly name: string;
  readonly hash: string;
  readonly tokenizer: Tokenizer | null;
  readonly vocab: number | null;
  readonly ctx: number | null;
  readonly capabilities: LmTeacherCapabilities;
  /** Trailing tokens equal to it are not sent (padding); the tokenizer's pad when it is not EOS. */
  readonly padId: number | null;
  readonly #http: ApiHttpClient;
  readonly #map: ServerTokenMap | null;
  readonly #batch: ApiLmBatchOptions;
  readonly #counts = { scored: 0, textsScored: 0, generated: 0, failed: 0, unmappedTopTokens: 0 };

  constructor(config: ApiLmTeacherConfigInput, opts: ApiLmTeacherOptions = {}) {
    const parsed = ApiLmTeacherConfig.safeParse(config);
    if (!parsed.success) throw new TsdistillError(describeZodError(parsed.error, { base: "teacher" }));
    const c = parsed.data;
    this.config = c;
    this.name = `api:${c.model}`;
    this.tokenizer = opts.tokenizer ?? (c.tokenizer === null ? null : openTokenizer(c.tokenizer));
    this.vocab = this.tokenizer?.vocabSize ?? null;
    this.ctx = c.contextLength !== undefined ? c.contextLength - 1 : null;
    this.#map = this.tokenizer ? new ServerTokenMap(this.tokenizer) : null;
    const sp = this.tokenizer?.special;
    this.padId = sp && sp.pad !== sp.eos ? sp.pad : null;
    this.capabilities = { logits: false, maxTopK: this.tokenizer ? c.topLogprobs : 0, tokenLogprobs: this.tokenizer !== null };
    this.#http = new ApiHttpClient(c, `api LM teacher ${this.name}`, opts);
    this.#batch = opts.batch ?? {};
    const identity = { baseURL: c.baseURL.replace(/\/+$/, ""), model: c.model, tokenizer: this.tokenizer ? tokenizerFingerprint(this.tokenizer) : null, tokenIds: c.tokenIds };
    this.hash = createHash("sha256").update(`api-lm:${JSON.stringify(identity)}`).digest("hex");
  }

  get stats(): ApiLmTeacherStats {
    return { ...this.#http.stats, ...this.#counts };
  }

  get url(): string {
    return this.#http.url("/completions");
  }

  async logits(): Promise<Float32Array> {
    throw new TsdistillError(`LM teacher ${this.name}: an API returns at most the top ${this.config.topLogprobs} log-probs per token, not full logits; use top-k terms (token-topk-kd) or sampled-token reverse KL`);
  }

  #needTokenizer(what: string): ServerTokenMap {
    if (!this.#map) throw new TsdistillError(`LM teacher ${this.name}: ${what} needs the server's tokenizer (teacher.tokenizer: "byte" or its tokenizer.json); without it only generations (sequence-level KD) work`);
    return this.#map;
  }

  /** One batch through the shared runner; `one` builds the body and reads the answer of input i. */
  #run<R>(n: number, what: { done: string; noun: string }, body: (i: number) => string, read: (c: Completion, status: number, i: number) => R, onDone: () => void): Promise<R[]> {
    const c = this.config;
    return runBatch<R, ApiBatchError<R>>(
      n,
      async (index, signal, onStatus) => {
        const r = await this.#http.request("/completions", body(index), (json, status) => read(this.#parse(json, status), status, index), { index, signal, onStatus, onRetry: this.#batch.onRetry });
        return r.ok ? { ok: true, value: r.value } : r;
      },
      {
        ...this.#batch,
        concurrency: c.concurrency,
        maxRetries: c.maxRetries,
        what: `api LM teacher ${this.name}`,
        doneWord: what.done,
        resultNoun: what.noun,
        retries: () => this.#http.stats.retries,
        onDone,
        onFailed: () => this.#counts.failed++,
        makeError: (message, status, completed, failed, notStarted) => new ApiBatchError<R>(message, status, completed, failed, notStarted),
      },
    );
  }

  #parse(json: unknown, status: number): Completion {
    const parsed = CompletionResponse.safeParse(json);
    if (!parsed.success) throw new ApiRequestError(`api LM teacher ${this.name}: ${this.url} answered HTTP ${status} but not with a completion (${describeZodError(parsed.error)})`, status);
    const u = parsed.data.usage;
    this.#http.addUsage(u?.prompt_tokens ?? 0, u?.completion_tokens ?? 0);
    return parsed.data;
  }

  /** Scores token sequences (ids of the declared tokenizer), one request each. */
  async #score(seqs: readonly (readonly number[])[], k: number): Promise<ScoredSequence[]> {
    const map = this.#needTokenizer("scoring tokens");
    const c = this.config;
    return this.#run(
      seqs.length,
      { done: "scored", noun: "scores" },
      (i) =>
        JSON.stringify({
          model: c.model,
          prompt: Array.from(seqs[i]),
          echo: true,
          logprobs: k,
          max_tokens: c.scoreMaxTokens,
          temperature: 0,
          ...(c.tokenIds ? { return_tokens_as_token_ids: true } : {}),
        }),
      (resp, status, i) => this.#readScores(resp, status, seqs[i], map),
      () => this.#counts.scored++,
    );
  }

  #readScores(resp: Completion, status: number, ids: readonly number[], map: ServerTokenMap): ScoredSequence {
    const lp = resp.choices[0].logprobs;
    const n = ids.length;
    if (!lp) throw new ApiRequestError(`api LM teacher ${this.name}: ${this.url} returned no logprobs (choices[0].logprobs); the server must support echo: true with logprobs on /v1/completions`, status);
    if (lp.tokens.length < n || lp.token_logprobs.length < n) throw new ApiRequestError(`api LM teacher ${this.name}: the server echoed ${lp.tokens.length} tokens for a prompt of ${n} token ids; expected the prompt echoed token by token (echo: true)`, status);
    for (let i = 0; i < n; i++) {
      const id = map.idOf(lp.tokens[i]);
      if (id !== null && id !== ids[i]) {
        throw new ApiRequestError(
          `api LM teacher ${this.name}: the server echoed token ${JSON.stringify(lp.tokens[i])} (id ${id} in the declared ${this.tokenizer!.kind} tokenizer, ${this.vocab} tokens) at position ${i} where id ${ids[i]} was sent; the server's tokenizer is not the declared one, so token-level terms cannot be used (sequence-level KD works across tokenizers)`,
          status,
        );
      }
    }
    const target = new Float64Array(n - 1);
    const top: [number, number][][] = [];
    for (let i = 1; i < n; i++) {
      const v = lp.token_logprobs[i];
      if (v === null) throw new ApiRequestError(`api LM teacher ${this.name}: no log-prob for echoed token ${i} (token_logprobs[${i}] is null)`, status);
      target[i - 1] = Math.min(0, v);
      const entries = new Map<number, number>();
      for (const [tok, l] of Object.entries(lp.top_logprobs?.[i] ?? {})) {
        const id = map.idOf(tok);
        if (id === null) {
          this.#counts.unmappedTopTokens++;
          continue;
        }
        const v2 = Math.min(0, l);
        entries.set(id, entries.has(id) ? logAddExp(entries.get(id)!, v2) : v2);
      }
      top.push([...entries.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0]));
    }
    return { target, top };
  }

  /** Each window row-by-row as one sequence x ++ next, trailing padding not sent. */
  #sequences(w: TokenWindows): { seqs: number[][]; lengths: number[] } {
    checkWindows(this, w, true);
    const { batch: B, length: T } = w;
    const seqs: number[][] = [];
    const lengths: number[] = [];
    for (let b = 0; b < B; b++) {
      const s = [...w.ids.subarray(b * T, (b + 1) * T), w.next![b]];
      let n = s.length;
      while (n > 1 && this.padId !== null && s[n - 1] === this.padId) n--;
      seqs.push(s.slice(0, Math.max(n, 2)));
      lengths.push(Math.max(n, 2) - 1); // rows with a real target
    }
    return { seqs, lengths };
  }

  /**
   * Top-k per row from the server's top_logprobs (k ≤ topLogprobs). Entries it did not return are filled with ids
   * not listed and log-prob MASK_NEG (no mass); rows whose target is trailing padding (not sent) get id padId at
   * log-prob 0 — the student's loss masks them.
   */
  async topK(w: TokenWindows, k: number): Promise<LmTopKRows> {
    this.#needTokenizer("top-k");
    if (!(Number.isInteger(k) && k >= 1 && k <= this.config.topLogprobs)) throw new TsdistillError(`LM teacher ${this.name}: k ${k}: expected an integer in [1, ${this.config.topLogprobs}] (teacher.topLogprobs)`);
    const { seqs, lengths } = this.#sequences(w);
    const scored = await this.#score(seqs, k);
    const T = w.length;
    const N = w.batch * T;
    const out: LmTopKRows = { indices: new Int32Array(N * k), logprobs: new Float32Array(N * k).fill(MASK_NEG), tailMass: new Float32Array(N) };
    scored.forEach((s, b) => {
      for (let t = 0; t < T; t++) {
        const r = b * T + t;
        const entries = t < lengths[b] ? s.top[t].slice(0, k) : [[this.padId ?? 0, 0] as [number, number]];
        const used = new Set(entries.map((e) => e[0]));
        let mass = 0;
        entries.forEach(([id, lp], j) => {
          out.indices[r * k + j] = id;
          out.logprobs[r * k + j] = Math.max(lp, MASK_NEG);
          mass += Math.exp(lp);
        });
        for (let j = entries.length, id = 0; j < k; j++, id++) {
          while (used.has(id)) id++;
          out.indices[r * k + j] = id;
        }
        out.tailMass[r] = Math.max(0, 1 - mass);
      }
    });
    return out;
  }

  /** log P_T of every row's target; 0 at rows whose target is trailing padding (not sent; masked by the loss). */
  async targetLogprobs(w: TokenWindows): Promise<Float32Array> {
    this.#needTokenizer("token log-probs");
    const { seqs, lengths } = this.#sequences(w);
    const scored = await this.#score(seqs, 1);
    const T = w.length;
    const out = new Float32Array(w.batch * T);
    scored.forEach((s, b) => {
      for (let t = 0; t < lengths[b]; t++) out[b * T + t] = s.target[t];
    });
    return out;
  }

  sequenceLogprobs(ids: readonly number[]): Promise<number[]> {
    this.#needTokenizer("token log-probs");
    return sequenceLogprobsByWindows(null, (w) => this.targetLogprobs(w), ids);
  }

  /**
   * −log P_T(continuation | prompt) of text pairs, tokenised by the server: the tokens whose text ends after the
   * prompt's end (by text_offset, in code points as OpenAI-style servers count them) are the continuation's.
   */
  async continuationNll(pairs: readonly { prompt: string; continuation: string }[]): Promise<{ nll: number; tokens: number }[]> {
    const c = this.config;
    return this.#run(
      pairs.length,
      { done: "scored", noun: "scores" },
      (i) => JSON.stringify({ model: c.model, prompt: pairs[i].prompt + pairs[i].continuation, echo: true, logprobs: 1, max_tokens: c.scoreMaxTokens, temperature: 0 }),
      (resp, status, i) => {
        const lp = resp.choices[0].logprobs;
        if (!lp?.text_offset) throw new ApiRequestError(`api LM teacher ${this.name}: ${this.url} returned no logprobs.text_offset; scoring text needs echo: true with logprobs and text offsets`, status);
        const boundary = [...pairs[i].prompt].length;
        const total = [...(pairs[i].prompt + pairs[i].continuation)].length;
        const offsets = lp.text_offset;
        let nll = 0;
        let tokens = 0;
        for (let j = 1; j < lp.tokens.length && offsets[j] < total; j++) {
          const end = j + 1 < offsets.length ? offsets[j + 1] : total;
          if (end <= boundary) continue;
          const v = lp.token_logprobs[j];
          if (v === null) throw new ApiRequestError(`api LM teacher ${this.name}: no log-prob for echoed token ${j}`, status);
          nll -= Math.min(0, v);
          tokens++;
        }
        return { nll, tokens };
      },
      () => this.#counts.textsScored++,
    );
  }

  async generate(prompts: readonly string[], opts: LmGenerateOptions): Promise<LmTeacherGeneration[][]> {
    const { n, seed, promptIndexBase: base } = checkGenerateOptions(opts, this.name);
    const c = this.config;
    const { temperature = 1, topK = 0, topP = 1 } = opts;
    return this.#run(
      prompts.length,
      { done: "generated", noun: "generations" },
      (i) =>
        JSON.stringify({
          model: c.model,
          prompt: prompts[i],
          max_tokens: opts.maxTokens,
          temperature,
          top_p: topP,
          ...(topK > 0 ? { top_k: topK } : {}),
          n,
          seed: generationSeed(seed, base + i, 0),
          ...(c.stop ? { stop: c.stop } : {}),
        }),
      (resp, status) => {
        if (resp.choices.length !== n) throw new ApiRequestError(`api LM teacher ${this.name}: asked for n = ${n} completions, the server returned ${resp.choices.length}`, status);
        const ordered = resp.choices.map((ch, j) => ({ ch, at: ch.index ?? j })).sort((a, b) => a.at - b.at);
        return ordered.map(({ ch }) => ({ text: ch.text, ids: null, finish: ch.finish_reason === "length" ? ("length" as const) : ("stop" as const) }));
      },
      () => this.#counts.generated++,
    );
  }

  async close(): Promise<void> {}
}
