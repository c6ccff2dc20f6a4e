import * as tf from "@tensorflow/tfjs-core";
import type { InMemoryDataset } from "../data/dataset.js";
import { nextTokenTargets } from "../losses/next-token.js";
import { getLoss, listLosses, type LossDefinition, type TokenInputs } from "../losses/registry.js";
import { nextTokenMask } from "../losses/sequence.js";
import type { TransformerModel } from "../students/transformer.js";
import type { LmTopKCache } from "../teachers/lm-topk-cache.js";
import { hashDataset } from "../teachers/label-cache.js";
import type { Tokenizer } from "../tokenizers/tokenizer.js";
import { checkSameVocabulary } from "../tokenizers/compare.js";
import { fit, type FitOptions, type FitResult, type LossFn } from "../train/fit.js";
import { ScheduledValue, valueAt } from "../train/schedules.js";
import { DataError, TsdistillError } from "../util/errors.js";
import { describeZodError } from "../util/zod-errors.js";

export { checkSameVocabulary, tokenizerFingerprint } from "../tokenizers/compare.js";

// Token-level distillation of a language model: the student trains on corpus windows against a teacher LM's
// per-token distributions (teacher forcing), with the token terms of the loss registry (token-kl, token-jsd, …).

/** A teacher LM known by its per-token logits [B·T, vocab] (e.g. an ONNX or other in-process LM). */
export interface LmLogitsTeacher {
  readonly vocab: number;
  logits(x: tf.Tensor): tf.Tensor2D;
}

/** The teacher: a tsdistill LM run in-process, any per-token logits function, or a top-k cache over the same windows. */
export type LmTeacher = TransformerModel | LmLogitsTeacher | LmTopKCache;

/** One weighted token-level term, as a recipe writes it. */
export interface LmTermSpec {
  /** A registered loss of granularity "token": token-ce, token-kl, token-reverse-kl, token-jsd, token-skew-kl, … */
  loss: string;
  weight?: ScheduledValue;
  options?: Record<string, unknown>;
}

export interface LmDistillLossOptions {
  student: TransformerModel;
  teacher: LmTeacher;
  data: InMemoryDataset;
  /** Default: forward KL alone, [{ loss: "token-kl" }]. */
  terms?: LmTermSpec[];
  /** Padding id left out of the loss (default the student's padId). */
  padId?: number | null;
  /** Per dataset window: leading prompt tokens, left out of the loss. */
  promptLengths?: Int32Array;
  /** Both tokenizers, to name them (and compare them) in the vocabulary check. */
  tokenizers?: { teacher: Tokenizer; student: Tokenizer };
  /** Epochs of the run, for scheduled weights and options. */
  epochs: number;
}

export interface DistillLmOptions extends Omit<LmDistillLossOptions, "epochs">, Omit<FitOptions, "capture" | "extraParams"> {}

const isCache = (t: LmTeacher): t is LmTopKCache => "manifest" in t && "tensors" in t;
const isModel = (t: LmTeacher): t is TransformerModel => "config" in t && "forward" in t;

function teacherVocab(t: LmTeacher): number {
  return isCache(t) ? t.manifest.vocab : isModel(t) ? t.config.vocab : t.vocab;
}

/** A token-level term resolved against the registry: its definition, weight and parsed options. */
export interface CompiledLmTerm {
  def: LossDefinition;
  weight: ScheduledValue;
  options: Record<string, unknown>;
}

/**
 * Resolves token-level term specs (`at` names the list in errors, e.g. "terms"); `refuse` returns why a term cannot
 * run with this teacher and data (one line), or null.
 */
export function compileLmTerms(specs: LmTermSpec[], at: string, refuse: (def: LossDefinition, name: string) => string | null): CompiledLmTerm[] {
  if (specs.length === 0) throw new TsdistillError(`${at}: expected at least one token-level term`);
  const tokenNames = listLosses().filter((d) => d.granularity === "token").map((d) => d.name);
  return specs.map((spec, i) => {
    const where = `${at}[${i}]`;
    const def = getLoss(spec.loss);
    if (!def || def.granularity !== "token") throw new TsdistillError(`${where}.loss: "${spec.loss}" is not a token-level loss; expected one of ${tokenNames.join(", ")}`);
    const why = refuse(def, spec.loss);
    if (why) throw new TsdistillError(`${where}.loss: ${why}`);
    const weight = ScheduledValue.safeParse(spec.weight ?? 1);
    if (!weight.success) throw new TsdistillError(describeZodError(weight.error, { base: `${where}.weight` }));
    const parsed = def.options.safeParse(spec.options ?? {});
    if (!parsed.success) throw new TsdistillError(`${describeZodError(parsed.error, { base: `${where}.options` })} (loss ${spec.loss})`);
    return { def, weight: weight.data, options: parsed.data as Record<string, unknown> };
  });
}

function compileTerms(specs: LmTermSpec[], fromCache: boolean): CompiledLmTerm[] {
  return compileLmTerms(specs, "terms", (def, name) => {
    if (def.tokenTeacher === "sampled-logprobs") return `${name} needs tokens sampled from the student and scored by the teacher (an on-policy loop), not corpus windows`;
    if (fromCache && def.tokenTeacher === "logits") {
      const ok = listLosses().filter((d) => d.granularity === "token" && (d.tokenTeacher === "none" || d.tokenTeacher === "logits-or-top-k")).map((d) => d.name);
      return `${name} needs the teacher's full logits; a top-k cache serves ${ok.join(", ")}`;
    }
    return null;
  });
}

/** Σ_i w_i·term_i at this point of training (scheduled weights and options resolved); `teacherLogits` may be [N, 0]. */
export function lmTermsValue(terms: readonly CompiledLmTerm[], logits: tf.Tensor2D, teacherLogits: tf.Tensor2D, tokens: TokenInputs, labels: tf.Tensor1D, progress: number, epochs: number): tf.Scalar {
  let total: tf.Scalar = tf.scalar(0);
  for (const term of terms) {
    const w = valueAt(term.weight, progress, epochs);
    if (w === 0) continue;
    const options = Object.fromEntries(Object.entries(term.options).map(([k, v]) => [k, typeof v === "object" && v !== null && "kind" in v ? valueAt(v as ScheduledValue, progress, epochs) : v]));
    const value = term.def.compute({ student: logits, teacher: teacherLogits, studentLogits: logits, teacherLogits, labels, epoch: progress, tokens }, options);
    total = tf.add(total, tf.mul(value, w));
  }
  return total;
}

/** Checks the student, teacher and windows against each other and returns the per-step loss of token-level KD. */
export function lmDistillLoss(opts: LmDistillLossOptions): LossFn {
  const { student, teacher, data, epochs } = opts;
  if (student.config.head !== "lm") throw new TsdistillError(`student: has a ${student.config.head} head; token-level distillation needs head=lm`);
  if (data.sampleShape.length !== 1) throw new DataError(data.name, `sample shape [${data.sampleShape}] is not token windows [ctx]`);
  const T = data.sampleShape[0];
  checkSameVocabulary({ vocab: teacherVocab(teacher), tokenizer: opts.tokenizers?.teacher }, { vocab: student.config.vocab, tokenizer: opts.tokenizers?.student });
  if (T > student.config.ctx) throw new TsdistillError(`student: its context is ${student.config.ctx} tokens, the windows have ${T}`);
  if (isModel(teacher) && T > teacher.config.ctx) throw new TsdistillError(`teacher: its context is ${teacher.config.ctx} tokens, the windows have ${T}`);
  if (isCache(teacher)) {
    const m = teacher.manifest;
    if (m.ctx !== T || m.numWindows !== data.size) throw new DataError(data.name, `the top-k cache holds ${m.numWindows} windows of ${m.ctx} tokens, the data ${data.size} of ${T}; expected the windows it was made from`);
    const hash = hashDataset(data);
    if (m.datasetHash !== hash) throw new DataError(data.name, `stale top-k cache: it was made from other windows (dataset hash ${m.datasetHash}, these are ${hash})`);
  }
  const promptLengths = opts.promptLengths;
  if (promptLengths && promptLengths.length !== data.size) throw new TsdistillError(`promptLengths: ${promptLengths.length} values for ${data.size} windows`);
  const terms = compileTerms(opts.terms ?? [{ loss: "token-kl" }], isCache(teacher));
  const padId = opts.padId !== undefined ? opts.padId : student.config.padId;
  const needsLogits = terms.some((t) => t.def.tokenTeacher === "logits" || t.def.tokenTeacher === "logits-or-top-k");

  return (logits, ctx) => {
    const N = logits.shape[0];
    const mask = nextTokenMask(ctx.x, ctx.y, { padId, promptLengths: promptLengths ? Array.from(ctx.batch.indices, (r) => promptLengths[r]) : undefined });
    const tokens: TokenInputs = { mask, targets: nextTokenTargets(ctx.x, ctx.y, padId) };
    let teacherLogits: tf.Tensor2D;
    if (isCache(teacher)) {
      tokens.teacherTopK = teacher.tensors(ctx.batch.indices);
      teacherLogits = tf.zeros([N, 0]); // no full logits: the terms allowed with a cache never read them
    } else if (needsLogits) {
      teacherLogits = isModel(teacher) ? teacher.forward(ctx.x).logits : teacher.logits(ctx.x);
      if (teacherLogits.shape[0] !== N || teacherLogits.shape[1] !== logits.shape[1]) {
        throw new TsdistillError(`teacher: logits of shape [${teacherLogits.shape}], expected [${N}, ${logits.shape[1]}] (one row per token)`);
      }
    } else {
      teacherLogits = tf.zeros([N, 0]);
    }
    return lmTermsValue(terms, logits, teacherLogits, tokens, ctx.y, ctx.progress, epochs);
  };
}

/**
 * Token-level knowledge distillation of a causal LM (Kim & Rush word-level KD and its divergence variants): the
 * student trains on the windows of `data` against the teacher's next-token distributions. The teacher is a
 * tsdistill LM (run in-process, frozen), any per-token logits function, or a top-k cache made from these windows.
 * Vocabularies must match (checked first, naming both). Default loss: forward KL (token-kl) alone.
 */
export function distillLm(options: DistillLmOptions): Promise<FitResult> {
  const { student, teacher, data, terms, padId, promptLengths, tokenizers, ...fitOptions } = options;
  if (fitOptions.augment) throw new TsdistillError("distillLm: input augmentation would change the windows the teacher scored; remove augment");
  const loss = lmDistillLoss({ student, teacher, data, terms, padId, promptLengths, tokenizers, epochs: fitOptions.epochs });
  return fit(student, data, loss, { label: "distill-lm", ...fitOptions });
}
