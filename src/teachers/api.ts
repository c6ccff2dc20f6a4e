import { z } from "zod";
import { TsdistillError } from "../util/errors.js";
import { describeZodError } from "../util/zod-errors.js";
import { MASK_NEG } from "../losses/loss-utils.js";
import { DEFAULT_PROMPT, LabelMatcher, renderPrompt } from "./api-prompt.js";

// The "api" teacher: an LLM (or any classifier) behind an OpenAI-compatible chat-completions endpoint. Each input
// is one request (temperature 0, logprobs: true, top_logprobs: k); the top-k logprobs of the FIRST generated token
// are turned into a distribution over the label set (soft labels), which feeds topKKd / a dense KD loss.
//
// Unlike the tensor teachers of teacher.ts this one labels text, so it does not implement `Teacher`: run
// `labelBatch` once over the transfer set and train on `toSoftLabels` / `toTopK`.
//
// Documented choices (see also api-prompt.ts for how tokens are matched to labels):
// - Label distribution. p_j = Σ exp(logprob) over the returned tokens matching label j (several variants such as
//   " positive" and "Positive" add up). Labels none of whose variants are in the top-k are "missing". Let
//   R = 1 − Σ exp(all top-k logprobs) (mass the server did not show) and p_min = the smallest shown probability.
//   Each missing label's first token had probability ≤ p_min (it is not in the top-k) and all of them together
//   ≤ R, so the missing labels are given the tail mass t = min(R, m·p_min) (m = number missing), shared evenly —
//   the largest mass consistent with what was shown, and never more per label than any found label has. Then
//   everything is renormalised over the label set (a softmax over [found label logprobs, log t]): mass the model
//   put on non-label tokens ("The", "\n") is conditioned away.
//   Exposed both ways: `topK` lists the found labels only with their normalised log-probabilities (the "report
//   them as missing" view, with `missing` listing the others) and `probs` is the dense vector including the tail
//   share (`tailMass` in total). With no label in the top-k at all, probs is uniform, topK empty, chosen null,
//   and stats.noLabel counts it (the model answered off-format; at temperature 0 a retry would not help).
// - Failures. Every input gets exactly one result, in input order. 429, 408, 5xx, network errors and timeouts are
//   retried (exponential backoff with full jitter; on 429 and 503, Retry-After (seconds or a date) or
//   retry-after-ms instead when the server sends one, capped by backoff.maxMs); other 4xx (400, 401, 403, 404, …) and a 200 without logprobs fail the whole batch
//   at once (in-flight requests are aborted). An input that still fails after maxRetries retries stops the batch:
//   no new inputs are started, the ones in flight finish, and labelBatch REJECTS with one ApiTeacherError naming
//   how many inputs failed and the last error / HTTP status. Nothing is returned as if complete; the error
//   carries `completed` (the labels that did finish, each with its `index`), `failed` and `notStarted` so a caller
//   can resume without paying twice.
// - Limits. At most `concurrency` requests in flight per teacher (across concurrent labelBatch calls too), and
//   request starts paced by a token bucket (requestsPerSecond, capacity `burst`, default 1: any one-second window
//   holds at most requestsPerSecond + burst − 1 starts). Retries count as requests for both limits. A request
//   waiting out its backoff holds no slot.
// - The API key is read from the environment variable named by apiKeyEnv at construction, kept in a private
//   field, sent only as "Authorization: Bearer …", and scrubbed from every error message (servers sometimes echo
//   it back).

// ---- config -------------------------------------------------------------------------------------------------

export const ApiTeacherConfig = z
  .object({
    kind: z.literal("api"),
    /** Up to and including the version, e.g. http://127.0.0.1:8080/v1; "/chat/completions" is appended. */
    baseURL: z.string().regex(/^https?:\/\/[^\s/]+(\/\S*)?$/, "expected an http(s) URL such as http://127.0.0.1:8080/v1"),
    model: z.string().min(1),
    /** Name of the environment variable holding the key (never the key itself); null: send no key (local servers). */
    apiKeyEnv: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "expected an environment variable name (the key itself never goes in a config)")
      .nullable()
      .default("OPENAI_API_KEY"),
    /** The label set, in class-index order. */
    labels: z.array(z.string().min(1)).min(2),
    /** Each label's first token as the model's tokenizer splits it (default: the label's first word). */
    labelTokens: z.array(z.string().min(1)).optional(),
    caseSensitive: z.boolean().default(false),
    /** User-message template with {input} (required) and {labels} placeholders. */
    prompt: z.string().default(DEFAULT_PROMPT).refine((s) => s.includes("{input}"), "must contain the {input} placeholder"),
    /** Optional system message. */
    system: z.string().optional(),
    topLogprobs: z.number().int().min(1).max(20).default(5),
    /** Fixed at 0: the answer is deterministic and the logprobs are those of the model's own distribution. */
    temperature: z.literal(0).default(0),
    /** Only the first generated position is read; more tokens only lengthen `text`. */
    maxTokens: z.number().int().positive().default(1),
    concurrency: z.number().int().positive().default(4),
    /** Request starts per second (token bucket); unlimited when absent. */
    requestsPerSecond: z.number().positive().optional(),
    /** Token-bucket capacity: how many starts may go back to back after an idle spell. */
    burst: z.number().int().positive().default(1),
    /** Retries per input after the first attempt. */
    maxRetries: z.number().int().min(0).default(5),
    /** Per attempt, response body included. */
    timeoutMs: z.number().int().positive().default(30000),
    /** Full jitter: the n-th retry waits uniform(0, min(maxMs, baseMs·2ⁿ)) ms. */
    backoff: z
      .object({ baseMs: z.number().positive().default(500), maxMs: z.number().positive().default(20000) })
      .strict()
      .default({ baseMs: 500, maxMs: 20000 }),
    /** US$ per million tokens, for stats.costUSD. */
    pricing: z.object({ inputPerMTok: z.number().min(0), outputPerMTok: z.number().min(0) }).strict().optional(),
  })
  .strict()
  .refine((c) => c.backoff.maxMs >= c.backoff.baseMs, { message: "backoff.maxMs must be ≥ backoff.baseMs", path: ["backoff", "maxMs"] });
export type ApiTeacherConfig = z.infer<typeof ApiTeacherConfig>;
export type ApiTeacherConfigInput = z.input<typeof ApiTeacherConfig>;

// ---- results ------------------------------------------------------------------------------------------------

export interface TokenLogprob {
  token: string;
  logprob: number;
}

export interface ApiLabel {
  /** Position in the inputs of the labelBatch call. */
  index: number;
  /** Dense distribution over the labels (sums to 1): found labels plus the even tail share of the missing ones. */
  probs: Float32Array;
  /** The labels found in the top-k, most probable first, with their log-probabilities normalised over the label set. */
  topK: { labelIndex: number; logprob: number }[];
  /** Label indices none of whose tokens were in the top-k (they share `tailMass` in `probs`). */
  missing: number[];
  /** Total probability given to the missing labels. */
  tailMass: number;
  /** The first generated position's top-k, as returned. */
  rawTopLogprobs: TokenLogprob[];
  /** The label the model generated (by its whole text, else its first token), or null when it is not a label. */
  chosen: number | null;
  /** The generated text. */
  text: string;
  usage: { promptTokens: number; completionTokens: number };
  /** HTTP attempts this input took (1 = no retry). */
  attempts: number;
}

export interface ApiTeacherStats {
  /** HTTP requests started, retries included. */
  requests: number;
  retries: number;
  /** Inputs labelled / failed for good. */
  labelled: number;
  failed: number;
  /** Labelled inputs whose top-k held no label (uniform probs). */
  noLabel: number;
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  /** From `pricing`; null without it. */
  costUSD: number | null;
}

export interface BatchProgress {
  done: number;
  failed: number;
  total: number;
  retries: number;
}

/** One failed attempt that is about to be retried. */
export interface RetryInfo {
  /** Position of the input in the batch. */
  index: number;
  /** Attempts made so far for this input (1 after the first failure). */
  attempt: number;
  /** HTTP status, or null for a timeout / network error. */
  status: number | null;
  /** One line, key scrubbed: `HTTP 429 "…"`, `timed out after … ms`, `network error (ECONNRESET)`. */
  message: string;
  /** The wait before the next attempt: Retry-After (capped) or the jittered backoff. */
  delayMs: number;
}

export interface LabelBatchOptions {
  /** After each input finishes (labelled or failed for good). */
  onProgress?: (p: BatchProgress) => void;
  /** Before each retry's wait (for logging). */
  onRetry?: (r: RetryInfo) => void;
  /** Cancels the batch (it then rejects with an ApiTeacherError). */
  signal?: AbortSignal;
}

/** A failed labelBatch: one line of message; the finished labels are attached, never returned as a result. */
export class ApiTeacherError extends TsdistillError {
  constructor(
    message: string,
    /** Last HTTP status seen (null: none, e.g. only timeouts / connection errors). */
    readonly status: number | null,
    /** Labels that did finish (by `index`); the batch as a whole did not. */
    readonly completed: ApiLabel[] = [],
    /** Inputs that failed for good. */
    readonly failed: number[] = [],
    /** Inputs never sent. */
    readonly notStarted: number[] = [],
  ) {
    super(message);
    this.name = "ApiTeacherError";
  }
}

// ---- label distribution -------------------------------------------------------------------------------------

function logAddExp(a: number, b: number): number {
  if (a === -Infinity) return b;
  if (b === -Infinity) return a;
  const m = Math.max(a, b);
  return m + Math.log(Math.exp(a - m) + Math.exp(b - m));
}

/**
 * The label distribution from one position's top-k (see the top of this file): found labels by logsumexp of their
 * tokens, missing labels sharing t = min(R, m·p_min), renormalised over the labels.
 */
export function labelDistribution(
  top: readonly TokenLogprob[],
  matcher: LabelMatcher,
): Pick<ApiLabel, "probs" | "topK" | "missing" | "tailMass"> {
  const C = matcher.labels.length;
  const raw = new Array<number>(C).fill(-Infinity);
  const seen = new Set<string>();
  let shown = 0;
  let minLp = Infinity;
  for (const { token, logprob } of top) {
    if (seen.has(token)) continue; // a token listed twice counts once
    seen.add(token);
    const lp = Math.min(0, logprob); // servers can return +1e-7 for a near-certain token
    shown += Math.exp(lp);
    minLp = Math.min(minLp, lp);
    const j = matcher.labelOfToken(token);
    if (j >= 0) raw[j] = logAddExp(raw[j], lp);
  }
  const missing: number[] = [];
  for (let j = 0; j < C; j++) if (raw[j] === -Infinity) missing.push(j);
  const probs = new Float32Array(C);
  const m = missing.length;
  if (m === C) {
    probs.fill(1 / C);
    return { probs, topK: [], missing, tailMass: 1 };
  }
  const R = Math.max(0, 1 - shown);
  const logTail = m === 0 || R === 0 ? -Infinity : Math.min(Math.log(R), Math.log(m) + minLp);
  let logZ = logTail;
  for (let j = 0; j < C; j++) logZ = logAddExp(logZ, raw[j]);
  const topK: ApiLabel["topK"] = [];
  for (let j = 0; j < C; j++) if (raw[j] > -Infinity) topK.push({ labelIndex: j, logprob: raw[j] - logZ });
  topK.sort((a, b) => b.logprob - a.logprob || a.labelIndex - b.labelIndex);
  for (const { labelIndex, logprob } of topK) probs[labelIndex] = Math.exp(logprob);
  const tailMass = logTail === -Infinity ? 0 : Math.exp(logTail - logZ);
  for (const j of missing) probs[j] = tailMass / m;
  return { probs, topK, missing, tailMass };
}

/** Dense soft labels [n, numClasses] (row i = labels[i], by array position). */
export function toSoftLabels(labels: readonly ApiLabel[], numClasses: number): Float32Array {
  const out = new Float32Array(labels.length * numClasses);
  labels.forEach((l, i) => {
    if (l.probs.length !== numClasses) throw new TsdistillError(`toSoftLabels: label ${i} has ${l.probs.length} classes, expected ${numClasses}`);
    out.set(l.probs, i * numClasses);
  });
  return out;
}

/**
 * The k most probable labels per row, as topKKd wants them: indices int32 [n·k] and log-probabilities [n·k]
 * (row-major [n, k]), normalised over the label set so Σ exp ≤ 1 per row. Found labels come first (most probable
 * first); when fewer than k were found, missing labels (lowest index first) fill the row with their tail share,
 * which is what topKKd's "uniform" tail would give them anyway. A zero probability becomes MASK_NEG (−1e9), never
 * −∞, so the loss sees exp → 0 without NaN.
 */
export function toTopK(labels: readonly ApiLabel[], k: number): { indices: Int32Array; logprobs: Float32Array } {
  const n = labels.length;
  const indices = new Int32Array(n * k);
  const logprobs = new Float32Array(n * k);
  labels.forEach((l, i) => {
    const C = l.probs.length;
    if (!Number.isInteger(k) || k < 1 || k > C) throw new TsdistillError(`toTopK: k must be an integer in [1, ${C}], got ${k}`);
    const tailEach = l.missing.length && l.tailMass > 0 ? Math.log(l.tailMass / l.missing.length) : MASK_NEG;
    const order = [...l.topK.map((t) => ({ j: t.labelIndex, lp: t.logprob })), ...l.missing.map((j) => ({ j, lp: tailEach }))];
    for (let r = 0; r < k; r++) {
      indices[i * k + r] = order[r].j;
      logprobs[i * k + r] = Math.max(order[r].lp, MASK_NEG);
    }
  });
  return { indices, logprobs };
}

// ---- limiters -----------------------------------------------------------------------------------------------

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new Error("aborted");
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(abortReason(signal));
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortReason(signal));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** At most `limit` holders at a time, FIFO. */
export class Semaphore {
  private active = 0;
  private readonly waiters: (() => void)[] = [];

  constructor(readonly limit: number) {}

  async acquire(signal: AbortSignal): Promise<() => void> {
    if (signal.aborted) throw abortReason(signal);
    if (this.active < this.limit) {
      this.active++;
      return this.releaser();
    }
    await new Promise<void>((resolve, reject) => {
      const wake = () => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      };
      const onAbort = () => {
        const i = this.waiters.indexOf(wake);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(abortReason(signal));
      };
      this.waiters.push(wake);
      signal.addEventListener("abort", onAbort, { once: true });
    });
    return this.releaser(); // the slot was handed over by a release: `active` is unchanged
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiters.shift();
      if (next) next();
      else this.active--;
    };
  }
}

/**
 * Token bucket: `rate` tokens per second, capacity `capacity`, one token per start. Reservations are made in call
 * order (tokens may go negative: the caller then waits until its token has accrued), so waiters are served FIFO.
 */
export class TokenBucket {
  private tokens: number;
  private last = performance.now();

  constructor(
    readonly rate: number,
    readonly capacity: number,
  ) {
    this.tokens = capacity;
  }

  async take(signal: AbortSignal): Promise<void> {
    const now = performance.now();
    this.tokens = Math.min(this.capacity, this.tokens + ((now - this.last) * this.rate) / 1000);
    this.last = now;
    this.tokens -= 1;
    if (this.tokens >= 0) return;
    const at = now + (-this.tokens * 1000) / this.rate;
    // setTimeout can fire a little early by performance.now(): wait until the reserved time has really come.
    for (let left = at - performance.now(); left > 0; left = at - performance.now()) await sleep(Math.ceil(left), signal);
  }
}

// ---- the response -------------------------------------------------------------------------------------------

const ChatResponse = z.object({
  choices: z
    .array(
      z.object({
        message: z.object({ content: z.string().nullable().optional() }).nullable().optional(),
        logprobs: z
          .object({
            content: z
              .array(z.object({ token: z.string(), logprob: z.number(), top_logprobs: z.array(z.object({ token: z.string(), logprob: z.number() })) }))
              .nullable()
              .optional(),
          })
          .nullable()
          .optional(),
      }),
    )
    .min(1),
  usage: z.object({ prompt_tokens: z.number().optional(), completion_tokens: z.number().optional() }).nullable().optional(),
});

type Attempt =
  | { ok: true; label: Omit<ApiLabel, "index" | "attempts"> }
  | { ok: false; retryable: boolean; status: number | null; message: string; retryAfterMs?: number };

/** Retry-After (seconds or an HTTP date) or retry-after-ms, in ms; undefined when absent or unreadable. */
export function parseRetryAfter(headers: Headers, now = Date.now()): number | undefined {
  const ms = headers.get("retry-after-ms");
  if (ms && /^\d+(\.\d+)?$/.test(ms.trim())) return Number(ms);
  const ra = headers.get("retry-after")?.trim();
  if (!ra) return undefined;
  if (/^\d+(\.\d+)?$/.test(ra)) return Number(ra) * 1000;
  const at = Date.parse(ra);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

function oneLine(s: string, max = 300): string {
  const t = s.replace(/\s+/g, " ").trim();
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}

function describeNetworkError(e: unknown): string {
  const err = e as { message?: string; cause?: { code?: string; message?: string } };
  const code = err?.cause?.code ?? err?.cause?.message ?? err?.message ?? String(e);
  return `network error (${code})`;
}

// ---- the teacher --------------------------------------------------------------------------------------------

export interface ApiTeacherOptions {
  /** Where apiKeyEnv is looked up (default process.env). */
  env?: Record<string, string | undefined>;
  /** fetch implementation (default the global one). */
  fetch?: typeof fetch;
  /** Uniform [0, 1) source for the backoff jitter (default Math.random). */
  random?: () => number;
}

export class ApiTeacher {
  readonly config: ApiTeacherConfig;
  readonly name: string;
  readonly labels: readonly string[];
  readonly numClasses: number;
  readonly matcher: LabelMatcher;
  readonly url: string;
  readonly #apiKey: string | null;
  readonly #fetch: typeof fetch;
  readonly #random: () => number;
  readonly #slots: Semaphore;
  readonly #bucket: TokenBucket | null;
  readonly #stats: Omit<ApiTeacherStats, "totalTokens" | "costUSD"> = { requests: 0, retries: 0, labelled: 0, failed: 0, noLabel: 0, promptTokens: 0, completionTokens: 0 };

  constructor(config: ApiTeacherConfigInput, opts: ApiTeacherOptions = {}) {
    const parsed = ApiTeacherConfig.safeParse(config);
    if (!parsed.success) throw new TsdistillError(describeZodError(parsed.error, { base: "teacher" }));
    const c = parsed.data;
    this.config = c;
    this.labels = c.labels;
    this.numClasses = c.labels.length;
    this.matcher = new LabelMatcher(c.labels, c.labelTokens, c.caseSensitive);
    this.name = `api:${c.model}`;
    this.url = `${c.baseURL.replace(/\/+$/, "")}/chat/completions`;
    if (c.apiKeyEnv === null) {
      this.#apiKey = null;
    } else {
      const key = (opts.env ?? process.env)[c.apiKeyEnv];
      if (!key) {
        throw new TsdistillError(
          `api teacher: environment variable ${c.apiKeyEnv} (teacher.apiKeyEnv) is not set; export the API key there, or set apiKeyEnv: null for a server that needs no key`,
        );
      }
      this.#apiKey = key;
    }
    this.#fetch = opts.fetch ?? globalThis.fetch;
    this.#random = opts.random ?? Math.random;
    this.#slots = new Semaphore(c.concurrency);
    this.#bucket = c.requestsPerSecond ? new TokenBucket(c.requestsPerSecond, c.burst) : null;
  }

  /** Running totals over every labelBatch call of this teacher (a snapshot). */
  get stats(): ApiTeacherStats {
    const s = this.#stats;
    const p = this.config.pricing;
    return {
      ...s,
      totalTokens: s.promptTokens + s.completionTokens,
      costUSD: p ? (s.promptTokens * p.inputPerMTok + s.completionTokens * p.outputPerMTok) / 1e6 : null,
    };
  }

  /** The messages sent for one input. */
  messages(input: string): { role: "system" | "user"; content: string }[] {
    const user = { role: "user" as const, content: renderPrompt(this.config.prompt, input, this.labels) };
    return this.config.system ? [{ role: "system", content: this.config.system }, user] : [user];
  }

  /**
   * One label per input, in input order. Rejects with one ApiTeacherError when any input fails for good (see
   * the top of this file); never resolves with a partial list.
   */
  async labelBatch(inputs: readonly string[], opts: LabelBatchOptions = {}): Promise<ApiLabel[]> {
    inputs.forEach((x, i) => {
      if (typeof x !== "string") throw new TsdistillError(`api teacher: input ${i} is a ${typeof x}, expected a string`);
    });
    const n = inputs.length;
    const results: (ApiLabel | undefined)[] = new Array(n);
    const failures: { index: number; status: number | null; message: string }[] = [];
    const ctrl = new AbortController();
    const onOuterAbort = () => ctrl.abort(opts.signal?.reason);
    opts.signal?.addEventListener("abort", onOuterAbort, { once: true });
    if (opts.signal?.aborted) ctrl.abort(opts.signal.reason);
    let fatal = null as ApiTeacherError | null;
    let other: unknown = null;
    let next = 0;
    let done = 0;
    let lastStatus = null as number | null;
    const retriesAtStart = this.#stats.retries;
    const progress = () => opts.onProgress?.({ done, failed: failures.length, total: n, retries: this.#stats.retries - retriesAtStart });

    const worker = async () => {
      while (next < n && !failures.length && !ctrl.signal.aborted) {
        const i = next++;
        try {
          const r = await this.#labelOne(inputs[i], i, ctrl.signal, (s) => (lastStatus = s ?? lastStatus), opts.onRetry);
          if ("label" in r) {
            results[i] = r.label;
            done++;
            this.#stats.labelled++;
          } else {
            failures.push({ index: i, status: r.status, message: r.message });
            this.#stats.failed++;
          }
          progress();
        } catch (e) {
          if (e instanceof ApiTeacherError) fatal ??= e;
          else if (!ctrl.signal.aborted) other ??= e;
          ctrl.abort(e);
        }
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.min(this.config.concurrency, n) }, worker));
    } finally {
      opts.signal?.removeEventListener("abort", onOuterAbort);
    }
    const completed = results.filter((r): r is ApiLabel => r !== undefined);
    const notStarted = Array.from({ length: n - next }, (_, j) => next + j);
    if (fatal) throw new ApiTeacherError(fatal.message, fatal.status, completed, failures.map((f) => f.index), notStarted);
    if (other) throw other;
    if (opts.signal?.aborted) throw new ApiTeacherError(`api teacher: cancelled; ${done} of ${n} inputs labelled`, lastStatus, completed, [], notStarted);
    if (failures.length) {
      const last = failures[failures.length - 1];
      const f = failures.length;
      throw new ApiTeacherError(
        `api teacher: ${f} of ${n} input${n === 1 ? "" : "s"} failed after ${this.config.maxRetries} retr${this.config.maxRetries === 1 ? "y" : "ies"} each ` +
          `(last: ${last.message}; last HTTP status: ${lastStatus ?? "none"}); ${done} labelled, ${notStarted.length} not started, nothing returned (the error's .completed holds the finished labels)`,
        lastStatus,
        completed,
        failures.map((x) => x.index),
        notStarted,
      );
    }
    return results as ApiLabel[];
  }

  async #labelOne(
    input: string,
    index: number,
    signal: AbortSignal,
    onStatus: (s: number | null) => void,
    onRetry?: (r: RetryInfo) => void,
  ): Promise<{ label: ApiLabel } | { status: number | null; message: string }> {
    const c = this.config;
    const body = JSON.stringify({
      model: c.model,
      messages: this.messages(input),
      temperature: c.temperature,
      max_tokens: c.maxTokens,
      logprobs: true,
      top_logprobs: c.topLogprobs,
      n: 1,
      stream: false,
    });
    for (let attempt = 0; ; attempt++) {
      const release = await this.#slots.acquire(signal);
      let out: Attempt;
      try {
        if (this.#bucket) await this.#bucket.take(signal);
        if (signal.aborted) throw abortReason(signal);
        this.#stats.requests++;
        out = await this.#attempt(body, signal);
      } finally {
        release();
      }
      if (out.ok) return { label: { ...out.label, index, attempts: attempt + 1 } };
      if (out.status !== null) onStatus(out.status);
      if (!out.retryable) throw new ApiTeacherError(out.message, out.status);
      if (attempt >= c.maxRetries) return { status: out.status, message: out.message };
      this.#stats.retries++;
      const cap = Math.min(c.backoff.maxMs, c.backoff.baseMs * 2 ** attempt);
      const wait = out.retryAfterMs !== undefined ? Math.min(c.backoff.maxMs, out.retryAfterMs) : this.#random() * cap;
      onRetry?.({ index, attempt: attempt + 1, status: out.status, message: out.message, delayMs: wait });
      await sleep(wait, signal);
    }
  }

  #redact(s: string): string {
    return this.#apiKey ? s.split(this.#apiKey).join("[redacted]") : s;
  }

  async #attempt(body: string, batch: AbortSignal): Promise<Attempt> {
    const c = this.config;
    const timeout = AbortSignal.timeout(c.timeoutMs);
    const signal = AbortSignal.any([batch, timeout]);
    const headers: Record<string, string> = { "content-type": "application/json", accept: "application/json" };
    if (this.#apiKey) headers.authorization = `Bearer ${this.#apiKey}`;
    // Classifies a thrown fetch / body-read error: the batch's own abort propagates, anything else is retried.
    const failed = (e: unknown, status: number | null): Attempt => {
      if (batch.aborted) throw abortReason(batch);
      if (timeout.aborted) return { ok: false, retryable: true, status, message: `timed out after ${c.timeoutMs} ms` };
      return { ok: false, retryable: true, status, message: this.#redact(describeNetworkError(e)) };
    };
    let res: Response;
    try {
      res = await this.#fetch(this.url, { method: "POST", headers, body, signal });
    } catch (e) {
      return failed(e, null);
    }
    if (!res.ok) {
      let text = "";
      try {
        text = await res.text();
      } catch (e) {
        if (batch.aborted) throw abortReason(batch);
      }
      let detail = text;
      try {
        const j = JSON.parse(text) as { error?: { message?: unknown } | string; message?: unknown };
        const m = typeof j.error === "string" ? j.error : (j.error?.message ?? j.message);
        if (typeof m === "string") detail = m;
      } catch {
        // not JSON: the raw body
      }
      detail = this.#redact(oneLine(detail || res.statusText || ""));
      const s = res.status;
      const retryable = s === 408 || s === 429 || s >= 500;
      const what = `HTTP ${s}${detail ? ` ${JSON.stringify(detail)}` : ""}`;
      if (retryable) return { ok: false, retryable, status: s, message: what, retryAfterMs: s === 429 || s === 503 ? parseRetryAfter(res.headers) : undefined };
      const hint =
        s === 401 || s === 403
          ? c.apiKeyEnv
            ? ` (the key comes from ${c.apiKeyEnv})`
            : " (apiKeyEnv is null: no key was sent)"
          : s === 404
            ? ` (check baseURL and model ${JSON.stringify(c.model)})`
            : "";
      return { ok: false, retryable: false, status: s, message: `api teacher: ${what} from ${this.url}${hint}; not retried` };
    }
    let json: unknown;
    try {
      json = await res.json();
    } catch (e) {
      if (e instanceof SyntaxError) return { ok: false, retryable: true, status: res.status, message: `HTTP ${res.status} with a body that is not JSON` };
      return failed(e, res.status);
    }
    const parsed = ChatResponse.safeParse(json);
    if (!parsed.success) {
      return { ok: false, retryable: false, status: res.status, message: `api teacher: ${this.url} answered HTTP ${res.status} but not with a chat completion (${describeZodError(parsed.error)})` };
    }
    const choice = parsed.data.choices[0];
    const content = choice.logprobs?.content;
    if (!content) {
      return {
        ok: false,
        retryable: false,
        status: res.status,
        message: `api teacher: ${this.url} returned no logprobs (choices[0].logprobs.content); the server or model must support logprobs: true with top_logprobs`,
      };
    }
    const first = content[0];
    const rawTopLogprobs = first ? first.top_logprobs.map((t) => ({ token: t.token, logprob: t.logprob })) : [];
    const text = choice.message?.content ?? content.map((t) => t.token).join("");
    const dist = labelDistribution(rawTopLogprobs, this.matcher);
    let chosen: number | null = this.matcher.labelOfText(text);
    if (chosen < 0) chosen = first ? this.matcher.labelOfToken(first.token) : -1;
    const usage = { promptTokens: parsed.data.usage?.prompt_tokens ?? 0, completionTokens: parsed.data.usage?.completion_tokens ?? 0 };
    this.#stats.promptTokens += usage.promptTokens;
    this.#stats.completionTokens += usage.completionTokens;
    if (dist.topK.length === 0) this.#stats.noLabel++;
    return { ok: true, label: { ...dist, rawTopLogprobs, chosen: chosen >= 0 ? chosen : null, text, usage } };
  }
}
