// LM corpora from --data specs (src/data/lm-corpus.ts): text: files and folders, the State of the Union corpus.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isLmDataSpec, loadLmCorpus } from "../src/data/lm-corpus.js";
import { TsdistillError } from "../src/util/errors.js";
import { tempDir } from "./helpers.js";

function corpusFolder(dir: string, docs: number): string {
  const folder = join(dir, "docs");
  mkdirSync(folder, { recursive: true });
  for (let i = 0; i < docs; i++) writeFileSync(join(folder, `doc-${String(i).padStart(2, "0")}.txt`), `document ${i}: ${"lorem ipsum dolor sit amet ".repeat(4 + i)}`);
  return folder;
}

test("isLmDataSpec recognises text: and sotu specs only", () => {
  for (const s of ["text:a.txt", "text:dir?ctx=8", "sotu", "sotu?ctx=64", "sotu:1990-2021"]) assert.ok(isLmDataSpec(s), s);
  for (const s of ["mnist", "jsonl:a.jsonl", "csv:x.csv", "sotux", undefined]) assert.ok(!isLmDataSpec(s), String(s));
});

test("text: holds out whole documents (seeded), packs windows of ctx+1 tokens, and reads its options", (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const folder = corpusFolder(dir, 10);
  const a = loadLmCorpus(`text:${folder}?ctx=16&holdout=0.2&validation=0.1`);
  const b = loadLmCorpus(`text:${folder}?ctx=16&holdout=0.2&validation=0.1`);
  assert.deepEqual(a.documents, b.documents);
  assert.deepEqual([a.documents.train.length, a.documents.validation.length, a.documents.test.length], [7, 1, 2]);
  const all = new Set([...a.documents.train, ...a.documents.validation, ...a.documents.test]);
  assert.equal(all.size, 10, "every document is in exactly one split");
  assert.deepEqual(a.train.sampleShape, [16]);
  assert.equal(a.tokenizer.kind, "byte");
  const other = loadLmCorpus(`text:${folder}?ctx=16&holdout=0.2&validation=0.1&split-seed=7`);
  assert.notDeepEqual(other.documents.test, a.documents.test, "another split seed draws other documents");
});

test("text: tokenizer=bpe:N trains a BPE vocabulary on the training documents only", (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const folder = corpusFolder(dir, 6);
  const c = loadLmCorpus(`text:${folder}?ctx=8&tokenizer=bpe:300&holdout=0.2&validation=0`);
  assert.equal(c.tokenizer.kind, "huggingface");
  assert.ok(c.tokenizer.vocabSize <= 300 && c.tokenizer.vocabSize > 259);
  assert.equal(c.validation, null);
});

test("bad LM data specs fail with one line naming the spec and what was expected", (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const folder = corpusFolder(dir, 3);
  const cases: [string, RegExp][] = [
    [`text:${folder}?ctx=1`, /ctx: expected an integer ≥ 2/],
    [`text:${folder}?holdout=1.5`, /holdout: expected a fraction in \(0, 1\)/],
    [`text:${folder}?window=3`, /unknown option "window" for text; expected tokenizer=/],
    [`text:${folder}?tokenizer=bpe:10`, /expected N ≥ 259/],
    [`text:${folder}?holdout=0.5&validation=0.5`, /holding out whole documents for test and validation needs at least/],
    [`text:${join(dir, "missing")}`, /not found; expected a text file or a folder of \.txt files/],
    ["sotu:1700-1750", /no State of the Union address falls in 1700-1750/],
    ["sotu:recent", /expected sotu, sotu:all, sotu:YEAR or sotu:FROM-TO/],
  ];
  for (const [spec, re] of cases) assert.throws(() => loadLmCorpus(spec), (e: unknown) => e instanceof TsdistillError && re.test(e.message) && !e.message.includes("\n"), spec);
});

test("sotu holds out the most recent addresses whole (test), the ones before them for validation", () => {
  const c = loadLmCorpus("sotu:1990-2021?ctx=32&holdout=0.1&validation=0.1");
  const year = (name: string) => Number(name.slice(0, 4));
  const maxTrain = Math.max(...c.documents.train.map(year));
  const minVal = Math.min(...c.documents.validation.map(year));
  const maxVal = Math.max(...c.documents.validation.map(year));
  const minTest = Math.min(...c.documents.test.map(year));
  assert.ok(maxTrain <= minVal && maxVal <= minTest, `train ≤ ${maxTrain}, validation ${minVal}-${maxVal}, test ≥ ${minTest}`);
  assert.ok(c.documents.test.some((d) => d.startsWith("2021")), "the newest address is held out");
  assert.ok(c.train.size > c.test.size && c.test.size > 0);
});
