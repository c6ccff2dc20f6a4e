import type { InMemoryDataset } from "../data/dataset.js";
import { TsdistillError } from "../util/errors.js";
import { ApiTextTeacher } from "./api-text-teacher.js";
import type { Teacher } from "./teacher.js";
import type { RedactionCounts } from "./redact.js";

// `--dry-run` for API teachers: builds every request body exactly as labelling would (redaction included) but sends
// nothing, and estimates the tokens and the cost. Tokens are estimated at 4 characters per token (OpenAI's rule of
// thumb for English; the server's tokenizer decides the real count, shown in teacherStats after a real run) plus 4
// per message for the chat format.

export const CHARS_PER_TOKEN = 4;
const TOKENS_PER_MESSAGE = 4;

export interface ApiDryRun {
  url: string;
  model: string;
  /** Requests a real run would make (one per text, before retries). */
  requests: number;
  /** The first `show` request bodies, as they would be sent. */
  examples: unknown[];
  /** "Authorization: Bearer <key from $VAR>" (never the key), or null when apiKeyEnv is null. */
  authorization: string | null;
  estimatedPromptTokens: number;
  estimatedCompletionTokens: number;
  /** From the config's pricing; null without one. */
  estimatedCostUSD: number | null;
  costPer1000LabelsUSD: number | null;
  redactions: RedactionCounts | null;
}

/** The dry run of an api teacher over every row of `data` (their raw texts). */
export function apiDryRun(teacher: Teacher, data: InMemoryDataset, show = 3): ApiDryRun {
  if (!(teacher instanceof ApiTextTeacher)) throw new TsdistillError(`--dry-run: shows what an api teacher (a teacher.yaml of kind: api) would send; ${teacher.name} runs on this machine and sends nothing`);
  const view = data.rawView();
  if (!view || view.kind !== "text") throw new TsdistillError(`--dry-run: teacher ${teacher.name} labels raw texts, but ${data.name} has ${view ? `${view.kind} samples` : "none"}; use --data jsonl:<file>`);
  const api = teacher.api;
  const c = api.config;
  const texts = view.rows(Int32Array.from({ length: data.size }, (_, i) => i));
  const examples: unknown[] = [];
  let promptTokens = 0;
  for (const [i, t] of texts.entries()) {
    const messages = api.messages(String(t));
    for (const m of messages) promptTokens += Math.ceil(m.content.length / CHARS_PER_TOKEN) + TOKENS_PER_MESSAGE;
    if (i < show) examples.push({ model: c.model, messages, temperature: c.temperature, max_tokens: c.maxTokens, logprobs: true, top_logprobs: c.topLogprobs, n: 1, stream: false });
  }
  const completionTokens = texts.length * c.maxTokens;
  const cost = c.pricing ? (promptTokens * c.pricing.inputPerMTok + completionTokens * c.pricing.outputPerMTok) / 1e6 : null;
  return {
    url: api.url,
    model: c.model,
    requests: texts.length,
    examples,
    authorization: c.apiKeyEnv ? `Bearer <the key in $${c.apiKeyEnv}, not shown>` : null,
    estimatedPromptTokens: promptTokens,
    estimatedCompletionTokens: completionTokens,
    estimatedCostUSD: cost,
    costPer1000LabelsUSD: cost === null || texts.length === 0 ? null : (cost / texts.length) * 1000,
    redactions: api.stats.redactions ?? null,
  };
}

/** The dry run as text for the terminal. */
export function formatDryRun(d: ApiDryRun): string {
  const lines = [
    `dry run: nothing was sent. A real run would make ${d.requests} requests to ${d.url} (model ${d.model})${d.authorization ? `, header Authorization: ${d.authorization}` : ", without a key"}.`,
    `The first ${d.examples.length} request bodies:`,
    ...d.examples.map((e) => JSON.stringify(e)),
    `Estimated tokens (${CHARS_PER_TOKEN} characters per token): ${d.estimatedPromptTokens} prompt + ${d.estimatedCompletionTokens} completion.`,
    d.estimatedCostUSD === null
      ? "Estimated cost: unknown (add pricing: {inputPerMTok, outputPerMTok} to teacher.yaml)."
      : `Estimated cost: $${d.estimatedCostUSD.toFixed(4)} ($${d.costPer1000LabelsUSD!.toFixed(4)} per 1,000 labels).`,
    d.redactions
      ? `Redactions: ${d.redactions.total} (email ${d.redactions.email}, phone ${d.redactions.phone}, card ${d.redactions.card}, iban ${d.redactions.iban}, patterns ${d.redactions.patterns}).`
      : "Redaction is off (--redact, or redact: in teacher.yaml, turns it on).",
  ];
  return lines.join("\n");
}
