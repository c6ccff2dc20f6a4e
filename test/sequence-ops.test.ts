// The transformer ops (src/engine/sequence-ops.ts): values against float64 formulas, gradients against float64
// finite differences of the same formulas, on the cpu and wasm backends and on native (its own kernels).
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { useBackend } from "../src/engine/backend.js";
import { attentionSoftmax, embeddingLookup, gelu, layerNorm, softmax } from "../src/engine/sequence-ops.js";
import { Rng } from "../src/util/rng.js";
import { assertAllClose } from "./helpers.js";
import { nativeTestOptions } from "./native-helpers.js";

await useBackend("cpu", { fallback: false });

const randn = (n: number, rng: Rng, scale = 1) => Float64Array.from({ length: n }, () => rng.normal() * scale);

function gelu64(x: number): number {
  return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
}

/** Float64 LayerNorm of rows of width d: returns y. */
function layerNorm64(x: Float64Array, g: Float64Array, b: Float64Array, d: number, eps = 1e-5): Float64Array {
  const y = new Float64Array(x.length);
  for (let r = 0; r < x.length / d; r++) {
    let mean = 0;
    for (let k = 0; k < d; k++) mean += x[r * d + k] / d;
    let v = 0;
    for (let k = 0; k < d; k++) v += (x[r * d + k] - mean) ** 2 / d;
    for (let k = 0; k < d; k++) y[r * d + k] = ((x[r * d + k] - mean) / Math.sqrt(v + eps)) * g[k] + b[k];
  }
  return y;
}

/** Float64 softmax(s·scale + biases) over rows of k for scores [b, h, q, k]: causal, then padding mask [b, k]. */
function attention64(s: Float64Array, shape: number[], scale: number, causal: boolean, mask: number[] | null): Float64Array {
  const [b, h, q, k] = shape;
  const y = new Float64Array(s.length);
  for (let r = 0; r < b * h * q; r++) {
    const i = r % q;
    const batch = Math.floor(r / (h * q));
    const z = Array.from({ length: k }, (_, j) => s[r * k + j] * scale + (causal && j > i + k - q ? -1e9 : 0) + (mask ? (1 - mask[batch * k + j]) * -1e9 : 0));
    const max = Math.max(...z);
    const e = z.map((v) => Math.exp(v - max));
    const sum = e.reduce((p, v) => p + v, 0);
    e.forEach((v, j) => (y[r * k + j] = v / sum));
  }
  return y;
}

/** Central finite differences of Σ w·f(x) with respect to x. */
function numericGrad(f: (x: Float64Array) => Float64Array, x: Float64Array, w: Float64Array, h = 1e-5): Float64Array {
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const xp = Float64Array.from(x);
    const xm = Float64Array.from(x);
    xp[i] += h;
    xm[i] -= h;
    const fp = f(xp);
    const fm = f(xm);
    let s = 0;
    for (let j = 0; j < w.length; j++) s += w[j] * (fp[j] - fm[j]);
    out[i] = s / (2 * h);
  }
  return out;
}

for (const backend of ["cpu", "wasm", "native"] as const) {
  const options = backend === "native" ? nativeTestOptions : {};
  test(`gelu (tanh form): values and gradient against float64 finite differences (${backend})`, options, async () => {
    await useBackend(backend, { fallback: false });
    const rng = new Rng(1, "gelu");
    const x = randn(24, rng, 2);
    const w = randn(24, rng);
    const f = (v: Float64Array) => v.map(gelu64);
    const [y, dx] = tf.tidy(() => {
      const xt = tf.tensor(Float32Array.from(x), [2, 3, 4]);
      const g = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(gelu(a), tf.tensor(Float32Array.from(w), [2, 3, 4]))))(xt);
      return [gelu(xt).dataSync(), g.dataSync()];
    });
    assertAllClose(Float32Array.from(y), Float32Array.from(f(x)), { atol: 1e-5, what: "gelu values" });
    assertAllClose(Float32Array.from(dx), Float32Array.from(numericGrad(f, x, w)), { atol: 1e-4, what: "gelu gradient" });
  });

  test(`layerNorm: values and gradients of x, γ and β against float64 finite differences (${backend})`, options, async () => {
    await useBackend(backend, { fallback: false });
    const rng = new Rng(2, "layernorm");
    const d = 5;
    const x = randn(3 * d, rng, 3);
    const g = randn(d, rng);
    const b = randn(d, rng);
    const w = randn(3 * d, rng);
    const before = tf.memory().numTensors;
    const out = tf.tidy(() => {
      const [xt, gt, bt] = [tf.tensor(Float32Array.from(x), [3, d]), tf.tensor1d(Float32Array.from(g)), tf.tensor1d(Float32Array.from(b))];
      const wt = tf.tensor(Float32Array.from(w), [3, d]);
      const grads = tf.grads((a: tf.Tensor, c: tf.Tensor, e: tf.Tensor) => tf.sum(tf.mul(layerNorm(a, c as tf.Tensor1D, e as tf.Tensor1D), wt)))([xt, gt, bt]);
      return [layerNorm(xt, gt, bt).dataSync(), ...grads.map((t) => t.dataSync())].map((a) => Float32Array.from(a as Float32Array));
    });
    assert.equal(tf.memory().numTensors, before, "no tensors leak");
    assertAllClose(out[0], Float32Array.from(layerNorm64(x, g, b, d)), { atol: 1e-5, what: "values" });
    assertAllClose(out[1], Float32Array.from(numericGrad((v) => layerNorm64(v, g, b, d), x, w)), { atol: 2e-4, what: "∂x" });
    assertAllClose(out[2], Float32Array.from(numericGrad((v) => layerNorm64(x, v, b, d), g, w)), { atol: 2e-4, what: "∂γ" });
    assertAllClose(out[3], Float32Array.from(numericGrad((v) => layerNorm64(x, g, v, d), b, w)), { atol: 2e-4, what: "∂β" });
  });

  test(`attentionSoftmax (scale, causal with q < k, padding mask) and softmax: values and gradients against float64 finite differences (${backend})`, options, async () => {
    await useBackend(backend, { fallback: false });
    const rng = new Rng(3, "attention");
    const shape = [2, 2, 3, 4];
    const size = 48;
    const s = randn(size, rng, 2);
    const w = randn(size, rng);
    const mask = [1, 1, 1, 1, 0, 1, 1, 0];
    for (const [scale, causal, m] of [[1, false, null], [0.5, true, null], [0.7, false, mask], [0.35, true, mask]] as const) {
      const what = `scale ${scale} causal ${causal} mask ${m !== null}`;
      const before = tf.memory().numTensors;
      const [y, ds] = tf.tidy(() => {
        const st = tf.tensor(Float32Array.from(s), shape);
        const mt = m ? tf.tensor2d(m, [2, 4]) : undefined;
        const op = (a: tf.Tensor) => (scale === 1 && !causal && !m ? softmax(a) : attentionSoftmax(a, { scale, causal, mask: mt }));
        const g = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(op(a), tf.tensor(Float32Array.from(w), shape))))(st);
        return [op(st), g].map((t) => Float32Array.from(t.dataSync() as Float32Array));
      });
      assert.equal(tf.memory().numTensors, before, `${what}: no tensors leak`);
      const f = (v: Float64Array) => attention64(v, shape, scale, causal, m ? [...m] : null);
      assertAllClose(y, Float32Array.from(f(s)), { atol: 1e-6, what: `${what}: values` });
      assertAllClose(ds, Float32Array.from(numericGrad(f, s, w)), { atol: 1e-4, what: `${what}: gradient` });
    }
    // A query whose keys are all masked gets finite weights (no NaN): e^(−1e9) vanishes only relative to another key.
    const allMasked = tf.tidy(() => attentionSoftmax(tf.zeros([1, 1, 2, 2]), { causal: true, mask: tf.tensor2d([[0, 0]]) }).dataSync());
    assert.ok(Array.from(allMasked).every(Number.isFinite), `fully masked rows stay finite: ${Array.from(allMasked)}`);
    // Each key is masked once whether padding, future or both: such a row is uniform over all keys (as in ONNX).
    assert.deepEqual(Array.from(allMasked), [0.5, 0.5, 0.5, 0.5]);
  });

  test(`embeddingLookup: rows by id, repeated ids accumulate into the table's gradient (${backend})`, options, async () => {
    await useBackend(backend, { fallback: false });
    const table = Float32Array.from({ length: 12 }, (_, i) => i);
    const ids = Int32Array.from([2, 0, 2, 3, 2, 1]);
    const [y, dt] = tf.tidy(() => {
      const t = tf.tensor2d(table, [4, 3]);
      const i = tf.tensor2d(ids, [2, 3], "int32");
      const up = tf.tensor(Float32Array.from({ length: 18 }, (_, k) => k + 1), [2, 3, 3]);
      const g = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(embeddingLookup(a as tf.Tensor2D, i), up)))(t);
      return [embeddingLookup(t, i), g].map((v) => Float32Array.from(v.dataSync() as Float32Array));
    });
    assert.deepEqual(Array.from(y.subarray(0, 6)), [6, 7, 8, 0, 1, 2]);
    // row 2 is used at positions 0, 2, 4: upstream rows [1,2,3] + [7,8,9] + [13,14,15].
    assert.deepEqual(Array.from(dt), [4, 5, 6, 16, 17, 18, 21, 24, 27, 10, 11, 12]);
  });
}
