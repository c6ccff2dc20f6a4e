// `tsdistill eval` as users run it (bin/tsdistill.js; dist/ when built): the JSON fields checked against the
// metric functions run here on the same models and data, the human table, and one-line errors.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { encodeIdx } from "../src/data/idx.js";
import { loadIdxImageSplit } from "../src/data/mnist.js";
import { useBackend } from "../src/engine/backend.js";
import { SequentialModel } from "../src/students/model.js";
import { modelConfigFromSpec } from "../src/students/spec.js";
import { loadModel, saveModel } from "../src/students/io.js";
import { agreement, classificationMetrics, predictLogits } from "../src/eval/classification.js";
import { confusionMatrix, expectedCalibrationError, klDivergence, perClassAccuracy, topKAccuracy } from "../src/eval/metrics.js";
import { bytesOnDisk } from "../src/eval/size.js";
import { runCli, tempDir, type Run } from "./helpers.js";

const cli = (args: string[], timeoutMs = 60_000) => runCli(args, timeoutMs);

const describe = (r: Run) => `exit ${r.code}\nstdout: ${JSON.stringify(r.stdout.slice(0, 2000))}\nstderr: ${JSON.stringify(r.stderr)}`;

const { dir: tmp, cleanup } = tempDir("tsdistill-eval-cli-");
process.on("exit", cleanup);

// A tiny MNIST-format data set: 8×8 images, 10 classes, 40 test samples (fewer than --batch, so the throughput
// batch repeats samples).
const DATA = join(tmp, "data");
mkdirSync(DATA);
for (const [split, n] of [
  ["train", 30],
  ["t10k", 40],
] as const) {
  writeFileSync(join(DATA, `${split}-images-idx3-ubyte`), encodeIdx("uint8", [n, 8, 8], Array.from({ length: n * 64 }, (_, i) => (i * 37 + (i >> 6) * 11) % 256)));
  writeFileSync(join(DATA, `${split}-labels-idx1-ubyte`), encodeIdx("uint8", [n], Array.from({ length: n }, (_, i) => (i * 7) % 10)));
}

const BACKEND = await useBackend("auto"); // the CLI's default backend (native when the addon loads, else wasm), so both sides compute the same logits
const shape = { inputShape: [8, 8, 1], numClasses: 10 };
const TEACHER = join(tmp, "teacher");
const STUDENT = join(tmp, "student");
const WRONG = join(tmp, "five-classes");
for (const [dir, spec, seed, classes] of [
  [TEACHER, "mlp:48", 1, 10],
  [STUDENT, "mlp:6", 2, 10],
  [WRONG, "mlp:6", 3, 5],
] as const) {
  const m = new SequentialModel(modelConfigFromSpec(spec, { ...shape, numClasses: classes }), seed);
  await saveModel(m, dir, { spec });
  m.dispose();
}

test("eval --json: accuracy, top-k, fidelity, KL, ECE, per-class, confusion, size, latency and throughput", async () => {
  const r = await cli(["eval", "--model", STUDENT, "--teacher", TEACHER, "--data", `idx:${DATA}`, "--batch", "64", "--json"]);
  assert.equal(r.code, 0, describe(r));
  assert.equal(r.stderr, "", describe(r));
  const lines = r.stdout.trim().split("\n");
  assert.equal(lines.length, 1, `stdout is one JSON line:\n${describe(r)}`);
  const out = JSON.parse(lines[0]);

  // The same numbers, computed here.
  const testSet = loadIdxImageSplit(DATA, "t10k");
  const s = (await loadModel(STUDENT)).model;
  const t = (await loadModel(TEACHER)).model;
  const sl = predictLogits((x) => s.predict(x), testSet);
  const tl = predictLogits((x) => t.predict(x), testSet);
  const y = testSet.y;
  const cm = classificationMetrics(sl, y, 10);
  const tcm = classificationMetrics(tl, y, 10);

  assert.equal(out.testSize, 40);
  assert.equal(out.numClasses, 10);
  assert.equal(out.batchSize, 64);
  assert.equal(out.data, `idx:${DATA}`);
  assert.equal(out.backend, BACKEND);
  assert.equal(out.accuracy, cm.accuracy);
  assert.equal(out.errors, cm.errors);
  assert.equal(out.top1Accuracy, cm.accuracy);
  assert.equal(out.top5Accuracy, topKAccuracy(sl, y, 10, 5));
  assert.ok(out.top5Accuracy >= out.top1Accuracy);
  assert.equal(out.teacherAccuracy, tcm.accuracy);
  assert.equal(out.agreementWithTeacher, agreement(tl, sl, 10));
  assert.equal(out.fidelity, out.agreementWithTeacher);
  assert.ok(Math.abs(out.klTeacherStudent - klDivergence(tl, sl, 10)) < 1e-9, `KL ${out.klTeacherStudent}`);
  assert.ok(out.klTeacherStudent > 0, "two different random networks disagree");
  const cal = expectedCalibrationError(sl, y, 10);
  assert.ok(Math.abs(out.ece - cal.ece) < 1e-9, `ECE ${out.ece} vs ${cal.ece}`);
  assert.equal(out.student.calibration.bins.length, 15);
  assert.deepEqual(out.student.calibration.bins.map((b: { count: number }) => b.count), cal.bins.map((b) => b.count));
  assert.equal(out.student.calibration.bins.reduce((n: number, b: { count: number }) => n + b.count, 0), 40);
  assert.deepEqual(out.student.perClass, perClassAccuracy(sl, y, 10));
  assert.deepEqual(out.student.confusionMatrix, confusionMatrix(sl, y, 10));
  assert.deepEqual(out.teacher.confusionMatrix, confusionMatrix(tl, y, 10));
  assert.equal(out.teacher.agreementWithTeacher, 1);
  assert.equal(out.teacher.klFromTeacher, 0);

  assert.equal(out.params, 64 * 6 + 6 + 6 * 10 + 10);
  assert.equal(out.teacher.params, 64 * 48 + 48 + 48 * 10 + 10);
  assert.equal(out.bytesOnDisk, bytesOnDisk(STUDENT));
  assert.equal(out.teacher.bytesOnDisk, bytesOnDisk(TEACHER));
  assert.equal(out.compressionRatio, bytesOnDisk(TEACHER) / bytesOnDisk(STUDENT));
  for (const m of [out.student, out.teacher]) {
    const { batch1, batchN } = m.timing;
    assert.ok(batch1.p50Ms > 0 && batch1.p99Ms >= batch1.p50Ms, `latency ${JSON.stringify(batch1)}`);
    assert.ok(batch1.runs >= 10);
    assert.equal(batchN.batchSize, 64);
    assert.ok(Math.abs(batchN.samplesPerSecond - (64 * 1000) / batchN.p50Ms) < 1e-6 * batchN.samplesPerSecond);
  }
  assert.equal(out.latencyMsBatch1, out.student.timing.batch1.p50Ms);
  assert.equal(out.speedUp, out.teacher.timing.batch1.p50Ms / out.student.timing.batch1.p50Ms);
  assert.equal(out.comparison.fidelity, out.fidelity);
  assert.equal(out.comparison.paramRatio, out.teacher.params / out.params);
  s.dispose();
  t.dispose();
});

test("eval without --json prints a compact table; without --teacher there is no fidelity", async () => {
  const r = await cli(["eval", "--model", STUDENT, "--teacher", TEACHER, "--data", `idx:${DATA}`]);
  assert.equal(r.code, 0, describe(r));
  for (const row of ["accuracy (top-1)", "top-5 accuracy", "ECE (15 bins)", "latency b=1 p99", "throughput b=256", "fidelity (top-1 agreement)", "KL(teacher ‖ model)", "compression", "speed-up", "per-class accuracy", "confusion matrix of student"]) {
    assert.ok(r.stdout.includes(row), `the table has "${row}":\n${r.stdout}`);
  }
  const alone = await cli(["eval", "--model", STUDENT, "--data", `idx:${DATA}`, "--json"]);
  assert.equal(alone.code, 0, describe(alone));
  const out = JSON.parse(alone.stdout);
  assert.equal(out.teacher, null);
  assert.equal(out.fidelity, null);
  assert.equal(out.klTeacherStudent, null);
  assert.equal(out.compressionRatio, null);
  assert.equal(typeof out.top5Accuracy, "number");
});

test("eval: bad inputs fail with one stderr line", { concurrency: 3 }, async (t) => {
  const cases: { name: string; args: string[]; code: number; mentions: string[] }[] = [
    { name: "missing model", args: ["eval", "--model", "/nonexistent/model-dir"], code: 1, mentions: ["/nonexistent/model-dir/model.json"] },
    { name: "bad --batch", args: ["eval", "--model", STUDENT, "--batch", "0"], code: 2, mentions: ["--batch", '"0"'] },
    { name: "teacher with other classes", args: ["eval", "--model", STUDENT, "--teacher", WRONG, "--data", `idx:${DATA}`], code: 1, mentions: [join(WRONG, "model.json"), "5 outputs", "10 classes"] },
  ];
  await Promise.all(
    cases.map((c) =>
      t.test(c.name, async () => {
        const r = await cli(c.args);
        assert.equal(r.code, c.code, describe(r));
        const lines = r.stderr.split("\n");
        assert.ok(lines.length === 2 && lines[1] === "" && /^tsdistill: /.test(lines[0]), `one stderr line:\n${describe(r)}`);
        for (const m of c.mentions) assert.ok(lines[0].includes(m), `stderr mentions ${m}:\n${describe(r)}`);
        assert.doesNotMatch(lines[0], /internal error|    at /);
        assert.equal(r.stdout, "");
      }),
    ),
  );
});
