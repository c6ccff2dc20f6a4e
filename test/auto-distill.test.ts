import { test } from "node:test";
import assert from "node:assert/strict";
import { useBackend } from "../src/engine/backend.js";
import { InMemoryDataset } from "../src/data/dataset.js";
import { SequentialModel } from "../src/students/model.js";
import { modelConfigFromSpec } from "../src/students/spec.js";
import { TeacherLogitCache } from "../src/teachers/teacher.js";
import { autoDistill, bestCandidate, formatAutoDistillReport, pickFinal, searchGrid, type CandidateReport } from "../src/train/auto-distill.js";
import { defaultBudget } from "../src/train/budget.js";
import { Rng } from "../src/util/rng.js";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCli, separableBlobs, tempDir } from "./helpers.js";

const candidate = (temperature: number, alpha: number, score: number, valLoss = 0.5): CandidateReport => ({ temperature, alpha, score, valLoss, valAccuracy: score, valRmse: null, epochs: 1 });

test("searchGrid: auto spans T × α, a given number stays fixed, regression has no temperature", () => {
  assert.equal(searchGrid("auto", "auto", false).length, 6);
  assert.deepEqual(searchGrid(3, "auto", false), [{ temperature: 3, alpha: 0.1 }, { temperature: 3, alpha: 0.5 }]);
  assert.deepEqual(searchGrid("auto", 0.2, false).map((s) => s.temperature), [1, 2, 4]);
  assert.deepEqual(searchGrid("auto", "auto", true), [{ temperature: 1, alpha: 0.1 }, { temperature: 1, alpha: 0.5 }]);
  assert.deepEqual(searchGrid(2, 0.3, false), [{ temperature: 2, alpha: 0.3 }]);
});

test("bestCandidate: highest validation score; a tie goes to the earlier setting", () => {
  assert.deepEqual(bestCandidate([candidate(1, 0.1, 0.8), candidate(2, 0.1, 0.9), candidate(4, 0.1, 0.85)]).temperature, 2);
  const tie = bestCandidate([candidate(1, 0.5, 0.9), candidate(2, 0.1, 0.9)]);
  assert.deepEqual([tie.temperature, tie.alpha], [1, 0.5]);
  const byLoss = bestCandidate([candidate(1, 0.5, 0.9, 0.4), candidate(2, 0.1, 0.9, 0.3)]);
  assert.deepEqual([byLoss.temperature, byLoss.alpha], [2, 0.1]);
});

test("pickFinal: the student alone when it beats the distilled student on validation (accuracy, then loss) or the teacher is no better than it", () => {
  const s = (score: number, valLoss: number | null = 0.5) => ({ score, valLoss, valAccuracy: score, valRmse: null });
  assert.equal(pickFinal(s(0.9), s(0.95)), "student alone");
  assert.equal(pickFinal(s(0.95), s(0.9)), "distilled");
  assert.equal(pickFinal(s(0.9), s(0.9)), "distilled");
  assert.equal(pickFinal(s(0.9, 0.3), s(0.9, 0.2)), "student alone", "equal accuracy: the lower validation loss wins");
  assert.equal(pickFinal(s(0.9, 0.2), s(0.9, 0.3)), "distilled");
  assert.equal(pickFinal(s(0.9, null), s(0.9, null)), "distilled");
  // A teacher no better than the student alone on validation has nothing to teach: the student alone, whatever the distilled one scored.
  assert.equal(pickFinal(s(0.95), s(0.9), 0.9), "student alone");
  assert.equal(pickFinal(s(0.95), s(0.9), 0.85), "student alone");
  assert.equal(pickFinal(s(0.95), s(0.9), 0.91), "distilled");
  assert.equal(pickFinal(s(0.95), null, 0.5), "distilled", "no student alone (T and α given): no fallback");
  assert.equal(pickFinal(s(0.9), null), "distilled");
});

test("defaultBudget: small training sets get smaller batches and more epochs; given numbers are kept", () => {
  assert.deepEqual(defaultBudget(54_000), { epochs: 10, batchSize: 128 });
  assert.deepEqual(defaultBudget(128), { epochs: 125, batchSize: 8 });
  assert.deepEqual(defaultBudget(20), { epochs: 200, batchSize: 8 });
  assert.deepEqual(defaultBudget(128, { epochs: 3, batchSize: 32 }), { epochs: 3, batchSize: 32 });
});


test("autoDistill: a teacher that is wrong on every sample loses the search and the student alone is kept, and the report says so", async () => {
  await useBackend("cpu");
  const data = separableBlobs(150, 1);
  const validation = separableBlobs(60, 2);
  // A confidently wrong teacher: it names class (y + 1) mod 3 for every sample.
  const wrong = new Float32Array(data.size * 3);
  for (let i = 0; i < data.size; i++) wrong[i * 3 + ((data.y[i] + 1) % 3)] = 8;
  const config = modelConfigFromSpec("mlp:8", { inputShape: [4], numClasses: 3 });
  const { student, report } = await autoDistill({
    teacherLogits: new TeacherLogitCache(wrong, 3),
    data,
    validation,
    makeStudent: () => new SequentialModel(config, 7),
    temperature: "auto",
    alpha: "auto",
    epochs: 8,
    batchSize: 16,
    optimizer: { kind: "adam", lr: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-7, weightDecay: 0 },
    seed: 7,
  });
  try {
    assert.equal(report.candidates.length, 6);
    assert.ok(report.candidates.every((c) => c.epochs === 2 && c.valAccuracy !== null));
    assert.ok(report.alone && report.alone.score > report.distilled.score, `alone ${report.alone?.score} vs distilled ${report.distilled.score}`);
    assert.equal(report.picked, "student alone");
    assert.ok(report.alone.score >= 0.9, `the student alone should learn the blobs (validation accuracy ${report.alone.score})`);
    const lines = formatAutoDistillReport(report).join("\n");
    assert.match(lines, /search \(T auto, α auto; 2 epoch\(s\) each\): T=1 α=0\.1 val accuracy/);
    assert.match(lines, /kept the student alone/);
    // The returned model is the student alone: its validation accuracy is the one reported.
    const pred = student.predict.bind(student);
    const { evaluate } = await import("../src/eval/classification.js");
    assert.equal(evaluate(pred, validation).accuracy, report.alone.valAccuracy);
  } finally {
    student.dispose();
  }
});

test("autoDistill: with T and α given there is no search and no fallback", async () => {
  await useBackend("cpu");
  const data = separableBlobs(90, 3);
  const validation = separableBlobs(30, 4);
  const right = new Float32Array(data.size * 3);
  for (let i = 0; i < data.size; i++) right[i * 3 + data.y[i]] = 5;
  const config = modelConfigFromSpec("mlp:8", { inputShape: [4], numClasses: 3 });
  const { student, report } = await autoDistill({ teacherLogits: new TeacherLogitCache(right, 3), data, validation, makeStudent: () => new SequentialModel(config, 1), temperature: 2, alpha: 0.3, epochs: 2, batchSize: 16, seed: 1 });
  student.dispose();
  assert.deepEqual(report.candidates, []);
  assert.equal(report.alone, null);
  assert.deepEqual(report.chosen, { temperature: 2, alpha: 0.3 });
  assert.equal(report.picked, "distilled");
});

/** Three Gaussian blobs as a CSV (columns a, b, c, label k0/k1/k2); rows from `labelled` on have an empty label. */
function writeBlobCsv(file: string, n: number, labelled: number, seed: number): void {
  const rng = new Rng(seed, "csv");
  const rows = ["a,b,c,label"];
  for (let i = 0; i < n; i++) {
    const k = i % 3;
    rows.push([0, 1, 2].map((d) => ((d === k ? 2 : 0) + rng.normal() * 0.6).toFixed(3)).join(",") + (i < labelled ? `,k${k}` : ","));
  }
  writeFileSync(file, rows.join("\n") + "\n");
}

test("tsdistill distill with the defaults prints the search and its choice, and results.json records them", { timeout: 300_000 }, async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  writeBlobCsv(join(dir, "blobs.csv"), 120, 120, 5);
  const data = ["--data", `csv:${join(dir, "blobs.csv")}`, "--label", "label", "--backend", "cpu"];
  const teacher = await runCli(["train", "--model", "mlp:16", ...data, "--epochs", "20", "--out", join(dir, "teacher"), "--quiet"]);
  assert.equal(teacher.code, 0, teacher.stderr);
  // A tsdistill model folder labels new feature vectors: function matching by default, no search, the fallback at its budget.
  const fm = await runCli(["distill", "--teacher", join(dir, "teacher", "model"), "--student", "mlp:4", ...data, "--epochs", "2", "--out", join(dir, "fm"), "--json"]);
  assert.equal(fm.code, 0, fm.stderr);
  assert.match(fm.stderr, /function matching: yes \(MUNGE batches labelled by the teacher as the student sees them, 2× the epochs, learning rate 0\.003 for both\)/);
  assert.match(fm.stderr, /distilled with T=1 α=0 on MUNGE batches \(4 epochs\): val accuracy [\d.]+% \(loss [\d.]+\); student alone \(4 epochs\): val accuracy/);
  const fmOut = JSON.parse(fm.stdout) as { autoDistill: { candidates: unknown[]; functionMatching: { used: boolean }; chosen: { matching?: string } } };
  assert.equal(fmOut.autoDistill.functionMatching.used, true);
  assert.equal(fmOut.autoDistill.chosen.matching, "munge", "a CSV: MUNGE rows, not mixup blends");
  assert.deepEqual(fmOut.autoDistill.candidates, []);
  // Turned off: the cached-logit search over T × α.
  const d = await runCli(["distill", "--teacher", join(dir, "teacher", "model"), "--student", "mlp:4", ...data, "--epochs", "4", "--function-matching", "off", "--out", join(dir, "student"), "--json"]);
  assert.equal(d.code, 0, d.stderr);
  assert.match(d.stderr, /function matching: no \(turned off/);
  assert.match(d.stderr, /search \(T auto, α auto; 1 epoch\(s\) each\): T=1 α=0\.1 val accuracy [\d.]+% \(loss [\d.]+\); T=1 α=0\.5/);
  assert.match(d.stderr, /distilled with T=\d α=0\.\d \(4 epochs\): val accuracy [\d.]+% \(loss [\d.]+\); student alone \(4 epochs\): val accuracy [\d.]+% \(loss [\d.]+\)/);
  assert.match(d.stderr, /kept the (distilled student|student alone)/);
  const out = JSON.parse(d.stdout) as { autoDistill: { candidates: unknown[]; picked: string; chosen: { temperature: number; alpha: number } } };
  const saved = JSON.parse(readFileSync(join(dir, "student", "results.json"), "utf8")) as typeof out;
  assert.equal(out.autoDistill.candidates.length, 6);
  assert.deepEqual(saved.autoDistill, out.autoDistill);
  const meta = JSON.parse(readFileSync(join(dir, "student", "student", "model.json"), "utf8")) as { userDefinedMetadata: { tsdistill: { role?: string; alpha?: number } } };
  const recorded = meta.userDefinedMetadata.tsdistill;
  assert.equal(recorded.alpha, out.autoDistill.chosen.alpha);
  assert.match(recorded.role ?? "", out.autoDistill.picked === "distilled" ? /^distilled student$/ : /^student alone/);
});

test("formatAutoDistillReport: regression shows α only; the fallback is named", () => {
  const rmse = (valRmse: number) => ({ score: -valRmse, valLoss: null, valAccuracy: null, valRmse });
  const lines = formatAutoDistillReport({
    requested: { temperature: "auto", alpha: "auto", functionMatching: "auto" },
    functionMatching: { used: false, reason: "unavailable: only the teacher's outputs over the transfer set are at hand (a label cache)" },
    candidates: [{ temperature: 1, alpha: 0.1, epochs: 2, ...rmse(1.5) }, { temperature: 1, alpha: 0.5, epochs: 2, ...rmse(1.2) }],
    chosen: { temperature: 1, alpha: 0.5 },
    transfer: { labelled: 100, unlabeled: 0 },
    teacherValAccuracy: null,
    distilled: { ...rmse(1.1), epochs: 8 },
    alone: { ...rmse(1.0), epochs: 8 },
    picked: "student alone",
  });
  assert.deepEqual(lines, [
    "function matching: no (unavailable: only the teacher's outputs over the transfer set are at hand (a label cache))",
    "search (α auto; 2 epoch(s) each): α=0.1 val RMSE 1.5000; α=0.5 val RMSE 1.2000",
    "distilled with α=0.5 (8 epochs): val RMSE 1.1000; student alone (8 epochs): val RMSE 1.0000",
    "kept the student alone: it beat the distilled student on validation (RMSE)",
  ]);
});

test("tsdistill distill: CSV rows without a label join the distilled student's transfer set (the teacher labels them), and the run says so", { timeout: 300_000 }, async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  writeBlobCsv(join(dir, "part.csv"), 150, 90, 6); // the last 60 rows have no label
  const data = ["--data", `csv:${join(dir, "part.csv")}`, "--label", "label", "--backend", "cpu"];
  const teacher = await runCli(["train", "--model", "mlp:16", ...data, "--epochs", "20", "--out", join(dir, "teacher"), "--quiet"]);
  assert.equal(teacher.code, 0, teacher.stderr);
  const fm = await runCli(["distill", "--teacher", join(dir, "teacher", "model"), "--student", "mlp:4", ...data, "--epochs", "4", "--out", join(dir, "fm"), "--json"]);
  assert.equal(fm.code, 0, fm.stderr);
  const out = JSON.parse(fm.stdout) as { autoDistill: { transfer: { labelled: number; unlabeled: number }; distilled: { epochs: number }; alone: { epochs: number } } };
  const { labelled, unlabeled } = out.autoDistill.transfer;
  assert.equal(unlabeled, 60);
  assert.match(fm.stderr, new RegExp(`transfer set: ${labelled} labelled \\+ 60 unlabeled rows \\(only the teacher labels those; the student alone trains on the labelled rows, for as many steps\\)`));
  assert.ok(out.autoDistill.distilled.epochs < out.autoDistill.alone.epochs, `fewer epochs over the larger transfer set (${out.autoDistill.distilled.epochs} vs ${out.autoDistill.alone.epochs})`);
});
