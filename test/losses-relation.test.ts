// Relation-based losses (src/losses/relation.ts) against float64 plain-JS references written from the formulas.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { useBackend } from "../src/engine/backend.js";
import { CC_DEFAULTS, ccLoss, rkdAngle, rkdDistance, spLoss } from "../src/losses/relation.js";
import { assertAllClose } from "./helpers.js";
import { nativeTestOptions } from "./native-helpers.js";
import { type Rows, chunk, dot, f32Rows, fdGrad, mean, norm, randFlat, randRows, tfGrad, tfValue } from "./losses-ref.js";

await useBackend("wasm", { fallback: false });

const sum = (a: number[]) => a.reduce((s, v) => s + v, 0);
const t2 = (rows: Rows) => tf.tensor2d(rows);
const sub = (a: number[], b: number[]) => a.map((v, i) => v - b[i]);

function checkGrad(what: string, ref: (x: Rows) => number, lossOf: (x: tf.Tensor) => tf.Tensor, x: Rows): void {
  const w = x[0].length;
  const fd = fdGrad((v) => ref(chunk(v, w)), x.flat());
  const got = tfGrad(lossOf, x.flat(), [x.length, w]);
  assertAllClose(got, fd, { rtol: 1e-3, atolScale: 1e-3, what: `${what}: tf.grad vs float64 FD` });
}

function assertNearZero(values: number[] | number, tol: number, what: string): void {
  for (const v of typeof values === "number" ? [values] : values) assert.ok(Math.abs(v) <= tol, `${what}: ${v} (|·| > ${tol})`);
}

const huber = (x: number) => (Math.abs(x) < 1 ? 0.5 * x * x : Math.abs(x) - 0.5);

// ---- references -----------------------------------------------------------------------------------------

/** ψ_D: distances over the mean of the B(B−1) distinct-pair distances (squared distance clamped at 1e-12). */
function psiD(e: Rows): Rows {
  const B = e.length;
  const d = e.map((a, i) => e.map((b, j) => (i === j ? 0 : Math.sqrt(Math.max(dot(sub(a, b), sub(a, b)), 1e-12)))));
  const mu = sum(d.flat()) / (B * (B - 1));
  return d.map((r) => r.map((v) => v / mu));
}
const refRkdD = (es: Rows, et: Rows) => {
  const s = psiD(es);
  const t = psiD(et);
  return mean(s.flatMap((r, i) => r.map((v, j) => huber(v - t[i][j]))));
};

/** ψ_A(i, j, k) = ⟨u(j→i), u(j→k)⟩ with u(j→j) = 0; all B³ entries. */
function psiA(e: Rows): number[] {
  const unit = (j: number, i: number) => {
    const v = sub(e[i], e[j]);
    const n = Math.max(norm(v), 1e-12);
    return v.map((x) => x / n);
  };
  const out: number[] = [];
  for (let j = 0; j < e.length; j++) for (let i = 0; i < e.length; i++) for (let k = 0; k < e.length; k++) out.push(dot(unit(j, i), unit(j, k)));
  return out;
}
const refRkdA = (es: Rows, et: Rows) => {
  const t = psiA(et);
  return mean(psiA(es).map((v, n) => huber(v - t[n])));
};

function gramNormalised(f: Rows): Rows {
  const g = f.map((a) => f.map((b) => dot(a, b)));
  return g.map((r) => r.map((v) => v / Math.max(norm(r), 1e-12)));
}
const refSp = (fs: Rows, ft: Rows) => {
  const gs = gramNormalised(fs);
  const gt = gramNormalised(ft);
  return sum(gs.flatMap((r, i) => r.map((v, j) => (gt[i][j] - v) ** 2))) / fs.length ** 2;
};

function factorial(n: number): number {
  return n <= 1 ? 1 : n * factorial(n - 1);
}
/** C_ij = Σ_{p=0}^{P} e^{−2γ}(2γ)^p/p!·⟨f̂_i, f̂_j⟩^p, or the exact RBF exp(−γ‖f̂_i − f̂_j‖²) when P = "exact". */
function corr(f: Rows, gamma: number, P: number | "exact"): Rows {
  const fn = f.map((r) => r.map((v) => v / Math.max(norm(r), 1e-12)));
  return fn.map((a) =>
    fn.map((b) => {
      if (P === "exact") return Math.exp(-gamma * dot(sub(a, b), sub(a, b)));
      let c = 0;
      for (let p = 0; p <= P; p++) c += (Math.exp(-2 * gamma) * (2 * gamma) ** p * dot(a, b) ** p) / factorial(p);
      return c;
    }),
  );
}
const refCc = (es: Rows, et: Rows, gamma: number, P: number | "exact") => {
  const cs = corr(es, gamma, P);
  const ct = corr(et, gamma, P);
  return mean(cs.flatMap((r, i) => r.map((v, j) => (ct[i][j] - v) ** 2)));
};

// ---- fixtures -------------------------------------------------------------------------------------------

const B = 5;
const ES = randRows(B, 3, 61, -1, 1);
const ET = randRows(B, 4, 62, -2, 2);
// One student sample far away: some normalised distance differences exceed 1 (the Huber's linear branch).
const ES_OUT = f32Rows(ES.map((r, i) => (i === 0 ? r.map((v) => v + 6) : r)));

const scale = (rows: Rows, c: number) => f32Rows(rows.map((r) => r.map((v) => v * c)));

// ---- RKD ------------------------------------------------------------------------------------------------

test("rkdDistance: golden values (both Huber branches), FD gradients", () => {
  for (const [name, es] of [
    ["random", ES],
    ["outlier", ES_OUT],
  ] as [string, Rows][]) {
    assertAllClose(tfValue(() => rkdDistance(t2(es), t2(ET))), refRkdD(es, ET), { rtol: 1e-5, atol: 1e-9, what: `RKD-D ${name}` });
    checkGrad(`RKD-D ${name}`, (x) => refRkdD(x, ET), (x) => rkdDistance(x, t2(ET)), es);
  }
  assert.ok(psiD(ES_OUT).flat().some((v, n) => Math.abs(v - psiD(ET).flat()[n]) > 1), "fixture reaches the linear branch");
  // Averaged over all B² entries: with B = 2 the single distinct pair's ψ is 1 on both sides.
  assertNearZero(tfValue(() => rkdDistance(t2([[0, 0], [3, 4]]), t2([[1, 1, 1], [2, 2, 2]]))), 1e-7, "B = 2");
});

test("rkdAngle: golden values, FD gradients", () => {
  for (const [name, es] of [
    ["random", ES],
    ["outlier", ES_OUT],
  ] as [string, Rows][]) {
    assertAllClose(tfValue(() => rkdAngle(t2(es), t2(ET))), refRkdA(es, ET), { rtol: 1e-5, atol: 1e-9, what: `RKD-A ${name}` });
    checkGrad(`RKD-A ${name}`, (x) => refRkdA(x, ET), (x) => rkdAngle(x, t2(ET)), es);
  }
  // A right angle vs a straight line at the middle vertex, by hand: triplets (0,1,2) and (2,1,0) differ by
  // ψ = 0 vs −1, Huber ½ each; at vertex 0 and 2 the angles are 45° vs 0°: (1, 0, 2), (2, 0, 1), (0, 2, 1), (1, 2, 0)
  // differ by √½ − 1 each. Everything over 3³ = 27 triplets.
  const s = [
    [1, 0],
    [0, 0],
    [0, 1],
  ];
  const t = [
    [1, 0],
    [0, 0],
    [-1, 0],
  ];
  const byHand = (2 * 0.5 + 4 * huber(Math.SQRT1_2 - 1)) / 27;
  assertAllClose(refRkdA(t, s), byHand, { rtol: 1e-12, what: "reference by hand" });
  assertAllClose(tfValue(() => rkdAngle(t2(t), t2(s))), byHand, { rtol: 1e-5, what: "RKD-A by hand" });
});

test("RKD: 0 with 0 gradient at equality; invariant to scaling (both, or the student alone) and translation", () => {
  for (const [name, loss] of [
    ["distance", rkdDistance],
    ["angle", rkdAngle],
  ] as [string, (a: tf.Tensor, b: tf.Tensor) => tf.Scalar][]) {
    assertNearZero(tfValue(() => loss(t2(ET), t2(ET))), 1e-7, `${name}(t, t)`);
    assertNearZero(tfGrad((x) => loss(x, t2(ET)), ET.flat(), [B, 4]), 1e-6, `${name} grad at equality`);
    const base = tfValue(() => loss(t2(ES), t2(ET)));
    for (const c of [0.05, 3, 40]) {
      assertAllClose(tfValue(() => loss(t2(scale(ES, c)), t2(scale(ET, c)))), base, { rtol: 1e-4, atol: 1e-8, what: `${name}: both ×${c}` });
      assertAllClose(tfValue(() => loss(t2(scale(ES, c)), t2(ET))), base, { rtol: 1e-4, atol: 1e-8, what: `${name}: student ×${c}` });
    }
    const moved = f32Rows(ES.map((r) => r.map((v, j) => v + [5, -2, 0.5][j])));
    assertAllClose(tfValue(() => loss(t2(moved), t2(ET))), base, { rtol: 1e-4, atol: 1e-8, what: `${name}: student translated` });
  }
  assert.throws(() => rkdDistance(tf.zeros([1, 3]), tf.zeros([1, 3])), /rkdDistance: needs a batch of at least 2/);
  assert.throws(() => rkdAngle(tf.zeros([4, 3]), tf.zeros([5, 3])), /rkdAngle: student shape \[4, 3\] and teacher shape \[5, 3\] need the same batch size/);
  // Coincident samples: finite values and gradients (clamped distances, F.normalize-style unit vectors).
  const dup = [ES[0], ES[0], ES[1], ES[2]];
  for (const loss of [rkdDistance, rkdAngle]) {
    assert.ok(Number.isFinite(tfValue(() => loss(t2(dup), t2(ET.slice(0, 4))))));
    for (const g of tfGrad((x) => loss(x, t2(ET.slice(0, 4))), dup.flat(), [4, 3])) assert.ok(Number.isFinite(g), `grad ${g} with coincident samples`);
  }
});

test("RKD: teacher-side gradients, a batch of 12 with coincident student rows, against the float64 reference", () => {
  const es = randRows(12, 3, 63, -1, 1);
  es[7] = es[3].slice(); // coincident on the student side only: its unit vectors there are 0
  const et = randRows(12, 5, 64, -2, 2);
  for (const [name, loss, ref] of [
    ["distance", rkdDistance, refRkdD],
    ["angle", rkdAngle, refRkdA],
  ] as const) {
    assertAllClose(tfValue(() => loss(t2(es), t2(et))), ref(es, et), { rtol: 1e-5, atol: 1e-9, what: `${name}, B = 12` });
    checkGrad(`${name} ∂/∂teacher, B = 12`, (x) => ref(es, x), (x) => loss(t2(es), x), et);
    checkGrad(`${name} ∂/∂teacher`, (x) => ref(ES, x), (x) => loss(t2(ES), x), ET);
  }
});

// ---- SP -------------------------------------------------------------------------------------------------

test("spLoss: golden values (NHWC flattened, widths differ), FD gradient, 0 at equality, invariances, errors", () => {
  const fs = randFlat(4 * 2 * 2 * 3, 71);
  const ft = randRows(4, 5, 72);
  const fsRows = chunk(fs, 12);
  assertAllClose(tfValue(() => spLoss(tf.tensor4d(fs, [4, 2, 2, 3]), t2(ft))), refSp(fsRows, ft), { rtol: 1e-5, atol: 1e-9, what: "SP" });
  checkGrad("SP", (x) => refSp(x, ft), (x) => spLoss(x, t2(ft)), fsRows);
  assertNearZero(tfValue(() => spLoss(t2(ft), t2(ft))), 1e-7, "SP(t, t)");
  assertNearZero(tfGrad((x) => spLoss(x, t2(ft)), ft.flat(), [4, 5]), 1e-6, "SP grad at equality");
  const base = tfValue(() => spLoss(t2(fsRows), t2(ft)));
  // Permuting the feature dimension leaves Q·Qᵀ unchanged, for either side.
  const perm = [7, 2, 11, 0, 5, 9, 1, 3, 10, 4, 8, 6];
  assertAllClose(tfValue(() => spLoss(t2(fsRows.map((r) => perm.map((p) => r[p]))), t2(ft))), base, { rtol: 1e-5, atol: 1e-9, what: "student features permuted" });
  assertAllClose(tfValue(() => spLoss(t2(fsRows), t2(ft.map((r) => [r[3], r[0], r[4], r[1], r[2]])))), base, { rtol: 1e-5, atol: 1e-9, what: "teacher features permuted" });
  assertAllClose(tfValue(() => spLoss(t2(scale(fsRows, 25)), t2(ft))), base, { rtol: 1e-5, atol: 1e-9, what: "student scaled" });
  assert.throws(() => spLoss(tf.zeros([4, 3]), tf.zeros([3, 3])), /spLoss: student shape \[4, 3\] and teacher shape \[3, 3\] need the same batch size/);
});

// ---- CC -------------------------------------------------------------------------------------------------

test("ccLoss: golden values over γ and order, FD gradients, the exact-RBF limit", () => {
  for (const gamma of [0.4, 1.5]) {
    for (const order of [0, 1, 2, 4]) {
      const got = tfValue(() => ccLoss(t2(ES), t2(ET), { gamma, order }));
      if (order === 0) {
        assertNearZero(got, 1e-9, "order 0 is a constant kernel");
        continue;
      }
      assertAllClose(got, refCc(ES, ET, gamma, order), { rtol: 1e-5, atol: 1e-10, what: `CC γ=${gamma} P=${order}` });
      checkGrad(`CC γ=${gamma} P=${order}`, (x) => refCc(x, ET, gamma, order), (x) => ccLoss(x, t2(ET), { gamma, order }), ES);
    }
  }
  assertAllClose(tfValue(() => ccLoss(t2(ES), t2(ET))), refCc(ES, ET, CC_DEFAULTS.gamma, CC_DEFAULTS.order), { rtol: 1e-5, what: "CC defaults γ=0.4 P=2" });
  // The truncated series tends to the Gaussian RBF of the L2-normalised embeddings.
  assertAllClose(refCc(ES, ET, 0.4, 14), refCc(ES, ET, 0.4, "exact"), { rtol: 1e-10, what: "reference series vs exact RBF" });
  assertAllClose(tfValue(() => ccLoss(t2(ES), t2(ET), { gamma: 0.4, order: 14 })), refCc(ES, ET, 0.4, "exact"), { rtol: 1e-4, atol: 1e-9, what: "CC P=14 vs exact RBF" });
});

test("ccLoss: 0 with 0 gradient at equality, invariant to per-sample positive scaling, errors", () => {
  assertNearZero(tfValue(() => ccLoss(t2(ET), t2(ET))), 1e-9, "CC(t, t)");
  assertNearZero(tfGrad((x) => ccLoss(x, t2(ET)), ET.flat(), [B, 4]), 1e-6, "CC grad at equality");
  const scaled = f32Rows(ES.map((r, i) => r.map((v) => v * (0.2 + 2 * i))));
  assertAllClose(tfValue(() => ccLoss(t2(scaled), t2(ET))), tfValue(() => ccLoss(t2(ES), t2(ET))), { rtol: 1e-4, atol: 1e-10, what: "CC per-sample scaling" });
  assert.throws(() => ccLoss(t2(ES), t2(ET), { gamma: 0 }), /gamma must be a finite number > 0/);
  assert.throws(() => ccLoss(t2(ES), t2(ET), { order: 1.5 }), /order must be an integer ≥ 0/);
  assert.throws(() => ccLoss(tf.zeros([2, 3]), tf.zeros([3, 3])), /ccLoss: student shape \[2, 3\] and teacher shape \[3, 3\] need the same batch size/);
});

test("relation losses leak no tensors", () => {
  const s = t2(ES);
  const t = t2(ET);
  const before = tf.memory().numTensors;
  const outs = [rkdDistance(s, t), rkdAngle(s, t), spLoss(s, t), ccLoss(s, t)];
  assert.equal(tf.memory().numTensors, before + outs.length);
  tf.dispose(outs);
  tf.dispose([s, t]);
});

test("relation losses agree on the cpu backend (values and gradients)", async () => {
  const cases: [string, (s: tf.Tensor) => tf.Scalar][] = [
    ["rkdDistance", (s) => rkdDistance(s, t2(ET))],
    ["rkdAngle", (s) => rkdAngle(s, t2(ET))],
    ["sp", (s) => spLoss(s, t2(ET))],
    ["cc", (s) => ccLoss(s, t2(ET))],
  ];
  const run = () => cases.map(([, f]) => [tfValue(() => f(t2(ES))), ...tfGrad(f, ES.flat(), [B, 3])]);
  const wasm = run();
  await tf.setBackend("cpu");
  try {
    const cpu = run();
    cases.forEach(([name], i) => assertAllClose(cpu[i], wasm[i], { rtol: 1e-4, atolScale: 1e-5, what: `cpu vs wasm: ${name}` }));
    // native multiplies by transposes as BLAS flags (loss-utils' matMulBt) instead of explicit transposes.
    if (!("skip" in nativeTestOptions) && (await useBackend("native", { fallback: false })) === "native") {
      const native = run();
      cases.forEach(([name], i) => assertAllClose(native[i], wasm[i], { rtol: 1e-4, atolScale: 1e-5, what: `native vs wasm: ${name}` }));
    }
  } finally {
    await tf.setBackend("wasm");
  }
});
