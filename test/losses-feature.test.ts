// Feature-based losses (src/losses/feature.ts) against float64 plain-JS references written from the formulas.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { useBackend } from "../src/engine/backend.js";
import { attentionTransfer, cosineHidden, fitnetsHint, pktLoss, projectConv1x1, projectLinear } from "../src/losses/feature.js";
import { assertAllClose } from "./helpers.js";
import { type Rows, chunk, dot, fdGrad, mean, norm, randFlat, randRows, tfGrad, tfValue } from "./losses-ref.js";

await useBackend("wasm", { fallback: false });

const sum = (a: number[]) => a.reduce((s, v) => s + v, 0);
const t2 = (rows: Rows) => tf.tensor2d(rows);

/** FD (float64, reference on the flat values) vs tf.grad (float32) in one argument. */
function checkGrad(what: string, ref: (x: number[]) => number, lossOf: (x: tf.Tensor) => tf.Tensor, x: number[], shape: number[]): void {
  const fd = fdGrad(ref, x);
  const got = tfGrad(lossOf, x, shape);
  assertAllClose(got, fd, { rtol: 1e-3, atolScale: 1e-3, what: `${what}: tf.grad vs float64 FD` });
}

function assertNearZero(values: number[] | number, tol: number, what: string): void {
  for (const v of typeof values === "number" ? [values] : values) assert.ok(Math.abs(v) <= tol, `${what}: ${v} (|·| > ${tol})`);
}

// ---- FitNets and the projectors -----------------------------------------------------------------------------

const refHint = (s: Rows, t: Rows) => mean(s.map((r, i) => 0.5 * sum(r.map((v, j) => (t[i][j] - v) ** 2))));

/** x [N, din]·W [din, dout] + b. */
function refLinear(x: Rows, W: Rows, b: number[] | null): Rows {
  return x.map((r) => W[0].map((_, o) => sum(r.map((v, i) => v * W[i][o])) + (b ? b[o] : 0)));
}

test("fitnetsHint: golden value (2-D and NHWC), FD gradient, zero at equality, shape errors", () => {
  const S = randRows(3, 4, 1);
  const T = randRows(3, 4, 2);
  assertAllClose(tfValue(() => fitnetsHint(t2(S), t2(T))), refHint(S, T), { rtol: 1e-5, what: "hint 2-D" });
  checkGrad("hint", (x) => refHint(chunk(x, 4), T), (x) => fitnetsHint(x, t2(T)), S.flat(), [3, 4]);
  // A [2, 2, 2, 3] map is flattened per sample: 12 features.
  const m1 = randFlat(24, 3);
  const m2 = randFlat(24, 4);
  assertAllClose(tfValue(() => fitnetsHint(tf.tensor4d(m1, [2, 2, 2, 3]), tf.tensor4d(m2, [2, 2, 2, 3]))), refHint(chunk(m1, 12), chunk(m2, 12)), { rtol: 1e-5, what: "hint NHWC" });
  assertNearZero(tfValue(() => fitnetsHint(t2(T), t2(T))), 0, "hint(t, t)");
  assertNearZero(tfGrad((x) => fitnetsHint(x, t2(T)), T.flat(), [3, 4]), 0, "hint grad at equality");
  assert.throws(() => fitnetsHint(tf.zeros([3, 4]), tf.zeros([3, 5])), /fitnetsHint: projected student shape \[3, 4\] and teacher shape \[3, 5\] must be equal/);
});

test("projectLinear / projectConv1x1: golden values, FD gradients through a hint loss, shape errors", () => {
  const X = randRows(3, 4, 5);
  const W = randRows(4, 2, 6);
  const b = randFlat(2, 7);
  const target = randRows(3, 2, 8);
  const got = tf.tidy(() => Array.from(projectLinear(t2(X), t2(W), tf.tensor1d(b)).dataSync()));
  assertAllClose(got, refLinear(X, W, b).flat(), { rtol: 1e-5, what: "projectLinear" });
  const noBias = tf.tidy(() => Array.from(projectLinear(t2(X), t2(W)).dataSync()));
  assertAllClose(noBias, refLinear(X, W, null).flat(), { rtol: 1e-5, what: "projectLinear without bias" });
  // Gradients of hint(r(x), target) in x, W and b.
  const hintOf = (x: Rows, w: Rows, bb: number[]) => refHint(refLinear(x, w, bb), target);
  checkGrad("linear dx", (x) => hintOf(chunk(x, 4), W, b), (x) => fitnetsHint(projectLinear(x as tf.Tensor2D, t2(W), tf.tensor1d(b)), t2(target)), X.flat(), [3, 4]);
  checkGrad("linear dW", (w) => hintOf(X, chunk(w, 2), b), (w) => fitnetsHint(projectLinear(t2(X), w as tf.Tensor2D, tf.tensor1d(b)), t2(target)), W.flat(), [4, 2]);
  checkGrad("linear db", (bb) => hintOf(X, W, bb), (bb) => fitnetsHint(projectLinear(t2(X), t2(W), bb as tf.Tensor1D), t2(target)), b, [2]);

  // 1×1 conv on NHWC [2, 2, 3, 4] → [2, 2, 3, 2]: the same linear map at every position; equals tf.conv2d.
  const xm = randFlat(2 * 2 * 3 * 4, 9);
  const Wc = randRows(4, 2, 10);
  const bc = randFlat(2, 11);
  const refConv = refLinear(chunk(xm, 4), Wc, bc).flat();
  const conv = tf.tidy(() => Array.from(projectConv1x1(tf.tensor4d(xm, [2, 2, 3, 4]), t2(Wc), tf.tensor1d(bc)).dataSync()));
  assertAllClose(conv, refConv, { rtol: 1e-5, what: "projectConv1x1" });
  const conv4 = tf.tidy(() => Array.from(projectConv1x1(tf.tensor4d(xm, [2, 2, 3, 4]), tf.tensor4d(Wc.flat(), [1, 1, 4, 2]), tf.tensor1d(bc)).dataSync()));
  assertAllClose(conv4, refConv, { rtol: 1e-5, what: "projectConv1x1 with a [1, 1, Cin, Cout] filter" });
  const viaConv2d = tf.tidy(() => Array.from(tf.add(tf.conv2d(tf.tensor4d(xm, [2, 2, 3, 4]), tf.tensor4d(Wc.flat(), [1, 1, 4, 2]), 1, "valid"), tf.tensor1d(bc)).dataSync()));
  assertAllClose(conv, viaConv2d, { rtol: 1e-5, what: "projectConv1x1 vs tf.conv2d" });
  const tgt = randFlat(2 * 2 * 3 * 2, 12);
  const convHint = (x: number[], w: Rows) => refHint(chunk(refLinear(chunk(x, 4), w, bc).flat(), 12), chunk(tgt, 12));
  checkGrad("conv1x1 dx", (x) => convHint(x, Wc), (x) => fitnetsHint(projectConv1x1(x as tf.Tensor4D, t2(Wc), tf.tensor1d(bc)), tf.tensor4d(tgt, [2, 2, 3, 2])), xm, [2, 2, 3, 4]);
  checkGrad("conv1x1 dW", (w) => convHint(xm, chunk(w, 2)), (w) => fitnetsHint(projectConv1x1(tf.tensor4d(xm, [2, 2, 3, 4]), w as tf.Tensor2D, tf.tensor1d(bc)), tf.tensor4d(tgt, [2, 2, 3, 2])), Wc.flat(), [4, 2]);

  assert.throws(() => projectLinear(tf.zeros([3, 4]) as tf.Tensor2D, tf.zeros([5, 2]) as tf.Tensor2D), /projectLinear: x shape \[3, 4\] does not fit W shape \[5, 2\]/);
  assert.throws(() => projectLinear(tf.zeros([3, 4]) as tf.Tensor2D, tf.zeros([4, 2]) as tf.Tensor2D, tf.zeros([3]) as tf.Tensor1D), /bias shape \[3\] does not fit W shape \[4, 2\]/);
  assert.throws(() => projectConv1x1(tf.zeros([1, 2, 2, 3]) as tf.Tensor4D, tf.zeros([4, 2]) as tf.Tensor2D), /x shape \[1, 2, 2, 3\] does not fit W shape \[4, 2\]/);
  assert.throws(() => projectConv1x1(tf.zeros([1, 2, 2, 3]) as tf.Tensor4D, tf.zeros([3, 3, 3, 2]) as tf.Tensor4D), /1×1 filter/);
});

// ---- Attention transfer -------------------------------------------------------------------------------------

/** NHWC flat values → per-sample normalised attention vectors (length H·W). */
function refAttention(a: number[], [B, H, W, Cc]: number[], p: number): Rows {
  const out: Rows = [];
  for (let i = 0; i < B; i++) {
    const q: number[] = [];
    for (let hw = 0; hw < H * W; hw++) {
      let s = 0;
      for (let c = 0; c < Cc; c++) s += Math.abs(a[(i * H * W + hw) * Cc + c]) ** p;
      q.push(s);
    }
    const n = Math.max(norm(q), 1e-12);
    out.push(q.map((v) => v / n));
  }
  return out;
}
function refAt(fs: number[], sShape: number[], ft: number[], tShape: number[], p: number): number {
  const qs = refAttention(fs, sShape, p);
  const qt = refAttention(ft, tShape, p);
  return mean(qs.flatMap((r, i) => r.map((v, j) => (v - qt[i][j]) ** 2)));
}

const SH = [2, 3, 3, 4];
const TH = [2, 3, 3, 6];
const FS = randFlat(2 * 3 * 3 * 4, 21, -1.5, 1.5);
const FT = randFlat(2 * 3 * 3 * 6, 22, -1.5, 1.5);
const at = (fs: tf.Tensor, ft: number[], p: number) => attentionTransfer(fs as tf.Tensor4D, tf.tensor4d(ft, TH as [number, number, number, number]), { p });

test("attentionTransfer: golden values (p = 1, 2, 3; channels differ) and FD gradients", () => {
  for (const p of [1, 2, 3]) {
    assertAllClose(tfValue(() => at(tf.tensor4d(FS, SH as [number, number, number, number]), FT, p)), refAt(FS, SH, FT, TH, p), { rtol: 1e-5, atol: 1e-9, what: `AT p=${p}` });
  }
  assertAllClose(tfValue(() => attentionTransfer(tf.tensor4d(FS, [2, 3, 3, 4]), tf.tensor4d(FT, [2, 3, 3, 6]))), refAt(FS, SH, FT, TH, 2), { rtol: 1e-5, what: "AT default p = 2" });
  for (const p of [2, 3]) {
    checkGrad(`AT p=${p}`, (x) => refAt(x, SH, FT, TH, p), (x) => at(x, FT, p), FS, SH);
  }
});

test("attentionTransfer: 0 at equality, invariant to positive scaling of either map, errors name the shapes", () => {
  const ftT = () => tf.tensor4d(FT, [2, 3, 3, 6]);
  assertNearZero(tfValue(() => attentionTransfer(ftT(), ftT())), 1e-7, "AT(t, t)");
  assertNearZero(tfGrad((x) => attentionTransfer(x as tf.Tensor4D, ftT()), FT, TH), 1e-6, "AT grad at equality");
  const base = tfValue(() => at(tf.tensor4d(FS, [2, 3, 3, 4]), FT, 2));
  for (const c of [0.01, 3, 250]) {
    const scaledS = FS.map((v) => Math.fround(c * v));
    const scaledT = FT.map((v) => Math.fround(c * v));
    for (const p of [2, 3]) {
      const b = tfValue(() => at(tf.tensor4d(FS, [2, 3, 3, 4]), FT, p));
      assertAllClose(tfValue(() => at(tf.tensor4d(scaledS, [2, 3, 3, 4]), FT, p)), b, { rtol: 1e-4, atol: 1e-8, what: `student ×${c}, p=${p}` });
      assertAllClose(tfValue(() => at(tf.tensor4d(FS, [2, 3, 3, 4]), scaledT, p)), b, { rtol: 1e-4, atol: 1e-8, what: `teacher ×${c}, p=${p}` });
    }
  }
  // Sign flips change nothing either (|A|^p).
  assertAllClose(tfValue(() => at(tf.tensor4d(FS.map((v) => -v), [2, 3, 3, 4]), FT, 2)), base, { rtol: 1e-6, what: "student negated" });
  assert.throws(
    () => attentionTransfer(tf.zeros([2, 4, 4, 3]) as tf.Tensor4D, tf.zeros([2, 2, 2, 8]) as tf.Tensor4D),
    /attentionTransfer: student map \[2, 4, 4, 3\] and teacher map \[2, 2, 2, 8\] \(NHWC\) need the same batch and spatial size \(got 4×4 vs 2×2\)/,
  );
  assert.throws(() => attentionTransfer(tf.zeros([2, 4, 3]) as unknown as tf.Tensor4D, tf.zeros([2, 4, 4, 3]) as tf.Tensor4D), /rank 4, got shape \[2, 4, 3\]/);
  assert.throws(() => attentionTransfer(tf.zeros([1, 2, 2, 1]) as tf.Tensor4D, tf.zeros([1, 2, 2, 1]) as tf.Tensor4D, { p: 0 }), /p must be a finite number > 0/);
  // All-zero maps stay finite (F.normalize's clamp), gradient included.
  const zeros = new Array(2 * 3 * 3 * 4).fill(0);
  assert.ok(Number.isFinite(tfValue(() => attentionTransfer(tf.tensor4d(zeros, [2, 3, 3, 4]), ftT()))));
  for (const g of tfGrad((x) => attentionTransfer(x as tf.Tensor4D, ftT()), zeros, SH)) assert.ok(Number.isFinite(g), `grad ${g} at a zero map`);
});

// ---- PKT ----------------------------------------------------------------------------------------------------

function refPkt(fs: Rows, ft: Rows, eps = 1e-7): number {
  const cond = (f: Rows) => {
    const xn = f.map((r) => r.map((v) => v / (norm(r) + eps)));
    const k = xn.map((a) => xn.map((b) => (dot(a, b) + 1) / 2));
    return k.map((r) => r.map((v) => v / sum(r)));
  };
  const ps = cond(fs);
  const pt = cond(ft);
  return mean(pt.map((r, i) => sum(r.map((v, j) => v * Math.log((v + eps) / (ps[i][j] + eps))))));
}

test("pktLoss: golden values (widths differ), FD gradient, 0 at equality, scale invariance, errors", () => {
  const S = randRows(4, 3, 31);
  const T = randRows(4, 5, 32);
  assertAllClose(tfValue(() => pktLoss(t2(S), t2(T))), refPkt(S, T), { rtol: 1e-5, atol: 1e-9, what: "PKT" });
  assertAllClose(tfValue(() => pktLoss(t2(S), t2(T), { eps: 1e-4 })), refPkt(S, T, 1e-4), { rtol: 1e-5, atol: 1e-9, what: "PKT eps=1e-4" });
  checkGrad("PKT", (x) => refPkt(chunk(x, 3), T), (x) => pktLoss(x, t2(T)), S.flat(), [4, 3]);
  // NHWC features are flattened per sample.
  const m = randFlat(4 * 2 * 2 * 2, 33);
  assertAllClose(tfValue(() => pktLoss(tf.tensor4d(m, [4, 2, 2, 2]), t2(T))), refPkt(chunk(m, 8), T), { rtol: 1e-5, atol: 1e-9, what: "PKT NHWC" });
  assertNearZero(tfValue(() => pktLoss(t2(T), t2(T))), 1e-6, "PKT(t, t)");
  assertNearZero(tfGrad((x) => pktLoss(x, t2(T)), T.flat(), [4, 5]), 1e-5, "PKT grad at equality");
  // Cosine kernel: scaling any sample's feature by a positive constant changes nothing.
  const scaled = S.map((r, i) => r.map((v) => Math.fround(v * [0.1, 2, 7, 1][i])));
  assertAllClose(tfValue(() => pktLoss(t2(scaled), t2(T))), tfValue(() => pktLoss(t2(S), t2(T))), { rtol: 1e-5, atol: 1e-8, what: "PKT per-sample scaling" });
  assert.throws(() => pktLoss(tf.zeros([4, 3]), tf.zeros([5, 3])), /pktLoss: student shape \[4, 3\] and teacher shape \[5, 3\] need the same batch size/);
});

// ---- cosine on hidden states --------------------------------------------------------------------------------

function refCosine(hs: number[], ht: number[], d: number): number {
  const a = chunk(hs, d);
  const b = chunk(ht, d);
  return mean(a.map((r, i) => 1 - dot(r, b[i]) / Math.sqrt((dot(r, r) + 1e-12) * (dot(b[i], b[i]) + 1e-12))));
}

test("cosineHidden: golden values ([B, L, d] and [B, d]), FD gradient, 0 at equality, scale invariance, shape errors", () => {
  const hs = randFlat(2 * 3 * 4, 41);
  const ht = randFlat(2 * 3 * 4, 42);
  assertAllClose(tfValue(() => cosineHidden(tf.tensor3d(hs, [2, 3, 4]), tf.tensor3d(ht, [2, 3, 4]))), refCosine(hs, ht, 4), { rtol: 1e-5, what: "cos [2, 3, 4]" });
  assertAllClose(tfValue(() => cosineHidden(tf.tensor2d(hs, [6, 4]), tf.tensor2d(ht, [6, 4]))), refCosine(hs, ht, 4), { rtol: 1e-5, what: "cos [6, 4]" });
  checkGrad("cosine", (x) => refCosine(x, ht, 4), (x) => cosineHidden(x, tf.tensor3d(ht, [2, 3, 4])), hs, [2, 3, 4]);
  assertNearZero(tfValue(() => cosineHidden(tf.tensor3d(ht, [2, 3, 4]), tf.tensor3d(ht, [2, 3, 4]))), 1e-6, "cos(t, t)");
  assertNearZero(tfGrad((x) => cosineHidden(x, tf.tensor3d(ht, [2, 3, 4])), ht, [2, 3, 4]), 1e-5, "cos grad at equality");
  const scaled = chunk(hs, 4).flatMap((r, i) => r.map((v) => Math.fround(v * (0.5 + i))));
  assertAllClose(tfValue(() => cosineHidden(tf.tensor3d(scaled, [2, 3, 4]), tf.tensor3d(ht, [2, 3, 4]))), refCosine(hs, ht, 4), { rtol: 1e-5, what: "cos after per-vector scaling" });
  // Opposite vectors: 2.
  assertAllClose(tfValue(() => cosineHidden(tf.tensor2d(ht, [6, 4]), tf.tensor2d(ht.map((v) => -v), [6, 4]))), 2, { rtol: 1e-6, what: "cos(h, −h)" });
  assert.throws(() => cosineHidden(tf.zeros([2, 3, 4]), tf.zeros([2, 3, 8])), /cosineHidden: student shape \[2, 3, 4\] and teacher shape \[2, 3, 8\] must be equal/);
  assert.throws(() => cosineHidden(tf.zeros([4]), tf.zeros([4])), /rank ≥ 2/);
});

test("feature losses leak no tensors", () => {
  const a = tf.tensor4d(FS, [2, 3, 3, 4]);
  const b = tf.tensor4d(FT, [2, 3, 3, 6]);
  const w = tf.tensor2d(randRows(4, 6, 50));
  const before = tf.memory().numTensors;
  const outs = [fitnetsHint(projectConv1x1(a, w), b), attentionTransfer(a, b, { p: 3 }), pktLoss(a, b), cosineHidden(a, a)];
  // projectConv1x1's output is an extra live tensor until disposed.
  assert.equal(tf.memory().numTensors, before + outs.length + 1);
  tf.dispose(outs);
  tf.dispose([a, b, w]);
});

test("feature losses agree on the cpu backend (values and gradients)", async () => {
  const tt = () => tf.tensor4d(FT, [2, 3, 3, 6]);
  const w = randRows(4, 6, 51);
  const cases: [string, (s: tf.Tensor) => tf.Scalar][] = [
    ["hint + conv1x1", (s) => fitnetsHint(projectConv1x1(s as tf.Tensor4D, t2(w)), tt())],
    ["at", (s) => attentionTransfer(s as tf.Tensor4D, tt(), { p: 3 })],
    ["pkt", (s) => pktLoss(s, tt())],
    ["cosine", (s) => cosineHidden(s, tf.tensor4d(FS.map((v) => v * v - 0.3), [2, 3, 3, 4]))],
  ];
  const run = () => cases.map(([, f]) => [tfValue(() => f(tf.tensor4d(FS, [2, 3, 3, 4]))), ...tfGrad(f, FS, SH)]);
  const wasm = run();
  await tf.setBackend("cpu");
  try {
    const cpu = run();
    cases.forEach(([name], i) => assertAllClose(cpu[i], wasm[i], { rtol: 1e-4, atolScale: 1e-5, what: `cpu vs wasm: ${name}` }));
  } finally {
    await tf.setBackend("wasm");
  }
});
