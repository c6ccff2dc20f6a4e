// ONNX teachers beyond one input: intermediate tensors by name (added as graph outputs by editing the protobuf),
// models with extra inputs and recurrent state through an input builder (a small stateful graph built here, and the
// real Silero VAD v5 model shipped in @ricky0123/vad-web), and the same through a teacher config file.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import * as ort from "onnxruntime-node";
import onnxProto from "onnx-proto";
import { OnnxTeacher, type OnnxInputBuilder } from "../src/teachers/onnx-teacher.js";
import { openTeacher } from "../src/teachers/open-teacher.js";
import { InMemoryDataset } from "../src/data/dataset.js";
import { labelDataset, openLabelCache } from "../src/teachers/label-cache.js";
import { Rng } from "../src/util/rng.js";
import { assertAllClose, featureBatch, tempDir } from "./helpers.js";

const { onnx } = onnxProto;
const rnd = (rng: Rng, n: number) => Float32Array.from({ length: n }, () => rng.normal() * 0.5);
const f32 = (name: string, dims: number[], data: Float32Array) => ({ name, dims, dataType: 1, rawData: new Uint8Array(data.buffer) });
const vi = (name: string, ...dims: (number | string)[]) => ({
  name,
  type: { tensorType: { elemType: 1, shape: { dim: dims.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })) } } },
});

function matmul(x: Float32Array, n: number, w: Float32Array, k: number, m: number): Float32Array {
  const out = new Float32Array(n * m);
  for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) for (let t = 0; t < k; t++) out[i * m + j] += x[i * k + t] * w[t * m + j];
  return out;
}

test("intermediate ONNX tensors by name: one with value_info, one without, both returned by forwardAsync", async () => {
  const { dir, cleanup } = tempDir();
  try {
    const rng = new Rng(11);
    const [W1, W2] = [rnd(rng, 4 * 6), rnd(rng, 6 * 3)];
    const model = onnx.ModelProto.create({
      irVersion: 7,
      opsetImport: [{ domain: "", version: 13 }],
      graph: {
        name: "mlp",
        input: [vi("x", "N", 4)],
        output: [vi("z", "N", 3)],
        valueInfo: [vi("pre", "N", 6)], // "h" has none: the file never had shape inference run for it
        initializer: [f32("W1", [4, 6], W1), f32("W2", [6, 3], W2)],
        node: [
          { opType: "MatMul", input: ["x", "W1"], output: ["pre"] },
          { opType: "Relu", input: ["pre"], output: ["h"] },
          { opType: "MatMul", input: ["h", "W2"], output: ["z"] },
        ],
      },
    });
    const path = join(dir, "mlp.onnx");
    writeFileSync(path, onnx.ModelProto.encode(model).finish());
    const teacher = await OnnxTeacher.open(path, { sampleShape: [4], capture: ["h", "pre"] });
    assert.equal(teacher.numClasses, 3);
    assert.deepEqual(teacher.metadata.input, { name: "x", shape: [null, 4], dtype: "float32", layout: "flat" });
    assert.equal(teacher.metadata.output.kind, "logits");
    const x = rnd(rng, 5 * 4);
    const pre = matmul(x, 5, W1, 4, 6);
    const h = pre.map((v) => Math.max(v, 0));
    const z = matmul(h, 5, W2, 6, 3);
    const { logits, features } = await teacher.forwardAsync(featureBatch(x, 5, [4]), ["h", "pre"]);
    assertAllClose(logits, z, { what: "logits" });
    assertAllClose(features.get("h")!.data, h, { what: "h (no value_info)" });
    assert.deepEqual(features.get("h")!.shape, [5, 6], "h shape");
    assertAllClose(features.get("pre")!.data, pre, { what: "pre (value_info)" });
    assertAllClose(await teacher.logitsAsync(featureBatch(x, 5, [4])), z, { what: "logitsAsync with captures present" });
    await assert.rejects(teacher.forwardAsync(featureBatch(x, 5, [4]), ["W1"]), /"W1" was not captured/);
    await teacher.close();
    await assert.rejects(OnnxTeacher.open(path, { sampleShape: [4], capture: ["nope"] }), /mlp\.onnx: has no tensor named "nope" to capture \(node outputs include: x, pre, h, z\)/);
  } finally {
    cleanup();
  }
});

/**
 * A recurrent toy: out = (x·W + state)·gain, stateN = x·W + state. Inputs x [N, 3], state [N, 2], gain [1].
 */
function writeStateful(path: string, W: Float32Array): void {
  const model = onnx.ModelProto.create({
    irVersion: 7,
    opsetImport: [{ domain: "", version: 13 }],
    graph: {
      name: "rnn",
      input: [vi("x", "N", 3), vi("state", "N", 2), vi("gain", 1)],
      output: [vi("out", "N", 2), vi("stateN", "N", 2)],
      initializer: [f32("W", [3, 2], W)],
      node: [
        { opType: "MatMul", input: ["x", "W"], output: ["xw"] },
        { opType: "Add", input: ["xw", "state"], output: ["stateN"] },
        { opType: "Mul", input: ["stateN", "gain"], output: ["out"] },
      ],
    },
  });
  writeFileSync(path, onnx.ModelProto.encode(model).finish());
}

test("a model with extra inputs and recurrent state runs through an input builder; the state is carried between calls", async () => {
  const { dir, cleanup } = tempDir();
  try {
    const rng = new Rng(12);
    const W = rnd(rng, 6);
    const path = join(dir, "rnn.onnx");
    writeStateful(path, W);
    await assert.rejects(OnnxTeacher.open(path, { sampleShape: [3] }), /has 3 inputs \(x, state, gain\); a teacher with extra inputs or state needs an input builder/);
    const builder: OnnxInputBuilder = (_x, n, ctx) => ({
      x: ctx.main,
      state: ctx.state.get("state") ?? new ort.Tensor("float32", new Float32Array(n * 2), [n, 2]),
      gain: new ort.Tensor("float32", Float32Array.of(2), [1]),
    });
    await assert.rejects(OnnxTeacher.open(path, { sampleShape: [3], inputBuilder: builder, state: { stateX: "state" } }), /state: the model has no output "stateX" \(outputs: out, stateN\)/);
    const teacher = await OnnxTeacher.open(path, { sampleShape: [3], inputBuilder: builder, state: { stateN: "state" } });
    assert.equal(teacher.numClasses, 2);
    const x1 = rnd(rng, 4 * 3);
    const x2 = rnd(rng, 4 * 3);
    const s1 = matmul(x1, 4, W, 3, 2);
    const s2 = matmul(x2, 4, W, 3, 2).map((v, i) => v + s1[i]);
    assertAllClose(await teacher.logitsAsync(featureBatch(x1, 4, [3])), s1.map((v) => 2 * v), { what: "first call (zero state; the probe at open left none)" });
    assertAllClose(await teacher.logitsAsync(featureBatch(x2, 4, [3])), s2.map((v) => 2 * v), { what: "second call carries the first call's state" });
    teacher.resetState();
    assertAllClose(await teacher.logitsAsync(featureBatch(x2, 4, [3])), matmul(x2, 4, W, 3, 2).map((v) => 2 * v), { what: "after resetState" });
    await teacher.close();

    // The same from a teacher config: the builder is a module next to the config, relative paths resolve there.
    writeFileSync(
      join(dir, "builder.mjs"),
      `export function feeds(x, n, ctx) {
  return { x: ctx.main, state: ctx.state.get("state") ?? new ctx.Tensor("float32", new Float32Array(n * 2), [n, 2]), gain: new ctx.Tensor("float32", Float32Array.of(2), [1]) };
}
`,
    );
    writeFileSync(join(dir, "teacher.yaml"), "kind: onnx\npath: rnn.onnx\ninputBuilder: builder.mjs#feeds\nstate:\n  stateN: state\n");
    const data = new InMemoryDataset("seq", Float32Array.from([...x1, ...x2]), new Int32Array(8), [3], 2);
    const opened = await openTeacher(join(dir, "teacher.yaml"), data);
    assert.equal(opened.teacher.metadata?.kind, "onnx");
    await labelDataset(opened.teacher, data, join(dir, "cache"), { teacherHash: opened.hash, batchSize: 4, shardSize: 8 });
    const cache = openLabelCache(join(dir, "cache"), { teacherHash: opened.hash });
    assertAllClose(cache.logitsFor(Int32Array.from({ length: 8 }, (_, i) => i)), Float32Array.from([...s1, ...s2], (v) => 2 * v), { what: "cached logits of two stateful batches" });
    cache.close();
    await opened.close();
  } finally {
    cleanup();
  }
});

const require = createRequire(import.meta.url);
const SILERO = join(dirname(require.resolve("@ricky0123/vad-web/package.json")), "dist", "silero_vad_v5.onnx");

test("Silero VAD v5 (inputs input, state, sr; output a speech probability) is driven through the input builder", { skip: !existsSync(SILERO) && "silero_vad_v5.onnx not installed" }, async () => {
  const builder: OnnxInputBuilder = (_x, n, ctx) => ({
    input: ctx.main,
    state: ctx.state.get("state") ?? new ort.Tensor("float32", new Float32Array(2 * n * 128), [2, n, 128]),
    sr: new ort.Tensor("int64", BigInt64Array.of(16000n), []),
  });
  const teacher = await OnnxTeacher.open(SILERO, { sampleShape: [512], inputBuilder: builder, state: { stateN: "state" } });
  assert.equal(teacher.numClasses, 2, "a one-column probability becomes two classes");
  assert.equal(teacher.metadata.output.kind, "binary-probability");
  const rng = new Rng(13);
  // Stream 0: silence; stream 1: a loud 440 Hz tone with noise.
  const x = new Float32Array(2 * 512);
  for (let i = 0; i < 512; i++) x[512 + i] = 0.5 * Math.sin((2 * Math.PI * 440 * i) / 16000) + 0.05 * rng.normal();
  const first = await teacher.logitsAsync(featureBatch(x, 2, [512]));
  for (let r = 0; r < 2; r++) {
    const p = [Math.exp(first[2 * r]), Math.exp(first[2 * r + 1])];
    assert.ok(Math.abs(p[0] + p[1] - 1) < 1e-5, `row ${r}: probabilities ${p} sum to 1`);
  }
  const second = await teacher.logitsAsync(featureBatch(x, 2, [512]));
  assert.ok(Math.abs(second[3] - first[3]) > 1e-6, `the carried state changes the tone's answer (${first[3]} → ${second[3]})`);
  teacher.resetState();
  assertAllClose(await teacher.logitsAsync(featureBatch(x, 2, [512])), first, { what: "after resetState the first answer again" });
  await teacher.close();
});
