// Function and ensemble teachers (asynchronous teachers labelled into a cache).
import { test } from "node:test";
import assert from "node:assert/strict";
import { useBackend } from "../src/engine/backend.js";
import { EnsembleTeacher, FunctionTeacher } from "../src/teachers/function-teacher.js";
import { openTeacher, openTeachers } from "../src/teachers/open-teacher.js";
import { TsdistillError } from "../src/util/errors.js";

await useBackend("wasm");

test("a JS function as a teacher: module#export, number of classes probed, shape checked", async () => {
  const t = await FunctionTeacher.load("test/fixtures/fn-teacher.mjs#thirds", [3, 2, 1]);
  assert.equal(t.numClasses, 3);
  const x = Float32Array.from([1, 1, 0, 0, 0, 0, /* second sample */ 0, 0, 0, 0, 1, 1]);
  const z = await t.logitsAsync(x, 2);
  assert.deepEqual(Array.from(z), [1, 0, 0, 0, 0, 1]);
  assert.throws(() => t.logits(), /asynchronous/);
  const d = await FunctionTeacher.load("test/fixtures/fn-teacher.mjs", [3, 2, 1]);
  assert.deepEqual(Array.from(await d.logitsAsync(new Float32Array(6), 1)), [0, 0, 0]);
  await assert.rejects(FunctionTeacher.load("test/fixtures/fn-teacher.mjs#nope", [2]), /no function export "nope"/);
  await assert.rejects(FunctionTeacher.load("test/fixtures/missing.mjs", [2]), /missing\.mjs: not found/);
  const opened = await openTeacher("fn:test/fixtures/fn-teacher.mjs#thirds", [3, 2, 1]);
  assert.equal(opened.teacher.numClasses, 3);
  assert.match(opened.hash, /^[0-9a-f]{64}#thirds$/);
});

test("an ensemble averages its members' probabilities with weights: p = Σ w_i·softmax(z_i) / Σ w_i", async () => {
  const a = FunctionTeacher.fromFunction(() => [[0, Math.log(3)]], "a", 2, [1]);
  const b = FunctionTeacher.fromFunction(() => [[Math.log(3), 0]], "b", 2, [1]);
  const e = new EnsembleTeacher([a, b], [3, 1], [1]);
  const z = await e.logitsAsync(new Float32Array(1), 1);
  // a: p = [0.25, 0.75], b: p = [0.75, 0.25] → (3·a + b)/4 = [0.375, 0.625]
  assert.ok(Math.abs(Math.exp(z[0]) - 0.375) < 1e-6 && Math.abs(Math.exp(z[1]) - 0.625) < 1e-6, `${Array.from(z, Math.exp)}`);
  assert.throws(() => new EnsembleTeacher([a, FunctionTeacher.fromFunction(() => [[0, 0, 0]], "c", 3, [1])], undefined, [1]), (err: unknown) => err instanceof TsdistillError && /disagree on the number of classes/.test(err.message));
  assert.throws(() => new EnsembleTeacher([a, b], [1], [1]), /1 weights for 2 teachers/);
  const two = await openTeachers(["fn:test/fixtures/fn-teacher.mjs#thirds", "fn:test/fixtures/fn-teacher.mjs"], [3, 2, 1], [1, 1]);
  assert.equal(two.teacher.numClasses, 3);
  await two.close();
});
