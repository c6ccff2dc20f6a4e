import { HfTokenizer } from "./huggingface.js";

/*
 * Training a byte-level BPE vocabulary (GPT-2's scheme) on the user's corpus. Written here because no maintained
 * JavaScript library trains one: @lenml/tokenizers, transformers.js and @huggingface/tokenizers only load
 * vocabularies, and Hugging Face's `tokenizers` npm package is a native addon with per-platform binaries (it
 * would not run in the browser or on wasm-only installs). The result is a standard tokenizer.json, so it loads
 * through the same HfTokenizer as any Hugging Face vocabulary, and a vocabulary trained elsewhere can be used
 * instead.
 */

/** GPT-2's pre-tokenisation: contractions, letter runs, digit runs, other symbols, whitespace (as in lenml's ByteLevel). */
const PRE_TOKENIZE = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** GPT-2's bytes_to_unicode: every byte as a printable character, so tokens never contain spaces or controls. */
export function byteToUnicode(): string[] {
  const printable = (b: number) => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  const out: string[] = new Array(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) out[b] = String.fromCodePoint(printable(b) ? b : 256 + extra++);
  return out;
}

export interface BpeTrainOptions {
  /** Size of the vocabulary: special tokens + 256 bytes + merges (at least specials + 256). */
  vocabSize: number;
  /** A pair must occur this often to be merged (default 2). */
  minFrequency?: number;
  /** Special tokens, given the first ids (default pad, bos, eos). */
  specialTokens?: { pad?: string; bos?: string; eos?: string };
}

/** Counts of pre-tokenised pieces, each as its byte characters. */
function countPieces(texts: Iterable<string>, specials: string[]): Map<string, number> {
  const alphabet = byteToUnicode();
  const encoder = new TextEncoder();
  const counts = new Map<string, number>();
  // The encoder splits special tokens out of a text before BPE, so training leaves them out too.
  const split = new RegExp(specials.map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|"), "g");
  for (const text of texts) {
    for (const piece of text.replace(split, " ").match(PRE_TOKENIZE) ?? []) {
      let mapped = "";
      for (const b of encoder.encode(piece)) mapped += alphabet[b];
      counts.set(mapped, (counts.get(mapped) ?? 0) + 1);
    }
  }
  return counts;
}

/** Merges in order, chosen by pair count (ties: the pair whose tokens sort first), until the vocabulary is full. */
function learnMerges(pieces: Map<string, number>, symbols: string[], index: Map<string, number>, merges: number, minFrequency: number): [string, string][] {
  const PAIR = 1 << 21;
  const key = (a: number, b: number) => a * PAIR + b;
  const words = [...pieces.keys()].sort().map((p) => Array.from(p, (ch) => index.get(ch)!));
  const freq = [...pieces.keys()].sort().map((p) => pieces.get(p)!);
  const pairCount = new Map<number, number>();
  const pairWords = new Map<number, Set<number>>();
  const banned = new Set<number>();
  const addPairs = (w: number, sign: number) => {
    const s = words[w];
    for (let i = 0; i + 1 < s.length; i++) {
      const k = key(s[i], s[i + 1]);
      if (banned.has(k)) continue;
      const c = (pairCount.get(k) ?? 0) + sign * freq[w];
      if (c === 0) pairCount.delete(k);
      else pairCount.set(k, c);
      if (sign > 0) (pairWords.get(k) ?? pairWords.set(k, new Set()).get(k)!).add(w);
    }
  };
  words.forEach((_, w) => addPairs(w, 1));
  const out: [string, string][] = [];
  while (out.length < merges) {
    let best = -1;
    let bestCount = 0;
    for (const [k, c] of pairCount) {
      if (c > bestCount || (c === bestCount && tieBreak(k, best, symbols, PAIR) < 0)) [best, bestCount] = [k, c];
    }
    if (best < 0 || bestCount < minFrequency) break;
    const a = Math.floor(best / PAIR);
    const b = best % PAIR;
    if (index.has(symbols[a] + symbols[b])) {
      // The merged string is already a token (a special token spelled out): never merge this pair.
      pairCount.delete(best);
      banned.add(best);
      continue;
    }
    index.set(symbols[a] + symbols[b], symbols.length);
    const merged = symbols.length;
    symbols.push(symbols[a] + symbols[b]);
    out.push([symbols[a], symbols[b]]);
    for (const w of pairWords.get(best) ?? []) {
      addPairs(w, -1);
      const s = words[w];
      const next: number[] = [];
      for (let i = 0; i < s.length; i++) {
        if (i + 1 < s.length && s[i] === a && s[i + 1] === b) next.push(merged), i++;
        else next.push(s[i]);
      }
      words[w] = next;
      addPairs(w, 1);
    }
    pairWords.delete(best);
  }
  return out;
}

function tieBreak(k: number, best: number, symbols: string[], PAIR: number): number {
  if (best < 0) return -1;
  const [a1, b1] = [symbols[Math.floor(k / PAIR)], symbols[k % PAIR]];
  const [a2, b2] = [symbols[Math.floor(best / PAIR)], symbols[best % PAIR]];
  return a1 < a2 ? -1 : a1 > a2 ? 1 : b1 < b2 ? -1 : b1 > b2 ? 1 : 0;
}

/**
 * Trains a byte-level BPE tokenizer: ids 0.. are the special tokens, then the 256 bytes, then one token per merge.
 * Deterministic: the same texts (in any order) and options give the same vocabulary.
 */
export function trainBpe(texts: Iterable<string>, opts: BpeTrainOptions): HfTokenizer {
  const sp = { pad: "<pad>", bos: "<s>", eos: "</s>", ...opts.specialTokens };
  const specials = [sp.pad, sp.bos, sp.eos];
  const minSize = specials.length + 256;
  if (!(Number.isInteger(opts.vocabSize) && opts.vocabSize >= minSize)) throw new Error(`trainBpe: vocabSize must be an integer ≥ ${minSize} (specials + 256 bytes), got ${opts.vocabSize}`);
  const symbols = [...specials, ...byteToUnicode()];
  const index = new Map(symbols.map((s, i) => [s, i]));
  const merges = learnMerges(countPieces(texts, specials), symbols, index, opts.vocabSize - minSize, opts.minFrequency ?? 2);
  const vocab: Record<string, number> = {};
  symbols.forEach((s, i) => (vocab[s] ??= i));
  const added = specials.map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }));
  const byteLevel = { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true };
  const json = {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: null,
    decoder: byteLevel,
    model: { type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, vocab, merges: merges.map(([a, b]) => `${a} ${b}`) },
  };
  return new HfTokenizer(json, { pad_token: sp.pad, bos_token: sp.bos, eos_token: sp.eos, tokenizer_class: "PreTrainedTokenizer" }, "trained BPE");
}
