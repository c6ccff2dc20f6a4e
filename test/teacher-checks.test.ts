// Checks before work: a teacher that does not fit the data is refused before anything is labelled or trained, with
// one line naming both sides and no folder left behind; a teacher's outputs are validated on its first batch (NaN,
// one answer for every input, probabilities that do not sum to 1, wrong width); a cache made for other data or by
// another teacher says which of the two differs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { useBackend } from "../src/engine/backend.js";
import { InMemoryDataset } from "../src/data/dataset.js";
import { SequentialModel } from "../src/students/model.js";
import { modelConfigFromSpec } from "../src/students/spec.js";
import { saveModel } from "../src/students/io.js";
import { FunctionTeacher, type TeacherFunction } from "../src/teachers/function-teacher.js";
import { checkTeacherOnData } from "../src/teachers/teacher-checks.js";
import { runTeacher } from "../src/teachers/teacher-run.js";
import { labelDataset } from "../src/teachers/label-cache.js";
import { labelCommand } from "../src/cli/commands/label.js";
import { distillCommand } from "../src/cli/commands/distill.js";
import { evalCommand } from "../src/cli/commands/eval.js";
import { TsdistillError } from "../src/util/errors.js";
import { Rng } from "../src/util/rng.js";
import { runCli, tempDir } from "./helpers.js";

await useBackend("cpu");

const rng = new Rng(5);
/** 40 samples of 3 features, two classes (sorted by class, as a file sorted by its label column would be). */
const data = new InMemoryDataset("vectors", Float32Array.from({ length: 120 }, () => rng.normal()), Int32Array.from({ length: 40 }, (_, i) => (i < 20 ? 0 : 1)), [3], 2);
const fn = (f: TeacherFunction, opts = {}) => FunctionTeacher.forData(f, "f", data, { input: "features", ...opts });
const rows = (n: number, row: (i: number) => number[]) => Array.from({ length: n }, (_, i) => row(i));

test("outputs on the first batch: NaN/Inf and one answer for samples of several classes are errors, naming the teacher", async () => {
  const refuse = async (f: TeacherFunction, pattern: RegExp) => {
    const t = await fn(f);
    await assert.rejects(checkTeacherOnData(t, data, { dataName: "vectors.csv" }), (err: Error) => {
      assert.ok(err instanceof TsdistillError, String(err));
      assert.ok(!err.message.includes("\n"), err.message);
      assert.match(err.message, pattern);
      return true;
    });
    await assert.rejects(runTeacher(t, data), pattern, "runTeacher checks its first batch the same way");
  };
  await refuse(({ n, rows: r }) => rows(n, (i) => (r[i] === 20 ? [NaN, 0] : [0, 1])), /teacher f: output NaN for sample \d+ \(data set row 20\), class 0; a teacher's outputs must be finite numbers/);
  await refuse(({ n }) => rows(n, () => [0, 0]), /teacher f gives one answer for every input: all \d+ samples of the first batch \(of several classes\) got \[0, 0\]/);
  // The same class distribution counts as the same answer (logits that differ by a constant per row).
  await refuse(({ n, x }) => rows(n, (i) => [x[3 * i], x[3 * i] + 1]), /gives one answer for every input/);
  // One answer for samples of one class is not an error (a sorted file's first rows are all one class).
  const oneClass = data.subset(Array.from({ length: 20 }, (_, i) => i));
  const t = await FunctionTeacher.forData(({ n }) => rows(n, () => [2, 0]), "f", oneClass, { input: "features" });
  assert.deepEqual(await checkTeacherOnData(t, oneClass, { dataName: "one class" }), []);
});

test("declared probabilities that do not sum to 1 give a warning; a wrong width is an error naming expected and got", async () => {
  const probs = await fn(({ n, x }) => rows(n, (i) => [0.3, 0.3 + 0.1 * Math.tanh(x[3 * i])]), { output: "probabilities" });
  const warnings = await checkTeacherOnData(probs, data, { dataName: "vectors.csv" });
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /teacher f declares probabilities, but sample 0 of the first batch sums to 0\.\d+, not 1/);
  const fine = await fn(({ n, x }) => rows(n, (i) => [0.5 + 0.1 * Math.tanh(x[3 * i]), 0.5 - 0.1 * Math.tanh(x[3 * i])]), { output: "probabilities" });
  assert.deepEqual(await checkTeacherOnData(fine, data, { dataName: "vectors.csv" }), []);
  const three = await fn(({ n, x }) => rows(n, (i) => [x[3 * i], x[3 * i + 1], x[3 * i + 2]]));
  await assert.rejects(checkTeacherOnData(three, data, { dataName: "vectors.csv" }), /--teacher: the teacher f gives 3 outputs per sample but vectors\.csv has 2 classes \(expected 2 outputs\)/);
  // A width that changes after the first batch is caught where it happens.
  const drift = await fn(({ n, rows: r, x }) => rows(n, (i) => (r[0] >= 8 ? [1, 2, 3] : [x[3 * i], 0])));
  await assert.rejects(runTeacher(drift, data, { batchSize: 8 }), /teacher f: returned 24 values for 8 samples; expected 16 \(2 per sample, as on the first batch\)/);
});

test("a teacher that fails on its first batch leaves no cache folder (an existing folder is kept)", async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const broken = await fn(({ n }) => rows(n, () => [Infinity, 0]));
  await assert.rejects(labelDataset(broken, data, join(dir, "cache"), { teacherHash: "h" }), /output Infinity/);
  assert.ok(!existsSync(join(dir, "cache")), "no folder, no manifest.partial.json");
  mkdirSync(join(dir, "mine"));
  writeFileSync(join(dir, "mine", "notes.txt"), "keep me");
  await assert.rejects(labelDataset(broken, data, join(dir, "mine"), { teacherHash: "h" }), /output Infinity/);
  assert.deepEqual(readdirSync(join(dir, "mine")), ["notes.txt"]);
});

test("CLI: a teacher whose input width differs from the data's (same class count) is refused in one line before label/distill/eval do anything", { timeout: 300_000 }, async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const lines = ["a,b,c,label", ...Array.from({ length: 60 }, (_, i) => `${rng.normal().toFixed(3)},${rng.normal().toFixed(3)},${(i % 2) + rng.normal() * 0.1},${i % 2 ? "yes" : "no"}`)];
  writeFileSync(join(dir, "d.csv"), lines.join("\n") + "\n");
  const dataSpec = `csv:${join(dir, "d.csv")}?label=label`;
  const wide = new SequentialModel(modelConfigFromSpec("mlp:8", { inputShape: [16], numClasses: 2 }), 1);
  await saveModel(wide, join(dir, "wide"));
  wide.dispose();
  const both = new RegExp(`--teacher: the teacher ${join(dir, "wide")} takes inputs of shape \\[16\\] \\(16 values\\) but csv:.*d\\.csv\\?label=label.* has samples of shape \\[3\\] \\(3 values\\)`);

  const r = await runCli(["label", "--teacher", join(dir, "wide"), "--data", dataSpec, "--validation-size", "5", "--out", join(dir, "cache"), "--backend", "cpu"]);
  assert.equal(r.code, 1, `exit 1, not an internal error (70): ${r.stderr}`);
  assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  assert.match(r.stderr, both);
  assert.ok(!existsSync(join(dir, "cache")), "label leaves no folder");
  await assert.rejects(distillCommand(["--teacher", join(dir, "wide"), "--data", dataSpec, "--validation-size", "5", "--student", "mlp:4", "--out", join(dir, "run"), "--backend", "cpu", "--quiet"]), both);
  assert.ok(!existsSync(join(dir, "run")) && readdirSync(dir).every((f) => !f.includes("partial")), "distill leaves no run folder");

  // A student and a fitting teacher for eval; the wide teacher is refused there too.
  const student = new SequentialModel(modelConfigFromSpec("mlp:4", { inputShape: [3], numClasses: 2 }), 2);
  await saveModel(student, join(dir, "student"));
  student.dispose();
  await assert.rejects(evalCommand(["--model", join(dir, "student"), "--teacher", join(dir, "wide"), "--data", dataSpec, "--backend", "cpu", "--quiet"]), /takes inputs of shape \[16\].* but csv:.* has samples of shape \[3\]/);

  // Caches: another teacher into the same folder, or a cache of other data, say which of the two differs.
  writeFileSync(join(dir, "t1.mjs"), "export default ({ x, n }) => Array.from({ length: n }, (_, i) => [0, x[3 * i + 2]]);\n");
  writeFileSync(join(dir, "t2.mjs"), "export default ({ x, n }) => Array.from({ length: n }, (_, i) => [0, 2 * x[3 * i + 2]]);\n");
  const label = (teacher: string, ...extra: string[]) => labelCommand(["--teacher", `fn:${join(dir, teacher)}`, "--data", dataSpec, "--validation-size", "5", "--out", join(dir, "c"), "--quiet", "--json", ...extra]);
  const out = await captureStdout(() => label("t1.mjs"));
  assert.equal(JSON.parse(out).samples, 43, "60 rows − 20 % test − 5 validation");
  await assert.rejects(label("t2.mjs"), /stale cache: made by another teacher \(teacher hash [0-9a-f]{12}… in the cache, [0-9a-f]{12}… now\)/);
  await assert.rejects(label("t1.mjs", "--train-size", "30"), /stale cache: made from other data \(43 samples in the cache, 30 now, data set hash/);
  await assert.rejects(
    distillCommand(["--teacher-cache", join(dir, "c"), "--data", dataSpec, "--validation-size", "6", "--student", "mlp:4", "--out", join(dir, "run2"), "--quiet"]),
    /stale cache: made from other data \(43 samples in the cache, 42 now, .*\); label again into a new folder \(same --data, --split, --validation-size, --train-size and --seed as this run\)/,
  );
  assert.ok(!existsSync(join(dir, "run2")));

  // distill takes several teachers of any kind as an ensemble, as label does.
  const ens = JSON.parse(
    await captureStdout(() =>
      distillCommand(["--teacher", `fn:${join(dir, "t1.mjs")}`, "--teacher", `fn:${join(dir, "t2.mjs")}`, "--weights", "1,3", "--data", dataSpec, "--validation-size", "5", "--student", "mlp:4", "--epochs", "2", "--out", join(dir, "run3"), "--backend", "cpu", "--quiet", "--json"]),
    ),
  );
  assert.ok(ens.teacherTestAccuracy > 0.8, `the ensemble of two functions of column c: ${ens.teacherTestAccuracy}`);
  const config = JSON.parse(readFileSync(join(dir, "run3", "config.json"), "utf8"));
  assert.deepEqual([config.teacher.length, config.weights], [2, [1, 3]]);
});

async function captureStdout(run: () => Promise<void>): Promise<string> {
  const write = process.stdout.write.bind(process.stdout);
  let out = "";
  process.stdout.write = ((chunk: string | Uint8Array) => ((out += String(chunk)), true)) as typeof process.stdout.write;
  try {
    await run();
  } finally {
    process.stdout.write = write;
  }
  return out;
}
