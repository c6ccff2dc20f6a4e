// Teacher config files (src/teachers/teacher-config.ts): every kind parses, bad files fail with one line naming the
// file and the field, relative paths resolve next to the file, and ensembles (with weights) and function teachers
// open from a config and compute what they should.
import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { useBackend } from "../src/engine/backend.js";
import { SequentialModel } from "../src/students/model.js";
import { modelConfigFromSpec } from "../src/students/spec.js";
import { saveModel } from "../src/students/io.js";
import { loadTeacherConfig, openTeacherConfig, parseTeacherConfig } from "../src/teachers/teacher-config.js";
import { openTeacher } from "../src/teachers/open-teacher.js";
import { checkTeacherOnData } from "../src/teachers/teacher-checks.js";
import { teacherInput } from "../src/teachers/teacher-run.js";
import { InMemoryDataset } from "../src/data/dataset.js";
import { textDataset } from "../src/data/text-dataset.js";
import { Rng } from "../src/util/rng.js";
import { assertAllClose, tempDir } from "./helpers.js";

await useBackend("cpu");

test("config errors are one line naming the file and the field", (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const bad = (name: string, text: string, pattern: RegExp) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    assert.throws(() => loadTeacherConfig(path), (err: Error) => {
      assert.ok(!err.message.includes("\n"), `one line: ${err.message}`);
      assert.match(err.message, pattern);
      return true;
    });
  };
  bad("kind.yaml", "kind: onnxx\npath: a.onnx\n", /kind\.yaml: kind: expected one of tfjs, onnx, api, function, ensemble, got "onnxx"/);
  bad("field.yaml", "kind: onnx\npath: a.onnx\nlayot: nchw\n", /field\.yaml: layot: unknown field/);
  bad("layout.yaml", "kind: onnx\npath: a.onnx\nlayout: chw\n", /layout\.yaml: layout: /);
  bad("api.yaml", "kind: api\nbaseURL: http://127.0.0.1:1/v1\nmodel: m\nlabels: [a]\n", /api\.yaml: labels: .*2/);
  bad("url.yaml", "kind: api\nbaseURL: localhost:8080\nmodel: m\nlabels: [a, b]\n", /url\.yaml: baseURL: expected an http\(s\) URL/);
  bad("key.yaml", "kind: api\nbaseURL: http://h/v1\nmodel: m\nlabels: [a, b]\napiKeyEnv: sk-123abc-secret\n", /key\.yaml: apiKeyEnv: expected an environment variable name/);
  bad("member.yaml", "kind: ensemble\nmembers:\n  - {kind: function, module: f.mjs}\n  - {kind: tfjs}\n", /member\.yaml: members\[1\]: path: /);
  bad("weights.yaml", "kind: ensemble\nmembers:\n  - {kind: function, module: f.mjs}\nweights: [1, 2]\n", /weights\.yaml: weights: expected one weight per member/);
  bad("yaml.yaml", "kind: [onnx\n", /yaml\.yaml: not valid YAML/);
  bad("list.json", "[1, 2]", /list\.json: expected a mapping with kind/);
  assert.throws(() => loadTeacherConfig(join(dir, "none.yaml")), /none\.yaml: not found; expected a YAML or JSON teacher config/);
  // Every kind has defaults filled in; paths resolve next to the file.
  writeFileSync(join(dir, "ok.json"), JSON.stringify({ kind: "onnx", path: "m/model.onnx", capture: ["h"] }));
  const c = loadTeacherConfig(join(dir, "ok.json"));
  assert.deepEqual(c, { kind: "onnx", path: join(dir, "m/model.onnx"), layout: "auto", output: "auto", capture: ["h"], threads: 1 });
  bad("both.yaml", "kind: onnx\npath: a.onnx\ninputBuilder: b.mjs#f\ninput: {kind: vector}\n", /both\.yaml: input: give input or inputBuilder, not both/);
  bad("spec.yaml", "kind: onnx\npath: a.onnx\ninput: {kind: image, mean: 0.5, scale: 2}\n", /spec\.yaml: input\.mean: give mean\/std or scale\/offset, not both/);
  bad("frac.yaml", "kind: tfjs\npath: m\ninput: {kind: image, scale: 2 by 255}\n", /frac\.yaml: input\.scale: /);
  bad("fninput.yaml", "kind: function\nmodule: f.mjs\ninput: pixels\n", /fninput\.yaml: input: /);
  writeFileSync(join(dir, "spec-ok.yaml"), "kind: onnx\npath: a.onnx\ninput: {kind: image, size: [32, 32], layout: nchw, scale: 2/255, offset: -1}\n");
  const spec = loadTeacherConfig(join(dir, "spec-ok.yaml"));
  assert.deepEqual(spec.kind === "onnx" && spec.input, { kind: "image", size: [32, 32], layout: "nchw", scale: 2 / 255, offset: -1 }, "a fraction is read as its value");
  const api = parseTeacherConfig({ kind: "api", baseURL: "http://127.0.0.1:9/v1", model: "m", labels: ["x", "y"], pricing: { inputPerMTok: 1, outputPerMTok: 2 } });
  assert.equal(api.kind === "api" && api.concurrency, 4, "api defaults come from ApiTeacherConfig");
});

test("an ensemble config (a TF.js folder and a function teacher, weights 3:1) averages the members' probabilities", async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const model = new SequentialModel(modelConfigFromSpec("mlp:8", { inputShape: [5], numClasses: 3 }), 7);
  await saveModel(model, join(dir, "tfjs-teacher"));
  // Logits [x0 + x1, x2, −x3]: a function teacher in a module next to the config.
  writeFileSync(join(dir, "fn.mjs"), "export function scores({ x, n }) { const o = []; for (let i = 0; i < n; i++) o.push([x[i*5] + x[i*5+1], x[i*5+2], -x[i*5+3]]); return o; }\n");
  writeFileSync(join(dir, "ens.yaml"), ["kind: ensemble", "members:", "  - {kind: tfjs, path: tfjs-teacher}", "  - {kind: function, module: fn.mjs, export: scores, input: features}", "weights: [3, 1]", ""].join("\n"));
  const rng = new Rng(21);
  const x = Float32Array.from({ length: 4 * 5 }, () => rng.normal());
  const data = new InMemoryDataset("vectors", x, Int32Array.of(0, 1, 2, 0), [5], 3);
  const opened = await openTeacher(join(dir, "ens.yaml"), data);
  assert.equal(opened.teacher.metadata?.kind, "ensemble");
  assert.match(opened.hash, /^[0-9a-f]{64}$/);
  const rows = Int32Array.of(0, 1, 2, 3);
  const got = await opened.teacher.logitsAsync!(teacherInput(data, rows, opened.teacher));
  const a = tf.tidy(() => tf.softmax(model.predict(tf.tensor2d(x, [4, 5]))).dataSync());
  const softmax = (z: number[]) => {
    const m = Math.max(...z);
    const e = z.map((v) => Math.exp(v - m));
    const s = e.reduce((p, q) => p + q, 0);
    return e.map((v) => v / s);
  };
  const want: number[] = [];
  for (let i = 0; i < 4; i++) {
    const b = softmax([x[i * 5] + x[i * 5 + 1], x[i * 5 + 2], -x[i * 5 + 3]]);
    for (let c = 0; c < 3; c++) want.push(Math.log(0.75 * a[i * 3 + c] + 0.25 * b[c]));
  }
  assertAllClose(got, want, { what: "ensemble log-probabilities" });
  await opened.close();

  // Another weighting is another teacher for the cache; a function teacher alone from a config keeps the path form's hash.
  writeFileSync(join(dir, "ens2.yaml"), ["kind: ensemble", "members:", "  - {kind: tfjs, path: tfjs-teacher}", "  - {kind: function, module: fn.mjs, export: scores, input: features}", "weights: [1, 1]", ""].join("\n"));
  const other = await openTeacher(join(dir, "ens2.yaml"), data);
  assert.notEqual(other.hash, opened.hash, "weights enter the hash");
  await other.close();
  // A function teacher alone from a config (raw input, the default) keeps the path form's hash; input: features is another teacher.
  const withRaw = textDataset("texts", x, Int32Array.of(0, 1, 2, 0), [5], 3, ["a", "b", "c", "d"]);
  writeFileSync(join(dir, "fn.yaml"), "kind: function\nmodule: fn.mjs\nexport: scores\n");
  const fromConfig = await openTeacher(join(dir, "fn.yaml"), withRaw);
  const fromPath = await openTeacher(`fn:${join(dir, "fn.mjs")}#scores`, withRaw);
  assert.equal(fromConfig.hash, fromPath.hash, "same function, same hash");
  assert.equal(fromConfig.teacher.metadata?.kind, "function");
  assertAllClose(await fromConfig.teacher.logitsAsync!(teacherInput(withRaw, rows, fromConfig.teacher)), await fromPath.teacher.logitsAsync!(teacherInput(withRaw, rows, fromPath.teacher)), { what: "function teacher" });
  writeFileSync(join(dir, "fn-features.yaml"), "kind: function\nmodule: fn.mjs\nexport: scores\ninput: features\n");
  const featuresOnly = await openTeacher(join(dir, "fn-features.yaml"), data);
  assert.notEqual(featuresOnly.hash, fromPath.hash, "input: features enters the hash");
  model.dispose();
});

test("an api config needs raw texts: without them the error says which data to use", async () => {
  const config = parseTeacherConfig({ kind: "api", baseURL: "http://127.0.0.1:9/v1", model: "m", labels: ["no", "yes"], apiKeyEnv: null });
  const vectors = new InMemoryDataset("vectors", new Float32Array(8), Int32Array.of(0, 1), [4], 2);
  const texts = textDataset("texts", new Float32Array(8), Int32Array.of(0, 1), [4], 2, ["a", "b"]);
  const opened = await openTeacherConfig(config, { data: texts });
  await assert.rejects(checkTeacherOnData(opened.teacher, vectors, { dataName: "vectors.csv" }), /--teacher: the teacher .* reads texts \(--data jsonl:<file>\), but vectors\.csv has no raw samples/);
  assert.deepEqual(await checkTeacherOnData(opened.teacher, texts, { dataName: "texts.jsonl" }), [], "a remote teacher is checked without a probe call");
  assert.equal(opened.teacher.metadata?.input.layout, "text");
  assert.deepEqual(opened.teacher.metadata?.output.classNames, ["no", "yes"]);
  await assert.rejects(opened.teacher.logitsAsync!({ x: new Float32Array(8), n: 2, sampleShape: [4], rows: Int32Array.of(0, 1) }), /labels raw texts, but the batch has none/);
  const concurrencyOnly = await openTeacherConfig({ ...config, concurrency: 9, maxRetries: 1 } as typeof config, { data: texts });
  assert.equal(concurrencyOnly.hash, opened.hash, "limits and retries do not change what the teacher answers, so not its hash");
  const otherPrompt = await openTeacherConfig({ ...config, prompt: "Label: {input}" } as typeof config, { data: texts });
  assert.notEqual(otherPrompt.hash, opened.hash, "the prompt does");
});
