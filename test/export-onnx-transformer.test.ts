// ONNX export of transformer students: onnxruntime-node matches TransformerModel.forward under dynamic batch and
// sequence length, with padding, for every head; int8 stays within a measured tolerance.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import onnxProto from "onnx-proto";
import { useBackend } from "../src/engine/backend.js";
import { exportOnnx, saveOnnx } from "../src/export/onnx.js";
import { checkTransformerOnnx, OnnxTokenRunner } from "../src/export/onnx-transformer-check.js";
import { dequantizeInt8, quantizeWeightsInt8 } from "../src/export/quantize.js";
import { SequentialModel } from "../src/students/model.js";
import { modelConfigFromSpec } from "../src/students/spec.js";
import { resolveTransformerConfig, type TransformerSpecInput } from "../src/students/transformer-config.js";
import { TransformerModel } from "../src/students/transformer.js";
import { TsdistillError } from "../src/util/errors.js";
import { Rng } from "../src/util/rng.js";
import { maxAbsDiff, tempDir } from "./helpers.js";

const { onnx } = onnxProto;

await useBackend("wasm", { fallback: false });

const { dir: root, cleanup } = tempDir("tsdistill-onnx-transformer-");
process.on("exit", cleanup);

/** The acceptance criterion: max |onnx − tfjs| ≤ 1e-4 over 1,000 random inputs. */
const N = 1000;
const TOL = 1e-4;

const TINY = { layers: 2, dim: 16, heads: 2, ff: 32, ctx: 12, vocab: 40, padId: 0 } as const;

/**
 * Random weights at a working scale (init's N(0, 0.02) gives near-constant outputs): kernels N(0, 1/fan_in),
 * embeddings N(0, 1), LayerNorm gains 1 ± 0.2, biases and shifts N(0, 0.2).
 */
function perturb(model: TransformerModel, seed: number): void {
  const rng = new Rng(seed, "perturb");
  for (const { name, tensor } of model.namedWeights()) {
    const [base, std] = name.endsWith("/gamma") ? [1, 0.2] : name.endsWith("/beta") || name.endsWith("/bias") ? [0, 0.2] : name.startsWith("embeddings/") ? [0, 1] : [0, 1 / Math.sqrt(tensor.shape[0])];
    const value = tf.tensor(Float32Array.from({ length: tensor.size }, () => base + rng.normal() * std), tensor.shape);
    tensor.assign(value);
    value.dispose();
  }
}

function tinyModel(spec: Partial<TransformerSpecInput>, seed: number): TransformerModel {
  const model = new TransformerModel(resolveTransformerConfig({ ...TINY, ...spec }), seed);
  perturb(model, seed);
  return model;
}

function decode(bytes: Uint8Array) {
  return onnx.ModelProto.toObject(onnx.ModelProto.decode(bytes), { longs: Number, defaults: false }) as {
    irVersion: number;
    opsetImport: { domain?: string; version: number }[];
    metadataProps?: { key: string; value: string }[];
    graph: {
      node: { opType: string; name: string; input: string[]; output: string[]; attribute?: { name: string; i?: number; f?: number }[] }[];
      initializer: { name: string; dims: number[]; dataType: number }[];
      input: { name: string; type: { tensorType: { elemType: number; shape: { dim: { dimParam?: string; dimValue?: number }[] } } } }[];
      output: { name: string; type: { tensorType: { elemType: number; shape: { dim: { dimParam?: string; dimValue?: number }[] } } } }[];
    };
  };
}

const CASES: { name: string; spec: Partial<TransformerSpecInput>; positionIds?: boolean }[] = [
  { name: "LM, causal, tied head, padding", spec: { causal: true, tie: true } },
  { name: "LM, causal, separate head, position_ids input", spec: { causal: true }, positionIds: true },
  { name: "LM, bidirectional, separate head, padding", spec: { causal: false } },
  { name: "LM, causal, no pad id (no padding), 3 layers, 4 heads", spec: { causal: true, tie: true, padId: null, layers: 3, heads: 4 } },
  { name: "classify (mean pool), bidirectional, padding", spec: { head: "classify", numClasses: 5 } },
  { name: "classify (first token), bidirectional, padding", spec: { head: "classify", numClasses: 3, pool: "first" } },
  { name: "classify (mean pool), causal, padding", spec: { head: "classify", numClasses: 4, causal: true } },
  { name: "embed (mean pool, embedDim 24), bidirectional, padding", spec: { head: "embed", embedDim: 24 } },
];

for (const [i, c] of CASES.entries()) {
  test(`matches TransformerModel.forward on ${N} inputs of random length: ${c.name}`, async (t) => {
    const model = tinyModel(c.spec, 10 + i);
    const bytes = exportOnnx(model, { positionIds: c.positionIds });
    const r = await checkTransformerOnnx(model, bytes, { samples: N, seed: i });
    t.diagnostic(`max |onnx - tfjs| = ${r.maxAbsDiff.toExponential(2)} (max |output| ${r.maxAbsOutput.toFixed(2)}), top-1 agreement ${r.agreement ?? "-"}, min cosine ${r.minCosine ?? "-"}, lengths ${r.lengths.join(",")}, ${r.paddedSamples} padded rows, ${bytes.length} bytes`);
    assert.equal(r.samples, N);
    assert.ok(r.lengths.length >= 2 && r.lengths.includes(1) && r.lengths.includes(TINY.ctx), `one session ran lengths ${r.lengths}`);
    if (model.config.padId !== null) assert.ok(r.paddedSamples > N / 2, `${r.paddedSamples} padded rows`);
    else assert.equal(r.paddedSamples, 0);
    assert.ok(r.maxAbsOutput > 1, "outputs are not trivially small");
    assert.ok(r.maxAbsDiff <= TOL, `max |onnx - tfjs| = ${r.maxAbsDiff} > ${TOL}`);
    if (r.agreement !== null) assert.equal(r.agreement, 1);
    else assert.ok(r.minCosine! > 0.99999);
    model.dispose();
  });
}

test("dynamic shapes: one session runs batch 1 and 5 at lengths 3 and ctx; output dims follow", async () => {
  const model = tinyModel({ causal: true, tie: true }, 3);
  const runner = await OnnxTokenRunner.create(exportOnnx(model));
  try {
    assert.deepEqual(runner.inputNames, ["input_ids", "attention_mask"]);
    assert.equal(runner.outputName, "logits");
    for (const [B, T] of [[1, 3], [5, TINY.ctx], [5, 3], [1, TINY.ctx]]) {
      const ids = Array.from({ length: B * T }, (_, k) => 1 + ((k * 7) % (TINY.vocab - 1)));
      const got = await runner.run(ids, new Array(B * T).fill(1), B, T);
      assert.deepEqual(got.dims, [B, T, TINY.vocab]);
      const want = tf.tidy(() => model.forward(tf.tensor2d(ids, [B, T])).logits.dataSync() as Float32Array);
      assert.ok(maxAbsDiff(got.data, want) <= TOL);
    }
    // Longer than the context: the position table has no row for it, and onnxruntime says so.
    const T = TINY.ctx + 1;
    await assert.rejects(runner.run(new Array(T).fill(1), new Array(T).fill(1), 1, T));
  } finally {
    await runner.release();
  }
  model.dispose();
});

test("position_ids: left padding with Hugging Face positions gives an unpadded row's logits (causal LM)", async () => {
  const model = tinyModel({ causal: true }, 4);
  const withPositions = await OnnxTokenRunner.create(exportOnnx(model, { positionIds: true }));
  try {
    assert.deepEqual(withPositions.inputNames, ["input_ids", "attention_mask", "position_ids"]);
    const real = [5, 9, 2, 33, 17];
    const pad = 3;
    const T = real.length + pad;
    const ids = [...new Array(pad).fill(0), ...real];
    const mask = ids.map((_, k) => (k < pad ? 0 : 1));
    const positions = mask.map((_, k) => Math.max(0, k - pad)); // cumsum(mask) − 1, clipped at 0 (what HF generate feeds)
    const got = await withPositions.run(ids, mask, 1, T, positions);
    const want = tf.tidy(() => model.forward(tf.tensor2d(real, [1, real.length])).logits.dataSync() as Float32Array);
    const V = TINY.vocab;
    assert.ok(maxAbsDiff(got.data.subarray(pad * V), want) <= TOL, "real tokens' logits equal the unpadded sequence's");
    // Default positions (0…T−1) give different logits for the same left-padded row: the input is used.
    const shifted = await withPositions.run(ids, mask, 1, T);
    assert.ok(maxAbsDiff(shifted.data.subarray(pad * V), want) > 0.01);
  } finally {
    await withPositions.release();
  }
  model.dispose();
});

test("graph: Optimum names and types, dynamic dims, opset 17, LayerNormalization, in-graph masks, no Dropout", () => {
  const model = tinyModel({ causal: true, tie: true, dropout: 0.1 }, 5);
  const m = decode(exportOnnx(model, { producer: "tsdistill-test" }));
  assert.equal(m.irVersion, 8);
  assert.deepEqual(m.opsetImport.map((o) => [o.domain ?? "", o.version]), [["", 17]]);
  const int64 = onnx.TensorProto.DataType.INT64;
  assert.deepEqual(
    m.graph.input.map((x) => [x.name, x.type.tensorType.elemType, x.type.tensorType.shape.dim]),
    ["input_ids", "attention_mask"].map((n) => [n, int64, [{ dimParam: "batch" }, { dimParam: "sequence" }]]),
  );
  assert.deepEqual(
    m.graph.output.map((x) => [x.name, x.type.tensorType.elemType, x.type.tensorType.shape.dim]),
    [["logits", onnx.TensorProto.DataType.FLOAT, [{ dimParam: "batch" }, { dimParam: "sequence" }, { dimValue: TINY.vocab }]]],
  );
  const ops = m.graph.node.map((n) => n.opType);
  const count = (op: string) => ops.filter((o) => o === op).length;
  assert.equal(count("LayerNormalization"), 2 * TINY.layers + 1);
  assert.equal(count("Softmax"), TINY.layers);
  assert.equal(count("Tanh"), TINY.layers, "GELU tanh form");
  assert.equal(count("Range"), 1);
  assert.equal(count("Greater"), 1, "causal mask from positions");
  assert.equal(count("Where"), 1, "one additive mask shared by every block");
  assert.ok(!ops.includes("Dropout"));
  const ln = m.graph.node.find((n) => n.opType === "LayerNormalization")!;
  assert.equal(Math.fround(ln.attribute!.find((a) => a.name === "epsilon")!.f!), Math.fround(1e-5));
  const inits = Object.fromEntries(m.graph.initializer.map((x) => [x.name, x.dims]));
  assert.deepEqual(inits["embeddings/token"], [TINY.vocab, TINY.dim]);
  assert.deepEqual(inits["embeddings/position"], [TINY.ctx, TINY.dim]);
  assert.deepEqual(inits["block_1/attention/qkv/kernel"], [TINY.dim, 3 * TINY.dim]);
  assert.deepEqual(inits["block_2/mlp/fc/kernel"], [TINY.dim, TINY.ff]);
  assert.equal(inits["head/kernel"], undefined, "tied: the head reads the token table");
  const meta = Object.fromEntries((m.metadataProps ?? []).map((p) => [p.key, p.value]));
  assert.equal(meta["tsdistill.head"], "lm");
  assert.deepEqual(JSON.parse(meta["tsdistill.config"]), model.config);

  const bidirectional = decode(exportOnnx(tinyModel({ head: "embed" }, 6)));
  assert.ok(!bidirectional.graph.node.some((n) => n.opType === "Greater"), "no causal mask");
  assert.deepEqual(bidirectional.graph.output.map((x) => [x.name, x.type.tensorType.shape.dim]), [["sentence_embedding", [{ dimParam: "batch" }, { dimValue: TINY.dim }]]]);
  model.dispose();
});

test("options: opset 18 runs; opsets below 17, inputName, quantizeEmbeddings without int8 are refused", async () => {
  const model = tinyModel({ head: "classify", numClasses: 3 }, 7);
  const bytes = exportOnnx(model, { opset: 18 });
  assert.deepEqual(decode(bytes).opsetImport.map((o) => o.version), [18]);
  const r = await checkTransformerOnnx(model, bytes, { samples: 50, lengths: [4, 9] });
  assert.deepEqual(r.lengths, [4, 9]);
  assert.ok(r.maxAbsDiff <= TOL);
  const named = await OnnxTokenRunner.create(exportOnnx(model, { outputName: "scores" }));
  assert.equal(named.outputName, "scores");
  await named.release();
  const refused = (opts: Parameters<typeof exportOnnx>[1], pattern: RegExp) =>
    assert.throws(() => exportOnnx(model, opts), (e: unknown) => e instanceof TsdistillError && pattern.test(e.message));
  refused({ opset: 13 }, /opset 13 .*transformer.*17/);
  refused({ opset: 19 }, /opset 19/);
  refused({ inputName: "x" }, /inputName.*input_ids/);
  refused({ quantizeEmbeddings: true }, /quantizeEmbeddings needs quantize "int8"/);
  refused({ outputName: "input_ids" }, /input_ids/);
  refused({ graphPreprocess: { kind: "values", mean: [0], std: null } }, /graphPreprocess does not apply to a transformer/);
  const meta = decode(exportOnnx(model, { metadata: { "my.key": "my value" } })).metadataProps ?? [];
  assert.deepEqual(meta.find((p) => p.key === "my.key")?.value, "my value");
  assert.deepEqual(meta.find((p) => p.key === "tsdistill.input_kind")?.value, "tokens");
  const seq = new SequentialModel(modelConfigFromSpec("mlp:4", { inputShape: [3], numClasses: 2 }), 1);
  assert.throws(() => exportOnnx(seq, { positionIds: true }), (e: unknown) => e instanceof TsdistillError && /transformers only/.test(e.message));
  seq.dispose();
  await assert.rejects(OnnxTokenRunner.create(exportOnnx(new SequentialModel(modelConfigFromSpec("mlp:4", { inputShape: [3], numClasses: 2 }), 1))), /expected input_ids and attention_mask/);
  model.dispose();
});

test("checkTransformerOnnx: rows drawn from given token sequences (a pad id inside them is padding, as TF.js reads it); bad options are refused", async () => {
  const model = tinyModel({ causal: true, tie: true }, 9);
  const bytes = exportOnnx(model);
  const sequences = [Array.from({ length: 20 }, (_, k) => (k * 5) % TINY.vocab), Array.from({ length: 15 }, (_, k) => 1 + (k % 7))]; // the first holds pad id 0
  const r = await checkTransformerOnnx(model, bytes, { samples: 64, sequences, lengths: [TINY.ctx, 5] });
  assert.deepEqual(r.lengths, [5, TINY.ctx]);
  assert.ok(r.maxAbsDiff <= TOL, `diff ${r.maxAbsDiff}`);
  assert.equal(r.agreement, 1);
  const refused = (opts: Parameters<typeof checkTransformerOnnx>[2], pattern: RegExp) =>
    assert.rejects(checkTransformerOnnx(model, bytes, opts), (e: unknown) => e instanceof TsdistillError && pattern.test(e.message));
  await refused({ sequences: [[1, 2, 3]] }, /sequence 0 has 3 tokens; expected at least 12/);
  await refused({ sequences: [new Array(TINY.ctx).fill(TINY.vocab)] }, /token 0: 40 is not an id in \[0, 40\)/);
  await refused({ sequences: [] }, /sequences is empty/);
  await refused({ lengths: [TINY.ctx + 1] }, /length 13 is outside \[1, 12\]/);
  model.dispose();
});

test("saveOnnx dispatches a TransformerModel, writes atomically, and the file runs from its path; export is deterministic", async () => {
  const model = tinyModel({ causal: true, tie: true }, 8);
  const dir = join(root, "save");
  const path = join(dir, "lm.onnx");
  const n = saveOnnx(model, path, { quantize: "int8" });
  assert.deepEqual(readdirSync(dir), ["lm.onnx"]);
  assert.deepEqual(new Uint8Array(readFileSync(path)), exportOnnx(model, { quantize: "int8" }));
  assert.equal(n, readFileSync(path).length);
  assert.deepEqual(exportOnnx(model), exportOnnx(model));
  const r = await checkTransformerOnnx(model, path, { samples: 40 });
  assert.ok(r.agreement! > 0.9);
  const bad = join(dir, "bad.onnx");
  assert.throws(() => saveOnnx(model, bad, { opset: 14 }), TsdistillError);
  assert.ok(!existsSync(bad));
  model.dispose();
});

/** A copy whose kernels (and tables, when asked) are their int8 round trip: what the int8 graph computes. */
function dequantizedCopy(model: TransformerModel, embeddings: boolean): TransformerModel {
  const copy = new TransformerModel(model.config, 0);
  const values = model.namedWeights().map(({ name, tensor }) => {
    const axis = name.endsWith("/kernel") ? 1 : embeddings && name.startsWith("embeddings/") ? 0 : -1;
    if (axis < 0) return tensor;
    const data = new Float32Array(tensor.dataSync() as Float32Array);
    return tf.tensor(dequantizeInt8(quantizeWeightsInt8(data, tensor.shape, axis), tensor.shape, axis), tensor.shape);
  });
  copy.setWeights(values);
  return copy;
}

/** Bytes of the initializers (a tiny model's file is mostly graph: names and nodes). */
function weightBytes(bytes: Uint8Array): number {
  const T = onnx.TensorProto.DataType;
  const width: Record<number, number> = { [T.FLOAT]: 4, [T.INT8]: 1, [T.INT64]: 8 };
  return decode(bytes).graph.initializer.reduce((n, x) => n + (x.dims ?? []).reduce((a, b) => a * b, 1) * width[x.dataType], 0);
}

const INT8_CASES = [
  { name: "LM, causal, separate head, kernels int8", spec: { causal: true }, embeddings: false },
  { name: "LM, causal, tied head, kernels and embeddings int8", spec: { causal: true, tie: true }, embeddings: true },
  { name: "classify (mean pool), kernels and embeddings int8", spec: { head: "classify", numClasses: 5 } as Partial<TransformerSpecInput>, embeddings: true },
];

for (const [i, c] of INT8_CASES.entries()) {
  test(`int8: ${c.name}: exactly the dequantized model, and within the stated tolerance of the float one`, async (t) => {
    const model = tinyModel({ ...c.spec, dim: 32, ff: 64, vocab: 64 }, 20 + i);
    const floatBytes = exportOnnx(model);
    const bytes = exportOnnx(model, { quantize: "int8", quantizeEmbeddings: c.embeddings });
    const m = decode(bytes);
    const dq = m.graph.node.filter((n) => n.opType === "DequantizeLinear");
    const kernels = 4 * model.config.layers + (model.config.tie ? 0 : 1);
    assert.equal(dq.length, kernels + (c.embeddings ? 2 : 0));
    for (const n of dq) assert.equal(n.attribute?.find((a) => a.name === "axis")?.i, n.output[0].startsWith("embeddings/") ? 0 : 1, n.name);
    const inits = new Map(m.graph.initializer.map((x) => [x.name, x]));
    assert.equal(inits.get("block_1/attention/qkv/kernel_int8")?.dataType, onnx.TensorProto.DataType.INT8);
    assert.deepEqual(inits.get("block_1/attention/qkv/kernel_scale")?.dims, [3 * 32]);
    assert.equal(inits.get("block_1/attention/qkv/bias")?.dataType, onnx.TensorProto.DataType.FLOAT, "biases stay float32");
    assert.equal(inits.has("embeddings/token_int8"), c.embeddings);

    const deq = dequantizedCopy(model, c.embeddings);
    const exact = await checkTransformerOnnx(deq, bytes, { samples: N, seed: 100 + i });
    const vsFloat = await checkTransformerOnnx(model, bytes, { samples: N, seed: 100 + i });
    const ortDefault = await checkTransformerOnnx(model, bytes, { samples: N, seed: 100 + i, exactFloat: false });
    const ratio = weightBytes(floatBytes) / weightBytes(bytes);
    t.diagnostic(`file ${floatBytes.length} → ${bytes.length} bytes, weights ${weightBytes(floatBytes)} → ${weightBytes(bytes)} bytes (${ratio.toFixed(2)}x); vs dequantized TF.js ${exact.maxAbsDiff.toExponential(2)}`);
    t.diagnostic(`vs float TF.js, fp32 compute: max |diff| ${vsFloat.maxAbsDiff.toFixed(4)} (max |output| ${vsFloat.maxAbsOutput.toFixed(2)}), top-1 agreement ${(100 * vsFloat.agreement!).toFixed(2)}%`);
    t.diagnostic(`vs float TF.js, default ort session: max |diff| ${ortDefault.maxAbsDiff.toFixed(4)}, top-1 agreement ${(100 * ortDefault.agreement!).toFixed(2)}%`);
    assert.ok(exact.maxAbsDiff <= TOL, `the int8 graph does not compute the dequantized model (diff ${exact.maxAbsDiff})`);
    assert.ok(ratio > (c.embeddings ? 3 : 2), `weights only ${ratio.toFixed(2)}x smaller`);
    // The stated tolerance (measured values in the report): max |diff| ≤ 5 % of the largest |output|, top-1 ≥ 97 %.
    for (const [what, r] of [["fp32 compute", vsFloat], ["default session", ortDefault]] as const) {
      assert.ok(r.maxAbsDiff <= 0.05 * r.maxAbsOutput, `${what}: max |diff| ${r.maxAbsDiff}, max |output| ${r.maxAbsOutput}`);
      assert.ok(r.agreement! >= 0.97, `${what}: top-1 agreement ${r.agreement}`);
    }
    deq.dispose();
    model.dispose();
  });
}
