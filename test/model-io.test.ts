// Saving and loading models in the TF.js layers format, and conversion to/from stock tf.layers models.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import * as tfl from "@tensorflow/tfjs-layers";
import { useBackend } from "../src/engine/backend.js";
import { fromLayersModel, loadLayersModel, loadModel, saveModel, toLayersModel } from "../src/students/io.js";
import { SequentialModel } from "../src/students/model.js";
import { modelConfigFromSpec } from "../src/students/spec.js";
import { DataError } from "../src/util/errors.js";
import { Rng } from "../src/util/rng.js";
import { maxAbsDiff, tempDir } from "./helpers.js";

await useBackend("wasm", { fallback: false });

const { dir: root, cleanup } = tempDir("tsdistill-io-");
process.on("exit", cleanup);

function inputs(shape: number[], n: number, seed = 1): tf.Tensor {
  const rng = new Rng(seed, "io-inputs");
  const size = n * shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Float32Array.from({ length: size }, () => rng.next()), [n, ...shape]);
}

function predictArray(predict: (x: tf.Tensor) => tf.Tensor, x: tf.Tensor): Float32Array {
  return tf.tidy(() => Float32Array.from(predict(x).dataSync() as Float32Array));
}

/** A model with non-trivial weights (random init plus random biases). */
function makeModel(spec: string, inputShape: number[], seed: number, dropout = 0): SequentialModel {
  const model = new SequentialModel(modelConfigFromSpec(spec, { inputShape, numClasses: 10, dropout }), seed);
  const rng = new Rng(seed, "biases");
  for (const p of model.params) if (p.rank === 1) p.assign(tf.tensor1d(Float32Array.from({ length: p.size }, () => rng.normal() * 0.1)));
  return model;
}

/** Reads a saved folder with the stock loader only (no tsdistill code): a custom IOHandler over the files. */
async function stockLoad(dir: string): Promise<tfl.LayersModel> {
  const json = JSON.parse(readFileSync(join(dir, "model.json"), "utf8"));
  const handler: tf.io.IOHandler = {
    load: async () => {
      const specs: tf.io.WeightsManifestEntry[] = [];
      const chunks: Uint8Array[] = [];
      for (const group of json.weightsManifest) {
        specs.push(...group.weights);
        for (const p of group.paths) chunks.push(new Uint8Array(readFileSync(join(dir, p))));
      }
      const total = chunks.reduce((n, c) => n + c.length, 0);
      const data = new Uint8Array(total);
      let off = 0;
      for (const c of chunks) {
        data.set(c, off);
        off += c.length;
      }
      return { modelTopology: json.modelTopology, weightSpecs: specs, weightData: data.buffer, format: json.format, generatedBy: json.generatedBy, convertedBy: json.convertedBy };
    },
  };
  return tfl.loadLayersModel(handler);
}

const CASES = [
  { name: "mlp", spec: "mlp:16-8", inputShape: [28, 28, 1], dropout: 0.3 },
  { name: "cnn", spec: "cnn:conv4-pool-conv8k5s2-avgpool-dense16", inputShape: [28, 28, 1], dropout: 0 },
  { name: "flat-input mlp", spec: "mlp:5", inputShape: [7], dropout: 0 },
];

for (const c of CASES) {
  test(`${c.name} (${c.spec}): save, then load back with loadModel, loadLayersModel and the stock tf.loadLayersModel`, async () => {
    const model = makeModel(c.spec, c.inputShape, 11, c.dropout);
    const dir = join(root, c.name.replace(/\W/g, "_"));
    const metadata = { spec: c.spec, testAccuracy: 0.9876, classes: ["zero", "one"], nested: { a: [1, 2, { b: null }], t: true }, note: "ünïcødé → ok" };
    await saveModel(model, dir, metadata);

    assert.deepEqual(readdirSync(dir).sort(), ["model.json", "weights.bin"]);
    const json = JSON.parse(readFileSync(join(dir, "model.json"), "utf8"));
    assert.equal(json.format, "layers-model");
    assert.deepEqual(json.weightsManifest.map((g: { paths: string[] }) => g.paths), [["weights.bin"]]);
    assert.deepEqual(json.userDefinedMetadata, { tsdistill: metadata });
    assert.equal(statSync(join(dir, "weights.bin")).size, model.paramCount * 4);

    const x = inputs(c.inputShape, 9);
    const want = predictArray((t) => model.predict(t), x);

    const loaded = await loadModel(dir);
    assert.deepEqual(loaded.metadata, metadata);
    assert.deepEqual(loaded.model.config.inputShape, c.inputShape);
    assert.deepEqual(loaded.model.config.layers, model.config.layers, "layer configs round-trip");
    assert.equal(loaded.model.paramCount, model.paramCount);
    const got = predictArray((t) => loaded.model.predict(t), x);
    assert.ok(maxAbsDiff(got, want) <= 1e-5, `loadModel predictions differ by ${maxAbsDiff(got, want)}`);
    // Weights are bit-identical.
    loaded.model.params.forEach((p, i) => assert.deepEqual(p.dataSync(), model.params[i].dataSync(), `weight ${i}`));

    const { model: lm, metadata: md2 } = await loadLayersModel(dir);
    assert.deepEqual(md2, metadata);
    const gotLm = predictArray((t) => lm.predict(t) as tf.Tensor, x);
    assert.ok(maxAbsDiff(gotLm, want) <= 1e-5, `loadLayersModel predictions differ by ${maxAbsDiff(gotLm, want)}`);

    const stock = await stockLoad(dir);
    const gotStock = predictArray((t) => stock.predict(t) as tf.Tensor, x);
    assert.ok(maxAbsDiff(gotStock, want) <= 1e-5, `stock tf.loadLayersModel predictions differ by ${maxAbsDiff(gotStock, want)}`);

    tf.dispose(x);
    [lm, stock].forEach((m) => m.dispose());
    loaded.model.dispose();
    model.dispose();
  });
}

test("saveModel leaves no temp folders behind and replaces an existing folder", async () => {
  const parent = join(root, "atomic");
  mkdirSync(parent);
  const a = makeModel("mlp:4", [6], 1);
  const b = makeModel("mlp:4", [6], 2);
  const dir = join(parent, "m");
  await saveModel(a, dir, { which: "a" });
  assert.deepEqual(readdirSync(parent), ["m"]);
  writeFileSync(join(dir, "stale.txt"), "left over");
  await saveModel(b, dir, { which: "b" });
  assert.deepEqual(readdirSync(parent), ["m"], "no hidden temp folders");
  assert.deepEqual(readdirSync(dir).sort(), ["model.json", "weights.bin"], "the old folder was replaced");
  const { metadata, model } = await loadModel(dir);
  assert.deepEqual(metadata, { which: "b" });
  model.params.forEach((p, i) => assert.deepEqual(p.dataSync(), b.params[i].dataSync()));
  // Saving into a folder whose parents do not exist yet creates them.
  await saveModel(a, join(parent, "x", "y", "z"));
  assert.ok(existsSync(join(parent, "x", "y", "z", "model.json")), "nested folder created");
  assert.deepEqual(readdirSync(join(parent, "x", "y")), ["z"]);
  assert.deepEqual((await loadModel(join(parent, "x", "y", "z"))).metadata, {}, "metadata defaults to {}");
  [a, b, model].forEach((m) => m.dispose());
});

/** Asserts a one-line DataError naming `file`. */
async function rejectsNaming(p: Promise<unknown>, file: string, pattern?: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof DataError, `expected a DataError, got ${(err as Error)?.name}: ${(err as Error)?.message}`);
    assert.ok(err.message.includes(file), `message does not name ${file}: ${err.message}`);
    assert.ok(!err.message.includes("\n"), `message is not one line: ${JSON.stringify(err.message)}`);
    if (pattern) assert.match(err.message, pattern);
    return true;
  });
}

test("loading errors: one-line DataErrors naming the file", async (t) => {
  const model = makeModel("mlp:4", [6], 3);
  const good = join(root, "errors-good");
  await saveModel(model, good);
  model.dispose();
  const copy = (name: string) => {
    const d = join(root, name);
    mkdirSync(d);
    for (const f of readdirSync(good)) writeFileSync(join(d, f), readFileSync(join(good, f)));
    return d;
  };

  await t.test("missing folder", async () => {
    const d = join(root, "does-not-exist");
    await rejectsNaming(loadModel(d), join(d, "model.json"), /not found/);
    await rejectsNaming(loadLayersModel(d), join(d, "model.json"), /not found/);
  });
  await t.test("invalid JSON", async () => {
    const d = copy("bad-json");
    writeFileSync(join(d, "model.json"), '{"modelTopology": {');
    await rejectsNaming(loadModel(d), join(d, "model.json"), /not valid JSON/);
  });
  await t.test("JSON that is not a layers model", async () => {
    const d = copy("not-layers");
    writeFileSync(join(d, "model.json"), JSON.stringify({ hello: "world" }));
    await rejectsNaming(loadModel(d), join(d, "model.json"), /modelTopology and weightsManifest/);
  });
  await t.test("missing weights file", async () => {
    const d = copy("no-weights");
    rmSync(join(d, "weights.bin"));
    await rejectsNaming(loadModel(d), join(d, "weights.bin"), /not found/);
  });
  await t.test("weights file of the wrong size", async () => {
    const d = copy("short-weights");
    const w = readFileSync(join(d, "weights.bin"));
    writeFileSync(join(d, "weights.bin"), w.subarray(0, w.length - 4));
    await rejectsNaming(loadModel(d), join(d, "weights.bin"), new RegExp(`holds ${w.length - 4} bytes.*needs ${w.length}`));
    writeFileSync(join(d, "weights.bin"), Buffer.concat([w, Buffer.alloc(8)]));
    await rejectsNaming(loadModel(d), join(d, "weights.bin"), new RegExp(`holds ${w.length + 8} bytes`));
  });
});

test("toLayersModel gives an equivalent stock model that shares no memory", () => {
  const model = makeModel("cnn:conv3k3s2-pool-dense6", [9, 9, 2], 5, 0.2);
  const lm = toLayersModel(model);
  const x = inputs([9, 9, 2], 4);
  const want = predictArray((t) => model.predict(t), x);
  assert.ok(maxAbsDiff(predictArray((t) => lm.predict(t) as tf.Tensor, x), want) <= 1e-5, "same predictions");
  // Changing the engine model afterwards does not change the stock copy.
  model.params[0].assign(tf.zerosLike(model.params[0]));
  assert.ok(maxAbsDiff(predictArray((t) => lm.predict(t) as tf.Tensor, x), want) <= 1e-5, "the stock copy kept its weights");
  lm.dispose();
  model.dispose();
  x.dispose();
});

test("fromLayersModel converts stock models (valid padding, strides, final softmax dropped)", () => {
  const lm = tfl.sequential({
    layers: [
      tfl.layers.conv2d({ inputShape: [11, 11, 2], filters: 3, kernelSize: 3, strides: 2, padding: "valid", activation: "relu" }),
      tfl.layers.maxPooling2d({ poolSize: 2, padding: "same" }),
      tfl.layers.conv2d({ filters: 4, kernelSize: [2, 2], padding: "same", activation: "tanh", useBias: false }),
      tfl.layers.averagePooling2d({ poolSize: 1, strides: 1 }),
      tfl.layers.flatten(),
      tfl.layers.dropout({ rate: 0.25 }),
      tfl.layers.dense({ units: 7, activation: "sigmoid" }),
      tfl.layers.dense({ units: 5, activation: "softmax" }),
    ],
  });
  const model = fromLayersModel(lm, "stock-model");
  assert.deepEqual(model.config.inputShape, [11, 11, 2]);
  assert.deepEqual(
    model.config.layers.map((l) => l.type),
    ["conv2d", "maxPool2d", "conv2d", "avgPool2d", "flatten", "dropout", "dense", "dense"],
  );
  const last = model.config.layers[model.config.layers.length - 1];
  assert.equal(last.type === "dense" && last.activation, "linear", "the final softmax is dropped");
  const x = inputs([11, 11, 2], 5);
  const probs = predictArray((t) => lm.predict(t) as tf.Tensor, x);
  const ours = predictArray((t) => tf.softmax(model.predict(t)), x);
  assert.ok(maxAbsDiff(ours, probs) <= 1e-5, `softmax(logits) equals the stock output (diff ${maxAbsDiff(ours, probs)})`);
  x.dispose();
  model.dispose();
  lm.dispose();
});

test("fromLayersModel rejects what the engine cannot train, naming the source and layer", () => {
  const bn = tfl.sequential({ layers: [tfl.layers.dense({ inputShape: [4], units: 3, name: "d1" }), tfl.layers.batchNormalization({ name: "bn1" })] });
  assert.throws(
    () => fromLayersModel(bn, "src.json"),
    (err: unknown) => err instanceof DataError && /src\.json/.test(err.message) && /"bn1"/.test(err.message) && /BatchNormalization/.test(err.message),
  );
  const elu = tfl.sequential({ layers: [tfl.layers.dense({ inputShape: [4], units: 3, activation: "elu", name: "d_elu" }), tfl.layers.dense({ units: 2 })] });
  assert.throws(() => fromLayersModel(elu, "elu.json"), (err: unknown) => err instanceof DataError && /"d_elu".*activation "elu"/.test(err.message));
  // Softmax is only dropped on the last layer.
  const midSoftmax = tfl.sequential({ layers: [tfl.layers.dense({ inputShape: [4], units: 3, activation: "softmax", name: "mid" }), tfl.layers.dense({ units: 2 })] });
  assert.throws(() => fromLayersModel(midSoftmax, "m.json"), (err: unknown) => err instanceof DataError && /"mid".*softmax/.test(err.message));
  [bn, elu, midSoftmax].forEach((m) => m.dispose());
});
