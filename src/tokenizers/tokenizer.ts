/**
 * Text ↔ token ids. Every tokenizer tsdistill uses (byte-level, Hugging Face tokenizer.json, a BPE vocabulary
 * trained on the user's corpus) has this shape, and a saved sequence model carries its tokenizer (see io.ts).
 */

/** Ids of the special tokens; null where the tokenizer has none. */
export interface SpecialIds {
  readonly pad: number | null;
  readonly bos: number | null;
  readonly eos: number | null;
  readonly unk: number | null;
}

/** What a tokenizer saves: tokenizer.json, plus Hugging Face's tokenizer_config.json where it has one. */
export interface TokenizerFiles {
  tokenizer: Record<string, unknown>;
  config?: Record<string, unknown>;
}

export interface Tokenizer {
  readonly kind: "byte" | "huggingface" | "sentencepiece";
  /** One more than the largest id encode can return (the model's embedding table has this many rows or more). */
  readonly vocabSize: number;
  readonly special: SpecialIds;
  /** The text's ids, without special tokens (callers add BOS/EOS where they want them). */
  encode(text: string): number[];
  /** The text of these ids; special tokens are left out. */
  decode(ids: ArrayLike<number>): string;
  toFiles(): TokenizerFiles;
}

/** The special id or a one-line error naming what needed it. */
export function requireSpecial(tokenizer: Tokenizer, which: keyof SpecialIds, purpose: string): number {
  const id = tokenizer.special[which];
  if (id === null) throw new Error(`the ${tokenizer.kind} tokenizer has no ${which} token, which ${purpose} needs`);
  return id;
}
