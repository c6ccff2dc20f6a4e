// The native backend's transformer kernels against tfjs-backend-cpu: TF.js's Softmax, Transpose, GatherV2,
// UnsortedSegmentSum and Max (checked to run in the addon, not handed to cpu), and the native-only kernels behind
// src/engine/sequence-ops.ts (attention softmax, LayerNorm, GELU, forward and backward) against the same ops composed
// of tf ops on cpu. Tiny, odd and large shapes; results that must not depend on the thread count.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { Rng } from "../src/util/rng.js";
import { Worker } from "node:worker_threads";
import { NATIVE_ADDON_PATH, nativeAddon } from "../src/engine/native-addon.js";
import { fallbackCounts } from "../src/engine/native-util.js";
import { attentionSoftmax, gelu, layerNorm } from "../src/engine/sequence-ops.js";
import { assertClose, assertNativeLoaded, nativeTestOptions, randomArray, runOn } from "./native-helpers.js";

const rng = new Rng(13, "native-sequence");
const size = (shape: number[]) => shape.reduce((p, q) => p * q, 1);

async function noFallback(names: string[], body: () => Promise<void>, allowed: Record<string, number> = {}): Promise<void> {
  fallbackCounts.clear();
  await body();
  for (const name of names) assert.equal(fallbackCounts.get(name) ?? 0, allowed[name] ?? 0, `${name}: calls handed to the cpu kernel`);
}

/** Bit-for-bit equality of two float32 arrays (fast for large ones), naming the first element that differs. */
function assertSameBits(actual: Float32Array, expected: Float32Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  if (Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength).equals(Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength))) return;
  const i = actual.findIndex((v, j) => !Object.is(v, expected[j]));
  assert.fail(`${what}: element ${i} is ${actual[i]}, expected ${expected[i]}`);
}

/** Σ of the rows with each id, in row order in float32 (what the addon computes, bit for bit). */
function segmentSum32(x: Float32Array, ids: Int32Array, width: number, segments: number): Float32Array {
  const out = new Float32Array(segments * width);
  ids.forEach((s, r) => {
    if (s < 0 || s >= segments) return;
    for (let c = 0; c < width; c++) out[s * width + c] = Math.fround(out[s * width + c] + x[r * width + c]);
  });
  return out;
}

async function compare(what: string, fn: () => tf.Tensor | tf.Tensor[], { exact = false, rtol = 1e-4 } = {}): Promise<void> {
  const ref = await runOn("cpu", fn);
  const native = await runOn("native", fn);
  ref.forEach((r, i) => {
    if (exact) {
      assert.deepEqual(native[i].shape, r.shape, `${what} [output ${i}]: shape`);
      assertSameBits(native[i].values, r.values, `${what} [output ${i}]`);
    } else assertClose(native[i], r, `${what} [native, output ${i}]`, rtol);
  });
}

test("Softmax over the last axis and its TF.js gradient: tiny, odd, large and extreme logits", nativeTestOptions, async () => {
  assertNativeLoaded();
  await noFallback(["Softmax"], async () => {
    for (const [shape, scale] of [[[1], 1], [[1, 1], 1], [[7, 13], 3], [[3, 5, 64], 1], [[2, 4, 64, 64], 5], [[300, 257], 50]] as [number[], number][]) {
      const x = randomArray(rng, size(shape), scale);
      const w = randomArray(rng, size(shape));
      await compare(`softmax [${shape}] ×${scale}`, () => tf.softmax(tf.tensor(x, shape)));
      await compare(`softmax gradient [${shape}]`, () => tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.softmax(t), tf.tensor(w, shape))))(tf.tensor(x, shape)));
    }
  });
});

test("Transpose: every permutation of ranks 1–5 with unit and odd dims, tiled 2-D and attention layouts, bit for bit", nativeTestOptions, async () => {
  assertNativeLoaded();
  const perms = (n: number): number[][] => (n === 1 ? [[0]] : perms(n - 1).flatMap((p) => Array.from({ length: n }, (_, i) => [...p.slice(0, i), n - 1, ...p.slice(i)])));
  await noFallback(["Transpose"], async () => {
    for (const shape of [[7], [3, 1], [5, 3], [2, 1, 3], [3, 4, 5], [2, 3, 1, 4], [2, 3, 2, 3, 2]]) {
      const x = randomArray(rng, size(shape));
      for (const perm of perms(shape.length)) await compare(`transpose [${shape}] → [${perm}]`, () => tf.transpose(tf.tensor(x, shape), perm), { exact: true });
    }
    for (const [shape, perm] of [[[300, 200], [1, 0]], [[16, 64, 4, 32], [0, 2, 1, 3]], [[16, 4, 64, 32], [0, 2, 1, 3]], [[8, 33, 65], [0, 2, 1]], [[40, 50, 60], [2, 0, 1]], [[64, 96, 64], [2, 0, 1]], [[64, 96, 64], [1, 0, 2]], [[600, 500], [1, 0]]] as [number[], number[]][]) {
      const x = randomArray(rng, size(shape));
      await compare(`transpose [${shape}] → [${perm}]`, () => tf.transpose(tf.tensor(x, shape), perm), { exact: true });
    }
  });
  // int32 stays on cpu.
  await noFallback(["Transpose"], async () => compare("int32 transpose", () => tf.cast(tf.transpose(tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3], "int32")), "float32"), { exact: true }), { Transpose: 1 });
});

test("GatherV2 (axes, batchDims, repeated and rank-2 indices, large) bit for bit; its gradient through UnsortedSegmentSum", nativeTestOptions, async () => {
  assertNativeLoaded();
  const cases: [number[], number[], number, number][] = [
    [[5, 3], [4], 0, 0], [[5, 3], [2, 3], 0, 0], [[4, 6, 2], [5], 1, 0], [[4, 6, 7], [3], 2, 0], [[3, 6, 2], [3, 4], 1, 1], [[1, 1], [1], 0, 0], [[2000, 128], [4096], 0, 0],
  ];
  await noFallback(["GatherV2", "UnsortedSegmentSum"], async () => {
    for (const [xShape, iShape, axis, batchDims] of cases) {
      const x = randomArray(rng, size(xShape));
      const dim = xShape[axis];
      const ids = Int32Array.from({ length: size(iShape) }, (_, i) => (i % 3 === 0 ? 0 : rng.int(dim)));
      const fn = () => tf.gather(tf.tensor(x, xShape), tf.tensor(ids, iShape, "int32"), axis, batchDims);
      const what = `gather x[${xShape}] ids[${iShape}] axis ${axis} batchDims ${batchDims}`;
      await compare(what, fn, { exact: true });
      if (batchDims === 0 && size(xShape) < 1000) {
        const outShape = (await runOn("cpu", fn))[0].shape;
        const w = randomArray(rng, size(outShape));
        await compare(`${what}: gradient`, () => tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.gather(t, tf.tensor(ids, iShape, "int32"), axis), tf.tensor(w, outShape))))(tf.tensor(x, xShape)));
      }
    }
    // Large: cpu's UnsortedSegmentSum makes one pass per segment, so the reference is the scatter-add itself.
    const [vocab, width, n] = [2000, 128, 4096];
    const ids = Int32Array.from({ length: n }, () => rng.int(vocab));
    const dy = randomArray(rng, n * width);
    const [grad] = await runOn("native", () => tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.gather(t, tf.tensor1d(ids, "int32")), tf.tensor(dy, [n, width]))))(tf.zeros([vocab, width])));
    assertSameBits(grad.values, segmentSum32(dy, ids, width, vocab), "gradient of a [2000, 128] gather of 4096 ids");
  });
  // An index out of range: cpu's kernel runs and throws TF.js's message.
  await runOn("native", () => tf.zeros([1]));
  assert.throws(() => tf.tidy(() => tf.gather(tf.zeros([3, 2]), tf.tensor1d([0, 3], "int32"))), /GatherV2: the index value 3 is not in \[0, 2\]/);
});

test("Slice, SplitV and Concat (ranks 1–5, any begin/size/axis, float32 and int32, the q | k | v split and its gradient) are cpu's bit for bit", nativeTestOptions, async () => {
  assertNativeLoaded();
  await noFallback(["Slice", "SplitV", "Concat"], async () => {
    for (const shape of [[7], [5, 6], [2, 3, 4], [3, 1, 4, 5], [2, 3, 1, 4, 3]]) {
      const x = randomArray(rng, size(shape), 2);
      for (let trial = 0; trial < 6; trial++) {
        const begin = shape.map((d) => rng.int(d));
        const sz = shape.map((d, i) => (trial === 0 ? d - begin[i] : trial === 1 ? -1 : 1 + rng.int(d - begin[i])));
        const what = `slice [${shape}] begin [${begin}] size [${sz}]`;
        await compare(what, () => tf.slice(tf.tensor(x, shape), begin, sz), { exact: true });
        await compare(`${what} int32`, () => tf.cast(tf.slice(tf.tensor(Int32Array.from(x, (v) => Math.round(v * 100)), shape, "int32"), begin, sz), "float32"), { exact: true });
      }
      for (let axis = 0; axis < shape.length; axis++) {
        await compare(`split [${shape}] into ${shape[axis]} along ${axis}`, () => tf.split(tf.tensor(x, shape), shape[axis], axis), { exact: true });
        if (shape[axis] >= 3) await compare(`split [${shape}] by sizes along ${axis}`, () => tf.split(tf.tensor(x, shape), [1, -1, 1], axis), { exact: true });
      }
    }
    for (const shapes of [[[3], [4]], [[2, 3], [2, 1], [2, 5]], [[2, 3, 4], [2, 3, 4]], [[2, 0, 3], [2, 2, 3]], [[1, 2, 3, 2], [1, 2, 3, 2], [1, 2, 3, 2]]]) {
      for (let axis = 0; axis < shapes[0].length; axis++) {
        if (!shapes.every((sh) => sh.every((d, i) => i === axis || d === shapes[0][i]))) continue;
        const xs = shapes.map((sh) => randomArray(rng, size(sh)));
        await compare(`concat [${shapes.map((sh) => `[${sh}]`).join(", ")}] along ${axis}`, () => tf.concat(xs.map((x, i) => tf.tensor(x, shapes[i])), axis), { exact: true });
      }
    }
    const qkv = randomArray(rng, 512 * 96);
    await compare("q | k | v split [512, 96] and its gradient", () => [...tf.split(tf.tensor(qkv, [512, 96]), 3, 1), tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.split(t, 3, 1)[1], 2)))(tf.tensor(qkv, [512, 96]))], { exact: true });
  });
});

test("UnsortedSegmentSum: repeated, negative and out-of-range ids, widths 1–300, rank-2 ids, large", nativeTestOptions, async () => {
  assertNativeLoaded();
  await noFallback(["UnsortedSegmentSum"], async () => {
    for (const [rows, inner, segments] of [[1, [1], 1], [6, [1], 4], [9, [3], 5], [50, [300], 7], [20, [2, 5], 6], [4096, [128], 256], [150000, [2], 64]] as [number, number[], number][]) {
      const x = randomArray(rng, rows * size(inner));
      const ids = Int32Array.from({ length: rows }, (_, i) => (i % 7 === 3 ? -1 : i % 11 === 5 ? segments + 2 : rng.int(segments)));
      const fn = () => tf.unsortedSegmentSum(tf.tensor(x, [rows, ...inner]), tf.tensor1d(ids, "int32"), segments);
      const what = `segment sum x[${rows},${inner}] into ${segments}`;
      if (rows * size(inner) * segments < 1e6) await compare(what, fn);
      const [native] = await runOn("native", fn);
      assertSameBits(native.values, segmentSum32(x, ids, size(inner), segments), `${what}: row-order float32 sums`);
    }
    const x = randomArray(rng, 4 * 3 * 5);
    const ids = Int32Array.from([0, 2, 2, 1, 0, 3, 1, 1, 0, 2, 3, 3]);
    // Ids of rank 2 index the two leading dims (TF semantics; tfjs-backend-cpu's kernel fails to broadcast them).
    const [native] = await runOn("native", () => tf.engine().runKernel("UnsortedSegmentSum", { x: tf.tensor(x, [4, 3, 5]), segmentIds: tf.tensor2d(ids, [4, 3], "int32") }, { numSegments: 4 }) as tf.Tensor);
    assert.deepEqual(native.shape, [4, 5]);
    assertSameBits(native.values, segmentSum32(x, ids, 5, 4), "segment sum with ids [4, 3] over x [4, 3, 5]");
  });
});

test("Add, Sub, Multiply, RealDiv on large broadcast shapes (the threaded path) are cpu's bit for bit", nativeTestOptions, async () => {
  assertNativeLoaded();
  const ops = { Add: tf.add, Sub: tf.sub, Multiply: tf.mul, RealDiv: tf.div } as const;
  await noFallback(Object.keys(ops), async () => {
    for (const [aShape, bShape] of [[[600, 512], [512]], [[600, 1], [600, 512]], [[3, 200, 512], [3, 200, 512]]] as [number[], number[]][]) {
      const a = randomArray(rng, size(aShape));
      const b = randomArray(rng, size(bShape));
      for (const [name, op] of Object.entries(ops)) await compare(`${name} [${aShape}] [${bShape}]`, () => op(tf.tensor(a, aShape), tf.tensor(b, bShape)), { exact: true });
    }
  });
});

test("Max over trailing axes is cpu's bit for bit (NaN included); other axes go to cpu", nativeTestOptions, async () => {
  assertNativeLoaded();
  const x = randomArray(rng, 3 * 5 * 7);
  x[17] = NaN;
  await noFallback(["Max"], async () => {
    for (const axis of [2, -1, [1, 2], [0, 1, 2]]) {
      for (const keepDims of [false, true]) await compare(`max axis ${JSON.stringify(axis)} keepDims ${keepDims}`, () => tf.max(tf.tensor3d(x, [3, 5, 7]), axis, keepDims), { exact: true });
    }
    await compare("max axis 0", () => tf.max(tf.tensor3d(x, [3, 5, 7]), 0), { exact: true });
  }, { Max: 1 });
});

test("Exp: within rounding of cpu's from underflow to near overflow, ±∞ and NaN as cpu", nativeTestOptions, async () => {
  assertNativeLoaded();
  const x = Float32Array.from({ length: 100_000 }, (_, i) => -110 + (198 * i) / 100_000);
  await noFallback(["Exp"], async () => {
    const [ref] = await runOn("cpu", () => tf.exp(tf.tensor1d(x)));
    const [native] = await runOn("native", () => tf.exp(tf.tensor1d(x)));
    native.values.forEach((v, i) => {
      const r = ref.values[i];
      // Normal results within one ulp (2^-23 relative); subnormal ones within one subnormal step.
      const ok = r >= 1.2e-38 ? Math.abs(v - r) <= r * 2 ** -23 : Math.abs(v - r) <= 1.5e-45;
      assert.ok(ok, `exp(${x[i]}): native ${v}, cpu ${r}`);
    });
    await compare("exp of ±∞, NaN, ±0", () => tf.exp(tf.tensor1d([Infinity, -Infinity, NaN, 0, -0, 88.7, -103.9])), { exact: true });
  });
});

test("attentionSoftmax, layerNorm and gelu: the native kernels (forward and backward) against the composed ops on cpu", nativeTestOptions, async () => {
  assertNativeLoaded();
  for (const shape of [[1, 1, 1, 1], [2, 3, 5, 7], [4, 4, 32, 64], [2, 1, 3, 300]]) {
    const s = randomArray(rng, size(shape), 4);
    const w = randomArray(rng, size(shape));
    const mask = Float32Array.from({ length: shape[0] * shape[3] }, (_, i) => (i % 5 === 4 ? 0 : 1));
    for (const [scale, causal, withMask] of [[1, false, false], [0.25, true, false], [0.5, false, true], [0.125, true, true]] as const) {
      const op = (t: tf.Tensor) => attentionSoftmax(t, { scale, causal, mask: withMask ? tf.tensor2d(mask, [shape[0], shape[3]]) : undefined });
      const what = `attentionSoftmax [${shape}] scale ${scale} causal ${causal} mask ${withMask}`;
      await compare(what, () => op(tf.tensor(s, shape)));
      await compare(`${what}: gradient`, () => tf.grad((t: tf.Tensor) => tf.sum(tf.mul(op(t), tf.tensor(w, shape))))(tf.tensor(s, shape)));
    }
  }
  // Left padding with a causal mask: the first queries see only padding (every key masked). Each key is masked once
  // whatever the reason, so such rows are uniform over all keys on both backends (and in the ONNX export).
  const left = Float32Array.from([0, 0, 0, 1, 1, 1, 0, 1, 1, 1, 1, 1]);
  for (const causal of [true, false]) {
    const shape = [2, 3, 6, 6];
    const s = randomArray(rng, size(shape), 4);
    await compare(`attentionSoftmax with fully masked rows, causal ${causal}`, () => attentionSoftmax(tf.tensor(s, shape), { scale: 0.5, causal, mask: tf.tensor2d(left, [2, 6]) }));
  }
  const [uniform] = await runOn("native", () => attentionSoftmax(tf.zeros([1, 1, 2, 2]), { causal: true, mask: tf.tensor2d([[0, 0]]) }));
  assert.deepEqual(Array.from(uniform.values), [0.5, 0.5, 0.5, 0.5], "a row with every key masked is uniform over all keys");
  for (const shape of [[1, 1], [3, 7, 13], [1024, 128], [40, 300]]) {
    const d = shape[shape.length - 1];
    const x = randomArray(rng, size(shape), 3);
    const g = randomArray(rng, d);
    const b = randomArray(rng, d);
    const w = randomArray(rng, size(shape));
    const loss = (a: tf.Tensor, c: tf.Tensor, e: tf.Tensor) => tf.sum(tf.mul(layerNorm(a, c as tf.Tensor1D, e as tf.Tensor1D), tf.tensor(w, shape)));
    await compare(`layerNorm [${shape}]`, () => layerNorm(tf.tensor(x, shape), tf.tensor1d(g), tf.tensor1d(b)));
    // A row of width 1 is all zeros after centring: its gradient is ε-dominated, compared with a looser tolerance.
    await compare(`layerNorm [${shape}]: gradients of x, γ, β`, () => tf.grads(loss)([tf.tensor(x, shape), tf.tensor1d(g), tf.tensor1d(b)]), { rtol: d === 1 ? 1e-2 : 1e-4 });
  }
  for (const [shape, scale] of [[[1], 1], [[3, 7, 13], 3], [[256, 512], 4], [[999], 30]] as [number[], number][]) {
    const x = randomArray(rng, size(shape), scale);
    const w = randomArray(rng, size(shape));
    await compare(`gelu [${shape}] ×${scale}`, () => gelu(tf.tensor(x, shape)));
    await compare(`gelu [${shape}] ×${scale}: gradient`, () => tf.grad((t: tf.Tensor) => tf.sum(tf.mul(gelu(t), tf.tensor(w, shape))))(tf.tensor(x, shape)));
  }
});

test("the sequence kernels give the same bits on 1, 2 and 3 threads; products the same bits run after run", nativeTestOptions, async () => {
  assertNativeLoaded();
  const addon = nativeAddon!;
  const threads = addon.blasInfo().threads;
  const shape = [16, 4, 64, 64];
  const s = randomArray(rng, size(shape), 4);
  const w = randomArray(rng, size(shape));
  const x = randomArray(rng, 2048 * 128, 3); // 2^18 elements: the threaded path of every kernel
  const step = () => {
    const sT = tf.tensor(s, shape);
    const xT = tf.tensor(x, [2048, 128]);
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(attentionSoftmax(t, { scale: 0.2, causal: true }), tf.tensor(w, shape))))(sT);
    const [dx, dg] = tf.grads((a: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(gelu(layerNorm(a, c as tf.Tensor1D, tf.zeros([128]) as tf.Tensor1D)), a)))([xT, tf.ones([128])]);
    const ids = tf.tensor1d(Int32Array.from({ length: 2048 }, (_, i) => (i * 7) % 100), "int32");
    const wide = tf.reshape(xT, [32, 64, 128]);
    return [g, dx, dg, tf.transpose(tf.reshape(xT, [32, 64, 4, 32]), [0, 2, 1, 3]), tf.unsortedSegmentSum(xT, ids, 100), tf.gather(xT, ids), tf.add(wide, tf.tensor(x.subarray(0, 32 * 128), [32, 1, 128])), tf.exp(xT), tf.sum(xT, -1)];
  };
  try {
    const runs: Awaited<ReturnType<typeof runOn>>[] = [];
    for (const t of [1, 2, 3]) {
      addon.setThreads(t);
      runs.push(await runOn("native", step));
    }
    for (const r of runs.slice(1)) r.forEach((out, i) => assertSameBits(out.values, runs[0][i].values, `output ${i} on more threads`));
    addon.setThreads(2);
    const product = () => tf.matMul(tf.tensor(x, [2048, 128]), tf.tensor(w.subarray(0, 128 * 512), [128, 512]));
    const [a] = await runOn("native", product);
    const [b] = await runOn("native", product);
    assertSameBits(a.values, b.values, "a product split over 2 threads gives the same bits twice");
  } finally {
    addon.setThreads(threads);
  }
});

// Each worker loads the addon and runs products and softmaxes large enough to go to the thread pool, many times.
const WORKER = `
const { parentPort, workerData: d } = require("node:worker_threads");
const addon = require(d.path);
const c = new Float32Array(d.m * d.n), y = new Float32Array(d.m * d.n);
let first = null;
for (let i = 0; i < d.reps; i++) {
  addon.gemm(false, true, d.m, d.n, d.k, d.a, d.b, c, 1, 0, 0);
  addon.softmax(c, y, d.m, d.n, 0.1, 0, null, 1);
  if (!first) first = [Float32Array.from(c), Float32Array.from(y)];
  else if (!c.every((v, j) => Object.is(v, first[0][j])) || !y.every((v, j) => Object.is(v, first[1][j]))) throw new Error("run " + i + " differs");
}
parentPort.postMessage(first);
`;

test("JS workers sharing the addon (and its thread pool) get the same bits as the main thread", nativeTestOptions, async () => {
  assertNativeLoaded();
  const addon = nativeAddon!;
  const [m, n, k] = [256, 300, 200];
  const a = randomArray(rng, m * k);
  const b = randomArray(rng, n * k);
  const c = new Float32Array(m * n);
  const y = new Float32Array(m * n);
  addon.gemm(false, true, m, n, k, a, b, c, 1, 0, 0);
  addon.softmax(c, y, m, n, 0.1, 0, null, 1);
  const results = await Promise.all(
    Array.from({ length: 3 }, () => new Promise<Float32Array[]>((resolve, reject) => {
      const w = new Worker(WORKER, { eval: true, workerData: { path: NATIVE_ADDON_PATH, m, n, k, a, b, reps: 30 } });
      w.once("message", resolve);
      w.once("error", reject);
    })),
  );
  for (const [wc, wy] of results) {
    assertSameBits(wc, c, "product");
    assertSameBits(wy, y, "softmax");
  }
});
