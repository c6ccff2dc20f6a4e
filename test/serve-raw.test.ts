// `tsdistill serve` with raw inputs: records, texts and base64 images go through the model's preprocess.json (TF.js
// and ONNX, including ONNX graphs that hold the preprocessing), /metadata describes them, bad samples are one-line
// 400s naming the field and index.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { useBackend } from "../src/engine/backend.js";
import { createServer, type InferenceServer } from "../src/serve/server.js";
import { loadStudent } from "../src/students/student.js";
import { saveOnnx } from "../src/export/onnx.js";
import { graphPreprocessFor } from "../src/export/graph-preprocess.js";
import { encodeRecords, type TabularPreprocess } from "../src/runtime/preprocess.mjs";
import { makeDeployFixture } from "./deploy-fixture.js";
import { assertAllClose, tempDir } from "./helpers.js";

await useBackend("wasm", { fallback: false });
const { dir, cleanup } = tempDir("tsdistill-serve-raw-");
process.on("exit", cleanup);
const fx = await makeDeployFixture(dir);

// ONNX files of the numeric tabular and image models with the preprocessing in the graph, and of the mixed model
// taking features.
for (const d of [fx.numeric, fx.image, fx.mixed]) {
  const s = await loadStudent(d);
  const g = graphPreprocessFor(s.preprocess!);
  saveOnnx(s.model, `${d}.onnx`, { graphPreprocess: g ?? undefined }); // the mixed model has a categorical column: no graph preprocessing
  s.dispose();
}

const servers: InferenceServer[] = [];
after(async () => {
  for (const s of servers) await s.predictor.close();
});
async function server(modelDir: string, onnx?: string): Promise<InferenceServer> {
  const s = await createServer({ modelDir, onnx, maxBatch: 8 });
  servers.push(s);
  return s;
}

interface Answer {
  status: number;
  json: Record<string, unknown>;
}
async function post(s: InferenceServer, body: unknown): Promise<Answer> {
  const res = await s.app.request("/predict", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}
type Pred = { class: number; label: string; probabilities: number[]; logits: number[] };
const preds = (a: Answer): Pred[] => {
  assert.equal(a.status, 200, JSON.stringify(a.json));
  return a.json.predictions as Pred[];
};
function assertError(a: Answer, pattern: RegExp): void {
  assert.equal(a.status, 400, JSON.stringify(a.json));
  const msg = String(a.json.error);
  assert.ok(!msg.includes("\n"), "one line");
  assert.match(msg, pattern);
}

/** The library's predictions for the same raw samples (the reference). */
async function expected(modelDir: string, rows: unknown[]): Promise<Pred[]> {
  const s = await loadStudent(modelDir);
  try {
    return (await s.predict(rows)) as Pred[];
  } finally {
    s.dispose();
  }
}
function assertSame(got: Pred[], want: Pred[], what: string, rtol = 1e-5): void {
  assert.equal(got.length, want.length, what);
  got.forEach((p, i) => {
    assert.equal(p.class, want[i].class, `${what} ${i}: class`);
    assert.equal(p.label, want[i].label, `${what} ${i}: label`);
    assertAllClose(p.probabilities, want[i].probabilities, { rtol, atolScale: 1e-5, what: `${what} ${i}` });
  });
}

const b64 = (b: Buffer) => b.toString("base64");

test("TF.js: records, texts and images give the library's predictions; one sample or a batch", async () => {
  const tab = await server(fx.mixed);
  assertSame(preds(await post(tab, { records: fx.records })), await expected(fx.mixed, fx.records), "records");
  assertSame(preds(await post(tab, { record: fx.records[1] })), (await expected(fx.mixed, fx.records)).slice(1, 2), "record");
  const txt = await server(fx.text);
  assertSame(preds(await post(txt, { texts: fx.texts })), await expected(fx.text, fx.texts), "texts");
  assertSame(preds(await post(txt, { text: fx.texts[0] })), (await expected(fx.text, fx.texts)).slice(0, 1), "text");
  const img = await server(fx.image);
  const want = await expected(fx.image, fx.pngs);
  assertSame(preds(await post(img, { images: fx.pngs.map(b64) })), want, "images");
  assertSame(preds(await post(img, { image: `data:image/png;base64,${b64(fx.pngs[2])}` })), want.slice(2, 3), "image as a data URL");
  // Tensors still work: the features of a record give the same answer as the record.
  const s = await loadStudent(fx.mixed);
  const x = Array.from(encodeRecords(s.preprocess as TabularPreprocess, [fx.records[0]]));
  s.dispose();
  assertSame(preds(await post(tab, { input: x })), (await expected(fx.mixed, fx.records)).slice(0, 1), "tensor");
});

test("/metadata says which raw kind the model takes, its columns / text field / image size, and the labels", async () => {
  const tab = await server(fx.mixed);
  const m = (await (await tab.app.request("/metadata")).json()) as Record<string, any>;
  assert.equal(m.input.raw.kind, "records");
  assert.deepEqual(m.input.raw.fields, ["record", "records"]);
  assert.deepEqual(m.input.raw.columns, [
    { name: "x1", kind: "numeric" },
    { name: "x2", kind: "numeric" },
    { name: "color", kind: "categorical", categories: ["blue", "green", "red"] },
  ]);
  assert.equal(m.input.raw.label, "y");
  assert.deepEqual(m.labels, ["a", "b", "c"]);
  assert.deepEqual(m.input.tensor.shape, [6]);
  const txt = (await (await (await server(fx.text)).app.request("/metadata")).json()) as Record<string, any>;
  assert.equal(txt.input.raw.kind, "texts");
  assert.equal(txt.input.raw.textField, "text");
  const img = (await (await (await server(fx.image)).app.request("/metadata")).json()) as Record<string, any>;
  assert.deepEqual(img.input.raw.image, { height: 8, width: 8, channels: 1 });
  assert.deepEqual(img.labels, ["left", "right"]);
});

test("bad raw samples: one-line 400 naming the field and index; the server keeps serving", async () => {
  const tab = await server(fx.mixed);
  const txt = await server(fx.text);
  const img = await server(fx.image);
  assertError(await post(tab, { records: [{ x1: 1 }, { x1: "abc" }] }), /^records\[1\]: column "x1": expected a number, got "abc"$/);
  assertError(await post(tab, { record: { x1: 1, colour: "red" } }), /^record\.colour: is not a column of this model; its columns are x1, x2, color$/);
  assertError(await post(tab, { records: [{ x1: 1 }, 5] }), /^records\[1\]: expected an object keyed by column name/);
  assertError(await post(tab, { texts: ["hello"] }), /^texts: this model takes records \(\{"records": .*\) or tensors, not texts$/);
  assertError(await post(tab, { records: [] }), /^records: expected 1 to 8 samples, got an empty array$/);
  assertError(await post(tab, { records: Array.from({ length: 9 }, () => ({ x1: 1 })) }), /^records: expected at most 8 samples per request \(max batch\), got 9$/);
  assertError(await post(tab, { records: { x1: 1 } }), /^records: expected an array of records/);
  assertError(await post(tab, { records: [{ x1: 1 }], input: [1, 2, 3, 4, 5, 6] }), /^body: expected one of the fields "input", "records", not 2$/);
  assertError(await post(txt, { texts: ["fine", { body: "x" }] }), /^texts\[1\]: expected a string or an object with a string field "text", got nothing$/);
  assertError(await post(img, { images: [b64(fx.pngs[0]), "not base64!"] }), /^images\[1\]: expected a base64-encoded PNG or JPEG string, got "not base64!" \(not base64\)$/);
  assertError(await post(img, { images: [b64(fx.pngs[0]), Buffer.from("GIF89a....").toString("base64")] }), /^images\[1\]: is neither a PNG nor a JPEG/);
  assertError(await post(img, { image: 7 }), /^image: expected a base64-encoded PNG or JPEG string, got 7$/);
  assertError(await post(img, { body: 1 }), /^body: expected a field "input" .*"image" or "images"/);
  assert.equal((await post(tab, { records: fx.records })).status, 200, "still serving");
});

test("ONNX: a graph holding the preprocessing (numeric values, pixels) and a features graph serve raw inputs like TF.js", async () => {
  const num = await server(fx.numeric, "auto");
  assert.equal(num.predictor.runtime, "onnxruntime");
  assert.equal(num.predictor.tensorInput.kind, "values");
  assert.ok(num.predictor.onnxCheck!.maxAbsDiff < 1e-4 && num.predictor.onnxCheck!.sameClass === 1, JSON.stringify(num.predictor.onnxCheck));
  assertSame(preds(await post(num, { records: fx.numericRecords })), await expected(fx.numeric, fx.numericRecords), "numeric records through the graph");
  // Tensors are the graph's raw values: null is missing.
  const viaValues = preds(await post(num, { inputs: [[null, 120.5, -1.2]] }));
  assertSame(viaValues, (await expected(fx.numeric, fx.numericRecords)).slice(1, 2), "raw values with null");
  assertError(await post(num, { records: [{ a: "x" }] }), /^records\[0\]: column "a": expected a number, got "x"$/);

  const img = await server(fx.image, "auto");
  assert.equal(img.predictor.tensorInput.kind, "pixels");
  assert.deepEqual(img.predictor.inputShape, [8, 8, 3]);
  assert.ok(img.predictor.onnxCheck!.maxAbsDiff < 1e-4, JSON.stringify(img.predictor.onnxCheck));
  // The pixel graph takes 8×8 uint8: an image at that size goes through exactly; 10×10 ones are resized and rounded
  // to integers first, so those agree in class and closely in probability.
  const got = preds(await post(img, { images: fx.pngs.map(b64) }));
  const want = await expected(fx.image, fx.pngs);
  assertSame(got.slice(3), want.slice(3), "8×8 image through the pixel graph");
  assertSame(got.slice(0, 3), want.slice(0, 3), "resized images through the pixel graph", 2e-2);
  assertError(await post(img, { input: Array.from({ length: 192 }, (_, i) => (i === 5 ? 256 : 0)) }), /^input\[5\]: expected an integer pixel value 0\.\.255, got 256$/);

  const mixed = await server(fx.mixed, "auto");
  assert.equal(mixed.predictor.tensorInput.kind, "features");
  assertSame(preds(await post(mixed, { records: fx.records })), await expected(fx.mixed, fx.records), "records into a features graph");
});

test("an ONNX graph that takes raw values needs the model folder's preprocess.json", async () => {
  const { rmSync, cpSync } = await import("node:fs");
  const copy = join(dir, "numeric-no-pre");
  cpSync(fx.numeric, copy, { recursive: true });
  rmSync(join(copy, "preprocess.json"));
  await assert.rejects(createServer({ modelDir: copy, onnx: `${fx.numeric}.onnx` }), (err: Error) => err.message.includes(`${fx.numeric}.onnx: takes raw values`) && err.message.includes("no preprocess.json"));
});
