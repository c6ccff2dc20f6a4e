import * as tf from "@tensorflow/tfjs-core";
import type { InMemoryDataset } from "../data/dataset.js";
import { generate, type GenerateOptions } from "../generate/generate.js";
import { nextTokenTargets } from "../losses/next-token.js";
import type { TrainableModel } from "../students/trainable.js";
import type { TransformerModel } from "../students/transformer.js";
import type { Tokenizer } from "../tokenizers/tokenizer.js";
import { TsdistillError } from "../util/errors.js";

// Language-model evaluation: held-out perplexity and bits per byte, next-token agreement between two models,
// teacher-scored NLL of generated text, and generation speed.

/** Per-token logits [B·T, V] of token windows x [B, T] (an LM head's forward; an ONNX or API teacher's equivalent). */
export type LmLogits = (x: tf.Tensor) => tf.Tensor2D;

/** A model's per-token logits as an LmLogits. */
export function lmLogitsOf(model: TrainableModel): LmLogits {
  return (x) => model.forward(x).logits;
}

const LN2 = Math.log(2);

// bpb = Σ nats / (ln 2 · bytes)
/** Bits per byte of text whose tokens cost `totalNats` in all (nats per token × tokens) and which is `bytes` long in UTF-8. */
export function bitsPerByte(totalNats: number, bytes: number): number {
  if (!(Number.isFinite(bytes) && bytes > 0)) throw new TsdistillError(`bits per byte: the text's byte count ${bytes} must be > 0`);
  return totalNats / (LN2 * bytes);
}

/**
 * UTF-8 bytes of the text a window dataset's targets spell: every target token (each window's x[1..] and y, in
 * row order; for corpus windows every token after the first exactly once) decoded together. Special tokens (EOS,
 * padding) decode to nothing, so they add nats but no bytes, as bits-per-byte figures usually count.
 */
export function targetTextBytes(data: InMemoryDataset, tokenizer: Tokenizer, ignoreId: number | null = null): number {
  const T = data.sampleShape[0];
  const ids: number[] = [];
  for (let r = 0; r < data.size; r++) {
    for (let t = 1; t < T; t++) ids.push(data.x[r * T + t]);
    ids.push(data.y[r]);
  }
  return Buffer.byteLength(tokenizer.decode(ignoreId === null ? ids : ids.filter((id) => id !== ignoreId)), "utf8");
}

export interface HeldOutLmMetrics {
  /** Positions scored (padding targets left out). */
  tokens: number;
  /** Mean cross-entropy, nats per token. */
  natsPerToken: number;
  /** e^natsPerToken. */
  perplexity: number;
  /** Σ nats / (ln 2 · textBytes), or null when no byte count was given. */
  bitsPerByte: number | null;
  /** Share of positions whose top-1 token is the target. */
  accuracy: number;
}

interface WindowOptions {
  batchSize?: number;
  /** Targets equal to this id (padding) are not scored. */
  ignoreId?: number | null;
}

/** Runs `fn` on every batch of windows with the batch's targets [B·T] (−1 = not scored); `fn` returns host numbers. */
function overWindows(data: InMemoryDataset, { batchSize = 64, ignoreId = null }: WindowOptions, fn: (x: tf.Tensor, targets: tf.Tensor1D, scored: tf.Tensor1D) => number[]): number[] {
  let totals: number[] = [];
  for (const batch of data.batchesSync({ batchSize })) {
    const values = tf.tidy(() => {
      const x = tf.tensor(batch.x, [batch.size, ...data.sampleShape]);
      const targets = nextTokenTargets(x, tf.tensor1d(batch.y, "int32"), ignoreId);
      return fn(x, targets, tf.cast(tf.greaterEqual(targets, 0), "float32") as tf.Tensor1D);
    });
    totals = totals.length ? totals.map((v, i) => v + values[i]) : values;
  }
  return totals;
}

function checkRows(what: string, logits: tf.Tensor2D, x: tf.Tensor): void {
  if (logits.rank !== 2 || logits.shape[0] !== x.shape[0] * x.shape[1]!) {
    throw new TsdistillError(`${what}: ${logits.shape[0]} logits rows for ${x.shape[0]}×${x.shape[1]} tokens; expected one row per token (an LM)`);
  }
}

/** Held-out next-token metrics of a language model over a window dataset; `textBytes` (see targetTextBytes) adds bits per byte. */
export function heldOutLmMetrics(model: LmLogits | TrainableModel, data: InMemoryDataset, opts: WindowOptions & { textBytes?: number } = {}): HeldOutLmMetrics {
  const logitsOf = typeof model === "function" ? model : lmLogitsOf(model);
  const [tokens, nats, hits] = overWindows(data, opts, (x, targets, scored) => {
    const logits = logitsOf(x);
    checkRows("heldOutLmMetrics", logits, x);
    const safe = tf.maximum(targets, 0);
    const nll = tf.neg(tf.sum(tf.mul(tf.sum(tf.mul(tf.logSoftmax(logits), tf.oneHot(tf.cast(safe, "int32"), logits.shape[1])), 1), scored)));
    const hit = tf.sum(tf.mul(tf.cast(tf.equal(tf.argMax(logits, 1), targets), "float32"), scored));
    return [tf.sum(scored).dataSync()[0], nll.dataSync()[0], hit.dataSync()[0]];
  });
  const natsPerToken = tokens ? nats / tokens : 0;
  return {
    tokens,
    natsPerToken,
    perplexity: Math.exp(natsPerToken),
    bitsPerByte: opts.textBytes === undefined ? null : bitsPerByte(nats, opts.textBytes),
    accuracy: tokens ? hits / tokens : 0,
  };
}

export interface AgreementMetrics {
  tokens: number;
  /** Share of scored positions where both models' top-1 next token is the same. */
  agreement: number;
}

/** Next-token top-1 agreement between a teacher and a student on the same windows (ties: the lowest id). */
export function nextTokenAgreement(teacher: LmLogits | TrainableModel, student: LmLogits | TrainableModel, data: InMemoryDataset, opts: WindowOptions = {}): AgreementMetrics {
  const [t, s] = [teacher, student].map((m) => (typeof m === "function" ? m : lmLogitsOf(m)));
  const [tokens, same] = overWindows(data, opts, (x, _targets, scored) => {
    const [lt, ls] = [t(x), s(x)];
    checkRows("nextTokenAgreement (teacher)", lt, x);
    checkRows("nextTokenAgreement (student)", ls, x);
    if (lt.shape[1] !== ls.shape[1]) throw new TsdistillError(`nextTokenAgreement: the teacher has ${lt.shape[1]} tokens in its vocabulary, the student ${ls.shape[1]}; expected one vocabulary`);
    const agree = tf.sum(tf.mul(tf.cast(tf.equal(tf.argMax(lt, 1), tf.argMax(ls, 1)), "float32"), scored));
    return [tf.sum(scored).dataSync()[0], agree.dataSync()[0]];
  });
  return { tokens, agreement: tokens ? same / tokens : 0 };
}

/** log P(ids[i] | ids[<i]) for i = 1 … n−1 (n−1 values), as a teacher scores a whole sequence. */
export type SequenceLogprobs = (ids: readonly number[]) => number[] | Promise<number[]>;

/**
 * A model's SequenceLogprobs from its per-token logits. Sequences longer than the context are scored in windows of
 * ctx tokens advancing by ⌈ctx/2⌉, each token once, so every token after the first window sees ≥ ⌈ctx/2⌉ tokens
 * of context (the usual strided perplexity).
 */
export function modelSequenceLogprobs(model: TransformerModel): SequenceLogprobs {
  const ctx = model.config.ctx;
  const stride = Math.ceil(ctx / 2);
  return (ids) => {
    const n = ids.length;
    const out: number[] = [];
    let next = 1; // first target not scored yet
    for (let begin = 0; next < n; begin += stride) {
      const end = Math.min(begin + ctx, n);
      const rows = tf.tidy(() => tf.logSoftmax(model.forward(tf.tensor2d([Array.from(ids.slice(begin, end))])).logits).arraySync());
      // Row r predicts ids[begin + r + 1].
      for (let j = Math.max(next, begin + 1); j <= Math.min(end, n - 1); j++) out.push(rows[j - begin - 1][ids[j]]);
      next = Math.min(end, n - 1) + 1;
    }
    return out;
  };
}

export interface GeneratedSample {
  prompt: number[];
  continuation: number[];
}

export interface TeacherNllMetrics {
  samples: number;
  /** Continuation tokens scored. */
  tokens: number;
  /** −mean log P_T over every continuation token (nats per token). */
  nllPerToken: number;
  /** Each sample's mean NLL per continuation token (NaN for an empty continuation). */
  perSample: number[];
}

/** Teacher-scored NLL of (student-)generated continuations: −log P_T(continuation | prompt), per token. */
export async function teacherScoredNll(samples: readonly GeneratedSample[], teacherLogprobs: SequenceLogprobs): Promise<TeacherNllMetrics> {
  let tokens = 0;
  let total = 0;
  const perSample: number[] = [];
  for (const [i, s] of samples.entries()) {
    if (s.prompt.length === 0) throw new TsdistillError(`teacherScoredNll: sample ${i} has an empty prompt; expected at least one token (e.g. BOS)`);
    const ids = [...s.prompt, ...s.continuation];
    const lp = await teacherLogprobs(ids);
    if (lp.length !== ids.length - 1) throw new TsdistillError(`teacherScoredNll: the teacher returned ${lp.length} log-probs for a sequence of ${ids.length} tokens; expected ${ids.length - 1}`);
    const cont = lp.slice(s.prompt.length - 1);
    const nll = -cont.reduce((a, b) => a + b, 0);
    perSample.push(cont.length ? nll / cont.length : NaN);
    tokens += cont.length;
    total += nll;
  }
  return { samples: samples.length, tokens, nllPerToken: tokens ? total / tokens : 0, perSample };
}

/** One generation per prompt (prompt i sampled with seed + i). */
export function generateSamples(model: TransformerModel, prompts: readonly (readonly number[])[], opts: GenerateOptions): GeneratedSample[] {
  return prompts.map((prompt, i) => ({ prompt: [...prompt], continuation: generate(model, prompt, { ...opts, seed: (opts.seed ?? 0) + i }).ids }));
}

export interface GenerationSpeed {
  /** Tokens generated in the timed runs. */
  tokens: number;
  seconds: number;
  /** Wall milliseconds per generated token (prefill included), KV-cached. */
  msPerToken: number;
}

/** Times generation over the prompts (after `warmup` untimed generations of the first prompt). */
export function generationSpeed(model: TransformerModel, prompts: readonly (readonly number[])[], opts: GenerateOptions & { warmup?: number }): GenerationSpeed {
  const { warmup = 1, ...gen } = opts;
  if (prompts.length === 0) throw new TsdistillError("generationSpeed: no prompts given");
  for (let w = 0; w < warmup; w++) generate(model, prompts[0], gen);
  let tokens = 0;
  const t0 = performance.now();
  prompts.forEach((p, i) => (tokens += generate(model, p, { ...gen, seed: (gen.seed ?? 0) + i }).ids.length));
  const seconds = (performance.now() - t0) / 1000;
  return { tokens, seconds, msPerToken: tokens ? (seconds * 1000) / tokens : NaN };
}
