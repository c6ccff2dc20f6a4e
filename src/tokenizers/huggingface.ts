import { TokenizerLoader } from "@lenml/tokenizers";
import { DataError } from "../util/errors.js";
import type { SpecialIds, Tokenizer, TokenizerFiles } from "./tokenizer.js";

type LenmlTokenizer = ReturnType<typeof TokenizerLoader.fromPreTrained>;

export const HF_MODEL_TYPES = ["BPE", "WordPiece", "Unigram"] as const;

/** Conventional names of special tokens, tried when tokenizer_config.json does not name them. */
const CONVENTIONAL: Record<keyof SpecialIds, string[]> = {
  pad: ["[PAD]", "<pad>", "<|pad|>", "<|padding|>"],
  bos: ["<s>", "<bos>", "<|begin_of_text|>", "<|startoftext|>", "[CLS]", "<|endoftext|>"],
  eos: ["</s>", "<eos>", "<|end_of_text|>", "<|endoftext|>", "<|im_end|>", "[SEP]"],
  unk: ["[UNK]", "<unk>", "<|unk|>"],
};

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** token → id over the model's vocabulary and the added tokens, read from tokenizer.json itself. */
function vocabularyOf(json: Record<string, unknown>, source: string): Map<string, number> {
  const model = json.model;
  if (!isObject(model)) throw new DataError(source, 'expected a Hugging Face tokenizer.json with a "model" object');
  if (!(HF_MODEL_TYPES as readonly string[]).includes(String(model.type))) {
    throw new DataError(source, `model.type is ${JSON.stringify(model.type)}; expected one of ${HF_MODEL_TYPES.join(", ")}`);
  }
  const vocab = new Map<string, number>();
  if (Array.isArray(model.vocab)) model.vocab.forEach((entry, id) => vocab.set(String((entry as unknown[])[0]), id));
  else if (isObject(model.vocab)) for (const [token, id] of Object.entries(model.vocab)) vocab.set(token, Number(id));
  else throw new DataError(source, "model.vocab: expected an object (BPE, WordPiece) or an array of [token, score] (Unigram)");
  for (const added of Array.isArray(json.added_tokens) ? json.added_tokens : []) {
    if (isObject(added) && typeof added.content === "string" && Number.isInteger(added.id)) vocab.set(added.content, Number(added.id));
  }
  if (vocab.size === 0) throw new DataError(source, "model.vocab is empty");
  return vocab;
}

/** A token named in tokenizer_config.json: a string or an AddedToken object {content}. */
function configToken(config: Record<string, unknown>, key: string): string | null {
  const v = config[key];
  if (typeof v === "string") return v;
  if (isObject(v) && typeof v.content === "string") return v.content;
  return null;
}

function resolveSpecial(config: Record<string, unknown>, vocab: Map<string, number>, modelUnk: string | null): SpecialIds {
  const find = (which: keyof SpecialIds, configKeys: string[], extra: (string | null)[] = []): number | null => {
    for (const name of [...configKeys.map((k) => configToken(config, k)), ...extra, ...CONVENTIONAL[which]]) {
      if (name !== null && vocab.has(name)) return vocab.get(name)!;
    }
    return null;
  };
  const eos = find("eos", ["eos_token", "sep_token"]);
  // Without a pad token, pad with EOS (what Hugging Face users do for GPT-2-style tokenizers).
  const pad = find("pad", ["pad_token"]) ?? eos;
  return { pad, bos: find("bos", ["bos_token", "cls_token"]), eos, unk: find("unk", ["unk_token"], [modelUnk]) };
}

/**
 * A Hugging Face tokenizer.json (BPE, WordPiece or Unigram, with its normaliser, pre-tokeniser and decoder) run by
 * @lenml/tokenizers, the tokenizer half of transformers.js without its dependencies.
 */
export class HfTokenizer implements Tokenizer {
  readonly kind = "huggingface" as const;
  readonly vocabSize: number;
  readonly special: SpecialIds;
  private readonly impl: LenmlTokenizer;

  constructor(
    private readonly json: Record<string, unknown>,
    private readonly config: Record<string, unknown> = {},
    private readonly source = "tokenizer.json",
  ) {
    const vocab = vocabularyOf(json, source);
    this.vocabSize = Math.max(...vocab.values()) + 1;
    const model = json.model as Record<string, unknown>;
    this.special = resolveSpecial(config, vocab, typeof model.unk_token === "string" ? model.unk_token : null);
    try {
      // Copies: the saved files must stay exactly what was given.
      this.impl = TokenizerLoader.fromPreTrained({ tokenizerJSON: structuredClone(json), tokenizerConfig: structuredClone(config) });
    } catch (err) {
      throw new DataError(source, `could not be loaded as a Hugging Face tokenizer (${(err as Error).message})`);
    }
  }

  encode(text: string): number[] {
    const ids = this.impl.encode(text, { add_special_tokens: false });
    for (let i = 0; i < ids.length; i++) {
      if (ids[i] !== undefined) continue;
      if (this.special.unk === null) throw new Error(`${this.source}: the text ${JSON.stringify(text.slice(0, 40))} has a piece the vocabulary cannot encode, and the tokenizer has no unk token`);
      ids[i] = this.special.unk;
    }
    return ids;
  }

  decode(ids: ArrayLike<number>): string {
    if (ids.length === 0) return "";
    return this.impl.decode(Array.from(ids), { skip_special_tokens: true });
  }

  toFiles(): TokenizerFiles {
    return { tokenizer: this.json, config: this.config };
  }
}
