// A Hugging Face tokenizer (tokenizer.json, optionally tokenizer_config.json) for teachers that read raw text: ids,
// attention mask and token type ids for a batch, truncated and padded to a fixed or the batch's longest length.
import { TokenizerLoader } from "@lenml/tokenizers";
import { readDataFile } from "../util/files.js";
import { DataError } from "../util/errors.js";

export interface TokenizerSettings {
  /** Longest sequence, special tokens included. */
  maxLength: number;
  /** "max_length": every row has maxLength tokens; "longest": the batch's longest row (at most maxLength). */
  padding: "max_length" | "longest";
  /** Add the template's special tokens ([CLS] … [SEP], <s> … </s>). */
  addSpecialTokens: boolean;
  /** Padding token id (default: the tokenizer's pad token, else tokenizer.json's padding.pad_id, else 0). */
  padId?: number;
}

export interface TokenizedBatch {
  /** Row-major [n, length]. */
  ids: number[];
  mask: number[];
  length: number;
}

type Encoder = { encode(text: string, opts?: { add_special_tokens?: boolean }): number[]; pad_token_id?: number };

function readJson(path: string, what: string): Record<string, unknown> {
  const text = readDataFile(path, what).toString("utf8");
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Error("not a JSON object");
    return v as Record<string, unknown>;
  } catch (err) {
    throw new DataError(path, `not valid JSON (${(err as Error).message}); expected ${what}`);
  }
}

/** A loaded tokenizer with fixed truncation and padding settings. */
export class TextTokenizer {
  private readonly padId: number;
  private readonly specials: number[];

  private constructor(
    private readonly enc: Encoder,
    readonly settings: TokenizerSettings,
    padFromFile: number | undefined,
    where: string,
  ) {
    this.padId = settings.padId ?? enc.pad_token_id ?? padFromFile ?? 0;
    this.specials = settings.addSpecialTokens ? enc.encode("", { add_special_tokens: true }) : [];
    if (settings.maxLength <= this.specials.length) throw new DataError(where, `maxLength ${settings.maxLength} leaves no room for text next to the ${this.specials.length} special tokens`);
  }

  /** Loads tokenizer.json (and tokenizer_config.json when given) with @lenml/tokenizers. */
  static load(tokenizerPath: string, configPath: string | undefined, settings: TokenizerSettings): TextTokenizer {
    const json = readJson(tokenizerPath, "a Hugging Face tokenizer.json");
    const config = configPath ? readJson(configPath, "a Hugging Face tokenizer_config.json") : {};
    let enc: Encoder;
    try {
      enc = TokenizerLoader.fromPreTrained({ tokenizerJSON: json, tokenizerConfig: config }) as unknown as Encoder;
      enc.encode("a", { add_special_tokens: true });
    } catch (err) {
      throw new DataError(tokenizerPath, `could not be loaded as a Hugging Face tokenizer (${(err as Error).message.split("\n")[0]})`);
    }
    const padding = json.padding as { pad_id?: unknown } | null | undefined;
    return new TextTokenizer(enc, settings, typeof padding?.pad_id === "number" ? padding.pad_id : undefined, tokenizerPath);
  }

  /** One text's ids: the content truncated so that the special tokens stay (as Hugging Face truncation does). */
  private encodeOne(text: string): number[] {
    const { maxLength, addSpecialTokens } = this.settings;
    const full = this.enc.encode(text, { add_special_tokens: addSpecialTokens });
    if (full.length <= maxLength) return full;
    if (!addSpecialTokens) return full.slice(0, maxLength);
    const content = this.enc.encode(text, { add_special_tokens: false });
    const s = this.specials;
    if (full.length === content.length + s.length) {
      for (let p = 0; p <= s.length; p++) {
        const prefix = full.slice(0, p);
        const suffix = full.slice(p + content.length);
        if (prefix.every((v, i) => v === s[i]) && suffix.every((v, i) => v === s[p + i])) return [...prefix, ...content.slice(0, maxLength - s.length), ...suffix];
      }
    }
    return full.slice(0, maxLength);
  }

  /** Ids and attention mask for a batch, right-padded. */
  encodeBatch(texts: readonly string[]): TokenizedBatch {
    const rows = texts.map((t) => this.encodeOne(t));
    const length = this.settings.padding === "max_length" ? this.settings.maxLength : Math.max(1, ...rows.map((r) => r.length));
    const ids: number[] = [];
    const mask: number[] = [];
    for (const r of rows) {
      for (let j = 0; j < length; j++) {
        ids.push(j < r.length ? r[j] : this.padId);
        mask.push(j < r.length ? 1 : 0);
      }
    }
    return { ids, mask, length };
  }
}
