// Token-level LM distillation (src/distill/lm-distill.ts): the loss it builds is the registry terms on the
// teacher's per-token logits (or a top-k cache), vocabularies are checked first, and on a memorised string a tiny
// student distilled with forward KL alone reaches the teacher's next-token predictions.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { useBackend } from "../src/engine/backend.js";
import { windowDataset } from "../src/data/token-sequences.js";
import { distillLm, lmDistillLoss } from "../src/distill/lm-distill.js";
import { nextTokenAgreement } from "../src/eval/lm.js";
import { generate } from "../src/generate/generate.js";
import { nextTokenMetrics } from "../src/eval/next-token.js";
import { nextTokenCrossEntropy } from "../src/losses/next-token.js";
import { nextTokenMask, tokenCrossEntropy, tokenForwardKl, tokenTopKKd } from "../src/losses/sequence.js";
import { nextTokenTargets } from "../src/losses/next-token.js";
import { transformerConfigFromSpec } from "../src/students/spec.js";
import { TransformerModel } from "../src/students/transformer.js";
import { openLmTopKCache, writeLmTopKCache } from "../src/teachers/lm-topk-cache.js";
import { ByteTokenizer } from "../src/tokenizers/byte.js";
import { tokenizerFromJson } from "../src/tokenizers/io.js";
import { trainBpe } from "../src/tokenizers/bpe-train.js";
import { fit, type StepContext } from "../src/train/fit.js";
import { assertAllClose, tempDir } from "./helpers.js";

await useBackend("wasm", { fallback: false });
const bytes = new ByteTokenizer();

const TEXT = "distil the teacher, token by token";
const WINDOW = Int32Array.from([bytes.special.bos!, ...bytes.encode(TEXT), bytes.special.eos!]);
const CTX = WINDOW.length - 1;
const data = windowDataset("memorise", WINDOW, CTX, bytes.vocabSize);

/** A teacher that memorised TEXT (100 % next-byte accuracy on its window), trained once for all tests. */
const teacher = new TransformerModel(transformerConfigFromSpec(`transformer:layers=1,dim=32,heads=2,ff=64,ctx=${CTX},causal,tie`), 1);
await fit(teacher, data, (logits, c) => nextTokenCrossEntropy(logits, c.x, c.y), { epochs: 120, batchSize: 1, seed: 1, optimizer: { kind: "adam", lr: 1e-2 } });
const tinyStudent = (seed: number) => new TransformerModel(transformerConfigFromSpec(`transformer:layers=1,dim=16,heads=2,ff=32,ctx=${CTX},causal,tie`), seed);

test("the teacher memorised the string", () => {
  assert.equal(nextTokenMetrics(teacher, data).accuracy, 1);
});

test("lmDistillLoss: Σ w·term on the teacher's logits with the token mask (prompt and padding left out)", () => {
  const student = tinyStudent(2);
  const promptLengths = Int32Array.from([5]);
  const loss = lmDistillLoss({ student, teacher, data, epochs: 1, promptLengths, terms: [{ loss: "token-kl", options: { temperature: 2 } }, { loss: "token-ce", weight: 0.25 }] });
  tf.tidy(() => {
    const x = tf.tensor2d(data.x, [1, CTX]);
    const y = tf.tensor1d(data.y, "int32");
    const batch = { x: data.x, y: data.y, size: 1, indices: Int32Array.from([0]) };
    const ctx = { batch, x, y, epoch: 0, progress: 0, features: new Map() } as unknown as StepContext;
    const s = student.forward(x).logits;
    const mask = nextTokenMask(x, y, { padId: 256, promptLengths: [5] });
    assert.equal(mask.sum().dataSync()[0], CTX + 1 - 5, "the 4 prompt-token targets are left out");
    const want = tokenForwardKl(s, teacher.forward(x).logits, mask, { temperature: 2 }).dataSync()[0] + 0.25 * tokenCrossEntropy(s, nextTokenTargets(x, y, 256), mask).dataSync()[0];
    assertAllClose(loss(s, ctx).dataSync()[0], want, { rtol: 1e-6, what: "loss" });
  });
  student.dispose();
});

test("vocabularies are checked first, naming both sides; terms are validated", async () => {
  const wide = new TransformerModel(transformerConfigFromSpec({ layers: 1, dim: 8, heads: 2, ctx: CTX, vocab: 300, causal: true }), 1);
  assert.throws(() => lmDistillLoss({ student: wide, teacher, data, epochs: 1 }), /^TsdistillError: token-level distillation needs one vocabulary on both sides \(sequence-level KD works across tokenizers\): the teacher's vocabulary is 260 tokens, the student's 300 tokens$/);
  const bpe = trainBpe(["some text to learn merges from"], { vocabSize: 260 });
  assert.equal(bpe.vocabSize, 260);
  assert.throws(
    () => lmDistillLoss({ student: tinyStudent(1), teacher, data, epochs: 1, tokenizers: { teacher: bytes, student: bpe } }),
    /the teacher's vocabulary is byte tokenizer, 260 tokens, the student's huggingface tokenizer, 260 tokens, but the tokenizers differ/,
  );
  const same = tokenizerFromJson(JSON.parse(JSON.stringify(bytes.toFiles().tokenizer)));
  assert.doesNotThrow(() => lmDistillLoss({ student: tinyStudent(1), teacher, data, epochs: 1, tokenizers: { teacher: bytes, student: same } }));
  assert.throws(() => lmDistillLoss({ student: tinyStudent(1), teacher, data, epochs: 1, terms: [{ loss: "kd" }] }), /terms\[0\]\.loss: "kd" is not a token-level loss; expected one of token-ce, token-kl/);
  assert.throws(() => lmDistillLoss({ student: tinyStudent(1), teacher, data, epochs: 1, terms: [{ loss: "token-jsd", options: { gamma: 1 } }] }), /terms\[0\]\.options/);
  assert.throws(() => lmDistillLoss({ student: tinyStudent(1), teacher, data, epochs: 1, terms: [{ loss: "token-sampled-reverse-kl" }] }), /needs tokens sampled from the student/);
  wide.dispose();
});

test("forward-KL distillation alone makes a tiny student reproduce the teacher's next-token predictions on the string", async (t) => {
  const student = tinyStudent(3);
  const before = nextTokenAgreement(teacher, student, data).agreement;
  const result = await distillLm({ student, teacher, data, terms: [{ loss: "token-kl" }], epochs: 100, batchSize: 1, seed: 3, optimizer: { kind: "adam", lr: 1e-2 } });
  const after = nextTokenAgreement(teacher, student, data).agreement;
  t.diagnostic(`agreement with the teacher ${before.toFixed(3)} → ${after.toFixed(3)}; forward KL ${result.history[0].loss.toFixed(3)} → ${result.history.at(-1)!.loss.toFixed(4)} nats/token; params teacher ${teacher.paramCount}, student ${student.paramCount}`);
  assert.ok(before < 0.2, `untrained agreement ${before}`);
  assert.equal(after, 1);
  // So greedy decoding from BOS (KV-cached) writes the string, as the teacher does.
  const g = generate(student, [bytes.special.bos!], { maxTokens: TEXT.length + 5, temperature: 0, eos: bytes.special.eos! });
  assert.deepEqual([bytes.decode(g.ids), g.stop], [TEXT, "eos"]);
  student.dispose();
});

test("distillation from a top-k cache of the teacher (k = 8, fp16, tail bucket) also reaches the teacher's predictions", async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  await writeLmTopKCache({ vocab: 260, logits: (x) => teacher.forward(x).logits }, data, dir, { k: 8, teacherHash: "memorised" });
  const cache = openLmTopKCache(dir, { teacherHash: "memorised" });
  // The loss from the cache is the top-k term on the dequantised entries and stored tail.
  const student = tinyStudent(4);
  tf.tidy(() => {
    const loss = lmDistillLoss({ student, teacher: cache, data, epochs: 1, terms: [{ loss: "token-topk-kd" }] });
    const x = tf.tensor2d(data.x, [1, CTX]);
    const y = tf.tensor1d(data.y, "int32");
    const ctx = { batch: { x: data.x, y: data.y, size: 1, indices: Int32Array.from([0]) }, x, y, epoch: 0, progress: 0, features: new Map() } as unknown as StepContext;
    const s = student.forward(x).logits;
    const top = cache.tensors(Int32Array.from([0]));
    const want = tokenTopKKd(s, top.indices, top.logprobs, nextTokenMask(x, y, { padId: 256 }), { tailMass: top.tailMass });
    assertAllClose(loss(s, ctx).dataSync()[0], want.dataSync()[0], { rtol: 1e-6, what: "cache loss" });
  });
  assert.throws(() => lmDistillLoss({ student, teacher: cache, data, epochs: 1, terms: [{ loss: "token-kl" }] }), /token-kl needs the teacher's full logits; a top-k cache serves token-ce, token-topk-kd/);
  const other = windowDataset("other", WINDOW.map((v, i) => (i === 3 ? 120 : v)), CTX, 260);
  assert.throws(() => lmDistillLoss({ student, teacher: cache, data: other, epochs: 1, terms: [{ loss: "token-topk-kd" }] }), /stale top-k cache: it was made from other windows/);
  await distillLm({ student, teacher: cache, data, terms: [{ loss: "token-topk-kd" }], epochs: 100, batchSize: 1, seed: 4, optimizer: { kind: "adam", lr: 1e-2 } });
  const after = nextTokenAgreement(teacher, student, data).agreement;
  t.diagnostic(`agreement with the teacher from its top-8 cache: ${after.toFixed(3)}`);
  assert.equal(after, 1);
  cache.close();
  student.dispose();
});
