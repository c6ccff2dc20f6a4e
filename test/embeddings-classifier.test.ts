// Fine-tune, then distil: the linear head (fitLinearClassifier and its affine form), the L2 choice by
// cross-validation, a classifier student started from a static table, and its distillation on labelled + unlabeled
// texts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { useBackend } from "../src/engine/backend.js";
import { bagEmbedder, BagOfEmbeddingsModel } from "../src/embeddings/embedding-model.js";
import { classBalancedWeights, classifierFromStatic, distillClassifier } from "../src/distill/embedding-classifier.js";
import { accuracyOf, argmaxRows, chooseProbeL2, fitLinearClassifier, PROBE_L2_GRID } from "../src/eval/embedding-metrics.js";
import { trainBpe } from "../src/tokenizers/bpe-train.js";
import { Rng } from "../src/util/rng.js";
import { assertAllClose } from "./helpers.js";

/** Three noisy Gaussian classes in 6 dimensions, on different scales per column. */
function blobs(n: number, seed: number): { x: Float32Array; y: Int32Array } {
  const rng = new Rng(seed, "blobs");
  const x = new Float32Array(n * 6);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = i % 3;
    for (let j = 0; j < 6; j++) x[i * 6 + j] = (j === y[i] ? 2 : 0) * (j + 1) + rng.normal() * (j + 1) + 5;
  }
  return { x, y };
}

test("fitLinearClassifier: affine() is the same map as logits() on raw vectors; predict is its argmax; deterministic", () => {
  const train = blobs(90, 1);
  const clf = fitLinearClassifier(train, 3, { epochs: 30, seed: 3 });
  const { kernel, bias } = clf.affine();
  const logits = clf.logits(train.x, 90);
  const viaAffine = new Float32Array(90 * 3);
  for (let i = 0; i < 90; i++) for (let c = 0; c < 3; c++) {
    let s = bias[c];
    for (let j = 0; j < 6; j++) s += train.x[i * 6 + j] * kernel[j * 3 + c];
    viaAffine[i * 3 + c] = s;
  }
  assertAllClose(viaAffine, logits, { atol: 1e-4, what: "affine vs logits" });
  assert.deepEqual(clf.predict(train.x, 90), argmaxRows(logits, 90, 3));
  assert.ok(accuracyOf(clf.predict(train.x, 90), train.y) > 0.8);
  assert.deepEqual(fitLinearClassifier(train, 3, { epochs: 30, seed: 3 }).logits(train.x, 90), logits);
  assert.throws(() => fitLinearClassifier({ x: train.x, y: Int32Array.from(train.y, (v) => v + 1) }, 3), /label 3 is outside \[0, 3\)/);
});

test("chooseProbeL2: a grid value, chosen from the training rows only; same seed, same choice", () => {
  const train = blobs(60, 2);
  const a = chooseProbeL2(train, 3, { epochs: 20, seed: 1 });
  assert.ok(PROBE_L2_GRID.includes(a.l2));
  assert.equal(a.cvAccuracy.length, PROBE_L2_GRID.length);
  assert.ok(a.cvAccuracy.every((v) => v >= 0 && v <= 1));
  assert.deepEqual(chooseProbeL2(train, 3, { epochs: 20, seed: 1 }), a);
  assert.equal(a.cvAccuracy[PROBE_L2_GRID.indexOf(a.l2)], Math.max(...a.cvAccuracy));
});

test("classifierFromStatic + distillClassifier: the start predicts as the fitted head; distillation lowers the loss and moves towards the teacher; unlabeled rows count", async () => {
  await useBackend("cpu");
  const words = [["cat", "dog", "mouse", "bird"], ["judge", "court", "lawyer", "trial"], ["kernel", "compile", "disk", "byte"]];
  const rng = new Rng(5, "texts");
  const make = (n: number) => Array.from({ length: n }, (_, i) => {
    const c = i % 3;
    return { text: Array.from({ length: 4 }, () => words[c][Math.floor(rng.next() * 4)]).join(" "), label: c };
  });
  const labelled = make(12);
  const unlabeled = make(30);
  const tok = trainBpe([...labelled, ...unlabeled].map((t) => t.text), { vocabSize: 300 });
  const table = new BagOfEmbeddingsModel({ kind: "static", vocab: tok.vocabSize, width: 8, padId: tok.special.pad }, { seed: 2 });
  const texts = labelled.map((t) => t.text);
  const labels = Int32Array.from(labelled, (t) => t.label);
  const student = classifierFromStatic(table, tok, 3, { texts, labels, probe: { epochs: 50 } }, 0);
  assert.equal(student.config.normalize, false);
  assert.equal(student.config.dim, 3);
  const start = bagEmbedder(student, tok).embed(texts);
  assert.ok(accuracyOf(argmaxRows(start, 12, 3), labels) >= 0.75, "the head starts fitted to the labelled texts");
  // The teacher: confident on the true class of every text (labelled and unlabeled).
  const all = [...labelled, ...unlabeled];
  const teacherLogits = Float32Array.from({ length: all.length * 3 }, (_, k) => (all[Math.floor(k / 3)].label === k % 3 ? 4 : 0));
  const allLabels = Int32Array.from(all, (t, i) => (i < 12 ? t.label : -1));
  const r = await distillClassifier(student, tok, all.map((t) => t.text), teacherLogits, allLabels, { epochs: 6, batchSize: 8, seed: 1 });
  assert.equal(r.labelled, 12);
  assert.equal(r.unlabeled, 30);
  assert.ok(r.losses[5] < r.losses[0], `loss ${r.losses.map((l) => l.toFixed(3)).join(" → ")}`);
  const after = bagEmbedder(student, tok).embed(unlabeled.map((t) => t.text));
  assert.ok(accuracyOf(argmaxRows(after, 30, 3), Int32Array.from(unlabeled, (t) => t.label)) >= 0.9, "agrees with the teacher on the unlabeled texts");
  await assert.rejects(distillClassifier(student, tok, texts, teacherLogits.subarray(0, 36), Int32Array.from(labels, () => 5), { epochs: 1 }), /label 5; expected −1 \(unlabeled\) or a class in \[0, 3\)/);
  await assert.rejects(distillClassifier(student, tok, texts, teacherLogits.subarray(0, 30), labels, { epochs: 1 }), /30 teacher logits; expected 12 texts × 3 classes/);
  // freeze: the table stays as it was, only the head trains; freezing everything is refused.
  const tableBefore = Float32Array.from(student.table.tensor.dataSync() as Float32Array);
  const kernelBefore = Float32Array.from(student.kernel!.tensor.dataSync() as Float32Array);
  const f = await distillClassifier(student, tok, all.map((t) => t.text), teacherLogits, allLabels, { epochs: 2, batchSize: 8, seed: 1, freeze: [student.table.tensor] });
  assert.equal(f.losses.length, 2);
  assert.deepEqual(Float32Array.from(student.table.tensor.dataSync() as Float32Array), tableBefore);
  assert.notDeepEqual(Float32Array.from(student.kernel!.tensor.dataSync() as Float32Array), kernelBefore);
  await assert.rejects(distillClassifier(student, tok, texts, teacherLogits.subarray(0, 36), labels, { epochs: 1, freeze: student.params }), /every variable of the student is frozen/);
  table.dispose();
  student.dispose();
});

test("classBalancedWeights: each class (label, else the teacher's argmax) gets the same total weight; the mean is 1", () => {
  // 5 texts: labelled 0, 0; unlabeled whose teacher argmax is 0, 1, 1 → class 0 has 3 texts, class 1 has 2.
  const logits = Float32Array.from([0, 0, 0, 0, 3, 1, 0, 2, 1, 5]);
  const w = classBalancedWeights(logits, Int32Array.from([0, 0, -1, -1, -1]), 2);
  assertAllClose(w, Float32Array.from([5 / 6, 5 / 6, 5 / 6, 5 / 4, 5 / 4]), { atol: 1e-6, what: "weights" });
  assert.ok(Math.abs(w.reduce((a, b) => a + b, 0) / 5 - 1) < 1e-6);
  assert.throws(() => classBalancedWeights(logits, Int32Array.from([0, 0]), 2), /10 logits; expected 2 texts × 2 classes/);
});

test("distillClassifier weights: zero weight on a text removes its soft term; weights of 1 are the unweighted loss", async () => {
  await useBackend("cpu");
  const tok = trainBpe(["red apple", "green leaf", "blue sky", "red rose"], { vocabSize: 280 });
  const texts = ["red apple", "green leaf", "blue sky", "red rose"];
  const teacher = Float32Array.from([3, 0, 0, 0, 3, 0, 0, 0, 3, 3, 0, 0]);
  const labels = Int32Array.from([-1, -1, -1, -1]);
  const make = () => new BagOfEmbeddingsModel({ kind: "bag", vocab: tok.vocabSize, width: 4, dim: 3, padId: tok.special.pad, normalize: false }, { seed: 4 });
  const opts = { epochs: 1, batchSize: 4, seed: 2, hardWeight: 0 };
  const [a, b, c] = [make(), make(), make()];
  const plain = await distillClassifier(a, tok, texts, teacher, labels, opts);
  const ones = await distillClassifier(b, tok, texts, teacher, labels, { ...opts, weights: new Float32Array(4).fill(1) });
  assert.ok(Math.abs(plain.losses[0] - ones.losses[0]) < 1e-5, `${plain.losses[0]} vs ${ones.losses[0]}`);
  const zero = await distillClassifier(c, tok, texts, teacher, labels, { ...opts, weights: new Float32Array(4) });
  assert.equal(zero.losses[0], 0);
  await assert.rejects(distillClassifier(c, tok, texts, teacher, labels, { ...opts, weights: Float32Array.from([1, -1, 1, 1]) }), /weights: expected 4 finite weights ≥ 0/);
  for (const m of [a, b, c]) m.dispose();
});

test("distillClassifier soft mse: the first loss is the mean squared logit difference (α = 0); weights of 1 give the same; a bad kind is refused", async () => {
  await useBackend("cpu");
  const texts = ["red apple", "green leaf", "blue sky", "red rose"];
  const tok = trainBpe(texts, { vocabSize: 280 });
  const teacher = Float32Array.from([3, 0, -1, 0, 3, 0, 1, 0, 3, 3, -2, 0]);
  const labels = Int32Array.from([-1, -1, -1, -1]);
  const make = () => new BagOfEmbeddingsModel({ kind: "bag", vocab: tok.vocabSize, width: 4, dim: 3, padId: tok.special.pad, normalize: false }, { seed: 4 });
  const [a, b] = [make(), make()];
  const start = bagEmbedder(a, tok).embed(texts);
  let expected = 0;
  for (let i = 0; i < start.length; i++) expected += (start[i] - teacher[i]) ** 2 / start.length;
  const opts = { epochs: 2, batchSize: 4, seed: 2, hardWeight: 0, soft: "mse" as const };
  const plain = await distillClassifier(a, tok, texts, teacher, labels, opts);
  assert.ok(Math.abs(plain.losses[0] - expected) < 1e-5, `${plain.losses[0]} vs ${expected}`);
  assert.ok(plain.losses[1] < plain.losses[0], `the loss falls: ${plain.losses}`);
  const ones = await distillClassifier(b, tok, texts, teacher, labels, { ...opts, weights: new Float32Array(4).fill(1) });
  assert.ok(Math.abs(plain.losses[1] - ones.losses[1]) < 1e-5, `${plain.losses[1]} vs ${ones.losses[1]}`);
  await assert.rejects(distillClassifier(b, tok, texts, teacher, labels, { ...opts, soft: "l1" as "mse" }), /soft: expected "kl" or "mse"/);
  for (const m of [a, b]) m.dispose();
});
