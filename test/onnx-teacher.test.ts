// ONNX teachers through onnxruntime-node: logits equal TF.js for an exported model; NCHW inputs and probability
// outputs are detected; `tsdistill label` takes an .onnx teacher and distill runs from its cache.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import onnxProto from "onnx-proto";
import { useBackend } from "../src/engine/backend.js";
import { SequentialModel } from "../src/students/model.js";
import { modelConfigFromSpec } from "../src/students/spec.js";
import { saveOnnx } from "../src/export/onnx.js";
import { OnnxTeacher } from "../src/teachers/onnx-teacher.js";
import { Rng } from "../src/util/rng.js";
import { train } from "../src/train/distill.js";
import { loadMnist } from "../src/data/mnist.js";
import { featureBatch, tempDir } from "./helpers.js";

const { onnx } = onnxProto;
await useBackend("wasm");

test("an exported model as an ONNX teacher gives TF.js's logits (NHWC, logits output)", async () => {
  const { dir, cleanup } = tempDir();
  try {
    const model = new SequentialModel(modelConfigFromSpec("cnn:conv4k3-pool-dense8", { inputShape: [28, 28, 1], numClasses: 10 }), 9);
    const path = join(dir, "t.onnx");
    saveOnnx(model, path);
    const teacher = await OnnxTeacher.open(path, { sampleShape: [28, 28, 1] });
    assert.equal(teacher.numClasses, 10);
    const rng = new Rng(1);
    const x = Float32Array.from({ length: 5 * 784 }, () => rng.next());
    const got = await teacher.logitsAsync(featureBatch(x, 5, [28, 28, 1]));
    const want = tf.tidy(() => model.predict(tf.tensor(x, [5, 28, 28, 1])).dataSync());
    let max = 0;
    for (let i = 0; i < want.length; i++) max = Math.max(max, Math.abs(got[i] - want[i]));
    assert.ok(max < 1e-4, `max |diff| ${max}`);
    assert.throws(() => teacher.logits(), /asynchronously/);
    await teacher.close();
    model.dispose();
  } finally {
    cleanup();
  }
});

test("an NCHW model with softmax outputs: inputs are transposed and probabilities become log-probabilities", async () => {
  const { dir, cleanup } = tempDir();
  try {
    // input [N, 2, 3, 3] (NCHW) → Flatten → MatMul W [18, 4] → Softmax
    const rng = new Rng(2);
    const W = Float32Array.from({ length: 18 * 4 }, () => rng.normal());
    const m = onnx.ModelProto.create({
      irVersion: 7,
      opsetImport: [{ domain: "", version: 13 }],
      graph: {
        name: "nchw",
        input: [{ name: "x", type: { tensorType: { elemType: 1, shape: { dim: [{ dimParam: "N" }, { dimValue: 2 }, { dimValue: 3 }, { dimValue: 3 }] } } } }],
        output: [{ name: "p", type: { tensorType: { elemType: 1, shape: { dim: [{ dimParam: "N" }, { dimValue: 4 }] } } } }],
        initializer: [{ name: "W", dims: [18, 4], dataType: 1, rawData: new Uint8Array(W.buffer) }],
        node: [
          { opType: "Flatten", input: ["x"], output: ["f"], attribute: [{ name: "axis", type: 2, i: 1 }] },
          { opType: "MatMul", input: ["f", "W"], output: ["z"] },
          { opType: "Softmax", input: ["z"], output: ["p"], attribute: [{ name: "axis", type: 2, i: 1 }] },
        ],
      },
    });
    const path = join(dir, "nchw.onnx");
    writeFileSync(path, onnx.ModelProto.encode(m).finish());
    const teacher = await OnnxTeacher.open(path, { sampleShape: [3, 3, 2] });
    assert.equal(teacher.numClasses, 4);
    const x = Float32Array.from({ length: 2 * 18 }, () => rng.next()); // NHWC [2, 3, 3, 2]
    const got = await teacher.logitsAsync(featureBatch(x, 2, [3, 3, 2]));
    for (let n = 0; n < 2; n++) {
      const f: number[] = [];
      for (let c = 0; c < 2; c++) for (let h = 0; h < 3; h++) for (let w = 0; w < 3; w++) f.push(x[n * 18 + (h * 3 + w) * 2 + c]);
      const z = [0, 1, 2, 3].map((k) => f.reduce((s, v, i) => s + v * W[i * 4 + k], 0));
      const lse = Math.log(z.reduce((s, v) => s + Math.exp(v), 0));
      z.forEach((v, k) => assert.ok(Math.abs(got[n * 4 + k] - (v - lse)) < 1e-4, `row ${n} class ${k}: ${got[n * 4 + k]} vs ${v - lse}`));
    }
    await teacher.close();
    await assert.rejects(OnnxTeacher.open(path, { sampleShape: [28, 28, 1] }), /expects samples of shape \[2,3,3\]/);
    await assert.rejects(OnnxTeacher.open(join(dir, "none.onnx"), { sampleShape: [3, 3, 2] }), /none\.onnx: not found/);
  } finally {
    cleanup();
  }
});

test("label --teacher model.onnx writes a cache that distill --teacher-cache trains from", async () => {
  const { dir, cleanup } = tempDir();
  try {
    const model = new SequentialModel(modelConfigFromSpec("mlp:64", { inputShape: [28, 28, 1], numClasses: 10 }), 4);
    await train(model, loadMnist().train.take(3000), { epochs: 2, batchSize: 32 });
    const path = join(dir, "teacher.onnx");
    saveOnnx(model, path);
    model.dispose();
    const cli = (...a: string[]) => spawnSync(process.execPath, ["bin/tsdistill.js", ...a], { encoding: "utf8" });
    const l = cli("label", "--teacher", path, "--out", join(dir, "cache"), "--train-size", "2000", "--quiet", "--json");
    assert.equal(l.status, 0, l.stderr);
    assert.equal(JSON.parse(l.stdout).samples, 2000);
    const d = cli("distill", "--teacher-cache", join(dir, "cache"), "--train-size", "2000", "--student", "mlp:16", "--epochs", "3", "--batch-size", "32", "--temperature", "4", "--alpha", "0.1", "--out", join(dir, "run"), "--quiet", "--json");
    assert.equal(d.status, 0, d.stderr);
    const agree = JSON.parse(d.stdout).agreementWithTeacher;
    assert.ok(agree > 0.5, `agreement with the cached teacher ${agree}`);
  } finally {
    cleanup();
  }
});
