// kdLoss / softKl / crossEntropy against a float64 reference written out in plain JS.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { useBackend } from "../src/engine/backend.js";
import { kdLoss, softKl } from "../src/losses/kd.js";
import { crossEntropy } from "../src/losses/cross-entropy.js";
import { assertAllClose } from "./helpers.js";

await useBackend("wasm", { fallback: false });

// ---- float64 reference ------------------------------------------------------------------------------------

type Rows = number[][];

function logSoftmax(row: number[], T = 1): number[] {
  const z = row.map((v) => v / T);
  const max = Math.max(...z);
  const lse = max + Math.log(z.reduce((s, v) => s + Math.exp(v - max), 0));
  return z.map((v) => v - lse);
}
const softmax = (row: number[], T = 1) => logSoftmax(row, T).map(Math.exp);

/** (1/B)·Σ_i Σ_c p_t·(log p_t − log p_s), p = softmax(z/T). */
function refKl(s: Rows, t: Rows, T: number): number {
  let sum = 0;
  s.forEach((sr, i) => {
    const lpt = logSoftmax(t[i], T);
    const lps = logSoftmax(sr, T);
    lpt.forEach((l, c) => (sum += Math.exp(l) * (l - lps[c])));
  });
  return sum / s.length;
}

function refCe(s: Rows, y: number[]): number {
  return -s.reduce((acc, row, i) => acc + logSoftmax(row)[y[i]], 0) / s.length;
}

function refKd(s: Rows, t: Rows, y: number[], T: number, alpha: number): number {
  return alpha * refCe(s, y) + (1 - alpha) * T * T * refKl(s, t, T);
}

/** ∂L/∂s = (1−α)·T·(softmax(s/T) − softmax(t/T))/B + α·(softmax(s) − onehot(y))/B. */
function analyticGrad(s: Rows, t: Rows, y: number[], T: number, alpha: number): Rows {
  const B = s.length;
  return s.map((row, i) => {
    const ps = softmax(row, T);
    const pt = softmax(t[i], T);
    const p1 = softmax(row);
    return row.map((_, c) => ((1 - alpha) * T * (ps[c] - pt[c])) / B + (alpha * (p1[c] - (c === y[i] ? 1 : 0))) / B);
  });
}

/** Float64 central differences of the reference loss. */
function numericGrad(s: Rows, t: Rows, y: number[], T: number, alpha: number, h = 1e-5): Rows {
  return s.map((row, i) =>
    row.map((_, c) => {
      const plus = s.map((r) => r.slice());
      const minus = s.map((r) => r.slice());
      plus[i][c] += h;
      minus[i][c] -= h;
      return (refKd(plus, t, y, T, alpha) - refKd(minus, t, y, T, alpha)) / (2 * h);
    }),
  );
}

// ---- fixtures ---------------------------------------------------------------------------------------------

// Values exactly representable in float32, so the reference sees the same inputs as the tensors.
const f32 = (rows: Rows): Rows => rows.map((r) => r.map(Math.fround));
const S: Rows = f32([
  [1.5, -0.25, 0.75],
  [-1.0, 2.0, 0.5],
]);
const Tt: Rows = f32([
  [2.5, 0.5, -1.25],
  [0.25, 3.0, -0.5],
]);
const Y = [0, 2];

const TEMPS = [1, 2, 4];
const ALPHAS = [0, 0.3, 1];

function kdValue(s: Rows, t: Rows, y: number[] | null, T: number, alpha: number): number {
  return tf.tidy(() => kdLoss(tf.tensor2d(s), tf.tensor2d(t), y ? tf.tensor1d(y, "int32") : null, { temperature: T, alpha }).dataSync()[0]);
}

function kdGrad(s: Rows, t: Rows, y: number[] | null, T: number, alpha: number): Float32Array {
  return tf.tidy(() => {
    const tt = tf.tensor2d(t);
    const yy = y ? tf.tensor1d(y, "int32") : null;
    const g = tf.grad((x: tf.Tensor) => kdLoss(x as tf.Tensor2D, tt, yy, { temperature: T, alpha }))(tf.tensor2d(s));
    return Float32Array.from(g.dataSync() as Float32Array);
  });
}

// ---- tests ------------------------------------------------------------------------------------------------

test("crossEntropy equals the float64 mean of −log softmax(s)[y]", () => {
  const got = tf.tidy(() => crossEntropy(tf.tensor2d(S), tf.tensor1d(Y, "int32")).dataSync()[0]);
  assertAllClose(got, refCe(S, Y), { rtol: 1e-6, atol: 1e-7, what: "CE" });
  // Float labels are accepted too (cast to int32).
  const gotF = tf.tidy(() => crossEntropy(tf.tensor2d(S), tf.tensor1d(Y, "float32")).dataSync()[0]);
  assert.equal(gotF, got);
  // Large logits stay finite (log-softmax, not log(softmax)).
  const big = f32([
    [80, -80, 0],
    [-90, 0, 95],
  ]);
  const gotBig = tf.tidy(() => crossEntropy(tf.tensor2d(big), tf.tensor1d([1, 0], "int32")).dataSync()[0]);
  assertAllClose(gotBig, refCe(big, [1, 0]), { rtol: 1e-6, what: "CE with large logits" });
});

test("softKl equals the float64 batch-mean KL(softmax(t/T) ‖ softmax(s/T)) for T = 1, 2, 4", () => {
  for (const T of TEMPS) {
    const got = tf.tidy(() => softKl(tf.tensor2d(S), tf.tensor2d(Tt), T).dataSync()[0]);
    assertAllClose(got, refKl(S, Tt, T), { rtol: 1e-5, atol: 1e-7, what: `KL at T=${T}` });
    assert.ok(got > 0, `KL at T=${T} is ${got}, expected > 0`);
  }
});

test("kdLoss = α·CE + (1−α)·T²·KL, batch-mean (T = 1, 2, 4; α = 0, 0.3, 1)", () => {
  for (const T of TEMPS) {
    for (const alpha of ALPHAS) {
      const got = kdValue(S, Tt, Y, T, alpha);
      assertAllClose(got, refKd(S, Tt, Y, T, alpha), { rtol: 1e-5, atol: 1e-7, what: `KD at T=${T} α=${alpha}` });
    }
  }
  // α = 1 is exactly the hard-label loss; α = 0 needs no labels.
  assertAllClose(kdValue(S, Tt, Y, 4, 1), refCe(S, Y), { rtol: 1e-6, what: "KD at α=1" });
  assertAllClose(kdValue(S, Tt, null, 2, 0), 4 * refKl(S, Tt, 2), { rtol: 1e-5, what: "KD at α=0 without labels" });
});

test("kdLoss on the cpu backend agrees with the reference too", async () => {
  await tf.setBackend("cpu");
  try {
    for (const T of TEMPS) {
      assertAllClose(kdValue(S, Tt, Y, T, 0.3), refKd(S, Tt, Y, T, 0.3), { rtol: 1e-5, atol: 1e-7, what: `cpu KD at T=${T}` });
      assertAllClose(kdGrad(S, Tt, Y, T, 0.3), analyticGrad(S, Tt, Y, T, 0.3).flat(), { rtol: 1e-4, atol: 1e-7, what: `cpu KD grad at T=${T}` });
    }
  } finally {
    await tf.setBackend("wasm");
  }
});

test("KD is 0 with zero gradient when the student equals the teacher and α = 0", () => {
  for (const T of TEMPS) {
    for (const logits of [S, Tt]) {
      const value = kdValue(logits, logits, null, T, 0);
      assert.ok(Math.abs(value) <= 1e-6, `KD(s, s) = ${value} at T=${T}`);
      const g = kdGrad(logits, logits, Y, T, 0);
      for (const v of g) assert.ok(Math.abs(v) <= 1e-6, `gradient ${v} at T=${T}`);
    }
  }
});

test("∂KD/∂s equals the analytic (1−α)·T·(p_s^T − p_t^T)/B + α·(p_s − onehot(y))/B", () => {
  for (const T of TEMPS) {
    for (const alpha of ALPHAS) {
      const got = kdGrad(S, Tt, Y, T, alpha);
      assertAllClose(got, analyticGrad(S, Tt, Y, T, alpha).flat(), { rtol: 1e-4, atol: 1e-7, what: `grad at T=${T} α=${alpha}` });
    }
  }
});

test("finite differences (float64) of the reference agree with tf.grad of kdLoss (float32)", () => {
  // Also a wider batch with larger logits.
  const S2 = f32([
    [3.25, -2.5, 0.125, 1.0],
    [-4.0, 6.5, 2.25, -0.75],
    [0.5, 0.5, -3.0, 8.0],
  ]);
  const T2 = f32([
    [5.0, -1.0, 0.0, 2.5],
    [1.0, 7.25, -2.0, 0.5],
    [-1.5, 2.0, 0.75, 4.0],
  ]);
  const Y2 = [1, 1, 3];
  for (const [s, t, y] of [
    [S, Tt, Y],
    [S2, T2, Y2],
  ] as [Rows, Rows, number[]][]) {
    for (const T of TEMPS) {
      for (const alpha of ALPHAS) {
        const fd = numericGrad(s, t, y, T, alpha).flat();
        // The reference's own analytic gradient agrees with its finite differences (sanity of the reference).
        assertAllClose(analyticGrad(s, t, y, T, alpha).flat(), fd, { rtol: 1e-6, atolScale: 1e-6, what: `reference analytic vs FD at T=${T} α=${alpha}` });
        assertAllClose(kdGrad(s, t, y, T, alpha), fd, { rtol: 1e-3, atolScale: 1e-3, what: `tf.grad vs FD at T=${T} α=${alpha}, batch ${s.length}` });
      }
    }
  }
});

test("KD is invariant to adding a constant to all logits of a row (student or teacher)", () => {
  const shift = (rows: Rows, row: number, c: number) => rows.map((r, i) => (i === row ? r.map((v) => Math.fround(v + c)) : r.slice()));
  for (const T of TEMPS) {
    for (const alpha of ALPHAS) {
      const base = kdValue(S, Tt, Y, T, alpha);
      const baseGrad = kdGrad(S, Tt, Y, T, alpha);
      for (const [row, c] of [
        [0, 3.5],
        [1, -10],
      ]) {
        const s2 = kdValue(shift(S, row, c), Tt, Y, T, alpha);
        const t2 = kdValue(S, shift(Tt, row, c), Y, T, alpha);
        assertAllClose(s2, base, { rtol: 1e-5, atol: 1e-6, what: `student row ${row} + ${c} at T=${T} α=${alpha}` });
        assertAllClose(t2, base, { rtol: 1e-5, atol: 1e-6, what: `teacher row ${row} + ${c} at T=${T} α=${alpha}` });
        assertAllClose(kdGrad(shift(S, row, c), Tt, Y, T, alpha), baseGrad, { rtol: 1e-4, atolScale: 1e-4, what: `grad after student row shift at T=${T} α=${alpha}` });
      }
    }
  }
});

test("kdLoss rejects T ≤ 0 and α outside [0, 1]; α > 0 needs labels", () => {
  const s = tf.tensor2d(S);
  const t = tf.tensor2d(Tt);
  const y = tf.tensor1d(Y, "int32");
  try {
    for (const T of [0, -1, NaN, -Infinity]) {
      assert.throws(() => kdLoss(s, t, y, { temperature: T, alpha: 0.5 }), /temperature must be > 0/, `T=${T}`);
    }
    for (const alpha of [-0.1, 1.1, NaN, 2, -Infinity]) {
      assert.throws(() => kdLoss(s, t, y, { temperature: 2, alpha }), /alpha must be in \[0, 1\]/, `alpha=${alpha}`);
    }
    assert.throws(() => kdLoss(s, t, null, { temperature: 2, alpha: 0.5 }), /needs hard labels/);
    // Boundaries are accepted.
    for (const alpha of [0, 1]) tf.dispose(kdLoss(s, t, y, { temperature: 1e-3, alpha }));
  } finally {
    tf.dispose([s, t, y]);
  }
});

test("kdLoss leaks no tensors", () => {
  const s = tf.tensor2d(S);
  const t = tf.tensor2d(Tt);
  const y = tf.tensor1d(Y, "int32");
  const before = tf.memory().numTensors;
  for (const alpha of ALPHAS) {
    const l = kdLoss(s, t, y, { temperature: 2, alpha });
    l.dispose();
  }
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([s, t, y]);
});
