import * as tf from "@tensorflow/tfjs-core";
import type { InMemoryDataset } from "../data/dataset.js";
import { nextTokenTargets } from "../losses/next-token.js";
import { listLosses, type TokenInputs } from "../losses/registry.js";
import { nextTokenMask } from "../losses/sequence.js";
import type { TransformerModel } from "../students/transformer.js";
import type { LmTopKCache } from "../teachers/lm-topk-cache.js";
import { hashDataset } from "../data/dataset-hash.js";
import type { CausalLmTeacher } from "../teachers/lm-teacher.js";
import { TransformerLmTeacher } from "../teachers/lm-teacher-model.js";
import type { Tokenizer } from "../tokenizers/tokenizer.js";
import { checkSameVocabulary } from "../tokenizers/compare.js";
import { fit, type FitOptions, type FitResult, type LossFn } from "../train/fit.js";
import { DataError, TsdistillError } from "../util/errors.js";
import { compileLmTerms, lmTermsValue, type CompiledLmTerm, type LmTermSpec } from "./lm-terms.js";
import { distillLmGkd } from "./lm-gkd.js";

export { checkSameVocabulary, tokenizerFingerprint } from "../tokenizers/compare.js";
export { compileLmTerms, lmTermsValue, type CompiledLmTerm, type LmTermSpec } from "./lm-terms.js";

// Token-level distillation of a language model: the student trains on corpus windows against a teacher LM's
// per-token distributions (teacher forcing), with the token terms of the loss registry (token-kl, token-jsd, …).

/** A teacher LM known by its per-token logits [B·T, vocab] (e.g. an ONNX or other in-process LM). */
export interface LmLogitsTeacher {
  readonly vocab: number;
  logits(x: tf.Tensor): tf.Tensor2D;
}

/**
 * The teacher: a tsdistill LM run in-process, any per-token logits function, a top-k cache over the same windows, or
 * any CausalLmTeacher (tsdistill folder, ONNX, API: awaited before each step, see lm-gkd.ts).
 */
export type LmTeacher = TransformerModel | LmLogitsTeacher | LmTopKCache | CausalLmTeacher;

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

const isCausal = (t: LmTeacher): t is CausalLmTeacher => "capabilities" in t && "generate" in t;
const isCache = (t: LmTeacher): t is LmTopKCache => "manifest" in t && "tensors" in t;
const isModel = (t: LmTeacher): t is TransformerModel => "config" in t && "forward" in t;

function teacherVocab(t: Exclude<LmTeacher, CausalLmTeacher>): number {
  return isCache(t) ? t.manifest.vocab : isModel(t) ? t.config.vocab : t.vocab;
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

/** Checks the student, teacher and windows against each other and returns the per-step loss of token-level KD. */
export function lmDistillLoss(opts: LmDistillLossOptions): LossFn {
  const { student, data, epochs } = opts;
  let given = opts.teacher;
  let tokenizers = opts.tokenizers;
  if (isCausal(given)) {
    // In-process: the model itself, synchronously. The others run asynchronously: distillLm awaits them per step.
    if (!(given instanceof TransformerLmTeacher)) throw new TsdistillError(`teacher ${given.name}: runs asynchronously (${given.kind}); use distillLm or distillLmGkd, which await it before each step`);
    tokenizers = tokenizers ? { teacher: given.tokenizer, student: tokenizers.student } : undefined;
    given = given.model;
  }
  const teacher: Exclude<LmTeacher, CausalLmTeacher> = given;
  if (student.config.head !== "lm") throw new TsdistillError(`student: has a ${student.config.head} head; token-level distillation needs head=lm`);
  if (data.sampleShape.length !== 1) throw new DataError(data.name, `sample shape [${data.sampleShape}] is not token windows [ctx]`);
  const T = data.sampleShape[0];
  checkSameVocabulary({ vocab: teacherVocab(teacher), tokenizer: tokenizers?.teacher }, { vocab: student.config.vocab, tokenizer: tokenizers?.student });
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
 * tsdistill LM (run in-process, frozen), any per-token logits function, a top-k cache made from these windows, or
 * any CausalLmTeacher (ONNX, API: their outputs are awaited before each step, through distillLmGkd with λ = 0).
 * Vocabularies must match (checked first, naming both). Default loss: forward KL (token-kl) alone.
 */
export async function distillLm(options: DistillLmOptions): Promise<FitResult> {
  const { student, teacher, data, terms, padId, promptLengths, tokenizers, ...fitOptions } = options;
  if (fitOptions.augment) throw new TsdistillError("distillLm: input augmentation would change the windows the teacher scored; remove augment");
  if (isCausal(teacher) && !(teacher instanceof TransformerLmTeacher)) {
    const { augment: _augment, ...rest } = fitOptions;
    return distillLmGkd({ ...rest, student, teacher, data, terms: terms ?? [{ loss: "token-kl" }], lambda: 0, padId, promptLengths, tokenizer: tokenizers?.student });
  }
  const loss = lmDistillLoss({ student, teacher, data, terms, padId, promptLengths, tokenizers, epochs: fitOptions.epochs });
  return fit(student, data, loss, { label: "distill-lm", ...fitOptions });
}
