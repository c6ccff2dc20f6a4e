// TF.js int8 export with per-output-channel scales folded forward: stock tf.loadLayersModel reads it, and it
// computes exactly what per-channel int8 kernels (dequantized) compute.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { join } from "node:path";
import { useBackend } from "../src/engine/backend.js";
import { SequentialModel } from "../src/students/model.js";
import { modelConfigFromSpec } from "../src/students/spec.js";
import { loadLayersModel } from "../src/students/io.js";
import { saveTfjsInt8 } from "../src/export/tfjs-int8.js";
import { readFileSync } from "node:fs";
import { Rng } from "../src/util/rng.js";
import { tempDir } from "./helpers.js";

await useBackend("wasm");

for (const spec of ["mlp:48-24", "cnn:conv6k3-pool-conv8k3s2-avgpool-dense16"]) {
  test(`${spec}: int8 kernels with folded per-channel scales load in stock TF.js and track the float model`, async (t) => {
    const { dir, cleanup } = tempDir();
    try {
      const model = new SequentialModel(modelConfigFromSpec(spec, { inputShape: [12, 12, 1], numClasses: 5, dropout: 0.1 }), 7);
      // Non-zero biases and uneven channel scales.
      const rng = new Rng(3);
      model.setWeights(model.params.map((p) => tf.tensor(Float32Array.from({ length: p.size }, () => rng.normal() * (p.rank === 1 ? 0.3 : 0.5)), p.shape)));
      const out = join(dir, "q");
      const { perChannelLayers, floatBytes, quantizedBytes } = await saveTfjsInt8(model, out);
      assert.ok(perChannelLayers.length >= 1, `per-channel layers: ${perChannelLayers}`);
      assert.ok(floatBytes / quantizedBytes > 2.5, `smaller: ${floatBytes / quantizedBytes}`);

      // The folded kernels are stored as exact integers in [−127, 127] (uint8 with min −127, scale 1).
      const json = JSON.parse(readFileSync(join(out, "model.json"), "utf8"));
      const entries = json.weightsManifest[0].weights as { name: string; quantization?: { min: number; scale: number } }[];
      for (const name of perChannelLayers) {
        const e = entries.find((w) => w.name === `${name}/kernel`)!;
        assert.deepEqual([e.quantization?.min, e.quantization?.scale], [-127, 1], `${name} kernel stored as integers`);
      }
      // The stock loader reads it and it computes the float model up to int8 rounding.
      const { model: lm } = await loadLayersModel(out);
      const x = tf.tensor(Float32Array.from({ length: 256 * 144 }, () => rng.next()), [256, 12, 12, 1]);
      const a = model.predict(x);
      const q = lm.predict(x) as tf.Tensor2D;
      const agree = tf.equal(tf.argMax(a, 1), tf.argMax(q, 1)).sum().dataSync()[0] / 256;
      const maxDiff = tf.max(tf.abs(tf.sub(a, q))).dataSync()[0];
      const range = tf.sub(tf.max(a), tf.min(a)).dataSync()[0];
      t.diagnostic(`${spec}: agreement ${agree}, max |diff| ${maxDiff.toFixed(4)} of a ${range.toFixed(2)} logit range`);
      assert.ok(agree >= 0.95, `agreement ${agree}`);
      assert.ok(maxDiff <= 0.03 * range, `max |diff| ${maxDiff} vs range ${range}`);
      lm.dispose();
      model.dispose();
    } finally {
      cleanup();
    }
  });
}
