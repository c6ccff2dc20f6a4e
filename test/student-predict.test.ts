// The student carries its preprocessing: loadStudent(dir).predict(records | texts | images) gives what the model
// gives on the features it was trained and tested with; the preprocessing runtime is one dependency-free module.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { useBackend } from "../src/engine/backend.js";
import { loadImageData } from "../src/data/sources.js";
import { decodeImage } from "../src/data/image-decode.js";
import { loadStudent, type Student } from "../src/students/student.js";
import { SequentialModel } from "../src/students/model.js";
import { modelConfigFromSpec } from "../src/students/spec.js";
import { saveModel } from "../src/students/io.js";
import { DataError } from "../src/util/errors.js";
import * as runtime from "../src/runtime/preprocess.mjs";
import { makeDeployFixture } from "./deploy-fixture.js";
import { assertAllClose, tempDir } from "./helpers.js";

await useBackend("wasm");
const { dir, cleanup } = tempDir("tsdistill-student-");
process.on("exit", cleanup);
const fx = await makeDeployFixture(dir);

const all = (n: number) => Int32Array.from({ length: n }, (_, i) => i);

/** The model's own logits on features (the reference every raw path must reproduce). */
function logitsOn(s: Student, x: Float32Array, n: number): Float32Array {
  return tf.tidy(() => new Float32Array(s.model.predict(tf.tensor(x, [n, ...s.inputShape])).dataSync() as Float32Array));
}

function softmax(v: ArrayLike<number>, r: number, c: number): number[] {
  const row = Array.from({ length: c }, (_, j) => v[r * c + j]);
  const m = Math.max(...row);
  const e = row.map((x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}

/** predict(raw test rows of the data) = the model on the data's test features, row by row. */
async function assertRawMatchesFeatures(dirName: string, spec: string): Promise<void> {
  const s = await loadStudent(dirName);
  try {
    const test = loadImageData(spec).test;
    const rows = test.rawRows(all(test.size))!;
    const preds = await s.predict(rows);
    const ref = logitsOn(s, test.x, test.size);
    const C = s.numOutputs;
    assert.equal(preds.length, test.size);
    preds.forEach((p, i) => {
      assert.ok("class" in p);
      assertAllClose(p.probabilities, softmax(ref, i, C), { rtol: 1e-5, atolScale: 1e-6, what: `${spec} test row ${i}` });
      assert.equal(p.label, s.labels![p.class]);
    });
    assert.ok(new Set(preds.map((p) => ("class" in p ? p.class : -1))).size > 1, `${spec}: predictions are not all one class`);
  } finally {
    s.dispose();
  }
}

test("predict from raw test rows equals the model on its test features: tabular, text, image", async () => {
  await assertRawMatchesFeatures(fx.mixed, fx.mixedCsv);
  await assertRawMatchesFeatures(fx.numeric, fx.numericCsv);
  await assertRawMatchesFeatures(fx.text, fx.jsonl);
  await assertRawMatchesFeatures(fx.image, fx.images);
});

test("records: numbers or strings, absent keys and null are missing, unseen categories get the missing slot", async () => {
  const s = await loadStudent(fx.mixed);
  try {
    assert.equal(s.rawInput, "records");
    assert.equal(s.data, fx.mixedCsv);
    const pre = s.preprocess!;
    assert.equal(pre.kind, "tabular");
    if (pre.kind !== "tabular") return;
    const [x1, x2, color] = pre.columns;
    assert.ok(x1.kind === "numeric" && x2.kind === "numeric" && color.kind === "categorical");
    if (x1.kind !== "numeric" || x2.kind !== "numeric" || color.kind !== "categorical") return;
    assert.deepEqual(color.categories, ["blue", "green", "red"]);
    // The features spelled out by hand from preprocess.json: standardised numbers (missing → the mean → 0), one-hot
    // colour with a last slot for missing or unseen values.
    const z = (v: number, c: { mean: number; std: number }) => (v - c.mean) / c.std;
    const expected = [
      [z(1.5, x1), z(9.2, x2), 0, 0, 1, 0],
      [z(-0.7, x1), 0, 1, 0, 0, 0],
      [z(3, x1), 0, 0, 0, 0, 1],
      [z(0.2, x1), z(12, x2), 0, 1, 0, 0],
    ].flat();
    const preds = await s.predict(fx.records);
    const ref = logitsOn(s, Float32Array.from(expected), 4);
    preds.forEach((p, i) => assertAllClose("class" in p ? p.probabilities : [], softmax(ref, i, 3), { rtol: 1e-5, atolScale: 1e-6, what: `record ${i}` }));
    // An array of the input columns' values in order is the same record.
    assert.deepEqual(await s.predict([[1.5, 9.2, "red"]]), [preds[0]]);
  } finally {
    s.dispose();
  }
});

test("texts and images: strings or {text} objects; PNG bytes, file paths and decoded RGBA alike", async () => {
  const t = await loadStudent(fx.text);
  try {
    const a = await t.predict(fx.texts);
    assert.deepEqual(await t.predict(fx.texts.map((text) => ({ text }))), a);
    const ref = logitsOn(t, runtime.featurizeTexts(fx.texts, (t.preprocess as runtime.TextPreprocess).featurizer), fx.texts.length);
    a.forEach((p, i) => assertAllClose("class" in p ? p.probabilities : [], softmax(ref, i, 2), { rtol: 1e-6, what: `text ${i}` }));
  } finally {
    t.dispose();
  }
  const im = await loadStudent(fx.image);
  try {
    assert.equal(im.rawInput, "images");
    const fromBytes = await im.predict(fx.pngs);
    const paths = fx.pngs.map((b, i) => {
      const p = join(dir, `p${i}.png`);
      writeFileSync(p, b);
      return p;
    });
    assert.deepEqual(await im.predict(paths), fromBytes);
    assert.deepEqual(await im.predict(fx.pngs.map((b, i) => decodeImage(b, `png ${i}`))), fromBytes);
  } finally {
    im.dispose();
  }
});

test("bad raw inputs are one-line DataErrors naming the input, index and field", async () => {
  const s = await loadStudent(fx.mixed);
  const t = await loadStudent(fx.text);
  const im = await loadStudent(fx.image);
  const rejects = async (p: Promise<unknown>, ...parts: string[]) =>
    assert.rejects(p, (err: Error) => {
      assert.ok(err instanceof DataError && !err.message.includes("\n"), `one-line DataError: ${err.message}`);
      for (const part of parts) assert.ok(err.message.includes(part), `"${err.message}" names ${part}`);
      return true;
    });
  try {
    await rejects(s.predict([{ x1: 1 }, { x1: "abc" }]), 'records[1]: column "x1": expected a number, got "abc"');
    await rejects(s.predict([{ x1: 1, colour: "red" }]), "records[0].colour: is not a column of this model; its columns are x1, x2, color");
    await rejects(s.predict([{ x1: { v: 1 } }]), "records[0].x1: expected a number, string or null, got an object");
    await rejects(s.predict([[1, 2]]), "records[0]: expected 3 values (x1, x2, color), got 2");
    await rejects(t.predict(["fine", 42]), 'texts[1]: expected a string or an object with a string field "text", got 42');
    await rejects(im.predict([fx.pngs[0], new Uint8Array([1, 2, 3, 4])]), "images[1]: is neither a PNG nor a JPEG");
    await rejects(im.predict([{ width: 2, height: 2, data: new Uint8Array(3) }]), "images[0]: RGBA data holds 3 bytes; expected width × height × 4 = 16");
  } finally {
    s.dispose();
    t.dispose();
    im.dispose();
  }
});

test("a model without preprocess.json: image-shaped input takes RGBA images; other shapes refuse raw inputs", async () => {
  const mnistLike = new SequentialModel(modelConfigFromSpec("mlp:8", { inputShape: [6, 6, 1], numClasses: 3 }), 9);
  const mDir = join(dir, "no-pre-image");
  await saveModel(mnistLike, mDir, { labels: ["x", "y", "z"] });
  const flat = new SequentialModel(modelConfigFromSpec("mlp:8", { inputShape: [5], numClasses: 2 }), 9);
  const fDir = join(dir, "no-pre-flat");
  await saveModel(flat, fDir);
  const s = await loadStudent(mDir);
  const f = await loadStudent(fDir);
  try {
    assert.equal(s.preprocessSaved, false);
    assert.equal(s.rawInput, "images");
    const img = { width: 6, height: 6, data: Uint8Array.from({ length: 144 }, (_, i) => (i * 37) % 256) };
    const [p] = await s.predict([img]);
    const x = runtime.encodeImages({ kind: "image", version: 1, height: 6, width: 6, channels: 1, labelNames: [] }, [img]);
    const ref = logitsOn(s, x, 1);
    assert.ok("class" in p);
    assertAllClose(p.probabilities, softmax(ref, 0, 3), { rtol: 1e-6 });
    assert.equal(p.label, ["x", "y", "z"][p.class]);
    assert.equal(f.rawInput, null);
    await assert.rejects(f.predict([{ a: 1 }]), (err: Error) => err instanceof DataError && err.message.includes(fDir) && err.message.includes("logitsFromFeatures"));
  } finally {
    s.dispose();
    f.dispose();
    mnistLike.dispose();
    flat.dispose();
  }
});

test("preprocess.json that does not fit the model is refused naming the file", async () => {
  const m = new SequentialModel(modelConfigFromSpec("mlp:4", { inputShape: [7], numClasses: 3 }), 1);
  const bad = join(dir, "bad-pre");
  await saveModel(m, bad, {}, { "preprocess.json": readFileSync(join(fx.mixed, "preprocess.json")) });
  m.dispose();
  await assert.rejects(loadStudent(bad), (err: Error) => err instanceof DataError && err.message.includes(join(bad, "preprocess.json")) && err.message.includes("[6] but the model takes [7]"));
});

test("the runtime module imports nothing; decodeOutput: softmax, labels, regression values", () => {
  const src = readFileSync(new URL("../src/runtime/preprocess.mjs", import.meta.url), "utf8");
  assert.doesNotMatch(src, /^\s*import\s|\bimport\(|\brequire\(/m, "preprocess.mjs has no imports");
  const pre = { kind: "text", version: 1, textField: "text", labelField: "label", labelNames: ["neg", "pos"], featurizer: { kind: "hashed-ngrams", words: [1, 1], chars: [0, 0], buckets: 4, weighting: "log", lowercase: true, hashSeed: 0 } } as const;
  const out = runtime.decodeOutput(pre as unknown as runtime.DataPreprocess, Float32Array.of(1, 3, 2, -1));
  assert.equal(out.length, 2);
  assert.deepEqual(out.map((p) => ("class" in p ? [p.class, p.label] : null)), [[1, "pos"], [0, "neg"]]);
  const e = Math.exp(-2);
  assertAllClose("class" in out[0] ? out[0].probabilities : [], [e / (1 + e), 1 / (1 + e)], { rtol: 1e-12 });
  assert.throws(() => runtime.decodeOutput(pre as unknown as runtime.DataPreprocess, Float32Array.of(1, 2, 3)), /output: expected 2 values per row, got 3 values/);
  const reg = { kind: "tabular", version: 1, label: "price", labelNames: [], columns: [], standardize: true, features: [], task: "regression", target: { mean: 100, std: 20 } } as runtime.TabularPreprocess;
  assert.deepEqual(runtime.decodeOutput(reg, Float32Array.of(0.5, -1)), [{ value: 110 }, { value: 80 }]);
});
