// The transformer student on the native backend (its fused attention softmax, LayerNorm, GELU, gather and segment-sum
// kernels, batched products over heads) against the same model on tfjs-backend-cpu (the ops composed of tf ops):
// logits, loss and every parameter's gradient, causal and bidirectional, with right and left padding (rows whose
// queries see only padding included), and a few Adam steps of training.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { useBackend } from "../src/engine/backend.js";
import { fallbackCounts } from "../src/engine/native-util.js";
import { NATIVE_SEQUENCE_KERNEL } from "../src/engine/native-sequence.js";
import { nextTokenCrossEntropy } from "../src/losses/next-token.js";
import { resolveTransformerConfig, type TransformerSpecInput } from "../src/students/transformer-config.js";
import { TransformerModel } from "../src/students/transformer.js";
import { Rng } from "../src/util/rng.js";
import { assertClose, assertNativeLoaded, nativeTestOptions, runOn } from "./native-helpers.js";

await useBackend("cpu", { fallback: false });

const PAD = 0;
const config = (over: Partial<TransformerSpecInput>) => resolveTransformerConfig({ layers: 2, dim: 32, heads: 4, ff: 64, ctx: 10, vocab: 23, padId: PAD, ...over }, { numClasses: 3 });

/** Weights at a working scale (init's N(0, 0.02) gives near-constant outputs). */
function weightsFor(model: TransformerModel, seed: number): Float32Array[] {
  const rng = new Rng(seed, "weights");
  return model.namedWeights().map(({ name, tensor }) => {
    const [base, std] = name.endsWith("/gamma") ? [1, 0.2] : name.endsWith("/beta") || name.endsWith("/bias") ? [0, 0.2] : name.startsWith("embeddings/") ? [0, 1] : [0, 1 / Math.sqrt(tensor.shape[0])];
    return Float32Array.from({ length: tensor.size }, () => base + rng.normal() * std);
  });
}

// Row 0 full, row 1 right-padded, row 2 left-padded (its first queries see only padding), row 3 a pad id in the middle.
const ROWS = [
  [1, 4, 2, 8, 5, 7, 3, 9, 11, 6],
  [3, 9, 10, 12, 4, PAD, PAD, PAD, PAD, PAD],
  [PAD, PAD, PAD, 5, 6, 7, 8, 9, 10, 22],
  [2, 2, PAD, 13, 14, 15, 16, 17, 18, 19],
];

for (const over of [{ causal: true, tie: true }, { causal: false }, { head: "classify", causal: true }] as Partial<TransformerSpecInput>[]) {
  test(`native gives the cpu backend's logits, loss and gradients (${JSON.stringify(over)})`, nativeTestOptions, async () => {
    assertNativeLoaded();
    const c = config(over);
    const shapes = new TransformerModel(c, 0);
    const weights = weightsFor(shapes, 5);
    shapes.dispose();
    const step = () => {
      const model = new TransformerModel(c, 0);
      model.setWeights(weights.map((w, i) => tf.tensor(w, model.params[i].shape)));
      const x = tf.tensor2d(ROWS);
      const labels = tf.tensor1d([6, 1, 2, 0], "int32");
      const loss = () => (c.head === "lm" ? nextTokenCrossEntropy(model.forward(x).logits, x, labels, PAD) : tf.losses.softmaxCrossEntropy(tf.oneHot(tf.tensor1d([0, 1, 2, 1], "int32"), 3), model.forward(x).logits)) as tf.Scalar;
      const logits = model.forward(x).logits;
      const { value, grads } = tf.variableGrads(loss, model.params);
      const out = [logits, value, ...model.params.map((p) => grads[p.name])];
      model.dispose(); // the variables only; the outputs live until runOn has read them
      return out;
    };
    const ref = await runOn("cpu", step);
    fallbackCounts.clear();
    const native = await runOn("native", step);
    for (const name of ["Softmax", "Transpose", "GatherV2", "UnsortedSegmentSum", "BatchMatMul"]) assert.equal(fallbackCounts.get(name) ?? 0, 0, `${name} handed to the cpu kernel`);
    assert.ok(native[0].values.every(Number.isFinite), "finite logits");
    assertClose(native[0], ref[0], "logits", 1e-3);
    assertClose(native[1], ref[1], "loss", 1e-4);
    const names = new TransformerModel(c, 0);
    names.namedWeights().forEach((p, i) => assertClose(native[i + 2], ref[i + 2], `∂L/∂${p.name}`, 2e-3));
    names.dispose();
  });
}

test("the native attention step uses the fused attention softmax kernels (no composed softmax)", nativeTestOptions, async () => {
  assertNativeLoaded();
  const c = config({ causal: true });
  const seen = new Set<string>();
  await runOn("native", () => {
    const model = new TransformerModel(c, 1);
    const x = tf.tensor2d(ROWS);
    const engine = tf.engine() as unknown as { runKernel: (name: string, ...rest: unknown[]) => unknown };
    const original = engine.runKernel.bind(engine);
    engine.runKernel = (name: string, ...rest: unknown[]) => (seen.add(name), original(name, ...rest));
    try {
      const { value } = tf.variableGrads(() => tf.sum(model.forward(x).logits) as tf.Scalar, model.params);
      return value;
    } finally {
      engine.runKernel = original;
      model.dispose();
    }
  });
  assert.ok(seen.has(NATIVE_SEQUENCE_KERNEL.attentionSoftmax), `kernels run: ${[...seen].join(", ")}`);
  assert.ok(seen.has(NATIVE_SEQUENCE_KERNEL.softmaxGrad));
  assert.ok(!seen.has("Softmax"), "no plain Softmax in the attention");
});
