import * as tf from "@tensorflow/tfjs-core";
import type { InMemoryDataset } from "../data/dataset.js";
import { windowDataset } from "../data/token-sequences.js";
import { nextTokenTargets } from "../losses/next-token.js";
import { nextTokenMask } from "../losses/sequence.js";
import type { TransformerModel } from "../students/transformer.js";
import type { CausalLmTeacher } from "../teachers/lm-teacher.js";
import type { LmGenerationRecord } from "../teachers/lm-generation-cache.js";
import type { Tokenizer } from "../tokenizers/tokenizer.js";
import { fit, type FitOptions, type FitResult } from "../train/fit.js";
import { DataError, TsdistillError } from "../util/errors.js";
import { compileLmTerms, lmTermsValue, type LmTermSpec } from "./lm-terms.js";
import { distillLmGkd } from "./lm-gkd.js";

/*
 * Sequence-level KD (Kim & Rush 2016): the student trains with cross-entropy on the teacher's generations (a
 * generation cache, lm-generation-cache.ts), alone or mixed with token-level terms against a teacher that shares
 * its vocabulary. The cache is text, tokenised here with the student's tokenizer, so the teacher's tokenizer does
 * not matter for cross-entropy alone.
 */

export interface SequenceKdWindows {
  /** One window per (prompt, continuation): x = the first ctx tokens of prompt ⧺ continuation (⧺ EOS), right-padded. */
  data: InMemoryDataset;
  /** Per window: its prompt tokens, left out of the loss. */
  promptLengths: Int32Array;
  /** Continuations cut to fit the window, and empty ones skipped. */
  truncated: number;
  skipped: number;
}

/** Prompts from window prefixes: the text of the first `length` tokens of each window (special tokens dropped). */
export function windowPrompts(data: InMemoryDataset, tokenizer: Tokenizer, length: number): string[] {
  const T = data.sampleShape[0];
  if (!(Number.isInteger(length) && length >= 1 && length <= T)) throw new TsdistillError(`prompt length ${length}: expected an integer in [1, ${T}]`);
  return Array.from({ length: data.size }, (_, r) => tokenizer.decode(Array.from(data.x.subarray(r * T, r * T + length))));
}

/**
 * The cache's (prompt, continuation) pairs as token windows of the student's tokenizer. Each is prompt ⧺
 * continuation, plus EOS when the teacher stopped by itself; a continuation longer than ctx is cut, and the prompt
 * keeps its last tokens that still fit (at least one). As the teachers do (LmGenerateOptions.documentStart), prompts
 * begin with the student's EOS (or BOS) when `documentStart` (default true) or when empty.
 */
export function sequenceKdWindows(records: readonly LmGenerationRecord[], tokenizer: Tokenizer, opts: { ctx: number; padId: number | null; documentStart?: boolean; name?: string }): SequenceKdWindows {
  const { ctx, padId, documentStart = true } = opts;
  if (!(Number.isInteger(ctx) && ctx >= 1)) throw new TsdistillError(`sequence-level KD: ctx ${ctx}: expected a positive integer`);
  const eos = tokenizer.special.eos;
  const start = eos ?? tokenizer.special.bos;
  const windows: number[] = [];
  const promptLengths: number[] = [];
  let truncated = 0;
  let skipped = 0;
  for (const rec of records) {
    let prompt = tokenizer.encode(rec.prompt);
    if (start !== null && (documentStart || prompt.length === 0)) prompt = [start, ...prompt];
    if (prompt.length === 0) throw new TsdistillError(`sequence-level KD: prompt ${rec.index} is empty and the ${tokenizer.kind} tokenizer has no EOS or BOS token to start from`);
    for (const g of rec.generations) {
      let cont = [...tokenizer.encode(g.text), ...(g.finish === "stop" && eos !== null ? [eos] : [])];
      if (cont.length === 0) {
        skipped++;
        continue;
      }
      if (cont.length > ctx) (cont = cont.slice(0, ctx)), truncated++;
      const p = prompt.slice(-Math.max(1, ctx + 1 - cont.length));
      const seq = [...p, ...cont];
      if (seq.length < ctx + 1) {
        if (padId === null) throw new TsdistillError(`sequence-level KD: prompt ${rec.index} with its continuation is ${seq.length} tokens, shorter than a window of ${ctx + 1}, and there is no pad id to fill it (give the student a padId)`);
        while (seq.length < ctx + 1) seq.push(padId);
      }
      windows.push(...seq);
      promptLengths.push(p.length);
    }
  }
  if (promptLengths.length === 0) throw new DataError(opts.name ?? "generation cache", "holds no non-empty continuation to train on");
  const data = windowDataset(opts.name ?? "sequence-kd", Int32Array.from(windows), ctx, tokenizer.vocabSize);
  return { data, promptLengths: Int32Array.from(promptLengths), truncated, skipped };
}

export interface DistillLmSequenceKdOptions extends Omit<FitOptions, "capture" | "extraParams" | "augment"> {
  student: TransformerModel;
  /** The student's tokenizer (the cache's texts are tokenised with it). */
  tokenizer: Tokenizer;
  /** The cache's records (readLmGenerationCache). */
  records: readonly LmGenerationRecord[];
  /** Default [{ loss: "token-ce" }]: cross-entropy on the teacher's continuations. Terms that read the teacher need `teacher`. */
  terms?: LmTermSpec[];
  /** For mixed token-level terms: a teacher with the student's vocabulary (checked). */
  teacher?: CausalLmTeacher;
  /** Padding id (default the student's padId). */
  padId?: number | null;
  /** Whether the cache's prompts began documents (its manifest's sampling.documentStart; default true). */
  documentStart?: boolean;
}

export interface DistillLmSequenceKdResult extends FitResult {
  /** Batch counts of the training loop (sequence-level KD has no on-policy batches). */
  onPolicyBatches: number;
  dataBatches: number;
  windows: number;
  truncated: number;
  skipped: number;
}

/** Sequence-level KD: trains the student on the cache's continuations (see the top of this file). */
export async function distillLmSequenceKd(options: DistillLmSequenceKdOptions): Promise<DistillLmSequenceKdResult> {
  const { student, tokenizer, records, terms: specs = [{ loss: "token-ce" }], teacher, padId: padOpt, documentStart, ...fitOptions } = options;
  if (student.config.head !== "lm") throw new TsdistillError(`student: has a ${student.config.head} head; sequence-level KD needs head=lm`);
  if (tokenizer.vocabSize > student.config.vocab) throw new TsdistillError(`student: its vocabulary has ${student.config.vocab} ids, its ${tokenizer.kind} tokenizer ${tokenizer.vocabSize}`);
  const padId = padOpt !== undefined ? padOpt : student.config.padId;
  const w = sequenceKdWindows(records, tokenizer, { ctx: student.config.ctx, padId, documentStart });
  const stats = { windows: w.data.size, truncated: w.truncated, skipped: w.skipped };
  const terms = compileLmTerms(specs, "terms", (def, name) => (def.tokenTeacher !== "none" && !teacher ? `${name} reads the teacher; pass a teacher (with the student's vocabulary), or train with token-ce alone` : null));
  if (terms.some((t) => t.def.tokenTeacher !== "none")) {
    const r = await distillLmGkd({ ...fitOptions, student, teacher: teacher!, data: w.data, terms: specs, lambda: 0, padId, promptLengths: w.promptLengths, tokenizer });
    return { ...r, ...stats };
  }
  const epochs = fitOptions.epochs;
  const r = await fit(
    student,
    w.data,
    (logits, ctx) => {
      const promptLengths = Array.from(ctx.batch.indices, (i) => w.promptLengths[i]);
      const tokens = { mask: nextTokenMask(ctx.x, ctx.y, { padId, promptLengths }), targets: nextTokenTargets(ctx.x, ctx.y, padId) };
      return lmTermsValue(terms, logits, tf.zeros([logits.shape[0], 0]) as tf.Tensor2D, tokens, ctx.y, ctx.progress, epochs);
    },
    { label: "distill-lm-seqkd", ...fitOptions },
  );
  const batchSize = fitOptions.batchSize ?? 128;
  return { ...r, ...stats, onPolicyBatches: 0, dataBatches: r.history.length * Math.ceil(w.data.size / batchSize) };
}
