// How close the ONNX export of a transformer student stays to TF.js, float and int8, at sizes beyond the unit tests:
//  1. a byte-level causal LM trained briefly on README.md (2 layers, dim 64, ctx 64; trained weights have the
//     outliers that int8 has to cope with), checked on windows of held-out README text;
//  2. the benchmark shape (4 layers, dim 256, 4 heads, ff 1024, ctx 128, byte vocabulary, tied head) with
//     random weights at a working scale, checked on random bytes, at two embedding scales: N(0, 1) gives logits up
//     to ~150 (float32's spacing there is 1.5e-5, so an absolute 1e-4 is a few ulps), N(0, 0.2) logits like a
//     trained LM's.
// Each: exported float, int8 kernels, int8 kernels + embeddings; max |onnx − tfjs| and top-1 next-token agreement
// over N inputs of random length with padding, onnxruntime-node with fp32 compute for int8 (exactFloat) and with
// its default session; file sizes.
// Run: node --import tsx bench/onnx-transformer.ts [--samples 1000] [--big-samples 300] [--epochs 4]
//      (about 15 minutes on 2 shared cores; the big model's checks dominate)
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs-core";
import { corpusDatasets } from "../src/data/token-sequences.js";
import { useBackend } from "../src/engine/backend.js";
import { exportOnnx, type OnnxExportOptions } from "../src/export/onnx.js";
import { checkTransformerOnnx } from "../src/export/onnx-transformer-check.js";
import { nextTokenCrossEntropy } from "../src/losses/next-token.js";
import { transformerConfigFromSpec } from "../src/students/spec.js";
import { TransformerModel } from "../src/students/transformer.js";
import { ByteTokenizer } from "../src/tokenizers/byte.js";
import { fit } from "../src/train/fit.js";
import { Rng } from "../src/util/rng.js";

const { values } = parseArgs({
  options: { samples: { type: "string", default: "1000" }, "big-samples": { type: "string", default: "300" }, epochs: { type: "string", default: "4" }, backend: { type: "string", default: "wasm" } },
});
await useBackend(values.backend as "wasm", { fallback: false });

const VARIANTS: [string, OnnxExportOptions][] = [
  ["float", {}],
  ["int8 kernels", { quantize: "int8" }],
  ["int8 kernels + embeddings", { quantize: "int8", quantizeEmbeddings: true }],
];

async function report(title: string, model: TransformerModel, samples: number, variants = VARIANTS, sequences?: ArrayLike<number>[]): Promise<void> {
  console.log(`\n${title} (${model.paramCount.toLocaleString("en-US")} parameters), ${samples} inputs of random length 1…${model.config.ctx}, batches of 8`);
  console.log("| export | bytes | max abs diff (fp32 compute) | relative to max abs logit | top-1 agreement | max abs diff (default ort session) | top-1 agreement | max abs logit |");
  console.log("|---|---|---|---|---|---|---|---|");
  for (const [name, opts] of variants) {
    const bytes = exportOnnx(model, opts);
    const started = Date.now();
    const exact = await checkTransformerOnnx(model, bytes, { samples, seed: 1, sequences });
    const plain = opts.quantize === "int8" ? await checkTransformerOnnx(model, bytes, { samples, seed: 1, sequences, exactFloat: false }) : exact;
    const pct = (x: number | null) => `${(100 * (x ?? NaN)).toFixed(2)} %`;
    console.log(`| ${name} | ${bytes.length.toLocaleString("en-US")} | ${exact.maxAbsDiff.toExponential(2)} | ${(exact.maxAbsDiff / exact.maxAbsOutput).toExponential(1)} | ${pct(exact.agreement)} | ${plain.maxAbsDiff.toExponential(2)} | ${pct(plain.agreement)} | ${exact.maxAbsOutput.toFixed(2)} |`);
    console.error(`  (${name}: ${((Date.now() - started) / 1000).toFixed(1)} s, lengths ${exact.lengths.length} distinct, ${exact.paddedSamples} padded rows)`);
  }
}

// 1. A briefly trained byte-level LM.
const bytes = new ByteTokenizer();
const ctx = 64;
const spec = `transformer:layers=2,dim=64,heads=4,ff=256,ctx=${ctx},causal,tie`;
const data = corpusDatasets("README.md", bytes, { ctx, validationFraction: 0.1, testFraction: 0.1 });
const trained = new TransformerModel(transformerConfigFromSpec(spec), 1);
const fitted = await fit(trained, data.train, (logits, c) => nextTokenCrossEntropy(logits, c.x, c.y), {
  epochs: Number(values.epochs),
  batchSize: 16,
  seed: 1,
  optimizer: { kind: "adam", lr: 3e-3 },
});
const last = fitted.history[fitted.history.length - 1] as unknown as Record<string, unknown>;
console.log(`trained ${spec} on README.md: ${values.epochs} epochs, ${fitted.seconds.toFixed(0)} s, last epoch ${JSON.stringify(last)}`);
const heldOut = [data.validation!, data.test!].flatMap((d) => Array.from({ length: d.size }, (_, i) => Array.from(d.x.subarray(i * ctx, (i + 1) * ctx))));
await report(`Trained byte LM ${spec}, held-out README windows`, trained, Number(values.samples), VARIANTS, heldOut);
trained.dispose();

// 2. The benchmark shape, random weights at a working scale (kernels N(0, 1/fan_in), gains 1 ± 0.2, shifts and biases
// N(0, 0.2)), embeddings N(0, 1) and N(0, 0.2).
const big = new TransformerModel(transformerConfigFromSpec("transformer:layers=4,dim=256,heads=4,ff=1024,ctx=128,causal,tie"), 2);
for (const embeddingStd of [1, 0.2]) {
  const rng = new Rng(2, "bench-weights");
  for (const { name, tensor } of big.namedWeights()) {
    const [base, std] = name.endsWith("/gamma") ? [1, 0.2] : name.endsWith("/beta") || name.endsWith("/bias") ? [0, 0.2] : name.startsWith("embeddings/") ? [0, embeddingStd] : [0, 1 / Math.sqrt(tensor.shape[0])];
    const v = tf.tensor(Float32Array.from({ length: tensor.size }, () => base + rng.normal() * std), tensor.shape);
    tensor.assign(v);
    v.dispose();
  }
  const title = `Random-weight LM at the benchmark shape (4 layers, dim 256, 4 heads, ff 1024, ctx 128, byte vocab, tied), embeddings N(0, ${embeddingStd}), random bytes`;
  await report(title, big, Number(values["big-samples"]), embeddingStd === 1 ? VARIANTS.slice(0, 1) : VARIANTS);
}
big.dispose();
