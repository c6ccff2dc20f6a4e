// Two views of one sample, end to end through the CLI from a clean folder: a function teacher that reads the raw
// JSONL texts (the student reads hashed n-grams) is labelled into a cache, distilled from it and directly, and
// evaluated; an ONNX image teacher that expects [−1, 1] NCHW at 16×16 RGB teaches a student that reads 8×8 gray
// pixels in [0, 1] (the teacher gets the raw image files, resized and normalised by its teacher.yaml).
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PNG } from "pngjs";
import onnxProto from "onnx-proto";
import { InMemoryDataset } from "../src/data/dataset.js";
import { textDataset } from "../src/data/text-dataset.js";
import { ArrayRawView, PixelRawView } from "../src/data/raw.js";
import { FunctionTeacher } from "../src/teachers/function-teacher.js";
import { TeacherLogitCache, modelTeacher } from "../src/teachers/teacher.js";
import { runTeacher, teacherInput } from "../src/teachers/teacher-run.js";
import { SequentialModel } from "../src/students/model.js";
import { modelConfigFromSpec } from "../src/students/spec.js";
import { distill } from "../src/train/distill.js";
import { useBackend } from "../src/engine/backend.js";
import { Rng } from "../src/util/rng.js";
import { runCli, tempDir } from "./helpers.js";

const { onnx } = onnxProto;
await useBackend("cpu");

test("teacherInput carries both views: features, rows and raw texts, records or rendered pixels; runTeacher matches the sync path", async () => {
  const texts = textDataset("t", Float32Array.of(1, 2, 3, 4, 5, 6), Int32Array.of(0, 1, 0), [2], 2, ["a", "b", "c"]);
  const inp = teacherInput(texts, Int32Array.of(2, 0));
  assert.deepEqual(Array.from(inp.x), [5, 6, 1, 2]);
  assert.deepEqual(inp.raw, ["c", "a"]);
  assert.equal(inp.rawKind, "text");
  assert.deepEqual(Array.from(inp.rows), [2, 0]);
  const records = new InMemoryDataset("r", Float32Array.of(0, 1), Int32Array.of(0, 1), [1], 2, new ArrayRawView("record", [{ city: "Oslo" }, { city: null }]));
  assert.deepEqual(teacherInput(records, Int32Array.of(1)).raw, [{ city: null }]);
  // Pixel data (MNIST-like) has no files: its raw view renders the pixels back to RGBA.
  const pixels = new InMemoryDataset("p", Float32Array.of(0, 1, 0.5, 0.2), Int32Array.of(0, 1), [1, 2, 1], 2);
  const img = teacherInput(pixels, Int32Array.of(1)).raw![0] as { width: number; height: number; data: Uint8Array };
  assert.deepEqual([img.width, img.height, ...img.data], [2, 1, 128, 128, 128, 255, 51, 51, 51, 255]);
  assert.ok(pixels.rawView() instanceof PixelRawView);
  // A sync engine teacher through the runner gives predict()'s numbers; the logit cache is filled the same way.
  const model = new SequentialModel(modelConfigFromSpec("mlp:4", { inputShape: [2], numClasses: 2 }), 3);
  const teacher = modelTeacher(model);
  const direct = model.predict((await import("@tensorflow/tfjs-core")).tensor2d(texts.x, [3, 2])).dataSync();
  assert.deepEqual(Array.from(await runTeacher(teacher, texts, { batchSize: 2 })), Array.from(direct));
  assert.deepEqual(Array.from((await TeacherLogitCache.compute(teacher, texts)).values), Array.from(direct));
  model.dispose();
});

test("distill() from an async function teacher that reads raw texts (its logits computed once through the async path)", async () => {
  const rng = new Rng(4);
  const words = ["good", "bad"];
  const texts = Array.from({ length: 64 }, (_, i) => `${words[i % 2]} ${rng.next().toFixed(3)}`);
  // Features: a noisy copy of the class, so the student can learn what the text teacher says.
  const x = Float32Array.from(texts.flatMap((t) => [t.startsWith("good") ? 1 : -1, rng.normal() * 0.1]));
  const data = textDataset("texts", x, Int32Array.from(texts, (t) => (t.startsWith("good") ? 1 : 0)), [2], 2, texts);
  const seen = new Set<string>();
  const teacher = await FunctionTeacher.forData(
    async ({ raw }) => (raw as string[]).map((t) => (seen.add(t), t.startsWith("good") ? [0, 4] : [4, 0])),
    "words",
    data,
  );
  const student = new SequentialModel(modelConfigFromSpec("mlp:8", { inputShape: [2], numClasses: 2 }), 1);
  await distill({ teacher, student, data, epochs: 15, batchSize: 16, optimizer: { kind: "adam", lr: 0.05, beta1: 0.9, beta2: 0.999, epsilon: 1e-7, weightDecay: 0 }, seed: 1 });
  assert.equal(seen.size, 64, "the teacher saw every raw text");
  const logits = await runTeacher(modelTeacher(student), data);
  let agree = 0;
  for (let i = 0; i < 64; i++) agree += Number((logits[2 * i + 1] > logits[2 * i]) === texts[i].startsWith("good"));
  assert.ok(agree >= 60, `student agrees with the text teacher on ${agree}/64`);
  student.dispose();
});

test("CLI: a function teacher reading raw JSONL texts is labelled, distilled (from the cache and directly) and evaluated", { timeout: 600_000 }, async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const rng = new Rng(7);
  const kinds = [
    { label: "negative", words: ["awful", "bad"] },
    { label: "neutral", words: ["okay", "fine"] },
    { label: "positive", words: ["great", "good"] },
  ];
  const filler = ["the", "food", "service", "place", "was", "really", "quite", "and"];
  const lines = Array.from({ length: 150 }, (_, i) => {
    const k = kinds[i % 3];
    const text = [...Array.from({ length: 4 }, () => filler[Math.floor(rng.next() * filler.length)]), k.words[i % 2]].join(" ");
    return JSON.stringify({ text, label: k.label });
  });
  const file = join(dir, "reviews.jsonl");
  writeFileSync(file, lines.join("\n") + "\n");
  const data = `jsonl:${file}?buckets=64`;
  const common = ["--data", data, "--validation-size", "10", "--backend", "cpu", "--quiet", "--json"];
  const teacher = "fn:test/fixtures/fn-teacher.mjs#keywords";

  const l = await runCli(["label", "--teacher", teacher, "--out", join(dir, "cache"), ...common]);
  assert.equal(l.code, 0, l.stderr);
  assert.equal(JSON.parse(l.stdout).split, "train");
  const fromCache = await runCli(["distill", "--teacher-cache", join(dir, "cache"), "--student", "mlp:16", "--epochs", "25", "--batch-size", "16", "--lr", "0.01", "--temperature", "4", "--alpha", "0.1", "--out", join(dir, "run1"), ...common]);
  assert.equal(fromCache.code, 0, fromCache.stderr);
  assert.ok(JSON.parse(fromCache.stdout).agreementWithTeacher > 0.85, fromCache.stdout);

  const direct = await runCli(["distill", "--teacher", teacher, "--student", "mlp:16", "--epochs", "25", "--batch-size", "16", "--lr", "0.01", "--temperature", "4", "--alpha", "0.1", "--out", join(dir, "run2"), ...common]);
  assert.equal(direct.code, 0, direct.stderr);
  const res = JSON.parse(direct.stdout);
  assert.equal(res.teacherTestAccuracy, 1, "the keyword teacher reads each test text and is always right");
  assert.equal(res.agreementMeasuredOn, "test set");
  assert.ok(res.agreementWithTeacher > 0.8, direct.stdout);

  // eval with a function teacher: accuracy, fidelity and KL; no size or latency for a function.
  const ev = await runCli(["eval", "--model", join(dir, "run2", "student"), "--teacher", teacher, ...common.filter((a) => a !== "--validation-size" && a !== "10")]);
  assert.equal(ev.code, 0, ev.stderr);
  const e = JSON.parse(ev.stdout);
  assert.equal(e.teacherAccuracy, 1);
  assert.equal(e.fidelity, res.agreementWithTeacher, "eval's fidelity is distill's test agreement");
  assert.ok(e.klTeacherStudent > 0);
  assert.equal(e.teacher.bytesOnDisk, null);
  assert.equal(e.teacher.timing, null);
  // …and from a cache of the test split; a cache of the transfer set is refused in words.
  const lt = await runCli(["label", "--teacher", teacher, "--split", "test", "--out", join(dir, "cache-test"), ...common]);
  assert.equal(lt.code, 0, lt.stderr);
  const evc = await runCli(["eval", "--model", join(dir, "run2", "student"), "--teacher", join(dir, "cache-test"), "--data", data, "--backend", "cpu", "--json"]);
  assert.equal(evc.code, 0, evc.stderr);
  assert.equal(JSON.parse(evc.stdout).fidelity, e.fidelity);
  const wrong = await runCli(["eval", "--model", join(dir, "run2", "student"), "--teacher", join(dir, "cache"), "--data", data, "--backend", "cpu"]);
  assert.notEqual(wrong.code, 0);
  assert.equal(wrong.stderr.trim().split("\n").length, 1, wrong.stderr);
  assert.match(wrong.stderr, /is not a teacher cache of the test split .*made from other data.*tsdistill label --split test/);
});

/** A w×h PNG of one colour with ±20 noise per channel. */
function png(path: string, w: number, h: number, rgb: number[], rng: Rng): void {
  const img = new PNG({ width: w, height: h });
  for (let p = 0; p < w * h; p++) {
    for (let c = 0; c < 3; c++) img.data[4 * p + c] = Math.max(0, Math.min(255, Math.round(rgb[c] + (rng.next() - 0.5) * 40)));
    img.data[4 * p + 3] = 255;
  }
  writeFileSync(path, PNG.sync.write(img));
}

test("CLI: an ONNX image teacher expecting [−1, 1] NCHW 16×16 RGB teaches a student of 8×8 gray pixels; the same model without its spec is refused", { timeout: 600_000 }, async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const rng = new Rng(9);
  const colours: Record<string, number[]> = { blue: [30, 30, 220], red: [230, 60, 40] };
  for (const [name, rgb] of Object.entries(colours)) {
    mkdirSync(join(dir, "images", name), { recursive: true });
    for (let i = 0; i < 25; i++) png(join(dir, "images", name, `${i}.png`), 12, 12, rgb, rng);
  }
  // logits = [−20·R̄, 20·R̄] with R̄ the mean red value in [−1, 1]: red (class 1) exactly when R̄ > 0. Fed [0, 1]
  // pixels, every image would be "red".
  const W = Float32Array.of(-20, 20, 0, 0, 0, 0);
  const model = onnx.ModelProto.create({
    irVersion: 7,
    opsetImport: [{ domain: "", version: 13 }],
    graph: {
      name: "colour",
      input: [{ name: "pixel_values", type: { tensorType: { elemType: 1, shape: { dim: [{ dimParam: "N" }, { dimValue: 3 }, { dimValue: 16 }, { dimValue: 16 }] } } } }],
      output: [{ name: "logits", type: { tensorType: { elemType: 1, shape: { dim: [{ dimParam: "N" }, { dimValue: 2 }] } } } }],
      initializer: [{ name: "W", dims: [3, 2], dataType: 1, rawData: new Uint8Array(W.buffer) }],
      node: [
        { opType: "ReduceMean", input: ["pixel_values"], output: ["m"], attribute: [{ name: "axes", type: 7, ints: [2, 3] }, { name: "keepdims", type: 2, i: 0 }] },
        { opType: "MatMul", input: ["m", "W"], output: ["logits"] },
      ],
    },
  });
  writeFileSync(join(dir, "colour.onnx"), onnx.ModelProto.encode(model).finish());
  writeFileSync(join(dir, "teacher.yaml"), "kind: onnx\npath: colour.onnx\ninput:\n  kind: image\n  layout: nchw\n  mean: 0.5\n  std: 0.5\n");
  const data = `images:${join(dir, "images")}?size=8x8&gray`;
  const common = ["--data", data, "--validation-size", "4", "--backend", "cpu", "--quiet", "--json"];

  // T = 1, α = 0.5: with the default T = 4, α = 0.1 this tiny student collapses to one class (a defaults question, not
  // the teacher's: the cached teacher outputs are right either way).
  const d = await runCli(["distill", "--teacher", join(dir, "teacher.yaml"), "--student", "mlp:8", "--epochs", "30", "--batch-size", "8", "--lr", "0.01", "--temperature", "1", "--alpha", "0.5", "--out", join(dir, "run"), ...common]);
  assert.equal(d.code, 0, d.stderr);
  const res = JSON.parse(d.stdout);
  assert.equal(res.teacherTestAccuracy, 1, "the teacher sees its 16×16 RGB in [−1, 1] and is right on every test image");
  assert.ok(res.testAccuracy >= 0.9, d.stdout);
  const l = await runCli(["label", "--teacher", join(dir, "teacher.yaml"), "--out", join(dir, "cache"), ...common]);
  assert.equal(l.code, 0, l.stderr);
  const ev = await runCli(["eval", "--model", join(dir, "run", "student"), "--teacher", join(dir, "teacher.yaml"), "--data", data, "--backend", "cpu", "--json"]);
  assert.equal(ev.code, 0, ev.stderr);
  assert.equal(JSON.parse(ev.stdout).teacherAccuracy, 1);

  // The bare .onnx would get the student's 8×8×1 features: refused before any folder is made, naming both shapes.
  for (const cmd of [
    ["label", "--teacher", join(dir, "colour.onnx"), "--out", join(dir, "refused-cache"), ...common],
    ["distill", "--teacher", join(dir, "colour.onnx"), "--student", "mlp:8", "--out", join(dir, "refused-run"), ...common],
  ]) {
    const r = await runCli(cmd);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.match(r.stderr, /colour\.onnx: expects samples of shape \[3,16,16\] \(768 values\) but the data has \[8,8,1\] \(64 values\)/);
  }
  assert.ok(!existsSync(join(dir, "refused-cache")) && !existsSync(join(dir, "refused-run")), "no folder is left by a refused run");
});
