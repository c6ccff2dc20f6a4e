import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { murmur3 } from "../src/features/murmur3.js";
import { bucketOf, featurizeTexts, fitNgrams, ngramConfig, ngrams } from "../src/features/hashed-ngrams.js";
import { loadJsonlText } from "../src/data/jsonl-text.js";
import { applyPreprocess, loadPreprocess, savePreprocess } from "../src/data/preprocess.js";
import { textsOf } from "../src/data/text-dataset.js";
import { DataError, UsageError } from "../src/util/errors.js";
import { tempDir } from "./helpers.js";

test("murmur3 matches the published MurmurHash3 x86_32 test vectors", () => {
  const vectors: [string, number, number][] = [
    ["", 0, 0],
    ["", 1, 0x514e28b7],
    ["", 0xffffffff, 0x81f16f39],
    ["test", 0, 0xba6bd213],
    ["hello", 0, 0x248bfa47],
    ["Hello, world!", 0x9747b28c, 0x24884cba],
    ["The quick brown fox jumps over the lazy dog", 0x9747b28c, 0x2fa826cd],
    ["aaaa", 0x9747b28c, 0x5a97808a],
    ["a", 0x9747b28c, 0x7fa09ea6],
    ["abc", 0, 0xb3dd93fa],
  ];
  for (const [s, seed, want] of vectors) assert.equal(murmur3(s, seed), want, `murmur3(${JSON.stringify(s)}, ${seed})`);
  assert.equal(murmur3("café"), 605818632, "non-ASCII text is hashed as UTF-8 bytes");
});

test("ngrams and their buckets (golden)", () => {
  const c = ngramConfig({ words: [1, 2], chars: [3, 3], buckets: 16 });
  const grams = ngrams("Hi there!", c);
  assert.deepEqual(grams, ["w hi", "w there", "w hi there", "c  hi", "c hi ", "c  th", "c the", "c her", "c ere", "c re "]);
  assert.deepEqual(grams.map((g) => murmur3(g)), [3299303331, 3940505851, 108574148, 2075672341, 271542903, 2981083065, 213566792, 1974398772, 2279541624, 3471298103]);
  assert.deepEqual(grams.map((g) => bucketOf(g, c)), [3, 11, 4, 5, 7, 9, 8, 4, 8, 7]);
  // Buckets 4, 7, 8 hold two n-grams each; log(1 + tf), then L2 normalisation.
  const one = Math.log(2);
  const two = Math.log(3);
  const norm = Math.sqrt(4 * one * one + 3 * two * two);
  const want = new Array(16).fill(0);
  for (const b of [3, 5, 9, 11]) want[b] = one / norm;
  for (const b of [4, 7, 8]) want[b] = two / norm;
  const x = featurizeTexts(["Hi there!"], c);
  x.forEach((v, i) => assert.ok(Math.abs(v - want[i]) < 1e-6, `bucket ${i}: ${v} vs ${want[i]}`));
  assert.deepEqual(Array.from(featurizeTexts(["", "!!"], c)), new Array(32).fill(0), "texts without n-grams stay zero");
});

test("featuriser is deterministic and rows have unit norm", () => {
  const c = ngramConfig({ buckets: 256 });
  const texts = ["Free money!!! Click now", "Meeting moved to 3pm, see agenda", "ünïcödé wörds ok"];
  const a = featurizeTexts(texts, c);
  const b = featurizeTexts([...texts], ngramConfig({ buckets: 256 }));
  assert.deepEqual(Array.from(a), Array.from(b));
  for (let i = 0; i < texts.length; i++) {
    const n = Math.hypot(...a.subarray(i * 256, (i + 1) * 256));
    assert.ok(Math.abs(n - 1) < 1e-5, `row ${i} norm ${n}`);
  }
  assert.notDeepEqual(Array.from(featurizeTexts(texts, ngramConfig({ buckets: 256, hashSeed: 1 }))), Array.from(a), "the hash seed changes buckets");
  // The byte-level hashing path gives the same buckets as hashing each n-gram string.
  texts.forEach((t, i) => {
    const counts = new Map<number, number>();
    for (const g of ngrams(t, c)) counts.set(bucketOf(g, c), (counts.get(bucketOf(g, c)) ?? 0) + 1);
    const norm = Math.hypot(...[...counts.values()].map((n) => Math.log1p(n)));
    for (let b = 0; b < 256; b++) assert.ok(Math.abs(a[i * 256 + b] - Math.log1p(counts.get(b) ?? 0) / norm) < 1e-6, `text ${i} bucket ${b}`);
  });
  assert.throws(() => ngramConfig({ words: [2, 1] }), UsageError);
  assert.throws(() => ngramConfig({ words: [0, 0], chars: [0, 0] }), UsageError);
});

test("tf-idf: idf = ln((1+n)/(1+df)) + 1 fitted on the given texts (golden)", () => {
  const c = fitNgrams(["a b", "a"], ngramConfig({ words: [1, 1], chars: [0, 0], buckets: 1024, weighting: "tfidf" }));
  const ba = bucketOf("w a", c);
  const bb = bucketOf("w b", c);
  assert.notEqual(ba, bb);
  assert.ok(Math.abs(c.idf![ba] - 1) < 1e-12 && Math.abs(c.idf![bb] - (Math.log(3 / 2) + 1)) < 1e-12, "idf of a and b");
  const unseen = [0, 1, 2].find((k) => k !== ba && k !== bb)!;
  assert.equal(c.idf![unseen], Math.log(3) + 1, "an unseen bucket gets the largest idf");
  const x = featurizeTexts(["b b a"], c);
  const wa = 1;
  const wb = 2 * (Math.log(1.5) + 1);
  const n = Math.hypot(wa, wb);
  assert.ok(Math.abs(x[ba] - wa / n) < 1e-6 && Math.abs(x[bb] - wb / n) < 1e-6, `tf·idf then L2: ${x[ba]}, ${x[bb]}`);
});

test("JSONL text: labels, raw texts kept, idf fitted on train only, unlabeled lines apart, preprocess round trip", () => {
  const { dir, cleanup } = tempDir();
  try {
    const f = join(dir, "t.jsonl");
    const lines = [];
    for (let i = 0; i < 20; i++) lines.push(JSON.stringify({ body: `${i % 2 ? "win cash prize" : "project meeting notes"} ${i}`, kind: i % 2 ? "spam" : "ham" }));
    lines.push("", JSON.stringify({ body: "who knows", kind: null }));
    writeFileSync(f, lines.join("\n") + "\n");
    const opts = { textField: "body", labelField: "kind", featurizer: { buckets: 64, weighting: "tfidf" as const } };
    const d = loadJsonlText(f, opts);
    assert.deepEqual(d.preprocess.labelNames, ["ham", "spam"]);
    assert.equal(d.train.size, 16);
    assert.equal(d.test.size, 4, "20% of each class held out");
    assert.deepEqual(d.train.sampleShape, [64]);
    const texts = textsOf(d.train)!;
    assert.ok(texts && texts.length === 16, "raw texts are kept");
    texts.forEach((t, i) => assert.equal(d.train.y[i], t.startsWith("win") ? 1 : 0, `label of ${t}`));
    assert.deepEqual(textsOf(d.unlabeled!), ["who knows"]);
    assert.deepEqual(Array.from(d.unlabeled!.y), [-1]);
    const val = d.train.split(3, 1);
    assert.deepEqual(textsOf(val.validation)!.map((t) => t.startsWith("win") ? 1 : 0), Array.from(val.validation.y), "splits keep texts aligned");
    // idf depends only on the training texts.
    assert.deepEqual(d.preprocess.featurizer.idf, fitNgrams(texts, d.preprocess.featurizer).idf);
    savePreprocess(dir, d.preprocess);
    const pre = loadPreprocess(dir)!;
    assert.deepEqual(Array.from(applyPreprocess(pre, texts.map((t) => ({ body: t })))), Array.from(d.train.x), "serve-side features equal training features");
  } finally {
    cleanup();
  }
});

test("bad JSONL input: one DataError line naming file, line and field", () => {
  const { dir, cleanup } = tempDir();
  try {
    const f = (name: string, text: string) => (writeFileSync(join(dir, name), text), join(dir, name));
    const check = (file: string, ...parts: string[]) =>
      assert.throws(() => loadJsonlText(file), (err: unknown) => {
        assert.ok(err instanceof DataError && !err.message.includes("\n"), `one-line DataError: ${(err as Error).message}`);
        for (const p of parts) assert.ok(err.message.includes(p), `${err.message} lacks ${p}`);
        return true;
      });
    check(f("json.jsonl", '{"text":"a","label":1}\n{"text":"b",\n'), "json.jsonl", "line 2", "not valid JSON");
    check(f("field.jsonl", '{"text":"a","label":1}\n{"txt":"b","label":2}\n'), "field.jsonl", "line 2", 'field "text"');
    check(f("label.jsonl", '{"text":"a","label":[1]}\n'), "label.jsonl", "line 1", 'field "label"');
    check(f("arr.jsonl", "[1,2]\n"), "arr.jsonl", "line 1", "expected a JSON object");
    check(f("oneclass.jsonl", '{"text":"a","label":1}\n{"text":"b","label":1}\n'), "oneclass.jsonl", "at least 2");
  } finally {
    cleanup();
  }
});
