import { test } from "node:test";
import assert from "node:assert/strict";
import { useBackend } from "../src/engine/backend.js";
import type { Batch } from "../src/data/dataset.js";
import { discreteColumns, mungeBatches, nearestNeighbours } from "../src/data/munge.js";
import { Rng } from "../src/util/rng.js";
import { SequentialModel } from "../src/students/model.js";
import { modelConfigFromSpec } from "../src/students/spec.js";
import { modelTeacher, TeacherLogitCache } from "../src/teachers/teacher.js";
import { autoDistill, FM_AUGMENTATION, formatAutoDistillReport, type MatchingAugmentation } from "../src/train/auto-distill.js";
import { separableBlobs } from "./helpers.js";

const batchOfRows = (x: Float32Array, d: number, rows: number[]): Batch => ({
  x: Float32Array.from(rows.flatMap((r) => Array.from(x.subarray(r * d, r * d + d)))),
  y: Int32Array.from(rows, (r) => r % 2),
  indices: Int32Array.from(rows),
  size: rows.length,
});

test("nearestNeighbours: each row's closest other row, ties to the lower index, in blocks or whole", async () => {
  await useBackend("cpu");
  // Points on a line at 0, 1, 3, 10, 2 (d = 1): row 2 (at 3) is 1 from row 4 (at 2); row 4 is 1 from rows 1 and 2 → 1.
  const x = Float32Array.from([0, 1, 3, 10, 2]);
  assert.deepEqual(Array.from(nearestNeighbours(x, 5, 1)), [1, 0, 4, 2, 1]);
  assert.deepEqual(Array.from(nearestNeighbours(x, 5, 1, 2)), [1, 0, 4, 2, 1], "blocks of 2 rows give the same answer");
  // Two dimensions: the squares' corners and a far point.
  const y = Float32Array.from([0, 0, 0, 2, 5, 0, 5, 1, 40, 40]);
  assert.deepEqual(Array.from(nearestNeighbours(y, 5, 2)), [1, 0, 3, 2, 3]);
  assert.throws(() => nearestNeighbours(x, 4, 2), /5 values do not make 4 rows of 2/);
  // Searched among 3 evenly spaced rows (0, 1, 3): row 2 (at 3) now finds row 1 (at 1), row 4 (at 2) row 1.
  assert.deepEqual(Array.from(nearestNeighbours(x, 5, 1, 512, 3)), [1, 0, 1, 1, 1]);
});

test("discreteColumns: columns with at most two distinct values (one-hot, yes/no, constant)", () => {
  // Columns: one-hot (0/1), three values, constant, two non-0/1 values.
  const x = Float32Array.from([1, 0.5, 7, -1.2, 0, 1.5, 7, 0.8, 1, 2.5, 7, 0.8, 0, 0.5, 7, -1.2]);
  assert.deepEqual(Array.from(discreteColumns(x, 4, 4)), [1, 0, 1, 1]);
});

test("mungeBatches: swap 0 keeps the batch; swap 1 copies two-valued columns from the nearest neighbour and samples the others around it", async () => {
  await useBackend("cpu");
  // Rows (a one-hot column, a continuous one): row 0 = (1, 0), row 1 = (0, 1), row 2 = (0, 10); row 0 and 1 are neighbours.
  const x = Float32Array.from([1, 0, 0, 1, 0, 10]);
  const batch = batchOfRows(x, 2, [0, 1, 2]);
  const kept = mungeBatches(x, 3, 2, { swap: 0 })(batch, [2], new Rng(1));
  assert.deepEqual(kept.x, batch.x);
  const same = (seed: number) => mungeBatches(x, 3, 2, { swap: 0.5 })(batch, [2], new Rng(seed, "augment", 0)).x;
  assert.deepEqual(same(3), same(3), "seeded");
  assert.notDeepEqual(same(3), same(4), "another seed, other rows");
  assert.deepEqual(batch.x, batchOfRows(x, 2, [0, 1, 2]).x, "the input batch is not changed");
  // swap 1: row 0's one-hot value becomes row 1's (0); its continuous value is drawn from N(1, |0 − 1| / spread).
  const values: number[] = [];
  const augment = mungeBatches(x, 3, 2, { swap: 1, spread: 2 });
  const rng = new Rng(7);
  for (let t = 0; t < 4000; t++) {
    const out = augment(batchOfRows(x, 2, [0]), [2], rng);
    assert.equal(out.x[0], 0, "the two-valued column is copied from the neighbour");
    values.push(out.x[1]);
  }
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const sd = Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (values.length - 1));
  // Standard error of the mean 0.5 / √4000 ≈ 0.008; of the sd ≈ 0.006.
  assert.ok(Math.abs(mean - 1) < 0.04, `mean ${mean} ≈ the neighbour's value 1`);
  assert.ok(Math.abs(sd - 0.5) < 0.03, `sd ${sd} ≈ |0 − 1| / 2`);
  // Labels and rows stay.
  const out = augment(batch, [2], new Rng(1));
  assert.deepEqual(out.y, batch.y);
  assert.deepEqual(out.indices, batch.indices);
  assert.throws(() => augment(batch, [3], new Rng(1)), /samples of shape \[3\] do not have the 2 values/);
  assert.throws(() => augment({ ...batch, indices: Int32Array.from([0, 1, 5]) }, [2], new Rng(1)), /batch row 5 is outside the 3 rows/);
  assert.throws(() => mungeBatches(x, 3, 2, { swap: 2 }), /swap must be in \[0, 1\]/);
});

test("autoDistill's function matching uses MUNGE by default and mixup when asked", async () => {
  await useBackend("cpu");
  const data = separableBlobs(60, 5);
  const validation = separableBlobs(20, 6);
  const teacher = modelTeacher(new SequentialModel(modelConfigFromSpec("mlp:8", { inputShape: [4], numClasses: 3 }), 3));
  const teacherLogits = await TeacherLogitCache.compute(teacher, data);
  const config = modelConfigFromSpec("mlp:4", { inputShape: [4], numClasses: 3 });
  const run = (matchingAugmentation?: MatchingAugmentation) =>
    autoDistill({ teacherLogits, teacher, data, validation, makeStudent: () => new SequentialModel(config, 1), temperature: "auto", alpha: "auto", epochs: 1, batchSize: 16, seed: 1, ...(matchingAugmentation ? { matchingAugmentation } : {}) });
  for (const [asked, name] of [[undefined, "MUNGE"], ["mixup", "mixup"]] as const) {
    const { student, report } = await run(asked);
    student.dispose();
    assert.equal(report.chosen.matching, asked ?? FM_AUGMENTATION);
    const lines = formatAutoDistillReport(report).join("\n");
    assert.match(lines, new RegExp(`^function matching: yes \\(${name} batches labelled by the teacher`));
    assert.match(lines, new RegExp(`distilled with T=1 α=0 on ${name} batches`));
  }
  assert.equal(FM_AUGMENTATION, "munge");
});
