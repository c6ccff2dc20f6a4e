// LM teachers behind one interface (src/teachers/lm-teacher*.ts): a tsdistill LM folder and the same LM exported
// to ONNX (Optimum names, run by onnxruntime-node) give the model's logits, top-k, token log-probs and generations;
// the tokenizer check names both tokenizers.
import { test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { useBackend } from "../src/engine/backend.js";
import { saveOnnx } from "../src/export/onnx.js";
import { modelSequenceLogprobs, teacherScoredNll } from "../src/eval/lm.js";
import { teacherAgreement, teacherNllOfSamples } from "../src/eval/lm-teacher-eval.js";
import { windowDataset } from "../src/data/token-sequences.js";
import { openLmTeacher } from "../src/teachers/open-lm-teacher.js";
import { saveTransformer } from "../src/students/transformer-io.js";
import { SequentialModel } from "../src/students/model.js";
import { modelConfigFromSpec } from "../src/students/spec.js";
import { openOnnxLmTeacher } from "../src/teachers/lm-teacher-onnx.js";
import { openTransformerLmTeacher, transformerLmTeacher } from "../src/teachers/lm-teacher-model.js";
import { describeLmTeacher, lmTopKSource, type CausalLmTeacher } from "../src/teachers/lm-teacher.js";
import { openLmTopKCache, writeLmTopKCache } from "../src/teachers/lm-topk-cache.js";
import { checkSameVocabulary } from "../src/tokenizers/compare.js";
import { trainBpe } from "../src/tokenizers/bpe-train.js";
import { DataError, TsdistillError } from "../src/util/errors.js";
import { assertAllClose, tempDir } from "./helpers.js";
import { bytes, EOS, memorisedLm, memorisedWindow, PAD, tinyStudent } from "./lm-fixtures.js";

await useBackend("wasm", { fallback: false });

const TEXT = "teachers speak through one interface";
const { window, ctx: CTX } = memorisedWindow(TEXT);
const model = await memorisedLm(TEXT, { seed: 2 });
const { dir: root, cleanup } = tempDir("tsdistill-lm-teachers-");
process.on("exit", cleanup);
const folder = join(root, "teacher");
await saveTransformer(model, folder, { tokenizer: bytes });
const onnxDir = join(root, "onnx");
saveOnnx(model, join(onnxDir, "model.onnx"));
copyFileSync(join(folder, "tokenizer.json"), join(onnxDir, "tokenizer.json"));

/** Two windows of the memorised text: the whole window, and one shifted with padding at the end. */
const B = 2;
const ids = Int32Array.from([...window.subarray(0, CTX), ...window.subarray(5, CTX), PAD, PAD, PAD, PAD, PAD]);
const next = Int32Array.from([window[CTX], PAD]);
const windows = { ids, batch: B, length: CTX, next };
const want = tf.tidy(() => model.forward(tf.tensor2d(Float32Array.from(ids), [B, CTX])).logits.dataSync() as Float32Array).slice();

async function checkTeacher(t: CausalLmTeacher, what: string, tol: number): Promise<void> {
  assert.equal(t.vocab, 260, what);
  assert.equal(t.ctx, CTX, what);
  assert.deepEqual(t.capabilities, { logits: true, maxTopK: 260, tokenLogprobs: true }, what);
  const logits = await t.logits(windows);
  assertAllClose(logits, want, { rtol: tol, atolScale: tol, what: `${what}: logits` });
  // Token log-probs: the log-softmax at each row's target; the padded rows are scored too (and masked by losses).
  const lp = await t.targetLogprobs(windows);
  const lsm = tf.tidy(() => tf.logSoftmax(tf.tensor2d(want, [B * CTX, 260])).arraySync());
  const targets = [...window.subarray(1, CTX + 1), ...window.subarray(6, CTX), PAD, PAD, PAD, PAD, PAD, PAD];
  assertAllClose(lp, targets.map((id, r) => lsm[r][id]), { rtol: tol, atolScale: tol, what: `${what}: target log-probs` });
  // The memorised window: every target is the teacher's top-1, almost surely.
  for (let r = 0; r < CTX; r++) assert.ok(lp[r] > -0.1, `${what}: row ${r} log-prob ${lp[r]}`);
  const top = await t.topK(windows, 4);
  for (let r = 0; r < CTX; r++) assert.equal(top.indices[r * 4], window[r + 1], `${what}: top-1 of row ${r}`);
  for (let r = 0; r < B * CTX; r++) {
    const shown = [0, 1, 2, 3].reduce((a, j) => a + Math.exp(top.logprobs[r * 4 + j]), 0);
    assertAllClose(top.tailMass[r], Math.max(0, 1 - shown), { rtol: 1e-5, atol: 1e-6, what: `${what}: tail mass of row ${r}` });
  }
  // A sequence longer than the context is scored in strided windows, as modelSequenceLogprobs does.
  const long = [...window, ...bytes.encode(" and more")];
  assertAllClose(await t.sequenceLogprobs(long), await modelSequenceLogprobs(model)(long), { rtol: tol, atolScale: tol, what: `${what}: sequence log-probs` });
  // Greedy generation from the text's first word writes the rest of it, text in and text out.
  const [[g]] = await t.generate(["teachers"], { maxTokens: 40, temperature: 0 });
  assert.deepEqual([g.text, g.finish, g.ids?.at(-1)], [TEXT.slice("teachers".length), "stop", EOS], what);
  // Seeded sampling: n continuations, reproducible, and the run split in two calls samples what one call does.
  const opts = { maxTokens: 6, temperature: 1.5, n: 3, seed: 9 };
  const once = await t.generate(["teach", "one"], opts);
  assert.deepEqual(await t.generate(["teach", "one"], opts), once, `${what}: same seed, same samples`);
  assert.deepEqual([...(await t.generate(["teach"], opts)), ...(await t.generate(["one"], { ...opts, promptIndexBase: 1 }))], once, `${what}: chunked = one call`);
  assert.ok(new Set(once.flat().map((x) => x.text)).size > 1, `${what}: samples differ`);
}

test("tsdistill LM folder as a teacher: logits, token log-probs, top-k, strided sequence scores and generations are the model's", async () => {
  const t = await openTransformerLmTeacher(folder);
  assert.equal(t.kind, "tsdistill");
  assert.match(describeLmTeacher(t), /^LM teacher tsdistill:.*\(tsdistill; byte tokenizer; vocab 260; ctx 37; serves logits, top-260, token log-probs, generations\)$/);
  await checkTeacher(t, "tsdistill", 1e-5);
  // The hash covers the files: the same folder gives the same hash, an in-memory copy has its own digest.
  assert.equal((await openTransformerLmTeacher(folder)).hash, t.hash);
  assert.match(transformerLmTeacher(model, bytes).hash, /^[0-9a-f]{64}$/);
  await assert.rejects(t.logits({ ids: Int32Array.from([1, 2, 300]), batch: 1, length: 3 }), /token 300 is not an id in \[0, 260\)/);
  await assert.rejects(t.logits({ ids: new Int32Array(CTX + 1), batch: 1, length: CTX + 1 }), /windows of 38 tokens, but its context is 37/);
  await t.close();
});

test("ONNX causal LM (a tsdistill export under Optimum names) as a teacher matches the in-process model", async (t) => {
  const onnx = await openOnnxLmTeacher(onnxDir, { batchSize: 1 });
  t.after(() => onnx.close());
  assert.equal(onnx.kind, "onnx");
  assert.equal(onnx.padId, PAD, "pad id from the export's tsdistill config (attention_mask = ids ≠ 256)");
  await checkTeacher(onnx, "onnx", 1e-4);
  // A file path works too; without a tokenizer beside it, the error names the folder.
  const bare = join(root, "bare");
  saveOnnx(model, join(bare, "lm.onnx"));
  await assert.rejects(openOnnxLmTeacher(join(bare, "lm.onnx")), (e: Error) => e instanceof DataError && /has no tokenizer\.json beside .*lm\.onnx; put the teacher's tokenizer there or pass one/.test(e.message));
  const withTok = await openOnnxLmTeacher(join(bare, "lm.onnx"), { tokenizer: bytes, ctx: 20 });
  assert.equal(withTok.ctx, 20);
  assert.notEqual(withTok.hash, onnx.hash);
  await withTok.close();
  // An ONNX model that is not a causal LM with those names is refused with one line.
  const clf = new SequentialModel(modelConfigFromSpec("mlp:8", { inputShape: [4], numClasses: 3 }), 1);
  const clfDir = join(root, "clf");
  saveOnnx(clf, join(clfDir, "model.onnx"));
  writeFileSync(join(clfDir, "tokenizer.json"), JSON.stringify({ kind: "byte" }));
  await assert.rejects(openOnnxLmTeacher(clfDir), (e: Error) => e instanceof DataError && /model\.onnx: has inputs .*; expected input_ids and attention_mask/.test(e.message) && !e.message.includes("\n"));
});

test("tokenizer check: token-level terms need one vocabulary; the error names both tokenizers", () => {
  const bpe = trainBpe([TEXT], { vocabSize: 270 });
  assert.throws(
    () => checkSameVocabulary({ vocab: 260, tokenizer: bytes, name: "tsdistill:x" }, { vocab: 270, tokenizer: bpe }),
    (e: Error) => e instanceof TsdistillError && e.message === "token-level distillation needs one vocabulary on both sides (sequence-level KD works across tokenizers): the teacher's vocabulary is byte tokenizer, 260 tokens, the student's huggingface tokenizer, 270 tokens",
  );
  assert.throws(
    () => checkSameVocabulary({ vocab: null, tokenizer: null, name: "api:m" }, { vocab: 260, tokenizer: bytes }),
    /sequence-level KD works across tokenizers\): the teacher api:m has no known tokenizer \(declare it with the teacher's tokenizer setting when it is the student's\), the student's vocabulary is byte tokenizer, 260 tokens$/,
  );
  assert.doesNotThrow(() => checkSameVocabulary({ vocab: 260, tokenizer: bytes }, { vocab: 260, tokenizer: bytes }));
});

test("openLmTeacher: a tsdistill folder, an ONNX folder or file, an api-lm config (tokenizer path relative to it); anything else is one line", async () => {
  const a = await openLmTeacher(folder);
  const b = await openLmTeacher(onnxDir);
  const c = await openLmTeacher(join(onnxDir, "model.onnx"));
  assert.deepEqual([a.kind, b.kind, c.kind], ["tsdistill", "onnx", "onnx"]);
  await Promise.all([a.close(), b.close(), c.close()]);
  const yaml = join(root, "cfg", "teacher.yaml");
  mkdirSync(join(root, "cfg", "tok"), { recursive: true });
  copyFileSync(join(folder, "tokenizer.json"), join(root, "cfg", "tok", "tokenizer.json"));
  writeFileSync(yaml, "kind: api-lm\nbaseURL: http://127.0.0.1:9/v1\nmodel: m\napiKeyEnv: null\ntokenizer: tok/tokenizer.json\ntopLogprobs: 8\n");
  const api = await openLmTeacher(yaml);
  assert.deepEqual([api.kind, api.tokenizer?.kind, api.capabilities.maxTopK], ["api", "byte", 8]);
  writeFileSync(yaml, "kind: api\nbaseURL: http://127.0.0.1:9/v1\nmodel: m\n");
  await assert.rejects(openLmTeacher(yaml), /teacher\.yaml: kind: expected "api-lm" for an LM teacher config, got "api"$/);
  writeFileSync(yaml, "kind: api-lm\nbaseURL: http://127.0.0.1:9/v1\nmodel: m\ntopLogprobs: 50\n");
  await assert.rejects(openLmTeacher(yaml), /teacher\.yaml.*topLogprobs/);
  await assert.rejects(openLmTeacher(join(root, "nothing")), (e: Error) => e instanceof DataError && /nothing: not found; expected a tsdistill LM folder/.test(e.message));
});

test("eval against LM teachers: next-token agreement with the ONNX teacher, and its NLL of samples in the student's ids or re-tokenised text", async (t) => {
  const onnx = await openOnnxLmTeacher(onnxDir);
  t.after(() => onnx.close());
  const data = windowDataset("w", window, CTX, 260);
  assert.deepEqual(await teacherAgreement(onnx, model, data), { tokens: CTX, agreement: 1 });
  const untrained = tinyStudent(CTX, 3);
  const other = await teacherAgreement(onnx, untrained, data);
  assert.ok(other.agreement < 0.5, `an untrained student agrees on ${other.agreement}`);
  // Same tokenizer: the student's ids as they are. Another tokenizer: its text, re-encoded by the teacher.
  const samples = [{ prompt: [EOS, ...bytes.encode("teachers")], continuation: bytes.encode(" speak through") }];
  const same = await teacherNllOfSamples(onnx, samples, bytes);
  const direct = await teacherScoredNll(samples, (ids) => onnx.sequenceLogprobs(ids));
  assert.equal(same.sameTokenizer, true);
  assertAllClose(same.nllPerToken, direct.nllPerToken, { rtol: 1e-6 });
  const bpe = trainBpe([TEXT, TEXT], { vocabSize: 280 });
  const bpeSamples = [{ prompt: [bpe.special.eos!, ...bpe.encode("teachers")], continuation: bpe.encode(" speak through") }];
  assert.ok(bpeSamples[0].continuation.length < 14, "BPE merges some bytes");
  const cross = await teacherNllOfSamples(onnx, bpeSamples, bpe);
  assert.deepEqual([cross.sameTokenizer, cross.teacherTokens, cross.bytes], [false, 14, 14]);
  assertAllClose(cross.nllPerToken, direct.nllPerToken, { rtol: 1e-5, what: "the same text scored by the teacher" });
  assertAllClose(cross.bitsPerByte, (direct.nllPerToken * 14) / (Math.LN2 * 14), { rtol: 1e-5 });
  untrained.dispose();
});

test("an LM top-k cache from the ONNX teacher holds the in-process teacher's top-k", async (t) => {
  const onnx = await openOnnxLmTeacher(onnxDir);
  t.after(() => onnx.close());
  const data = windowDataset("w", Int32Array.from([...window, ...window]), CTX, 260);
  await writeLmTopKCache(lmTopKSource(onnx, data, 6), data, join(root, "topk-onnx"), { k: 6, teacherHash: onnx.hash });
  await writeLmTopKCache({ vocab: 260, logits: (x) => model.forward(x).logits }, data, join(root, "topk-tfjs"), { k: 6, teacherHash: onnx.hash });
  const [a, b] = [openLmTopKCache(join(root, "topk-onnx")), openLmTopKCache(join(root, "topk-tfjs"))];
  const [ga, gb] = [a.gather(Int32Array.of(0, 1)), b.gather(Int32Array.of(0, 1))];
  assert.deepEqual(Array.from(ga.indices), Array.from(gb.indices));
  assertAllClose(ga.logprobs, gb.logprobs, { rtol: 2e-3, atol: 1e-4, what: "fp16 log-probs" });
  assert.throws(() => lmTopKSource(onnx, data, 300), /gives at most its top 260 per token, not 300/);
  a.close();
  b.close();
});
