// Golden values for src/eval/metrics.ts, worked out by hand in the comments.
import { test } from "node:test";
import assert from "node:assert/strict";
import { binIndex, confusionMatrix, expectedCalibrationError, klDivergence, perClassAccuracy, regressionMetrics, softmaxRows, topKAccuracy } from "../src/eval/metrics.js";
import { classificationMetrics } from "../src/eval/classification.js";
import { measureInterleaved } from "../src/eval/timing.js";
import { niceTicks, esc } from "../src/report/svg.js";

const close = (a: number, b: number, tol = 1e-12, what = "value") => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs expected ${b}`);
/** Logits whose softmax is exactly the given probabilities (up to rounding): log p. */
const fromProbs = (rows: number[][]) => Float32Array.from(rows.flat().map(Math.log));

test("top-k accuracy: ranks with ties broken by class index, k ≥ C gives 1", () => {
  const logits = Float32Array.from([
    1, 3, 2, 0, // label 2: one class above it → rank 1
    0, 0, 0, 0, // label 2: a tie, classes 0 and 1 rank first → rank 2
    5, 1, 1, 1, // label 0: rank 0
  ]);
  const labels = Int32Array.from([2, 2, 0]);
  assert.equal(topKAccuracy(logits, labels, 4, 1), 1 / 3);
  assert.equal(topKAccuracy(logits, labels, 4, 2), 2 / 3);
  assert.equal(topKAccuracy(logits, labels, 4, 3), 1);
  assert.equal(topKAccuracy(logits, labels, 4, 5), 1);
  // Top-1 is the accuracy of argmaxRows (first maximum wins), tie rows included.
  assert.equal(topKAccuracy(logits, labels, 4, 1), classificationMetrics(logits, labels, 4).accuracy);
  assert.equal(topKAccuracy(new Float32Array(0), new Int32Array(0), 4, 1), 0);
  assert.throws(() => topKAccuracy(logits, labels, 4, 0), /k ≥ 1/);
  assert.throws(() => topKAccuracy(logits, Int32Array.from([2, 2]), 4, 1), /3 rows of logits but 2 labels/);
  assert.throws(() => topKAccuracy(logits, Int32Array.from([2, 4, 0]), 4, 1), /label 4 at row 1/);
});

test("confidence bins are (lower, upper] with exact edges", () => {
  assert.equal(binIndex(0, 15), 0);
  assert.equal(binIndex(1 / 15, 15), 0);
  assert.equal(binIndex(0.2, 15), 2); // 0.2·15 rounds to 3.0000000000000004; 0.2 is the upper edge of bin 2
  assert.equal(binIndex(0.6, 15), 8); // 9/15 === 0.6
  assert.equal(binIndex(0.6000000000000001, 15), 9);
  assert.equal(binIndex(1, 15), 14);
  assert.equal(binIndex(0.5, 2), 0);
  assert.equal(binIndex(0.51, 2), 1);
});

// Five two-class samples with known top-1 confidence:
//   p = [0.9, 0.1] label 0 → right, conf 0.9  (bin 13: (13/15, 14/15])
//   p = [0.9, 0.1] label 1 → wrong, conf 0.9  (bin 13)
//   p = [0.3, 0.7] label 1 → right, conf 0.7  (bin 10: (10/15, 11/15])
//   p = [0.55, 0.45] label 1 → wrong, conf 0.55 (bin 8: (8/15, 9/15])
//   p = [0.5, 0.5] label 1 → wrong (the first maximum, class 0, is predicted), conf 0.5 (bin 7: (7/15, 8/15])
// ECE = 2/5·|0.5 − 0.9| + 1/5·|1 − 0.7| + 1/5·|0 − 0.55| + 1/5·|0 − 0.5| = 0.16 + 0.06 + 0.11 + 0.10 = 0.43; MCE = 0.55.
const probs = [
  [0.9, 0.1],
  [0.9, 0.1],
  [0.3, 0.7],
  [0.55, 0.45],
  [0.5, 0.5],
];
const labels5 = Int32Array.from([0, 1, 1, 1, 1]);

test("expected calibration error and the reliability curve (15 bins)", () => {
  const cal = expectedCalibrationError(fromProbs(probs), labels5, 2);
  close(cal.ece, 0.43, 1e-6, "ECE");
  close(cal.mce, 0.55, 1e-6, "MCE");
  assert.equal(cal.n, 5);
  assert.equal(cal.bins.length, 15);
  const used = cal.bins.map((b, i) => [i, b.count] as const).filter(([, c]) => c > 0);
  assert.deepEqual(used, [[7, 1], [8, 1], [10, 1], [13, 2]]);
  close(cal.bins[13].meanConfidence!, 0.9, 1e-6, "bin 13 confidence");
  assert.equal(cal.bins[13].accuracy, 0.5);
  assert.equal(cal.bins[10].accuracy, 1);
  assert.equal(cal.bins[8].accuracy, 0);
  close(cal.bins[8].meanConfidence!, 0.55, 1e-6);
  assert.equal(cal.bins[0].meanConfidence, null, "empty bins have no mean confidence");
  assert.equal(cal.bins[0].accuracy, null);
  close(cal.bins[3].lower, 0.2);
  close(cal.bins[3].upper, 4 / 15);
  assert.equal(cal.bins[14].upper, 1);
  // A perfectly calibrated pair: confidence 0.75, 3 of 4 right → ECE 0.
  const perfect = expectedCalibrationError(fromProbs([[0.75, 0.25], [0.75, 0.25], [0.75, 0.25], [0.75, 0.25]]), Int32Array.from([0, 0, 0, 1]), 2);
  close(perfect.ece, 0, 1e-6, "calibrated ECE");
  // Bins other than 15.
  const two = expectedCalibrationError(fromProbs(probs), labels5, 2, 2);
  // Bin 0 (0, 0.5]: the 0.5 sample, wrong → |0 − 0.5|·1/5 = 0.1. Bin 1: conf (0.9+0.9+0.7+0.55)/4 = 0.7625,
  // accuracy 2/4 → 0.2625·4/5 = 0.21. ECE 0.31.
  close(two.ece, 0.31, 1e-6, "2-bin ECE");
});

test("per-class accuracy and the confusion matrix", () => {
  // Predictions are [0, 0, 1, 0, 0] for labels [0, 1, 1, 1, 1].
  const logits = fromProbs(probs);
  assert.deepEqual(confusionMatrix(logits, labels5, 2), [
    [1, 0],
    [3, 1],
  ]);
  assert.deepEqual(perClassAccuracy(logits, labels5, 2), { count: [1, 4], correct: [1, 1], accuracy: [1, 0.25] });
  const three = perClassAccuracy(Float32Array.from([0, 1, 0, 2, 0, 0]), Int32Array.from([1, 1]), 3);
  assert.deepEqual(three.accuracy, [null, 0.5, null], "classes without samples have no accuracy");
});

test("KL(teacher ‖ student) from logits: batch mean, temperature, extreme logits", () => {
  // Row 1: KL([.5,.5] ‖ [.9,.1]) = .5·ln(.5/.9) + .5·ln(.5/.1) = ln(5/3). Row 2: identical distributions → 0.
  const t = fromProbs([[0.5, 0.5], [0.8, 0.2]]);
  const s = fromProbs([[0.9, 0.1], [0.8, 0.2]]);
  close(klDivergence(t, s, 2), Math.log(5 / 3) / 2, 1e-7, "KL");
  close(klDivergence(s, s, 2), 0, 1e-15, "KL(p ‖ p)");
  // At T = 2: teacher logits [0, 0] → [.5, .5]; student [ln 9, 0] → softmax([ln 3, 0]) = [.75, .25];
  // KL = .5·ln(.5/.75) + .5·ln(.5/.25) = .5·ln(4/3).
  close(klDivergence(Float32Array.from([0, 0]), Float32Array.from([Math.log(9), 0]), 2, 2), 0.5 * Math.log(4 / 3), 1e-7, "KL at T=2");
  // Float64 log-softmax stays finite: teacher sure of class 0, student sure of class 1 → KL ≈ 1000.
  close(klDivergence(Float32Array.from([1000, 0]), Float32Array.from([0, 1000]), 2), 1000, 1e-9, "extreme KL");
  assert.throws(() => klDivergence(t, s.subarray(0, 2), 2), /4 teacher logits but 2 student logits/);
  assert.throws(() => klDivergence(t, s, 2, 0), /temperature/);
});

test("softmax rows sum to one; regression metrics", () => {
  const p = softmaxRows(Float32Array.from([1, 2, 3, -1e4, 0, 1e4]), 3);
  close(p[0] + p[1] + p[2], 1, 1e-15);
  close(p[5], 1, 1e-15);
  close(p[0] / p[1], Math.exp(-1), 1e-7);
  // diffs 0, 2, −3 → MSE 13/3, MAE 5/3.
  const r = regressionMetrics([1, 2, 3], [1, 0, 6]);
  assert.equal(r.n, 3);
  close(r.mse, 13 / 3);
  close(r.mae, 5 / 3);
  close(r.rmse, Math.sqrt(13 / 3));
  // targets 1, 0, 6: mean 7/3, Σ(y − ȳ)² = 16/9 + 49/9 + 121/9 = 186/9; R² = 1 − 13 / (186/9).
  close(r.r2, 1 - 13 / (186 / 9));
  assert.equal(regressionMetrics([5, 5], [5, 5]).r2, 0, "constant targets: R² 0");
  assert.deepEqual(regressionMetrics([], []), { n: 0, mse: 0, rmse: 0, mae: 0, r2: 0 });
  assert.throws(() => regressionMetrics([1], [1, 2]), /1 predictions but 2 targets/);
});

test("interleaved timing gives one LatencyStats per function", () => {
  let a = 0;
  let b = 0;
  const [sa, sb] = measureInterleaved([() => void a++, () => void b++], { warmup: 2, runs: 25, maxSeconds: 5 });
  assert.equal(a, 27);
  assert.equal(b, 27);
  assert.equal(sa.runs, 25);
  assert.equal(sb.runs, 25);
  assert.ok(sa.p50Ms >= 0 && sa.p99Ms >= sa.p50Ms);
});

test("report helpers: nice ticks and escaping", () => {
  assert.deepEqual(niceTicks(0, 1, 5), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(niceTicks(0.55, 2.33, 5), [0.5, 1, 1.5, 2, 2.5]);
  assert.deepEqual(niceTicks(1, 3, 2), [1, 2, 3]);
  assert.ok(niceTicks(5, 5).length >= 2, "a flat range still gets an axis");
  assert.equal(esc(`<a href="x">&'</a>`), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
});
