// Tokenizers: byte-level, Hugging Face tokenizer.json (BPE, WordPiece, Unigram) through @lenml/tokenizers, BPE
// training, and saving/loading them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { ByteTokenizer, BYTE_SPECIAL } from "../src/tokenizers/byte.js";
import { HfTokenizer } from "../src/tokenizers/huggingface.js";
import { trainBpe } from "../src/tokenizers/bpe-train.js";
import { loadTokenizer, openTokenizer, writeTokenizerFiles } from "../src/tokenizers/io.js";
import { tempDir } from "./helpers.js";

const added = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
const base = { version: "1.0", truncation: null, padding: null, normalizer: null, post_processor: null };

test("byte tokenizer: UTF-8 bytes, round trip including non-ASCII, specials after the bytes", () => {
  const t = new ByteTokenizer();
  const text = "héllo wörld — 猫 🐱\n\ttab";
  const ids = t.encode(text);
  assert.deepEqual(ids, Array.from(Buffer.from(text, "utf8")));
  assert.equal(t.decode(ids), text);
  assert.deepEqual(t.encode("é"), [0xc3, 0xa9]);
  assert.equal(t.vocabSize, 260);
  assert.deepEqual(t.special, { pad: 256, bos: 257, eos: 258, unk: 259 });
  assert.equal(t.decode([BYTE_SPECIAL.bos, ...t.encode("ok"), BYTE_SPECIAL.eos, BYTE_SPECIAL.pad]), "ok", "specials are left out");
  assert.equal(t.decode([0xe7, 0x8c]), "\ufffd", "a character cut in half decodes to U+FFFD");
});

test("Hugging Face byte-level BPE tokenizer.json gives the expected ids", () => {
  const json = {
    ...base,
    added_tokens: [added(6, "<|endoftext|>")],
    pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, vocab: { l: 0, o: 1, w: 2, "Ġ": 3, lo: 4, low: 5, "Ġlow": 7 }, merges: ["l o", "lo w", "Ġ low"] },
  };
  const t = new HfTokenizer(json, {}, "bpe.json");
  assert.deepEqual(t.encode("low low"), [5, 7]);
  assert.deepEqual(t.encode("lowlow"), [5, 5]);
  assert.equal(t.decode([5, 7, 6]), "low low", "the special token is left out");
  assert.equal(t.vocabSize, 8);
  assert.deepEqual(t.special, { pad: 6, bos: 6, eos: 6, unk: null }, "GPT-2 style: <|endoftext|> is bos and eos, and pads");
  assert.throws(() => t.encode("lox"), /bpe\.json: the text "lox" has a piece the vocabulary cannot encode, and the tokenizer has no unk token/);
});

test("Hugging Face WordPiece tokenizer.json gives the expected ids", () => {
  const vocab = { "[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, play: 4, "##ing": 5, "##ed": 6, the: 7, game: 8, ".": 9 };
  const json = {
    ...base,
    added_tokens: [added(0, "[PAD]"), added(1, "[UNK]"), added(2, "[CLS]"), added(3, "[SEP]")],
    normalizer: { type: "BertNormalizer", clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: "BertPreTokenizer" },
    decoder: { type: "WordPiece", prefix: "##", cleanup: true },
    model: { type: "WordPiece", unk_token: "[UNK]", continuing_subword_prefix: "##", max_input_chars_per_word: 100, vocab },
  };
  const t = new HfTokenizer(json, {});
  assert.deepEqual(t.encode("Playing the game, played."), [4, 5, 7, 8, 1, 4, 6, 9]);
  assert.deepEqual(t.encode("xyz"), [1]);
  assert.deepEqual(t.special, { pad: 0, bos: 2, eos: 3, unk: 1 }, "BERT: [CLS] and [SEP] stand in for bos and eos");
  assert.equal(t.decode([2, 4, 5, 7, 8, 9, 3, 0]), "playing the game.");
});

test("Hugging Face Unigram tokenizer.json gives the expected (most likely) segmentation", () => {
  const json = {
    ...base,
    added_tokens: [added(0, "<unk>"), added(1, "<s>"), added(2, "</s>")],
    pre_tokenizer: { type: "Metaspace", replacement: "▁", add_prefix_space: true, prepend_scheme: "always" },
    decoder: { type: "Metaspace", replacement: "▁", add_prefix_space: true, prepend_scheme: "always" },
    model: {
      type: "Unigram",
      unk_id: 0,
      vocab: [["<unk>", 0], ["<s>", 0], ["</s>", 0], ["▁", -2], ["▁he", -3], ["llo", -3], ["▁hello", -4], ["h", -5], ["e", -5], ["l", -5], ["o", -5], ["▁w", -4], ["or", -4], ["ld", -4], ["▁world", -9]],
    },
  };
  const t = new HfTokenizer(json, { unk_token: "<unk>", bos_token: "<s>", eos_token: "</s>" });
  // "▁hello" (−4) beats "▁he"+"llo" (−6); "▁world" (−9) beats "▁w"+"or"+"ld" (−12).
  assert.deepEqual(t.encode("hello world"), [6, 14]);
  assert.deepEqual(t.encode("hello qq"), [6, 3, 0]);
  assert.equal(t.decode(t.encode("hello world")), "hello world");
  assert.deepEqual(t.special, { pad: 2, bos: 1, eos: 2, unk: 0 });
});

test("a tokenizer.json that is not one gives one-line errors naming the file", () => {
  assert.throws(() => new HfTokenizer({ model: { type: "WordLevelish", vocab: {} } }, {}, "x.json"), /^DataError: x\.json: model\.type is "WordLevelish"; expected one of BPE, WordPiece, Unigram$/);
  assert.throws(() => new HfTokenizer({ added_tokens: [] }, {}, "y.json"), /y\.json: expected a Hugging Face tokenizer\.json with a "model" object/);
});

const CORPUS = [
  "the quick brown fox jumps over the lazy dog",
  "the lazy dog sleeps; the quick fox runs",
  "naïve café owners serve crème brûlée — 猫 likes it",
  "<s> special tokens are never merged </s>",
];

test("BPE training is deterministic, respects the vocabulary size and round-trips any text", () => {
  const a = trainBpe(CORPUS, { vocabSize: 300, minFrequency: 2 });
  const b = trainBpe([...CORPUS].reverse(), { vocabSize: 300, minFrequency: 2 });
  assert.deepEqual(a.toFiles(), b.toFiles(), "same texts in another order → same vocabulary");
  const merges = (a.toFiles().tokenizer.model as { merges: string[] }).merges;
  assert.ok(merges.length > 5 && a.vocabSize === 3 + 256 + merges.length && a.vocabSize <= 300);
  // "e r" occurs 5 times (over, owners, serve, never, merged), then "h e" and "t he" 4 times each.
  assert.deepEqual(merges.slice(0, 3), ["e r", "h e", "t he"], "most frequent pairs first");
  // Ties go to the pair whose tokens sort first: "a b" before "c d" and "Ġ c" (2 each).
  assert.deepEqual((trainBpe(["ab cd", "ab cd"], { vocabSize: 260 }).toFiles().tokenizer.model as { merges: string[] }).merges, ["a b"]);
  assert.deepEqual(a.special, { pad: 0, bos: 1, eos: 2, unk: null });
  assert.deepEqual(a.encode("<s>x</s>"), [1, 3 + 120, 2], "special tokens in a text encode as themselves (as in Hugging Face)");
  for (const text of [...CORPUS.slice(0, 3), "unseen words, ünïcödé and emoji 🐱🚀", "  spaces\tand\nnewlines  "]) assert.equal(a.decode(a.encode(text)), text);
  const bytes = Buffer.byteLength(CORPUS[0]);
  assert.ok(a.encode(CORPUS[0]).length < 0.7 * bytes, "merges compress the training text");
  assert.deepEqual(trainBpe(CORPUS, { vocabSize: 259 }).encode("ab"), [3 + 97, 3 + 98], "no merges: one id per byte after the specials");
  assert.throws(() => trainBpe(CORPUS, { vocabSize: 100 }), /vocabSize must be an integer ≥ 259/);
});

test("tokenizers save beside a model and load back the same", (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  for (const [name, tok] of [["byte", new ByteTokenizer()], ["bpe", trainBpe(CORPUS, { vocabSize: 280 })]] as const) {
    const d = join(dir, name);
    mkdirSync(d);
    writeTokenizerFiles(tok, d);
    const back = loadTokenizer(d);
    assert.equal(back.kind, tok.kind);
    assert.deepEqual(back.special, tok.special);
    assert.equal(back.vocabSize, tok.vocabSize);
    assert.deepEqual(back.encode(CORPUS[2]), tok.encode(CORPUS[2]));
    assert.deepEqual(openTokenizer(join(d, "tokenizer.json")).encode("fox"), tok.encode("fox"));
  }
  assert.equal(openTokenizer().kind, "byte");
  writeFileSync(join(dir, "bad.json"), '{"kind": "words"}');
  assert.throws(() => loadTokenizer(join(dir, "bad.json")), /bad\.json: kind is "words"; expected "byte" or a Hugging Face tokenizer\.json/);
  writeFileSync(join(dir, "broken.json"), "{");
  assert.throws(() => loadTokenizer(join(dir, "broken.json")), /broken\.json: is not valid JSON/);
});
