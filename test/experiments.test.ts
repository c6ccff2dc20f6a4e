// Experiment recipes (tsdistill run): parsing, quick overrides, variants, the omitted-class bias fix.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { deepMerge, loadExperiment, parseExperiment } from "../src/experiments/experiment.js";
import { errorsOn, fitClassBias, predictedShare, withClassBias } from "../src/experiments/bias.js";

const base = {
  name: "t",
  data: { source: "mnist", validationSize: 100, trainSize: 500 },
  teacher: { kind: "train", spec: "mlp:64", epochs: 3 },
  student: { spec: "mlp:16" },
  training: { epochs: 5 },
  loss: { terms: [{ loss: "kd", options: { temperature: 4 } }] },
};

test("deepMerge merges objects key by key and replaces arrays", () => {
  assert.deepEqual(deepMerge({ a: { b: 1, c: [1, 2] }, d: 1 }, { a: { c: [3] }, e: 2 }), { a: { b: 1, c: [3] }, d: 1, e: 2 });
  assert.deepEqual(deepMerge({ a: 1 }, { a: undefined }), { a: 1 });
});

test("an experiment without variants has one distilled variant with the base loss", () => {
  const ex = parseExperiment(base, "x.yaml");
  assert.equal(ex.variants.length, 1);
  assert.equal(ex.variants[0].name, "distilled");
  assert.equal(ex.variants[0].recipe.loss!.terms[0].loss, "kd");
  assert.equal(ex.extras.baseline, true);
});

test("variants override the student, data and loss; a variant's stages replace the base loss", () => {
  const ex = parseExperiment(
    {
      ...base,
      variants: [
        { name: "a", student: { spec: "mlp:8" }, data: { omitClasses: [3] } },
        { name: "b", stages: [{ name: "s1", epochs: 2, terms: [{ loss: "ce" }] }] },
      ],
    },
    "x.yaml",
  );
  const [a, b] = ex.variants;
  assert.equal(a.recipe.student.spec, "mlp:8");
  assert.deepEqual(a.recipe.data.omitClasses, [3]);
  assert.equal(a.recipe.data.trainSize, 500, "unnamed data fields come from the base");
  assert.equal(b.recipe.loss, undefined);
  assert.equal(b.recipe.stages![0].name, "s1");
});

test("--quick merges the quick section and keeps only the variants it names", () => {
  const raw = { ...base, variants: [{ name: "a" }, { name: "b" }], quick: { training: { epochs: 1 }, variants: ["b"] } };
  const ex = parseExperiment(raw, "x.yaml", { quick: true });
  assert.equal(ex.base.training.epochs, 1);
  assert.deepEqual(ex.variants.map((v) => v.name), ["b"]);
  assert.equal(ex.variants[0].recipe.training.epochs, 1);
  assert.equal(parseExperiment(raw, "x.yaml").base.training.epochs, 5, "without --quick the base budget stays");
});

test("errors name the file and the field", () => {
  assert.throws(() => parseExperiment({ ...base, variants: [{ name: "a", student: { spec: 3 } }] }, "x.yaml"), /x\.yaml: variants\[0\] \(a\).*student\.spec/);
  assert.throws(() => parseExperiment({ ...base, baseline: "yes" }, "x.yaml"), /x\.yaml.*baseline/);
  assert.throws(() => parseExperiment({ ...base, variants: [{ name: "a" }], quick: { variants: ["zz"] } }, "x.yaml", { quick: true }), /quick\.variants: no variant named "zz"/);
  assert.throws(() => parseExperiment(base, "x.yaml", { quick: true }), /--quick needs a "quick" section/);
  assert.throws(() => parseExperiment({ ...base, variants: [{ name: "a" }, { name: "a" }] }, "x.yaml"), /"a" is used twice/);
});

test("every recipe in recipes/ parses, full and quick", () => {
  // Plain recipes (distill --config) parse as one-variant experiments; `kind:` recipes (e.g. vad) have their own schema.
  const files = readdirSync("recipes").filter((f) => f.endsWith(".yaml") && !/^kind:/m.test(readFileSync(join("recipes", f), "utf8")));
  for (const f of files) {
    const path = join("recipes", f);
    const ex = loadExperiment(path);
    assert.ok(ex.variants.length >= 1, `${path}: variants`);
    if (ex.extras.quick) assert.ok(loadExperiment(path, { quick: true }).variants.length >= 1, `${path}: quick variants`);
  }
});

test("the class-bias fix: golden share, bisection hits the target share, errors on the class", () => {
  // 4 rows, 3 classes; class 2 is never the argmax.
  const logits = Float32Array.from([3, 1, 0, 0, 3, 2.5, 2, 0, 1, 1, 2, 0.5]);
  const labels = Int32Array.from([0, 2, 2, 1]);
  assert.equal(predictedShare(logits, 3, 2, 0), 0);
  assert.equal(predictedShare(logits, 3, 2, 0.6), 0.25, "δ=0.6 lifts row 1 (2.5+0.6 > 3)");
  const fit = fitClassBias(logits, labels, 3, 2);
  assert.equal(fit.targetShare, 0.5);
  assert.ok(Math.abs(fit.delta - 1) < 1e-6, `δ where row 2 ties (1+δ = 2), the second row won: got ${fit.delta}`);
  const fixed = withClassBias(logits, 3, 2, fit.delta + 1e-4);
  assert.deepEqual(errorsOn(logits, labels, 3, 2), { errors: 2, total: 2 });
  assert.deepEqual(errorsOn(fixed, labels, 3, 2), { errors: 0, total: 2 });
  assert.deepEqual(errorsOn(fixed, labels, 3), { errors: 0, total: 4 }, "row 3 (label 1) still predicts 1");
  assert.deepEqual(errorsOn(withClassBias(logits, 3, 2, 1.6), labels, 3), { errors: 1, total: 4 }, "too large a δ takes row 3 too");
});

test("a recipe's data.transfer adds teacher-labelled noisy and mixup samples; hard-label terms skip them", { timeout: 120_000 }, async () => {
  const { runRecipe } = await import("../src/distill/run-recipe.js");
  const { parseRecipe } = await import("../src/distill/recipe.js");
  const recipe = parseRecipe({
    name: "transfer",
    backend: "cpu",
    data: { source: "mnist", validationSize: 200, trainSize: 300, transfer: { noise: { copies: 1, std: 0.1, clip: [0, 1] }, mixup: { count: 300, alpha: 0.4 } } },
    teacher: { kind: "train", spec: "mlp:32", epochs: 2, trainSize: 3000 },
    student: { spec: "mlp:16" },
    training: { epochs: 4, batchSize: 32, optimizer: { kind: "adam", lr: 0.003 } },
    loss: { terms: [{ loss: "kd", options: { temperature: 4, alpha: 0.5 } }, { loss: "ce", weight: 0.5 }] },
  });
  const r = await runRecipe(recipe);
  const history = r.stages[0].history;
  assert.equal(history.length, 4, "four epochs");
  for (const h of history) assert.ok(Number.isFinite(h.loss) && h.loss > 0, `finite positive loss, got ${h.loss}`);
  assert.ok(r.student.accuracy > 0.3, `the student learned something: ${r.student.accuracy}`);
  assert.throws(() => parseRecipe({ ...recipe, data: { ...recipe.data, transfer: { noise: { copies: 0, std: 1 } } } }, "r.yaml"), /r\.yaml.*data\.transfer\.noise\.copies/);
});
