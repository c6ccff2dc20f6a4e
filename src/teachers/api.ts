import { z } from "zod";
import { TsdistillError } from "../util/errors.js";
import { describeZodError } from "../util/zod-errors.js";
import { DEFAULT_PROMPT, LabelMatcher, renderPrompt } from "./api-prompt.js";
import { ApiBatchError, ApiHttpClient, ApiRequestError, apiHttpFields, checkBackoff, runBatch, type ApiHttpOptions, type BatchOptions } from "./api-http.js";
import { labelDistribution, type ApiLabel } from "./api-labels.js";
import { mergeRedact, RedactConfig, Redactor, type RedactionCounts } from "./redact.js";

export { labelDistribution, toSoftLabels, toTopK, type ApiLabel, type TokenLogprob } from "./api-labels.js";
export { parseRetryAfter, Semaphore, TokenBucket, type BatchProgress, type RetryInfo } from "./api-http.js";

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
// - Failures, limits and the API key: the shared HTTP client's rules (api-http.ts). Every input gets exactly one
//   result, in input order; a 200 without logprobs fails the whole batch at once; a failed batch rejects with one
//   ApiTeacherError whose `completed` holds the labels that did finish (each with its `index`).
// The label maths is in api-labels.ts.

// ---- config -------------------------------------------------------------------------------------------------

export const ApiTeacherConfig = z
  .object({
    kind: z.literal("api"),
    /** baseURL ("/chat/completions" is appended), model, apiKeyEnv, limits, retries, timeout, backoff, pricing. */
    ...apiHttpFields,
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
    /** Opt-in: e-mail addresses, phone, card and IBAN-like numbers, user patterns replaced before a text is sent. */
    redact: RedactConfig.optional(),
  })
  .strict()
  .refine(...checkBackoff);
export type ApiTeacherConfig = z.infer<typeof ApiTeacherConfig>;
export type ApiTeacherConfigInput = z.input<typeof ApiTeacherConfig>;

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
  /** What redaction replaced in the texts sent (absent when redaction is off). */
  redactions?: RedactionCounts;
}

export type LabelBatchOptions = BatchOptions;

/** A failed labelBatch: one line of message; the finished labels are attached, never returned as a result. */
export class ApiTeacherError extends ApiBatchError<ApiLabel> {
  constructor(message: string, status: number | null, completed: ApiLabel[] = [], failed: number[] = [], notStarted: number[] = []) {
    super(message, status, completed, failed, notStarted);
    this.name = "ApiTeacherError";
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

// ---- the teacher --------------------------------------------------------------------------------------------

export type ApiTeacherOptions = ApiHttpOptions & {
  /** Command-line redaction (--redact: every built-in kind; --redact-pattern: more patterns), merged into the config's. */
  redact?: { all?: boolean; patterns?: string[] };
};

export class ApiTeacher {
  readonly config: ApiTeacherConfig;
  readonly name: string;
  readonly labels: readonly string[];
  readonly numClasses: number;
  readonly matcher: LabelMatcher;
  readonly url: string;
  readonly #http: ApiHttpClient;
  readonly #redactor: Redactor | null;
  readonly #counts = { labelled: 0, failed: 0, noLabel: 0 };

  constructor(config: ApiTeacherConfigInput, opts: ApiTeacherOptions = {}) {
    const parsed = ApiTeacherConfig.safeParse(config);
    if (!parsed.success) throw new TsdistillError(describeZodError(parsed.error, { base: "teacher" }));
    const redact = mergeRedact(parsed.data.redact, opts.redact);
    this.#redactor = redact === undefined ? null : new Redactor(redact, "teacher.redact");
    const c = { ...parsed.data, ...(this.#redactor ? { redact: this.#redactor.config } : {}) };
    this.config = c;
    this.labels = c.labels;
    this.numClasses = c.labels.length;
    this.matcher = new LabelMatcher(c.labels, c.labelTokens, c.caseSensitive);
    this.name = `api:${c.model}`;
    this.#http = new ApiHttpClient(c, "api teacher", opts);
    this.url = this.#http.url("/chat/completions");
  }

  /** Running totals over every labelBatch call of this teacher (a snapshot). */
  get stats(): ApiTeacherStats {
    return { ...this.#http.stats, ...this.#counts, ...(this.#redactor ? { redactions: this.#redactor.counts } : {}) };
  }

  /** The messages sent for one input (redacted first when redaction is on; each call counts its replacements). */
  messages(input: string): { role: "system" | "user"; content: string }[] {
    const text = this.#redactor ? this.#redactor.apply(input) : input;
    const user = { role: "user" as const, content: renderPrompt(this.config.prompt, text, this.labels) };
    return this.config.system ? [{ role: "system", content: this.config.system }, user] : [user];
  }

  /**
   * One label per input, in input order. Rejects with one ApiTeacherError when any input fails for good (see
   * api-http.ts); never resolves with a partial list.
   */
  async labelBatch(inputs: readonly string[], opts: LabelBatchOptions = {}): Promise<ApiLabel[]> {
    inputs.forEach((x, i) => {
      if (typeof x !== "string") throw new TsdistillError(`api teacher: input ${i} is a ${typeof x}, expected a string`);
    });
    const c = this.config;
    return runBatch(
      inputs.length,
      async (index, signal, onStatus) => {
        const body = JSON.stringify({
          model: c.model,
          messages: this.messages(inputs[index]),
          temperature: c.temperature,
          max_tokens: c.maxTokens,
          logprobs: true,
          top_logprobs: c.topLogprobs,
          n: 1,
          stream: false,
        });
        const r = await this.#http.request("/chat/completions", body, (json, status) => this.#read(json, status), { index, signal, onStatus, onRetry: opts.onRetry });
        return r.ok ? { ok: true, value: { ...r.value, index, attempts: r.attempts } } : r;
      },
      {
        ...opts,
        concurrency: c.concurrency,
        maxRetries: c.maxRetries,
        what: "api teacher",
        doneWord: "labelled",
        resultNoun: "labels",
        retries: () => this.#http.stats.retries,
        onDone: () => this.#counts.labelled++,
        onFailed: () => this.#counts.failed++,
        makeError: (message, status, completed, failed, notStarted) => new ApiTeacherError(message, status, completed, failed, notStarted),
      },
    );
  }

  /** A 200's chat completion → the label (ApiRequestError, not retried, when it is not one or has no logprobs). */
  #read(json: unknown, status: number): Omit<ApiLabel, "index" | "attempts"> {
    const parsed = ChatResponse.safeParse(json);
    if (!parsed.success) {
      throw new ApiRequestError(`api teacher: ${this.url} answered HTTP ${status} but not with a chat completion (${describeZodError(parsed.error)})`, status);
    }
    const choice = parsed.data.choices[0];
    const content = choice.logprobs?.content;
    if (!content) {
      throw new ApiRequestError(`api teacher: ${this.url} returned no logprobs (choices[0].logprobs.content); the server or model must support logprobs: true with top_logprobs`, status);
    }
    const first = content[0];
    const rawTopLogprobs = first ? first.top_logprobs.map((t) => ({ token: t.token, logprob: t.logprob })) : [];
    const text = choice.message?.content ?? content.map((t) => t.token).join("");
    const dist = labelDistribution(rawTopLogprobs, this.matcher);
    let chosen: number | null = this.matcher.labelOfText(text);
    if (chosen < 0) chosen = first ? this.matcher.labelOfToken(first.token) : -1;
    const usage = { promptTokens: parsed.data.usage?.prompt_tokens ?? 0, completionTokens: parsed.data.usage?.completion_tokens ?? 0 };
    this.#http.addUsage(usage.promptTokens, usage.completionTokens);
    if (dist.topK.length === 0) this.#counts.noLabel++;
    return { ...dist, rawTopLogprobs, chosen: chosen >= 0 ? chosen : null, text, usage };
  }
}
