// Token-level LM distillation losses (src/losses/sequence.ts) against float64 plain-JS references written from the
// formulas, hand-computed values, float64 finite-difference gradients, and their registry entries.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { useBackend } from "../src/engine/backend.js";
import { generalizedJsd, topKKd } from "../src/losses/response.js";
import { nextTokenCrossEntropy } from "../src/losses/next-token.js";
import {
  maskedTokenMean,
  nextTokenMask,
  sampledReverseKlEstimate,
  sampledTokenReverseKl,
  stopGradient,
  tokenCrossEntropy,
  tokenForwardKl,
  tokenJsd,
  tokenReverseKl,
  tokenSkewKl,
  tokenSkewReverseKl,
  tokenTopKKd,
} from "../src/losses/sequence.js";
import { getLoss, listLosses, type TermInputs } from "../src/losses/registry.js";
import { assertAllClose } from "./helpers.js";
import { type Rows, chunk, fdGrad, kl, logSoftmax, randRows, softmax, tfGrad, tfValue } from "./losses-ref.js";

await useBackend("wasm", { fallback: false });

// ---- fixtures: 2 windows × 3 positions = 6 token rows over a vocabulary of 5 --------------------------------

const N = 6;
const V = 5;
const S: Rows = randRows(N, V, 21, -2, 2);
const Tt: Rows = randRows(N, V, 22, -2.5, 2.5);
const MASK = [1, 1, 0, 1, 0, 1];
const t2 = (rows: Rows) => tf.tensor2d(rows);
const mask1 = (m: number[] = MASK) => tf.tensor1d(m);

/** Σ m·v / max(Σ m, 1), float64. */
const maskedMean = (v: number[], m: number[]) => v.reduce((s, x, i) => s + x * m[i], 0) / Math.max(m.reduce((a, b) => a + b, 0), 1);
const logsumexp2 = (a: number, b: number) => Math.max(a, b) + Math.log(Math.exp(a - Math.max(a, b)) + Math.exp(b - Math.max(a, b)));

function refJsdRow(s: number[], t: number[], beta: number, T: number): number {
  const ps = softmax(s, T);
  const pt = softmax(t, T);
  if (beta === 0) return kl(pt, ps);
  if (beta === 1) return kl(ps, pt);
  const m = pt.map((p, i) => beta * p + (1 - beta) * ps[i]);
  return beta * kl(pt, m) + (1 - beta) * kl(ps, m);
}
const refJsd = (s: Rows, t: Rows, m: number[], beta: number, T: number) => T * T * maskedMean(s.map((r, i) => refJsdRow(r, t[i], beta, T)), m);

function refSkewRow(p: number[], q: number[], alpha: number): number {
  return kl(p, p.map((pi, i) => alpha * pi + (1 - alpha) * q[i]));
}
const refSkew = (s: Rows, t: Rows, m: number[], alpha: number, T: number, reverse: boolean) =>
  T * T * maskedMean(s.map((r, i) => (reverse ? refSkewRow(softmax(r, T), softmax(t[i], T), alpha) : refSkewRow(softmax(t[i], T), softmax(r, T), alpha))), m);

/** FD (float64, reference) vs tf.grad (float32) in the student logits. */
function checkGrad(what: string, ref: (s: Rows) => number, lossOf: (s: tf.Tensor2D) => tf.Scalar, s: Rows = S): number[] {
  const fd = fdGrad((x) => ref(chunk(x, V)), s.flat());
  const got = tfGrad((x) => lossOf(x as tf.Tensor2D), s.flat(), [s.length, V]);
  assertAllClose(got, fd, { rtol: 1e-3, atolScale: 1e-3, what: `${what}: tf.grad vs float64 FD` });
  return got;
}

/** The gradient rows of masked-out tokens are exactly zero. */
function assertMaskedRowsZero(grad: number[], m: number[], what: string): void {
  m.forEach((keep, i) => {
    if (!keep) assert.ok(grad.slice(i * V, (i + 1) * V).every((g) => g === 0), `${what}: gradient of masked row ${i}`);
  });
}

// ---- masked mean and masks ---------------------------------------------------------------------------------

test("maskedTokenMean: Σ m·v / max(Σ m, 1); an all-zero mask gives 0; no mask is the plain mean", () => {
  const v = [1, 2, 3, 4, 5, 6];
  assertAllClose(tfValue(() => maskedTokenMean(tf.tensor1d(v), mask1())), (1 + 2 + 4 + 6) / 4, { what: "masked mean" });
  assert.equal(tfValue(() => maskedTokenMean(tf.tensor1d(v), tf.zeros([6]))), 0);
  assertAllClose(tfValue(() => maskedTokenMean(tf.tensor1d(v), null)), 3.5, { what: "plain mean" });
  assert.throws(() => maskedTokenMean(tf.tensor1d(v), tf.ones([5])), /mask shape \[5\] does not fit 6 token rows/);
});

test("nextTokenMask: leaves out positions whose target is padding or part of the prompt", () => {
  // Window b, position t predicts token t+1 of [x_b, y_b]; pad id 0.
  const x = tf.tensor2d([
    [5, 6, 7, 8],
    [5, 6, 0, 0],
  ]);
  const y = tf.tensor1d([9, 0], "int32");
  assert.deepEqual(Array.from(nextTokenMask(x, y).dataSync()), [1, 1, 1, 1, 1, 1, 1, 1]);
  assert.deepEqual(Array.from(nextTokenMask(x, y, { padId: 0 }).dataSync()), [1, 1, 1, 1, 1, 0, 0, 0]);
  // Prompts of 3 and 1 tokens: window 0 keeps the targets at indices ≥ 3 (positions 2, 3); window 1 all but padding.
  assert.deepEqual(Array.from(nextTokenMask(x, y, { padId: 0, promptLengths: [3, 1] }).dataSync()), [0, 0, 1, 1, 1, 0, 0, 0]);
  assert.throws(() => nextTokenMask(x, y, { promptLengths: [1] }), /1 prompt lengths for 2 windows/);
});

// ---- KL / JSD ----------------------------------------------------------------------------------------------

test("token KLs and JSD: hand-computed values on two-token rows", () => {
  // P_T = [3/4, 1/4] (logits [ln 3, 0]), P_S = [1/2, 1/2]; the second row is masked out.
  const s = [[0, 0], [5, -5]];
  const t = [[Math.log(3), 0], [0, 0]];
  const m = [1, 0];
  const forward = 0.75 * Math.log(0.75 / 0.5) + 0.25 * Math.log(0.25 / 0.5); // 0.130812…
  const reverse = 0.5 * Math.log(0.5 / 0.75) + 0.5 * Math.log(0.5 / 0.25); // 0.143841…
  // β = 0.5: M = [5/8, 3/8]
  const jsd = 0.5 * (0.75 * Math.log(0.75 / 0.625) + 0.25 * Math.log(0.25 / 0.375)) + 0.5 * (0.5 * Math.log(0.5 / 0.625) + 0.5 * Math.log(0.5 / 0.375));
  // Skew α = 0.1: mixture 0.1·P_T + 0.9·P_S = [0.525, 0.475]; reverse: 0.1·P_S + 0.9·P_T = [0.725, 0.275].
  const skew = 0.75 * Math.log(0.75 / 0.525) + 0.25 * Math.log(0.25 / 0.475);
  const skewReverse = 0.5 * Math.log(0.5 / 0.725) + 0.5 * Math.log(0.5 / 0.275);
  const at = (f: (s: tf.Tensor2D, t: tf.Tensor2D, m: tf.Tensor1D) => tf.Scalar) => tfValue(() => f(t2(s), t2(t), tf.tensor1d(m)));
  assertAllClose(at((a, b, c) => tokenForwardKl(a, b, c)), forward, { rtol: 1e-6, what: "forward KL" });
  assertAllClose(at((a, b, c) => tokenReverseKl(a, b, c)), reverse, { rtol: 1e-6, what: "reverse KL" });
  assertAllClose(at((a, b, c) => tokenJsd(a, b, c)), jsd, { rtol: 1e-5, what: "JSD(0.5)" });
  assertAllClose(at((a, b, c) => tokenSkewKl(a, b, c)), skew, { rtol: 1e-5, what: "skew KL" });
  assertAllClose(at((a, b, c) => tokenSkewReverseKl(a, b, c)), skewReverse, { rtol: 1e-5, what: "skew reverse KL" });
  // T = 2 on both sides, scaled by T²: logits [ln 3, 0]/2 → P_T = [√3, 1]/(√3 + 1).
  const pt2 = [Math.sqrt(3) / (Math.sqrt(3) + 1), 1 / (Math.sqrt(3) + 1)];
  assertAllClose(tfValue(() => tokenForwardKl(t2(s), t2(t), tf.tensor1d(m), { temperature: 2 })), 4 * kl(pt2, [0.5, 0.5]), { rtol: 1e-5, what: "forward KL at T = 2" });
});

test("token JSD(β), forward and reverse KL: float64 golden values over β and T, masked rows ignored", () => {
  for (const T of [1, 2]) {
    for (const beta of [0, 0.1, 0.5, 0.9, 1]) {
      assertAllClose(tfValue(() => tokenJsd(t2(S), t2(Tt), mask1(), { beta, temperature: T })), refJsd(S, Tt, MASK, beta, T), { rtol: 1e-5, what: `JSD β=${beta} T=${T}` });
    }
    assertAllClose(tfValue(() => tokenForwardKl(t2(S), t2(Tt), mask1(), { temperature: T })), refJsd(S, Tt, MASK, 0, T), { rtol: 1e-5, what: `forward KL T=${T}` });
    assertAllClose(tfValue(() => tokenReverseKl(t2(S), t2(Tt), mask1(), { temperature: T })), refJsd(S, Tt, MASK, 1, T), { rtol: 1e-5, what: `reverse KL T=${T}` });
  }
  // The masked mean of generalizedJsd's rows is generalizedJsd over the kept rows alone (same formula, reused).
  const kept = (rows: Rows) => rows.filter((_, i) => MASK[i]);
  assertAllClose(tfValue(() => tokenJsd(t2(S), t2(Tt), mask1(), { beta: 0.3 })), tfValue(() => generalizedJsd(t2(kept(S)), t2(kept(Tt)), { beta: 0.3 })), { rtol: 1e-6, what: "= generalizedJsd on kept rows" });
  // Changing masked-out rows changes nothing.
  const other = S.map((r, i) => (MASK[i] ? r : r.map((v) => v * 7 - 3)));
  assertAllClose(tfValue(() => tokenJsd(t2(other), t2(Tt), mask1())), tfValue(() => tokenJsd(t2(S), t2(Tt), mask1())), { rtol: 1e-6, what: "masked rows" });
  // TRL's endpoints: near β = 0 the formula tends to β·KL(P_T‖P_S) → 0; β = 0 itself is the forward KL.
  const near0 = tfValue(() => tokenJsd(t2(S), t2(Tt), mask1(), { beta: 1e-3 }));
  assert.ok(near0 < 0.01 * refJsd(S, Tt, MASK, 0, 1), `JSD(1e-3) = ${near0} is small, unlike JSD(0)`);
  assert.throws(() => tokenJsd(t2(S), t2(Tt), mask1(), { beta: 1.5 }), /beta must be in \[0, 1\], got 1.5/);
  assert.throws(() => tokenForwardKl(t2(S), t2(Tt), mask1(), { temperature: 0 }), /tokenForwardKl: temperature must be a finite number > 0/);
  assert.throws(() => tokenForwardKl(t2(S), tf.zeros([6, 4]), mask1()), /student shape \[6, 5\] and teacher shape \[6, 4\]/);
  assert.throws(() => tokenForwardKl(t2(S), t2(Tt), tf.ones([4])), /mask shape \[4\] does not fit 6 token rows/);
});

test("token JSD(β), forward and reverse KL: FD gradients; masked rows get exactly zero gradient", () => {
  for (const [beta, T] of [[0, 1], [1, 1], [0.5, 1], [0.3, 2], [0, 3]]) {
    const g = checkGrad(`JSD β=${beta} T=${T}`, (s) => refJsd(s, Tt, MASK, beta, T), (s) => tokenJsd(s, t2(Tt), mask1(), { beta, temperature: T }));
    assertMaskedRowsZero(g, MASK, `JSD β=${beta}`);
  }
});

// ---- skew KL -------------------------------------------------------------------------------------------------

test("skew KL and skew reverse KL (DistiLLM): golden values, α = 0 is the plain KL, α = 1 gives 0, FD gradients", () => {
  for (const T of [1, 2]) {
    for (const alpha of [0, 0.1, 0.5]) {
      assertAllClose(tfValue(() => tokenSkewKl(t2(S), t2(Tt), mask1(), { alpha, temperature: T })), refSkew(S, Tt, MASK, alpha, T, false), { rtol: 1e-5, what: `SKL α=${alpha} T=${T}` });
      assertAllClose(tfValue(() => tokenSkewReverseKl(t2(S), t2(Tt), mask1(), { alpha, temperature: T })), refSkew(S, Tt, MASK, alpha, T, true), { rtol: 1e-5, what: `SRKL α=${alpha} T=${T}` });
    }
  }
  // Default α = 0.1.
  assertAllClose(tfValue(() => tokenSkewKl(t2(S), t2(Tt), mask1())), refSkew(S, Tt, MASK, 0.1, 1, false), { rtol: 1e-5, what: "SKL default α" });
  assertAllClose(tfValue(() => tokenSkewKl(t2(S), t2(Tt), mask1(), { alpha: 0 })), tfValue(() => tokenForwardKl(t2(S), t2(Tt), mask1())), { rtol: 1e-6, what: "SKL α=0 = KL" });
  assertAllClose(tfValue(() => tokenSkewReverseKl(t2(S), t2(Tt), mask1(), { alpha: 0 })), tfValue(() => tokenReverseKl(t2(S), t2(Tt), mask1())), { rtol: 1e-6, what: "SRKL α=0 = RKL" });
  assert.equal(tfValue(() => tokenSkewKl(t2(S), t2(Tt), mask1(), { alpha: 1 })), 0);
  for (const [alpha, T] of [[0.1, 1], [0.4, 2]]) {
    assertMaskedRowsZero(checkGrad(`SKL α=${alpha}`, (s) => refSkew(s, Tt, MASK, alpha, T, false), (s) => tokenSkewKl(s, t2(Tt), mask1(), { alpha, temperature: T })), MASK, "SKL");
    assertMaskedRowsZero(checkGrad(`SRKL α=${alpha}`, (s) => refSkew(s, Tt, MASK, alpha, T, true), (s) => tokenSkewReverseKl(s, t2(Tt), mask1(), { alpha, temperature: T })), MASK, "SRKL");
  }
  assert.throws(() => tokenSkewKl(t2(S), t2(Tt), mask1(), { alpha: -0.1 }), /tokenSkewKl: alpha must be in \[0, 1\], got -0.1/);
});

// ---- top-k with a tail bucket ----------------------------------------------------------------------------------

const K = 2;
/** The teacher's top-K per row (descending, ties to the lower id) with log-softmax values, float64. */
function teacherTopK(t: Rows, k = K): { idx: number[][]; lp: number[][] } {
  const idx = t.map((r) => r.map((_, j) => j).sort((a, b) => r[b] - r[a] || a - b).slice(0, k));
  return { idx, lp: t.map((r, i) => idx[i].map((j) => logSoftmax(r)[j])) };
}
/** Bucket KL at T = 1: q_T = [p_1..p_k, r], q_S = [P_S on those ids, Σ of the rest]. */
function refTopKBucket(s: Rows, idx: number[][], lp: number[][], m: number[], tail?: number[]): number {
  return maskedMean(
    s.map((row, i) => {
      const ps = softmax(row);
      const p = lp[i].map(Math.exp);
      const r = tail ? tail[i] : 1 - p.reduce((a, b) => a + b, 0);
      const psTop = idx[i].map((j) => ps[j]);
      return kl([...p, r], [...psTop, 1 - psTop.reduce((a, b) => a + b, 0)]);
    }),
    m,
  );
}

test("token top-k KD with a tail bucket: golden value, k = V is the forward KL, a stored tail mass, FD gradient", () => {
  const { idx, lp } = teacherTopK(Tt);
  const I = tf.tensor2d(idx, [N, K], "int32");
  const L = t2(lp);
  assertAllClose(tfValue(() => tokenTopKKd(t2(S), I, L, mask1())), refTopKBucket(S, idx, lp, MASK), { rtol: 1e-5, what: "top-2 bucket" });
  // Per token it is topKKd's value: the masked mean over kept rows equals topKKd on those rows.
  const kept = <T>(rows: T[]) => rows.filter((_, i) => MASK[i]);
  const onKept = tfValue(() => topKKd(t2(kept(S)), tf.tensor2d(kept(idx), [4, K], "int32"), t2(kept(lp)), { temperature: 2, tail: "bucket" }));
  assertAllClose(tfValue(() => tokenTopKKd(t2(S), I, L, mask1(), { temperature: 2 })), onKept, { rtol: 1e-6, what: "= topKKd on kept rows (T = 2)" });
  // k = V: no tail; equal to the forward KL.
  const full = teacherTopK(Tt, V);
  assertAllClose(tfValue(() => tokenTopKKd(t2(S), tf.tensor2d(full.idx, [N, V], "int32"), t2(full.lp), mask1())), refJsd(S, Tt, MASK, 0, 1), { rtol: 1e-5, what: "k = V" });
  // A stored tail mass replaces 1 − Σ exp(top logprobs).
  const tail = [0.3, 0.2, 0.5, 0.1, 0.4, 0.25];
  const lpFit = lp.map((r, i) => {
    const scale = (1 - tail[i]) / r.reduce((a, v) => a + Math.exp(v), 0);
    return r.map((v) => v + Math.log(scale));
  });
  assertAllClose(tfValue(() => tokenTopKKd(t2(S), I, t2(lpFit), mask1(), { tailMass: tf.tensor1d(tail) })), refTopKBucket(S, idx, lpFit, MASK, tail), { rtol: 1e-5, what: "stored tail" });
  const g = checkGrad("top-2 bucket", (s) => refTopKBucket(s, idx, lp, MASK), (s) => tokenTopKKd(s, I, L, mask1()));
  assertMaskedRowsZero(g, MASK, "top-k");
  assert.throws(() => tokenTopKKd(t2(S), I, L, mask1(), { tailMass: tf.ones([3]) }), /tailMass shape \[3\] does not fit/);
});

// ---- hard targets and sampled-token reverse KL ------------------------------------------------------------------

test("tokenCrossEntropy equals nextTokenCrossEntropy with every target kept, and masks prompt tokens", () => {
  const x = tf.tensor2d([[1, 2, 3], [4, 0, 2]]);
  const y = tf.tensor1d([4, 1], "int32");
  const targets = tf.tensor1d([2, 3, 4, 0, 2, 1], "int32");
  assertAllClose(tfValue(() => tokenCrossEntropy(t2(S), targets, null)), tfValue(() => nextTokenCrossEntropy(t2(S), x, y)), { rtol: 1e-6, what: "CE" });
  const ref = maskedMean([2, 3, 4, 0, 2, 1].map((c, i) => -logSoftmax(S[i])[c]), MASK);
  assertAllClose(tfValue(() => tokenCrossEntropy(t2(S), targets, mask1())), ref, { rtol: 1e-6, what: "masked CE" });
  const withIgnored = tf.tensor1d([2, -1, 4, 0, 2, 1], "int32");
  const ref2 = maskedMean([2, 3, 4, 0, 2, 1].map((c, i) => -logSoftmax(S[i])[c]), MASK.map((m, i) => (i === 1 ? 0 : m)));
  assertAllClose(tfValue(() => tokenCrossEntropy(t2(S), withIgnored, mask1())), ref2, { rtol: 1e-6, what: "−1 targets" });
});

test("stopGradient: the value passes, the gradient does not", () => {
  const g = tfGrad((x) => tf.sum(tf.mul(stopGradient(x), x)), [1, 2, 3], [3]);
  assert.deepEqual(g, [1, 2, 3], "∂(sg(x)·x)/∂x = sg(x)");
});

test("sampled-token reverse KL: surrogate value, REINFORCE gradient with the reward held fixed, unbiased for reverse KL", () => {
  const ids = [3, 0, 1, 4, 2, 2];
  const teacherLp = ids.map((y, i) => logSoftmax(Tt[i])[y]);
  const Y = tf.tensor1d(ids, "int32");
  const TL = tf.tensor1d(teacherLp);
  const reward = (s: Rows) => ids.map((y, i) => teacherLp[i] - logSoftmax(s[i])[y]);
  const r0 = reward(S);
  const surrogate = (s: Rows, r: number[]) => -maskedMean(ids.map((y, i) => r[i] * logSoftmax(s[i])[y]), MASK);
  assertAllClose(tfValue(() => sampledTokenReverseKl(t2(S), Y, TL, mask1())), surrogate(S, r0), { rtol: 1e-5, what: "surrogate value" });
  assertAllClose(tfValue(() => sampledReverseKlEstimate(t2(S), Y, TL, mask1())), -maskedMean(r0, MASK), { rtol: 1e-5, what: "KL estimate" });
  // The gradient treats r as a constant: FD of the surrogate with r frozen at S.
  const g = checkGrad("sampled RKL", (s) => surrogate(s, r0), (s) => sampledTokenReverseKl(s, Y, TL, mask1()));
  assertMaskedRowsZero(g, MASK, "sampled RKL");
  // Unbiased: Σ_y P_S(y)·∇L(y) over every token y of one row is ∇ KL(P_S ‖ P_T) of that row.
  const row = [S[0]];
  const teacherRow = logSoftmax(Tt[0]);
  const ps = softmax(S[0]);
  const expected = new Array(V).fill(0);
  for (let y = 0; y < V; y++) {
    const gy = tfGrad((s) => sampledTokenReverseKl(s as tf.Tensor2D, tf.tensor1d([y], "int32"), tf.tensor1d([teacherRow[y]]), null), row.flat(), [1, V]);
    gy.forEach((v, j) => (expected[j] += ps[y] * v));
  }
  const exact = tfGrad((s) => tokenReverseKl(s as tf.Tensor2D, t2([Tt[0]]), null), row.flat(), [1, V]);
  assertAllClose(expected, exact, { rtol: 1e-4, atolScale: 1e-4, what: "E_y[∇L] = ∇ reverse KL" });
  assert.throws(() => sampledTokenReverseKl(t2(S), tf.tensor1d([1, 2], "int32"), tf.tensor1d([0, 0]), null), /token ids shape \[2\] does not fit student logits shape \[6, 5\]/);
});

// ---- registry ------------------------------------------------------------------------------------------------------

test("token terms are registered with granularity token and compute the functions above", () => {
  const token = listLosses().filter((d) => d.granularity === "token").map((d) => d.name);
  assert.deepEqual(token.sort(), ["token-ce", "token-jsd", "token-kl", "token-reverse-kl", "token-sampled-reverse-kl", "token-skew-kl", "token-skew-reverse-kl", "token-topk-kd"]);
  assert.equal(getLoss("kd")!.granularity ?? "sample", "sample");
  tf.tidy(() => {
    const targets = tf.tensor1d([2, 3, 4, 0, 2, 1], "int32");
    const base: TermInputs = { student: t2(S), teacher: t2(Tt), studentLogits: t2(S), teacherLogits: t2(Tt), labels: tf.tensor1d([0, 0]), epoch: 0, tokens: { mask: mask1(), targets } };
    const run = (name: string, options: Record<string, unknown> = {}, inputs = base) => getLoss(name)!.compute(inputs, getLoss(name)!.options.parse(options) as Record<string, unknown>).dataSync()[0];
    const close = (a: number, b: number, what: string) => assertAllClose(a, b, { rtol: 1e-6, what });
    close(run("token-kl", { temperature: 2 }), refJsd(S, Tt, MASK, 0, 2), "token-kl");
    close(run("token-reverse-kl"), refJsd(S, Tt, MASK, 1, 1), "token-reverse-kl");
    close(run("token-jsd"), refJsd(S, Tt, MASK, 0.5, 1), "token-jsd default β");
    close(run("token-skew-kl"), refSkew(S, Tt, MASK, 0.1, 1, false), "token-skew-kl");
    close(run("token-skew-reverse-kl", { alpha: 0.3 }), refSkew(S, Tt, MASK, 0.3, 1, true), "token-skew-reverse-kl");
    close(run("token-ce"), tokenCrossEntropy(t2(S), targets, mask1()).dataSync()[0], "token-ce");
    const { idx, lp } = teacherTopK(Tt);
    close(run("token-topk-kd", { k: 2 }), refTopKBucket(S, idx, lp, MASK), "token-topk-kd from full teacher logits");
    const withTopK = { ...base, tokens: { ...base.tokens!, teacherTopK: { indices: tf.tensor2d(idx, [N, K], "int32"), logprobs: t2(lp) } } };
    close(run("token-topk-kd", {}, withTopK), refTopKBucket(S, idx, lp, MASK), "token-topk-kd from a cache's top-k");
    const sampled = { ...base, tokens: { ...base.tokens!, sampled: { ids: targets, teacherLogprobs: tf.tensor1d([-1, -2, -1, -3, -1, -2]) } } };
    close(run("token-sampled-reverse-kl", {}, sampled), sampledTokenReverseKl(t2(S), targets, tf.tensor1d([-1, -2, -1, -3, -1, -2]), mask1()).dataSync()[0], "sampled");
    assert.throws(() => run("token-sampled-reverse-kl"), /needs the student's sampled tokens/);
    assert.throws(() => run("token-kl", {}, { ...base, tokens: undefined }), /loss token-kl is a token-level term: it needs per-token logits and a token mask/);
  });
});
