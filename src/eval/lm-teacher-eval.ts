import * as tf from "@tensorflow/tfjs-core";
import type { InMemoryDataset } from "../data/dataset.js";
import type { TransformerModel } from "../students/transformer.js";
import { promptIds, rowTargets, type CausalLmTeacher } from "../teachers/lm-teacher.js";
import { sameTokenizer } from "../tokenizers/compare.js";
import type { Tokenizer } from "../tokenizers/tokenizer.js";
import { TsdistillError } from "../util/errors.js";
import { teacherScoredNll, type AgreementMetrics, type GeneratedSample } from "./lm.js";

// LM evaluation against any CausalLmTeacher (tsdistill, ONNX, API), which answers asynchronously: next-token
// agreement on windows, and the teacher's NLL of the student's generations — per token when both share a
// tokenizer, otherwise of the text re-tokenised by the teacher (or by the server, for an API teacher without a
// known tokenizer), with bits per byte as the measure comparable across tokenizers.

/** Top-1 next-token agreement of the student with the teacher on windows (teacher top-1 from its logits, or its top-1 entry for an API). */
export async function teacherAgreement(teacher: CausalLmTeacher, student: TransformerModel, data: InMemoryDataset, opts: { batchSize?: number; ignoreId?: number | null } = {}): Promise<AgreementMetrics> {
  const { batchSize = 16, ignoreId = student.config.padId } = opts;
  const T = data.sampleShape[0];
  if (!teacher.capabilities.logits && teacher.capabilities.maxTopK === 0) throw new TsdistillError(`next-token agreement: the teacher ${teacher.name} gives no per-token outputs (its tokenizer is unknown)`);
  let tokens = 0;
  let same = 0;
  for (const batch of data.batchesSync({ batchSize })) {
    const w = { ids: Int32Array.from(batch.x), batch: batch.size, length: T, next: Int32Array.from(batch.y) };
    const N = batch.size * T;
    let teacherTop: Int32Array;
    if (teacher.capabilities.logits) {
      const logits = await teacher.logits(w);
      teacherTop = tf.tidy(() => tf.argMax(tf.tensor2d(logits, [N, teacher.vocab!]), 1).dataSync() as Int32Array).slice();
    } else {
      const top = await teacher.topK(w, 1);
      teacherTop = top.indices;
    }
    const studentTop = tf.tidy(() => tf.argMax(student.forward(tf.tensor2d(batch.x, [batch.size, T])).logits, 1).dataSync() as Int32Array).slice();
    const targets = rowTargets(w);
    for (let r = 0; r < N; r++) {
      if (targets[r] === ignoreId) continue;
      tokens++;
      if (teacherTop[r] === studentTop[r]) same++;
    }
  }
  return { tokens, agreement: tokens ? same / tokens : 0 };
}

export interface CrossTeacherNll {
  samples: number;
  /** Continuation tokens scored, in the teacher's tokens. */
  teacherTokens: number;
  /** UTF-8 bytes of the continuations' text. */
  bytes: number;
  /** −mean log P_T per teacher token. */
  nllPerToken: number;
  /** Σ −log P_T / (ln 2 · bytes): comparable across tokenizers. */
  bitsPerByte: number;
  /** Whether the student's ids were scored as they are (one tokenizer) rather than re-tokenised text. */
  sameTokenizer: boolean;
}

type TextScorer = { continuationNll(pairs: readonly { prompt: string; continuation: string }[]): Promise<{ nll: number; tokens: number }[]> };

/**
 * The teacher's NLL of (student-)generated continuations. With one tokenizer on both sides the ids are scored as
 * they are (eval/lm.ts teacherScoredNll); otherwise prompt and continuation are decoded and the teacher scores the
 * text: re-encoded with its tokenizer (the prompt begins a document, as generation prompts do), or, for an API
 * teacher without a known tokenizer, tokenised by the server (continuationNll).
 */
export async function teacherNllOfSamples(teacher: CausalLmTeacher, samples: readonly GeneratedSample[], studentTokenizer: Tokenizer): Promise<CrossTeacherNll> {
  const texts = samples.map((s) => ({ prompt: studentTokenizer.decode(s.prompt), continuation: studentTokenizer.decode(s.continuation) }));
  const bytes = texts.reduce((a, t) => a + Buffer.byteLength(t.continuation, "utf8"), 0);
  const result = (nll: number, teacherTokens: number, same: boolean): CrossTeacherNll => ({
    samples: samples.length,
    teacherTokens,
    bytes,
    nllPerToken: teacherTokens ? nll / teacherTokens : 0,
    bitsPerByte: bytes ? nll / (Math.LN2 * bytes) : 0,
    sameTokenizer: same,
  });
  const tok = teacher.tokenizer;
  if (tok && teacher.capabilities.tokenLogprobs && sameTokenizer(tok, studentTokenizer)) {
    const m = await teacherScoredNll(samples, (ids) => teacher.sequenceLogprobs(ids));
    return result(m.nllPerToken * m.tokens, m.tokens, true);
  }
  if (tok && teacher.capabilities.tokenLogprobs) {
    let nll = 0;
    let count = 0;
    for (const t of texts) {
      const p = promptIds(tok, t.prompt, teacher.name);
      const c = tok.encode(t.continuation);
      if (c.length === 0) continue;
      const lp = await teacher.sequenceLogprobs([...p, ...c]);
      for (const v of lp.slice(p.length - 1)) nll -= v;
      count += c.length;
    }
    return result(nll, count, false);
  }
  if ("continuationNll" in teacher) {
    const scored = await (teacher as CausalLmTeacher & TextScorer).continuationNll(texts);
    return result(scored.reduce((a, s) => a + s.nll, 0), scored.reduce((a, s) => a + s.tokens, 0), false);
  }
  throw new TsdistillError(`teacher NLL of samples: the teacher ${teacher.name} cannot score text`);
}
