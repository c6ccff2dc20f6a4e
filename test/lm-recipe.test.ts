// kind: lm recipes (src/experiments/lm-recipe.ts) and the method → terms mapping (src/distill/lm-method.ts).
import { test } from "node:test";
import assert from "node:assert/strict";
import { lmMethodTerms, methodNeedsTeacher } from "../src/distill/lm-method.js";
import { parseLmRecipe, readLmRecipe, rowSettings } from "../src/experiments/lm-recipe.js";
import { TsdistillError } from "../src/util/errors.js";

test("recipes/sotu-lm.yaml parses; --quick overrides data, models, training and eval; the student is ≥ 4× narrower", () => {
  const full = readLmRecipe("recipes/sotu-lm.yaml");
  const quick = readLmRecipe("recipes/sotu-lm.yaml", { quick: true });
  assert.deepEqual(full.rows.map((r) => rowSettings(r).method), ["alone", "kl", "reverse-kl", "jsd", "topk", "gkd", "seqkd"]);
  assert.equal(full.eval.samples, 200);
  assert.notEqual(quick.data.source, full.data.source);
  assert.equal(quick.teacher.training.lr, full.teacher.training.lr, "fields the quick section leaves out are kept");
  assert.deepEqual(quick.rows, full.rows);
  assert.equal(rowSettings({ method: "gkd", lambda: 0.5 }).name, "gkd (lambda=0.5)");
});

test("a bad LM recipe fails with one line naming the file and field", () => {
  const base = { kind: "lm", data: { source: "sotu" }, teacher: { spec: "transformer:layers=1,dim=8,heads=2,causal", training: { epochs: 1 } }, student: { spec: "transformer:layers=1,dim=4,heads=2,causal" }, training: { epochs: 1 } };
  assert.throws(() => parseLmRecipe({ ...base, rows: ["kl", "mse"] }, "r.yaml"), (e: unknown) => e instanceof TsdistillError && /r\.yaml/.test(e.message) && /rows/.test(e.message));
  assert.throws(() => parseLmRecipe({ ...base, rows: [] }, "r.yaml"), (e: unknown) => e instanceof TsdistillError && /rows/.test(e.message));
  assert.throws(() => parseLmRecipe({ ...base, rows: ["kl"], training: { epochs: 0 } }, "r.yaml"), (e: unknown) => e instanceof TsdistillError && /training\.epochs/.test(e.message));
});

test("each method maps to its registered token term with its settings", () => {
  assert.deepEqual(lmMethodTerms({ method: "kl", temperature: 2 }), [{ loss: "token-kl", options: { temperature: 2 } }]);
  assert.deepEqual(lmMethodTerms({ method: "reverse-kl" }), [{ loss: "token-reverse-kl", options: { temperature: 1 } }]);
  assert.deepEqual(lmMethodTerms({ method: "jsd", beta: 0.3 }), [{ loss: "token-jsd", options: { beta: 0.3, temperature: 1 } }]);
  assert.deepEqual(lmMethodTerms({ method: "gkd" }), [{ loss: "token-jsd", options: { beta: 0.5, temperature: 1 } }]);
  assert.deepEqual(lmMethodTerms({ method: "skew-kl", alpha: 0.2 }), [{ loss: "token-skew-kl", options: { alpha: 0.2, temperature: 1 } }]);
  assert.deepEqual(lmMethodTerms({ method: "topk", k: 8 }), [{ loss: "token-topk-kd", options: { k: 8, temperature: 1 } }]);
  assert.deepEqual(lmMethodTerms({ method: "seqkd" }), [{ loss: "token-ce" }]);
  assert.deepEqual(["alone", "kl", "topk", "gkd", "seqkd"].map((m) => methodNeedsTeacher(m as never)), [false, true, false, true, false]);
});
