// Text classification with a transformer student from the CLI: train, distill (teacher = an MLP on hashed n-grams
// reading the raw texts through its own preprocess.json, or a transformer teaching an MLP), eval and serve, on a
// small JSONL fixture (80 short texts, two classes), on wasm and on native where the addon is built.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { useBackend } from "../src/engine/backend.js";
import { nativeTestOptions } from "./native-helpers.js";
import { loadStudent } from "../src/students/student.js";
import { buildModel } from "../src/students/any-model.js";
import { loadImageData } from "../src/data/sources.js";
import { TsdistillError } from "../src/util/errors.js";
import { encodeTokenRows, loadJsonlTokens, tokenizerOf, type TokenPreprocess } from "../src/data/jsonl-tokens.js";
import * as tf from "@tensorflow/tfjs-core";
import { runCli, tempDir, type Run } from "./helpers.js";

const ROOT = resolve(fileURLToPath(new URL("..", import.meta.url)));
const FIXTURE = join(ROOT, "test", "fixtures", "texts-mini.jsonl");
const TOKENS = `jsonl:${FIXTURE}?tokenizer=byte&ctx=48`;
const HASHED = `jsonl:${FIXTURE}?buckets=256`;
const TINY = "transformer:layers=1,dim=16,heads=2,ff=32";
const FAST = ["--epochs", "2", "--batch-size", "16", "--lr", "0.003", "--json", "-q"];
const { dir, cleanup } = tempDir("tsdistill-transformer-cli-");
after(cleanup);

const describe = (r: Run) => `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
const json = (r: Run) => JSON.parse(r.stdout.trim().split("\n").pop()!) as Record<string, unknown>;
const readJson = (path: string) => JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;

const NATIVE_SKIP = nativeTestOptions;

for (const backend of ["wasm", "native"] as const) {
  test(`train --model transformer on token data (${backend}): saved with its tokenizer, eval gives the same accuracy`, backend === "native" ? NATIVE_SKIP : {}, async () => {
    const out = join(dir, `train-${backend}`);
    const r = await runCli(["train", "--model", TINY, "--data", TOKENS, ...FAST, "--backend", backend, "--out", out]);
    assert.equal(r.code, 0, describe(r));
    const result = json(r);
    assert.equal(result.backend, backend);
    assert.equal(readJson(join(out, "config.json")).backend, backend, "config.json records the backend that ran");
    for (const f of ["config.json", "model.safetensors", "tokenizer.json", "preprocess.json"]) assert.ok(existsSync(join(out, "model", f)), `model/${f} saved`);
    const pre = readJson(join(out, "model", "preprocess.json"));
    assert.equal(pre.kind, "tokens");
    assert.equal(pre.ctx, 48);
    assert.deepEqual(pre.labelNames, ["ham", "spam"]);
    assert.ok(typeof result.testAccuracy === "number" && result.testAccuracy >= 0 && result.testAccuracy <= 1);

    const e = await runCli(["eval", "--model", join(out, "model"), "--batch", "8", "--backend", backend, "--json"]);
    assert.equal(e.code, 0, describe(e));
    const ev = json(e);
    assert.equal(ev.backend, backend);
    assert.equal(ev.data, TOKENS, "eval reads the data recorded in the model folder");
    assert.equal(ev.accuracy, result.testAccuracy, "eval scores the saved model as train did");
    assert.equal(ev.testSize, 16);
  });
}

for (const backend of ["wasm", "native"] as const) {
  test(`distill (${backend}): an MLP teacher on hashed n-grams teaches a transformer student on byte tokens (raw texts)`, backend === "native" ? NATIVE_SKIP : {}, async () => {
    const teacherRun = join(dir, `mlp-teacher-${backend}`);
    const t = await runCli(["train", "--model", "mlp:32", "--data", HASHED, ...FAST, "--epochs", "6", "--backend", backend, "--out", teacherRun]);
    assert.equal(t.code, 0, describe(t));
    const out = join(dir, `distill-transformer-${backend}`);
    const r = await runCli(["distill", "--teacher", join(teacherRun, "model"), "--student", TINY, "--data", TOKENS, ...FAST, "--backend", backend, "--out", out]);
    assert.equal(r.code, 0, describe(r));
    const result = json(r);
    assert.equal(result.teacherTestAccuracy, json(t).testAccuracy, "the teacher scores on the raw test texts as it did on its own features");
    assert.ok(typeof result.agreementWithTeacher === "number");
    assert.equal(readJson(join(out, "student", "preprocess.json")).kind, "tokens");

    // eval with that teacher: it runs on the raw test texts through its own preprocessing.
    const e = await runCli(["eval", "--model", join(out, "student"), "--teacher", join(teacherRun, "model"), "--batch", "8", "--backend", backend, "--json"]);
    assert.equal(e.code, 0, describe(e));
    const ev = json(e);
    assert.equal(ev.teacherAccuracy, result.teacherTestAccuracy);
    assert.equal(ev.agreementWithTeacher, result.agreementWithTeacher);
  });
}

test("distill: a transformer teacher (byte tokens) teaches an MLP on hashed n-grams and a transformer on BPE tokens", async () => {
  const teacherRun = join(dir, "transformer-teacher");
  const t = await runCli(["train", "--model", TINY, "--data", TOKENS, ...FAST, "--backend", "wasm", "--out", teacherRun]);
  assert.equal(t.code, 0, describe(t));
  const mlp = await runCli(["distill", "--teacher", join(teacherRun, "model"), "--student", "mlp:8", "--data", HASHED, ...FAST, "--backend", "wasm", "--out", join(dir, "distill-mlp")]);
  assert.equal(mlp.code, 0, describe(mlp));
  assert.equal(json(mlp).teacherTestAccuracy, json(t).testAccuracy);
  const bpe = await runCli(["distill", "--teacher", join(teacherRun, "model"), "--student", TINY, "--data", `jsonl:${FIXTURE}?tokenizer=bpe:300&ctx=24`, ...FAST, "--backend", "wasm", "--out", join(dir, "distill-bpe")]);
  assert.equal(bpe.code, 0, describe(bpe));
  const tok = readJson(join(dir, "distill-bpe", "student", "tokenizer.json"));
  assert.equal((tok.model as { type: string }).type, "BPE", "the student's trained BPE vocabulary is saved with it");
});

/** Starts `tsdistill serve` on a free port; resolves with its URL and a stop function. */
function serve(modelDir: string): Promise<{ url: string; stop: () => Promise<void> }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [join(ROOT, "bin", "tsdistill.js"), "serve", "--model", modelDir, "--port", "0", "--backend", "wasm", "--json", "-q"], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    const timer = setTimeout(() => (child.kill("SIGKILL"), fail(new Error(`serve did not start: ${stderr}`))), 60_000);
    child.stderr.setEncoding("utf8").on("data", (d) => (stderr += d));
    child.stdout.setEncoding("utf8").on("data", (d) => {
      stdout += d;
      if (!stdout.includes("\n")) return;
      clearTimeout(timer);
      const { url } = JSON.parse(stdout.split("\n")[0]) as { url: string };
      done({ url, stop: () => new Promise((r) => (child.once("close", () => r()), child.kill("SIGTERM"))) });
    });
    child.on("exit", (code) => code !== 0 && code !== null && fail(new Error(`serve exited ${code}: ${stderr}`)));
  });
}

test("serve a transformer student: raw texts in, the library's predictions out; bad texts are a 400 naming the index", async () => {
  const out = join(dir, "train-serve");
  const r = await runCli(["train", "--model", TINY, "--data", TOKENS, ...FAST, "--backend", "wasm", "--out", out]);
  assert.equal(r.code, 0, describe(r));
  const modelDir = join(out, "model");
  const texts = ["win free cash prize now!", "team meeting notes for the project", "x".repeat(200)];
  await useBackend("wasm");
  const student = await loadStudent(modelDir);
  const expected = await student.predict(texts);
  student.dispose();
  const server = await serve(modelDir);
  try {
    const res = await fetch(`${server.url}/predict`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ texts }) });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { predictions: { label: string; probabilities: number[] }[] };
    assert.deepEqual(body.predictions.map((p) => p.label), expected.map((p) => (p as { label: string }).label));
    body.predictions.forEach((p, i) => p.probabilities.forEach((v, j) => assert.ok(Math.abs(v - (expected[i] as { probabilities: number[] }).probabilities[j]) < 1e-5)));
    const bad = await fetch(`${server.url}/predict`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ texts: ["ok", 3] }) });
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { error: string }).error, /texts\[1\]/);
  } finally {
    await server.stop();
  }
});

test("bad token data specs and a transformer on hashed features are one-line errors", async () => {
  const cases: [string, string, RegExp][] = [
    [TINY, `jsonl:${FIXTURE}?tokenizer=byte&buckets=64`, /buckets is a hashed n-gram option/],
    [TINY, `jsonl:${FIXTURE}?ctx=32`, /ctx applies to token ids; expected tokenizer=/],
    [TINY, `jsonl:${FIXTURE}?tokenizer=bpe:12`, /at least 259 ids/],
    [TINY, HASHED, /a transformer reads token ids.*tokenizer=byte/],
    [`${TINY},ctx=16`, TOKENS, /ctx: 16 is shorter than the data's 48 tokens/],
  ];
  for (const [spec, data, pattern] of cases) {
    assert.throws(() => {
      const d = loadImageData(data);
      buildModel(spec, { inputShape: d.train.sampleShape, numClasses: d.train.numClasses, preprocess: d.preprocess, seed: 0 }).dispose();
    }, (err: Error) => err instanceof TsdistillError && pattern.test(err.message) && !err.message.includes("\n"));
  }
  // Through the CLI: exit code 2 (usage), one line, no run folder.
  const out = join(dir, "never");
  const r = await runCli(["train", "--model", TINY, "--data", HASHED, "--epochs", "1", "--backend", "wasm", "--out", out]);
  assert.notEqual(r.code, 0, describe(r));
  assert.equal(r.stderr.trim().split("\n").length, 1, `one error line:\n${describe(r)}`);
  assert.match(r.stderr, /a transformer reads token ids/);
  assert.ok(!existsSync(out), "no run folder is left");
});

test("library: a transformer classifier on token data, trained, distilled from an n-gram MLP on raw texts, saved and loaded", async () => {
  const { train, distill, loadImageData: load, buildModel: build, saveAnyModel, loadStudent: open, openSavedModelTeacher, runTeacher, TeacherLogitCache } = {
    ...(await import("../src/train/distill.js")),
    ...(await import("../src/data/sources.js")),
    ...(await import("../src/students/any-model.js")),
    ...(await import("../src/students/student.js")),
    ...(await import("../src/teachers/saved-model-teacher.js")),
    ...(await import("../src/teachers/teacher-run.js")),
    ...(await import("../src/teachers/teacher.js")),
  };
  await useBackend("cpu");
  const hashed = load(HASHED);
  const tokens = load(TOKENS);
  const fit = { epochs: 2, batchSize: 16, optimizer: { kind: "adam" as const, lr: 0.003 }, seed: 1 };
  const mlp = build("mlp:16", { inputShape: hashed.train.sampleShape, numClasses: 2, preprocess: hashed.preprocess, seed: 1 });
  await train(mlp, hashed.train, fit);
  const mlpDir = join(dir, "lib-mlp");
  await saveAnyModel(mlp, mlpDir, { spec: "mlp:16" }, hashed.preprocess);
  mlp.dispose();

  const opened = await openSavedModelTeacher(mlpDir, tokens.train, tokens.preprocess);
  assert.ok(opened, "the MLP folder opens as a teacher of the token data");
  assert.deepEqual(opened.teacher.metadata?.input.rawKinds, ["text"]);
  const teacherLogits = new TeacherLogitCache(await runTeacher(opened.teacher, tokens.train, { validate: false }), 2);
  const student = build(TINY, { inputShape: tokens.train.sampleShape, numClasses: 2, preprocess: tokens.preprocess, seed: 2 });
  const result = await distill({ ...fit, student, data: tokens.train, teacherLogits, temperature: 1, alpha: 0.5 });
  assert.equal(result.history.length, 2);
  assert.ok(result.history.every((h) => Number.isFinite(h.loss)));
  const studentDir = join(dir, "lib-student");
  await saveAnyModel(student, studentDir, { spec: TINY }, tokens.preprocess);
  const texts = ["win cash now!", "project review tomorrow"];
  const direct = student.predict(tf.tensor(encodeTokenRows(tokens.preprocess as TokenPreprocess, texts), [2, 48]));
  const expected = Array.from(direct.dataSync());
  direct.dispose();
  student.dispose();
  await opened.close();
  const loaded = await open(studentDir);
  assert.deepEqual(Array.from(loaded.logits(texts)), expected, "the saved folder predicts as the trained model");
  assert.deepEqual((await loaded.predict(texts)).map((p) => typeof (p as { label: string }).label), ["string", "string"]);
  loaded.dispose();
});

test("recipes: a transformer student given as a YAML object (or string), taught by an MLP folder on hashed n-grams", async () => {
  const { parseRecipe } = await import("../src/distill/recipe.js");
  const { runRecipe } = await import("../src/distill/run-recipe.js");
  const { train } = await import("../src/train/distill.js");
  const { buildModel: build, saveAnyModel } = await import("../src/students/any-model.js");
  await useBackend("cpu");
  const hashed = loadImageData(HASHED);
  const mlp = build("mlp:16", { inputShape: hashed.train.sampleShape, numClasses: 2, preprocess: hashed.preprocess, seed: 1 });
  await train(mlp, hashed.train, { epochs: 4, batchSize: 16, optimizer: { kind: "adam", lr: 0.01 }, seed: 1 });
  const teacherDir = join(dir, "recipe-teacher");
  await saveAnyModel(mlp, teacherDir, {}, hashed.preprocess);
  mlp.dispose();
  const yaml = {
    name: "tiny-text",
    backend: "cpu",
    data: { source: TOKENS },
    teacher: { kind: "tfjs", path: teacherDir },
    student: { spec: { kind: "transformer", layers: 1, dim: 16, heads: 2, ff: 32 } },
    training: { epochs: 1, batchSize: 16 },
    loss: { terms: [{ loss: "kd", options: { temperature: 2, alpha: 0.5 } }] },
  };
  const recipe = parseRecipe(yaml, "tiny.yaml");
  assert.equal(recipe.student.spec, TINY, "the YAML object reads as the spec string");
  assert.equal(parseRecipe({ ...yaml, student: { spec: TINY } }).student.spec, TINY);
  assert.throws(() => parseRecipe({ ...yaml, student: { spec: { kind: "transformer", layers: 1, dim: 16 } } }, "bad.yaml"), /bad\.yaml.*heads/s);
  const workDir = join(dir, "recipe-run");
  const r = await runRecipe(recipe, { workDir });
  assert.ok(r.teacher && r.teacher.accuracy > 0.5, `the teacher reads the raw test texts: ${JSON.stringify(r.teacher)}`);
  assert.ok(r.student.agreementWithTeacher >= 0 && r.student.agreementWithTeacher <= 1);
  assert.equal(readJson(join(workDir, "student", "preprocess.json")).kind, "tokens");
});

test("jsonl: with tokenizer=: the same splits and labels as the n-gram loader, padded ids with BOS, a tokens preprocess.json that round-trips", async () => {
  const { savePreprocess, loadPreprocess, applyPreprocess, preprocessShape } = await import("../src/data/preprocess.js");
  const hashed = loadImageData(HASHED);
  const tokens = loadImageData(TOKENS);
  for (const part of ["train", "test"] as const) {
    assert.deepEqual(Array.from(tokens[part].y), Array.from(hashed[part].y), `${part}: same samples, same labels`);
    assert.deepEqual(tokens[part].rawRows([0, 1]), hashed[part].rawRows([0, 1]), `${part}: same raw texts`);
  }
  assert.deepEqual(tokens.train.sampleShape, [48]);
  const pre = tokens.preprocess as TokenPreprocess;
  const first = tokens.train.rawRows([0])![0] as string;
  const ids = Array.from(tokens.train.x.subarray(0, 48));
  const bytes = Array.from(new TextEncoder().encode(first)).slice(0, 47);
  assert.deepEqual(ids.slice(0, 1 + bytes.length), [257, ...bytes], "BOS, then the UTF-8 bytes");
  assert.ok(ids.slice(1 + bytes.length).every((v) => v === 256), "right-padded with the pad id");
  const modelDir = join(dir, "pre-roundtrip");
  (await import("node:fs")).mkdirSync(modelDir, { recursive: true });
  savePreprocess(modelDir, pre);
  const back = loadPreprocess(modelDir)!;
  assert.equal(back.kind, "tokens");
  assert.deepEqual(preprocessShape(back), [48]);
  assert.deepEqual(Array.from(applyPreprocess(back, [first, { text: first }])), [...ids, ...ids], "strings or objects with the text field");
  // bpe:N is trained on the training texts only and deterministically.
  const a = loadImageData(`jsonl:${FIXTURE}?tokenizer=bpe:280&ctx=16`);
  const b = loadJsonlTokens(FIXTURE, { tokenizer: "bpe:280", ctx: 16 });
  assert.deepEqual(Array.from(a.train.x), Array.from(b.train.x));
  assert.equal(tokenizerOf(b.preprocess).vocabSize, 280);
});
