// Language-model evaluation (src/eval/lm.ts): perplexity and bits per byte, next-token agreement, teacher-scored
// NLL of generations, generation speed — against hand-computed values and float64 references from full forwards.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { useBackend } from "../src/engine/backend.js";
import { packWindows, windowDataset } from "../src/data/token-sequences.js";
import { bitsPerByte, generateSamples, generationSpeed, heldOutLmMetrics, modelSequenceLogprobs, nextTokenAgreement, targetTextBytes, teacherScoredNll } from "../src/eval/lm.js";
import { nextTokenMetrics } from "../src/eval/next-token.js";
import { transformerConfigFromSpec } from "../src/students/spec.js";
import { TransformerModel } from "../src/students/transformer.js";
import { ByteTokenizer } from "../src/tokenizers/byte.js";
import { assertAllClose } from "./helpers.js";
import { logSoftmax } from "./losses-ref.js";

await useBackend("wasm", { fallback: false });
const bytes = new ByteTokenizer();

const TEXT = "naïve café — ok!!!!!"; // 24 bytes in UTF-8 (ï, é: 2 bytes; —: 3)
const CTX = 8;
/** BOS + 24 text bytes + EOS = 26 tokens → 3 windows of 8 whose 24 targets are exactly the text bytes. */
function corpus(): ReturnType<typeof windowDataset> {
  return windowDataset("corpus", packWindows([[bytes.special.bos!, ...bytes.encode(TEXT)]], CTX, bytes.special.eos!), CTX, bytes.vocabSize);
}

function lm(seed: number, scale = 10): TransformerModel {
  const model = new TransformerModel(transformerConfigFromSpec({ layers: 1, dim: 16, heads: 2, ff: 32, ctx: CTX, causal: true }), seed);
  model.setWeights(model.params.map((p) => tf.tidy(() => (p.shape.length === 2 ? tf.mul(p, scale) : tf.clone(p)))));
  return model;
}

test("bitsPerByte = Σ nats / (ln 2 · bytes)", () => {
  assert.equal(bitsPerByte(100 * Math.LN2, 50), 2);
  assert.throws(() => bitsPerByte(1, 0), /byte count 0 must be > 0/);
});

test("targetTextBytes: the UTF-8 bytes of every target token, special tokens adding none", () => {
  const data = corpus();
  assert.equal(data.size, 3);
  assert.equal(Buffer.byteLength(TEXT), 24);
  assert.equal(targetTextBytes(data, bytes), 24);
  // Targets that are special tokens count no bytes: the same text with its last window ending on EOS.
  const withEos = windowDataset("e", packWindows([[bytes.special.bos!, ...bytes.encode(TEXT.slice(0, -1))]], CTX, bytes.special.eos!), CTX, bytes.vocabSize);
  assert.equal(targetTextBytes(withEos, bytes), 23);
});

test("held-out metrics: a uniform model has ln V nats/token, perplexity V, log2 V bits per byte; a real one matches a float64 reference", () => {
  const data = corpus();
  const flat = lm(1);
  flat.setWeights(flat.params.map((p) => tf.zerosLike(p)));
  const m = heldOutLmMetrics(flat, data, { textBytes: 24 });
  assert.equal(m.tokens, 24);
  assertAllClose(m.natsPerToken, Math.log(260), { rtol: 1e-6, what: "nats/token" });
  assertAllClose(m.perplexity, 260, { rtol: 1e-5, what: "perplexity" });
  // Every target is one text byte: bits per byte = log2(260).
  assertAllClose(m.bitsPerByte!, Math.log2(260), { rtol: 1e-6, what: "bits per byte" });
  const model = lm(2);
  const got = heldOutLmMetrics(model, data, { textBytes: targetTextBytes(data, bytes), batchSize: 2 });
  let nats = 0;
  let hits = 0;
  for (let r = 0; r < data.size; r++) {
    const x = Array.from(data.x.subarray(r * CTX, (r + 1) * CTX));
    const rows = tf.tidy(() => model.forward(tf.tensor2d([x])).logits.arraySync());
    rows.forEach((row, t) => {
      const target = t + 1 < CTX ? x[t + 1] : data.y[r];
      nats -= logSoftmax(row)[target];
      if (row.indexOf(Math.max(...row)) === target) hits++;
    });
  }
  assertAllClose(got.natsPerToken, nats / 24, { rtol: 1e-5, what: "nats/token vs reference" });
  assertAllClose(got.bitsPerByte!, nats / Math.LN2 / 24, { rtol: 1e-5, what: "bpb vs reference" });
  assert.equal(got.accuracy, hits / 24);
  const old = nextTokenMetrics(model, data);
  assertAllClose([got.natsPerToken, got.accuracy], [old.loss, old.accuracy], { rtol: 1e-6, what: "agrees with nextTokenMetrics" });
  assert.equal(heldOutLmMetrics(model, data).bitsPerByte, null);
  flat.dispose();
  model.dispose();
});

test("nextTokenAgreement: 1 with itself; otherwise the share of equal argmaxes; vocabularies must match", () => {
  const data = corpus();
  const [a, b] = [lm(3), lm(4)];
  assert.deepEqual(nextTokenAgreement(a, a, data), { tokens: 24, agreement: 1 });
  let same = 0;
  for (let r = 0; r < data.size; r++) {
    const x = tf.tensor2d([Array.from(data.x.subarray(r * CTX, (r + 1) * CTX))]);
    const [ra, rb] = [a, b].map((m) => tf.tidy(() => Array.from(tf.argMax(m.forward(x).logits, 1).dataSync())));
    same += ra.filter((v, i) => v === rb[i]).length;
    x.dispose();
  }
  const got = nextTokenAgreement(a, b, data, { batchSize: 2 });
  assert.equal(got.agreement, same / 24);
  assert.ok(got.agreement < 1, "two random models disagree somewhere");
  const narrow = (x: tf.Tensor) => tf.zeros([x.shape[0] * x.shape[1]!, 10]) as tf.Tensor2D;
  assert.throws(() => nextTokenAgreement(a, narrow, data), /the teacher has 260 tokens in its vocabulary, the student 10; expected one vocabulary/);
  a.dispose();
  b.dispose();
});

test("teacher-scored NLL of generations: −mean log P_T over continuation tokens; a model scores itself like its forward pass", async () => {
  const constant = (ids: readonly number[]) => ids.slice(1).map((_, i) => -(i + 1)); // log P of token i+1 is −(i+1)
  const r = await teacherScoredNll([{ prompt: [1, 2], continuation: [3, 4] }, { prompt: [5], continuation: [6] }], constant);
  // Sample 1: tokens 3, 4 at indices 2, 3 → log-probs −2, −3; sample 2: token 6 at index 1 → −1.
  assert.deepEqual(r, { samples: 2, tokens: 3, nllPerToken: 2, perSample: [2.5, 1] });
  await assert.rejects(teacherScoredNll([{ prompt: [1], continuation: [2] }], () => [0, 0]), /returned 2 log-probs for a sequence of 2 tokens; expected 1/);

  const teacher = lm(5);
  const student = lm(6);
  const samples = generateSamples(student, [[257], [257, 104]], { maxTokens: 5, temperature: 1, seed: 3 });
  assert.deepEqual(samples.map((s) => s.continuation.length), [5, 5]);
  const score = modelSequenceLogprobs(teacher);
  const got = await teacherScoredNll(samples, score);
  let total = 0;
  for (const s of samples) {
    const ids = [...s.prompt, ...s.continuation];
    const rows = tf.tidy(() => teacher.forward(tf.tensor2d([ids])).logits.arraySync());
    for (let j = s.prompt.length; j < ids.length; j++) total -= logSoftmax(rows[j - 1])[ids[j]];
  }
  assertAllClose(got.nllPerToken, total / 10, { rtol: 1e-5, what: "teacher NLL" });
  // Longer than the context: strided windows, the first window exactly the forward pass, every token scored once.
  const long = [257, ...bytes.encode("a longer sequence than eight")];
  const lp = await score(long);
  assert.equal(lp.length, long.length - 1);
  const first = tf.tidy(() => teacher.forward(tf.tensor2d([long.slice(0, CTX)])).logits.arraySync());
  assertAllClose(lp.slice(0, CTX - 1), first.slice(0, CTX - 1).map((row, i) => logSoftmax(row)[long[i + 1]]), { rtol: 1e-5, what: "first window" });
  assert.ok(lp.every((v) => Number.isFinite(v) && v < 0));
  teacher.dispose();
  student.dispose();
});

test("generationSpeed counts generated tokens and reports ms per token", () => {
  const model = lm(7);
  const s = generationSpeed(model, [[257], [257, 100]], { maxTokens: 6, temperature: 0 });
  assert.equal(s.tokens, 12);
  assert.ok(s.seconds > 0 && s.msPerToken > 0 && Math.abs(s.msPerToken - (s.seconds * 1000) / 12) < 1e-9);
  model.dispose();
});
