// Teacher outputs (logits + captured layers) computed once over a transfer set (src/teachers/output-cache.ts).
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { useBackend } from "../src/engine/backend.js";
import { InMemoryDataset } from "../src/data/dataset.js";
import { SequentialModel } from "../src/students/model.js";
import { modelConfigFromSpec } from "../src/students/spec.js";
import { modelTeacher } from "../src/teachers/teacher.js";
import { TeacherOutputCache } from "../src/teachers/output-cache.js";
import { runRecipe } from "../src/distill/run-recipe.js";
import { parseRecipe } from "../src/distill/recipe.js";
import { Rng } from "../src/util/rng.js";

await useBackend("cpu", { fallback: false });

function dataset(rows: number, seed: number): InMemoryDataset {
  const rng = new Rng(seed);
  const x = Float32Array.from({ length: rows * 6 * 6 }, () => rng.next());
  const y = Int32Array.from({ length: rows }, () => rng.int(3));
  return new InMemoryDataset("random", x, y, [6, 6, 1], 3);
}

test("TeacherOutputCache: rows equal a teacher forward pass on the same samples, any order; sizes; bad rows", () => {
  const model = new SequentialModel(modelConfigFromSpec("cnn:conv4k3-pool-dense8", { inputShape: [6, 6, 1], numClasses: 3, dropout: 0.5 }), 7);
  const teacher = modelTeacher(model);
  const data = dataset(37, 1);
  const capture = ["conv2d_1", "dense_1"];
  const layerShapes = teacher.layers!().filter((l) => capture.includes(l.name)).map((l) => l.shape);
  assert.equal(layerShapes.length, 2, `layers ${teacher.layers!().map((l) => l.name)}`);
  const perRow = 3 + layerShapes.reduce((n, s) => n + s.reduce((a, b) => a * b, 1), 0);
  assert.equal(TeacherOutputCache.bytesNeeded(teacher, 37, capture), perRow * 37 * 4);
  assert.equal(TeacherOutputCache.bytesNeeded(teacher, 37, ["no_such_layer"]), null);

  const cache = TeacherOutputCache.compute(teacher, data, capture, 8); // batches of 8: the last one is partial
  const indices = Int32Array.from([36, 0, 17, 5, 17]);
  const got = cache.gather(indices);
  const x = tf.tensor(data.subset(indices).x, [indices.length, 6, 6, 1]);
  const want = teacher.forward!(x, capture);
  assert.deepEqual(got.logits.shape, [5, 3]);
  assert.deepEqual(Array.from(got.logits.dataSync()), Array.from(want.logits.dataSync()), "logits (inference mode: dropout off)");
  for (const name of capture) {
    assert.deepEqual(got.features.get(name)!.shape, want.features.get(name)!.shape, name);
    assert.deepEqual(Array.from(got.features.get(name)!.dataSync()), Array.from(want.features.get(name)!.dataSync()), name);
  }
  assert.throws(() => cache.gather(Int32Array.from([37])), /row 37 is outside 0\.\.36/);
  tf.dispose([x, got.logits, want.logits, ...got.features.values(), ...want.features.values()]);
});

test("TeacherOutputCache.tryCompute: null over the memory budget (TSDISTILL_TEACHER_CACHE_MB) or without layer shapes; bad budget", () => {
  const teacher = modelTeacher(new SequentialModel(modelConfigFromSpec("mlp:16", { inputShape: [6, 6, 1], numClasses: 3 }), 3));
  const data = dataset(20, 2);
  const saved = process.env.TSDISTILL_TEACHER_CACHE_MB;
  try {
    process.env.TSDISTILL_TEACHER_CACHE_MB = "0";
    assert.equal(TeacherOutputCache.tryCompute(teacher, data, ["dense_1"]), null);
    process.env.TSDISTILL_TEACHER_CACHE_MB = "1";
    assert.ok(TeacherOutputCache.tryCompute(teacher, data, ["dense_1"]) instanceof TeacherOutputCache);
    const { layers: _layers, ...withoutLayers } = teacher;
    assert.equal(TeacherOutputCache.tryCompute(withoutLayers, data, ["dense_1"]), null);
    process.env.TSDISTILL_TEACHER_CACHE_MB = "lots";
    assert.throws(() => TeacherOutputCache.tryCompute(teacher, data, ["dense_1"]), /TSDISTILL_TEACHER_CACHE_MB: expected a number of megabytes ≥ 0, got "lots"/);
  } finally {
    if (saved === undefined) delete process.env.TSDISTILL_TEACHER_CACHE_MB;
    else process.env.TSDISTILL_TEACHER_CACHE_MB = saved;
  }
});

test("a recipe with RKD + FitNets trains to the same numbers with the teacher's outputs cached or run per step", { timeout: 120_000 }, async () => {
  const recipe = parseRecipe({
    name: "cache",
    backend: "cpu",
    seed: 5,
    data: { source: "mnist", validationSize: 100, trainSize: 300 },
    teacher: { kind: "train", spec: "mlp:32-32", epochs: 1, trainSize: 1000 },
    student: { spec: "mlp:16" },
    training: { epochs: 2, batchSize: 32, optimizer: { kind: "adam", lr: 0.003 } },
    loss: {
      terms: [
        { loss: "kd", options: { temperature: 4, alpha: 0.5 } },
        { loss: "rkd-angle", weight: 2, student: "dense_1", teacher: "dense_2" },
        { loss: "fitnets", weight: 0.01, student: "dense_1", teacher: "dense_1" },
      ],
    },
  });
  const lines: string[] = [];
  const cached = await runRecipe(recipe, { info: (l) => lines.push(l) });
  assert.ok(lines.some((l) => /teacher outputs cached for 300 rows: /.test(l)), lines.join("\n"));
  const saved = process.env.TSDISTILL_TEACHER_CACHE_MB;
  process.env.TSDISTILL_TEACHER_CACHE_MB = "0";
  try {
    const perStep = await runRecipe(recipe);
    assert.deepEqual(cached.stages[0].history.map((h) => h.loss), perStep.stages[0].history.map((h) => h.loss));
    assert.equal(cached.student.accuracy, perStep.student.accuracy);
  } finally {
    if (saved === undefined) delete process.env.TSDISTILL_TEACHER_CACHE_MB;
    else process.env.TSDISTILL_TEACHER_CACHE_MB = saved;
  }
});
