// A short end-to-end distillation on MNIST, in process: teacher, student alone, distilled student.
import { test } from "node:test";
import assert from "node:assert/strict";
import { useBackend } from "../src/engine/backend.js";
import { loadMnist } from "../src/data/mnist.js";
import { SequentialModel } from "../src/students/model.js";
import { modelConfigFromSpec } from "../src/students/spec.js";
import { distill, train } from "../src/train/distill.js";
import { modelTeacher } from "../src/teachers/teacher.js";
import { agreement, evaluate } from "../src/eval/classification.js";

await useBackend("wasm", { fallback: false });

const SEED = 42;
// Batch 32: with the default 128, 3000 images give only 24 steps an epoch, too few for these budgets.
const BATCH = 32;

test("MNIST: teacher mlp:256-256, student mlp:32 alone vs distilled (T = 4, α = 0.1)", async (t) => {
  const mnist = loadMnist();
  const { train: trainSet, validation } = mnist.train.take(4000).split(1000, SEED);
  const testSet = mnist.test;
  assert.equal(trainSet.size, 3000);
  assert.equal(validation.size, 1000);
  assert.equal(testSet.size, 10000);
  const inputShape = trainSet.sampleShape;

  const teacherModel = new SequentialModel(modelConfigFromSpec("mlp:256-256", { inputShape, numClasses: 10, dropout: 0.3 }), SEED);
  const teacherFit = await train(teacherModel, trainSet, { epochs: 4, batchSize: BATCH, seed: SEED, validation, label: "teacher" });
  const teacher = modelTeacher(teacherModel);
  const teacherTest = evaluate((x) => teacher.logits(x), testSet);

  const studentConfig = modelConfigFromSpec("mlp:32", { inputShape, numClasses: 10 });
  const STUDENT_SEED = 7;
  const alone = new SequentialModel(studentConfig, STUDENT_SEED);
  const distilled = new SequentialModel(studentConfig, STUDENT_SEED);
  // Same initial weights for both students.
  alone.params.forEach((p, i) => assert.deepEqual(p.dataSync(), distilled.params[i].dataSync(), `initial weight ${i}`));

  const aloneFit = await train(alone, trainSet, { epochs: 3, batchSize: BATCH, seed: SEED, validation, label: "alone" });
  const aloneTest = evaluate((x) => alone.predict(x), testSet);

  const distillFit = await distill({ teacher, student: distilled, data: trainSet, temperature: 4, alpha: 0.1, epochs: 3, batchSize: BATCH, seed: SEED, validation });
  const distilledTest = evaluate((x) => distilled.predict(x), testSet);

  const agreeAlone = agreement(teacherTest.logits, aloneTest.logits, 10);
  const agreeDistilled = agreement(teacherTest.logits, distilledTest.logits, 10);
  const fmt = (v: number) => (v * 100).toFixed(2) + "%";
  const report = [
    `teacher mlp:256-256: test accuracy ${fmt(teacherTest.accuracy)} (${teacherTest.errors} errors), epoch losses ${teacherFit.history.map((h) => h.loss.toFixed(4)).join(" ")}`,
    `student alone mlp:32: test accuracy ${fmt(aloneTest.accuracy)} (${aloneTest.errors} errors), agreement ${fmt(agreeAlone)}, epoch losses ${aloneFit.history.map((h) => h.loss.toFixed(4)).join(" ")}`,
    `distilled mlp:32: test accuracy ${fmt(distilledTest.accuracy)} (${distilledTest.errors} errors), agreement ${fmt(agreeDistilled)}, epoch losses ${distillFit.history.map((h) => h.loss.toFixed(4)).join(" ")}`,
    `times: teacher ${teacherFit.seconds.toFixed(1)}s, alone ${aloneFit.seconds.toFixed(1)}s, distilled ${distillFit.seconds.toFixed(1)}s (+ teacher logits ${distillFit.teacherSeconds.toFixed(2)}s)`,
  ];
  for (const line of report) t.diagnostic(line);

  assert.ok(teacherTest.accuracy > 0.85, `teacher accuracy ${teacherTest.accuracy} (chance is 0.1)`);
  assert.ok(agreeDistilled > 0.85, `distilled student's agreement with the teacher ${agreeDistilled}`);
  const losses = distillFit.history.map((h) => h.loss);
  assert.equal(losses.length, 3);
  for (let i = 1; i < losses.length; i++) assert.ok(losses[i] < losses[i - 1], `distillation loss decreases every epoch: ${losses}`);
  assert.ok(distillFit.history.every((h) => h.valAccuracy !== undefined), "validation accuracy recorded each epoch");
  assert.ok(distillFit.teacherSeconds >= 0, "teacher logits timed");
  assert.ok(distilledTest.accuracy > 0.8, `distilled student accuracy ${distilledTest.accuracy}`);
  // Not asserted: "distilled beats alone". Here teacher and students share the same 3,000 images and the
  // distilled student trails the one trained alone by about a point (seeds 1, 2, 3, 42: e.g. 85.7% vs 86.5%);
  // the gain shows when the teacher knows more than the transfer set holds, as in the demo (the README's table).
  // The numbers are printed above.

  teacherModel.dispose();
  alone.dispose();
  distilled.dispose();
});
