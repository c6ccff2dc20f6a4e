// `tsdistill export` and `tsdistill eval` of students that carry their preprocessing, as users run them: no --data
// (the data recorded in the model is used), the preprocessing in the ONNX graph where ONNX can express it (numeric
// columns, pixels) and shipped as preprocess.mjs + preprocess.json otherwise; refusals name both sides.
import { test } from "node:test";
import assert from "node:assert/strict";
import { cpSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { useBackend } from "../src/engine/backend.js";
import { loadImageData } from "../src/data/sources.js";
import { OnnxRunner } from "../src/export/onnx-runtime.js";
import { loadStudent } from "../src/students/student.js";
import { classificationMetrics } from "../src/eval/classification.js";
import * as runtime from "../src/runtime/preprocess.mjs";
import { makeDeployFixture } from "./deploy-fixture.js";
import { assertAllClose, runCli, tempDir, type Run } from "./helpers.js";

await useBackend("wasm");
const { dir, cleanup } = tempDir("tsdistill-export-pre-");
process.on("exit", cleanup);
const fx = await makeDeployFixture(dir);

const describe = (r: Run) => `exit ${r.code}\nstdout: ${r.stdout.slice(0, 1500)}\nstderr: ${r.stderr}`;
async function json(args: string[]): Promise<Record<string, any>> {
  const r = await runCli([...args, "--json"]);
  assert.equal(r.code, 0, describe(r));
  return JSON.parse(r.stdout.trim().split("\n").pop()!);
}
/** A refused command: exit code, one stderr line that names every part, nothing on stdout. */
async function refused(args: string[], code: number, ...parts: string[]): Promise<void> {
  const r = await runCli(args);
  assert.equal(r.code, code, describe(r));
  const lines = r.stderr.trim().split("\n");
  assert.equal(lines.length, 1, describe(r));
  assert.doesNotMatch(lines[0], /internal error|    at /);
  for (const p of parts) assert.ok(lines[0].includes(p), `"${lines[0]}" names ${p}`);
  assert.equal(r.stdout, "");
}

/** Logits of an ONNX file on the graph input the shipped module makes of raw inputs. */
async function onnxPredict(file: string, pre: runtime.DataPreprocess, inputs: unknown[]): Promise<runtime.Prediction[]> {
  const runner = await OnnxRunner.create(file);
  try {
    const feed = runtime.graphInput(pre, inputs, runner.inputName);
    return runtime.decodeOutput(pre, await runner.run(feed.data, feed.dims));
  } finally {
    await runner.release();
  }
}
function assertSamePredictions(got: runtime.Prediction[], want: runtime.Prediction[], what: string): void {
  assert.equal(got.length, want.length);
  got.forEach((p, i) => {
    const w = want[i];
    assert.ok("class" in p && "class" in w);
    assert.equal(p.class, w.class, `${what} ${i}`);
    assertAllClose(p.probabilities, w.probabilities, { rtol: 1e-5, atolScale: 1e-5, what: `${what} ${i}` });
  });
}

test("onnx export of a numeric tabular model: raw values (NaN missing) into the graph, module shipped, checked on the recorded data", async () => {
  const out = join(dir, "numeric.onnx");
  const r = await json(["export", "--model", fx.numeric, "--out", out]);
  assert.equal(r.input, "values");
  assert.equal(r.preprocessingInGraph, true);
  assert.equal(r.data, fx.numericCsv);
  assert.match(r.checkedOn, /^30 test samples of csv:.*numeric\.csv\?label=label$/);
  assert.ok(r.maxAbsDiff < 1e-4, `max |diff| ${r.maxAbsDiff}`);
  assert.equal(r.agreement, 1);
  assert.equal(r.accuracyOnnx, r.accuracyTfjs);
  assert.deepEqual(r.shipped, [join(dir, "numeric.preprocess.json"), join(dir, "numeric.preprocess.mjs"), join(dir, "numeric.preprocess.d.mts")]);
  assert.equal(readFileSync(join(dir, "numeric.preprocess.mjs"), "utf8"), readFileSync("src/runtime/preprocess.mjs", "utf8"), "the runtime ships verbatim");
  const pre = JSON.parse(readFileSync(join(dir, "numeric.preprocess.json"), "utf8")) as runtime.DataPreprocess;
  assert.deepEqual(pre, JSON.parse(readFileSync(join(fx.numeric, "preprocess.json"), "utf8")));
  const s = await loadStudent(fx.numeric);
  assertSamePredictions(await onnxPredict(out, pre, fx.numericRecords), await s.predict(fx.numericRecords), "numeric records");
  s.dispose();
});

test("onnx export of an image model takes uint8 pixels; text and mixed tabular models take features with the module shipped", async () => {
  const img = await json(["export", "--model", fx.image, "--check", "50"]);
  assert.equal(img.out, `${fx.image}.onnx`);
  assert.equal(img.input, "pixels");
  assert.match(img.inputDescription, /uint8 RGB \[batch, 8, 8, 3\].*converts to gray/);
  assert.ok(img.maxAbsDiff < 1e-4 && img.agreement === 1, JSON.stringify(img));
  const imgPre = JSON.parse(readFileSync(`${fx.image}.preprocess.json`, "utf8")) as runtime.ImagePreprocess;
  // 8×8 RGBA images: the graph input is exactly their pixels, so ONNX equals the library.
  const rgba = [0, 1, 2].map((k) => ({ width: 8, height: 8, data: Uint8Array.from({ length: 256 }, (_, i) => (i % 4 === 3 ? 255 : (i * (k + 3) * 29) % 256)) }));
  const si = await loadStudent(fx.image);
  assertSamePredictions(await onnxPredict(`${fx.image}.onnx`, imgPre, rgba), await si.predict(rgba), "pixels");
  si.dispose();

  for (const [model, inputs] of [
    [fx.text, fx.texts],
    [fx.mixed, fx.records],
  ] as const) {
    const r = await json(["export", "--model", model, "--check", "20"]);
    assert.equal(r.input, "features");
    assert.equal(r.preprocessingInGraph, false);
    assert.ok(r.maxAbsDiff < 1e-4 && r.agreement === 1, JSON.stringify(r));
    const pre = JSON.parse(readFileSync(`${model}.preprocess.json`, "utf8")) as runtime.DataPreprocess;
    const s = await loadStudent(model);
    assertSamePredictions(await onnxPredict(`${model}.onnx`, pre, [...inputs]), await s.predict([...inputs]), model);
    s.dispose();
  }
  const feat = await json(["export", "--model", fx.image, "--input", "features", "--out", join(dir, "image-features.onnx"), "--check", "10"]);
  assert.equal(feat.input, "features");
  assert.ok(feat.maxAbsDiff < 1e-4);
});

test("tfjs export: the folder holds preprocess.json + preprocess.mjs and is itself a student; int8 keeps them", async () => {
  const out = join(dir, "mixed-tfjs");
  const r = await runCli(["export", "--model", fx.mixed, "--format", "tfjs", "--out", out]);
  assert.equal(r.code, 0, describe(r));
  assert.match(r.stdout, /preprocessing shipped in .*mixed-tfjs: preprocess\.json .*preprocess\.mjs \+ preprocess\.d\.mts \(raw records → features/);
  for (const f of ["model.json", "weights.bin", "preprocess.json", "preprocess.mjs", "preprocess.d.mts"]) assert.ok(existsSync(join(out, f)), f);
  const [a, b] = [await loadStudent(out), await loadStudent(fx.mixed)];
  assertSamePredictions(await a.predict(fx.records), await b.predict(fx.records), "exported TF.js folder");
  a.dispose();
  b.dispose();
  const q = await json(["export", "--model", fx.mixed, "--format", "tfjs", "--int8", "--out", join(dir, "mixed-int8"), "--check", "30"]);
  assert.ok(q.agreement >= 0.9, `int8 agreement ${q.agreement}`);
  assert.match(q.checkedOn, /test samples of csv:.*mixed\.csv/);
  for (const f of ["preprocess.json", "preprocess.mjs", "preprocess.d.mts"]) assert.ok(existsSync(join(dir, "mixed-int8", f)), `int8 folder keeps ${f}`);
});

test("eval needs no --data: the recorded data's test split through the model's preprocessing", async () => {
  const r = await json(["eval", "--model", fx.mixed, "--batch", "8"]);
  assert.equal(r.data, fx.mixedCsv);
  assert.equal(r.dataSource, "recorded");
  const test = loadImageData(fx.mixedCsv).test;
  const s = await loadStudent(fx.mixed);
  const acc = classificationMetrics(s.logitsFromFeatures(test.x, test.size), test.y, 3).accuracy;
  assert.equal(r.testSize, test.size);
  assert.equal(r.accuracy, acc);

  // Another file with the same columns: its rows go through the model's preprocess.json (its own fit differs),
  // and its class names are matched to the model's.
  const lines = readFileSync(join(fx.root, "mixed.csv"), "utf8").trim().split("\n");
  const other = join(dir, "mixed-other.csv");
  writeFileSync(other, [lines[0], ...lines.slice(1, 61).reverse()].join("\n") + "\n");
  const spec = `csv:${other}?label=y&test-fraction=0.5`;
  const o = await runCli(["eval", "--model", fx.mixed, "--data", spec, "--json"]);
  assert.equal(o.code, 0, describe(o));
  assert.match(o.stderr, /test samples prepared with .*preprocess\.json/);
  const otherTest = loadImageData(spec);
  const rows = otherTest.test.rawRows(Int32Array.from({ length: otherTest.test.size }, (_, i) => i))!;
  const y = Int32Array.from(otherTest.test.y, (k) => s.labels!.indexOf(otherTest.preprocess!.labelNames[k]));
  assert.equal(JSON.parse(o.stdout).accuracy, classificationMetrics(s.logits(rows), y, 3).accuracy);
  s.dispose();
});

test("refusals: data that does not fit names both sides; moved data names the recorded path; nothing is written", async () => {
  await refused(["eval", "--model", fx.mixed, "--data", "mnist"], 2, "--data mnist", "[28,28,1]", "10 classes", fx.mixed, "[6]", "3 outputs", `trained on ${fx.mixedCsv}`);
  const out = join(dir, "refused.onnx");
  await refused(["export", "--model", fx.numeric, "--data", fx.images, "--out", out], 2, fx.images, fx.numeric, "[3]");
  assert.ok(!existsSync(out) && !existsSync(join(dir, "refused.preprocess.mjs")), "nothing written by a refused export");

  // A model whose recorded data file is gone.
  const moved = join(dir, "moved");
  cpSync(fx.mixed, moved, { recursive: true });
  const mj = JSON.parse(readFileSync(join(moved, "model.json"), "utf8"));
  const gone = join(dir, "gone", "mixed.csv");
  mj.userDefinedMetadata.tsdistill.data = `csv:${gone}?label=y`;
  writeFileSync(join(moved, "model.json"), JSON.stringify(mj));
  await refused(["eval", "--model", moved], 1, join(moved, "model.json"), `records its data as "csv:${gone}?label=y"`, `${gone}: not found`, "give --data");
  await refused(["export", "--model", moved, "--out", join(dir, "moved.onnx")], 1, `csv:${gone}?label=y`, "give --data");
  // --check 0 needs no data; the export still works.
  const ok = await json(["export", "--model", moved, "--out", join(dir, "moved.onnx"), "--check", "0"]);
  assert.equal(ok.input, "features");
});
