// The context layer of embedding students (src/embeddings/context-layer.ts): it starts as the identity, the TF.js
// forward, the shipped runtime and the ONNX export compute the same vectors, it saves and loads (int8 table too),
// it trains, and bad folders or exports fail with one line.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { useBackend } from "../src/engine/backend.js";
import { BagOfEmbeddingsModel, bagEmbedder, bagFromStatic, loadEmbeddingModel, saveEmbeddingModel, withContext } from "../src/embeddings/embedding-model.js";
import { classifierFromStatic, distillClassifier } from "../src/distill/embedding-classifier.js";
import { accuracyOf, argmaxRows } from "../src/eval/embedding-metrics.js";
import { CONTEXT_TENSORS } from "../src/embeddings/context-layer.js";
import { trainEmbeddingStudent } from "../src/distill/train-embedding.js";
import { exportEmbeddingOnnx, runEmbeddingOnnx } from "../src/export/onnx-embeddings.js";
import { tfjsEmbeddingArtifacts } from "../src/export/tfjs-embeddings.js";
import { trainBpe } from "../src/tokenizers/bpe-train.js";
import { encodeSequences } from "../src/data/token-sequences.js";
import { Rng } from "../src/util/rng.js";
import { assertAllClose, maxAbsDiff, tempDir } from "./helpers.js";

const CORPUS = ["the cat sat on the mat", "a dog barked at the cat", "stocks fell sharply today", "the market rallied after the news", "my code compiles but the tests fail", "the compiler reported a type error"];
const TEXTS = ["the cat", "stocks rallied after the news", "my tests fail today", "x", ""];

/** A context model whose layer has random (non-zero) weights, so that every part of it shows in the vectors. */
function randomContextModel(vocab: number, padId: number, dim?: number): BagOfEmbeddingsModel {
  const base = new BagOfEmbeddingsModel({ vocab, width: 8, dim, padId }, { seed: 3 });
  const model = withContext(base, 5, 4);
  base.dispose();
  const rng = new Rng(11, "context-weights");
  const w = model.namedWeights().map(({ tensor }) => tf.tensor(Float32Array.from({ length: tensor.size }, () => rng.normal() * 0.5), tensor.shape));
  model.setWeights(w);
  tf.dispose(w);
  return model;
}

/** The TF.js forward on texts, padded as training pads them. */
function forwardTexts(model: BagOfEmbeddingsModel, tok: ReturnType<typeof trainBpe>, texts: string[]): Float32Array {
  const { ids, lengths } = encodeSequences(texts, tok, { ctx: 64, addBos: false, addEos: false });
  const T = Math.max(1, ...lengths);
  const x = new Float32Array(texts.length * T).fill(tok.special.pad!);
  texts.forEach((_, i) => x.set(ids.subarray(i * 64, i * 64 + lengths[i]), i * T));
  return tf.tidy(() => {
    const out = model.forward(tf.tensor2d(x, [texts.length, T])).logits;
    const n = tf.sqrt(tf.maximum(tf.sum(tf.square(out), 1, true), 1e-24));
    return tf.div(out, n).dataSync() as Float32Array;
  });
}

test("context layer: a new one embeds exactly as the model without it; its tensors are named and shaped", async () => {
  await useBackend("cpu");
  const tok = trainBpe(CORPUS, { vocabSize: 300 });
  const base = new BagOfEmbeddingsModel({ vocab: tok.vocabSize, width: 8, padId: tok.special.pad }, { seed: 3 });
  const model = withContext(base, 5);
  assert.equal(model.config.context, 5);
  assert.deepEqual(model.namedWeights().map((p) => [p.name, p.tensor.shape]), [["embeddings", [tok.vocabSize, 8]], [CONTEXT_TENSORS[0], [24, 5]], [CONTEXT_TENSORS[1], [5]], [CONTEXT_TENSORS[2], [5, 8]], [CONTEXT_TENSORS[3], [5]]]);
  const plain = bagEmbedder(base, tok).embed(TEXTS);
  assertAllClose(bagEmbedder(model, tok).embed(TEXTS), plain, { rtol: 1e-6, atolScale: 1e-7, what: "runtime, identity start" });
  assertAllClose(forwardTexts(model, tok, TEXTS.slice(0, 4)), plain.subarray(0, 4 * 8), { rtol: 1e-5, atolScale: 1e-6, what: "TF.js, identity start" });
  assert.throws(() => withContext(model, 3), /already has a context layer \(hidden 5\)/);
  // A bag student built from a table would drop the layer: it refuses it instead.
  assert.throws(() => bagFromStatic(model, { mean: new Float32Array(4), components: new Float32Array(32), teacherDim: 4, dim: 8 }), /bagFromStatic: the model has a context layer \(hidden 5\)/);
  base.dispose();
  model.dispose();
});

test("context layer: TF.js forward = runtime (hand-checked on one text) = ONNX in onnxruntime-node; saved and loaded, int8 too", async (t) => {
  await useBackend("cpu");
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const tok = trainBpe(CORPUS, { vocabSize: 300 });
  const model = randomContextModel(tok.vocabSize, tok.special.pad!);
  const runtime = bagEmbedder(model, tok).embed(TEXTS);
  assertAllClose(forwardTexts(model, tok, TEXTS.slice(0, 4)), runtime.subarray(0, 4 * 8), { rtol: 1e-4, atolScale: 1e-5, what: "TF.js (padded batch) vs runtime" });
  assert.deepEqual(Array.from(runtime.subarray(4 * 8)), new Array(8).fill(0), "a text without tokens is the zero vector");

  // One two-token text by hand: h_t = relu([r_{t−1}, r_t, r_{t+1}]·W1 + b1), z_t = r_t + h_t·W2, a_t = h_t·q.
  const ids = tok.encode("stocks fell").slice(0, 2);
  assert.equal(ids.length, 2);
  const p = model.tensors();
  const f = (n: string) => p[n].data as Float32Array;
  const [table, w1, b1, w2, q] = [f("embeddings"), f(CONTEXT_TENSORS[0]), f(CONTEXT_TENSORS[1]), f(CONTEXT_TENSORS[2]), f(CONTEXT_TENSORS[3])];
  const row = (id: number | undefined) => (id === undefined ? new Array(8).fill(0) : Array.from(table.subarray(id * 8, id * 8 + 8)));
  const z: number[][] = [];
  const a: number[] = [];
  for (let s = 0; s < 2; s++) {
    const x = [...row(ids[s - 1]), ...row(ids[s]), ...row(ids[s + 1])];
    const h = Array.from({ length: 5 }, (_, k) => Math.max(0, b1[k] + x.reduce((acc, v, i) => acc + v * w1[i * 5 + k], 0)));
    z.push(row(ids[s]).map((r, i) => r + h.reduce((acc, hk, k) => acc + hk * w2[k * 8 + i], 0)));
    a.push(h.reduce((acc, hk, k) => acc + hk * q[k], 0));
  }
  const e = a.map((v) => Math.exp(v - Math.max(...a)));
  const pooled = z[0].map((_, i) => (e[0] * z[0][i] + e[1] * z[1][i]) / (e[0] + e[1]));
  const norm = Math.hypot(...pooled);
  assertAllClose(model.toRuntime(tok).embedIds(ids), Float32Array.from(pooled, (v) => v / norm), { rtol: 1e-5, atolScale: 1e-6, what: "runtime vs hand computation" });

  assertAllClose(await runEmbeddingOnnx(exportEmbeddingOnnx(model), tok, TEXTS), runtime, { rtol: 1e-4, atolScale: 1e-5, what: "onnxruntime vs runtime" });
  const withHead = randomContextModel(tok.vocabSize, tok.special.pad!, 6);
  assertAllClose(await runEmbeddingOnnx(exportEmbeddingOnnx(withHead), tok, TEXTS), bagEmbedder(withHead, tok).embed(TEXTS), { rtol: 1e-4, atolScale: 1e-5, what: "onnxruntime vs runtime, with a head" });
  assert.throws(() => tfjsEmbeddingArtifacts(model), /TF\.js export: this embedding model has a context layer \(config\.json context 5\)/);

  await saveEmbeddingModel(model, join(dir, "f32"), { tokenizer: tok });
  const back = loadEmbeddingModel(join(dir, "f32"));
  assert.equal(back.model.config.context, 5);
  assert.equal(maxAbsDiff(bagEmbedder(back.model, back.tokenizer).embed(TEXTS), runtime), 0);
  await saveEmbeddingModel(model, join(dir, "int8"), { tokenizer: tok, quantize: "int8" });
  const q8 = loadEmbeddingModel(join(dir, "int8"));
  const v8 = bagEmbedder(q8.model, q8.tokenizer).embed(TEXTS);
  assert.ok(maxAbsDiff(v8, runtime) > 0 && maxAbsDiff(v8, runtime) < 0.1, `int8: ${maxAbsDiff(v8, runtime)}`);
  assert.deepEqual(Array.from(q8.model.context!.kernel2.tensor.dataSync()), Array.from(w2), "the context layer stays float32");

  // A folder whose config says context but whose weights lack the layer: one line naming the file and the tensor.
  const cfg = JSON.parse(readFileSync(join(dir, "f32", "config.json"), "utf8"));
  writeFileSync(join(dir, "f32", "config.json"), JSON.stringify({ ...cfg, context: 7 }));
  assert.throws(() => loadEmbeddingModel(join(dir, "f32")), /embeddings\.safetensors: tensor "context\/kernel1" is \[24,5\]; expected \[24,7\]/);
  writeFileSync(join(dir, "f32", "config.json"), JSON.stringify({ ...cfg, context: -1 }));
  assert.throws(() => loadEmbeddingModel(join(dir, "f32")), /config\.json: context: expected an integer ≥ 0/);
  for (const m of [model, withHead, back.model, q8.model]) m.dispose();
});

test("context layer: trains on a teacher's vectors (loss falls, the layer moves off the identity); same seed, same weights", async () => {
  await useBackend("cpu");
  const tok = trainBpe(CORPUS, { vocabSize: 300 });
  // Targets that depend on word order, which a plain mean cannot fit: the first token's row weighs double.
  const base = new BagOfEmbeddingsModel({ vocab: tok.vocabSize, width: 8, padId: tok.special.pad }, { seed: 3 });
  const table = base.tensors().embeddings.data as Float32Array;
  const targets = new Float32Array(CORPUS.length * 8);
  CORPUS.forEach((text, i) => {
    const ids = tok.encode(text);
    ids.forEach((id, k) => {
      for (let j = 0; j < 8; j++) targets[i * 8 + j] += table[id * 8 + j] * (k === 0 ? 2 : 1);
    });
  });
  const run = async () => {
    const model = withContext(base, 6, 1);
    const res = await trainEmbeddingStudent(model, tok, CORPUS, targets, { epochs: 30, batchSize: 3, optimizer: { lr: 0.01 }, seed: 2 });
    const w = model.tensors();
    model.dispose();
    return { res, w };
  };
  const a = await run();
  assert.ok(a.res.losses.at(-1)! < a.res.losses[0] / 2, `loss ${a.res.losses[0]} → ${a.res.losses.at(-1)}`);
  assert.ok(Math.max(...Array.from(a.w[CONTEXT_TENSORS[3]].data as Float32Array, Math.abs)) > 0, "the pooling query has moved");
  const b = await run();
  assert.deepEqual(Array.from(b.w[CONTEXT_TENSORS[2]].data as Float32Array), Array.from(a.w[CONTEXT_TENSORS[2]].data as Float32Array));
  assert.throws(() => new BagOfEmbeddingsModel({ vocab: 10, width: 4, context: 1.5 }), /context: expected an integer ≥ 0/);
  base.dispose();
});

test("classifierFromStatic on a contextual table: the layer is copied, the head is fitted on its pooled vectors, and it trains", async () => {
  await useBackend("cpu");
  const tok = trainBpe(CORPUS, { vocabSize: 300 });
  const table = randomContextModel(tok.vocabSize, tok.special.pad!);
  const texts = CORPUS;
  const labels = Int32Array.from([0, 0, 1, 1, 2, 2]);
  const student = classifierFromStatic(table, tok, 3, { texts, labels, probe: { epochs: 200, l2: 0 } }, 0);
  assert.deepEqual([student.config.context, student.config.dim, student.config.normalize], [5, 3, false]);
  const src = table.tensors();
  const got = student.tensors();
  for (const name of ["embeddings", ...CONTEXT_TENSORS]) assert.deepEqual(got[name].data, src[name].data, `${name} copied as it was`);
  // logits = pooled·K + b, with pooled the layer's (unnormalised) weighted mean: the contextual table's vector
  // times its length, since the table normalises.
  const unit = bagEmbedder(table, tok).embed(texts);
  const pooler = new BagOfEmbeddingsModel({ kind: "static", vocab: tok.vocabSize, width: 8, padId: tok.special.pad, normalize: false, context: 5 }, { table: src.embeddings.data as Float32Array });
  pooler.setWeights(pooler.namedWeights().map(({ name }) => tf.tensor(src[name].data as Float32Array, src[name].shape)));
  const pooled = bagEmbedder(pooler, tok).embed(texts);
  for (let i = 0; i < texts.length; i++) {
    const row = pooled.subarray(i * 8, i * 8 + 8);
    const norm = Math.hypot(...row);
    assertAllClose(Float32Array.from(row, (v) => v / norm), unit.subarray(i * 8, i * 8 + 8), { rtol: 1e-5, atolScale: 1e-6, what: `text ${i}: the pooler is the table before normalisation` });
  }
  const K = got["head/kernel"].data as Float32Array, b = got["head/bias"].data as Float32Array;
  const expected = Float32Array.from({ length: texts.length * 3 }, (_, k) => {
    const i = Math.floor(k / 3), c = k % 3;
    let v = b[c];
    for (let j = 0; j < 8; j++) v += pooled[i * 8 + j] * K[j * 3 + c];
    return v;
  });
  const logits = bagEmbedder(student, tok).embed(texts);
  assertAllClose(logits, expected, { rtol: 1e-4, atolScale: 1e-5, what: "student logits = head(pooled)" });
  assert.equal(accuracyOf(argmaxRows(logits, 6, 3), labels), 1, "the fitted head separates its 6 training texts");
  // Distillation trains the layer too (its weights move), and the loss falls.
  const teacher = Float32Array.from({ length: 18 }, (_, k) => (labels[Math.floor(k / 3)] === k % 3 ? 3 : 0));
  const r = await distillClassifier(student, tok, texts, teacher, labels, { epochs: 5, batchSize: 3, seed: 1 });
  assert.ok(r.losses[4] < r.losses[0], `loss ${r.losses.map((l) => l.toFixed(3)).join(" → ")}`);
  assert.notDeepEqual(student.tensors()[CONTEXT_TENSORS[0]].data, src[CONTEXT_TENSORS[0]].data, "the layer trains");
  for (const m of [table, student, pooler]) m.dispose();
});
