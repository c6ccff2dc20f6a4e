// Training on the native backend gives the cpu backend's numbers: the fused optimiser updates, a loss curve of
// our own layers (MLP and CNN, custom-grad ops), and a stock tf.layers model trained with model.fit.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import * as tfl from "@tensorflow/tfjs-layers";
import { useBackend, type BackendName } from "../src/engine/backend.js";
import { createOptimizer, OptimizerConfig } from "../src/train/optimizers.js";
import { SequentialModel } from "../src/students/model.js";
import { modelConfigFromSpec } from "../src/students/spec.js";
import { Rng } from "../src/util/rng.js";
import { fallbackCounts } from "../src/engine/native-util.js";
import { assertClose, assertNativeLoaded, nativeTestOptions, randomArray } from "./native-helpers.js";

const rng = new Rng(11, "native-training");

test("fused Adam and SGD+momentum updates on native equal the cpu path", nativeTestOptions, async () => {
  assertNativeLoaded();
  const shapes = [[7, 5], [5], [3, 3, 2, 4]];
  const init = shapes.map((s) => randomArray(rng, s.reduce((a, b) => a * b, 1)));
  const grads = Array.from({ length: 6 }, () => shapes.map((s) => randomArray(rng, s.reduce((a, b) => a * b, 1))));
  const configs = [
    { kind: "adam", lr: 0.01, weightDecay: 0.01 },
    { kind: "sgd", lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 1e-3 },
    { kind: "sgd", lr: 0.05, momentum: 0.5 },
  ] as const;
  for (const cfg of configs) {
    const results: Float32Array[][] = [];
    for (const backend of ["cpu", "native"] as BackendName[]) {
      await useBackend(backend, { fallback: false });
      const params = init.map((v, i) => tf.variable(tf.tensor(v, shapes[i])));
      const opt = createOptimizer(OptimizerConfig.parse(cfg));
      grads.forEach((gs, step) => {
        const g = gs.map((v, i) => tf.tensor(v, shapes[i]));
        opt.step(params, g, cfg.lr * (1 - step / 10));
        g.forEach((t) => t.dispose());
      });
      results.push(params.map((p) => Float32Array.from(p.dataSync() as Float32Array)));
      params.forEach((p) => p.dispose());
      opt.dispose();
    }
    results[0].forEach((ref, i) => assert.deepEqual(Array.from(results[1][i]), Array.from(ref), `${cfg.kind}: parameter ${i} identical on native and cpu`));
  }
});

async function ownLossCurve(backend: BackendName, spec: string, inputShape: number[], steps: number): Promise<number[]> {
  await useBackend(backend, { fallback: false });
  const data = new Rng(5, "curve");
  const model = new SequentialModel(modelConfigFromSpec(spec, { inputShape, numClasses: 5 }), 3);
  const opt = createOptimizer(OptimizerConfig.parse({ kind: "adam", lr: 3e-3 }));
  const size = inputShape.reduce((a, b) => a * b, 1);
  const losses: number[] = [];
  // One fixed batch: the model memorises it, so the loss must fall.
  const n = 16;
  const x = tf.tensor(Float32Array.from({ length: n * size }, () => data.next()), [n, ...inputShape]);
  const y = tf.oneHot(tf.tensor1d(Int32Array.from({ length: n }, () => data.int(5)), "int32"), 5);
  for (let step = 0; step < steps; step++) {
    const { value, grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(y, model.forward(x, { training: true }).logits) as tf.Scalar, model.params);
    opt.step(model.params, model.params.map((p) => grads[p.name]), 3e-3);
    losses.push(value.dataSync()[0]);
    tf.dispose([value, ...Object.values(grads)]);
  }
  tf.dispose([x, y, ...model.params]);
  return losses;
}

test("our layers (MLP and CNN): the native loss curve is cpu's", nativeTestOptions, async () => {
  assertNativeLoaded();
  for (const [spec, shape] of [["mlp:64-32", [40]], ["cnn:conv6k3-pool-conv8k3s2-avgpool-dense16", [12, 12, 2]]] as const) {
    const cpu = await ownLossCurve("cpu", spec, [...shape], 25);
    fallbackCounts.clear();
    const native = await ownLossCurve("native", spec, [...shape], 25);
    for (const name of ["BatchMatMul", "_FusedMatMul", "FusedConv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter", "MaxPool", "MaxPoolGrad", "AvgPool", "AvgPoolGrad"]) {
      assert.equal(fallbackCounts.get(name) ?? 0, 0, `${spec}: ${name} ran in the addon`);
    }
    assert.ok(cpu[cpu.length - 1] < cpu[0], `${spec}: the loss falls on cpu (${cpu[0]} → ${cpu[cpu.length - 1]})`);
    assertClose({ values: Float32Array.from(native), shape: [native.length] }, { values: Float32Array.from(cpu), shape: [cpu.length] }, `${spec} loss curve`, 1e-4);
  }
});

async function layersLossCurve(backend: BackendName): Promise<number[]> {
  await useBackend(backend, { fallback: false });
  const init = (seed: number) => tfl.initializers.glorotUniform({ seed });
  const model = tfl.sequential({
    layers: [
      tfl.layers.conv2d({ inputShape: [10, 10, 1], filters: 4, kernelSize: 3, activation: "relu", kernelInitializer: init(1) }),
      tfl.layers.maxPooling2d({ poolSize: 2 }),
      tfl.layers.flatten(),
      tfl.layers.dense({ units: 12, activation: "relu", kernelInitializer: init(2) }),
      tfl.layers.dense({ units: 3, kernelInitializer: init(3) }),
    ],
  });
  model.compile({ optimizer: tf.train.sgd(0.05), loss: "categoricalCrossentropy" });
  const data = new Rng(9, "layers");
  const x = tf.tensor4d(Float32Array.from({ length: 48 * 100 }, () => data.next()), [48, 10, 10, 1]);
  const y = tf.oneHot(tf.tensor1d(Int32Array.from({ length: 48 }, () => data.int(3)), "int32"), 3);
  const h = await model.fit(x, tf.softmax(tf.mul(y, 1)), { epochs: 6, batchSize: 16, shuffle: false, verbose: 0 });
  tf.dispose([x, y]);
  model.dispose();
  return h.history.loss as number[];
}

test("a stock tf.layers model trains on native with cpu's loss curve", nativeTestOptions, async () => {
  assertNativeLoaded();
  const cpu = await layersLossCurve("cpu");
  fallbackCounts.clear();
  const native = await layersLossCurve("native");
  assert.ok(cpu[cpu.length - 1] < cpu[0], `the loss falls on cpu (${cpu[0]} → ${cpu[cpu.length - 1]})`);
  assertClose({ values: Float32Array.from(native), shape: [native.length] }, { values: Float32Array.from(cpu), shape: [cpu.length] }, "tf.layers loss curve", 1e-4);
});
