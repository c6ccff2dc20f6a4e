// Static embedding students (Model2Vec-style): the eigensolver and PCA against known decompositions, model2vec's SIF
// weights, the SentencePiece tokenizer against the Universal Sentence Encoder's own, the bag-of-embeddings model
// (TF.js forward = the shipped runtime, save/load), and distillation from a function teacher.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { useBackend } from "../src/engine/backend.js";
import { symmetricEigen } from "../src/embeddings/eigen.js";
import { explainedVariance, fitPca, projectPca } from "../src/embeddings/pca.js";
import { sifWeights } from "../src/embeddings/sif.js";
import { BagOfEmbeddingsModel, bagEmbedder, bagFromStatic, loadEmbeddingModel, saveEmbeddingModel } from "../src/embeddings/embedding-model.js";
import { distillStaticFromTeacher } from "../src/embeddings/distill-static.js";
import { trainEmbeddingStudent } from "../src/distill/train-embedding.js";
import { FunctionEmbeddingTeacher } from "../src/teachers/embedding/function-embedding-teacher.js";
import { useLiteDir } from "../src/teachers/embedding/tfjs-embedding-teacher.js";
import { SentencePieceTokenizer } from "../src/tokenizers/sentencepiece.js";
import { loadTokenizer } from "../src/tokenizers/io.js";
import { trainBpe } from "../src/tokenizers/bpe-train.js";
import { Rng } from "../src/util/rng.js";
import { decodeSafetensors, encodeSafetensors } from "../src/util/safetensors.js";
import { readSafetensorsF32 } from "../src/embeddings/runtime/embed-runtime.mjs";
import { assertAllClose, maxAbsDiff, tempDir } from "./helpers.js";

/** A seeded random orthogonal matrix (Gram–Schmidt on Gaussian columns), row-major n×n, columns orthonormal. */
function randomOrthogonal(n: number, seed: number): Float64Array {
  const rng = new Rng(seed, "orthogonal");
  const q = new Float64Array(n * n);
  for (let c = 0; c < n; c++) {
    const v = Float64Array.from({ length: n }, () => rng.normal());
    for (let p = 0; p < c; p++) {
      let dot = 0;
      for (let r = 0; r < n; r++) dot += v[r] * q[r * n + p];
      for (let r = 0; r < n; r++) v[r] -= dot * q[r * n + p];
    }
    const norm = Math.hypot(...v);
    for (let r = 0; r < n; r++) q[r * n + c] = v[r] / norm;
  }
  return q;
}

test("symmetricEigen: [[2,1],[1,2]] has eigenvalues 3 and 1 with eigenvectors (1,1)/√2 and (1,−1)/√2", () => {
  const { values, vectors } = symmetricEigen([2, 1, 1, 2], 2);
  assertAllClose(values, [3, 1], { rtol: 1e-12 });
  const s = Math.SQRT1_2;
  assertAllClose(vectors, [s, s, s, -s], { rtol: 1e-12, atol: 1e-12 }); // columns; signs: largest entry positive
});

test("symmetricEigen: recovers Q·diag(λ)·Qᵀ for a random orthogonal Q (n = 40, repeated eigenvalue included)", () => {
  const n = 40;
  const q = randomOrthogonal(n, 7);
  const lambda = Array.from({ length: n }, (_, i) => (i === 5 ? 10 : 40 - i)); // 10 appears twice (i = 5 and i = 30)
  const a = new Float64Array(n * n);
  for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) for (let k = 0; k < n; k++) a[r * n + c] += q[r * n + k] * lambda[k] * q[c * n + k];
  const { values, vectors } = symmetricEigen(a, n);
  assertAllClose(values, [...lambda].sort((x, y) => y - x), { rtol: 1e-10 });
  // A·v = λ·v for every pair, and VᵀV = I.
  for (let j = 0; j < n; j++) {
    for (let r = 0; r < n; r++) {
      let av = 0;
      for (let k = 0; k < n; k++) av += a[r * n + k] * vectors[k * n + j];
      assert.ok(Math.abs(av - values[j] * vectors[r * n + j]) < 1e-9, `A·v ≠ λ·v at eigenpair ${j}, row ${r}`);
    }
    for (let i = 0; i <= j; i++) {
      let dot = 0;
      for (let k = 0; k < n; k++) dot += vectors[k * n + i] * vectors[k * n + j];
      assert.ok(Math.abs(dot - (i === j ? 1 : 0)) < 1e-10, `columns ${i} and ${j}: dot ${dot}`);
    }
  }
  // A distinct eigenvalue's eigenvector is Q's column up to sign.
  const k = lambda.indexOf(40);
  let dot = 0;
  for (let r = 0; r < n; r++) dot += vectors[r * n] * q[r * n + k];
  assert.ok(Math.abs(Math.abs(dot) - 1) < 1e-10, `largest eigenvector vs Q column: |dot| ${Math.abs(dot)}`);
  assert.throws(() => symmetricEigen([1, NaN, NaN, 1], 2), /entry 1 is NaN/);
});

test("fitPca: points on a 2-d plane through a mean: two components with the planted variances, exact projections (cpu loops and wasm products)", async () => {
  const cols = 6;
  const q = randomOrthogonal(cols, 3);
  const rng = new Rng(1, "pca");
  const mean = [1, -2, 3, 0.5, 0, 4];
  const rows = 200;
  const x = new Float32Array(rows * cols);
  const coef: number[][] = [];
  for (let i = 0; i < rows; i++) {
    const a = rng.normal() * 3;
    const b = rng.normal();
    coef.push([a, b]);
    for (let j = 0; j < cols; j++) x[i * cols + j] = mean[j] + a * q[j * cols] + b * q[j * cols + 1];
  }
  for (const backend of ["cpu", "wasm"] as const) {
    await useBackend(backend);
    const pca = fitPca(x, rows, cols, 2);
    assert.ok(explainedVariance(pca) > 0.99999, `${backend}: explained ${explainedVariance(pca)}`);
    const var0 = coef.reduce((s, c) => s + c[0] ** 2, 0) / (rows - 1);
    assert.ok(Math.abs(pca.variances[0] / var0 - 1) < 0.05, `${backend}: variance ${pca.variances[0]} vs planted ≈ ${var0}`);
    const p = projectPca(pca, x, rows);
    // The projection keeps distances (the data lie in the component plane).
    const d = (v: ArrayLike<number>, w: number, i: number, j: number) => Math.hypot(...Array.from({ length: w }, (_, k) => v[i * w + k] - v[j * w + k]));
    for (const [i, j] of [[0, 1], [5, 77], [10, 199]]) assert.ok(Math.abs(d(p, 2, i, j) - d(x, cols, i, j)) < 1e-4, `${backend}: distance ${i}-${j}`);
  }
  assert.throws(() => fitPca(x, rows, cols, 7), /k = 7 components; expected 1 to 6/);
});

test("sifWeights: model2vec's w_i = a/(a + p_i), p_i ∝ 1/(i+2)", () => {
  // n = 3: r = [1/2, 1/3, 1/4], Σ = 13/12, p = [6/13, 4/13, 3/13]; a = 0.5 → w = 0.5/(0.5 + p).
  assertAllClose(sifWeights(3, 0.5), [0.5 / (0.5 + 6 / 13), 0.5 / (0.5 + 4 / 13), 0.5 / (0.5 + 3 / 13)], { rtol: 1e-14 });
  const w = sifWeights(8000);
  for (let i = 1; i < w.length; i++) assert.ok(w[i] > w[i - 1], "weights grow with the rank");
  assert.throws(() => sifWeights(10, 1), /0 < a < 1/);
});

test("SentencePieceTokenizer: USE-lite's vocabulary splits texts as @energetic-ai/embeddings 0.2.0 does", () => {
  const sp = SentencePieceTokenizer.fromVocabFile(join(useLiteDir(), "vocab.json"));
  // Ids produced by @energetic-ai/embeddings 0.2.0's Tokenizer (the tfjs-models USE tokenizer) on these texts; the
  // same comparison over 5,583 fortune quotes and SpamAssassin messages gave no difference.
  const golden: [string, number[]][] = [
    ["", []],
    [" ", [30, 30]],
    ["Hello, world!", [341, 4125, 8, 311, 78]],
    ["  double  spaces ", [30, 30, 1991, 30, 1016, 7, 30]],
    ["émoji 😀😀 x", [30, 1133, 451, 2501, 30, 0, 649]],
    ["日本語のテキスト", [30, 0]],
  ];
  for (const [text, ids] of golden) assert.deepEqual(sp.encode(text), ids, JSON.stringify(text));
  assert.equal(sp.decode(sp.encode("Hello, world!")), "Hello, world!");
  assert.equal(sp.vocabSize, 8000);
  assert.deepEqual(sp.special, { unk: 0, bos: 1, eos: 2, pad: 3 });
  // Saved and loaded as tokenizer.json {"kind": "sentencepiece"}.
  const { dir, cleanup } = tempDir();
  try {
    writeFileSync(join(dir, "tokenizer.json"), JSON.stringify(sp.toFiles().tokenizer));
    const back = loadTokenizer(dir);
    assert.equal(back.kind, "sentencepiece");
    assert.deepEqual(back.encode("Hello, world!"), [341, 4125, 8, 311, 78]);
    writeFileSync(join(dir, "tokenizer.json"), JSON.stringify({ kind: "sentencepiece", vocab: [["a", 1]] }));
    assert.throws(() => loadTokenizer(dir), /tokenizer\.json: vocab: expected an array of more than 6/);
  } finally {
    cleanup();
  }
});

const CORPUS = ["the cat sat on the mat", "a dog barked at the cat", "stocks fell sharply today", "the market rallied after the news", "my code compiles but the tests fail", "the compiler reported a type error"];

/** A deterministic toy teacher: each text's vector counts its characters by (code point mod dim), plus a bias. */
function toyTeacher(dim = 12): FunctionEmbeddingTeacher {
  const fn = (texts: string[]) =>
    texts.map((t) => {
      const v = new Array(dim).fill(0.1);
      for (const ch of t) v[ch.codePointAt(0)! % dim] += 1;
      return v;
    });
  return new FunctionEmbeddingTeacher(fn, "toy");
}

test("BagOfEmbeddingsModel: the TF.js forward equals the runtime's embed; saved and loaded it is the same model", async (t) => {
  await useBackend("cpu");
  const tok = trainBpe(CORPUS, { vocabSize: 300 });
  const model = new BagOfEmbeddingsModel({ vocab: tok.vocabSize, width: 8, dim: 5, padId: tok.special.pad }, { seed: 3 });
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const texts = ["the cat", "a type error", ""];
  const runtime = bagEmbedder(model, tok).embed(texts);
  const rows = texts.map((s) => tok.encode(s));
  const T = Math.max(1, ...rows.map((r) => r.length));
  const x = Float32Array.from(rows.flatMap((r) => [...r, ...new Array(T - r.length).fill(tok.special.pad)]));
  const raw = tf.tidy(() => model.predict(tf.tensor2d(x, [texts.length, T])).arraySync() as number[][]);
  const normalized = raw.flatMap((r) => {
    const n = Math.hypot(...r);
    return r.map((v) => (n > 0 ? v / n : 0));
  });
  // The empty text: mean of no rows = 0, then the head's bias (0 at init) → the zero vector.
  assertAllClose(runtime, normalized, { rtol: 1e-5, atolScale: 1e-6, what: "runtime vs TF.js" });
  await saveEmbeddingModel(model, join(dir, "m"), { tokenizer: tok, metadata: { note: "test" } });
  const back = loadEmbeddingModel(join(dir, "m"));
  assert.equal(back.metadata.note, "test");
  assert.equal(maxAbsDiff(bagEmbedder(back.model, back.tokenizer).embed(texts), runtime), 0);
  writeFileSync(join(dir, "m", "config.json"), JSON.stringify({ format: "tsdistill-embeddings", version: 1, kind: "static", vocab: 0 }));
  assert.throws(() => loadEmbeddingModel(join(dir, "m")), /config\.json: vocab: expected an integer ≥ 1, got 0/);
});

test("quantised tables: int8 (a scale per row) within half a step of each value, fp16 within 2⁻¹¹ relative; the runtime reads the file as saved", async (t) => {
  await useBackend("cpu");
  const tok = trainBpe(CORPUS, { vocabSize: 300 });
  const model = new BagOfEmbeddingsModel({ vocab: tok.vocabSize, width: 16, padId: tok.special.pad }, { seed: 5 });
  const table = model.tensors().embeddings.data as Float32Array;
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const texts = ["the cat sat", "a type error", "stocks fell"];
  const f32 = bagEmbedder(model, tok).embed(texts);
  await saveEmbeddingModel(model, join(dir, "f32"), { tokenizer: tok });
  for (const kind of ["int8", "fp16"] as const) {
    const out = join(dir, kind);
    await saveEmbeddingModel(model, out, { tokenizer: tok, quantize: kind });
    const bytes = readFileSync(join(out, "embeddings.safetensors"));
    const stored = decodeSafetensors(new Uint8Array(bytes), kind).tensors;
    assert.equal(stored.embeddings.dtype, kind === "int8" ? "I8" : "F16");
    assert.ok(bytes.length < readFileSync(join(dir, "f32", "embeddings.safetensors")).length / (kind === "int8" ? 3 : 1.9), `${kind}: ${bytes.length} bytes`);
    const back = loadEmbeddingModel(out).model.tensors().embeddings.data as Float32Array;
    const runtime = readSafetensorsF32(bytes).embeddings.data;
    assert.equal(maxAbsDiff(back, runtime), 0, `${kind}: the TypeScript loader and the runtime widen alike`);
    for (let i = 0; i < tok.vocabSize; i++) {
      const row = table.subarray(i * 16, (i + 1) * 16);
      const step = Math.max(...Array.from(row, Math.abs)) / 127;
      for (let j = 0; j < 16; j++) {
        const err = Math.abs(back[i * 16 + j] - row[j]);
        assert.ok(kind === "int8" ? err <= step / 2 + 1e-7 : err <= Math.abs(row[j]) * 2 ** -11 + 2 ** -24, `${kind} row ${i} col ${j}: ${row[j]} → ${back[i * 16 + j]}`);
      }
    }
    const q = loadEmbeddingModel(out);
    const v = bagEmbedder(q.model, q.tokenizer).embed(texts);
    assert.ok(maxAbsDiff(v, f32) < (kind === "int8" ? 0.05 : 1e-3), `${kind}: sentence vectors within ${maxAbsDiff(v, f32)}`);
    assert.ok(maxAbsDiff(v, f32) > 0, `${kind}: the stored table is what is measured (not the float32 one)`);
  }
  // An int8 table without its scales is one clear error naming the file.
  const bad = join(dir, "int8", "embeddings.safetensors");
  const { embeddings } = decodeSafetensors(new Uint8Array(readFileSync(bad)), bad).tensors;
  writeFileSync(bad, encodeSafetensors({ embeddings }));
  assert.throws(() => loadEmbeddingModel(join(dir, "int8")), /int8\/embeddings\.safetensors: int8 tensor "embeddings" needs an F32 tensor "embeddings\/scale"/);
  assert.throws(() => readSafetensorsF32(readFileSync(bad)), /needs an F32 tensor "embeddings\/scale"/);
});

test("distillStatic: tokens through the teacher → PCA → SIF weights, pad row zero; 'teacher' vocabulary needs ids", async () => {
  await useBackend("cpu");
  const teacher = await toyTeacher().init();
  const tok = trainBpe(CORPUS, { vocabSize: 290 });
  // No PCA, no SIF: row i is the teacher's vector of token i's text (trimmed), exactly.
  const plain = await distillStaticFromTeacher(teacher, { vocabulary: tok, pcaDims: null, sifCoefficient: null, batchSize: 50 });
  const table = plain.model.tensors().embeddings.data as Float32Array;
  const id = tok.encode(" cat").find((i) => tok.decode([i]).trim().length > 1) ?? tok.encode("cat")[0];
  assertAllClose(table.subarray(id * 12, id * 12 + 12), await teacher.embed([tok.decode([id]).trim()]), { rtol: 1e-6 });
  const pad = tok.special.pad!;
  assert.equal(Math.max(...Array.from(table.subarray(pad * 12, pad * 12 + 12), Math.abs)), 0, "pad row is zero");
  // PCA to 4 dims and SIF: row i = w_i · (v_i − μ)·W.
  const r = await distillStaticFromTeacher(teacher, { vocabulary: tok, pcaDims: 4 });
  assert.equal(r.model.config.width, 4);
  assert.equal(r.info.pcaDims, 4);
  assert.ok(r.info.explainedVariance! > 0 && r.info.explainedVariance! <= 1);
  const w = sifWeights(tok.vocabSize, 1e-4);
  const proj = r.projection!;
  const got = (r.model.tensors().embeddings.data as Float32Array).subarray(id * 4, id * 4 + 4);
  const want = new Float32Array(4);
  for (let j = 0; j < 12; j++) for (let c = 0; c < 4; c++) want[c] += (table[id * 12 + j] - proj.mean[j]) * proj.components[j * 4 + c] * w[id];
  assertAllClose(got, want, { rtol: 1e-4, atolScale: 1e-5 });
  // bagFromStatic: the same rows, mapped back to teacher coordinates by PCA's inverse (x·Wᵀ + μ).
  const bag = bagFromStatic(r.model, proj);
  assert.deepEqual([bag.config.width, bag.config.dim, bag.config.kind], [4, 12, "bag"]);
  const text = "the cat sat";
  const pooled = bagEmbedder(new BagOfEmbeddingsModel({ vocab: tok.vocabSize, width: 4, normalize: false, padId: pad }, { table: r.model.tensors().embeddings.data as Float32Array }), tok).embed([text]);
  const back = Float32Array.from({ length: 12 }, (_, j) => proj.mean[j] + [0, 1, 2, 3].reduce((acc, c) => acc + pooled[c] * proj.components[j * 4 + c], 0));
  const n = Math.hypot(...back);
  assertAllClose(bagEmbedder(bag, tok).embed([text]), back.map((v) => v / n), { rtol: 1e-4, atolScale: 1e-5 });
  await assert.rejects(distillStaticFromTeacher(teacher, {}), /vocabulary "teacher": teacher toy exposes no tokenizer/);
  await assert.rejects(distillStaticFromTeacher(teacher, { vocabulary: tok, pcaDims: 13 }), /pcaDims: 13; expected an integer from 1 to the teacher's 12/);
});

test("refining a static table on unlabeled text lowers its cosine loss to the teacher (in the PCA space)", async () => {
  await useBackend("cpu");
  const teacher = await toyTeacher().init();
  const tok = trainBpe(CORPUS, { vocabSize: 290 });
  const { model, projection } = await distillStaticFromTeacher(teacher, { vocabulary: tok, pcaDims: 6 });
  const targets = await teacher.embed(CORPUS);
  const projected = new Float32Array(CORPUS.length * 6);
  for (let i = 0; i < CORPUS.length; i++) for (let j = 0; j < 12; j++) for (let c = 0; c < 6; c++) projected[i * 6 + c] += (targets[i * 12 + j] - projection!.mean[j]) * projection!.components[j * 6 + c];
  const run = () => trainEmbeddingStudent(model, tok, CORPUS, projected, { epochs: 15, batchSize: 3, optimizer: { lr: 0.01 }, seed: 5 });
  const { losses } = await run();
  assert.ok(losses[losses.length - 1] < losses[0] * 0.7, `cosine loss ${losses[0].toFixed(4)} → ${losses[losses.length - 1].toFixed(4)}`);
});
