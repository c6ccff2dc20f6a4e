// An exported transformer student (ONNX, dynamic batch and sequence length, float32 and int8) in a real browser:
// Debian's Chromium, driven by playwright-core, loads the file with onnxruntime-web (its wasm build, from
// node_modules) and must give the logits and predictions onnxruntime-node gives in Node, which match TF.js.
// Everything is served from 127.0.0.1 by this test; nothing comes from the network.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { useBackend } from "../src/engine/backend.js";
import { exportOnnx } from "../src/export/onnx.js";
import { OnnxTokenRunner } from "../src/export/onnx-transformer-check.js";
import { resolveTransformerConfig } from "../src/students/transformer-config.js";
import { TransformerModel } from "../src/students/transformer.js";
import { Rng } from "../src/util/rng.js";
import { maxAbsDiff } from "./helpers.js";
import { needsChromium as skip } from "./prerequisites.js";
import { callPage, openPage, ORT_WEB, serveFiles } from "./browser-page.js";

const PAD = 0;

/** A causal byte-level LM student and a padded-sequence classifier, with weights at a working scale. */
function student(head: "lm" | "classify", seed: number): TransformerModel {
  const config = resolveTransformerConfig({ layers: 2, dim: 32, heads: 4, ff: 64, ctx: 16, vocab: 64, padId: PAD, causal: head === "lm", tie: head === "lm", head, ...(head === "classify" ? { numClasses: 5 } : {}) });
  const model = new TransformerModel(config, seed);
  const rng = new Rng(seed, "weights");
  model.setWeights(model.namedWeights().map(({ name, tensor }) => {
    const [base, std] = name.endsWith("/gamma") ? [1, 0.2] : name.endsWith("/beta") || name.endsWith("/bias") ? [0, 0.2] : name.startsWith("embeddings/") ? [0, 1] : [0, 1 / Math.sqrt(tensor.shape[0])];
    return tf.tensor(Float32Array.from({ length: tensor.size }, () => base + rng.normal() * std), tensor.shape);
  }));
  return model;
}

interface Batch {
  batch: number;
  length: number;
  ids: number[];
  mask: number[];
}

/** Batches of several sizes and lengths (one session runs them all), rows right-padded to random real lengths. */
function batches(seed: number, vocab: number, ctx: number): Batch[] {
  const rng = new Rng(seed, "batches");
  return [[1, 1], [1, ctx], [3, 5], [7, ctx], [32, 9]].map(([batch, length]) => {
    const ids: number[] = [];
    const mask: number[] = [];
    for (let b = 0; b < batch; b++) {
      const real = b === 0 ? length : 1 + rng.int(length);
      for (let t = 0; t < length; t++) {
        ids.push(t < real ? 1 + rng.int(vocab - 1) : PAD);
        mask.push(t < real ? 1 : 0);
      }
    }
    return { batch, length, ids, mask };
  });
}

// window.__run(url, batches): one session, every batch; returns each output's dims and values.
const PAGE = `<!doctype html><meta charset="utf-8"><script type="module">
import * as ort from "/ort/ort.wasm.min.mjs";
ort.env.wasm.wasmPaths = "/ort/";
ort.env.wasm.numThreads = 1;
window.__run = async ({ url, batches }) => {
  const session = await ort.InferenceSession.create(url, { executionProviders: ["wasm"] });
  const results = [];
  for (const b of batches) {
    const int64 = (v) => new ort.Tensor("int64", BigInt64Array.from(v, (x) => BigInt(x)), [b.batch, b.length]);
    const out = await session.run({ input_ids: int64(b.ids), attention_mask: int64(b.mask) });
    const y = out[session.outputNames[0]];
    results.push({ dims: Array.from(y.dims), data: Array.from(y.data) });
  }
  await session.release();
  return { inputs: session.inputNames, results, version: ort.env.versions?.web ?? "?" };
};
window.__ready = true;
</script>`;

const argmaxRows = (data: ArrayLike<number>, width: number): number[] =>
  Array.from({ length: data.length / width }, (_, r) => {
    let best = 0;
    for (let j = 1; j < width; j++) if (data[r * width + j] > data[r * width + best]) best = j;
    return best;
  });

test("an exported transformer student (float32 and int8, dynamic batch and length) predicts in Chromium with onnxruntime-web as in Node", { skip, timeout: 300_000 }, async (t) => {
  await useBackend("wasm", { fallback: false });
  const models = { lm: student("lm", 1), classify: student("classify", 2) };
  const files: Record<string, Uint8Array> = {};
  for (const [name, m] of Object.entries(models)) {
    files[`/${name}.onnx`] = exportOnnx(m);
    files[`/${name}-int8.onnx`] = exportOnnx(m, { quantize: "int8", quantizeEmbeddings: true });
  }
  const { page, errors, close } = await openPage(await serveFiles(PAGE, { roots: ORT_WEB, files }));
  try {
    for (const [name, model] of Object.entries(models)) {
      const c = model.config;
      const width = c.head === "lm" ? c.vocab : c.numClasses!;
      const data = batches(name === "lm" ? 3 : 4, c.vocab, c.ctx);
      for (const file of [`/${name}.onnx`, `/${name}-int8.onnx`]) {
        const web = await callPage<{ inputs: string[]; results: { dims: number[]; data: number[] }[] }>(page, "__run", { url: file, batches: data });
        assert.deepEqual(web.inputs, ["input_ids", "attention_mask"]);
        const runner = await OnnxTokenRunner.create(files[file], { exactFloat: true });
        let worst = 0;
        let rows = 0;
        try {
          for (const [i, b] of data.entries()) {
            const node = await runner.run(b.ids, b.mask, b.batch, b.length);
            const got = web.results[i];
            assert.deepEqual(got.dims, [...node.dims], `${file} batch ${b.batch}×${b.length}: output dims`);
            assert.deepEqual(got.dims, c.head === "lm" ? [b.batch, b.length, width] : [b.batch, width]);
            const diff = maxAbsDiff(Float32Array.from(got.data), node.data);
            worst = Math.max(worst, diff);
            assert.ok(diff <= 1e-4, `${file} batch ${b.batch}×${b.length}: max |web − node| = ${diff}`);
            // Predictions: the argmax at every real position (LM) or of every row (classifier).
            const real = (r: number) => c.head !== "lm" || b.mask[r] === 1;
            const webTop = argmaxRows(got.data, width).filter((_, r) => real(r));
            const nodeTop = argmaxRows(node.data, width).filter((_, r) => real(r));
            assert.deepEqual(webTop, nodeTop, `${file} batch ${b.batch}×${b.length}: predictions`);
            rows += webTop.length;
            if (!file.includes("int8")) {
              const tfjs = tf.tidy(() => model.forward(tf.tensor2d(b.ids, [b.batch, b.length])).logits.dataSync() as Float32Array);
              assert.ok(maxAbsDiff(Float32Array.from(got.data), tfjs) <= 1e-4, `${file}: browser vs TF.js`);
            }
          }
        } finally {
          await runner.release();
        }
        t.diagnostic(`${file}: ${data.length} batches (batch 1–32, length 1–${c.ctx}), ${rows} predictions equal, max |web − node| ${worst.toExponential(2)}`);
      }
    }
    assert.deepEqual(errors, [], "no page errors");
  } finally {
    await close();
    for (const m of Object.values(models)) m.dispose();
  }
});
