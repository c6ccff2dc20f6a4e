// Whole words in a static table (Model2Vec's vocabulary step): the SentencePiece tokenizer taking listed words whole
// (same ids as before for everything else, saved and loaded, the same in the shipped runtime), frequentWords, and a
// static distillation whose word rows are the teacher's vectors of the words as texts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { useBackend } from "../src/engine/backend.js";
import { distillStaticFromTeacher } from "../src/embeddings/distill-static.js";
import { leadingWords, tokenizerFromJson } from "../src/embeddings/runtime/embed-runtime.mjs";
import { frequentWords } from "../src/embeddings/words.js";
import type { EmbeddingTeacher } from "../src/teachers/embedding/embedding-teacher.js";
import { useLiteDir } from "../src/teachers/embedding/tfjs-embedding-teacher.js";
import { trainBpe } from "../src/tokenizers/bpe-train.js";
import { loadTokenizer } from "../src/tokenizers/io.js";
import { SentencePieceTokenizer } from "../src/tokenizers/sentencepiece.js";
import { assertAllClose, tempDir } from "./helpers.js";

const use = () => SentencePieceTokenizer.fromVocabFile(join(useLiteDir(), "vocab.json"));

const TEXTS = [
  "",
  " ",
  "Hello, world!",
  "  double  spaces ",
  "émoji 😀😀 x",
  "日本語のテキスト",
  "Don't panic: the refinement of 42 programmers' code isn't done.",
  "A lawyer's (reasonable) doubt—and the jury’s verdict…",
];

test("SentencePieceTokenizer with whole words: a listed word is one id after the pieces, everything else as before", () => {
  const sp = use();
  assert.deepEqual(sp.encode("Hello, world!"), [341, 4125, 8, 311, 78], "USE's own split (see embeddings-static.test.ts)");
  // Words that never occur: cutting the text at each "▁" gives exactly the whole-text Viterbi split.
  const none = sp.withWords(["qqzzxq"]);
  for (const t of TEXTS) assert.deepEqual(none.encode(t), sp.encode(t), JSON.stringify(t));
  const w = sp.withWords(["Hello", "refinement", "programmers", "isn't", "jury’s"]);
  assert.equal(w.vocabSize, 8005);
  assert.deepEqual(w.encode("Hello, world!"), [8000, 8, 311, 78]);
  assert.equal(w.decode([8000, 8, 311, 78]), "Hello, world!");
  assert.equal(w.pieceText(8001), "refinement");
  const ids = w.encode(TEXTS[6]);
  for (const id of [8001, 8002, 8003]) assert.ok(ids.includes(id), `${id} in ${ids}`);
  assert.equal(w.decode(ids), TEXTS[6]);
  assert.ok(w.encode(TEXTS[7]).includes(8004), "a curly apostrophe inside a word");
  // A word is matched whole: "Hell" is not "Hello", and "Hello" is not the start of "Helloween".
  assert.deepEqual(sp.withWords(["Hell"]).encode("Hello"), sp.encode("Hello"));
  assert.deepEqual(w.encode("Helloween"), sp.encode("Helloween"));
  assert.throws(() => sp.withWords(["two words"]), /words\[0\]: "two words" is not one whole word/);
  // Saved as tokenizer.json and read back, by tsdistill and by the shipped runtime: the same ids.
  const { dir, cleanup } = tempDir();
  try {
    writeFileSync(join(dir, "tokenizer.json"), JSON.stringify(w.toFiles().tokenizer));
    const back = loadTokenizer(dir) as SentencePieceTokenizer;
    assert.deepEqual(back.words, w.words);
    const runtime = tokenizerFromJson(w.toFiles().tokenizer);
    for (const t of TEXTS) {
      assert.deepEqual(back.encode(t), w.encode(t), JSON.stringify(t));
      assert.deepEqual(runtime.encode(t), w.encode(t), JSON.stringify(t));
    }
    assert.equal("words" in sp.toFiles().tokenizer, false, "no words: the file is as before");
  } finally {
    cleanup();
  }
});

test("leadingWords and frequentWords: words seen ≥ minCount times that USE splits, most frequent first", () => {
  assert.deepEqual(leadingWords("Don't (panic), 42 programmers' code—now"), ["Don't", "42", "programmers", "code"]);
  const sp = use();
  const texts = ["the refinement of programmers", "refinement and programmers and refinement", "the programmers' refinement", "zyxwv once"];
  // "the" and "and" are single pieces (▁the, ▁and): never added; "zyxwv" is seen once.
  assert.deepEqual(frequentWords(texts, sp), ["refinement", "programmers"]);
  assert.deepEqual(frequentWords(texts, sp, { minCount: 1, max: 3 }), ["refinement", "programmers", "zyxwv"]);
  assert.deepEqual(frequentWords(texts, sp, { max: 1 }), ["refinement"]);
  assert.throws(() => frequentWords(texts, sp, { minCount: 0 }), /minCount 0/);
});

/** A SentencePiece teacher stand-in: vectors from the ids (one-id inputs) or the text's code points. */
function sentencePieceTeacher(dim = 8): EmbeddingTeacher & { calls: { ids: number; texts: string[] } } {
  const tokenizer = use();
  const vec = (seed: number) => Array.from({ length: dim }, (_, j) => Math.sin(seed * (j + 1)) + 0.1 * j);
  const calls = { ids: 0, texts: [] as string[] };
  return {
    name: "sp-toy",
    kind: "function",
    dim,
    hash: null,
    tokenizer,
    calls,
    embed: async (texts) => (calls.texts.push(...texts), Float32Array.from(texts.flatMap((t) => vec([...t].reduce((a, c) => a + c.codePointAt(0)!, 0))))),
    embedIds: async (ids) => ((calls.ids += ids.length), Float32Array.from(ids.flatMap((s) => vec(s[0] + 0.5)))),
    close: async () => {},
  };
}

test("distillStatic with words: word rows are the teacher's vectors of the words as texts; pieces as before", async () => {
  await useBackend("cpu");
  const teacher = sentencePieceTeacher();
  const words = ["refinement", "programmers"];
  const r = await distillStaticFromTeacher(teacher, { pcaDims: null, sifCoefficient: null, words, batchSize: 3000 });
  assert.equal(r.tokenizer.vocabSize, 8002);
  assert.deepEqual(teacher.calls.texts, words, "only the words go in as texts");
  assert.equal(teacher.calls.ids, 7999, "every piece but pad as one id");
  const table = r.model.tensors().embeddings.data as Float32Array;
  assertAllClose(table.subarray(8001 * 8, 8002 * 8), await teacher.embed(["programmers"]), { rtol: 1e-6 });
  assertAllClose(table.subarray(9 * 8, 10 * 8), await teacher.embedIds!([[9]]), { rtol: 1e-6 });
  assert.deepEqual(r.tokenizer.encode("refinement"), [8000]);
  // With PCA: the cached token vectors of the same vocabulary skip the teacher.
  const before = teacher.calls.ids;
  const p = await distillStaticFromTeacher(teacher, { pcaDims: 4, words, tokenVectors: r.tokenVectors });
  assert.equal(teacher.calls.ids, before);
  assert.equal(p.model.config.vocab, 8002);
  await assert.rejects(distillStaticFromTeacher(teacher, { vocabulary: trainBpe(["a b c"], { vocabSize: 260 }), words }), /words: only with vocabulary "teacher"/);
});
