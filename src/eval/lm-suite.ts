import type { InMemoryDataset } from "../data/dataset.js";
import type { TransformerModel } from "../students/transformer.js";
import type { CausalLmTeacher } from "../teachers/lm-teacher.js";
import { sameTokenizer } from "../tokenizers/compare.js";
import type { Tokenizer } from "../tokenizers/tokenizer.js";
import { TsdistillError } from "../util/errors.js";
import { generateSamples, generationSpeed, heldOutLmMetrics, targetTextBytes, type GeneratedSample } from "./lm.js";
import { teacherAgreement, teacherNllOfSamples } from "./lm-teacher-eval.js";

// The language-model evaluation of `tsdistill eval`, `report` and the LM recipe, in one call: held-out perplexity
// and bits per byte, next-token agreement with a teacher, the teacher's NLL of the student's samples, ms/token.

export interface LmSuiteOptions {
  model: TransformerModel;
  tokenizer: Tokenizer;
  /** Held-out windows (whole documents). */
  test: InMemoryDataset;
  teacher?: CausalLmTeacher | null;
  /** Student samples the teacher scores (default 200). */
  samples?: number;
  /** Prompt tokens taken from the start of test windows (default 16). */
  promptTokens?: number;
  /** Tokens generated per sample (default 64; for an API teacher, fewer where prompt + sample would pass its context). */
  maxTokens?: number;
  /** Sampling temperature of the student's samples (default 1). */
  temperature?: number;
  topK?: number;
  topP?: number;
  seed?: number;
  /** Windows scored for agreement with the teacher (default all test windows). */
  agreementWindows?: number;
  /** Generations timed for ms/token (default 8 of 32 tokens, greedy). */
  speedRuns?: number;
}

export interface LmSuiteResult {
  params: number;
  testTokens: number;
  natsPerToken: number;
  perplexity: number;
  bitsPerByte: number;
  /** Top-1 next-token accuracy on the held-out text. */
  accuracy: number;
  /** Top-1 agreement with the teacher's next token (null without a teacher or across tokenizers). */
  agreement: number | null;
  /** The teacher's NLL of the student's samples, nats per teacher token and bits per byte (null without a teacher). */
  teacherNll: { samples: number; nllPerToken: number; bitsPerByte: number; sameTokenizer: boolean } | null;
  msPerToken: number;
}

/** Prompts for samples: the first `length` tokens of test windows spread evenly over the split. */
export function samplePrompts(test: InMemoryDataset, count: number, length: number): number[][] {
  const T = test.sampleShape[0];
  const P = Math.min(length, T);
  return Array.from({ length: count }, (_, i) => {
    const r = Math.floor((i * test.size) / count) % test.size;
    return Array.from(test.x.subarray(r * T, r * T + P));
  });
}

export async function evaluateLmSuite(o: LmSuiteOptions): Promise<LmSuiteResult> {
  const { model, tokenizer, test, teacher = null } = o;
  if (model.config.head !== "lm" || !model.config.causal) throw new TsdistillError("LM evaluation: the model is not a causal LM (expected head=lm with causal attention)");
  const pad = model.config.padId;
  const held = heldOutLmMetrics(model, test, { batchSize: 32, ignoreId: pad, textBytes: targetTextBytes(test, tokenizer, pad) });
  let agreement: number | null = null;
  let teacherNll: LmSuiteResult["teacherNll"] = null;
  const seed = o.seed ?? 0;
  if (teacher) {
    const shared = teacher.tokenizer !== null && sameTokenizer(teacher.tokenizer, tokenizer) && (teacher.capabilities.logits || teacher.capabilities.maxTopK > 0);
    if (shared) agreement = (await teacherAgreement(teacher, model, o.agreementWindows ? test.take(o.agreementWindows) : test, { ignoreId: pad })).agreement;
    const count = o.samples ?? 200;
    if (count > 0) {
      const prompts = samplePrompts(test, count, o.promptTokens ?? 16);
      // An API teacher scores a sequence in one request: prompt + sample must fit its context (the others slide a window).
      const room = teacher.kind !== "api" || teacher.ctx === null ? Infinity : teacher.ctx - prompts[0].length;
      if (room < 1) throw new TsdistillError(`LM evaluation: prompts of ${prompts[0].length} tokens leave no room in the teacher's context of ${teacher.ctx}; use fewer prompt tokens`);
      const samples: GeneratedSample[] = generateSamples(model, prompts, { maxTokens: Math.min(o.maxTokens ?? 64, room), temperature: o.temperature ?? 1, topK: o.topK, topP: o.topP, seed, eos: tokenizer.special.eos });
      const m = await teacherNllOfSamples(teacher, samples, tokenizer);
      teacherNll = { samples: m.samples, nllPerToken: m.nllPerToken, bitsPerByte: m.bitsPerByte, sameTokenizer: m.sameTokenizer };
    }
  }
  const speed = generationSpeed(model, samplePrompts(test, o.speedRuns ?? 8, o.promptTokens ?? 16), { maxTokens: 32, temperature: 0, seed, warmup: 1 });
  return {
    params: model.paramCount,
    testTokens: held.tokens,
    natsPerToken: held.natsPerToken,
    perplexity: held.perplexity,
    bitsPerByte: held.bitsPerByte!,
    accuracy: held.accuracy,
    agreement,
    teacherNll,
    msPerToken: speed.msPerToken,
  };
}

/** One line per metric, for the CLI. */
export function formatLmSuite(r: LmSuiteResult): string {
  const lines = [
    `held-out: ${r.bitsPerByte.toFixed(4)} bits/byte, perplexity ${r.perplexity.toFixed(3)} (${r.natsPerToken.toFixed(4)} nats/token over ${r.testTokens} tokens), next-token accuracy ${(r.accuracy * 100).toFixed(2)}%`,
  ];
  if (r.agreement !== null) lines.push(`next-token agreement with the teacher: ${(r.agreement * 100).toFixed(2)}%`);
  if (r.teacherNll) lines.push(`teacher NLL of ${r.teacherNll.samples} student samples: ${r.teacherNll.nllPerToken.toFixed(4)} nats/token, ${r.teacherNll.bitsPerByte.toFixed(4)} bits/byte${r.teacherNll.sameTokenizer ? "" : " (re-tokenised by the teacher)"}`);
  lines.push(`${r.params.toLocaleString("en-US")} params, ${r.msPerToken.toFixed(3)} ms/token (batch 1, KV cache, greedy)`);
  return lines.join("\n");
}
