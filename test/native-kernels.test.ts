// Every kernel the native backend replaces (checked to run in the addon, not handed to cpu), against tfjs-backend-cpu's reference kernels over random shapes
// (batch 1, 1×1, odd sizes, every transpose/stride/padding combination), and against wasm where wasm has it.
import { test } from "node:test";
import * as tf from "@tensorflow/tfjs-core";
import assert from "node:assert/strict";
import { Rng } from "../src/util/rng.js";
import { fallbackCounts } from "../src/engine/native-util.js";
import { nativeAddon } from "../src/engine/native-addon.js";
import { assertClose, assertNativeLoaded, nativeTestOptions, randomArray, runOn } from "./native-helpers.js";

const rng = new Rng(7, "native-kernels");
const pick = <T>(xs: T[]): T => xs[Math.floor(rng.next() * xs.length)];
const SIZES = [1, 2, 7, 13, 33, 64];

/** Runs body and checks that the native kernels named ran in the addon, except `allowed` handed to cpu. */
async function noFallback(names: string[], body: () => Promise<void>, allowed: Record<string, number> = {}): Promise<void> {
  fallbackCounts.clear();
  await body();
  for (const name of names) assert.equal(fallbackCounts.get(name) ?? 0, allowed[name] ?? 0, `${name}: calls handed to the cpu kernel`);
}

async function compare(what: string, fn: () => tf.Tensor | tf.Tensor[], alsoWasm = false, refFn = fn): Promise<void> {
  const ref = await runOn("cpu", refFn);
  const native = await runOn("native", fn);
  ref.forEach((r, i) => assertClose(native[i], r, `${what} [native, output ${i}]`));
  if (alsoWasm) {
    const wasm = await runOn("wasm", fn);
    ref.forEach((r, i) => assertClose(wasm[i], r, `${what} [wasm, output ${i}]`, 1e-3));
  }
}

test("BatchMatMul: all transpose combinations, batched and broadcast", nativeTestOptions, async () => {
  assertNativeLoaded();
  await noFallback(["BatchMatMul"], async () => {
  const batches: [number[], number[]][] = [[[], []], [[1], [1]], [[3], [3]], [[3], [1]], [[1], [4]], [[2, 3], [3]], [[2, 1], [1, 2]]];
  for (const [ba, bb] of batches) {
    for (const ta of [false, true]) {
      for (const tb of [false, true]) {
        const [m, n, k] = [pick(SIZES), pick(SIZES), pick(SIZES)];
        const aShape = [...ba, ...(ta ? [k, m] : [m, k])];
        const bShape = [...bb, ...(tb ? [n, k] : [k, n])];
        const a = randomArray(rng, aShape.reduce((p, q) => p * q, 1));
        const b = randomArray(rng, bShape.reduce((p, q) => p * q, 1));
        const fn = () => tf.matMul(tf.tensor(a, aShape), tf.tensor(b, bShape), ta, tb);
        // When both sides broadcast, tfjs-backend-cpu pairs batch i with a[i mod batchA] and b[i mod batchB]
        // (not broadcasting); the reference is then a plain batched product of the explicitly broadcast inputs.
        const batch = ba.map((d, i) => Math.max(d, bb[i] ?? 1));
        const both = ba.some((d, i) => d < batch[i]) && bb.some((d, i) => d < batch[i]);
        const ref = () => tf.matMul(tf.broadcastTo(tf.tensor(a, aShape), [...batch, ...aShape.slice(-2)]), tf.broadcastTo(tf.tensor(b, bShape), [...batch, ...bShape.slice(-2)]), ta, tb);
        await compare(`matMul a[${aShape}]${ta ? "ᵀ" : ""} b[${bShape}]${tb ? "ᵀ" : ""}`, fn, ba.length === 0, both ? ref : fn);
      }
    }
  }
  });
});

test("BatchMatMul split over threads (row blocks, column blocks, slices of k, whole products) matches cpu", nativeTestOptions, async () => {
  assertNativeLoaded();
  const threads = nativeAddon!.blasInfo().threads;
  try {
    for (const t of [2, 3]) {
      nativeAddon!.setThreads(t);
      await noFallback(["BatchMatMul"], async () => {
        // [batch dims, m, n, k]: tall (rows), wide (columns), long k (k slices), odd sizes, batches of products.
        for (const [batch, m, n, k] of [[[], 520, 63, 260], [[], 65, 517, 250], [[], 64, 48, 2100], [[], 33, 17, 9000], [[8], 64, 128, 72], [[3], 300, 200, 40], [[2], 200, 100, 300]] as [number[], number, number, number][]) {
          for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]] as const) {
            const aShape = [...batch, ...(ta ? [k, m] : [m, k])];
            const bShape = [...batch, ...(tb ? [n, k] : [k, n])];
            const a = randomArray(rng, aShape.reduce((p, q) => p * q, 1));
            const b = randomArray(rng, bShape.reduce((p, q) => p * q, 1));
            await compare(`${t} threads: matMul a[${aShape}]${ta ? "ᵀ" : ""} b[${bShape}]${tb ? "ᵀ" : ""}`, () => tf.matMul(tf.tensor(a, aShape), tf.tensor(b, bShape), ta, tb));
          }
        }
      });
    }
  } finally {
    nativeAddon!.setThreads(threads);
  }
});

test("_FusedMatMul: bias + every activation, transposes", nativeTestOptions, async () => {
  assertNativeLoaded();
  await noFallback(["_FusedMatMul"], async () => {
  const activations: tf.fused.Activation[] = ["linear", "relu", "relu6", "elu", "leakyrelu", "sigmoid", "prelu"];
  for (const activation of activations) {
    for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]] as const) {
      const [m, n, k] = [pick(SIZES), pick(SIZES), pick(SIZES)];
      const a = randomArray(rng, m * k, 3);
      const b = randomArray(rng, k * n);
      const bias = randomArray(rng, n);
      const alpha = randomArray(rng, n);
      const withBias = rng.next() < 0.7;
      await compare(`fused.matMul ${activation} m=${m} n=${n} k=${k} ta=${ta} tb=${tb} bias=${withBias}`, () =>
        tf.fused.matMul({
          a: tf.tensor2d(a, ta ? [k, m] : [m, k]),
          b: tf.tensor2d(b, tb ? [n, k] : [k, n]),
          transposeA: ta,
          transposeB: tb,
          bias: withBias ? tf.tensor1d(bias) : undefined,
          activation,
          preluActivationWeights: activation === "prelu" ? tf.tensor1d(alpha) : undefined,
          leakyreluAlpha: 0.15,
        }),
      );
    }
  }
  }, { _FusedMatMul: 4 });
});

interface ConvCase {
  n: number;
  h: number;
  w: number;
  ci: number;
  co: number;
  kh: number;
  kw: number;
  strides: [number, number];
  pad: "same" | "valid" | [[number, number], [number, number], [number, number], [number, number]];
  dilations: [number, number];
}

function convCases(): ConvCase[] {
  const cases: ConvCase[] = [];
  const kernels: [number, number][] = [[1, 1], [3, 3], [5, 5], [2, 3]];
  const strides: [number, number][] = [[1, 1], [2, 2], [2, 1], [3, 3]];
  const pads: ConvCase["pad"][] = ["same", "valid", [[0, 0], [1, 2], [0, 1], [0, 0]]];
  for (const [kh, kw] of kernels) {
    for (const s of strides) {
      for (const pad of pads) {
        const n = pick([1, 2, 3]);
        cases.push({ n, h: pick([5, 7, 8, 11]), w: pick([5, 6, 9]), ci: pick([1, 3, 4]), co: pick([1, 5, 8]), kh, kw, strides: s, pad, dilations: [1, 1] });
      }
    }
  }
  // Dilation (TF allows it only with stride 1).
  for (const pad of ["same", "valid"] as const) cases.push({ n: 2, h: 9, w: 10, ci: 2, co: 3, kh: 3, kw: 2, strides: [1, 1], pad, dilations: [2, 2] });
  return cases;
}

const describe = (c: ConvCase) => `x[${c.n},${c.h},${c.w},${c.ci}] k${c.kh}×${c.kw}→${c.co} s${c.strides} pad ${JSON.stringify(c.pad)} d${c.dilations}`;

test("Conv2D, FusedConv2D, Conv2DBackpropInput, Conv2DBackpropFilter: strides × padding × kernel sizes", nativeTestOptions, async () => {
  assertNativeLoaded();
  await noFallback(["Conv2D", "FusedConv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter"], async () => {
  for (const c of convCases()) {
    const x = randomArray(rng, c.n * c.h * c.w * c.ci);
    const f = randomArray(rng, c.kh * c.kw * c.ci * c.co);
    const bias = randomArray(rng, c.co);
    const xT = () => tf.tensor4d(x, [c.n, c.h, c.w, c.ci]);
    const fT = () => tf.tensor4d(f, [c.kh, c.kw, c.ci, c.co]);
    const fwd = () => tf.conv2d(xT(), fT(), c.strides, c.pad, "NHWC", c.dilations);
    await compare(`conv2d ${describe(c)}`, fwd, c.dilations[0] === 1);
    await compare(`fused.conv2d relu ${describe(c)}`, () => tf.fused.conv2d({ x: xT(), filter: fT(), strides: c.strides, pad: c.pad, dilations: c.dilations, bias: tf.tensor1d(bias), activation: "relu" }));
    if (c.dilations[0] !== 1) continue; // TF.js's backprop kernels take no dilations
    const [oh, ow] = (await runOn("cpu", fwd))[0].shape.slice(1, 3);
    const dy = randomArray(rng, c.n * oh * ow * c.co);
    const attrs = { strides: c.strides, pad: c.pad, dataFormat: "NHWC", dimRoundingMode: undefined };
    const dyT = () => tf.tensor4d(dy, [c.n, oh, ow, c.co]);
    await compare(`Conv2DBackpropInput ${describe(c)}`, () => tf.engine().runKernel("Conv2DBackpropInput", { dy: dyT(), filter: fT() }, { ...attrs, inputShape: [c.n, c.h, c.w, c.ci] } as unknown as tf.NamedAttrMap) as tf.Tensor);
    await compare(`Conv2DBackpropFilter ${describe(c)}`, () => tf.engine().runKernel("Conv2DBackpropFilter", { x: xT(), dy: dyT() }, { ...attrs, filterShape: [c.kh, c.kw, c.ci, c.co] } as unknown as tf.NamedAttrMap) as tf.Tensor);
  }
  });
});

test("MaxPool, AvgPool and their gradients: windows × strides × padding", nativeTestOptions, async () => {
  assertNativeLoaded();
  await noFallback(["MaxPool", "MaxPoolGrad", "AvgPool", "AvgPoolGrad"], async () => {
  for (const size of [1, 2, 3]) {
    for (const stride of [1, 2, 3]) {
      for (const pad of ["same", "valid"] as const) {
        const [n, h, w, c] = [pick([1, 2]), pick([4, 7, 8]), pick([5, 6]), pick([1, 3])];
        // A permutation: distinct values, so max pooling has no ties to break.
        const x = Float32Array.from(rng.permutation(n * h * w * c), (v) => v / 10 - 3);
        const xT = () => tf.tensor4d(x, [n, h, w, c]);
        for (const kind of ["max", "avg"] as const) {
          const pool = (t: tf.Tensor4D) => (kind === "max" ? tf.maxPool(t, size, stride, pad) : tf.avgPool(t, size, stride, pad));
          const what = `${kind}Pool ${size}×${size} s${stride} ${pad} x[${n},${h},${w},${c}]`;
          await compare(what, () => pool(xT()), true);
          const outSize = (await runOn("cpu", () => pool(xT())))[0].values.length;
          const weights = randomArray(rng, outSize);
          await compare(`${what} gradient`, () => tf.grad((t: tf.Tensor) => tf.sum(tf.mul(pool(t as tf.Tensor4D), tf.tensor(weights, pool(xT()).shape))))(xT()));
        }
      }
    }
  }
  });
});

test("Sum over leading axes (bias gradients) and trailing axes (softmax rows), keepDims, and the cases left to cpu", nativeTestOptions, async () => {
  assertNativeLoaded();
  await noFallback(["Sum"], async () => {
  const x = randomArray(rng, 3 * 5 * 7 * 2);
  const xT = () => tf.tensor4d(x, [3, 5, 7, 2]);
  for (const axis of [0, [0, 1], [0, 1, 2], [1, 0], 3, [1, 2], [0, 1, 2, 3]]) {
    for (const keepDims of [false, true]) await compare(`sum axis ${JSON.stringify(axis)} keepDims ${keepDims}`, () => tf.sum(xT(), axis, keepDims));
  }
  await compare("sum of an int32 tensor", () => tf.cast(tf.sum(tf.tensor2d([1, 2, 3, 4], [2, 2], "int32"), 0), "float32"));
  }, { Sum: 3 }); // axis [1, 2] (twice) and the int32 sum
});

test("TsdistillActivationGrad (the custom-grad ops' backward on native) equals the op-by-op formula on cpu", nativeTestOptions, async () => {
  assertNativeLoaded();
  const dy = randomArray(rng, 7 * 13);
  const z = randomArray(rng, 7 * 13, 3);
  const cases = {
    linear: [(t: tf.Tensor) => t, (d: tf.Tensor) => d],
    relu: [tf.relu, (d: tf.Tensor, y: tf.Tensor) => tf.mul(d, tf.step(y))],
    sigmoid: [tf.sigmoid, (d: tf.Tensor, y: tf.Tensor) => tf.mul(d, tf.mul(y, tf.sub(1, y)))],
    tanh: [tf.tanh, (d: tf.Tensor, y: tf.Tensor) => tf.mul(d, tf.sub(1, tf.square(y)))],
  } as const;
  for (const [activation, [act, grad]] of Object.entries(cases)) {
    const y = () => act(tf.tensor2d(z, [7, 13]));
    const ref = (await runOn("cpu", () => grad(tf.tensor2d(dy, [7, 13]), y())))[0];
    const native = (await runOn("native", () => tf.engine().runKernel("TsdistillActivationGrad", { dy: tf.tensor2d(dy, [7, 13]), y: y() }, { activation }) as tf.Tensor))[0];
    assertClose(native, ref, `activation gradient ${activation}`);
  }
});

test("Add, Sub, Multiply, RealDiv, Maximum with broadcasting: bit-identical to cpu, int32 left to cpu", nativeTestOptions, async () => {
  assertNativeLoaded();
  const pairs: [number[], number[]][] = [[[7, 13], [7, 13]], [[7, 13], [7, 1]], [[7, 1], [7, 13]], [[7, 13], [13]], [[7, 13], []], [[], [7, 13]], [[1, 1], [7, 13]], [[2, 3, 1, 5], [3, 4, 1]], [[4, 1, 6], [1, 5, 1]], [[0, 3], [1, 3]]];
  const ops = { Add: tf.add, Sub: tf.sub, Multiply: tf.mul, RealDiv: tf.div, Maximum: tf.maximum } as const;
  await noFallback(Object.keys(ops), async () => {
    for (const [aShape, bShape] of pairs) {
      const a = randomArray(rng, aShape.reduce((p, q) => p * q, 1));
      const b = randomArray(rng, bShape.reduce((p, q) => p * q, 1));
      for (const [name, op] of Object.entries(ops)) {
        const fn = () => op(tf.tensor(a, aShape), tf.tensor(b, bShape));
        const [ref] = await runOn("cpu", fn);
        const [native] = await runOn("native", fn);
        assert.deepEqual(native.shape, ref.shape, `${name} [${aShape}] [${bShape}]: shape`);
        assert.deepEqual(Array.from(native.values), Array.from(ref.values), `${name} [${aShape}] [${bShape}]`);
      }
    }
  });
  await noFallback(["Add"], async () => {
    const fn = () => tf.cast(tf.add(tf.tensor1d([1, 2], "int32"), tf.tensor1d([3, 4], "int32")), "float32");
    const [ref] = await runOn("cpu", fn);
    const [native] = await runOn("native", fn);
    assert.deepEqual(Array.from(native.values), Array.from(ref.values));
  }, { Add: 1 });
});
