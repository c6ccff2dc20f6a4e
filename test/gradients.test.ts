// Our custom-gradient ops (src/engine/ops.ts) and whole models against TF.js's own gradients of the same
// networks written with stock ops, computed on the cpu (reference) backend.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { useBackend } from "../src/engine/backend.js";
import { conv2d, conv2dFilterGrad, conv2dInputGrad, convPads, dense, type Activation, type Padding } from "../src/engine/ops.js";
import { SequentialModel } from "../src/students/model.js";
import { modelConfigFromSpec } from "../src/students/spec.js";
import type { LayerConfig } from "../src/students/layers.js";
import { Rng } from "../src/util/rng.js";
import { assertAllClose } from "./helpers.js";

await useBackend("wasm", { fallback: false });

type Backend = "wasm" | "cpu";

/** Runs `fn` on `backend` and returns its tensors' values as Float32Array copies (nothing leaks). */
async function on(backend: Backend, fn: () => tf.Tensor[]): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const before = tf.memory().numTensors;
  const out = tf.tidy(fn);
  const values = out.map((t) => Float32Array.from(t.dataSync() as Float32Array));
  tf.dispose(out);
  assert.equal(tf.memory().numTensors, before, `tensors leaked on ${backend}`);
  return values;
}

function randn(n: number, rng: Rng, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal() * scale;
  return a;
}

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

function stockActivation(z: tf.Tensor, a: Activation): tf.Tensor {
  switch (a) {
    case "linear":
      return z;
    case "relu":
      return tf.relu(z);
    case "sigmoid":
      return tf.sigmoid(z);
    case "tanh":
      return tf.tanh(z);
  }
}

const ACTS: Activation[] = ["linear", "relu", "sigmoid", "tanh"];

// ---------------------------------------------------------------------------------------------------------
// convPads

test("convPads follows TF's padding rule and matches tf.conv2d's output size", async () => {
  assert.deepEqual(convPads(7, 3, 2, "same"), { out: 4, before: 1, after: 1 });
  assert.deepEqual(convPads(5, 4, 1, "same"), { out: 5, before: 1, after: 2 });
  assert.deepEqual(convPads(8, 4, 3, "same"), { out: 3, before: 1, after: 1 });
  assert.deepEqual(convPads(6, 2, 2, "same"), { out: 3, before: 0, after: 0 });
  assert.deepEqual(convPads(9, 1, 3, "same"), { out: 3, before: 0, after: 0 });
  assert.deepEqual(convPads(7, 3, 2, "valid"), { out: 3, before: 0, after: 0 });
  assert.deepEqual(convPads(8, 5, 3, "valid"), { out: 2, before: 0, after: 0 });
  await tf.setBackend("cpu");
  for (const pad of ["same", "valid"] as Padding[]) {
    for (const k of [1, 2, 3, 4, 5]) {
      for (const s of [1, 2, 3]) {
        for (const h of [5, 6, 7, 8, 9]) {
          if (pad === "valid" && k > h) continue;
          const shape = tf.tidy(() => tf.conv2d(tf.zeros([1, h, h, 1]) as tf.Tensor4D, tf.zeros([k, k, 1, 1]) as tf.Tensor4D, s, pad).shape);
          assert.equal(convPads(h, k, s, pad).out, shape[1], `out size for h=${h} k=${k} s=${s} ${pad}`);
        }
      }
    }
  }
  await tf.setBackend("wasm");
});

// ---------------------------------------------------------------------------------------------------------
// dense

interface DenseCase {
  n: number;
  inF: number;
  outF: number;
  activation: Activation;
  bias: boolean;
}

async function checkDense(c: DenseCase, seed: number): Promise<void> {
  const rng = new Rng(seed, "dense", JSON.stringify(c));
  const xv = randn(c.n * c.inF, rng);
  const wv = randn(c.inF * c.outF, rng, 1 / Math.sqrt(c.inF));
  const bv = randn(c.outF, rng, 0.5);
  const dyv = randn(c.n * c.outF, rng);
  const ours = (): tf.Tensor[] => {
    const x = tf.tensor2d(xv, [c.n, c.inF]);
    const w = tf.tensor2d(wv, [c.inF, c.outF]);
    const b = tf.tensor1d(bv);
    const dy = tf.tensor2d(dyv, [c.n, c.outF]);
    const inputs = c.bias ? [x, w, b] : [x, w];
    const f = (...args: tf.Tensor[]) => dense(args[0] as tf.Tensor2D, args[1] as tf.Tensor2D, c.bias ? (args[2] as tf.Tensor1D) : null, c.activation);
    const y = f(...inputs);
    return [y, ...tf.grads(f)(inputs, dy)];
  };
  const stock = (): tf.Tensor[] => {
    const x = tf.tensor2d(xv, [c.n, c.inF]);
    const w = tf.tensor2d(wv, [c.inF, c.outF]);
    const b = tf.tensor1d(bv);
    const dy = tf.tensor2d(dyv, [c.n, c.outF]);
    const inputs = c.bias ? [x, w, b] : [x, w];
    const f = (...args: tf.Tensor[]) => {
      const z = tf.matMul(args[0] as tf.Tensor2D, args[1] as tf.Tensor2D);
      return stockActivation(c.bias ? tf.add(z, args[2]) : z, c.activation);
    };
    return [f(...inputs), ...tf.grads(f)(inputs, dy)];
  };
  const ref = await on("cpu", stock);
  const names = ["output", "dx", "dW", "db"];
  for (const backend of ["wasm", "cpu"] as Backend[]) {
    const got = await on(backend, ours);
    assert.equal(got.length, ref.length);
    got.forEach((g, i) => assertAllClose(g, ref[i], { what: `dense ${JSON.stringify(c)} on ${backend}: ${names[i]}` }));
  }
}

test("dense: forward and gradients match stock matMul/add/activation (wasm and cpu)", async (t) => {
  let seed = 1;
  for (const activation of ACTS) {
    for (const bias of [true, false]) {
      for (const [n, inF, outF] of [
        [5, 7, 3],
        [1, 4, 6],
        [16, 33, 10],
      ]) {
        const c = { n, inF, outF, activation, bias };
        await t.test(`${activation} bias=${bias} [${n}x${inF}]·[${inF}x${outF}]`, () => checkDense(c, seed++));
      }
    }
  }
});

// ---------------------------------------------------------------------------------------------------------
// conv2d

interface ConvCase {
  n: number;
  h: number;
  w: number;
  ci: number;
  co: number;
  k: number;
  stride: number;
  padding: Padding;
  activation: Activation;
  bias: boolean;
}

function convCaseName(c: ConvCase): string {
  return `x[${c.n},${c.h},${c.w},${c.ci}] k${c.k} s${c.stride} ${c.padding} co${c.co} ${c.activation}${c.bias ? "" : " nobias"}`;
}

function convData(c: ConvCase, seed: number) {
  const rng = new Rng(seed, "conv", convCaseName(c));
  const xShape: [number, number, number, number] = [c.n, c.h, c.w, c.ci];
  const wShape: [number, number, number, number] = [c.k, c.k, c.ci, c.co];
  const oh = convPads(c.h, c.k, c.stride, c.padding).out;
  const ow = convPads(c.w, c.k, c.stride, c.padding).out;
  const yShape: [number, number, number, number] = [c.n, oh, ow, c.co];
  return {
    xShape,
    wShape,
    yShape,
    xv: randn(size(xShape), rng),
    wv: randn(size(wShape), rng, 1 / Math.sqrt(c.k * c.k * c.ci)),
    bv: randn(c.co, rng, 0.3),
    dyv: randn(size(yShape), rng),
  };
}

async function checkConv(c: ConvCase, seed: number): Promise<void> {
  const d = convData(c, seed);
  const geom = { stride: c.stride, padding: c.padding };
  const tensors = () => ({
    x: tf.tensor4d(d.xv, d.xShape),
    w: tf.tensor4d(d.wv, d.wShape),
    b: tf.tensor1d(d.bv),
    dy: tf.tensor4d(d.dyv, d.yShape),
  });
  const ours = (): tf.Tensor[] => {
    const { x, w, b, dy } = tensors();
    const inputs = c.bias ? [x, w, b] : [x, w];
    const f = (...a: tf.Tensor[]) => conv2d(a[0] as tf.Tensor4D, a[1] as tf.Tensor4D, c.bias ? (a[2] as tf.Tensor1D) : null, geom, c.activation);
    return [f(...inputs), ...tf.grads(f)(inputs, dy)];
  };
  const stock = (): tf.Tensor[] => {
    const { x, w, b, dy } = tensors();
    const inputs = c.bias ? [x, w, b] : [x, w];
    const f = (...a: tf.Tensor[]) => {
      const z = tf.conv2d(a[0] as tf.Tensor4D, a[1] as tf.Tensor4D, c.stride, c.padding);
      return stockActivation(c.bias ? tf.add(z, a[2]) : z, c.activation);
    };
    return [f(...inputs), ...tf.grads(f)(inputs, dy)];
  };
  const ref = await on("cpu", stock);
  assert.deepEqual(ref[0].length, size(d.yShape));
  const names = ["output", "dx", "dW", "db"];
  for (const backend of ["wasm", "cpu"] as Backend[]) {
    const got = await on(backend, ours);
    assert.equal(got.length, ref.length);
    got.forEach((g, i) => assertAllClose(g, ref[i], { what: `conv2d ${convCaseName(c)} on ${backend}: ${names[i]}` }));
  }
}

/** The geometry grid: every kernel size × stride × padding, with varied (often odd) input sizes. */
function convGrid(): ConvCase[] {
  const cases: ConvCase[] = [];
  let i = 0;
  for (const k of [1, 3, 4, 5]) {
    for (const stride of [1, 2, 3]) {
      for (const padding of ["same", "valid"] as Padding[]) {
        const sizes = [
          [7, 7],
          [9, 8],
          [8, 11],
          [5, 6],
        ][i % 4];
        cases.push({
          n: i % 3 === 0 ? 1 : 2,
          h: sizes[0],
          w: sizes[1],
          ci: 1 + (i % 3),
          co: 2 + (i % 2),
          k,
          stride,
          padding,
          activation: ACTS[i % 4],
          bias: i % 5 !== 4,
        });
        i++;
      }
    }
  }
  return cases;
}

test("conv2d: forward and gradients match stock conv2d (kernels 1/3/4/5, strides 1/2/3, same/valid)", async (t) => {
  let seed = 100;
  for (const c of convGrid()) await t.test(convCaseName(c), () => checkConv(c, seed++));
});

test("conv2d: every activation, batch 1, odd sizes, kernel as large as the input", async (t) => {
  let seed = 200;
  const extra: ConvCase[] = [];
  for (const activation of ACTS) {
    extra.push({ n: 1, h: 9, w: 9, ci: 3, co: 4, k: 3, stride: 1, padding: "same", activation, bias: true });
    extra.push({ n: 1, h: 7, w: 5, ci: 2, co: 3, k: 5, stride: 2, padding: "same", activation, bias: true });
    extra.push({ n: 2, h: 11, w: 9, ci: 1, co: 2, k: 4, stride: 3, padding: "valid", activation, bias: false });
  }
  extra.push({ n: 1, h: 5, w: 5, ci: 2, co: 2, k: 5, stride: 1, padding: "valid", activation: "relu", bias: true });
  extra.push({ n: 1, h: 3, w: 3, ci: 2, co: 2, k: 5, stride: 1, padding: "same", activation: "linear", bias: true });
  extra.push({ n: 1, h: 4, w: 4, ci: 1, co: 1, k: 5, stride: 3, padding: "same", activation: "tanh", bias: true });
  extra.push({ n: 3, h: 28, w: 28, ci: 1, co: 4, k: 3, stride: 1, padding: "same", activation: "relu", bias: true });
  for (const c of extra) await t.test(convCaseName(c), () => checkConv(c, seed++));
});

test("conv2dInputGrad / conv2dFilterGrad match TF's Conv2DBackpropInput / BackpropFilter", async (t) => {
  let seed = 300;
  const cases: ConvCase[] = [];
  for (const [k, stride, padding, h, w] of [
    [3, 1, "same", 7, 7],
    [3, 2, "same", 8, 7],
    [4, 2, "valid", 9, 10],
    [5, 3, "same", 11, 9],
    [1, 3, "valid", 7, 8],
    [4, 3, "valid", 10, 10],
    [2, 2, "same", 5, 5],
  ] as [number, number, Padding, number, number][]) {
    cases.push({ n: 2, h, w, ci: 3, co: 2, k, stride, padding, activation: "linear", bias: false });
  }
  for (const c of cases) {
    await t.test(convCaseName(c), async () => {
      const d = convData(c, seed++);
      const geom = { stride: c.stride, padding: c.padding };
      const ref = await on("cpu", () => {
        const x = tf.tensor4d(d.xv, d.xShape);
        const w = tf.tensor4d(d.wv, d.wShape);
        const dy = tf.tensor4d(d.dyv, d.yShape);
        return tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.stride, c.padding))([x, w], dy);
      });
      for (const backend of ["wasm", "cpu"] as Backend[]) {
        const got = await on(backend, () => {
          const x = tf.tensor4d(d.xv, d.xShape);
          const w = tf.tensor4d(d.wv, d.wShape);
          const dy = tf.tensor4d(d.dyv, d.yShape);
          const dx = conv2dInputGrad(dy, w, d.xShape, geom);
          const dw = conv2dFilterGrad(x, dy, [c.k, c.k], geom);
          assert.deepEqual(dx.shape, d.xShape);
          assert.deepEqual(dw.shape, d.wShape);
          return [dx, dw];
        });
        assertAllClose(got[0], ref[0], { what: `conv2dInputGrad ${convCaseName(c)} on ${backend}` });
        assertAllClose(got[1], ref[1], { what: `conv2dFilterGrad ${convCaseName(c)} on ${backend}` });
      }
    });
  }
});

// ---------------------------------------------------------------------------------------------------------
// Whole models

/** The network of `layers` written with stock ops, weights given in save order. */
function stockForward(layers: LayerConfig[], x: tf.Tensor, weights: tf.Tensor[]): tf.Tensor2D {
  let h = x;
  let wi = 0;
  for (const c of layers) {
    switch (c.type) {
      case "dense": {
        const w = weights[wi++];
        let z = tf.matMul(h as tf.Tensor2D, w as tf.Tensor2D) as tf.Tensor;
        if (c.useBias) z = tf.add(z, weights[wi++]);
        h = stockActivation(z, c.activation);
        break;
      }
      case "conv2d": {
        const w = weights[wi++];
        let z = tf.conv2d(h as tf.Tensor4D, w as tf.Tensor4D, c.strides, c.padding) as tf.Tensor;
        if (c.useBias) z = tf.add(z, weights[wi++]);
        h = stockActivation(z, c.activation);
        break;
      }
      case "maxPool2d":
        h = tf.maxPool(h as tf.Tensor4D, c.poolSize, c.strides, c.padding);
        break;
      case "avgPool2d":
        h = tf.avgPool(h as tf.Tensor4D, c.poolSize, c.strides, c.padding);
        break;
      case "flatten":
        h = tf.reshape(h, [h.shape[0], -1]);
        break;
      case "dropout":
        break;
    }
  }
  assert.equal(wi, weights.length, "every weight used");
  return h as tf.Tensor2D;
}

/** Mean softmax cross-entropy written with stock ops. */
function stockCe(logits: tf.Tensor2D, labels: Int32Array): tf.Scalar {
  const oneHot = tf.oneHot(tf.tensor1d(labels, "int32"), logits.shape[1]);
  return tf.neg(tf.mean(tf.sum(tf.mul(oneHot, tf.logSoftmax(logits)), 1))) as tf.Scalar;
}

interface ModelCase {
  spec: string;
  inputShape: number[];
  batch: number;
  activation?: Activation;
}

async function checkModel(c: ModelCase, seed: number): Promise<void> {
  const numClasses = 5;
  const config = modelConfigFromSpec(c.spec, { inputShape: c.inputShape, numClasses, activation: c.activation });
  const rng = new Rng(seed, "model", c.spec);
  const xShape = [c.batch, ...c.inputShape];
  const xv = randn(size(xShape), rng);
  const labels = Int32Array.from({ length: c.batch }, () => rng.int(numClasses));

  // Ours: the engine model's variables and tf.variableGrads, on each backend (same seed → same init).
  const results: Record<Backend, { weights: Float32Array[]; shapes: number[][]; values: Float32Array[] }> = {} as never;
  for (const backend of ["wasm", "cpu"] as Backend[]) {
    await tf.setBackend(backend);
    const model = new SequentialModel(config, seed);
    // Non-zero biases, so their effect (and gradients through them) is exercised too.
    const brng = new Rng(seed, "bias");
    for (const p of model.params) if (p.rank === 1) p.assign(tf.tensor1d(randn(p.size, brng, 0.1)));
    const weights = model.params.map((p) => Float32Array.from(p.dataSync() as Float32Array));
    const shapes = model.params.map((p) => p.shape);
    const values = await on(backend, () => {
      const x = tf.tensor(xv, xShape);
      const { value, grads } = tf.variableGrads(() => {
        const logits = model.forward(x, { training: true, rng: new Rng(0) }).logits;
        return stockCe(logits, labels);
      }, model.params);
      const logits = model.predict(x);
      return [value, logits, ...model.params.map((p) => grads[p.name])];
    });
    model.dispose();
    results[backend] = { weights, shapes, values };
  }
  // Same init on both backends (weights come from the seeded Rng, not the backend).
  results.wasm.weights.forEach((w, i) => assert.deepEqual(w, results.cpu.weights[i], `init weight ${i} differs between backends`));

  const { weights, shapes } = results.wasm;
  const ref = await on("cpu", () => {
    const x = tf.tensor(xv, xShape);
    const ws = weights.map((w, i) => tf.tensor(w, shapes[i]));
    const f = (...args: tf.Tensor[]) => stockCe(stockForward(config.layers, x, args), labels);
    const { value, grads } = tf.valueAndGrads(f)(ws);
    return [value, stockForward(config.layers, x, ws), ...grads];
  });
  const names = ["loss", "logits", ...config.layers.flatMap((l) => (l.type === "dense" || l.type === "conv2d" ? [`${l.name}/kernel`, `${l.name}/bias`] : []))];
  for (const backend of ["wasm", "cpu"] as Backend[]) {
    const got = results[backend].values;
    assert.equal(got.length, ref.length);
    got.forEach((g, i) => assertAllClose(g, ref[i], { what: `${c.spec} on ${backend}: ${names[i]}` }));
  }
}

test("whole models: loss, logits and parameter gradients match the stock-ops network", async (t) => {
  const cases: ModelCase[] = [
    { spec: "mlp:16-8", inputShape: [3, 3, 2], batch: 6 },
    { spec: "mlp:16-8", inputShape: [10], batch: 1 },
    { spec: "mlp:12", inputShape: [7], batch: 4, activation: "tanh" },
    { spec: "mlp:12-6", inputShape: [5], batch: 3, activation: "sigmoid" },
    { spec: "cnn:conv4-pool-conv8k5-pool-dense16", inputShape: [12, 12, 2], batch: 3 },
    { spec: "cnn:conv4-pool-conv8k5-pool-dense16", inputShape: [11, 11, 1], batch: 1 },
    { spec: "cnn:conv4k3s2-dense8", inputShape: [9, 9, 3], batch: 2 },
    { spec: "cnn:conv4k3s2-dense8", inputShape: [8, 10, 1], batch: 1 },
    { spec: "cnn:conv3k4s3-avgpool2-dense8", inputShape: [13, 13, 2], batch: 2 },
    { spec: "cnn:conv5k1-conv3k5s2", inputShape: [7, 7, 2], batch: 2, activation: "tanh" },
  ];
  let seed = 500;
  for (const c of cases) {
    await t.test(`${c.spec} input [${c.inputShape}] batch ${c.batch}${c.activation ? ` ${c.activation}` : ""}`, () => checkModel(c, seed++));
  }
  await tf.setBackend("wasm");
});
