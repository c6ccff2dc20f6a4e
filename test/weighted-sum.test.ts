// The weighted sum of named terms: weights and options follow their schedules, projectors are trained and only
// appear where widths differ, and the total equals the hand-made sum of the same loss functions.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { useBackend } from "../src/engine/backend.js";
import { ScheduledValue, valueAt } from "../src/util/schedules.js";
import { WeightedSumLoss, TermSpec } from "../src/distill/terms.js";
import { kdLoss } from "../src/losses/kd.js";
import { crossEntropy } from "../src/losses/cross-entropy.js";
import { rkdDistance } from "../src/losses/relation.js";
import { fitnetsHint } from "../src/losses/feature.js";
import { listLosses } from "../src/losses/registry.js";

await useBackend("wasm");

test("scheduled values: constant, linear warm-up, cosine, step", () => {
  assert.equal(valueAt(3, 5, 10), 3);
  const lin = ScheduledValue.parse({ kind: "linear", from: 0, to: 1, end: 2 });
  assert.equal(valueAt(lin, 0, 10), 0);
  assert.equal(valueAt(lin, 1, 10), 0.5);
  assert.equal(valueAt(lin, 7, 10), 1, "held after the ramp");
  const cos = ScheduledValue.parse({ kind: "cosine", from: 8, to: 2 });
  assert.equal(valueAt(cos, 0, 4), 8);
  assert.ok(Math.abs(valueAt(cos, 2, 4) - 5) < 1e-12, "halfway");
  assert.equal(valueAt(cos, 4, 4), 2);
  const late = ScheduledValue.parse({ kind: "linear", from: 1, to: 0, start: 2, end: 4 });
  assert.equal(valueAt(late, 1, 10), 1, "held before the ramp");
  assert.equal(valueAt(late, 3, 10), 0.5);
  const step = ScheduledValue.parse({ kind: "step", steps: [[0, 1], [2, 0.5], [4, 0.1]] });
  assert.deepEqual([0, 1.9, 2, 3.5, 4, 9].map((e) => valueAt(step, e, 10)), [1, 1, 0.5, 0.5, 0.1, 0.1]);
  assert.equal(ScheduledValue.safeParse({ kind: "exponential", from: 1, to: 2 }).success, false);
});

test("every registered loss has a summary, a family and a strict option schema", () => {
  const names = listLosses().map((d) => d.name);
  for (const n of ["ce", "kd", "logit-mse", "dkd", "dist", "jsd", "topk-kd", "fitnets", "at", "pkt", "cosine", "rkd-distance", "rkd-angle", "sp", "cc"]) {
    assert.ok(names.includes(n), `${n} registered`);
  }
  for (const d of listLosses()) {
    assert.ok(d.summary.length > 10 && ["hard", "response", "feature", "relation"].includes(d.family), d.name);
    assert.equal(d.options.safeParse({ noSuchOption: 1 }).success, false, `${d.name} rejects unknown options`);
  }
});

const shapes = {
  studentLayer: (n: string) => ({ logits: [3], h: [4] } as Record<string, number[]>)[n],
  teacherLayer: (n: string) => ({ logits: [3], h: [6] } as Record<string, number[]>)[n],
  studentLayers: ["h"],
  teacherLayers: ["h"],
};

test("the total is Σ w_i(epoch)·L_i with scheduled weights and options", () => {
  const specs = [
    { loss: "kd", weight: 0.9, options: { temperature: { kind: "linear", from: 4, to: 2 }, alpha: 0 } },
    { loss: "ce", weight: { kind: "step", steps: [[0, 0.5], [1, 0.1]] } },
    { loss: "rkd-distance", weight: 25, student: "h", teacher: "h" },
  ].map((s) => TermSpec.parse(s));
  const loss = WeightedSumLoss.compile(specs, shapes, 1);
  assert.equal(loss.extraParams.length, 0, "relations take no projector");
  tf.tidy(() => {
    const s = tf.tensor2d([[1, 2, 0.5], [0.3, -1, 2], [0, 0, 1]]);
    const t = tf.tensor2d([[3, 1, 0], [0, 0, 4], [1, 2, 3]]);
    const hs = tf.tensor2d([[1, 0, 2, 1], [0, 1, 1, 0], [2, 2, 0, 1]]);
    const ht = tf.tensor2d([[1, 0, 2, 1, 0, 3], [0, 1, 1, 0, 1, 1], [2, 2, 0, 1, 0, 0]]);
    const y = tf.tensor1d([0, 2, 1], "int32");
    const at = (epoch: number) =>
      loss.compute({ studentLogits: s, studentFeatures: new Map([["h", hs]]), teacherLogits: t, teacherFeatures: new Map([["h", ht]]), labels: y, epoch, epochs: 2 }).total.dataSync()[0];
    const manual = (T: number, wCe: number) =>
      0.9 * kdLoss(s, t, y, { temperature: T, alpha: 0 }).dataSync()[0] + wCe * crossEntropy(s, y).dataSync()[0] + 25 * rkdDistance(hs, ht).dataSync()[0];
    assert.ok(Math.abs(at(0) - manual(4, 0.5)) < 1e-5, `epoch 0: ${at(0)} vs ${manual(4, 0.5)}`);
    assert.ok(Math.abs(at(1) - manual(3, 0.1)) < 1e-5, `epoch 1: ${at(1)} vs ${manual(3, 0.1)}`);
  });
  loss.dispose();
});

test("a FitNets term trains its projector along with the student", () => {
  const loss = WeightedSumLoss.compile([TermSpec.parse({ loss: "fitnets", student: "h", teacher: "h" })], shapes, 3);
  const [w, b] = loss.extraParams;
  assert.deepEqual(w.shape, [4, 6]);
  assert.deepEqual(b.shape, [6]);
  const hs = tf.variable(tf.tensor2d([[1, 0, 2, 1], [0, 1, 1, 0]]));
  const ht = tf.tensor2d([[1, 0, 2, 1, 0, 3], [0, 1, 1, 0, 1, 1]]);
  const f = () => loss.compute({ studentLogits: tf.zeros([2, 3]), studentFeatures: new Map([["h", hs]]), teacherLogits: tf.zeros([2, 3]), teacherFeatures: new Map([["h", ht]]), labels: tf.tensor1d([0, 1], "int32"), epoch: 0, epochs: 1 }).total;
  const { value, grads } = tf.variableGrads(f, [hs, w, b]);
  // The hint through the projector equals fitnetsHint(hs·W + b, ht).
  const expected = fitnetsHint(tf.add(tf.matMul(hs, w), b), ht).dataSync()[0];
  assert.ok(Math.abs(value.dataSync()[0] - expected) < 1e-5);
  assert.ok(grads[w.name] && tf.max(tf.abs(grads[w.name])).dataSync()[0] > 0, "the projector gets a gradient");
  assert.ok(grads[hs.name] && tf.max(tf.abs(grads[hs.name])).dataSync()[0] > 0, "the student feature gets a gradient");
  loss.dispose();
});
