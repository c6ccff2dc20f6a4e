// A SentencePiece unigram vocabulary ([piece, score] in id order, e.g. the Universal Sentence Encoder's vocab.json)
// as a tsdistill Tokenizer. The segmentation itself lives in the dependency-free embedding runtime
// (src/embeddings/runtime/embed-runtime.mjs), so Node, exported models and browser pages split texts identically.
import { DataError } from "../util/errors.js";
import { readDataFile } from "../util/files.js";
import { EmbedRuntimeError, SentencePieceTokenizer as Segmenter, USE_RESERVED_SYMBOLS } from "../../src/embeddings/runtime/embed-runtime.mjs";
import type { SpecialIds, Tokenizer, TokenizerFiles } from "./tokenizer.js";

export interface SentencePieceOptions {
  /** Ids below this are reserved (never produced by encode); USE: 6 (unknown, <s>, </s>, three extras). */
  reserved?: number;
  /** Special ids; USE's default: unk 0, bos 1, eos 2, and pad 3 (its reserved extra_token_id_1: the tokenizer never emits it). */
  special?: Partial<SpecialIds>;
  /** Whole words after the pieces (ids vocab.length + k), taken whole where a text has them (Model2Vec's vocabulary step). */
  words?: string[];
}

const USE_SPECIAL: SpecialIds = { unk: 0, bos: 1, eos: 2, pad: 3 };

export class SentencePieceTokenizer implements Tokenizer {
  readonly kind = "sentencepiece" as const;
  readonly vocabSize: number;
  readonly special: SpecialIds;
  readonly words: readonly string[];
  private readonly segmenter: Segmenter;

  constructor(
    readonly vocab: [string, number | null][],
    opts: SentencePieceOptions = {},
    source = "vocab",
  ) {
    const reserved = opts.reserved ?? USE_RESERVED_SYMBOLS;
    try {
      this.segmenter = new Segmenter(vocab, reserved, opts.words ?? []);
    } catch (err) {
      if (err instanceof EmbedRuntimeError) throw new DataError(source, `${err.where}: ${err.problem}`);
      throw err;
    }
    this.words = this.segmenter.words;
    this.vocabSize = vocab.length + this.words.length;
    this.special = { ...USE_SPECIAL, ...opts.special };
    for (const [k, id] of Object.entries(this.special)) {
      if (id !== null && !(Number.isInteger(id) && id >= 0 && id < vocab.length)) throw new DataError(source, `special.${k}: ${id} is not an id of the ${vocab.length}-piece vocabulary`);
    }
  }

  /** Reads a vocab.json: an array of [piece, score] (USE's format). */
  static fromVocabFile(path: string, opts: SentencePieceOptions = {}): SentencePieceTokenizer {
    const text = readDataFile(path, "a SentencePiece vocab.json ([[piece, score], ...])").toString("utf8");
    let vocab: unknown;
    try {
      vocab = JSON.parse(text);
    } catch (err) {
      throw new DataError(path, `is not valid JSON (${(err as Error).message}); expected [[piece, score], ...]`);
    }
    if (!Array.isArray(vocab)) throw new DataError(path, "expected an array of [piece, score] pairs");
    return new SentencePieceTokenizer(vocab as [string, number | null][], opts, path);
  }

  /** From a saved tokenizer.json {"kind": "sentencepiece", vocab, reserved, special}. */
  static fromJson(json: Record<string, unknown>, source: string): SentencePieceTokenizer {
    if (!Array.isArray(json.vocab)) throw new DataError(source, "vocab: expected an array of [piece, score] pairs");
    const reserved = json.reserved === undefined ? undefined : Number(json.reserved);
    const special = (typeof json.special === "object" && json.special !== null ? json.special : {}) as Partial<SpecialIds>;
    if (json.words !== undefined && !(Array.isArray(json.words) && json.words.every((w) => typeof w === "string"))) throw new DataError(source, "words: expected an array of strings");
    return new SentencePieceTokenizer(json.vocab as [string, number | null][], { reserved, special, words: json.words as string[] | undefined }, source);
  }

  /** The same pieces with these whole words after them (replacing any it had). */
  withWords(words: string[]): SentencePieceTokenizer {
    return new SentencePieceTokenizer(this.vocab, { reserved: this.segmenter.reserved, special: this.special, words });
  }

  encode(text: string): number[] {
    return this.segmenter.encode(text);
  }

  decode(ids: ArrayLike<number>): string {
    return this.segmenter.decode(Array.from(ids));
  }

  /** The piece of one id as text ("▁" → space), for passing single tokens through a teacher. */
  pieceText(id: number): string {
    if (id >= this.vocab.length) return this.words[id - this.vocab.length] ?? "";
    return (this.vocab[id]?.[0] ?? "").replace(/\u2581/g, " ");
  }

  toFiles(): TokenizerFiles {
    return { tokenizer: { kind: "sentencepiece", reserved: this.segmenter.reserved, special: this.special, vocab: this.vocab, ...(this.words.length > 0 ? { words: this.words } : {}) } };
  }
}
