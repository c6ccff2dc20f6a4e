// TF.js teachers from any model folder: a stock tf.layers functional model (layers the engine lacks) saved the way
// tfjs `model.save` writes it, and a graph model (MatMul/AddV2/Relu) whose model.json + weights are written by hand.
// Both are checked against values computed independently, including an intermediate output by name.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import * as tfl from "@tensorflow/tfjs-layers";
import { useBackend } from "../src/engine/backend.js";
import { TfjsTeacher } from "../src/teachers/tfjs-teacher.js";
import { openTeacher } from "../src/teachers/open-teacher.js";
import { InMemoryDataset } from "../src/data/dataset.js";
import { labelDataset, openLabelCache } from "../src/teachers/label-cache.js";
import { Rng } from "../src/util/rng.js";
import { distillCommand } from "../src/cli/commands/distill.js";
import { assertAllClose, tempDir } from "./helpers.js";

await useBackend("cpu");

/** Saves a layers model as tfjs's file handler does: model.json (format layers-model) + one weights.bin. */
async function saveLikeTfjs(model: tfl.LayersModel, dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      const data = a.weightData instanceof ArrayBuffer ? a.weightData : tf.io.concatenateArrayBuffers(a.weightData as ArrayBuffer[]);
      writeFileSync(join(dir, "weights.bin"), new Uint8Array(data));
      const json = { modelTopology: a.modelTopology, format: "layers-model", generatedBy: `TensorFlow.js tfjs-layers v${tfl.version_layers}`, convertedBy: null, weightsManifest: [{ paths: ["weights.bin"], weights: a.weightSpecs }] };
      writeFileSync(join(dir, "model.json"), JSON.stringify(json));
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(a) };
    }),
  );
}

const randn = (rng: Rng, n: number) => Float32Array.from({ length: n }, () => rng.normal() * 0.5);

function matmul(x: Float32Array, n: number, w: Float32Array, k: number, m: number, b: Float32Array): Float32Array {
  const out = new Float32Array(n * m);
  for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) {
    let s = b[j];
    for (let t = 0; t < k; t++) s += x[i * k + t] * w[t * m + j];
    out[i * m + j] = s;
  }
  return out;
}

test("a stock functional tf.layers model (Add, BatchNormalization: not engine layers) is a teacher with intermediate outputs by layer name", async () => {
  const { dir, cleanup } = tempDir();
  try {
    const input = tfl.input({ shape: [6] });
    const a = tfl.layers.dense({ units: 5, activation: "relu", name: "branch_a" }).apply(input) as tfl.SymbolicTensor;
    const b = tfl.layers.dense({ units: 5, activation: "tanh", name: "branch_b" }).apply(input) as tfl.SymbolicTensor;
    const sum = tfl.layers.add({ name: "merge" }).apply([a, b]) as tfl.SymbolicTensor;
    const bn = tfl.layers.batchNormalization({ name: "bn" }).apply(sum) as tfl.SymbolicTensor;
    const out = tfl.layers.dense({ units: 3, activation: "softmax", name: "probs" }).apply(bn) as tfl.SymbolicTensor;
    const model = tfl.model({ inputs: input, outputs: out });
    const folder = join(dir, "functional");
    await saveLikeTfjs(model, folder);

    const opened = await openTeacher(folder, new InMemoryDataset("d", new Float32Array(6), new Int32Array(1), [6], 3));
    const teacher = opened.teacher as TfjsTeacher;
    assert.ok(teacher instanceof TfjsTeacher, "a folder the engine cannot load opens as a stock TF.js teacher");
    assert.equal(teacher.numClasses, 3);
    assert.deepEqual(teacher.metadata.input.shape, [null, 6], "input shape from the model");
    assert.equal(teacher.metadata.output.kind, "probabilities", "softmax output detected");
    assert.equal(teacher.metadata.kind, "tfjs-layers");
    assert.match(opened.hash, /^[0-9a-f]{64}$/, "content hash of the folder");
    assert.equal(teacher.metadata.hash, opened.hash, "metadata carries the same hash");

    const rng = new Rng(3);
    const xs = randn(rng, 4 * 6);
    const x = tf.tensor2d(xs, [4, 6]);
    const want = tf.tidy(() => tf.log(model.predict(x) as tf.Tensor).dataSync());
    const got = teacher.logits(x);
    assertAllClose(got.dataSync(), want, { what: "log-probabilities" });
    // branch_a = relu(x·W + b), from the saved weights themselves.
    const [w, bias] = model.getLayer("branch_a").getWeights().map((t) => t.dataSync() as Float32Array);
    const hidden = matmul(xs, 4, w, 6, 5, bias).map((v) => Math.max(v, 0));
    const { logits, features } = teacher.forward(x, ["branch_a", "merge"]);
    assertAllClose(features.get("branch_a")!.dataSync(), hidden, { what: "branch_a output" });
    assert.deepEqual(features.get("merge")!.shape, [4, 5], "merge output shape");
    assertAllClose(logits.dataSync(), want, { what: "forward logits" });
    assert.deepEqual(teacher.layers().find((l) => l.name === "bn")?.shape, [5], "layer shapes without the batch");
    assert.throws(() => teacher.forward(x, ["nope"]), /no layer named "nope" \(layers: .*branch_a/);
    tf.dispose([x, got, logits, ...features.values()]);
    await opened.close();
    model.dispose();
  } finally {
    cleanup();
  }
});

/** A graph model written by hand: logits = relu(x·W1 + b1)·W2 + b2, in the tfjs graph-model JSON format. */
function writeGraphModel(dir: string, W1: Float32Array, b1: Float32Array, W2: Float32Array, b2: Float32Array, softmax = false): void {
  mkdirSync(dir, { recursive: true });
  const dims = (...d: number[]) => ({ dim: d.map((size) => ({ size: String(size) })) });
  const F = { type: "DT_FLOAT" };
  const konst = (name: string, ...d: number[]) => ({ name, op: "Const", attr: { dtype: F, value: { tensor: { dtype: "DT_FLOAT", tensorShape: dims(...d) } } } });
  const node = [
    { name: "x", op: "Placeholder", attr: { dtype: F, shape: { shape: dims(-1, 4) } } },
    konst("W1", 4, 8),
    konst("b1", 8),
    konst("W2", 8, 3),
    konst("b2", 3),
    { name: "mm1", op: "MatMul", input: ["x", "W1"], attr: { T: F, transpose_a: { b: false }, transpose_b: { b: false } } },
    { name: "add1", op: "AddV2", input: ["mm1", "b1"], attr: { T: F } },
    { name: "hidden", op: "Relu", input: ["add1"], attr: { T: F } },
    { name: "mm2", op: "MatMul", input: ["hidden", "W2"], attr: { T: F, transpose_a: { b: false }, transpose_b: { b: false } } },
    { name: "logits", op: "AddV2", input: ["mm2", "b2"], attr: { T: F } },
    ...(softmax ? [{ name: "probs", op: "Softmax", input: ["logits"], attr: { T: F } }] : []),
  ];
  const weights = [
    { name: "W1", shape: [4, 8], dtype: "float32" },
    { name: "b1", shape: [8], dtype: "float32" },
    { name: "W2", shape: [8, 3], dtype: "float32" },
    { name: "b2", shape: [3], dtype: "float32" },
  ];
  const json = { format: "graph-model", generatedBy: "hand-written test graph", convertedBy: null, modelTopology: { node, library: {}, versions: { producer: 1 } }, weightsManifest: [{ paths: ["group1-shard1of2.bin", "group1-shard2of2.bin"], weights }] };
  writeFileSync(join(dir, "model.json"), JSON.stringify(json));
  const all = new Float32Array([...W1, ...b1, ...W2, ...b2]);
  const bytes = new Uint8Array(all.buffer);
  writeFileSync(join(dir, "group1-shard1of2.bin"), bytes.subarray(0, 64)); // two shards, split mid-tensor
  writeFileSync(join(dir, "group1-shard2of2.bin"), bytes.subarray(64));
}

test("a TF.js graph model (hand-written MatMul/AddV2/Relu graph, two shards) is a teacher with intermediate outputs by node name", async () => {
  const { dir, cleanup } = tempDir();
  try {
    const rng = new Rng(5);
    const [W1, b1, W2, b2] = [randn(rng, 32), randn(rng, 8), randn(rng, 24), randn(rng, 3)];
    const folder = join(dir, "graph");
    writeGraphModel(folder, W1, b1, W2, b2);
    const opened = await openTeacher(folder, new InMemoryDataset("d", new Float32Array(4), new Int32Array(1), [4], 3));
    const teacher = opened.teacher as TfjsTeacher;
    assert.equal(teacher.metadata.kind, "tfjs-graph");
    assert.equal(teacher.numClasses, 3);
    assert.deepEqual(teacher.metadata.input, { name: "x", shape: [null, 4], dtype: "float32", layout: "flat" });
    assert.equal(teacher.metadata.output.kind, "logits");
    const xs = randn(rng, 5 * 4);
    const hidden = matmul(xs, 5, W1, 4, 8, b1).map((v) => Math.max(v, 0));
    const want = matmul(hidden, 5, W2, 8, 3, b2);
    const x = tf.tensor2d(xs, [5, 4]);
    const got = teacher.logits(x);
    assertAllClose(got.dataSync(), want, { what: "graph logits" });
    const { logits, features } = teacher.forward(x, ["hidden"]);
    assertAllClose(features.get("hidden")!.dataSync(), hidden, { what: "node hidden" });
    assertAllClose(logits.dataSync(), want, { what: "forward logits" });
    assert.deepEqual(teacher.layers().find((l) => l.name === "hidden")?.shape, [8], "node shapes measured on one sample");
    assert.throws(() => teacher.forward(x, ["nope"]), /no node named "nope" \(nodes: mm1, add1, hidden/);
    tf.dispose([x, got, logits, ...features.values()]);

    // It labels a transfer set into a cache like any other teacher.
    const data = new InMemoryDataset("t", xs, new Int32Array(5), [4], 3);
    await labelDataset(teacher, data, join(dir, "cache"), { teacherHash: opened.hash, shardSize: 2 });
    const cache = openLabelCache(join(dir, "cache"), { teacherHash: opened.hash });
    assertAllClose(cache.logitsFor(Int32Array.from([0, 1, 2, 3, 4])), want, { what: "cached logits" });
    cache.close();
    await opened.close();

    // A softmax output is detected and logged; a missing shard is one line naming it.
    writeGraphModel(join(dir, "soft"), W1, b1, W2, b2, true);
    const soft = await TfjsTeacher.open(join(dir, "soft"));
    assert.equal(soft.metadata.output.kind, "probabilities");
    const lp = soft.logits(tf.tensor2d(xs, [5, 4])).dataSync();
    for (let i = 0; i < 5; i++) {
      const row = Array.from(want.subarray(i * 3, i * 3 + 3));
      const lse = Math.log(row.reduce((s, v) => s + Math.exp(v), 0));
      assertAllClose(lp.subarray(i * 3, i * 3 + 3), row.map((v) => v - lse), { what: `log-softmax row ${i}` });
    }
    soft.dispose();
    writeFileSync(join(dir, "soft", "group1-shard2of2.bin"), new Uint8Array(8));
    await assert.rejects(TfjsTeacher.open(join(dir, "soft")), /group1-shard1of2\.bin: holds 72 bytes, but model\.json's manifest needs 268/);
  } finally {
    cleanup();
  }
});

test("distill --teacher takes a stock TF.js layers folder (a conv layer with dilation: not an engine model)", async () => {
  const { dir, cleanup } = tempDir();
  try {
    const model = tfl.sequential({
      layers: [
        tfl.layers.conv2d({ inputShape: [28, 28, 1], filters: 2, kernelSize: 3, dilationRate: 2, activation: "relu" }),
        tfl.layers.flatten(),
        tfl.layers.dense({ units: 10, activation: "softmax" }),
      ],
    });
    await saveLikeTfjs(model, join(dir, "stock"));
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = (() => true) as typeof process.stdout.write;
    try {
      await distillCommand(["--teacher", join(dir, "stock"), "--student", "mlp:8", "--train-size", "300", "--validation-size", "100", "--epochs", "1", "--out", join(dir, "run"), "--backend", "cpu", "--quiet", "--json"]);
    } finally {
      process.stdout.write = write;
    }
    const result = JSON.parse(readFileSync(join(dir, "run", "results.json"), "utf8")) as { teacherParams: number; agreementWithTeacher: number; teacherTestAccuracy: number };
    assert.equal(result.teacherParams, model.countParams(), "teacher parameters read from the folder");
    assert.ok(result.agreementWithTeacher >= 0 && result.agreementWithTeacher <= 1 && result.teacherTestAccuracy < 0.5, `an untrained teacher: accuracy ${result.teacherTestAccuracy}`);
    model.dispose();
  } finally {
    cleanup();
  }
});
