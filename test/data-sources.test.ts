import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PNG } from "pngjs";
import { parseDataSpec } from "../src/data/data-spec.js";
import { DATA_HELP, loadImageData, loadSplits } from "../src/data/sources.js";
import { encodeIdx } from "../src/data/idx.js";
import { textsOf } from "../src/data/text-dataset.js";
import { DataError, UsageError } from "../src/util/errors.js";
import { tempDir } from "./helpers.js";

const FIXTURES = join(import.meta.dirname, "fixtures");

function usageError(fn: () => unknown, ...parts: string[]): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof UsageError && !err.message.includes("\n"), `one-line UsageError: ${(err as Error)?.message}`);
    for (const p of parts) assert.ok(err.message.includes(p), `${err.message} lacks ${p}`);
    return true;
  });
}

test("parseDataSpec: kind, path, options with values, flags and percent-encoding", () => {
  const s = parseDataSpec("images:/data/x?size=28x28&gray&label=a%26b", DATA_HELP);
  assert.equal(s.kind, "images");
  assert.equal(s.path, "/data/x");
  assert.deepEqual([...s.options], [["size", "28x28"], ["gray", true], ["label", "a&b"]]);
  usageError(() => parseDataSpec("csv:?label=a", DATA_HELP), "expected a path");
  usageError(() => parseDataSpec("csv:a.csv?x=1&x=2", DATA_HELP), '"x" is given twice');
});

test("every kind resolves through loadImageData, with its preprocessing; idx unchanged", () => {
  const { dir, cleanup } = tempDir();
  try {
    const csv = loadImageData(`csv:${join(FIXTURES, "loans-mini.csv")}?drop=note&label=class`);
    assert.equal(csv.preprocess?.kind, "tabular");
    assert.deepEqual([csv.train.size, csv.test.size, csv.train.sampleShape[0]], [8, 2, 10]);
    const arff = loadImageData(`arff:${join(FIXTURES, "loans-mini.arff")}?standardize=false&test-fraction=0`);
    assert.equal(arff.test.size, 0);
    assert.equal(arff.train.x[4], 6, "standardize=false keeps raw durations");
    const jl = join(dir, "t.jsonl");
    writeFileSync(jl, Array.from({ length: 10 }, (_, i) => JSON.stringify({ t: `text ${i}`, y: i % 2 })).join("\n"));
    const text = loadImageData(`jsonl:${jl}?text=t&label=y&buckets=32&words=1&chars=0&weighting=tfidf`);
    assert.equal(text.preprocess?.kind, "text");
    assert.deepEqual(text.train.sampleShape, [32]);
    assert.ok(textsOf(text.train)?.every((t) => t.startsWith("text")), "texts kept");
    const root = join(dir, "img");
    for (const c of ["a", "b"]) {
      mkdirSync(join(root, c), { recursive: true });
      for (let i = 0; i < 5; i++) writeFileSync(join(root, c, `${i}.png`), PNG.sync.write(Object.assign(new PNG({ width: 6, height: 6 }), { data: Buffer.alloc(144, c === "a" ? 0 : 255) })));
    }
    const img = loadImageData(`images:${root}?size=3x4&gray`);
    assert.deepEqual(img.train.sampleShape, [3, 4, 1]);
    assert.deepEqual([img.train.size, img.test.size], [8, 2]);
    const idxDir = join(dir, "idx");
    mkdirSync(idxDir);
    for (const [split, n] of [["train", 6], ["t10k", 2]] as const) {
      writeFileSync(join(idxDir, `${split}-images-idx3-ubyte`), encodeIdx("uint8", [n, 2, 2], new Array(n * 4).fill(255)));
      writeFileSync(join(idxDir, `${split}-labels-idx1-ubyte`), encodeIdx("uint8", [n], Array.from({ length: n }, (_, i) => i % 10)));
    }
    const idx = loadImageData(`idx:${idxDir}`);
    assert.deepEqual([idx.train.size, idx.test.size, idx.preprocess], [6, 2, undefined]);
    assert.throws(() => loadImageData(`idx:${join(dir, "none")}`), DataError);
  } finally {
    cleanup();
  }
});

test("loadSplits keeps its shape; the test split does not depend on --seed; preprocessing is returned", () => {
  const spec = `arff:${join(FIXTURES, "loans-mini.arff")}`;
  const a = loadSplits(spec, { validationSize: 2, seed: 1 });
  const b = loadSplits(spec, { validationSize: 2, seed: 2 });
  assert.deepEqual(Object.keys(a).sort(), ["name", "preprocess", "summary", "test", "train", "unlabeled", "validation"]);
  assert.deepEqual([a.train.size, a.validation.size, a.test.size], [6, 2, 2]);
  assert.deepEqual(Array.from(a.test.x), Array.from(b.test.x), "same held-out rows whatever the seed");
  assert.deepEqual(a.preprocess, b.preprocess, "preprocessing is fitted before the validation split, so it is seed-independent");
  assert.notDeepEqual(Array.from(a.validation.x), Array.from(b.validation.x), "the validation split follows the seed");
  const c = loadSplits(`${spec}?split-seed=5`, { validationSize: 2, seed: 1 });
  assert.notDeepEqual(Array.from(c.test.x), Array.from(a.test.x), "split-seed picks other test rows");
  usageError(() => loadSplits(spec, { validationSize: 8, seed: 1 }), "--validation-size", "8 training samples");
});

test("bad data specs: one UsageError line naming the option and what is expected", () => {
  const csv = join(FIXTURES, "loans-mini.csv");
  usageError(() => loadImageData(`csv:${csv}?labl=x`), 'unknown option "labl"', "label=");
  usageError(() => loadImageData(`csv:${csv}?standardize=maybe`), "standardize", "true or false");
  usageError(() => loadImageData(`csv:${csv}?test-fraction=2`), "test-fraction");
  usageError(() => loadImageData(`csv:${csv}?sep=ab`), "sep");
  usageError(() => loadImageData(`jsonl:${csv}?weighting=bm25`), "weighting", "log or tfidf");
  usageError(() => loadImageData(`jsonl:${csv}?words=a-b`), "words");
  usageError(() => loadImageData(`images:${FIXTURES}?size=0x4`), "size");
  usageError(() => loadImageData(`images:${FIXTURES}?gray=1`), "gray", "no value");
  usageError(() => loadImageData("parquet:x.parquet"), 'unknown data set "parquet:x.parquet"', "csv:<file>");
  assert.throws(() => loadImageData(`csv:${join(FIXTURES, "nope.csv")}`), (e: unknown) => e instanceof DataError && e.message.includes("nope.csv"));
});
