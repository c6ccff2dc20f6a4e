// Response-based losses (src/losses/response.ts) against float64 plain-JS references written from the formulas.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { useBackend } from "../src/engine/backend.js";
import { softKl, kdLoss } from "../src/losses/kd.js";
import { DKD_DEFAULTS, distLoss, distRelation, dkdLoss, generalizedJsd, logitMse, topKKd, topKTailResolution, type TopKTail } from "../src/losses/response.js";
import { assertAllClose } from "./helpers.js";
import { type Rows, chunk, dot, f32Rows, fdGrad, kl, logSoftmax, mean, norm, randRows, softmax, tfGrad, tfValue } from "./losses-ref.js";

await useBackend("wasm", { fallback: false });

// ---- fixtures ---------------------------------------------------------------------------------------------

const B = 3;
const C = 5;
const S: Rows = randRows(B, C, 11, -2, 2);
const Tt: Rows = randRows(B, C, 12, -2.5, 2.5);
const Y = [2, 0, 4];
const t2 = (rows: Rows) => tf.tensor2d(rows);
const flat = (rows: Rows) => rows.flat();
const sum = (a: number[]) => a.reduce((s, v) => s + v, 0);

/** FD (float64, reference) vs tf.grad (float32) of a loss in the student argument. */
function checkGrad(what: string, ref: (s: Rows) => number, lossOf: (s: tf.Tensor2D) => tf.Scalar, s: Rows): void {
  const width = s[0].length;
  const fd = fdGrad((x) => ref(chunk(x, width)), flat(s));
  const got = tfGrad((x) => lossOf(x as tf.Tensor2D), flat(s), [s.length, width]);
  assertAllClose(got, fd, { rtol: 1e-3, atolScale: 1e-3, what: `${what}: tf.grad vs float64 FD` });
}

function assertNearZero(values: number[] | number, tol: number, what: string): void {
  for (const v of typeof values === "number" ? [values] : values) assert.ok(Math.abs(v) <= tol, `${what}: ${v} (|·| > ${tol})`);
}

// ---- logit MSE ----------------------------------------------------------------------------------------------

const refMse = (s: Rows, t: Rows) => mean(s.flatMap((r, i) => r.map((v, c) => (v - t[i][c]) ** 2)));

test("logitMse: golden value, FD gradient, zero at s = t, shape errors", () => {
  assertAllClose(tfValue(() => logitMse(t2(S), t2(Tt))), refMse(S, Tt), { rtol: 1e-5, what: "logitMse" });
  checkGrad("logitMse", (s) => refMse(s, Tt), (s) => logitMse(s, t2(Tt)), S);
  assertNearZero(tfValue(() => logitMse(t2(S), t2(S))), 0, "logitMse(s, s)");
  assertNearZero(tfGrad((x) => logitMse(x, t2(S)), flat(S), [B, C]), 0, "grad at s = t");
  assert.throws(() => logitMse(tf.zeros([2, 3]), tf.zeros([2, 4])), /logitMse: student shape \[2, 3\] and teacher shape \[2, 4\]/);
});

// ---- DKD ----------------------------------------------------------------------------------------------------

/** Per-sample TCKD and NCKD (no T²), straight from the definitions: b = [p_gt, 1 − p_gt], p̂ = softmax over non-targets. */
function refDkdParts(s: Rows, t: Rows, y: number[], T: number): { tckd: number[]; nckd: number[] } {
  const tckd: number[] = [];
  const nckd: number[] = [];
  s.forEach((sr, i) => {
    const ps = softmax(sr, T);
    const pt = softmax(t[i], T);
    tckd.push(kl([pt[y[i]], 1 - pt[y[i]]], [ps[y[i]], 1 - ps[y[i]]]));
    const drop = (r: number[]) => r.filter((_, c) => c !== y[i]);
    nckd.push(kl(softmax(drop(t[i]), T), softmax(drop(sr), T)));
  });
  return { tckd, nckd };
}
function refDkd(s: Rows, t: Rows, y: number[], alpha: number, beta: number, T: number): number {
  const { tckd, nckd } = refDkdParts(s, t, y, T);
  return T * T * mean(tckd.map((v, i) => alpha * v + beta * nckd[i]));
}
const dkd = (s: tf.Tensor2D, t: Rows, y: number[], alpha: number, beta: number, T: number) => dkdLoss(s, t2(t), tf.tensor1d(y, "int32"), { alpha, beta, temperature: T });

test("dkdLoss: golden values (α, β, T grid and the reference defaults)", () => {
  for (const T of [1, 2, 4]) {
    for (const [alpha, beta] of [
      [1, 8],
      [1, 0],
      [0, 1],
      [0.5, 2],
    ]) {
      assertAllClose(tfValue(() => dkd(t2(S), Tt, Y, alpha, beta, T)), refDkd(S, Tt, Y, alpha, beta, T), { rtol: 1e-5, what: `DKD α=${alpha} β=${beta} T=${T}` });
    }
  }
  const got = tfValue(() => dkdLoss(t2(S), t2(Tt), tf.tensor1d(Y, "int32")));
  assertAllClose(got, refDkd(S, Tt, Y, DKD_DEFAULTS.alpha, DKD_DEFAULTS.beta, DKD_DEFAULTS.temperature), { rtol: 1e-5, what: "DKD defaults α=1 β=8 T=4" });
  // Float labels are cast like crossEntropy's.
  assert.equal(tfValue(() => dkdLoss(t2(S), t2(Tt), tf.tensor1d(Y, "float32"))), got);
  // Large logits stay finite (log-space throughout).
  const big = f32Rows([
    [60, -40, 0, 10, -80],
    [-90, 0, 95, 3, 2],
  ]);
  const bigT = f32Rows([
    [50, -20, 5, 0, -60],
    [-70, 10, 80, 0, 1],
  ]);
  assertAllClose(tfValue(() => dkd(t2(big), bigT, [0, 2], 1, 8, 1)), refDkd(big, bigT, [0, 2], 1, 8, 1), { rtol: 1e-4, atol: 1e-5, what: "DKD large logits" });
});

test("dkdLoss: an unlabelled row (−1) uses the teacher's top class as its target", () => {
  const argmax = (r: number[]) => r.indexOf(Math.max(...r));
  const pseudo = Y.map((y, i) => (i % 2 === 0 ? -1 : y));
  const filled = pseudo.map((y, i) => (y < 0 ? argmax(Tt[i]) : y));
  assert.ok(pseudo.includes(-1), "some rows are unlabelled");
  for (const T of [1, 4]) {
    assertAllClose(tfValue(() => dkd(t2(S), Tt, pseudo, 1, 8, T)), refDkd(S, Tt, filled, 1, 8, T), { rtol: 1e-5, what: `DKD with −1 labels, T=${T}` });
  }
});

test("dkdLoss: FD gradient; zero loss and gradient at s = t", () => {
  for (const T of [1, 4]) {
    for (const [alpha, beta] of [
      [1, 8],
      [0.5, 2],
    ]) {
      checkGrad(`DKD α=${alpha} β=${beta} T=${T}`, (s) => refDkd(s, Tt, Y, alpha, beta, T), (s) => dkd(s, Tt, Y, alpha, beta, T), S);
    }
    assertNearZero(tfValue(() => dkd(t2(S), S, Y, 1, 8, T)), 1e-5, `DKD(s, s) at T=${T}`);
    assertNearZero(tfGrad((x) => dkd(x as tf.Tensor2D, S, Y, 1, 8, T), flat(S), [B, C]), 1e-5, `DKD grad at s = t, T=${T}`);
  }
});

test("DKD decomposition: KL = TCKD + (1 − p_t^gt)·NCKD per sample (reference and TF.js)", () => {
  for (const T of [1, 2, 4]) {
    const { tckd, nckd } = refDkdParts(S, Tt, Y, T);
    S.forEach((sr, i) => {
      const ptGt = softmax(Tt[i], T)[Y[i]];
      const full = kl(softmax(Tt[i], T), softmax(sr, T));
      // The identity itself, in float64.
      assertAllClose(tckd[i] + (1 - ptGt) * nckd[i], full, { rtol: 1e-12, what: `reference identity row ${i} T=${T}` });
      // And the TF.js pieces: dkdLoss(α=1, β=0) = T²·TCKD, dkdLoss(α=0, β=1) = T²·NCKD, softKl = KL.
      const si = [sr];
      const ti = [Tt[i]];
      const yi = [Y[i]];
      const tfTckd = tfValue(() => dkd(t2(si), ti, yi, 1, 0, T)) / (T * T);
      const tfNckd = tfValue(() => dkd(t2(si), ti, yi, 0, 1, T)) / (T * T);
      const tfKl = tfValue(() => softKl(t2(si), t2(ti), T));
      assertAllClose(tfTckd + (1 - ptGt) * tfNckd, tfKl, { rtol: 1e-5, atol: 1e-7, what: `TF.js identity row ${i} T=${T}` });
    });
  }
});

test("dkdLoss rejects bad options, label shapes and a single class", () => {
  const s = t2(S);
  const t = t2(Tt);
  const y = tf.tensor1d(Y, "int32");
  assert.throws(() => dkdLoss(s, t, y, { temperature: 0 }), /temperature must be a finite number > 0/);
  assert.throws(() => dkdLoss(s, t, y, { alpha: -1 }), /alpha must be a finite number ≥ 0/);
  assert.throws(() => dkdLoss(s, t, y, { beta: NaN }), /beta/);
  assert.throws(() => dkdLoss(s, t, tf.tensor1d([0, 1], "int32")), /labels shape \[2\] does not match logits shape \[3, 5\]/);
  assert.throws(() => dkdLoss(s, t2(Tt.map((r) => r.slice(0, 4))), y), /student shape \[3, 5\] and teacher shape \[3, 4\]/);
  assert.throws(() => dkdLoss(tf.zeros([2, 1]) as tf.Tensor2D, tf.zeros([2, 1]) as tf.Tensor2D, tf.tensor1d([0, 0], "int32")), /at least 2 classes/);
  tf.dispose([s, t, y]);
});

// ---- DIST ---------------------------------------------------------------------------------------------------

function pearson(a: number[], b: number[]): number {
  const ma = mean(a);
  const mb = mean(b);
  const ac = a.map((v) => v - ma);
  const bc = b.map((v) => v - mb);
  return dot(ac, bc) / (norm(ac) * norm(bc) + 1e-8);
}
const transpose = (m: Rows): Rows => m[0].map((_, c) => m.map((r) => r[c]));
function refDistRelation(ys: Rows, yt: Rows, beta: number, gamma: number): number {
  const inter = mean(ys.map((r, i) => 1 - pearson(r, yt[i])));
  const ysT = transpose(ys);
  const ytT = transpose(yt);
  const intra = mean(ysT.map((c, j) => 1 - pearson(c, ytT[j])));
  return beta * inter + gamma * intra;
}
const refDist = (s: Rows, t: Rows, beta: number, gamma: number, tau: number) =>
  tau * tau * refDistRelation(s.map((r) => softmax(r, tau)), t.map((r) => softmax(r, tau)), beta, gamma);

test("distLoss: golden values, FD gradient", () => {
  for (const [beta, gamma, tau] of [
    [1, 1, 1],
    [2, 2, 1],
    [1, 0.5, 4],
    [0, 1, 2],
  ]) {
    assertAllClose(tfValue(() => distLoss(t2(S), t2(Tt), { beta, gamma, tau })), refDist(S, Tt, beta, gamma, tau), { rtol: 1e-5, atol: 1e-7, what: `DIST β=${beta} γ=${gamma} τ=${tau}` });
    checkGrad(`DIST β=${beta} γ=${gamma} τ=${tau}`, (s) => refDist(s, Tt, beta, gamma, tau), (s) => distLoss(s, t2(Tt), { beta, gamma, tau }), S);
  }
  // Defaults β = γ = τ = 1.
  assertAllClose(tfValue(() => distLoss(t2(S), t2(Tt))), refDist(S, Tt, 1, 1, 1), { rtol: 1e-5, what: "DIST defaults" });
});

test("DIST: ≈ 0 with ≈ 0 gradient at s = t; invariances of the Pearson relation", () => {
  for (const tau of [1, 4]) {
    // Not exactly 0: ρ(a, a) = ‖a‖²/(‖a‖² + 1e-8), and the batch columns of tiny tensors have small ‖a − ā‖².
    const same = tfValue(() => distLoss(t2(Tt), t2(Tt), { tau, beta: 2, gamma: 2 }));
    assertAllClose(same, refDist(Tt, Tt, 2, 2, tau), { rtol: 0, atol: 2e-6, what: `DIST(t, t) τ=${tau} vs its ε-sized reference` });
    assertNearZero(same, 1e-4, `DIST(t, t) τ=${tau}`);
    assertNearZero(tfGrad((x) => distLoss(x as tf.Tensor2D, t2(Tt), { tau }), flat(Tt), [B, C]), 1e-4, `DIST grad at s = t, τ=${tau}`);
  }
  // Pearson is invariant to a positive affine map a → c·a + d (applied to a whole prediction matrix it keeps every
  // row and column correlation), for student and teacher predictions independently.
  const ys = S.map((r) => softmax(r));
  const yt = Tt.map((r) => softmax(r));
  const base = tfValue(() => distRelation(t2(f32Rows(ys)), t2(f32Rows(yt)), { beta: 1, gamma: 1 }));
  assertAllClose(base, refDistRelation(ys, yt, 1, 1), { rtol: 1e-5, what: "distRelation golden" });
  const affine = (m: Rows, c: number, d: number) => f32Rows(m.map((r) => r.map((v) => c * v + d)));
  for (const [cs, ds, ct, dt] of [
    [3, 0.25, 1, 0],
    [0.5, -1, 7, 2],
  ]) {
    const got = tfValue(() => distRelation(t2(affine(ys, cs, ds)), t2(affine(yt, ct, dt)), { beta: 1, gamma: 1 }));
    assertAllClose(got, base, { rtol: 1e-4, atol: 1e-6, what: `distRelation after affine (${cs}, ${ds}) / (${ct}, ${dt})` });
  }
  // On logits: adding a constant to a row changes no probability, hence nothing.
  const shifted = f32Rows(S.map((r, i) => r.map((v) => v + [3, -5, 0.5][i])));
  assertAllClose(tfValue(() => distLoss(t2(shifted), t2(Tt))), tfValue(() => distLoss(t2(S), t2(Tt))), { rtol: 1e-5, atol: 1e-7, what: "DIST row shift" });
  // Anti-correlated predictions are the maximum: 1 − ρ = 2 on every row and column.
  const a = [
    [0.1, 0.2, 0.7],
    [0.6, 0.3, 0.1],
  ];
  const anti = a.map((r) => r.map((v) => 1 - v));
  assertAllClose(tfValue(() => distRelation(t2(f32Rows(a)), t2(f32Rows(anti)))), 4, { rtol: 1e-5, what: "anti-correlated" });
});

// ---- generalised JSD ----------------------------------------------------------------------------------------

function refGjsd(s: Rows, t: Rows, beta: number, T: number): number {
  return mean(
    s.map((sr, i) => {
      const ps = softmax(sr, T);
      const pt = softmax(t[i], T);
      if (beta === 0) return kl(pt, ps);
      if (beta === 1) return kl(ps, pt);
      const m = pt.map((v, c) => beta * v + (1 - beta) * ps[c]);
      return beta * kl(pt, m) + (1 - beta) * kl(ps, m);
    }),
  );
}
const gjsd = (s: tf.Tensor2D, t: Rows, beta: number, temperature: number) => generalizedJsd(s, t2(t), { beta, temperature });

test("generalizedJsd: golden values and FD gradients over β ∈ {0, 0.1, 0.5, 0.9, 1}, T ∈ {1, 2}", () => {
  for (const T of [1, 2]) {
    for (const beta of [0, 0.1, 0.5, 0.9, 1]) {
      assertAllClose(tfValue(() => gjsd(t2(S), Tt, beta, T)), refGjsd(S, Tt, beta, T), { rtol: 1e-5, atol: 1e-7, what: `JSD β=${beta} T=${T}` });
      checkGrad(`JSD β=${beta} T=${T}`, (s) => refGjsd(s, Tt, beta, T), (s) => gjsd(s, Tt, beta, T), S);
    }
  }
  assertAllClose(tfValue(() => generalizedJsd(t2(S), t2(Tt))), refGjsd(S, Tt, 0.5, 1), { rtol: 1e-5, what: "JSD defaults β=0.5 T=1" });
});

test("generalizedJsd: β = 0 is KL(P_t‖P_s), β = 1 is KL(P_s‖P_t) (vs kd.ts softKl), finite at the ends, symmetric at 0.5", () => {
  for (const T of [1, 3]) {
    const fwd = tfValue(() => softKl(t2(S), t2(Tt), T));
    const rev = tfValue(() => softKl(t2(Tt), t2(S), T));
    assertAllClose(tfValue(() => gjsd(t2(S), Tt, 0, T)), fwd, { rtol: 1e-6, what: `β=0 vs forward KL, T=${T}` });
    assertAllClose(tfValue(() => gjsd(t2(S), Tt, 1, T)), rev, { rtol: 1e-6, what: `β=1 vs reverse KL, T=${T}` });
    for (const beta of [0, 1]) {
      for (const g of tfGrad((x) => gjsd(x as tf.Tensor2D, Tt, beta, T), flat(S), [B, C])) assert.ok(Number.isFinite(g), `gradient ${g} at β=${beta}`);
    }
    // Swapping student and teacher maps β to 1 − β; at β = 0.5 the divergence is symmetric and ≤ log 2.
    for (const beta of [0.2, 0.5, 0.7]) {
      assertAllClose(tfValue(() => gjsd(t2(Tt), S, 1 - beta, T)), tfValue(() => gjsd(t2(S), Tt, beta, T)), { rtol: 1e-5, atol: 1e-7, what: `swap β=${beta}` });
    }
    const half = tfValue(() => gjsd(t2(S), Tt, 0.5, T));
    assert.ok(half > 0 && half <= Math.log(2), `JSD_0.5 = ${half}`);
    assert.ok(half < fwd && half < rev, `JSD_0.5 ${half} vs KLs ${fwd}, ${rev}`);
  }
  // The formula tends to 0 at the ends; JSD_β/β → forward KL and JSD_β/(1−β) → reverse KL.
  const eps = 1e-4;
  assertAllClose(refGjsd(S, Tt, eps, 1) / eps, refGjsd(S, Tt, 0, 1), { rtol: 5 * eps, what: "reference limit β → 0" });
  assertAllClose(refGjsd(S, Tt, 1 - eps, 1) / eps, refGjsd(S, Tt, 1, 1), { rtol: 5 * eps, what: "reference limit β → 1" });
  const small = 0.01;
  assertAllClose(tfValue(() => gjsd(t2(S), Tt, small, 1)) / small, refGjsd(S, Tt, 0, 1), { rtol: 5 * small, what: "TF.js β = 0.01 / β vs forward KL" });
  // Zero with zero gradient at s = t, for every β.
  for (const beta of [0, 0.3, 1]) {
    assertNearZero(tfValue(() => gjsd(t2(S), S, beta, 2)), 1e-6, `JSD(s, s) β=${beta}`);
    assertNearZero(tfGrad((x) => gjsd(x as tf.Tensor2D, S, beta, 2), flat(S), [B, C]), 1e-6, `JSD grad at s = t, β=${beta}`);
  }
  assert.throws(() => gjsd(t2(S), Tt, 1.5, 1), /beta must be in \[0, 1\], got 1.5/);
  assert.throws(() => gjsd(t2(S), Tt, 0.5, -1), /temperature must be a finite number > 0/);
});

// ---- top-k KD -----------------------------------------------------------------------------------------------

/** Teacher top-k (indices by decreasing probability, log-probabilities at T = 1), float32-rounded. */
function topK(t: Rows, k: number): { idx: number[][]; lp: Rows } {
  const idx: number[][] = [];
  const lp: Rows = [];
  t.forEach((row) => {
    const l = logSoftmax(row);
    const order = l.map((v, c) => [v, c]).sort((a, b) => b[0] - a[0]);
    idx.push(order.slice(0, k).map((e) => e[1]));
    lp.push(order.slice(0, k).map((e) => Math.fround(e[0])));
  });
  return { idx, lp };
}

/** The documented construction, written out: q_t ∝ [p_j^(1/T), (r/m)^(1/T) per tail class]; T²·batch-mean KL. */
function refTopK(s: Rows, idx: number[][], lp: Rows, T: number, tail: TopKTail): number {
  const kls = s.map((row, b) => {
    const Cn = row.length;
    const k = idx[b].length;
    const m = Cn - k;
    const p = lp[b].map(Math.exp);
    const rRaw = Math.min(1, Math.max(0, 1 - sum(p)));
    const r = rRaw <= topKTailResolution(k) ? 0 : rRaw; // documented: below float32 resolution counts as no tail
    const wKnown = p.map((v) => v ** (1 / T));
    const wTailEach = m > 0 ? (r / m) ** (1 / T) : 0;
    const Z = sum(wKnown) + m * wTailEach;
    const qs = softmax(row, T);
    if (tail === "uniform") {
      const qt = new Array<number>(Cn).fill(wTailEach / Z);
      idx[b].forEach((c, j) => (qt[c] = wKnown[j] / Z));
      return kl(qt, qs);
    }
    const top = new Set(idx[b]);
    const qtB = [...wKnown.map((w) => w / Z), (m * wTailEach) / Z];
    const qsB = [...idx[b].map((c) => qs[c]), sum(qs.filter((_, c) => !top.has(c)))];
    return kl(qtB, qsB);
  });
  return T * T * mean(kls);
}

const C6 = 6;
const S6: Rows = randRows(B, C6, 21, -2, 2);
const T6: Rows = randRows(B, C6, 22, -3, 3);
function topKValue(s: Rows, idx: number[][], lp: Rows, temperature: number, tail: TopKTail): number {
  return tfValue(() => topKKd(t2(s), tf.tensor2d(idx, undefined, "int32"), t2(lp), { temperature, tail }));
}

test("topKKd: golden values and FD gradients (k = 2, 4; T = 1, 2, 4; both tails)", () => {
  for (const k of [2, 4]) {
    const { idx, lp } = topK(T6, k);
    for (const T of [1, 2, 4]) {
      for (const tail of ["uniform", "bucket"] as const) {
        assertAllClose(topKValue(S6, idx, lp, T, tail), refTopK(S6, idx, lp, T, tail), { rtol: 1e-5, atol: 1e-7, what: `top-${k} ${tail} T=${T}` });
        const idxT = tf.tensor2d(idx, undefined, "int32");
        const lpT = t2(lp);
        checkGrad(`top-${k} ${tail} T=${T}`, (s) => refTopK(s, idx, lp, T, tail), (s) => topKKd(s, idxT, lpT, { temperature: T, tail }), S6);
        tf.dispose([idxT, lpT]);
      }
    }
  }
});

test("topKKd with k = C equals KD's soft term T²·KL (kdLoss with α = 0) for both tails", () => {
  const { idx, lp } = topK(T6, C6);
  for (const T of [1, 2, 4]) {
    const kd = tfValue(() => kdLoss(t2(S6), t2(T6), null, { temperature: T, alpha: 0 }));
    for (const tail of ["uniform", "bucket"] as const) {
      assertAllClose(topKValue(S6, idx, lp, T, tail), kd, { rtol: 1e-5, atol: 1e-7, what: `k = C, ${tail}, T=${T}` });
      const idxT = tf.tensor2d(idx, undefined, "int32");
      const lpT = t2(lp);
      const g = tfGrad((x) => topKKd(x as tf.Tensor2D, idxT, lpT, { temperature: T, tail }), flat(S6), [B, C6]);
      const gKd = tfGrad((x) => kdLoss(x as tf.Tensor2D, t2(T6), null, { temperature: T, alpha: 0 }), flat(S6), [B, C6]);
      assertAllClose(g, gKd, { rtol: 1e-4, atolScale: 1e-4, what: `k = C gradient, ${tail}, T=${T}` });
      tf.dispose([idxT, lpT]);
    }
  }
});

test("topKKd: zero at a match, the tail is never dropped, r = 0 is safe, bucket sees only the tail's total", () => {
  // A teacher whose non-top-k logits are equal really has a uniform tail: the uniform model is then exact at any
  // T, so student = teacher gives 0 with zero gradient.
  const flatTail = f32Rows([
    [3, 1.5, -1, -1, -1, -1],
    [-1, -1, 2, -1, 0.5, -1],
    [0.2, -2, -2, 2.2, -2, -2],
  ]);
  const { idx, lp } = topK(flatTail, 2);
  for (const T of [1, 2, 4]) {
    assertNearZero(topKValue(flatTail, idx, lp, T, "uniform"), 2e-6, `uniform, s = t, T=${T}`);
    const idxT = tf.tensor2d(idx, undefined, "int32");
    const lpT = t2(lp);
    assertNearZero(tfGrad((x) => topKKd(x as tf.Tensor2D, idxT, lpT, { temperature: T, tail: "uniform" }), flat(flatTail), [B, C6]), 2e-5, `uniform grad, s = t, T=${T}`);
    tf.dispose([idxT, lpT]);
  }
  // Bucket at T = 1 needs no tail assumption: student = teacher (non-flat tail) gives 0.
  const top2 = topK(T6, 2);
  assertNearZero(topKValue(T6, top2.idx, top2.lp, 1, "bucket"), 2e-6, "bucket, s = t, T = 1");
  // The missing mass counts: the loss differs from a KL against the renormalised top-k alone.
  const dropped = (T: number) =>
    T * T * mean(S6.map((row, b) => {
      const w = top2.lp[b].map((l) => Math.exp(l / T));
      const q = w.map((v) => v / sum(w));
      const qs = softmax(row, T);
      const qsTop = top2.idx[b].map((c) => qs[c]);
      return kl(q, qsTop.map((v) => v / sum(qsTop)));
    }));
  for (const tail of ["uniform", "bucket"] as const) {
    const got = topKValue(S6, top2.idx, top2.lp, 2, tail);
    assert.ok(Math.abs(got - dropped(2)) > 1e-2, `${tail}: ${got} vs tail-dropping ${dropped(2)}`);
  }
  // r = 0 with k < C (top-k log-probabilities renormalised to sum to 1): finite, and the tail classes get 0.
  const renorm = top2.lp.map((r) => {
    const l = Math.log(sum(r.map(Math.exp)));
    return r.map((v) => Math.fround(v - l));
  });
  for (const tail of ["uniform", "bucket"] as const) {
    for (const T of [1, 3]) {
      const v = topKValue(S6, top2.idx, renorm, T, tail);
      assertAllClose(v, refTopK(S6, top2.idx, renorm, T, tail), { rtol: 1e-4, atol: 1e-5, what: `r = 0, ${tail}, T=${T}` });
      const idxT = tf.tensor2d(top2.idx, undefined, "int32");
      const lpT = t2(renorm);
      for (const g of tfGrad((x) => topKKd(x as tf.Tensor2D, idxT, lpT, { temperature: T, tail }), flat(S6), [B, C6])) assert.ok(Number.isFinite(g), `${tail} grad ${g}`);
      tf.dispose([idxT, lpT]);
    }
  }
  // Moving student mass between two tail classes while keeping Σ exp(s/T) over them: bucket unchanged, uniform not.
  const T = 2;
  const row0Tail = [0, 1, 2, 3, 4, 5].filter((c) => !top2.idx[0].includes(c));
  const [a, b] = row0Tail;
  const moved = S6.map((r) => r.slice());
  const total = Math.exp(moved[0][a] / T) + Math.exp(moved[0][b] / T);
  moved[0][a] = Math.fround(T * Math.log(0.9 * total));
  moved[0][b] = Math.fround(T * Math.log(total - Math.exp(moved[0][a] / T)));
  assertAllClose(topKValue(moved, top2.idx, top2.lp, T, "bucket"), topKValue(S6, top2.idx, top2.lp, T, "bucket"), { rtol: 1e-5, atol: 1e-7, what: "bucket after moving tail mass" });
  assert.ok(Math.abs(topKValue(moved, top2.idx, top2.lp, T, "uniform") - topKValue(S6, top2.idx, top2.lp, T, "uniform")) > 1e-3, "uniform should see the move");
});

test("topKKd rejects bad shapes, dtypes and options", () => {
  const s = t2(S6);
  const idx = tf.tensor2d([[0, 1], [2, 3], [4, 5]], undefined, "int32");
  const lp = tf.fill([3, 2], -1) as tf.Tensor2D;
  assert.throws(() => topKKd(s, tf.cast(idx, "float32") as tf.Tensor2D, lp, { temperature: 1, tail: "bucket" }), /topIndices must be an int32 tensor/);
  assert.throws(() => topKKd(s, idx, tf.fill([3, 3], -1) as tf.Tensor2D, { temperature: 1, tail: "bucket" }), /topIndices shape \[3, 2\] and topLogprobs shape \[3, 3\]/);
  assert.throws(() => topKKd(s, tf.zeros([2, 2], "int32") as tf.Tensor2D, tf.zeros([2, 2]) as tf.Tensor2D, { temperature: 1, tail: "bucket" }), /topIndices shape \[2, 2\] does not fit student logits shape \[3, 6\]/);
  assert.throws(() => topKKd(s, idx, lp, { temperature: 0, tail: "bucket" }), /temperature must be a finite number > 0/);
  assert.throws(() => topKKd(s, idx, lp, { temperature: 1, tail: "none" as TopKTail }), /tail must be "uniform" or "bucket"/);
  tf.dispose([s, idx, lp]);
});

test("response losses leak no tensors", () => {
  const s = t2(S6);
  const t = t2(T6);
  const y = tf.tensor1d([0, 1, 2], "int32");
  const { idx, lp } = topK(T6, 3);
  const idxT = tf.tensor2d(idx, undefined, "int32");
  const lpT = t2(lp);
  const before = tf.memory().numTensors;
  const outs = [
    logitMse(s, t),
    dkdLoss(s, t, y),
    distLoss(s, t),
    generalizedJsd(s, t, { beta: 0.3 }),
    generalizedJsd(s, t, { beta: 0 }),
    topKKd(s, idxT, lpT, { temperature: 2, tail: "uniform" }),
    topKKd(s, idxT, lpT, { temperature: 2, tail: "bucket" }),
  ];
  assert.equal(tf.memory().numTensors, before + outs.length);
  tf.dispose(outs);
  tf.dispose([s, t, y, idxT, lpT]);
});

test("response losses agree on the cpu backend (values and gradients) and stay finite at large logits", async () => {
  const { idx, lp } = topK(T6, 3);
  const cases: [string, (s: tf.Tensor2D) => tf.Scalar][] = [
    ["logitMse", (s) => logitMse(s, t2(T6))],
    ["dkd", (s) => dkdLoss(s, t2(T6), tf.tensor1d([0, 3, 5], "int32"))],
    ["dist", (s) => distLoss(s, t2(T6), { tau: 2 })],
    ["gjsd", (s) => generalizedJsd(s, t2(T6), { beta: 0.3, temperature: 2 })],
    ["topk uniform", (s) => topKKd(s, tf.tensor2d(idx, undefined, "int32"), t2(lp), { temperature: 2, tail: "uniform" })],
    ["topk bucket", (s) => topKKd(s, tf.tensor2d(idx, undefined, "int32"), t2(lp), { temperature: 2, tail: "bucket" })],
  ];
  const run = () => cases.map(([, f]) => [tfValue(() => f(t2(S6))), ...tfGrad((x) => f(x as tf.Tensor2D), S6.flat(), [B, C6])]);
  const wasm = run();
  await tf.setBackend("cpu");
  try {
    const cpu = run();
    cases.forEach(([name], i) => assertAllClose(cpu[i], wasm[i], { rtol: 1e-4, atolScale: 1e-5, what: `cpu vs wasm: ${name}` }));
  } finally {
    await tf.setBackend("wasm");
  }
  const big = f32Rows([
    [80, -80, 0, 10, -30, 5],
    [-90, 0, 95, 3, 2, -60],
    [0, 0, 0, 0, 0, 100],
  ]);
  const bigT = f32Rows([
    [-70, 60, 0, 10, -30, 5],
    [-90, 40, -95, 3, 2, -60],
    [100, 0, 0, 0, 0, -100],
  ]);
  const tk = topK(bigT, 2);
  const bigCases: [string, (s: tf.Tensor2D) => tf.Scalar][] = [
    ["gjsd", (s) => generalizedJsd(s, t2(bigT), { beta: 0.5 })],
    ["topk uniform", (s) => topKKd(s, tf.tensor2d(tk.idx, undefined, "int32"), t2(tk.lp), { temperature: 1, tail: "uniform" })],
    ["topk bucket", (s) => topKKd(s, tf.tensor2d(tk.idx, undefined, "int32"), t2(tk.lp), { temperature: 1, tail: "bucket" })],
    ["dist", (s) => distLoss(s, t2(bigT))],
  ];
  for (const [name, f] of bigCases) {
    for (const v of [tfValue(() => f(t2(big))), ...tfGrad((x) => f(x as tf.Tensor2D), big.flat(), [3, 6])]) assert.ok(Number.isFinite(v), `${name}: ${v} at large logits`);
  }
  assertAllClose(tfValue(() => bigCases[0][1](t2(big))), refGjsd(big, bigT, 0.5, 1), { rtol: 1e-4, what: "gjsd large logits" });
  assertAllClose(tfValue(() => bigCases[2][1](t2(big))), refTopK(big, tk.idx, tk.lp, 1, "bucket"), { rtol: 1e-4, what: "topk bucket large logits" });
});
