// The pure parts of `tsdistill auto`: rungs and promotion of successive halving, Pareto fronts, the seeded
// sampler, the default candidate's scaling, candidate losses, durations.
import { test } from "node:test";
import assert from "node:assert/strict";
import { bracketSize, promote, rungEpochs } from "../src/auto/asha.js";
import { dominates, paretoFront } from "../src/auto/pareto.js";
import { candidateTerms, DEFAULT_CANDIDATE, defaultSpace, paramCount, sampleCandidate, scaleSpec } from "../src/auto/space.js";
import { WeightedSumLoss } from "../src/distill/terms.js";
import { modelConfigFromSpec } from "../src/students/spec.js";
import { parseDuration } from "../src/cli/commands/auto.js";
import { useBackend } from "../src/engine/backend.js";
import { UsageError } from "../src/util/errors.js";

await useBackend("wasm");

test("rungEpochs: geometric rungs ending at maxEpochs; bracketSize η^(rungs−1)", () => {
  assert.deepEqual(rungEpochs({ minEpochs: 1, maxEpochs: 10, eta: 3 }), [1, 3, 10], "default rungs");
  assert.deepEqual(rungEpochs({ minEpochs: 1, maxEpochs: 9, eta: 3 }), [1, 3, 9], "exact powers");
  assert.deepEqual(rungEpochs({ minEpochs: 2, maxEpochs: 8, eta: 2 }), [2, 4, 8], "η = 2");
  assert.deepEqual(rungEpochs({ minEpochs: 5, maxEpochs: 5, eta: 3 }), [5], "one rung");
  assert.equal(bracketSize(3, 3), 9, "9 candidates for 3 rungs at η = 3");
  assert.equal(bracketSize(1, 3), 1, "one rung: one candidate per bracket");
  assert.throws(() => rungEpochs({ minEpochs: 4, maxEpochs: 2, eta: 3 }), UsageError, "max < min is refused");
  assert.throws(() => rungEpochs({ minEpochs: 1, maxEpochs: 2, eta: 1 }), UsageError, "η < 2 is refused");
});

test("promote keeps the best ⌊n/η⌋ (ties to the lower index), never a failed one, and always the seeded default", () => {
  const r = [
    { candidate: 0, score: 0.5 },
    { candidate: 1, score: 0.9 },
    { candidate: 2, score: 0.7 },
    { candidate: 3, score: 0.9 },
    { candidate: 4, score: null },
    { candidate: 5, score: 0.1 },
  ];
  assert.deepEqual(promote(r, 3), [1, 3], "top 2 of 6");
  assert.deepEqual(promote(r.slice(0, 3), 3), [1], "at least one");
  assert.deepEqual(promote([{ candidate: 2, score: 0.5 }, { candidate: 1, score: 0.5 }, { candidate: 0, score: 0.4 }], 3), [1], "tie → lower index");
  assert.deepEqual(promote(r, 3, [0]), [0, 1, 3], "the default is promoted too");
  assert.deepEqual(promote(r, 3, [4]), [1, 3], "but not when it failed");
  assert.deepEqual(promote([{ candidate: 0, score: null }], 3), [], "nothing left when all failed");
});

test("paretoFront: non-dominated points, cheapest first", () => {
  const pts = [
    { id: 1, score: 0.9, cost: 1.0 },
    { id: 2, score: 0.95, cost: 2.0 },
    { id: 3, score: 0.85, cost: 1.5 }, // dominated by 1
    { id: 4, score: 0.8, cost: 0.5 },
    { id: 5, score: 0.95, cost: 2.0 }, // duplicate of 2: the lower id stays
    { id: 6, score: 0.97, cost: NaN }, // no cost measured: not on the front
  ];
  assert.deepEqual(paretoFront(pts).map((p) => p.id), [4, 1, 2], "front");
  for (const p of pts.slice(0, 5)) {
    const onFront = paretoFront(pts).some((q) => q.id === p.id);
    const dominated = pts.slice(0, 5).some((q) => q.id !== p.id && dominates(q, p));
    if (p.id !== 5) assert.equal(onFront, !dominated, `point ${p.id}: on the front iff not dominated`);
  }
});

test("sampleCandidate: seeded (same seed, bracket, index → same candidate), inside the space, varied", () => {
  const space = defaultSpace([28, 28, 1], 10);
  const a = Array.from({ length: 40 }, (_, i) => sampleCandidate(space, 7, 1, i));
  const b = Array.from({ length: 40 }, (_, i) => sampleCandidate(space, 7, 1, i));
  assert.deepEqual(a, b, "deterministic");
  assert.notDeepEqual(a, Array.from({ length: 40 }, (_, i) => sampleCandidate(space, 8, 1, i)), "another seed, other candidates");
  const methods = new Set(a.map((c) => c.method));
  assert.ok(methods.size >= 3, `several methods sampled: ${[...methods]}`);
  assert.ok(a.some((c) => c.student.startsWith("cnn:")) && a.some((c) => c.student.startsWith("mlp:")), "both families sampled");
  for (const c of a) {
    assert.ok(c.lr >= space.lrMin * 0.999 && c.lr <= space.lrMax * 1.001, `lr ${c.lr} in range`);
    assert.ok(space.alphas.includes(c.alpha), `α ${c.alpha} from the grid`);
    modelConfigFromSpec(c.student, { inputShape: [28, 28, 1], numClasses: 10 }); // a valid spec
    const widths = c.student.startsWith("mlp:") ? c.student.slice(4).split("-").map(Number) : [];
    for (let i = 1; i < widths.length; i++) assert.ok(widths[i] <= widths[i - 1], `${c.student}: widths do not grow`);
  }
  const flat = defaultSpace([20], 3);
  assert.ok(Array.from({ length: 30 }, (_, i) => sampleCandidate(flat, 1, 0, i)).every((c) => c.student.startsWith("mlp:")), "no CNNs for non-image data");
});

test("scaleSpec scales widths only; the default candidate is the demo's student and loss", () => {
  assert.equal(scaleSpec("mlp:800-800", 0.5), "mlp:400-400", "mlp");
  assert.equal(scaleSpec("cnn:conv32k5s2-pool2-conv64-avgpool-dense128", 0.25), "cnn:conv8k5s2-pool2-conv16-avgpool-dense32", "cnn: kernel, stride and pool sizes untouched");
  assert.equal(scaleSpec("mlp:10", 0.01), "mlp:4", "at least 4 units");
  assert.deepEqual([DEFAULT_CANDIDATE.student, DEFAULT_CANDIDATE.method, DEFAULT_CANDIDATE.temperature, DEFAULT_CANDIDATE.alpha], ["mlp:800-800", "kd", 8, 0.1], "demo settings");
  assert.equal(paramCount("mlp:800-800", [28, 28, 1], 10), 1276810, "the demo student's parameter count");
});

test("candidateTerms: α·ce + (1−α)·method, accepted by the loss registry for every method", () => {
  const space = defaultSpace([6], 3);
  const shape = (n: string) => (n === "logits" ? [3] : undefined);
  const shapes = { studentLayer: shape, teacherLayer: shape, studentLayers: [], teacherLayers: [] };
  for (let i = 0; i < 30; i++) {
    const c = sampleCandidate(space, 2, 0, i);
    const terms = candidateTerms(c);
    const ce = terms.find((t) => t.loss === "ce");
    const distill = terms.find((t) => t.loss === c.method);
    assert.equal(ce?.weight ?? 0, c.alpha, `${c.method}: ce weight is α`);
    assert.equal(distill?.weight ?? 0, c.alpha < 1 ? 1 - c.alpha : 0, `${c.method}: distillation weight is 1 − α`);
    WeightedSumLoss.compile(terms, shapes, 1).dispose();
  }
  assert.deepEqual(candidateTerms(DEFAULT_CANDIDATE).map((t) => [t.loss, t.weight, t.options]), [["ce", 0.1, {}], ["kd", 0.9, { temperature: 8, alpha: 0 }]], "the default is Hinton KD with α = 0.1");
});

test("parseDuration", () => {
  assert.equal(parseDuration("900"), 900, "seconds");
  assert.equal(parseDuration("90s"), 90, "s");
  assert.equal(parseDuration("15m"), 900, "m");
  assert.equal(parseDuration("1h30m"), 5400, "h+m");
  for (const bad of ["", "m", "15 minutes", "-5m", "0s"]) assert.throws(() => parseDuration(bad), UsageError, `"${bad}" refused`);
});
