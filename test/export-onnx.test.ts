// ONNX export: the exported bytes run in onnxruntime-node and match the TF.js model.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import * as ort from "onnxruntime-node";
import onnxProto from "onnx-proto";
import { useBackend } from "../src/engine/backend.js";
import { exportOnnx, saveOnnx } from "../src/export/onnx.js";
import { dequantizeInt8, quantizeWeightsInt8 } from "../src/export/quantize.js";
import type { LayerConfig } from "../src/students/layers.js";
import { SequentialModel, type ModelConfig } from "../src/students/model.js";
import { modelConfigFromSpec } from "../src/students/spec.js";
import { TsdistillError } from "../src/util/errors.js";
import { Rng } from "../src/util/rng.js";
import { maxAbsDiff, tempDir } from "./helpers.js";

const { onnx } = onnxProto;

await useBackend("wasm", { fallback: false });

const { dir: root, cleanup } = tempDir("tsdistill-onnx-");
process.on("exit", cleanup);

/** The acceptance criterion: max |onnx − tfjs| over 1,000 random inputs. */
const N = 1000;
const TOL = 1e-4;

const sizeOf = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** Seeded standard-normal inputs, n samples of `shape`. */
function randomInputs(shape: number[], n: number, seed = 1): Float32Array {
  const rng = new Rng(seed, "onnx-inputs");
  return Float32Array.from({ length: n * sizeOf(shape) }, () => rng.normal());
}

function tfjsOutputs(model: SequentialModel, data: Float32Array, n: number): Float32Array {
  return tf.tidy(() => new Float32Array(model.predict(tf.tensor(data, [n, ...model.config.inputShape])).dataSync() as Float32Array));
}

/**
 * onnxruntime's default CPU session (optimization level "all") rewrites DequantizeLinear(int8, per-axis) →
 * MatMul into com.microsoft MatMulNBits, whose default accuracy level 4 also quantizes the *activations* to
 * int8. Accuracy level 1 (fp32 compute) keeps the graph's exact ONNX semantics (weights q·scale, float math).
 */
const EXACT_QDQ: ort.InferenceSession.SessionOptions = { extra: { session: { qdq_matmulnbits_accuracy_level: "1" } } };

async function onnxOutputs(
  bytes: Uint8Array,
  data: Float32Array,
  shape: number[],
  n: number,
  names = { input: "input", output: "logits" },
  options: ort.InferenceSession.SessionOptions = {},
): Promise<{ values: Float32Array; dims: readonly number[] }> {
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1, ...options });
  try {
    assert.deepEqual(session.inputNames, [names.input]);
    assert.deepEqual(session.outputNames, [names.output]);
    const out = await session.run({ [names.input]: new ort.Tensor("float32", data, [n, ...shape]) });
    const t = out[names.output];
    assert.equal(t.type, "float32");
    return { values: new Float32Array(t.data as Float32Array), dims: t.dims };
  } finally {
    await session.release();
  }
}

/** Changes the random initial weights: kernels scaled, biases made non-zero. */
function perturb(model: SequentialModel, seed: number, kernelScale = 1.3): void {
  const rng = new Rng(seed, "perturb");
  for (const p of model.params) {
    if (p.rank === 1) p.assign(tf.tensor1d(Float32Array.from({ length: p.size }, () => rng.normal() * 0.2)));
    else p.assign(tf.tidy(() => tf.mul(p, kernelScale)));
  }
}

function decode(bytes: Uint8Array) {
  return onnx.ModelProto.toObject(onnx.ModelProto.decode(bytes), { longs: Number, defaults: false }) as {
    irVersion: number;
    producerName?: string;
    producerVersion?: string;
    docString?: string;
    opsetImport: { domain?: string; version: number }[];
    metadataProps?: { key: string; value: string }[];
    graph: {
      node: { opType: string; name: string; input: string[]; output: string[]; attribute?: { name: string; i?: number; ints?: number[] }[] }[];
      initializer: { name: string; dims: number[]; dataType: number }[];
      input: { name: string; type: { tensorType: { elemType: number; shape: { dim: { dimParam?: string; dimValue?: number }[] } } } }[];
      output: { name: string; type: { tensorType: { elemType: number; shape: { dim: { dimParam?: string; dimValue?: number }[] } } } }[];
    };
  };
}

/** A hand-written config covering what specs do not produce: pools first and "same" pools, valid convs, no-bias layers, sigmoid/tanh. */
const HAND_BUILT: ModelConfig = {
  inputShape: [13, 11, 2],
  layers: [
    { type: "avgPool2d", name: "avg_first", poolSize: 2, strides: 1, padding: "valid" }, // on NHWC input, before any conv
    { type: "conv2d", name: "conv_valid", filters: 5, kernelSize: 3, strides: 1, padding: "valid", activation: "tanh", useBias: false },
    { type: "maxPool2d", name: "max_same", poolSize: 3, strides: 2, padding: "same" }, // 10×8 → 5×4, pads 0/1
    { type: "conv2d", name: "conv_k2", filters: 6, kernelSize: 2, strides: 1, padding: "same", activation: "sigmoid", useBias: true }, // pads 0/1
    { type: "avgPool2d", name: "avg_same", poolSize: 3, strides: 2, padding: "same" }, // 5×4 → 3×2, pads 1/1 and 0/1
    { type: "flatten", name: "flat" },
    { type: "dropout", name: "drop", rate: 0.5 },
    { type: "dense", name: "dense_sig", units: 7, activation: "sigmoid", useBias: true },
    { type: "dense", name: "dense_tanh", units: 5, activation: "tanh", useBias: false },
    { type: "dense", name: "logits", units: 4, activation: "linear", useBias: true },
  ] satisfies LayerConfig[],
};

const CASES: { name: string; config: ModelConfig; perturb: boolean }[] = [
  { name: "mlp:64-32 (dropout 0.3) on [28,28,1]", config: modelConfigFromSpec("mlp:64-32", { inputShape: [28, 28, 1], numClasses: 10, dropout: 0.3 }), perturb: false },
  { name: "mlp:64-32 (dropout 0.3, input dropout 0.2) on [20], changed weights", config: modelConfigFromSpec("mlp:64-32", { inputShape: [20], numClasses: 10, dropout: 0.3, inputDropout: 0.2 }), perturb: true },
  { name: "cnn:conv8k5-pool-conv16-pool-dense32 on [28,28,1] (same k5 conv, max pool, dense after conv)", config: modelConfigFromSpec("cnn:conv8k5-pool-conv16-pool-dense32", { inputShape: [28, 28, 1], numClasses: 10 }), perturb: false },
  { name: "same CNN with changed weights (non-zero biases)", config: modelConfigFromSpec("cnn:conv8k5-pool-conv16-pool-dense32", { inputShape: [28, 28, 1], numClasses: 10 }), perturb: true },
  { name: "cnn:conv8k3s2-avgpool-dense16 on odd [13,11,1] (strided conv, avg pool)", config: modelConfigFromSpec("cnn:conv8k3s2-avgpool-dense16", { inputShape: [13, 11, 1], numClasses: 10 }), perturb: true },
  { name: "cnn:conv6k4-conv8k3s2-pool-dense12 on odd [9,9,3] (even kernel: asymmetric pads; dropout)", config: modelConfigFromSpec("cnn:conv6k4-conv8k3s2-pool-dense12", { inputShape: [9, 9, 3], numClasses: 10, dropout: 0.2, inputDropout: 0.1 }), perturb: true },
  { name: "cnn:conv8k3s2-conv8k5s3-avgpool3-dense10 on [28,28,1] (strided asymmetric pads)", config: modelConfigFromSpec("cnn:conv8k3s2-conv8k5s3-avgpool3-dense10", { inputShape: [28, 28, 1], numClasses: 10 }), perturb: true },
  { name: "hand-built: pool first, valid conv, same max/avg pools, no-bias layers, sigmoid/tanh", config: HAND_BUILT, perturb: true },
  { name: "conv-only model: 4-D NHWC output", config: { inputShape: [7, 6, 3], layers: [{ type: "conv2d", name: "c", filters: 4, kernelSize: 3, strides: 2, padding: "same", activation: "relu", useBias: true }] }, perturb: true },
];

for (const [i, c] of CASES.entries()) {
  test(`matches TF.js on ${N} inputs: ${c.name}`, async (t) => {
    const model = new SequentialModel(c.config, 100 + i);
    if (c.perturb) perturb(model, i);
    const shape = model.config.inputShape;
    const x = randomInputs(shape, N, i);
    const want = tfjsOutputs(model, x, N);
    const bytes = exportOnnx(model);
    const got = await onnxOutputs(bytes, x, shape, N);
    assert.deepEqual(got.dims, [N, ...model.outputShape]);
    const diff = maxAbsDiff(got.values, want);
    const range = want.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    t.diagnostic(`max |onnx - tfjs| = ${diff.toExponential(2)} (max |logit| ${range.toFixed(3)}, ${bytes.length} bytes)`);
    assert.ok(range > 0.1, "outputs are not trivially small");
    assert.ok(diff <= TOL, `max |onnx - tfjs| = ${diff} > ${TOL}`);
    const m = decode(bytes);
    assert.ok(!m.graph.node.some((nd) => nd.opType === "Dropout"), "no Dropout node");
    // At most one transpose into NCHW and one back per conv/pool block.
    const transposes = m.graph.node.filter((nd) => nd.opType === "Transpose").length;
    assert.ok(transposes <= 2, `${transposes} Transpose nodes`);
    model.dispose();
  });
}

test("graph structure: opset, IR version, dynamic batch, names, weight layout, no Dropout", () => {
  const model = new SequentialModel(modelConfigFromSpec("cnn:conv8k5-pool-conv16-pool-dense32", { inputShape: [28, 28, 1], numClasses: 10, dropout: 0.5 }), 3);
  const m = decode(exportOnnx(model, { producer: "tsdistill-test", docString: "a test model" }));
  assert.equal(m.irVersion, 7);
  assert.deepEqual(m.opsetImport.map((o) => [o.domain ?? "", o.version]), [["", 13]]);
  assert.equal(m.producerName, "tsdistill-test");
  assert.match(m.producerVersion ?? "", /^\d+\.\d+\.\d+/);
  assert.equal(m.docString, "a test model");
  assert.deepEqual(
    (m.metadataProps ?? []).find((p) => p.key === "tsdistill.input_layout"),
    { key: "tsdistill.input_layout", value: "NHWC" },
  );
  const [input] = m.graph.input;
  assert.equal(input.name, "input");
  assert.equal(input.type.tensorType.elemType, onnx.TensorProto.DataType.FLOAT);
  assert.deepEqual(input.type.tensorType.shape.dim, [{ dimParam: "batch" }, { dimValue: 28 }, { dimValue: 28 }, { dimValue: 1 }]);
  const [output] = m.graph.output;
  assert.equal(output.name, "logits");
  assert.deepEqual(output.type.tensorType.shape.dim, [{ dimParam: "batch" }, { dimValue: 10 }]);
  assert.equal(m.graph.input.length, 1, "initializers are not graph inputs");

  assert.deepEqual(
    m.graph.node.map((n) => n.opType),
    ["Transpose", "Conv", "Relu", "MaxPool", "Conv", "Relu", "MaxPool", "Transpose", "Flatten", "Gemm", "Relu", "Gemm"],
  );
  assert.ok(!m.graph.node.some((n) => n.opType === "Dropout"));
  const inits = Object.fromEntries(m.graph.initializer.map((x) => [x.name, x.dims]));
  assert.deepEqual(inits, {
    "conv2d_1/kernel": [8, 1, 5, 5],
    "conv2d_1/bias": [8],
    "conv2d_2/kernel": [16, 8, 3, 3], // "conv16": kernel 3 by default
    "conv2d_2/bias": [16],
    "dense_1/kernel": [7 * 7 * 16, 32],
    "dense_1/bias": [32],
    "dense_2/kernel": [32, 10],
    "dense_2/bias": [10],
  });
  const conv1 = m.graph.node.find((n) => n.name === "conv2d_1/Conv")!;
  const attr = (name: string) => conv1.attribute?.find((a) => a.name === name);
  assert.deepEqual(attr("pads")?.ints, [2, 2, 2, 2]);
  assert.deepEqual(attr("strides")?.ints, [1, 1]);
  assert.equal(m.graph.node[m.graph.node.length - 1].output[0], "logits");
  model.dispose();
});

test("TF 'same' padding is exported as explicit asymmetric pads (extra pixel bottom/right)", () => {
  const config = modelConfigFromSpec("cnn:conv4k3s2-conv4k4", { inputShape: [10, 9, 1], numClasses: 3 });
  const model = new SequentialModel(config, 1);
  const m = decode(exportOnnx(model));
  const pads = (name: string) => m.graph.node.find((n) => n.name === name)!.attribute!.find((a) => a.name === "pads")?.ints;
  // 10×9, k3 s2: out 5×5, total pad 1 (rows) → [0, 1]; 2 (cols) → [1, 1]. Then 5×5, k4 s1: total 3 → [1, 2].
  assert.deepEqual(pads("conv2d_1/Conv"), [0, 1, 1, 1]);
  assert.deepEqual(pads("conv2d_2/Conv"), [1, 1, 2, 2]);
  model.dispose();
});

test("dynamic batch: the same file runs batch 1 and batch 7; opset 18 also runs", async () => {
  const model = new SequentialModel(modelConfigFromSpec("cnn:conv8k3s2-pool-dense16", { inputShape: [9, 9, 3], numClasses: 6, dropout: 0.3 }), 5);
  perturb(model, 5);
  const shape = model.config.inputShape;
  for (const opset of [13, 18]) {
    const bytes = exportOnnx(model, { opset });
    assert.equal(decode(bytes).irVersion, opset === 13 ? 7 : 8);
    for (const n of [1, 7]) {
      const x = randomInputs(shape, n, 40 + n);
      const got = await onnxOutputs(bytes, x, shape, n);
      assert.deepEqual(got.dims, [n, 6]);
      const diff = maxAbsDiff(got.values, tfjsOutputs(model, x, n));
      assert.ok(diff <= TOL, `opset ${opset}, batch ${n}: diff ${diff}`);
    }
  }
  model.dispose();
});

test("custom input/output names", async () => {
  const model = new SequentialModel(modelConfigFromSpec("mlp:8", { inputShape: [5], numClasses: 3 }), 2);
  const bytes = exportOnnx(model, { inputName: "pixels", outputName: "scores" });
  const x = randomInputs([5], 4);
  const got = await onnxOutputs(bytes, x, [5], 4, { input: "pixels", output: "scores" });
  assert.ok(maxAbsDiff(got.values, tfjsOutputs(model, x, 4)) <= TOL);
  model.dispose();
});

test("rejects unsupported options with a TsdistillError", () => {
  const model = new SequentialModel(modelConfigFromSpec("mlp:4", { inputShape: [3], numClasses: 2 }), 1);
  assert.throws(() => exportOnnx(model, { opset: 12 }), (e: unknown) => e instanceof TsdistillError && /opset 12/.test(e.message));
  assert.throws(() => exportOnnx(model, { opset: 19 }), TsdistillError);
  assert.throws(() => exportOnnx(model, { quantize: "int4" as "int8" }), (e: unknown) => e instanceof TsdistillError && /int4/.test(e.message));
  assert.throws(() => exportOnnx(model, { inputName: "x", outputName: "x" }), TsdistillError);
  assert.throws(() => exportOnnx(model, { outputName: "dense_1/kernel" }), (e: unknown) => e instanceof TsdistillError && /used twice/.test(e.message));
  model.dispose();
});

test("exportOnnx is deterministic", () => {
  const model = new SequentialModel(modelConfigFromSpec("cnn:conv4-pool-dense8", { inputShape: [8, 8, 1], numClasses: 3 }), 9);
  assert.deepEqual(exportOnnx(model), exportOnnx(model));
  assert.deepEqual(exportOnnx(model, { quantize: "int8" }), exportOnnx(model, { quantize: "int8" }));
  model.dispose();
});

test("quantizeWeightsInt8: symmetric per-channel scales along any axis", () => {
  // shape [2, 3]: axis 1 → per column, axis 0 → per row.
  const w = Float32Array.from([1, -0.5, 0, -2, 0.25, 0]);
  const cols = quantizeWeightsInt8(w, [2, 3], 1);
  assert.deepEqual(Array.from(cols.scales), [2 / 127, 0.5 / 127, 1].map(Math.fround));
  assert.deepEqual(Array.from(cols.q), [64, -127, 0, -127, 64, 0]); // 1/(2/127) = 63.5 → 64 (half away from zero)
  const rows = quantizeWeightsInt8(w, [2, 3], 0);
  assert.deepEqual(Array.from(rows.scales), [1 / 127, 2 / 127].map(Math.fround));
  assert.deepEqual(Array.from(rows.q), [127, -64, 0, -127, 16, 0]);
  // Round-trip error is at most half a step per channel, on a bigger random tensor with a middle axis.
  const rng = new Rng(7, "quant");
  const shape = [3, 5, 4];
  const big = Float32Array.from({ length: sizeOf(shape) }, () => rng.normal());
  for (const axis of [0, 1, 2]) {
    const qw = quantizeWeightsInt8(big, shape, axis);
    assert.equal(qw.scales.length, shape[axis]);
    const back = dequantizeInt8(qw, shape, axis);
    const inner = sizeOf(shape.slice(axis + 1));
    for (let i = 0; i < big.length; i++) {
      const s = qw.scales[Math.floor(i / inner) % shape[axis]];
      assert.ok(Math.abs(back[i] - big[i]) <= s / 2 + 1e-7, `axis ${axis}, element ${i}`);
      assert.ok(Math.abs(qw.q[i]) <= 127);
    }
    // Each channel's largest |w| maps to ±127.
    const maxQ = new Array(shape[axis]).fill(0);
    for (let i = 0; i < big.length; i++) {
      const ch = Math.floor(i / inner) % shape[axis];
      maxQ[ch] = Math.max(maxQ[ch], Math.abs(qw.q[i]));
    }
    assert.deepEqual(maxQ, new Array(shape[axis]).fill(127));
  }
  assert.throws(() => quantizeWeightsInt8(big, [3, 5], 0), /do not fill/);
  assert.throws(() => quantizeWeightsInt8(big, shape, 3), /axis 3/);
});

/** A copy of `model` whose kernels are replaced by their int8 round trip (what the int8 graph computes). */
function dequantizedCopy(model: SequentialModel, seed: number): SequentialModel {
  const copy = new SequentialModel(model.config, seed);
  copy.setWeights(
    model.params.map((p) => {
      if (p.rank === 1) return p;
      const data = new Float32Array(p.dataSync() as Float32Array);
      const axis = p.rank - 1; // TF layout: output channels last ([in, out] and [kh, kw, cin, cout])
      return tf.tensor(dequantizeInt8(quantizeWeightsInt8(data, p.shape, axis), p.shape, axis), p.shape);
    }),
  );
  return copy;
}

function argmaxAgreement(a: Float32Array, b: Float32Array, classes: number): number {
  const argmax = (v: Float32Array, r: number) => {
    let best = 0;
    for (let j = 1; j < classes; j++) if (v[r * classes + j] > v[r * classes + best]) best = j;
    return best;
  };
  const rows = a.length / classes;
  let same = 0;
  for (let r = 0; r < rows; r++) if (argmax(a, r) === argmax(b, r)) same++;
  return same / rows;
}

test("int8: MLP with large kernels is ≥3× smaller and close to the float model", async (t) => {
  const model = new SequentialModel(modelConfigFromSpec("mlp:256-128", { inputShape: [28, 28, 1], numClasses: 10, dropout: 0.2 }), 21);
  perturb(model, 21, 1.5);
  const shape = model.config.inputShape;
  const floatBytes = exportOnnx(model);
  const int8Bytes = exportOnnx(model, { quantize: "int8" });
  const ratio = floatBytes.length / int8Bytes.length;

  const m = decode(int8Bytes);
  assert.deepEqual(
    m.graph.node.map((n) => n.opType),
    ["Flatten", "DequantizeLinear", "Gemm", "Relu", "DequantizeLinear", "Gemm", "Relu", "DequantizeLinear", "Gemm"],
  );
  const inits = new Map(m.graph.initializer.map((x) => [x.name, x]));
  assert.equal(inits.get("dense_1/kernel_int8")?.dataType, onnx.TensorProto.DataType.INT8);
  assert.deepEqual(inits.get("dense_1/kernel_scale")?.dims, [256]);
  assert.equal(inits.get("dense_1/bias")?.dataType, onnx.TensorProto.DataType.FLOAT, "biases stay float32");
  const dq = m.graph.node.find((n) => n.name === "dense_1/DequantizeKernel")!;
  assert.deepEqual(dq.input, ["dense_1/kernel_int8", "dense_1/kernel_scale", "dense_1/kernel_zero_point"]);
  assert.deepEqual(dq.output, ["dense_1/kernel"]);
  assert.equal(dq.attribute?.find((a) => a.name === "axis")?.i, 1, "dense kernels [in, out]: per output unit");

  const x = randomInputs(shape, N, 99);
  // Inputs like MNIST pixels: in [0, 1).
  for (let i = 0; i < x.length; i++) x[i] = 1 / (1 + Math.exp(-x[i]));
  const want = tfjsOutputs(model, x, N);
  const fl = await onnxOutputs(floatBytes, x, shape, N);
  const q = await onnxOutputs(int8Bytes, x, shape, N); // default session: what users get
  const qExact = await onnxOutputs(int8Bytes, x, shape, N, undefined, EXACT_QDQ);
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of want) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  const range = hi - lo;
  const floatDiff = maxAbsDiff(fl.values, want);
  const qDiff = maxAbsDiff(q.values, want);
  const qExactDiff = maxAbsDiff(qExact.values, want);
  const agreement = argmaxAgreement(q.values, want, 10);
  const agreementExact = argmaxAgreement(qExact.values, want, 10);
  // With fp32 compute, the int8 graph computes exactly the dequantized weights: compare with TF.js running those.
  const deq = dequantizedCopy(model, 1);
  const deqDiff = maxAbsDiff(qExact.values, tfjsOutputs(deq, x, N));
  const pct = (d: number) => `${((100 * d) / range).toFixed(2)}%`;
  t.diagnostic(`float ${floatBytes.length} B, int8 ${int8Bytes.length} B: ${ratio.toFixed(2)}x smaller`);
  t.diagnostic(`float export vs tfjs: max |diff| ${floatDiff.toExponential(2)}; logit range ${range.toFixed(2)}`);
  t.diagnostic(`int8, default ort session: max |logit diff| ${qDiff.toFixed(4)} (${pct(qDiff)} of range), argmax agreement ${(100 * agreement).toFixed(1)}% on ${N} inputs`);
  t.diagnostic(`int8, fp32 compute: max |logit diff| ${qExactDiff.toFixed(4)} (${pct(qExactDiff)} of range), argmax agreement ${(100 * agreementExact).toFixed(1)}%; vs tfjs with dequantized weights ${deqDiff.toExponential(2)}`);
  assert.ok(floatDiff <= TOL);
  assert.ok(ratio >= 3, `only ${ratio.toFixed(2)}x smaller`);
  assert.ok(deqDiff <= TOL, `the int8 graph does not compute the dequantized model (diff ${deqDiff})`);
  for (const [what, d, agree] of [["default", qDiff, agreement], ["fp32 compute", qExactDiff, agreementExact]] as const) {
    assert.ok(d <= 0.02 * range, `${what}: int8 logits differ by ${d}, range ${range}`);
    assert.ok(agree >= 0.97, `${what}: argmax agreement ${agree}`);
  }
  deq.dispose();
  model.dispose();
});

test("int8: CNN (per-output-channel conv scales, axis 0) matches its dequantized TF.js model", async (t) => {
  const model = new SequentialModel(modelConfigFromSpec("cnn:conv8k5-pool-conv16k3s2-avgpool-dense32", { inputShape: [28, 28, 1], numClasses: 10 }), 8);
  perturb(model, 8);
  const shape = model.config.inputShape;
  const bytes = exportOnnx(model, { quantize: "int8" });
  const m = decode(bytes);
  const dq = m.graph.node.find((n) => n.name === "conv2d_1/DequantizeKernel")!;
  assert.equal(dq.attribute?.find((a) => a.name === "axis")?.i, 0, "conv kernels [cout, cin, kh, kw]: per output channel");
  assert.deepEqual(m.graph.initializer.find((x) => x.name === "conv2d_1/kernel_scale")?.dims, [8]);
  const x = randomInputs(shape, N, 77);
  const q = await onnxOutputs(bytes, x, shape, N);
  const qExact = await onnxOutputs(bytes, x, shape, N, undefined, EXACT_QDQ);
  const want = tfjsOutputs(model, x, N);
  const deq = dequantizedCopy(model, 1);
  const deqDiff = maxAbsDiff(qExact.values, tfjsOutputs(deq, x, N));
  const qDiff = maxAbsDiff(q.values, want);
  const range = want.reduce((m, v) => Math.max(m, v), -Infinity) - want.reduce((m, v) => Math.min(m, v), Infinity);
  const agreement = argmaxAgreement(q.values, want, 10);
  t.diagnostic(`int8 CNN: ${exportOnnx(model).length} → ${bytes.length} B; default session: max |logit diff| ${qDiff.toFixed(4)} (range ${range.toFixed(2)}), argmax agreement ${(100 * agreement).toFixed(1)}%; fp32 compute vs dequantized tfjs ${deqDiff.toExponential(2)}`);
  assert.ok(deqDiff <= TOL, `diff vs dequantized model ${deqDiff}`);
  assert.ok(qDiff <= 0.02 * range, `int8 logits differ by ${qDiff}, range ${range}`);
  assert.ok(agreement >= 0.97, `argmax agreement ${agreement}`);
  deq.dispose();
  model.dispose();
});

test("saveOnnx writes the exportOnnx bytes atomically and leaves no temp file", () => {
  const model = new SequentialModel(modelConfigFromSpec("cnn:conv4-pool-dense8", { inputShape: [8, 8, 1], numClasses: 3 }), 4);
  const dir = join(root, "save", "nested");
  const path = join(dir, "model.onnx");
  const n = saveOnnx(model, path);
  assert.deepEqual(readdirSync(dir), ["model.onnx"]);
  assert.deepEqual(new Uint8Array(readFileSync(path)), exportOnnx(model));
  assert.equal(n, readFileSync(path).length);
  // Replaces an existing file, again with nothing left over.
  writeFileSync(path, "old contents");
  saveOnnx(model, path, { quantize: "int8" });
  assert.deepEqual(readdirSync(dir), ["model.onnx"]);
  assert.deepEqual(new Uint8Array(readFileSync(path)), exportOnnx(model, { quantize: "int8" }));
  // A failed export writes nothing.
  const bad = join(dir, "bad.onnx");
  assert.throws(() => saveOnnx(model, bad, { opset: 7 }), TsdistillError);
  assert.ok(!existsSync(bad));
  assert.deepEqual(readdirSync(dir), ["model.onnx"]);
  model.dispose();
});
