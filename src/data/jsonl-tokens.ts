import { DataError } from "../util/errors.js";
import { trainBpe } from "../tokenizers/bpe-train.js";
import { openTokenizer, tokenizerFromJson } from "../tokenizers/io.js";
import type { Tokenizer, TokenizerFiles } from "../tokenizers/tokenizer.js";
import { InMemoryDataset } from "./dataset.js";
import { ArrayRawView } from "./raw.js";
import { splitJsonlTexts, type JsonlTextOptions, type LabelledTexts } from "./jsonl-text.js";
import { encodeSequences } from "./token-sequences.js";

/**
 * What a served token-sequence model needs to turn new texts into its input: field names, class names, the
 * sequence layout and the tokenizer itself (inline, so preprocess.json alone reproduces the ids).
 */
export interface TokenPreprocess {
  kind: "tokens";
  version: 1;
  textField: string;
  labelField: string;
  labelNames: string[];
  /** Tokens per sample: [BOS] ids [EOS], cut to ctx, right-padded with the pad id. */
  ctx: number;
  addBos: boolean;
  addEos: boolean;
  /** The tokenizer's files (tokenizer.json, and tokenizer_config.json for Hugging Face ones). */
  tokenizer: TokenizerFiles;
}

export const DEFAULT_TOKEN_CTX = 128;

/** "byte" (default), "bpe:N" (a byte-level BPE vocabulary of N ids trained on the training texts), or a tokenizer.json file or folder. */
export const TOKENIZER_SPEC_HELP = 'byte, bpe:N (N ≥ 259: trained on the training texts) or a tokenizer.json file (or a folder holding one)';

export interface JsonlTokenOptions extends Omit<JsonlTextOptions, "featurizer"> {
  tokenizer?: string;
  ctx?: number;
}

export interface TokenSplits {
  train: InMemoryDataset;
  test: InMemoryDataset;
  unlabeled?: InMemoryDataset;
  preprocess: TokenPreprocess;
  /** How many texts of each split were cut to ctx tokens. */
  truncated: { train: number; test: number };
}

const tokenizers = new WeakMap<TokenPreprocess, Tokenizer>();

/** The preprocess's tokenizer (built once per preprocess object). */
export function tokenizerOf(pre: TokenPreprocess, source = "preprocess.json"): Tokenizer {
  let t = tokenizers.get(pre);
  if (!t) {
    t = tokenizerFromJson(pre.tokenizer.tokenizer, pre.tokenizer.config ?? {}, `${source} (tokenizer)`);
    tokenizers.set(pre, t);
  }
  return t;
}

/** Opens or trains the tokenizer a spec names; bpe:N trains on `trainTexts` only. */
export function tokenizerFromSpec(spec: string, trainTexts: readonly string[], where: string): Tokenizer {
  const bpe = /^bpe:(\d+)$/.exec(spec);
  if (bpe) {
    const vocabSize = Number(bpe[1]);
    if (vocabSize < 259) throw new DataError(where, `tokenizer=${spec}: expected a vocabulary of at least 259 ids (3 special tokens + 256 bytes)`);
    return trainBpe(trainTexts, { vocabSize });
  }
  if (spec.startsWith("bpe")) throw new DataError(where, `tokenizer=${spec}: expected ${TOKENIZER_SPEC_HELP}`);
  return openTokenizer(spec);
}

/** Texts (strings, or objects holding the text field) → ids [n, ctx] as floats, the model's input. */
export function encodeTokenRows(pre: TokenPreprocess, rows: readonly unknown[], source = "texts"): Float32Array {
  const texts = rows.map((r, i) => {
    if (typeof r === "string") return r;
    if (typeof r === "object" && r !== null && !Array.isArray(r)) {
      const t = (r as Record<string, unknown>)[pre.textField];
      if (typeof t === "string") return t;
    }
    throw new DataError(`${source}[${i}]`, `expected a string or an object with a string field "${pre.textField}"`);
  });
  return Float32Array.from(encodeSequences(texts, tokenizerOf(pre), { ctx: pre.ctx, addBos: pre.addBos, addEos: pre.addEos }).ids);
}

/**
 * JSONL text classification data as token sequences for a transformer: the same labels and splits as the hashed
 * n-gram loader (loadJsonlText), each text tokenised ([BOS] ids, cut to ctx, right-padded; padding is masked by the
 * model through its pad id). A BPE vocabulary (bpe:N) is trained on the training texts only.
 */
export function loadJsonlTokens(path: string, opts: JsonlTokenOptions = {}, name = `jsonl:${path}`): TokenSplits {
  const { textField, labelField, labelNames, train, test, unlabeled } = splitJsonlTexts(path, opts);
  const ctx = opts.ctx ?? DEFAULT_TOKEN_CTX;
  let tokenizer: Tokenizer;
  try {
    tokenizer = tokenizerFromSpec(opts.tokenizer ?? "byte", train.texts, path);
  } catch (err) {
    if (err instanceof DataError) throw err;
    throw new DataError(path, `tokenizer=${opts.tokenizer}: ${(err as Error).message}`);
  }
  if (tokenizer.special.pad === null) {
    throw new DataError(path, `tokenizer=${opts.tokenizer}: the ${tokenizer.kind} tokenizer has no pad token; expected one (name pad_token in its tokenizer_config.json) to pad texts to ctx=${ctx}`);
  }
  const addBos = tokenizer.special.bos !== null;
  const seqOpts = { ctx, addBos, addEos: false };
  const truncated = { train: 0, test: 0 };
  const make = (part: LabelledTexts, partName: "train" | "test" | "unlabeled") => {
    const enc = encodeSequences(part.texts, tokenizer, seqOpts);
    if (partName !== "unlabeled") truncated[partName] = enc.truncated;
    return new InMemoryDataset(`${name}/${partName}`, Float32Array.from(enc.ids), part.y, [ctx], labelNames.length, new ArrayRawView("text", part.texts));
  };
  return {
    train: make(train, "train"),
    test: make(test, "test"),
    unlabeled: unlabeled.texts.length > 0 ? make(unlabeled, "unlabeled") : undefined,
    preprocess: { kind: "tokens", version: 1, textField, labelField, labelNames, ctx, addBos, addEos: false, tokenizer: tokenizer.toFiles() },
    truncated,
  };
}
