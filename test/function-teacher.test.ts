// Function and ensemble teachers: the function gets both views of a batch ({ raw, rows, x, n, sampleShape }), its
// class count is read from its answer on the data's first rows, and ensembles average members' probabilities.
import { test } from "node:test";
import assert from "node:assert/strict";
import { useBackend } from "../src/engine/backend.js";
import { InMemoryDataset } from "../src/data/dataset.js";
import { textDataset } from "../src/data/text-dataset.js";
import { EnsembleTeacher, FunctionTeacher } from "../src/teachers/function-teacher.js";
import { openTeacher, openTeachers } from "../src/teachers/open-teacher.js";
import { runTeacher, teacherInput } from "../src/teachers/teacher-run.js";
import { TsdistillError } from "../src/util/errors.js";

await useBackend("wasm");

const images = new InMemoryDataset("img", Float32Array.from([1, 1, 0, 0, 0, 0, /* second sample */ 0, 0, 0, 0, 1, 1]), Int32Array.of(0, 2), [3, 2, 1], 3);

test("a JS function as a teacher: module#export, number of classes read from the first rows, features in x", async () => {
  const opened = await openTeacher("fn:test/fixtures/fn-teacher.mjs#thirds", images);
  const t = opened.teacher;
  assert.equal(t.numClasses, 3);
  assert.match(opened.hash, /^[0-9a-f]{64}#thirds$/);
  assert.deepEqual(t.metadata?.input.rawKinds, ["text", "record", "image"], "function teachers read raw samples by default");
  const z = await t.logitsAsync!(teacherInput(images, Int32Array.of(0, 1), t));
  assert.deepEqual(Array.from(z), [1, 0, 0, 0, 0, 1]);
  assert.throws(() => t.logits(images.x as never), /asynchronously/);
  await assert.rejects(openTeacher("fn:test/fixtures/fn-teacher.mjs#nope", images), /no function export "nope"/);
  await assert.rejects(openTeacher("fn:test/fixtures/missing.mjs", images), /missing\.mjs: not found/);
});

test("a function teacher reads the raw texts and the row ids of its batch", async () => {
  const texts = ["the food was great", "awful service", "it was okay", "good place", "bad bad"];
  const data = textDataset("reviews", new Float32Array(5 * 4), Int32Array.of(2, 0, 1, 2, 0), [4], 3, texts);
  const opened = await openTeacher("fn:test/fixtures/fn-teacher.mjs#keywords", data);
  assert.equal(opened.teacher.numClasses, 3);
  const z = await runTeacher(opened.teacher, data, { batchSize: 2 });
  const argmax = (r: number) => [0, 1, 2].reduce((b, c) => (z[r * 3 + c] > z[r * 3 + b] ? c : b), 0);
  assert.deepEqual([0, 1, 2, 3, 4].map(argmax), [2, 0, 1, 2, 0], "each text's keyword class, batches of 2 in row order");
  // A subset keeps each sample's raw text; rows are the subset's rows.
  const sub = data.subset([4, 1]);
  const ids = await openTeacher("fn:test/fixtures/fn-teacher.mjs#rowIds", sub);
  assert.deepEqual(Array.from(await runTeacher(ids.teacher, sub, { rows: Int32Array.of(1, 0) })), [0, 1, 0, 0]);
  const kw = await runTeacher(opened.teacher, sub);
  assert.deepEqual(Array.from(kw), [3, 0, 0, 3, 0, 0], "rows 4 and 1 of the original: both negative");
});

test("a function teacher over data without raw samples is refused with a way out; input: features gets x only", async () => {
  const vectors = new InMemoryDataset("vectors", Float32Array.of(1, 0, 0, 0, 2, 0, 0, 0, 3, 1, 1, 0), Int32Array.of(0, 1, 2, 0), [3], 3);
  await assert.rejects(
    FunctionTeacher.forData(({ raw }) => raw!.map(() => [0, 1, 2]), "f", vectors),
    (err: Error) => err instanceof TsdistillError && /reads raw samples, but vectors has no raw samples \(only feature vectors\); a function teacher that should get the features declares "input: features"/.test(err.message),
  );
  const seen: unknown[] = [];
  const t = await FunctionTeacher.forData(
    (input) => {
      seen.push(input.raw);
      return Array.from({ length: input.n }, (_, i) => [input.x[i * 3], input.x[i * 3 + 1], input.x[i * 3 + 2]]);
    },
    "f",
    vectors,
    { input: "features" },
  );
  assert.deepEqual(Array.from(await runTeacher(t, vectors)), Array.from(vectors.x));
  assert.ok(seen.every((r) => r === undefined), "no raw samples are built for a features-only function");
});

test("an ensemble averages its members' probabilities with weights: p = Σ w_i·softmax(z_i) / Σ w_i", async () => {
  const one = new InMemoryDataset("one", new Float32Array(1), new Int32Array(1), [1], 2);
  const a = FunctionTeacher.fromFunction(() => [[0, Math.log(3)]], "a", 2, [1], { input: "features" });
  const b = FunctionTeacher.fromFunction(() => [[Math.log(3), 0]], "b", 2, [1], { input: "features" });
  const e = new EnsembleTeacher([a, b], [3, 1], [1]);
  const z = await e.logitsAsync(teacherInput(one, Int32Array.of(0), e));
  // a: p = [0.25, 0.75], b: p = [0.75, 0.25] → (3·a + b)/4 = [0.375, 0.625]
  assert.ok(Math.abs(Math.exp(z[0]) - 0.375) < 1e-6 && Math.abs(Math.exp(z[1]) - 0.625) < 1e-6, `${Array.from(z, Math.exp)}`);
  assert.throws(() => new EnsembleTeacher([a, FunctionTeacher.fromFunction(() => [[0, 0, 0]], "c", 3, [1])], undefined, [1]), (err: unknown) => err instanceof TsdistillError && /disagree on the number of classes/.test(err.message));
  assert.throws(() => new EnsembleTeacher([a, b], [1], [1]), /1 weights for 2 teachers/);
  const two = await openTeachers(["fn:test/fixtures/fn-teacher.mjs#thirds", "fn:test/fixtures/fn-teacher.mjs"], images, [1, 1]);
  assert.equal(two.teacher.numClasses, 3);
  await two.close();
});
