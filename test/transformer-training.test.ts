// Transformer students trained end to end with fit(): a byte-level causal LM that memorises a string, a classifier
// on a toy task; and the token-sequence data they train on (corpus windows, padded labelled sequences).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { useBackend } from "../src/engine/backend.js";
import * as tf from "@tensorflow/tfjs-core";
import { textDataset } from "../src/data/text-dataset.js";
import { corpusDatasets, encodeSequences, packWindows, readCorpusDocuments, sequenceDataset, tokenizeTextDataset, windowDataset } from "../src/data/token-sequences.js";
import { nextTokenMetrics } from "../src/eval/next-token.js";
import { evaluate } from "../src/eval/classification.js";
import { nextTokenCrossEntropy } from "../src/losses/next-token.js";
import { transformerConfigFromSpec } from "../src/students/spec.js";
import { TransformerModel } from "../src/students/transformer.js";
import { ByteTokenizer } from "../src/tokenizers/byte.js";
import { fit } from "../src/train/fit.js";
import { train } from "../src/train/distill.js";
import { Rng } from "../src/util/rng.js";
import { tempDir } from "./helpers.js";

await useBackend("wasm", { fallback: false });
const bytes = new ByteTokenizer();

test("packWindows: documents joined by EOS, windows of ctx+1 overlapping by one token", () => {
  const w = packWindows([[1, 2, 3], [4, 5]], 3, 9);
  assert.deepEqual(Array.from(w), [1, 2, 3, 9, 9, 4, 5, 9]);
  const d = windowDataset("w", w, 3, 10);
  assert.deepEqual([Array.from(d.x), Array.from(d.y), d.sampleShape, d.numClasses], [[1, 2, 3, 9, 4, 5], [9, 9], [3], 10]);
  assert.equal(packWindows([[1, 2]], 3, 9).length, 0, "shorter than one window: none");
});

test("corpusDatasets holds out whole documents for validation and test, deterministically", (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const folder = join(dir, "corpus");
  mkdirSync(join(folder, "sub"), { recursive: true });
  for (let i = 0; i < 10; i++) writeFileSync(join(folder, i < 5 ? "" : "sub", `doc${i}.txt`), `document ${i}: ${"QRSTUVWXYZ"[i].repeat(40)}`);
  writeFileSync(join(folder, "notes.md"), "not a .txt file");
  const a = corpusDatasets(folder, bytes, { ctx: 16, validationFraction: 0.2, testFraction: 0.1 });
  const b = corpusDatasets(folder, bytes, { ctx: 16, validationFraction: 0.2, testFraction: 0.1 });
  assert.deepEqual(a.documents, b.documents);
  assert.deepEqual([a.documents.train.length, a.documents.validation.length, a.documents.test.length], [7, 2, 1]);
  const all = [...a.documents.train, ...a.documents.validation, ...a.documents.test].sort();
  assert.deepEqual(all, [...Array(10).keys()].map((i) => (i < 5 ? `doc${i}.txt` : join("sub", `doc${i}.txt`))).sort());
  // A held-out document's letter never appears in the training windows.
  for (const name of [...a.documents.validation, ...a.documents.test]) {
    const letter = "QRSTUVWXYZ".charCodeAt(Number(/doc(\d)/.exec(name)![1]));
    assert.ok(!a.train.x.includes(letter) && !a.train.y.includes(letter), name);
  }
  const perDoc = Buffer.byteLength("document 0: ") + 40 + 1; // + EOS
  assert.equal(a.train.size, Math.floor((7 * perDoc - 1) / 16));
  assert.deepEqual([a.train.sampleShape, a.train.numClasses], [[16], 260]);
  assert.throws(() => corpusDatasets(folder, bytes, { ctx: 16, validationFraction: 0.5, testFraction: 0.5 }), /needs at least 11/);
  assert.throws(() => corpusDatasets(folder, bytes, { ctx: 200 }), /the validation documents hold fewer than ctx\+1 = 201 tokens/);
  const single = join(dir, "one.txt");
  writeFileSync(single, "first paragraph\nstill first\n\n  \nsecond\n\n\nthird");
  assert.deepEqual(readCorpusDocuments(single).map((d) => d.text), ["first paragraph\nstill first", "second", "third"]);
  assert.throws(() => readCorpusDocuments(join(dir, "missing")), /missing: not found; expected a text file or a folder of \.txt files/);
});

test("encodeSequences: BOS, truncation to ctx, right padding and attention masks; datasets keep labels and texts", () => {
  const s = encodeSequences(["hi", "héllo", ""], bytes, { ctx: 4 });
  assert.deepEqual(Array.from(s.ids), [257, 104, 105, 256, 257, 104, 0xc3, 0xa9, 257, 256, 256, 256]);
  assert.deepEqual(Array.from(s.mask), [1, 1, 1, 0, 1, 1, 1, 1, 1, 0, 0, 0]);
  assert.deepEqual([Array.from(s.lengths), s.truncated], [[3, 4, 1], 1]);
  const e = encodeSequences(["hi"], bytes, { ctx: 4, addBos: false, addEos: true });
  assert.deepEqual(Array.from(e.ids), [104, 105, 258, 256]);
  const text = textDataset("t", new Float32Array(6), Int32Array.from([1, 0, 1]), [2], 2, ["a", "bb", "ccc"]);
  const tok = tokenizeTextDataset(text, bytes, { ctx: 5 });
  assert.deepEqual([tok.sampleShape, Array.from(tok.y), tok.numClasses, tok.rawRows([2])], [[5], [1, 0, 1], 2, ["ccc"]]);
  assert.deepEqual(Array.from(tok.x.subarray(5, 10)), [257, 98, 98, 256, 256]);
});

test("a tiny byte-level causal LM trained with fit() memorises a string (100 % top-1 next-byte accuracy)", async (t) => {
  const text = "tsdistill distils transformers!";
  const window = Int32Array.from([bytes.special.bos!, ...bytes.encode(text), bytes.special.eos!]);
  const ctx = window.length - 1;
  const data = windowDataset("memorise", window, ctx, bytes.vocabSize);
  const model = new TransformerModel(transformerConfigFromSpec(`transformer:layers=1,dim=32,heads=2,ff=64,ctx=${ctx},causal,tie`), 1);
  const before = nextTokenMetrics(model, data);
  const result = await fit(model, data, (logits, c) => nextTokenCrossEntropy(logits, c.x, c.y), {
    epochs: 120,
    batchSize: 1,
    seed: 1,
    optimizer: { kind: "adam", lr: 1e-2 },
  });
  const after = nextTokenMetrics(model, data);
  t.diagnostic(`next-byte accuracy ${before.accuracy.toFixed(3)} → ${after.accuracy.toFixed(3)}, loss ${before.loss.toFixed(3)} → ${after.loss.toFixed(4)} nats/byte`);
  assert.equal(after.tokens, ctx);
  assert.ok(before.accuracy < 0.2, `untrained accuracy ${before.accuracy}`);
  assert.equal(after.accuracy, 1, `accuracy ${after.accuracy}, loss ${after.loss}`);
  assert.ok(result.history.at(-1)!.loss < 0.1 * result.history[0].loss);
  // Greedy generation from BOS reproduces the string.
  const ids = [bytes.special.bos!];
  for (let i = 0; i < text.length; i++) ids.push(tf.tidy(() => tf.argMax(model.predict(tf.tensor2d([ids])), 1).dataSync()[0]));
  assert.equal(bytes.decode(ids), text);
  model.dispose();
});

/** Strings of a/b (odd length 3..9, some other letters), labelled 1 when a outnumbers b. */
function majorityTask(n: number, seed: number): { texts: string[]; labels: Int32Array } {
  const rng = new Rng(seed, "majority");
  const texts: string[] = [];
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const len = 3 + 2 * rng.int(4);
    let s = "";
    let a = 0;
    for (let k = 0; k < len; k++) {
      const c = rng.next() < 0.5 ? "a" : "b";
      if (c === "a") a++;
      s += c;
      if (rng.next() < 0.15) s += "xyz"[rng.int(3)];
    }
    texts.push(s);
    labels[i] = 2 * a > len ? 1 : 0;
  }
  return { texts, labels };
}

test("a tiny transformer classifier learns a toy task (majority of a vs b, variable length, padded)", async (t) => {
  const ctx = 16;
  const make = (n: number, seed: number, name: string) => {
    const { texts, labels } = majorityTask(n, seed);
    return sequenceDataset(name, texts, labels, 2, bytes, { ctx });
  };
  const trainSet = make(320, 1, "train");
  const testSet = make(200, 2, "test");
  const model = new TransformerModel(transformerConfigFromSpec("transformer:layers=1,dim=16,heads=2,ff=32,head=classify", { seqLen: ctx, numClasses: 2 }), 3);
  const positives = trainSet.y.reduce((n, v) => n + v, 0) / trainSet.size;
  assert.ok(positives > 0.35 && positives < 0.65, `balanced classes (${positives})`);
  const chance = evaluate((x) => model.predict(x), testSet).accuracy;
  await train(model, trainSet, { epochs: 15, batchSize: 32, seed: 3, optimizer: { kind: "adam", lr: 3e-3 }, validation: testSet });
  const acc = evaluate((x) => model.predict(x), testSet).accuracy;
  t.diagnostic(`test accuracy ${chance.toFixed(3)} untrained → ${acc.toFixed(3)}`);
  assert.ok(acc >= 0.9, `test accuracy ${acc} (untrained ${chance})`);
  model.dispose();
});
