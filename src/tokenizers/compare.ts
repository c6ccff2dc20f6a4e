import { createHash } from "node:crypto";
import { TsdistillError } from "../util/errors.js";
import type { Tokenizer } from "./tokenizer.js";

/** sha256 of a tokenizer's saved tokenizer.json: equal for the same vocabulary and rules. */
export function tokenizerFingerprint(tokenizer: Tokenizer): string {
  return createHash("sha256").update(JSON.stringify(tokenizer.toFiles().tokenizer)).digest("hex");
}

/** Whether two tokenizers split every text into the same ids: byte-level on both sides, or the same tokenizer.json. */
export function sameTokenizer(a: Tokenizer, b: Tokenizer): boolean {
  return tokenizerFingerprint(a) === tokenizerFingerprint(b);
}

export const describeTokenizer = (t: Tokenizer | undefined, vocab: number): string => (t ? `${t.kind} tokenizer, ${vocab} tokens` : `${vocab} tokens`);

const ADVICE = "token-level distillation needs one vocabulary on both sides (sequence-level KD works across tokenizers)";

/**
 * Token-level terms need one vocabulary on both sides; a one-line error names both otherwise. A teacher whose
 * tokenizer is unknown (`tokenizer: null`, e.g. an API model without a declared tokenizer) is refused too.
 */
export function checkSameVocabulary(
  teacher: { vocab: number | null; tokenizer?: Tokenizer | null; name?: string },
  student: { vocab: number; tokenizer?: Tokenizer },
): void {
  if (teacher.tokenizer === null || teacher.vocab === null) {
    const who = teacher.name ? `the teacher ${teacher.name}` : "the teacher";
    throw new TsdistillError(`${ADVICE}: ${who} has no known tokenizer (declare it with the teacher's tokenizer setting when it is the student's), the student's vocabulary is ${describeTokenizer(student.tokenizer, student.vocab)}`);
  }
  const names = `the teacher's vocabulary is ${describeTokenizer(teacher.tokenizer, teacher.vocab)}, the student's ${describeTokenizer(student.tokenizer, student.vocab)}`;
  if (teacher.vocab !== student.vocab) throw new TsdistillError(`${ADVICE}: ${names}`);
  if (teacher.tokenizer && student.tokenizer && !sameTokenizer(teacher.tokenizer, student.tokenizer)) {
    throw new TsdistillError(`${ADVICE}: ${names}, but the tokenizers differ (their tokenizer.json files are not the same)`);
  }
}
