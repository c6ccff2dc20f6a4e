// A training step's forward skips ∂L/∂x at the first weighted layer (nobody reads it): the weight gradients stay
// exactly those of the full backward pass, and that layer's input-gradient kernel no longer runs.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { useBackend } from "../src/engine/backend.js";
import { SequentialModel } from "../src/students/model.js";
import { modelConfigFromSpec } from "../src/students/spec.js";
import { crossEntropy } from "../src/losses/cross-entropy.js";
import { nativeTestOptions } from "./native-helpers.js";

const SHAPE = { inputShape: [12, 12, 1], numClasses: 4 };

async function gradsAndKernels(spec: string, inputGradient: boolean | undefined): Promise<{ grads: number[][]; kernels: string[] }> {
  const model = new SequentialModel(modelConfigFromSpec(spec, SHAPE), 5);
  const x = tf.randomUniform([3, 12, 12, 1], 0, 1, "float32", 9);
  const y = tf.tensor1d([0, 3, 1], "int32");
  let grads: number[][] = [];
  const profile = await tf.profile(() => {
    const { grads: g } = tf.variableGrads(() => crossEntropy(model.forward(x, { training: true, inputGradient }).logits, y), model.params);
    grads = model.params.map((p) => Array.from(g[p.name].dataSync()));
    tf.dispose(Object.values(g));
  });
  tf.dispose([x, y, ...model.params]);
  return { grads, kernels: profile.kernels.map((k) => `${k.name} -> ${JSON.stringify(k.outputShapes)}`) };
}

for (const [backend, spec] of [["cpu", "mlp:16-8"], ["cpu", "cnn:conv4k3-pool-conv6k3-dense8"], ["native", "mlp:16-8"], ["native", "cnn:conv4k3-pool-conv6k3-dense8"]] as const) {
  test(`inputGradient: false leaves ${spec}'s weight gradients unchanged and skips the first layer's input gradient (${backend})`, backend === "native" ? nativeTestOptions : {}, async () => {
    assert.equal(await useBackend(backend, { fallback: false }), backend);
    const full = await gradsAndKernels(spec, undefined);
    const skipped = await gradsAndKernels(spec, false);
    assert.equal(skipped.grads.length, full.grads.length);
    full.grads.forEach((g, i) => assert.deepEqual(skipped.grads[i], g, `parameter ${i}`));
    // The first weighted layer's input is the [3, 144] (flattened) or [3, 12, 12, 1] batch: the full pass runs a
    // product or convolution that outputs a gradient of that shape, the skipping one none (only a zeros fill).
    const firstInput = spec.startsWith("mlp") ? "[[3,144]]" : "[[3,12,12,1]]";
    const inputGrad = (ks: string[]) => ks.filter((k) => /^(BatchMatMul|Conv2D|Conv2DBackpropInput) -> /.test(k) && k.endsWith(firstInput));
    assert.equal(inputGrad(full.kernels).length, 1, full.kernels.join("\n"));
    assert.equal(inputGrad(skipped.kernels).length, 0, skipped.kernels.join("\n"));
  });
}
