import * as tf from "@tensorflow/tfjs-core";
import type { Batch, BatchOptions, DataSource, InMemoryDataset } from "../data/dataset.js";
import { generate } from "../generate/generate.js";
import { checkSampling, type SamplingOptions } from "../generate/sample.js";
import { nextTokenTargets } from "../losses/next-token.js";
import type { LossDefinition, TokenInputs } from "../losses/registry.js";
import { nextTokenMask } from "../losses/sequence.js";
import type { TransformerModel } from "../students/transformer.js";
import type { CausalLmTeacher } from "../teachers/lm-teacher.js";
import { logprobsOfTargets, rowTargets } from "../teachers/lm-teacher.js";
import type { LmTopKRows } from "../teachers/lm-topk-cache.js";
import { checkSameVocabulary } from "../tokenizers/compare.js";
import type { Tokenizer } from "../tokenizers/tokenizer.js";
import { fit, type FitOptions, type FitResult } from "../train/fit.js";
import { DataError, TsdistillError } from "../util/errors.js";
import { Rng } from "../util/rng.js";
import { compileLmTerms, lmTermsValue, type CompiledLmTerm, type LmTermSpec } from "./lm-terms.js";

/*
 * On-policy distillation of a causal LM (GKD, Agarwal et al. 2024), and token-level KD from any CausalLmTeacher.
 *
 * Each batch of corpus windows is, with probability λ, replaced by continuations the student samples itself: the
 * first `promptLength` tokens of every window are kept as the prompt and the student generates the rest (τ, top-k,
 * top-p; no gradient flows through sampling; it samples with its weights of that moment). The teacher then scores
 * the batch — full logits (tsdistill, ONNX), its top-k (an API), or only the sampled tokens' log-probs — and the
 * registry's token terms are taken over the continuation tokens (prompt and padding masked). On the other batches
 * the data's windows are used as they are (supervised token-level KD). With λ = 0 this is plain token-level KD,
 * from teachers that run asynchronously (ONNX, API) too.
 *
 * Terms: `terms` on data batches, `onPolicyTerms` on sampled ones (default: the same). Defaults follow TRL's
 * GKDTrainer — JSD(β = 0.5) at T = 1, λ = 0.5, sampling τ = 0.9 — when the teacher gives logits; a teacher with
 * only top-k and token log-probs (an API) defaults to token-topk-kd on data batches and sampled-token reverse KL
 * (REINFORCE; unbiased for reverse KL when τ = 1) on sampled ones.
 *
 * Determinism: the choice of batch kind and the sampling seeds come from a stream forked off each epoch's shuffle
 * stream, so the same seed and backend give the same batches, samples and weights (a λ-independent draw per batch:
 * a larger λ only adds on-policy batches). The teacher's outputs are fetched (awaited) before each step, outside
 * the gradient tape; the student's step is fit()'s (optimiser, schedule, checkpoints, reporter as usual).
 */

export const GKD_DEFAULTS = { lambda: 0.5, temperature: 0.9, beta: 0.5 } as const;

export interface DistillLmGkdOptions extends Omit<FitOptions, "capture" | "extraParams" | "augment"> {
  student: TransformerModel;
  teacher: CausalLmTeacher;
  /** Token windows [ctx] in the student's ids (= the teacher's: the vocabulary is checked first). */
  data: InMemoryDataset;
  /** Share λ ∈ [0, 1] of batches whose continuations the student samples (default 0.5). */
  lambda?: number;
  /** The student's sampling on on-policy batches (default τ = 0.9, no top-k / top-p). */
  sampling?: SamplingOptions;
  /** Leading window tokens kept as the prompt on on-policy batches (default ⌈T/2⌉; 1 ≤ P ≤ T). */
  promptLength?: number;
  /** End-of-sequence id: a sample stops there and the rest of its window is padding (needs a padId); default the tokenizer's EOS. */
  eos?: number | null;
  terms?: LmTermSpec[];
  onPolicyTerms?: LmTermSpec[];
  /** Padding id left out of the loss (default the student's padId). */
  padId?: number | null;
  /** Per data window: leading prompt tokens left out of the loss on data batches. */
  promptLengths?: Int32Array;
  /** The student's tokenizer, for the vocabulary check (the teacher's is its own). */
  tokenizer?: Tokenizer;
  /** After each batch is prepared: its kind and, on on-policy batches, the teacher's mean NLL of the sampled tokens. */
  onBatch?: (info: GkdBatchInfo) => void;
}

export interface GkdBatchInfo {
  /** Batches prepared so far (1-based). */
  batch: number;
  onPolicy: boolean;
  /** −mean log P_T over the sampled continuation tokens (null on data batches or when the teacher gives no log-probs). */
  sampleTeacherNll: number | null;
}

export interface DistillLmGkdResult extends FitResult {
  onPolicyBatches: number;
  dataBatches: number;
  /** Per on-policy batch, in order: the teacher's mean NLL of the student's samples (nats/token). */
  sampleTeacherNll: number[];
}

/** What the teacher gave for one batch, fetched before the step. */
interface Prepared {
  onPolicy: boolean;
  promptLengths: Int32Array | null;
  logits: Float32Array | null;
  topK: LmTopKRows | null;
  targetLogprobs: Float32Array | null;
}

type Need = { logits: boolean; topK: number; targetLogprobs: boolean };

function needsOf(terms: CompiledLmTerm[], teacher: CausalLmTeacher): Need {
  const need: Need = { logits: false, topK: 0, targetLogprobs: false };
  for (const t of terms) {
    if (t.def.tokenTeacher === "logits") need.logits = true;
    else if (t.def.tokenTeacher === "sampled-logprobs") need.targetLogprobs = true;
    else if (t.def.tokenTeacher === "logits-or-top-k") {
      if (teacher.capabilities.logits) need.logits = true;
      else need.topK = Math.max(need.topK, t.options.k as number);
    }
  }
  return need;
}

function compile(specs: LmTermSpec[], at: string, teacher: CausalLmTeacher, onPolicy: boolean): CompiledLmTerm[] {
  const c = teacher.capabilities;
  const terms = compileLmTerms(specs, at, (def: LossDefinition, name) => {
    const needs = def.tokenTeacher ?? "none";
    if (needs === "sampled-logprobs" && !onPolicy) return `${name} needs tokens sampled from the student; put it in onPolicyTerms`;
    if (needs === "sampled-logprobs" && !c.tokenLogprobs) return `${name} needs the teacher's log-probs of given tokens, which ${teacher.name} cannot give (its tokenizer is unknown)`;
    if (needs === "logits" && !c.logits) return `${name} needs the teacher's full logits; ${teacher.name} gives ${c.maxTopK > 0 ? `only its top ${c.maxTopK} per token (use token-topk-kd${onPolicy ? " or token-sampled-reverse-kl" : ""})` : "no per-token outputs"}`;
    if (needs === "logits-or-top-k" && !c.logits && c.maxTopK === 0) return `${name} needs the teacher's logits or top-k; ${teacher.name} gives neither`;
    return null;
  });
  if (!c.logits) {
    const ks = new Set(terms.filter((t) => t.def.tokenTeacher === "logits-or-top-k").map((t) => t.options.k as number));
    if (ks.size > 1) throw new TsdistillError(`${at}: the top-k terms ask for different k (${[...ks].join(", ")}); one request per batch serves one k`);
    for (const k of ks) if (k > c.maxTopK) throw new TsdistillError(`${at}: token-topk-kd with k = ${k}, but ${teacher.name} gives at most ${c.maxTopK} per token`);
  }
  return terms;
}

function defaultTerms(teacher: CausalLmTeacher): { data: LmTermSpec[]; onPolicy: LmTermSpec[] | null } {
  if (teacher.capabilities.logits) return { data: [{ loss: "token-jsd", options: { beta: GKD_DEFAULTS.beta } }], onPolicy: null };
  const data: LmTermSpec[] = teacher.capabilities.maxTopK > 0 ? [{ loss: "token-topk-kd", options: { k: teacher.capabilities.maxTopK } }] : [{ loss: "token-ce" }];
  return { data, onPolicy: teacher.capabilities.tokenLogprobs ? [{ loss: "token-sampled-reverse-kl" }] : null };
}

/** Replaces each window by its first `P` tokens (cut at padding) and the student's sampled continuation. */
function sampleBatch(student: TransformerModel, raw: Batch, T: number, P: number, sampling: SamplingOptions, eos: number | null, padId: number | null, seed: number): { batch: Batch; promptLengths: Int32Array } {
  const x = new Float32Array(raw.size * T);
  const y = new Int32Array(raw.size);
  const promptLengths = new Int32Array(raw.size);
  const rng = new Rng(seed, "gkd-samples");
  for (let b = 0; b < raw.size; b++) {
    const prompt: number[] = [];
    for (let t = 0; t < P; t++) {
      const id = raw.x[b * T + t];
      if (id === padId && t > 0) break;
      prompt.push(id);
    }
    const g = generate(student, prompt, { ...sampling, maxTokens: T + 1 - prompt.length, eos: padId === null ? null : eos, seed: rng.nextUint32() });
    const seq = [...prompt, ...g.ids];
    while (seq.length < T + 1) seq.push(padId!);
    for (let t = 0; t < T; t++) x[b * T + t] = seq[t];
    y[b] = seq[T];
    promptLengths[b] = prompt.length;
  }
  return { batch: { x, y, indices: raw.indices, size: raw.size }, promptLengths };
}

/**
 * On-policy distillation (GKD) of a causal LM from any CausalLmTeacher; λ = 0 is token-level KD on the data's
 * windows. See the top of this file for the batch kinds, terms and determinism.
 */
export async function distillLmGkd(options: DistillLmGkdOptions): Promise<DistillLmGkdResult> {
  const { student, teacher, data, terms: termSpecs, onPolicyTerms: onSpecs, padId: padOpt, promptLengths: dataPrompts, tokenizer, onBatch, ...fitOptions } = options;
  if ((fitOptions as { augment?: unknown }).augment) throw new TsdistillError("distillLmGkd: input augmentation would change the windows the teacher scores; remove augment");
  const lambda = options.lambda ?? GKD_DEFAULTS.lambda;
  if (!(lambda >= 0 && lambda <= 1)) throw new TsdistillError(`lambda ${lambda}: expected a share of on-policy batches in [0, 1]`);
  if (student.config.head !== "lm" || !student.config.causal) throw new TsdistillError(`student: has a ${student.config.head} head${student.config.causal ? "" : " and non-causal attention"}; distillation of an LM needs head=lm with causal attention`);
  if (data.sampleShape.length !== 1) throw new DataError(data.name, `sample shape [${data.sampleShape}] is not token windows [ctx]`);
  const T = data.sampleShape[0];
  if (T > student.config.ctx) throw new TsdistillError(`student: its context is ${student.config.ctx} tokens, the windows have ${T}`);
  if (teacher.ctx !== null && T > teacher.ctx) throw new TsdistillError(`teacher ${teacher.name}: its context is ${teacher.ctx} tokens, the windows have ${T}`);
  checkSameVocabulary({ vocab: teacher.vocab, tokenizer: teacher.tokenizer, name: teacher.name }, { vocab: student.config.vocab, tokenizer });
  if (dataPrompts && dataPrompts.length !== data.size) throw new TsdistillError(`promptLengths: ${dataPrompts.length} values for ${data.size} windows`);
  const P = options.promptLength ?? Math.ceil(T / 2);
  if (!(Number.isInteger(P) && P >= 1 && P <= T)) throw new TsdistillError(`promptLength ${P}: expected an integer in [1, ${T}] (tokens of each window kept as the prompt)`);
  const sampling = { temperature: GKD_DEFAULTS.temperature, ...options.sampling };
  checkSampling(sampling, "sampling");
  const padId = padOpt !== undefined ? padOpt : student.config.padId;
  const eos = options.eos !== undefined ? options.eos : (tokenizer?.special.eos ?? teacher.tokenizer?.special.eos ?? null);

  const defaults = defaultTerms(teacher);
  const dataTerms = compile(termSpecs ?? defaults.data, "terms", teacher, false);
  const onTerms = lambda > 0 ? compile(onSpecs ?? termSpecs ?? defaults.onPolicy ?? defaults.data, "onPolicyTerms", teacher, true) : [];
  const needs = { data: needsOf(dataTerms, teacher), on: needsOf(onTerms, teacher) };
  const epochs = fitOptions.epochs;

  const prepared = new WeakMap<Batch, Prepared>();
  let made = 0;
  let onPolicyBatches = 0;
  const sampleTeacherNll: number[] = [];
  const source: DataSource = {
    name: data.name,
    size: data.size,
    sampleShape: data.sampleShape,
    numClasses: data.numClasses,
    async *batches(opts: BatchOptions) {
      const kinds = opts.rng ? opts.rng.fork("gkd") : new Rng(fitOptions.seed ?? 42, "gkd");
      for await (const raw of data.batches(opts)) {
        const onPolicy = kinds.next() < lambda;
        const seed = kinds.nextUint32();
        let batch = raw;
        let promptLengths: Int32Array | null = dataPrompts ? Int32Array.from(raw.indices, (r) => dataPrompts[r]) : null;
        if (onPolicy) ({ batch, promptLengths } = sampleBatch(student, raw, T, P, sampling, eos, padId, seed));
        const need = onPolicy ? needs.on : needs.data;
        const w = { ids: Int32Array.from(batch.x), batch: batch.size, length: T, next: Int32Array.from(batch.y) };
        const p: Prepared = { onPolicy, promptLengths, logits: null, topK: null, targetLogprobs: null };
        if (need.logits) p.logits = await teacher.logits(w);
        if (need.topK > 0) p.topK = await teacher.topK(w, need.topK);
        if (need.targetLogprobs) p.targetLogprobs = await teacher.targetLogprobs(w);
        let nll: number | null = null;
        if (onPolicy) {
          onPolicyBatches++;
          const lp = p.targetLogprobs ?? (p.logits ? logprobsOfTargets(p.logits, teacher.vocab!, rowTargets(w)) : null);
          if (lp) nll = sampleNll(lp, batch, T, promptLengths!, padId);
          if (nll !== null) sampleTeacherNll.push(nll);
        }
        prepared.set(batch, p);
        made++;
        onBatch?.({ batch: made, onPolicy, sampleTeacherNll: nll });
        yield batch;
      }
    },
  };

  const result = await fit(
    student,
    source,
    (logits, ctx) => {
      const p = prepared.get(ctx.batch);
      if (!p) throw new Error("distillLmGkd: a batch reached the loss without the teacher's outputs");
      prepared.delete(ctx.batch);
      const N = logits.shape[0];
      const targets = nextTokenTargets(ctx.x, ctx.y, padId);
      const tokens: TokenInputs = { mask: nextTokenMask(ctx.x, ctx.y, { padId, promptLengths: p.promptLengths ?? undefined }), targets };
      const teacherLogits = p.logits ? tf.tensor2d(p.logits, [N, teacher.vocab!]) : tf.zeros([N, 0]);
      if (p.topK) {
        const k = p.topK.indices.length / N;
        tokens.teacherTopK = { indices: tf.tensor2d(p.topK.indices, [N, k], "int32"), logprobs: tf.tensor2d(p.topK.logprobs, [N, k]), tailMass: tf.tensor1d(p.topK.tailMass) };
      }
      if (p.targetLogprobs) tokens.sampled = { ids: tf.maximum(targets, 0) as tf.Tensor1D, teacherLogprobs: tf.tensor1d(p.targetLogprobs) };
      return lmTermsValue(p.onPolicy ? onTerms : dataTerms, logits, teacherLogits as tf.Tensor2D, tokens, ctx.y, ctx.progress, epochs);
    },
    { label: lambda > 0 ? "distill-lm-gkd" : "distill-lm", ...fitOptions },
  );
  return { ...result, onPolicyBatches, dataBatches: made - onPolicyBatches, sampleTeacherNll };
}

/** −mean log P_T over the continuation tokens of a sampled batch (targets past the prompt that are not padding). */
function sampleNll(lp: Float32Array, batch: Batch, T: number, promptLengths: Int32Array, padId: number | null): number | null {
  let sum = 0;
  let n = 0;
  for (let b = 0; b < batch.size; b++) {
    for (let t = 0; t < T; t++) {
      const target = t + 1 < T ? batch.x[b * T + t + 1] : batch.y[b];
      if (t + 1 < promptLengths[b] || target === padId) continue;
      sum -= lp[b * T + t];
      n++;
    }
  }
  return n > 0 ? sum / n : null;
}
