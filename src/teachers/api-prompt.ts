import { TsdistillError } from "../util/errors.js";

// Prompt rendering and label ↔ token matching for the "api" teacher (src/teachers/api.ts).
//
// How labels are read from a chat-completions response. The teacher reads ONE position: the top-k logprobs of the
// first generated token. A label is identified by its first token (its "key"):
// - key = labelTokens[i] when the config gives labelTokens (the label's first token as the model's tokenizer
//   splits it, e.g. from a tokenizer playground), otherwise the label's first word: after trimming, the leading run
//   of letters/digits/marks, or its first character when it starts with anything else ("New York" → "New",
//   "Sci/Tech" → "Sci", "-1" → "-").
// - A returned token matches a label when the two agree after normalisation: surrounding whitespace and the
//   byte-level BPE markers Ġ (space), Ċ (newline), ▁ (SentencePiece space) are stripped, NFC, and case is folded
//   unless caseSensitive. Several returned tokens may match one label (" positive", "positive", "Positive"): their
//   probabilities are added (logsumexp), which is the mass the model puts on starting that label.
// - Because only the first token is seen, keys must be distinct: labels sharing a key ("New York" / "New Jersey")
//   are rejected at construction, naming both. Without labelTokens, a key that is a proper prefix of another
//   ("1" / "10", "pos" / "positive") is rejected too: a tokenizer may well start both labels with the same token
//   (Llama-2 splits "10" into "1" "0"), and the teacher could not notice. Giving labelTokens states the real first
//   tokens and lifts the prefix check (distinctness is still required).
// - Multi-token labels therefore need no extra requests: maxTokens stays 1 by default (only the first position is
//   read; more tokens only make `text` longer and cost more).

/** The default prompt: asks for exactly one label, spelled as given, and nothing else. */
export const DEFAULT_PROMPT = [
  "Classify the input below into exactly one of these labels: {labels}.",
  "Answer with one label only, spelled exactly as given, with no other words, quotes or punctuation.",
  "",
  "Input:",
  "{input}",
].join("\n");

/**
 * Fills {input} and {labels} (the labels joined by ", ") in one pass, so placeholder-like text inside the input
 * itself ("{labels}") is left as it is.
 */
export function renderPrompt(template: string, input: string, labels: readonly string[]): string {
  return template.replace(/\{(input|labels)\}/g, (_, name: string) => (name === "input" ? input : labels.join(", ")));
}

const MARKERS = "\\sĠĊ▁";
const TRIM = new RegExp(`^[${MARKERS}]+|[${MARKERS}]+$`, "gu");

/** A token or label in the form used for matching: trimmed of whitespace / BPE space markers, NFC, case-folded unless caseSensitive. */
export function normalizeToken(token: string, caseSensitive = false): string {
  const t = token.normalize("NFC").replace(TRIM, "");
  return caseSensitive ? t : t.toLowerCase();
}

/** A label's first word: the leading run of letters/digits/marks after trimming, else its first character. */
export function firstWord(label: string): string {
  const t = label.trim();
  const m = /^[\p{L}\p{N}\p{M}]+/u.exec(t);
  return m ? m[0] : (Array.from(t)[0] ?? "");
}

/** Maps returned tokens (and generated text) to label indices; validates the label set at construction. */
export class LabelMatcher {
  /** The normalised first token of each label. */
  readonly keys: string[];
  private readonly byKey = new Map<string, number>();
  private readonly byText = new Map<string, number>();

  constructor(
    readonly labels: readonly string[],
    labelTokens: readonly string[] | undefined,
    readonly caseSensitive = false,
  ) {
    if (labelTokens && labelTokens.length !== labels.length) {
      throw new TsdistillError(`api teacher: labelTokens has ${labelTokens.length} entries but there are ${labels.length} labels (give one first token per label)`);
    }
    labels.forEach((label, i) => {
      const text = normalizeToken(label, caseSensitive);
      if (!text) throw new TsdistillError(`api teacher: label ${i} ${JSON.stringify(label)} is empty after trimming`);
      const dup = this.byText.get(text);
      if (dup !== undefined) throw new TsdistillError(`api teacher: labels ${JSON.stringify(labels[dup])} and ${JSON.stringify(label)} are the same label${caseSensitive ? "" : " (case-insensitive)"}`);
      this.byText.set(text, i);
    });
    this.keys = labels.map((label, i) => {
      const key = normalizeToken(labelTokens ? labelTokens[i] : firstWord(label), caseSensitive);
      if (!key) throw new TsdistillError(`api teacher: label ${JSON.stringify(label)} has an empty first token${labelTokens ? " (labelTokens[" + i + "])" : ""}`);
      return key;
    });
    this.keys.forEach((key, i) => {
      const other = this.byKey.get(key);
      if (other !== undefined) {
        throw new TsdistillError(
          `api teacher: labels ${JSON.stringify(labels[other])} and ${JSON.stringify(labels[i])} share the first token ${JSON.stringify(key)}; ` +
            `only the first generated token is read, so they cannot be told apart (rename one${labelTokens ? "" : " or give labelTokens"})`,
        );
      }
      this.byKey.set(key, i);
    });
    if (!labelTokens) {
      for (let a = 0; a < this.keys.length; a++) {
        for (let b = 0; b < this.keys.length; b++) {
          if (a !== b && this.keys[b].startsWith(this.keys[a])) {
            throw new TsdistillError(
              `api teacher: labels ${JSON.stringify(labels[a])} and ${JSON.stringify(labels[b])} may share a first token: ` +
                `${JSON.stringify(this.keys[a])} is a prefix of ${JSON.stringify(this.keys[b])}; give labelTokens (each label's first token as the model's tokenizer splits it) if they differ`,
            );
          }
        }
      }
    }
  }

  /** The label whose first token this is, or −1. */
  labelOfToken(token: string): number {
    return this.byKey.get(normalizeToken(token, this.caseSensitive)) ?? -1;
  }

  /** The label this whole generated text spells (ignoring trailing . , ; : ! and quotes), or −1. */
  labelOfText(text: string): number {
    const t = normalizeToken(text.trim().replace(/^["'`]+|["'`.,;:!]+$/g, ""), this.caseSensitive);
    return this.byText.get(t) ?? -1;
  }
}
