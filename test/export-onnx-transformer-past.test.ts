// ONNX export of a causal transformer LM with a key/value cache (Optimum's "with past" layout): a prompt run with
// an empty past, then one token at a time feeding each call's present.* back as past_key_values.*, gives the
// logits of TransformerModel.forward over the whole sequence (left padding included), in onnxruntime-node.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import * as ort from "onnxruntime-node";
import { useBackend } from "../src/engine/backend.js";
import { exportOnnx } from "../src/export/onnx.js";
import { SequentialModel } from "../src/students/model.js";
import { modelConfigFromSpec } from "../src/students/spec.js";
import { resolveTransformerConfig, type TransformerSpecInput } from "../src/students/transformer-config.js";
import { TransformerModel } from "../src/students/transformer.js";
import { TsdistillError } from "../src/util/errors.js";
import { Rng } from "../src/util/rng.js";
import { maxAbsDiff } from "./helpers.js";

await useBackend("wasm", { fallback: false });

const PAD = 0;
const TINY = { layers: 2, dim: 16, heads: 2, ff: 32, ctx: 12, vocab: 40, padId: PAD, causal: true } as const;

function tinyModel(spec: Partial<TransformerSpecInput>, seed: number): TransformerModel {
  const model = new TransformerModel(resolveTransformerConfig({ ...TINY, ...spec }), seed);
  const rng = new Rng(seed, "perturb");
  model.setWeights(model.namedWeights().map(({ name, tensor }) => {
    const [base, std] = name.endsWith("/gamma") ? [1, 0.2] : name.endsWith("/beta") || name.endsWith("/bias") ? [0, 0.2] : name.startsWith("embeddings/") ? [0, 1] : [0, 1 / Math.sqrt(tensor.shape[0])];
    return tf.tensor(Float32Array.from({ length: tensor.size }, () => base + rng.normal() * std), tensor.shape);
  }));
  return model;
}

const int64 = (v: number[], dims: number[]) => new ort.Tensor("int64", BigInt64Array.from(v, (x) => BigInt(x)), dims);

for (const spec of [{ tie: true }, { tie: false, layers: 3, heads: 4 }] as Partial<TransformerSpecInput>[]) {
  test(`prompt then token-by-token decoding with the exported cache gives the full forward pass's logits (${JSON.stringify(spec)})`, async () => {
    const model = tinyModel(spec, 5);
    const { layers, heads, dim, vocab, ctx } = model.config;
    const hs = dim / heads;
    const session = await ort.InferenceSession.create(exportOnnx(model, { pastKeyValues: true }), { intraOpNumThreads: 1 });
    try {
      const cacheNames = Array.from({ length: layers }, (_, i) => [`${i}.key`, `${i}.value`]).flat();
      assert.deepEqual(session.inputNames, ["input_ids", "attention_mask", ...cacheNames.map((n) => `past_key_values.${n}`)]);
      assert.deepEqual(session.outputNames, ["logits", ...cacheNames.map((n) => `present.${n}`)]);
      // Two rows: a full prompt and a left-padded one; then new tokens one at a time up to the context.
      const B = 2;
      const P = 5;
      const rng = new Rng(6, "ids");
      const seq = [Array.from({ length: P }, () => 1 + rng.int(vocab - 1)), [PAD, PAD, ...Array.from({ length: P - 2 }, () => 1 + rng.int(vocab - 1))]];
      let past: Record<string, ort.Tensor> = Object.fromEntries(cacheNames.map((n) => [`past_key_values.${n}`, new ort.Tensor("float32", new Float32Array(0), [B, heads, 0, hs])]));
      let fresh = seq.map((r) => r.slice());
      for (let step = 0; seq[0].length <= ctx; step++) {
        const T = fresh[0].length;
        const L = seq[0].length;
        const mask = seq.flatMap((r) => r.map((id) => (id === PAD ? 0 : 1)));
        const out = await session.run({ input_ids: int64(fresh.flat(), [B, T]), attention_mask: int64(mask, [B, L]), ...past });
        assert.deepEqual(out.logits.dims, [B, T, vocab]);
        assert.deepEqual(out["present.0.key"].dims, [B, heads, L, hs]);
        const full = tf.tidy(() => model.forward(tf.tensor2d(seq.flat(), [B, L])).logits.dataSync() as Float32Array); // [B·L, V]
        const want = new Float32Array(B * T * vocab);
        for (let b = 0; b < B; b++) want.set(full.subarray((b * L + L - T) * vocab, (b * L + L) * vocab), b * T * vocab);
        const diff = maxAbsDiff(out.logits.data as Float32Array, want);
        assert.ok(diff <= 1e-4, `step ${step} (${T} new tokens after ${L - T}): max |onnx − tfjs| ${diff}`);
        if (L === ctx) break;
        past = Object.fromEntries(cacheNames.map((n) => [`past_key_values.${n}`, out[`present.${n}`]]));
        fresh = seq.map(() => [1 + rng.int(vocab - 1)]);
        seq.forEach((r, b) => r.push(fresh[b][0]));
      }
    } finally {
      await session.release();
      model.dispose();
    }
  });
}

test("pastKeyValues is refused for non-causal models, other heads and sequential models", () => {
  for (const spec of [{ causal: false }, { head: "classify", numClasses: 3 }] as Partial<TransformerSpecInput>[]) {
    const model = tinyModel(spec, 1);
    assert.throws(() => exportOnnx(model, { pastKeyValues: true }), (e: unknown) => e instanceof TsdistillError && /pastKeyValues needs a causal LM/.test(e.message));
    model.dispose();
  }
  const seq = new SequentialModel(modelConfigFromSpec("mlp:4", { inputShape: [3], numClasses: 2 }), 1);
  assert.throws(() => exportOnnx(seq, { pastKeyValues: true }), (e: unknown) => e instanceof TsdistillError && /pastKeyValues applies to transformers only/.test(e.message));
  seq.dispose();
});
