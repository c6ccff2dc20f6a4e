import { z } from "zod";
import { TsdistillError } from "../util/errors.js";
import { ApiRequestError, type RetryInfo } from "./api-batch.js";
import { abortReason, Semaphore, sleep, TokenBucket } from "./api-limits.js";

export { ApiBatchError, ApiRequestError, runBatch, type BatchOptions, type BatchProgress, type OneResult, type RetryInfo, type RunBatchOptions } from "./api-batch.js";
export { Semaphore, TokenBucket } from "./api-limits.js";

// The HTTP side shared by the API teachers (api.ts: chat completions → soft labels; api-lm-teacher.ts: completions
// → token log-probs and generations) against an OpenAI-compatible server.
//
// - Failures. 429, 408, 5xx, network errors, timeouts and a 200 whose body is not JSON are retried (exponential
//   backoff with full jitter; on 429 and 503, Retry-After (seconds or a date) or retry-after-ms instead when the
//   server sends one, capped by backoff.maxMs); other 4xx (400, 401, 403, 404, …) and a 200 the caller cannot read
//   fail the whole batch at once (in-flight requests are aborted). An input that still fails after maxRetries
//   retries stops the batch: no new inputs are started, the ones in flight finish, and the batch REJECTS with one
//   error line naming how many inputs failed and the last error / HTTP status, carrying `completed` (the results
//   that did finish), `failed` and `notStarted` so a caller can resume without paying twice.
// - Limits. At most `concurrency` requests in flight per client (across concurrent batches too), and request starts
//   paced by a token bucket (requestsPerSecond, capacity `burst`, default 1: any one-second window holds at most
//   requestsPerSecond + burst − 1 starts). Retries count as requests for both limits. A request waiting out its
//   backoff holds no slot.
// - The API key is read from the environment variable named by apiKeyEnv at construction, kept in a private
//   field, sent only as "Authorization: Bearer …", and scrubbed from every error message (servers sometimes echo
//   it back).

// ---- config -------------------------------------------------------------------------------------------------

/** The connection fields every API teacher config has (spread into its zod object; refine with checkBackoff). */
export const apiHttpFields = {
  /** Up to and including the version, e.g. http://127.0.0.1:8080/v1; the endpoint path is appended. */
  baseURL: z.string().regex(/^https?:\/\/[^\s/]+(\/\S*)?$/, "expected an http(s) URL such as http://127.0.0.1:8080/v1"),
  model: z.string().min(1),
  /** Name of the environment variable holding the key (never the key itself); null: send no key (local servers). */
  apiKeyEnv: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "expected an environment variable name (the key itself never goes in a config)")
    .nullable()
    .default("OPENAI_API_KEY"),
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
};

/** The refinement every config with apiHttpFields needs. */
export const checkBackoff: [(c: { backoff: { baseMs: number; maxMs: number } }) => boolean, { message: string; path: string[] }] = [
  (c) => c.backoff.maxMs >= c.backoff.baseMs,
  { message: "backoff.maxMs must be ≥ backoff.baseMs", path: ["backoff", "maxMs"] },
];

const HttpSettings = z.object(apiHttpFields).strict();
export type ApiHttpSettings = z.infer<typeof HttpSettings>;

// ---- one request --------------------------------------------------------------------------------------------

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

export function oneLine(s: string, max = 300): string {
  const t = s.replace(/\s+/g, " ").trim();
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}

function describeNetworkError(e: unknown): string {
  const err = e as { message?: string; cause?: { code?: string; message?: string } };
  const code = err?.cause?.code ?? err?.cause?.message ?? err?.message ?? String(e);
  return `network error (${code})`;
}

type Attempt<T> = { ok: true; value: T } | { ok: false; retryable: boolean; status: number | null; message: string; retryAfterMs?: number };

/** Reads a 200's JSON body; throws ApiRequestError (not retried) when it is not what the endpoint should answer. */
export type ReadResponse<T> = (json: unknown, status: number) => T;

export interface ApiHttpOptions {
  /** Where apiKeyEnv is looked up (default process.env). */
  env?: Record<string, string | undefined>;
  /** fetch implementation (default the global one). */
  fetch?: typeof fetch;
  /** Uniform [0, 1) source for the backoff jitter (default Math.random). */
  random?: () => number;
}

export interface ApiHttpStats {
  /** HTTP requests started, retries included. */
  requests: number;
  retries: number;
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  /** From `pricing`; null without it. */
  costUSD: number | null;
}

/**
 * POSTs JSON to an OpenAI-compatible server with the key, limits, retries and cost accounting described at the top
 * of this file. `what` starts every error line ("api teacher", "api LM teacher").
 */
export class ApiHttpClient {
  readonly #apiKey: string | null;
  readonly #fetch: typeof fetch;
  readonly #random: () => number;
  readonly #slots: Semaphore;
  readonly #bucket: TokenBucket | null;
  readonly #counts = { requests: 0, retries: 0, promptTokens: 0, completionTokens: 0 };

  constructor(
    readonly settings: ApiHttpSettings,
    readonly what: string,
    opts: ApiHttpOptions = {},
  ) {
    const c = settings;
    if (c.apiKeyEnv === null) {
      this.#apiKey = null;
    } else {
      const key = (opts.env ?? process.env)[c.apiKeyEnv];
      if (!key) {
        throw new TsdistillError(
          `${what}: environment variable ${c.apiKeyEnv} (teacher.apiKeyEnv) is not set; export the API key there, or set apiKeyEnv: null for a server that needs no key`,
        );
      }
      this.#apiKey = key;
    }
    this.#fetch = opts.fetch ?? globalThis.fetch;
    this.#random = opts.random ?? Math.random;
    this.#slots = new Semaphore(c.concurrency);
    this.#bucket = c.requestsPerSecond ? new TokenBucket(c.requestsPerSecond, c.burst) : null;
  }

  /** baseURL + path ("/completions"). */
  url(path: string): string {
    return `${this.settings.baseURL.replace(/\/+$/, "")}${path}`;
  }

  /** Running totals over every request of this client (a snapshot). */
  get stats(): ApiHttpStats {
    const s = this.#counts;
    const p = this.settings.pricing;
    return {
      ...s,
      totalTokens: s.promptTokens + s.completionTokens,
      costUSD: p ? (s.promptTokens * p.inputPerMTok + s.completionTokens * p.outputPerMTok) / 1e6 : null,
    };
  }

  /** Adds a response's usage to the totals. */
  addUsage(promptTokens: number, completionTokens: number): void {
    this.#counts.promptTokens += promptTokens;
    this.#counts.completionTokens += completionTokens;
  }

  /**
   * One input's request, retried as described at the top of this file. Resolves with the read response and the
   * attempts it took, or with the last failure once retries are exhausted; rejects with ApiRequestError when a
   * retry cannot help, or with the signal's reason when the batch is aborted.
   */
  async request<T>(
    path: string,
    body: string,
    read: ReadResponse<T>,
    at: { index: number; signal: AbortSignal; onStatus?: (s: number) => void; onRetry?: (r: RetryInfo) => void },
  ): Promise<{ ok: true; value: T; attempts: number } | { ok: false; status: number | null; message: string }> {
    const c = this.settings;
    for (let attempt = 0; ; attempt++) {
      const release = await this.#slots.acquire(at.signal);
      let out: Attempt<T>;
      try {
        if (this.#bucket) await this.#bucket.take(at.signal);
        if (at.signal.aborted) throw abortReason(at.signal);
        this.#counts.requests++;
        out = await this.#attempt(this.url(path), body, read, at.signal);
      } finally {
        release();
      }
      if (out.ok) return { ok: true, value: out.value, attempts: attempt + 1 };
      if (out.status !== null) at.onStatus?.(out.status);
      if (!out.retryable) throw new ApiRequestError(out.message, out.status);
      if (attempt >= c.maxRetries) return { ok: false, status: out.status, message: out.message };
      this.#counts.retries++;
      const cap = Math.min(c.backoff.maxMs, c.backoff.baseMs * 2 ** attempt);
      const wait = out.retryAfterMs !== undefined ? Math.min(c.backoff.maxMs, out.retryAfterMs) : this.#random() * cap;
      at.onRetry?.({ index: at.index, attempt: attempt + 1, status: out.status, message: out.message, delayMs: wait });
      await sleep(wait, at.signal);
    }
  }

  /** The key scrubbed from a message. */
  redact(s: string): string {
    return this.#apiKey ? s.split(this.#apiKey).join("[redacted]") : s;
  }

  async #attempt<T>(url: string, body: string, read: ReadResponse<T>, batch: AbortSignal): Promise<Attempt<T>> {
    const c = this.settings;
    const timeout = AbortSignal.timeout(c.timeoutMs);
    const signal = AbortSignal.any([batch, timeout]);
    const headers: Record<string, string> = { "content-type": "application/json", accept: "application/json" };
    if (this.#apiKey) headers.authorization = `Bearer ${this.#apiKey}`;
    // Classifies a thrown fetch / body-read error: the batch's own abort propagates, anything else is retried.
    const failed = (e: unknown, status: number | null): Attempt<T> => {
      if (batch.aborted) throw abortReason(batch);
      if (timeout.aborted) return { ok: false, retryable: true, status, message: `timed out after ${c.timeoutMs} ms` };
      return { ok: false, retryable: true, status, message: this.redact(describeNetworkError(e)) };
    };
    let res: Response;
    try {
      res = await this.#fetch(url, { method: "POST", headers, body, signal });
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
      detail = this.redact(oneLine(detail || res.statusText || ""));
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
      return { ok: false, retryable: false, status: s, message: `${this.what}: ${what} from ${url}${hint}; not retried` };
    }
    let json: unknown;
    try {
      json = await res.json();
    } catch (e) {
      if (e instanceof SyntaxError) return { ok: false, retryable: true, status: res.status, message: `HTTP ${res.status} with a body that is not JSON` };
      return failed(e, res.status);
    }
    try {
      return { ok: true, value: read(json, res.status) };
    } catch (e) {
      if (e instanceof ApiRequestError) return { ok: false, retryable: false, status: e.status, message: this.redact(e.message) };
      throw e;
    }
  }
}

