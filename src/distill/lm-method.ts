import type { InMemoryDataset } from "../data/dataset.js";
import { nextTokenCrossEntropy } from "../losses/next-token.js";
import type { TransformerModel } from "../students/transformer.js";
import type { CausalLmTeacher } from "../teachers/lm-teacher.js";
import type { LmGenerationRecord } from "../teachers/lm-generation-cache.js";
import type { LmTopKCache } from "../teachers/lm-topk-cache.js";
import type { Tokenizer } from "../tokenizers/tokenizer.js";
import { fit, type FitOptions, type FitResult } from "../train/fit.js";
import { TsdistillError } from "../util/errors.js";
import { distillLm } from "./lm-distill.js";
import { distillLmGkd, GKD_DEFAULTS } from "./lm-gkd.js";
import { distillLmSequenceKd } from "./lm-seqkd.js";
import type { LmTermSpec } from "./lm-terms.js";

/*
 * The LM distillation methods as the CLI and the LM recipe name them, each mapped onto the library's loops:
 *   alone       next-token cross-entropy on the corpus, no teacher
 *   kl          forward KL per token, T²·KL(P_T ‖ P_S)          (distillLm, token-kl)
 *   reverse-kl  reverse KL per token, T²·KL(P_S ‖ P_T)          (token-reverse-kl)
 *   jsd         generalised JSD(β) per token                    (token-jsd)
 *   skew-kl     skew KL, KL(P_T ‖ α·P_T + (1−α)·P_S)           (token-skew-kl)
 *   topk        top-k KD with a tail bucket from a top-k cache  (token-topk-kd over an LmTopKCache)
 *   gkd         on-policy GKD: a share λ of batches sampled by the student at τ, JSD(β) on all (distillLmGkd)
 *   seqkd       sequence-level KD: cross-entropy on the teacher's generations (a generation cache)
 */

export const LM_METHODS = ["alone", "kl", "reverse-kl", "jsd", "skew-kl", "topk", "gkd", "seqkd"] as const;
export type LmMethod = (typeof LM_METHODS)[number];

export interface LmMethodSettings {
  method: LmMethod;
  /** Softmax temperature of the token terms (default 1). */
  temperature?: number;
  /** JSD's β (jsd, gkd; default 0.5). */
  beta?: number;
  /** Skew KL's α (default 0.1). */
  alpha?: number;
  /** Top-k entries per token (topk; default the cache's k). */
  k?: number;
  /** GKD: share of on-policy batches (default 0.5) and the student's sampling temperature τ (default 0.9). */
  lambda?: number;
  tau?: number;
  /** GKD: prompt tokens kept from each window before the student samples (default ⌈T/2⌉). */
  promptLength?: number;
}

export interface RunLmMethodOptions extends Omit<FitOptions, "capture" | "extraParams" | "augment" | "label"> {
  settings: LmMethodSettings;
  student: TransformerModel;
  tokenizer: Tokenizer;
  /** Training windows (the corpus's train split). */
  data: InMemoryDataset;
  /** Every method but alone, topk and seqkd. */
  teacher?: CausalLmTeacher | null;
  /** topk: a cache made from `data`'s windows. */
  topKCache?: LmTopKCache | null;
  /** seqkd: the generation cache's records. */
  generations?: readonly LmGenerationRecord[] | null;
  /** seqkd: whether the cache's prompts began documents (its manifest's sampling.documentStart). */
  generationsDocumentStart?: boolean;
}

export interface LmMethodResult extends FitResult {
  method: LmMethod;
  /** Optimiser steps taken (batches over all epochs). */
  steps: number;
  onPolicyBatches?: number;
}

/** The token terms of a teacher-forced method. */
export function lmMethodTerms(s: LmMethodSettings): LmTermSpec[] {
  const temperature = s.temperature ?? 1;
  switch (s.method) {
    case "kl":
      return [{ loss: "token-kl", options: { temperature } }];
    case "reverse-kl":
      return [{ loss: "token-reverse-kl", options: { temperature } }];
    case "jsd":
    case "gkd":
      return [{ loss: "token-jsd", options: { beta: s.beta ?? GKD_DEFAULTS.beta, temperature } }];
    case "skew-kl":
      return [{ loss: "token-skew-kl", options: { alpha: s.alpha ?? 0.1, temperature } }];
    case "topk":
      return [{ loss: "token-topk-kd", options: { k: s.k ?? 20, temperature } }];
    case "alone":
    case "seqkd":
      return [{ loss: "token-ce" }];
  }
}

/** Whether a method needs the teacher itself while the student trains (not only a cache of it). */
export const methodNeedsTeacher = (m: LmMethod): boolean => !["alone", "topk", "seqkd"].includes(m);

/** Trains `student` with one method (see the top of this file); steps are equal across methods for equal windows, epochs and batch size. */
export async function runLmMethod(o: RunLmMethodOptions): Promise<LmMethodResult> {
  const { settings: s, student, tokenizer, data, teacher, topKCache, generations, generationsDocumentStart, ...fitOptions } = o;
  const batchSize = fitOptions.batchSize ?? 128;
  const stepsOf = (windows: number) => fitOptions.epochs * Math.ceil(windows / batchSize);
  const label = `lm-${s.method}`;
  const pad = student.config.padId;
  if (s.method === "alone") {
    const r = await fit(student, data, (logits, c) => nextTokenCrossEntropy(logits, c.x, c.y, pad), { ...fitOptions, label });
    return { ...r, method: s.method, steps: stepsOf(data.size) };
  }
  if (s.method === "seqkd") {
    if (!generations) throw new TsdistillError("method seqkd: needs a generation cache of the teacher (tsdistill label --generations N)");
    const r = await distillLmSequenceKd({ ...fitOptions, label, student, tokenizer, records: generations, documentStart: generationsDocumentStart });
    return { ...r, method: s.method, steps: stepsOf(r.windows) };
  }
  const terms = lmMethodTerms(s);
  if (s.method === "topk") {
    if (!topKCache) throw new TsdistillError("method topk: needs a top-k cache of the teacher over these windows (tsdistill label --top-k K)");
    if (s.k !== undefined && s.k > topKCache.manifest.k) throw new TsdistillError(`method topk: k = ${s.k}, but the cache holds the top ${topKCache.manifest.k} per token`);
    const k = s.k ?? topKCache.manifest.k;
    const r = await distillLm({ ...fitOptions, label, student, teacher: topKCache, data, terms: [{ loss: "token-topk-kd", options: { k, temperature: s.temperature ?? 1 } }], tokenizers: undefined });
    return { ...r, method: s.method, steps: stepsOf(data.size) };
  }
  if (!teacher) throw new TsdistillError(`method ${s.method}: needs a teacher (--teacher)`);
  if (s.method === "gkd") {
    const sampling = { temperature: s.tau ?? GKD_DEFAULTS.temperature };
    // A teacher without full logits (an API) gets GKD's black-box defaults: top-k KD on data batches, sampled-token reverse KL on sampled ones.
    const gkdTerms = teacher.capabilities.logits ? terms : undefined;
    const r = await distillLmGkd({ ...fitOptions, label, student, teacher, data, terms: gkdTerms, lambda: s.lambda ?? GKD_DEFAULTS.lambda, sampling, promptLength: s.promptLength, tokenizer });
    return { ...r, method: s.method, steps: stepsOf(data.size) };
  }
  const r = await distillLm({ ...fitOptions, label, student, teacher, data, terms, tokenizers: teacher.tokenizer ? { teacher: teacher.tokenizer, student: tokenizer } : undefined });
  return { ...r, method: s.method, steps: stepsOf(data.size) };
}
