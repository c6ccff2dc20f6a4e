import { z } from "zod";
import { TsdistillError } from "../util/errors.js";
import { describeZodError } from "../util/zod-errors.js";
import { BYTE_SPECIAL, BYTE_VOCAB_SIZE } from "../tokenizers/byte.js";

export const TRANSFORMER_HEADS = ["lm", "classify", "embed"] as const;
export type TransformerHead = (typeof TRANSFORMER_HEADS)[number];

/**
 * A transformer as the user writes it (YAML/JSON `model:` object, or parsed from `transformer:key=value,…`).
 * Fields left out come from the data and tokenizer (vocab, ctx, numClasses, padId) or from defaults.
 */
export const TransformerSpec = z
  .object({
    kind: z.literal("transformer").default("transformer"),
    layers: z.number().int().positive(),
    dim: z.number().int().positive(),
    heads: z.number().int().positive(),
    /** Feed-forward width (default 4·dim). */
    ff: z.number().int().positive().optional(),
    /** Context length in tokens (default: the data's sequence length). */
    ctx: z.number().int().positive().optional(),
    /** Vocabulary size (default: the tokenizer's; byte-level when there is none). */
    vocab: z.number().int().min(2).optional(),
    causal: z.boolean().default(false),
    dropout: z.number().min(0).lt(1).default(0),
    /** Share the token embedding with the LM head (head=lm only). */
    tie: z.boolean().default(false),
    head: z.enum(TRANSFORMER_HEADS).optional(),
    pool: z.enum(["mean", "first"]).default("mean"),
    numClasses: z.number().int().min(2).optional(),
    embedDim: z.number().int().positive().optional(),
    /** Padding token id (masked out of attention and pooling); null for none. */
    padId: z.number().int().min(0).nullable().optional(),
  })
  .strict();
export type TransformerSpecInput = z.input<typeof TransformerSpec>;

/** A fully resolved transformer: what the model is built from and what config.json stores. */
export interface TransformerConfig {
  readonly kind: "transformer";
  readonly vocab: number;
  readonly ctx: number;
  readonly layers: number;
  readonly dim: number;
  readonly heads: number;
  readonly ff: number;
  readonly causal: boolean;
  readonly dropout: number;
  readonly tie: boolean;
  readonly head: TransformerHead;
  readonly pool: "mean" | "first";
  /** Classes of the classify head (null for the other heads). */
  readonly numClasses: number | null;
  /** Width of the embed head's vector (null for the other heads). */
  readonly embedDim: number | null;
  readonly padId: number | null;
}

/** What the data and tokenizer say, for the fields a spec leaves out. */
export interface TransformerContext {
  vocab?: number;
  /** Tokens per sample in the data (the spec's ctx must hold them). */
  seqLen?: number;
  numClasses?: number;
  padId?: number | null;
  /** Head when the spec names none (default "lm"). */
  head?: TransformerHead;
}

/** Validates the spec against itself and the context; errors name the field and what was expected. */
export function resolveTransformerConfig(input: unknown, context: TransformerContext = {}, source = "model"): TransformerConfig {
  const parsed = TransformerSpec.safeParse(input);
  if (!parsed.success) throw new TsdistillError(describeZodError(parsed.error, { file: source }));
  const s = parsed.data;
  const fail = (field: string, why: string): never => {
    throw new TsdistillError(`${source}: ${field}: ${why}`);
  };
  const byteDefaults = s.vocab === undefined && context.vocab === undefined;
  const vocab = s.vocab ?? context.vocab ?? BYTE_VOCAB_SIZE;
  const ctx = s.ctx ?? context.seqLen ?? fail("ctx", "expected the context length in tokens (the data does not give one)");
  const head = s.head ?? context.head ?? "lm";
  const padId = s.padId !== undefined ? s.padId : context.padId !== undefined ? context.padId : byteDefaults ? BYTE_SPECIAL.pad : null;
  if (s.dim % s.heads !== 0) fail("heads", `dim=${s.dim} is not divisible by heads=${s.heads}; expected heads to divide dim`);
  if (context.seqLen !== undefined && context.seqLen > ctx) fail("ctx", `${ctx} is shorter than the data's ${context.seqLen} tokens per sample`);
  if (padId !== null && padId >= vocab) fail("padId", `${padId} is outside the vocabulary [0, ${vocab})`);
  if (s.tie && head !== "lm") fail("tie", `ties the embedding to the LM head; expected head=lm, got head=${head}`);
  if (head !== "lm" && s.causal && s.pool === "first") fail("pool", "first with causal attention sees only the first token; expected pool=mean or no causal");
  const numClasses = head === "classify" ? s.numClasses ?? context.numClasses ?? fail("numClasses", "expected the number of classes for head=classify") : null;
  if (numClasses !== null && numClasses < 2) fail("numClasses", `expected at least 2 classes, got ${numClasses}`);
  return Object.freeze({
    kind: "transformer",
    vocab,
    ctx,
    layers: s.layers,
    dim: s.dim,
    heads: s.heads,
    ff: s.ff ?? 4 * s.dim,
    causal: s.causal,
    dropout: s.dropout,
    tie: s.tie,
    head,
    pool: s.pool,
    numClasses,
    embedDim: head === "embed" ? s.embedDim ?? s.dim : null,
    padId,
  });
}

/** Width of the model's output rows: vocab (lm), classes (classify) or the embedding size (embed). */
export function outputWidth(c: TransformerConfig): number {
  return c.head === "lm" ? c.vocab : c.head === "classify" ? c.numClasses! : c.embedDim!;
}

/** A saved config.json's config, validated as fully as a user's spec (the saved shape fields win on load). */
export function savedTransformerConfig(value: unknown, source: string): TransformerConfig {
  const v = (typeof value === "object" && value !== null ? value : {}) as Record<string, unknown>;
  const { numClasses, embedDim, ...rest } = v;
  const input = { ...rest, ...(numClasses !== null ? { numClasses } : {}), ...(embedDim !== null ? { embedDim } : {}) };
  for (const field of ["vocab", "ctx", "ff", "head", "padId"]) {
    if (!(field in v)) throw new TsdistillError(`${source}: ${field}: missing; expected a saved transformer config`);
  }
  return resolveTransformerConfig(input, {}, source);
}
