// Model2Vec's vocabulary step for a SentencePiece teacher: the corpus's frequent whole words that the teacher's
// vocabulary splits into several pieces. Each becomes one row of the static table (the teacher's vector of the word
// as a text), so a student reads "refinement" as one token instead of "▁refine" + "ment".
import { leadingWords } from "../../src/embeddings/runtime/embed-runtime.mjs";
import type { SentencePieceTokenizer } from "../tokenizers/sentencepiece.js";

export interface FrequentWordsOptions {
  /** Keep words seen at least this often (default 2). */
  minCount?: number;
  /** At most this many words, the most frequent first (default 5000). */
  max?: number;
}

/**
 * Words of the texts (as the tokenizer's word lookup sees them: NFKC, split on spaces, a leading run of letters and
 * digits with inner apostrophes) that the tokenizer does not already read as one piece, most frequent first (ties:
 * the word first seen first). Pass only text the student may learn from (never test texts).
 */
export function frequentWords(texts: readonly string[], tokenizer: SentencePieceTokenizer, opts: FrequentWordsOptions = {}): string[] {
  const minCount = opts.minCount ?? 2;
  const max = opts.max ?? 5000;
  if (!(Number.isInteger(minCount) && minCount >= 1)) throw new Error(`frequentWords: minCount ${minCount}; expected an integer ≥ 1`);
  if (!(Number.isInteger(max) && max >= 0)) throw new Error(`frequentWords: max ${max}; expected an integer ≥ 0`);
  const counts = new Map<string, number>();
  for (const t of texts) for (const w of leadingWords(t)) counts.set(w, (counts.get(w) ?? 0) + 1);
  const base = tokenizer.words.length > 0 ? tokenizer.withWords([]) : tokenizer;
  return [...counts]
    .filter(([w, c]) => c >= minCount && base.encode(w).length > 1)
    .sort((a, b) => b[1] - a[1]) // stable: ties keep first-seen order
    .slice(0, max)
    .map(([w]) => w);
}
