import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { useBackend } from "../src/engine/backend.js";
import { InMemoryDataset, type Batch } from "../src/data/dataset.js";
import { mixupBatches, type Augment } from "../src/data/augment.js";
import { stratifiedSample } from "../src/data/stratified-split.js";
import { SequentialModel } from "../src/students/model.js";
import { modelConfigFromSpec } from "../src/students/spec.js";
import { modelTeacher, TeacherLogitCache, type Teacher } from "../src/teachers/teacher.js";
import { Distiller } from "../src/distill/distiller.js";
import { kd } from "../src/distill/term-builders.js";
import { autoDistill, FM_EPOCH_FACTOR, formatAutoDistillReport, functionMatchingPlan } from "../src/train/auto-distill.js";
import { Rng } from "../src/util/rng.js";
import { loadImageData, splitLoaded } from "../src/data/sources.js";
import { formatDataSummary } from "../src/data/summary.js";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { separableBlobs, tempDir } from "./helpers.js";
import { evaluate } from "../src/eval/classification.js";


const batchOf = (n: number, d: number): Batch => ({
  x: Float32Array.from({ length: n * d }, (_, k) => Math.floor(k / d) * 10 + (k % d)),
  y: Int32Array.from({ length: n }, (_, i) => i % 3),
  indices: Int32Array.from({ length: n }, (_, i) => 100 + i),
  size: n,
});

test("mixupBatches: seeded, same shapes, each row λ·x_i + (1 − λ)·x_j with λ in [0.5, 1] and j in the batch; labels and rows kept", () => {
  const batch = batchOf(16, 3);
  const a = mixupBatches()(batch, [3], new Rng(1, "augment", 0));
  const b = mixupBatches()(batch, [3], new Rng(1, "augment", 0));
  const c = mixupBatches()(batch, [3], new Rng(2, "augment", 0));
  assert.deepEqual(a.x, b.x, "same seed, same blends");
  assert.notDeepEqual(a.x, c.x, "another seed, other blends");
  assert.equal(a.x.length, batch.x.length);
  assert.deepEqual(a.y, batch.y);
  assert.deepEqual(a.indices, batch.indices);
  assert.equal(batch.x[4], 11, "the input batch is not changed");
  let mixed = 0;
  for (let i = 0; i < 16; i++) {
    // Row r of batchOf is [10r, 10r + 1, 10r + 2]: the blend's first value 10·(λi + (1 − λ)j) gives λ and j.
    const row = Array.from(a.x.subarray(i * 3, i * 3 + 3));
    assert.ok(Math.abs(row[1] - row[0] - 1) < 1e-4 && Math.abs(row[2] - row[0] - 2) < 1e-4, `row ${i} is a convex blend: ${row}`);
    const found = [...Array(16).keys()].some((j) => {
      if (j === i) return Math.abs(row[0] - 10 * i) < 1e-3;
      const lambda = (row[0] / 10 - j) / (i - j);
      return lambda >= 0.5 - 1e-5 && lambda <= 1 + 1e-5;
    });
    assert.ok(found, `row ${i} (${row[0]}) is λ·x_${i} + (1 − λ)·x_j with λ ≥ 0.5`);
    if (Math.abs(row[0] - 10 * i) > 1e-3) mixed++;
  }
  assert.ok(mixed >= 12, `most rows are blended (${mixed} of 16)`);
  assert.throws(() => mixupBatches()(batch, [4], new Rng(1)), /mixup: 48 input values do not make 16 samples of shape \[4\]/);
});

test("Distiller with augmentation: the teacher labels exactly the mixed batch the student trains on", async () => {
  await useBackend("cpu");
  const data = separableBlobs(48, 1);
  const config = modelConfigFromSpec("mlp:8", { inputShape: [4], numClasses: 3 });
  const teacherModel = new SequentialModel(modelConfigFromSpec("mlp:16", { inputShape: [4], numClasses: 3 }), 3);
  const student = new SequentialModel(config, 4);
  const augmented: Float32Array[] = [];
  const teacherSaw: Float32Array[] = [];
  const studentSaw: Float32Array[] = [];
  const recordAugment: Augment = (batch, shape, rng) => {
    const out = mixupBatches()(batch, shape, rng);
    augmented.push(out.x);
    return out;
  };
  const base = modelTeacher(teacherModel, "recording");
  const teacher: Teacher = { ...base, forward: undefined, logits: (x) => (teacherSaw.push(x.dataSync() as Float32Array), base.logits(x)) };
  const forward = student.forward.bind(student);
  student.forward = (x, o) => (o?.training && studentSaw.push(x.dataSync() as Float32Array), forward(x, o));
  const d = new Distiller({ teacher, student, terms: [kd({ temperature: 1, alpha: 0 })] });
  try {
    await d.fit(data, { epochs: 2, batchSize: 16, seed: 5, augment: recordAugment });
    assert.equal(augmented.length, 6, "3 batches × 2 epochs");
    assert.deepEqual(teacherSaw, augmented);
    assert.deepEqual(studentSaw, augmented);
    assert.equal(d.teacherLogits, null, "nothing cached: every batch is new");
  } finally {
    d.dispose();
    student.dispose();
    teacherModel.dispose();
  }
});

test("function matching needs a teacher that labels feature vectors: a cache or an async teacher falls back (or fails with \"on\")", async () => {
  await useBackend("cpu");
  const model = new SequentialModel(modelConfigFromSpec("mlp:4", { inputShape: [4], numClasses: 3 }), 1);
  const asyncTeacher: Teacher = { name: "remote", numClasses: 3, logits: () => { throw new Error("sync call"); }, logitsAsync: async (input) => new Float32Array(input.n * 3) };
  assert.deepEqual(functionMatchingPlan("auto", modelTeacher(model)).used, true);
  assert.match(functionMatchingPlan("auto", undefined).reason, /^unavailable: only the teacher's outputs over the transfer set are at hand/);
  assert.match(functionMatchingPlan("auto", asyncTeacher).reason, /^unavailable: teacher remote runs asynchronously/);
  assert.match(functionMatchingPlan("off", modelTeacher(model)).reason, /turned off/);
  assert.match(functionMatchingPlan("auto", modelTeacher(model), true).reason, /^T and α given: one plain distillation/);
  assert.equal(functionMatchingPlan("on", modelTeacher(model), true).used, true);
  assert.throws(() => functionMatchingPlan("on", asyncTeacher), /function matching needs a teacher that labels new feature vectors, but teacher remote runs asynchronously/);
  const student = new SequentialModel(modelConfigFromSpec("mlp:4", { inputShape: [4], numClasses: 3 }), 2);
  const d = new Distiller({ teacher: asyncTeacher, student, terms: [kd({ temperature: 1, alpha: 0 })] });
  await assert.rejects(d.fit(separableBlobs(12, 1), { epochs: 1, batchSize: 4, augment: mixupBatches() }), /Distiller: augmentation needs a teacher that labels each augmented batch, but teacher remote runs asynchronously/);
  d.dispose();
  student.dispose();
  model.dispose();
});

test("autoDistill with a teacher that labels new inputs: function matching at T=1, α=0 for FM_EPOCH_FACTOR × the epochs, no search, the fallback still trained", async () => {
  await useBackend("cpu");
  const data = separableBlobs(90, 3);
  const validation = separableBlobs(30, 4);
  const teacherModel = new SequentialModel(modelConfigFromSpec("mlp:16", { inputShape: [4], numClasses: 3 }), 3);
  const config = modelConfigFromSpec("mlp:8", { inputShape: [4], numClasses: 3 });
  const teacher = modelTeacher(teacherModel);
  const teacherLogits = await TeacherLogitCache.compute(teacher, data);
  const run = () => autoDistill({ teacherLogits, teacher, data, validation, makeStudent: () => new SequentialModel(config, 1), temperature: "auto", alpha: "auto", epochs: 2, batchSize: 16, seed: 1 });
  const a = await run();
  const b = await run();
  try {
    assert.equal(a.report.functionMatching.used, true);
    assert.deepEqual(a.report.candidates, []);
    assert.deepEqual(a.report.chosen, { temperature: 1, alpha: 0, matching: "munge" });
    assert.equal(a.report.distilled.epochs, 2 * FM_EPOCH_FACTOR);
    assert.equal(a.report.alone?.epochs, 2 * FM_EPOCH_FACTOR, "the fallback gets the same budget");
    assert.deepEqual(a.report, b.report, "same seed, same numbers");
    const lines = formatAutoDistillReport(a.report).join("\n");
    assert.match(lines, /^function matching: yes \(MUNGE batches labelled by the teacher as the student sees them, 2× the epochs, learning rate 0\.003 for both\)/);
    assert.match(lines, /distilled with T=1 α=0 on MUNGE batches \(4 epochs\): val accuracy/);
    // A learning rate the user gave is kept (the CLI passes null for --lr).
    const given = await autoDistill({ teacherLogits, teacher, data, validation, makeStudent: () => new SequentialModel(config, 1), temperature: "auto", alpha: "auto", epochs: 1, batchSize: 16, seed: 1, optimizer: { kind: "adam", lr: 0.02 }, functionMatchingLr: null });
    given.student.dispose();
    assert.match(given.report.functionMatching.reason, /learning rate 0\.02 \(as given\) for both/);
    // Without the teacher (its outputs only), the cached-logit search runs and the report says why.
    const c = await autoDistill({ teacherLogits, data, validation, makeStudent: () => new SequentialModel(config, 1), temperature: "auto", alpha: "auto", epochs: 4, batchSize: 16, seed: 1 });
    c.student.dispose();
    assert.equal(c.report.functionMatching.used, false);
    assert.equal(c.report.candidates.length, 6);
    assert.equal(c.report.distilled.epochs, 4);
  } finally {
    a.student.dispose();
    b.student.dispose();
    teacherModel.dispose();
  }
});

test("stratifiedSample: exactly n rows, each class its share, seeded; a file sorted by class still gives every class", () => {
  const labels = Int32Array.from({ length: 1000 }, (_, i) => (i < 600 ? 0 : i < 900 ? 1 : 2));
  const rows = stratifiedSample(labels, 100, 7);
  assert.equal(rows.length, 100);
  assert.deepEqual([0, 1, 2].map((k) => rows.filter((r) => labels[r] === k).length), [60, 30, 10]);
  assert.equal(new Set(rows).size, 100);
  assert.deepEqual(Array.from(rows), Array.from(rows).sort((p, q) => p - q));
  assert.deepEqual(stratifiedSample(labels, 100, 7), rows);
  assert.notDeepEqual(stratifiedSample(labels, 100, 8), rows);
  // Largest remainder: 7 rows of 60/30/10 % → 4.2, 2.1, 0.7 → 4, 2, 1.
  const seven = stratifiedSample(labels, 7, 1);
  assert.deepEqual([0, 1, 2].map((k) => seven.filter((r) => labels[r] === k).length), [4, 2, 1]);
  assert.equal(stratifiedSample(labels, 5000, 1).length, 1000);
});

test("--train-size on a file sorted by class: a stratified sample drawn with the seed, and the split line says so", () => {
  const { dir, cleanup } = tempDir();
  try {
    const rows = ["a,b,label", ...Array.from({ length: 200 }, (_, i) => `${i},${i % 7},${i < 140 ? "ham" : "spam"}`)];
    writeFileSync(join(dir, "sorted.csv"), rows.join("\n") + "\n");
    const data = loadImageData(`csv:${join(dir, "sorted.csv")}?label=label`);
    const a = splitLoaded(data, { seed: 3, trainSize: 50 });
    const b = splitLoaded(data, { seed: 3, trainSize: 50 });
    const c = splitLoaded(data, { seed: 4, trainSize: 50 });
    assert.equal(a.train.size, 50);
    const counts = (d: InMemoryDataset) => [0, 1].map((k) => d.y.filter((y) => y === k).length);
    const [ham, spam] = counts(a.train);
    assert.ok(Math.abs(ham - 35) <= 1 && Math.abs(spam - 15) <= 1, `70/30 like the file: ${ham} ham, ${spam} spam`);
    assert.deepEqual(a.train.x, b.train.x, "same seed, same sample");
    assert.notDeepEqual(a.train.x, c.train.x, "another seed, another sample");
    assert.match(formatDataSummary(a.summary).join("\n"), /train 50 \(--train-size 50: a random sample stratified by class, seed 3\)/);
  } finally {
    cleanup();
  }
});

test("autoDistill with unlabeled rows: only the distilled students see them (labelled by the teacher), for as many steps as the student alone", async () => {
  await useBackend("cpu");
  // The labelled rows hold classes 0 and 1 only; class 2 appears only among the unlabeled rows.
  const all = separableBlobs(240, 5);
  const rows = (keep: (y: number, i: number) => boolean) => Int32Array.from([...all.y.keys()].filter((i) => keep(all.y[i], i)));
  const labelled = all.subset(rows((y, i) => y !== 2 && i < 48), "labelled");
  const unlabeledRows = all.subset(rows((_, i) => i >= 48), "pool");
  const validation = separableBlobs(30, 6);
  const test3 = separableBlobs(60, 7);
  const teacherModel = new SequentialModel(modelConfigFromSpec("mlp:16", { inputShape: [4], numClasses: 3 }), 3);
  const { train: fitTeacher } = await import("../src/train/distill.js");
  await fitTeacher(teacherModel, all, { epochs: 40, batchSize: 16, seed: 1, optimizer: { kind: "adam", lr: 0.01 } });
  assert.ok(evaluate((x) => teacherModel.predict(x), test3).accuracy > 0.9, "the teacher knows all three classes");
  const base = modelTeacher(teacherModel, "recording");
  let labelledByTeacher = 0;
  const teacher: Teacher = { ...base, forward: undefined, logits: (x) => ((labelledByTeacher += x.shape[0]), base.logits(x)) };
  const config = modelConfigFromSpec("mlp:8", { inputShape: [4], numClasses: 3 });
  const makeStudent = () => new SequentialModel(config, 1);
  const predicted2 = (s: { predict: (x: tf.Tensor) => tf.Tensor }) => tf.tidy(() => (s.predict(tf.tensor(test3.x, [test3.size, 4])).argMax(1).dataSync() as Int32Array).filter((c) => c === 2).length);
  const seen: Record<string, number> = {};
  const result = await autoDistill({
    teacherLogits: await TeacherLogitCache.compute(base, labelled), teacher, data: labelled, unlabeled: unlabeledRows, validation, makeStudent, temperature: "auto", alpha: "auto", epochs: 60, batchSize: 16, seed: 1,
    inspect: (role, s) => void (seen[role] = predicted2(s)),
  });
  try {
    assert.deepEqual(result.report.transfer, { labelled: labelled.size, unlabeled: unlabeledRows.size });
    const stepsAlone = result.report.alone!.epochs * Math.ceil(labelled.size / 16);
    const stepsDistilled = result.report.distilled.epochs * Math.ceil((labelled.size + unlabeledRows.size) / 16);
    assert.ok(Math.abs(stepsDistilled - stepsAlone) <= Math.ceil((labelled.size + unlabeledRows.size) / 16) / 2 + 1, `steps: distilled ${stepsDistilled}, alone ${stepsAlone}`);
    assert.ok(labelledByTeacher >= stepsDistilled * 16 - 16, "the teacher labelled every mixup batch of the transfer set");
    assert.equal(seen["student alone"], 0, "the student alone never saw class 2");
    assert.ok(seen.distilled > 10, `the distilled student learnt class 2 from the teacher's labels on the unlabeled rows (${seen.distilled} of 20 test points)`);
    assert.match(formatAutoDistillReport(result.report).join("\n"), new RegExp(`transfer set: ${labelled.size} labelled \\+ ${unlabeledRows.size} unlabeled rows`));
  } finally {
    result.student.dispose();
    teacherModel.dispose();
  }
});
