// An embedding model behind an OpenAI-compatible endpoint: POST {baseURL}/embeddings with
// {"model", "input": [texts], "encoding_format": "float", "dimensions"?} → {"data": [{"index", "embedding"}]}.
// Batches of `batchSize` texts, one request at a time; 429, 408, 5xx, network errors and timeouts are retried
// (exponential backoff with full jitter, or the server's Retry-After), other answers fail at once with one line.
// The key is read from the environment variable `apiKeyEnv`, sent only as a Bearer token, scrubbed from errors.
import { createHash } from "node:crypto";
import { z } from "zod";
import { TsdistillError } from "../../util/errors.js";
import { describeZodError } from "../../util/zod-errors.js";
import { parseRetryAfter } from "../api.js";
import { apiHttpFields } from "../api-http.js";
import { checkVectors, type EmbeddingTeacher } from "./embedding-teacher.js";

export const ApiEmbeddingSettings = z
  .object({
    /** baseURL (up to and including the version; "/embeddings" is appended), model and apiKeyEnv as every API teacher. */
    baseURL: apiHttpFields.baseURL,
    model: apiHttpFields.model,
    apiKeyEnv: apiHttpFields.apiKeyEnv,
    /** Asked-for width (models that can shorten their vectors); absent: the model's own, read from a probe request. */
    dimensions: z.number().int().positive().optional(),
    batchSize: z.number().int().positive().default(64),
    maxRetries: z.number().int().min(0).default(5),
    timeoutMs: z.number().int().positive().default(30000),
    backoff: z
      .object({ baseMs: z.number().positive().default(500), maxMs: z.number().positive().default(20000) })
      .strict()
      .default({ baseMs: 500, maxMs: 20000 }),
  })
  .strict();
export type ApiEmbeddingSettings = z.infer<typeof ApiEmbeddingSettings>;

const Response = z.object({
  data: z.array(z.object({ index: z.number().int().min(0), embedding: z.array(z.number()) })),
  usage: z.object({ prompt_tokens: z.number().optional(), total_tokens: z.number().optional() }).nullable().optional(),
});

export interface ApiEmbeddingOptions {
  env?: Record<string, string | undefined>;
  fetch?: typeof fetch;
  /** Uniform [0, 1) for the backoff jitter (default Math.random). */
  random?: () => number;
}

/** What identifies the endpoint's vectors: URL, model and width (not limits or retries). */
export function apiEmbeddingHash(c: ApiEmbeddingSettings): string {
  return createHash("sha256").update(`api-embeddings:${JSON.stringify({ baseURL: c.baseURL.replace(/\/+$/, ""), model: c.model, dimensions: c.dimensions ?? null })}`).digest("hex");
}

export class ApiEmbeddingTeacher implements EmbeddingTeacher {
  readonly kind = "api" as const;
  readonly name: string;
  readonly hash: string;
  readonly url: string;
  readonly stats = { requests: 0, retries: 0, promptTokens: 0 };
  readonly #key: string | null;
  readonly #fetch: typeof fetch;
  readonly #random: () => number;
  #dim: number;

  private constructor(
    readonly settings: ApiEmbeddingSettings,
    opts: ApiEmbeddingOptions,
  ) {
    this.url = `${settings.baseURL.replace(/\/+$/, "")}/embeddings`;
    this.name = `${settings.model} @ ${this.url}`;
    this.hash = apiEmbeddingHash(settings);
    const env = opts.env ?? process.env;
    this.#key = settings.apiKeyEnv ? (env[settings.apiKeyEnv] ?? null) : null;
    if (settings.apiKeyEnv && !this.#key) throw new TsdistillError(`teacher: apiKeyEnv: the environment variable ${settings.apiKeyEnv} is not set; set it to the API key, or apiKeyEnv: null for a server without keys`);
    this.#fetch = opts.fetch ?? fetch;
    this.#random = opts.random ?? Math.random;
    this.#dim = settings.dimensions ?? 0;
  }

  /** Validates the settings and, without `dimensions`, reads the width from one request with one short text. */
  static async open(settings: z.input<typeof ApiEmbeddingSettings>, opts: ApiEmbeddingOptions = {}): Promise<ApiEmbeddingTeacher> {
    const parsed = ApiEmbeddingSettings.safeParse(settings);
    if (!parsed.success) throw new TsdistillError(describeZodError(parsed.error, { base: "teacher" }));
    const t = new ApiEmbeddingTeacher(parsed.data, opts);
    if (!t.#dim) t.#dim = (await t.request(["a"])).length;
    return t;
  }

  get dim(): number {
    return this.#dim;
  }

  async embed(texts: readonly string[]): Promise<Float32Array> {
    const out = new Float32Array(texts.length * this.#dim);
    for (let start = 0; start < texts.length; start += this.settings.batchSize) {
      const part = texts.slice(start, start + this.settings.batchSize);
      const v = await this.request(part);
      checkVectors(v, part.length, this.#dim, `teacher ${this.name}`);
      out.set(v, start * this.#dim);
    }
    return out;
  }

  private scrub(s: string): string {
    const one = s.replace(/\s+/g, " ").trim().slice(0, 300);
    return this.#key ? one.split(this.#key).join("***") : one;
  }

  /** One batch, with retries; vectors in input order. */
  private async request(input: readonly string[]): Promise<Float32Array> {
    const { maxRetries, backoff, timeoutMs } = this.settings;
    const body = JSON.stringify({ model: this.settings.model, input, encoding_format: "float", ...(this.settings.dimensions ? { dimensions: this.settings.dimensions } : {}) });
    const headers: Record<string, string> = { "content-type": "application/json", ...(this.#key ? { authorization: `Bearer ${this.#key}` } : {}) };
    for (let attempt = 0; ; attempt++) {
      this.stats.requests++;
      let failure: { message: string; retryable: boolean; waitMs?: number };
      try {
        const res = await this.#fetch(this.url, { method: "POST", headers, body, signal: AbortSignal.timeout(timeoutMs) });
        const text = await res.text();
        if (res.ok) {
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            throw new TsdistillError(`teacher ${this.name}: the answer is not JSON (${this.scrub(text.slice(0, 100))})`);
          }
          const r = Response.safeParse(json);
          if (!r.success) throw new TsdistillError(`teacher ${this.name}: unexpected answer: ${describeZodError(r.error, { base: "response" })}`);
          this.stats.promptTokens += r.data.usage?.prompt_tokens ?? 0;
          return this.toVectors(r.data.data, input.length);
        }
        const retryable = res.status === 429 || res.status === 408 || res.status >= 500;
        failure = { message: `HTTP ${res.status}: ${this.scrub(text)}`, retryable, waitMs: res.status === 429 || res.status === 503 ? parseRetryAfter(res.headers) : undefined };
      } catch (err) {
        if (err instanceof TsdistillError) throw err;
        const e = err as { name?: string; message?: string; cause?: { code?: string } };
        failure = { message: e?.name === "TimeoutError" ? `no answer within ${timeoutMs} ms` : `network error (${e?.cause?.code ?? e?.message ?? String(err)})`, retryable: true };
      }
      if (!failure.retryable || attempt >= maxRetries) {
        throw new TsdistillError(`teacher ${this.name}: ${failure.message}${failure.retryable ? ` (after ${attempt + 1} attempts)` : ""}`);
      }
      this.stats.retries++;
      const wait = Math.min(backoff.maxMs, failure.waitMs ?? this.#random() * Math.min(backoff.maxMs, backoff.baseMs * 2 ** attempt));
      await new Promise((r) => setTimeout(r, wait));
    }
  }

  private toVectors(data: { index: number; embedding: number[] }[], n: number): Float32Array {
    if (data.length !== n) throw new TsdistillError(`teacher ${this.name}: answered ${data.length} vectors for ${n} texts`);
    const d = this.#dim || data[0].embedding.length;
    const out = new Float32Array(n * d);
    const seen = new Set<number>();
    for (const item of data) {
      if (item.index >= n || seen.has(item.index)) throw new TsdistillError(`teacher ${this.name}: answer index ${item.index} is repeated or outside 0..${n - 1}`);
      if (item.embedding.length !== d) throw new TsdistillError(`teacher ${this.name}: vector ${item.index} has ${item.embedding.length} values; expected ${d}`);
      seen.add(item.index);
      out.set(item.embedding, item.index * d);
    }
    return out;
  }

  async close(): Promise<void> {}
}
