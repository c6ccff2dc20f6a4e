// Tabular safety and regression through the CLI as users run it (child processes of bin/tsdistill.js, cpu backend,
// tiny models): the errors a user meets, the data summary, and train → distill → eval → label → serve on a numeric
// target. Metrics are checked against a hand computation from the saved models' predictions, not against model
// quality thresholds.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { useBackend } from "../src/engine/backend.js";
import { loadImageData, loadSplits } from "../src/data/sources.js";
import { loadPreprocess } from "../src/data/preprocess.js";
import type { TabularPreprocess } from "../src/data/tabular.js";
import { loadModel, saveModel } from "../src/students/io.js";
import { SequentialModel } from "../src/students/model.js";
import { modelConfigFromSpec } from "../src/students/spec.js";
import { openLabelCache } from "../src/teachers/label-cache.js";
import { createServer } from "../src/serve/server.js";
import { Rng } from "../src/util/rng.js";
import { runAutoSearch } from "../src/auto/search.js";
import { formatFronts } from "../src/auto/summary.js";
import { runCli, tempDir, type Run } from "./helpers.js";

const { dir: tmp, cleanup } = tempDir("tsdistill-regression-");
process.on("exit", cleanup);

const show = (r: Run) => `exit ${r.code}\nstdout: ${r.stdout.slice(0, 2000)}\nstderr: ${r.stderr.slice(0, 3000)}`;
const cli = async (args: string[], ok = true): Promise<Run> => {
  const r = await runCli([...args, "--backend", "cpu"], 180_000);
  if (ok) assert.equal(r.code, 0, show(r));
  return r;
};
function oneLine(r: Run): string {
  const lines = r.stderr.split("\n");
  assert.ok(lines.length === 2 && lines[1] === "", `stderr is not one line:\n${show(r)}`);
  assert.doesNotMatch(lines[0], /internal error|    at /);
  return lines[0];
}

// A numeric target: price = 50 + 10·x1 − 5·x2 + 8·[color = red] + noise, with an id column, a categorical column and
// a few missing inputs. 240 rows → 48 test, 19 validation, 173 training.
const rng = new Rng(7, "regression-fixture");
const ROWS = Array.from({ length: 240 }, (_, i) => {
  const x1 = rng.normal();
  const x2 = rng.normal();
  const color = ["red", "green", "blue"][rng.int(3)];
  const price = 50 + 10 * x1 - 5 * x2 + (color === "red" ? 8 : 0) + 0.5 * rng.normal();
  return { id: i, x1: i % 17 === 0 ? "" : x1.toFixed(4), x2: x2.toFixed(4), color, price: Number(price.toFixed(3)) };
});
const PRICES = new Map(ROWS.map((r) => [String(r.id), r.price]));
const FILE = join(tmp, "houses.csv");
writeFileSync(FILE, ["id,x1,x2,color,price", ...ROWS.map((r) => `${r.id},${r.x1},${r.x2},${r.color},${r.price}`)].join("\n") + "\n");
const SPEC = `csv:${FILE}?drop=id&label=price`;
const CLASSES = join(tmp, "three.csv");
writeFileSync(CLASSES, ["x1,x2,color,class", ...ROWS.map((r, i) => `${r.x1},${r.x2},${r.color},${["a", "b", "c"][i % 3]}`)].join("\n") + "\n");

/** The hand computation: RMSE, MAE and R² of predictions against truths, in float64. */
function metrics(pred: number[], truth: number[]): { rmse: number; mae: number; r2: number } {
  const n = truth.length;
  const mean = truth.reduce((a, b) => a + b, 0) / n;
  let sse = 0;
  let sae = 0;
  let sst = 0;
  for (let i = 0; i < n; i++) {
    sse += (pred[i] - truth[i]) ** 2;
    sae += Math.abs(pred[i] - truth[i]);
    sst += (truth[i] - mean) ** 2;
  }
  return { rmse: Math.sqrt(sse / n), mae: sae / n, r2: 1 - sse / sst };
}

/** A saved model's test predictions in the target's units: output × target.std + target.mean of its preprocess.json. */
async function predictionsOf(modelDir: string, x: Float32Array, n: number): Promise<number[]> {
  const { model } = await loadModel(modelDir);
  const pre = loadPreprocess(modelDir) as TabularPreprocess;
  const z = tf.tidy(() => model.predict(tf.tensor(x, [n, ...model.config.inputShape])).dataSync() as Float32Array);
  model.dispose();
  return Array.from(z, (v) => v * pre.target!.std + pre.target!.mean);
}

const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(b)), `${what}: ${a} vs hand ${b}`);

test("errors a user meets: unnamed label (columns listed), text in a numeric column, too little data; no run folder", async () => {
  const plain = join(tmp, "plain.csv");
  writeFileSync(plain, "a,b,c\n1,2,x\n3,4,y\n");
  const out = join(tmp, "never");
  const r1 = await cli(["train", "--model", "mlp:4", "--data", `csv:${plain}`, "--out", out], false);
  assert.equal(r1.code, 1, show(r1));
  assert.match(oneLine(r1), /plain\.csv: which column is the label\?.*--label COL; the columns are "a", "b", "c"$/);
  const thirty = join(tmp, "ages.csv");
  writeFileSync(thirty, ["age,label", ...Array.from({ length: 30 }, (_, i) => `${i === 20 ? "thirty" : 20 + i},${i % 2}`)].join("\n") + "\n");
  const r2 = await cli(["train", "--model", "mlp:4", "--data", `csv:${thirty}`, "--out", out], false);
  assert.equal(r2.code, 1, show(r2));
  const line = oneLine(r2);
  for (const part of ["ages.csv", "line 22", 'column "age"', '"thirty"', "categorical=age"]) assert.ok(line.includes(part), `${line} lacks ${part}`);
  const tiny = join(tmp, "tiny.csv");
  // Half of each class held out leaves one training row: nothing to hold out for validation.
  writeFileSync(tiny, "v,label\n1,a\n2,b\n3,b\n");
  const r3 = await cli(["train", "--model", "mlp:4", "--data", `csv:${tiny}?test-fraction=0.5`, "--out", out], false);
  assert.equal(r3.code, 2, show(r3));
  assert.match(oneLine(r3), /the data has 1 training sample; expected at least 2 \(one is held out for validation\)/);
  assert.ok(!existsSync(out), "no run folder");
  assert.deepEqual(readdirSync(tmp).filter((f) => f.startsWith(".never")), [], "no hidden partial folder");
});

test("an auto-picked class column is printed with the schema; --json and config.json hold the summary; --quiet prints nothing", async () => {
  const out = join(tmp, "auto-pick");
  const r = await cli(["train", "--model", "mlp:4", "--data", `csv:${CLASSES}`, "--epochs", "1", "--out", out, "--json"]);
  assert.match(r.stderr, /label: "class", picked as the only column named label, class, target or y/);
  assert.match(r.stderr, /task: classification, 3 classes: a, b, c/);
  assert.match(r.stderr, /x1 +numeric; 15 missing → training mean /);
  assert.match(r.stderr, /splits: train 173, validation 19 \(10 % of the 192 training samples, seed 42\), test 48 \(20 % of each class held out, split-seed 0\)/);
  const json = JSON.parse(r.stdout);
  assert.equal(json.dataSummary.tabular.labelChosen, "auto");
  assert.deepEqual([json.dataSummary.split.train, json.dataSummary.split.validation, json.dataSummary.test.size], [173, 19, 48]);
  assert.deepEqual(JSON.parse(readFileSync(join(out, "config.json"), "utf8")).dataSummary, json.dataSummary);
  const quiet = await cli(["train", "--model", "mlp:4", "--data", `csv:${CLASSES}`, "--epochs", "1", "--out", join(tmp, "quiet"), "--quiet"]);
  assert.equal(quiet.stderr, "");
});

test("regression end to end: train → distill → eval (hand-computed RMSE/MAE/R²) → label → distill from the cache → serve {value}", async () => {
  await useBackend("cpu");
  const common = ["--data", SPEC, "--batch-size", "32", "--seed", "1"];
  // The teacher.
  const t = await cli(["train", "--model", "mlp:16", ...common, "--epochs", "6", "--lr", "0.01", "--out", join(tmp, "teacher"), "--json"]);
  assert.match(t.stderr, /task: regression of "price"; numeric label with 240 distinct values \(task=classification treats them as classes\); targets standardised/);
  assert.match(t.stderr, /test 48 \(20 % of the labelled rows held out at random, split-seed 0\)/);
  assert.match(t.stderr, /val RMSE [\d.]+, R² -?[\d.]+/);
  const tj = JSON.parse(t.stdout);
  assert.equal(tj.task, "regression");
  const teacherDir = join(tmp, "teacher", "model");
  const pre = loadPreprocess(teacherDir) as TabularPreprocess;
  assert.equal(pre.task, "regression");
  const test = loadImageData(SPEC).test;
  const truth = Array.from(test.rawRows(Array.from({ length: test.size }, (_, i) => i))!, (r) => PRICES.get((r as Record<string, string>).id)!);
  const teacherPred = await predictionsOf(teacherDir, test.x, test.size);
  close(tj.testRmse, metrics(teacherPred, truth).rmse, "train's test RMSE");

  // The student, distilled from the teacher folder (standardised outputs read through its preprocess.json).
  const s = await cli(["distill", "--teacher", teacherDir, "--student", "mlp:4", ...common, "--epochs", "4", "--lr", "0.01", "--alpha", "0.3", "--out", join(tmp, "student"), "--json"]);
  const sj = JSON.parse(s.stdout);
  const studentDir = join(tmp, "student", "student");
  const studentPred = await predictionsOf(studentDir, test.x, test.size);
  const hand = metrics(studentPred, truth);
  close(sj.testRmse, hand.rmse, "distill's test RMSE");
  close(sj.teacherTestRmse, metrics(teacherPred, truth).rmse, "distill's teacher RMSE");
  close(sj.rmseVsTeacher, metrics(studentPred, teacherPred).rmse, "distill's RMSE to the teacher");

  // eval: the same numbers from the saved folders.
  const e = await cli(["eval", "--model", studentDir, "--teacher", teacherDir, "--data", SPEC, "--json", "--quiet"]);
  const ej = JSON.parse(e.stdout);
  close(ej.rmse, hand.rmse, "eval RMSE");
  close(ej.mae, hand.mae, "eval MAE");
  close(ej.r2, hand.r2, "eval R²");
  close(ej.rmseVsTeacher, metrics(studentPred, teacherPred).rmse, "eval RMSE to the teacher");
  close(ej.teacherRmse, metrics(teacherPred, truth).rmse, "eval teacher RMSE");
  assert.ok(ej.energy.student.cpuMsPer1000 > 0 && ej.energy.teacher.cpuMsPer1000 > 0 && ej.energy.wattsPerCore === 5, JSON.stringify(ej.energy));
  const human = await cli(["eval", "--model", studentDir, "--teacher", teacherDir, "--data", SPEC, "--quiet"]);
  assert.match(human.stdout, /^RMSE +[\d.]+ +[\d.]+$/m);
  assert.match(human.stdout, /RMSE to the teacher's predictions +- +[\d.]+/);
  assert.match(human.stdout, /per 1,000 predictions: teacher [\d.]+ ms CPU/);

  // label: the cache holds the teacher's predictions in the target's units; a student distils from it.
  const cacheDir = join(tmp, "cache");
  await cli(["label", "--teacher", teacherDir, "--data", SPEC, "--seed", "1", "--out", cacheDir, "--quiet"]);
  const cache = openLabelCache(cacheDir);
  const { train: trainSet } = loadSplits(SPEC, { seed: 1 });
  const cached = Array.from(cache.logitsFor(Int32Array.from({ length: 5 }, (_, i) => i)));
  cache.close();
  const teacherOnTrain = await predictionsOf(teacherDir, trainSet.x.subarray(0, 5 * trainSet.sampleSize), 5);
  cached.forEach((v, i) => assert.ok(Math.abs(v - teacherOnTrain[i]) < 1e-3 * Math.max(1, Math.abs(teacherOnTrain[i])), `cache row ${i}: ${v} vs teacher ${teacherOnTrain[i]}`));
  const fromCache = await cli(["distill", "--teacher-cache", cacheDir, "--student", "mlp:4", ...common, "--epochs", "2", "--alpha", "0.1", "--out", join(tmp, "from-cache"), "--json", "--quiet"]);
  const cj = JSON.parse(fromCache.stdout);
  assert.equal(cj.rmseVsTeacherMeasuredOn, "transfer set (teacher cache)");
  assert.ok(Number.isFinite(cj.testRmse) && Number.isFinite(cj.rmseVsTeacher));

  // serve: {value} per sample, the student's output in the target's units.
  const server = await createServer({ modelDir: studentDir, backend: "cpu" });
  try {
    const w = test.sampleSize;
    const inputs = [0, 1, 2].map((i) => Array.from(test.x.subarray(i * w, (i + 1) * w)));
    const res = await server.app.request("/predict", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ inputs }) });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { predictions: { value: number }[] };
    assert.deepEqual(Object.keys(body.predictions[0]), ["value"]);
    body.predictions.forEach((p, i) => assert.ok(Math.abs(p.value - studentPred[i]) < 1e-4 * Math.max(1, Math.abs(studentPred[i])), `sample ${i}: ${p.value} vs ${studentPred[i]}`));
    const meta = (await (await server.app.request("/metadata")).json()) as { task: string; target: { target: string } };
    assert.equal(meta.task, "regression");
    assert.equal(meta.target.target, "price");
  } finally {
    await server.predictor.close();
  }
});

test("auto on a regression data set: the mse method, validation R² as the objective, best/ with its preprocess.json", async () => {
  const teacherDir = join(tmp, "teacher", "model"); // trained by the end-to-end test above
  const r = await runAutoSearch({
    teacher: teacherDir,
    data: SPEC,
    seed: 2,
    constraints: {},
    trials: 2,
    workers: 0,
    out: join(tmp, "auto"),
    db: join(tmp, "auto.db"),
    backend: "cpu",
    halving: { minEpochs: 1, maxEpochs: 2, eta: 3 },
    batchSize: 32,
    space: { mlpWidths: [4, 8], mlpMaxDepth: 1 },
    latencySeconds: 0.02,
  });
  assert.equal(r.task, "regression");
  assert.equal(r.summary.objective, "r2");
  assert.ok(r.summary.candidates.every((c) => c.method === "mse"));
  const best = r.summary.best!;
  assert.ok(r.bestDir && existsSync(join(r.bestDir, "preprocess.json")), "best/ carries the target's scale");
  // Validation R² by hand from the saved best model.
  const { validation } = loadSplits(SPEC, { seed: 2 });
  const ids = Array.from(validation.rawRows(Array.from({ length: validation.size }, (_, i) => i))!, (row) => PRICES.get((row as Record<string, string>).id)!);
  const pred = await predictionsOf(r.bestDir!, validation.x, validation.size);
  close(best.valAccuracy, metrics(pred, ids).r2, "validation R² of the best");
  assert.match(formatFronts(r.summary), /val R²/);
});

test("teacher/data task mismatch is one line naming both, before any training or labelling; nothing is left behind", async () => {
  await useBackend("cpu");
  const width = loadImageData(SPEC).train.sampleShape[0];
  const classifierDir = join(tmp, "three-class-teacher");
  const clf = new SequentialModel(modelConfigFromSpec("mlp:4", { inputShape: [width], numClasses: 3 }), 0);
  await saveModel(clf, classifierDir, { role: "teacher" });
  clf.dispose();
  const outParent = join(tmp, "refused");
  mkdirSync(outParent);
  const out = join(outParent, "run");
  const r1 = await cli(["distill", "--teacher", classifierDir, "--student", "mlp:4", "--data", SPEC, "--out", out, "--quiet"], false);
  assert.equal(r1.code, 2, show(r1));
  const l1 = oneLine(r1);
  for (const part of [classifierDir, "3 outputs (a classifier)", SPEC, "regression task"]) assert.ok(l1.includes(part), `${l1} lacks ${part}`);
  const r2 = await cli(["label", "--teacher", classifierDir, "--data", SPEC, "--out", out, "--quiet"], false);
  assert.equal(r2.code, 2, show(r2));
  assert.match(oneLine(r2), /3 outputs \(a classifier\).*regression task/);
  // A regression teacher (trained by the test above) on a classification data set of the same input width.
  const regressor = join(tmp, "teacher", "model");
  const r3 = await cli(["distill", "--teacher", regressor, "--student", "mlp:4", "--data", `csv:${CLASSES}`, "--out", out, "--quiet"], false);
  assert.equal(r3.code, 2, show(r3));
  assert.match(oneLine(r3), /1 output \(a regression model\) but csv:.*three\.csv is a classification task with 3 classes/);
  assert.deepEqual(readdirSync(outParent), [], "no run folder, cache or partial folder");
});
