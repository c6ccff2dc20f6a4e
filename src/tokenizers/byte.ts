import type { SpecialIds, Tokenizer, TokenizerFiles } from "./tokenizer.js";

/** Ids 0–255 are the UTF-8 bytes; the special tokens follow. */
export const BYTE_SPECIAL = { pad: 256, bos: 257, eos: 258, unk: 259 } as const;
export const BYTE_VOCAB_SIZE = 260;

/**
 * Byte-level tokenizer: a text's ids are its UTF-8 bytes. Nothing to ship or train, every text encodes, and a
 * teacher and student that both use it can never disagree on the vocabulary.
 */
export class ByteTokenizer implements Tokenizer {
  readonly kind = "byte" as const;
  readonly vocabSize = BYTE_VOCAB_SIZE;
  readonly special: SpecialIds = BYTE_SPECIAL;
  private readonly encoder = new TextEncoder();
  private readonly decoder = new TextDecoder("utf-8");

  encode(text: string): number[] {
    return Array.from(this.encoder.encode(text));
  }

  /** Invalid UTF-8 (a window cut inside a character) decodes to U+FFFD, as everywhere on the web. */
  decode(ids: ArrayLike<number>): string {
    const bytes: number[] = [];
    for (let i = 0; i < ids.length; i++) if (ids[i] >= 0 && ids[i] < 256) bytes.push(ids[i]);
    return this.decoder.decode(Uint8Array.from(bytes));
  }

  toFiles(): TokenizerFiles {
    return { tokenizer: { kind: "byte" } };
  }
}
