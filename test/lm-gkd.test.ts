// On-policy distillation (src/distill/lm-gkd.ts): the loop mixes student-sampled and data batches as configured,
// is deterministic per seed, runs from full-logit (tsdistill, ONNX) and black-box (a LOCAL OpenAI-protocol stand-in
// server) teachers, and on a teacher that memorised a string the teacher-scored NLL of the student's own samples
// falls below the untrained student's.
import { test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync } from "node:fs";
import { join } from "node:path";
import { useBackend } from "../src/engine/backend.js";
import { distillLm, lmDistillLoss } from "../src/distill/lm-distill.js";
import { distillLmGkd, type GkdBatchInfo } from "../src/distill/lm-gkd.js";
import { generateSamples, teacherScoredNll } from "../src/eval/lm.js";
import { saveOnnx } from "../src/export/onnx.js";
import { saveTransformer } from "../src/students/transformer-io.js";
import type { TransformerModel } from "../src/students/transformer.js";
import { ApiLmTeacher } from "../src/teachers/api-lm-teacher.js";
import { transformerLmTeacher } from "../src/teachers/lm-teacher-model.js";
import { openOnnxLmTeacher } from "../src/teachers/lm-teacher-onnx.js";
import { trainBpe } from "../src/tokenizers/bpe-train.js";
import { assertAllClose, tempDir } from "./helpers.js";
import { bytes, EOS, memorisedLm, memorisedWindow, tinyStudent, windowData } from "./lm-fixtures.js";
import { startStandIn } from "./lm-standin-server.js";

await useBackend("wasm", { fallback: false });

const TEXT = "sample, then ask the teacher";
const { window, ctx: CTX } = memorisedWindow(TEXT);
const teacherModel = await memorisedLm(TEXT, { seed: 5, extraCtx: 1 });
const teacher = transformerLmTeacher(teacherModel, bytes);
const data = windowData(TEXT, 4);
const P = 7; // EOS + "sample"
const prompts = Array.from({ length: 8 }, () => Array.from(window.subarray(0, P)));

/** The teacher's NLL (nats/token) of the student's own samples from the window prefix (τ = 1, fixed seeds). */
async function sampleNll(student: TransformerModel): Promise<number> {
  const samples = generateSamples(student, prompts, { maxTokens: CTX + 1 - P, temperature: 1, eos: EOS, seed: 100 });
  return (await teacherScoredNll(samples, (ids) => teacher.sequenceLogprobs(ids))).nllPerToken;
}

const weightsOf = (m: TransformerModel) => m.params.flatMap((p) => Array.from(p.dataSync()));

test("GKD with a full-logit teacher: λ = 0.5 mixes batches by a seeded draw, and the teacher's NLL of the student's samples falls", async (t) => {
  const student = tinyStudent(CTX, 6);
  const before = await sampleNll(student);
  const kinds: GkdBatchInfo[] = [];
  const result = await distillLmGkd({
    student,
    teacher,
    data,
    tokenizer: bytes,
    lambda: 0.5,
    promptLength: P,
    sampling: { temperature: 1 },
    terms: [{ loss: "token-jsd", options: { beta: 0.5 } }],
    epochs: 40,
    batchSize: 4,
    seed: 6,
    optimizer: { kind: "adam", lr: 1e-2 },
    onBatch: (b) => kinds.push(b),
  });
  const after = await sampleNll(student);
  const on = kinds.filter((k) => k.onPolicy).length;
  t.diagnostic(`teacher NLL of student samples ${before.toFixed(3)} → ${after.toFixed(3)} nats/token; on-policy batches ${on}/40; sample NLL during training ${result.sampleTeacherNll[0].toFixed(3)} → ${result.sampleTeacherNll.at(-1)!.toFixed(3)}`);
  assert.equal(kinds.length, 40);
  assert.deepEqual([result.onPolicyBatches, result.dataBatches], [on, 40 - on]);
  assert.ok(on > 0 && on < 40, `λ = 0.5 gives both kinds: ${on} on-policy`);
  assert.equal(result.sampleTeacherNll.length, on);
  assert.ok(kinds.every((k) => (k.onPolicy ? typeof k.sampleTeacherNll === "number" : k.sampleTeacherNll === null)));
  assert.ok(after < before, `teacher NLL of the student's own samples: ${before} → ${after}`);
  student.dispose();
});

test("GKD determinism: same seed → same batch kinds and weights; λ = 0 and λ = 1 give one kind; a larger λ only adds on-policy batches", async () => {
  const run = async (lambda: number) => {
    const student = tinyStudent(CTX, 7);
    const kinds: boolean[] = [];
    await distillLmGkd({ student, teacher, data, lambda, promptLength: P, epochs: 8, batchSize: 2, seed: 3, onBatch: (b) => kinds.push(b.onPolicy) });
    const w = weightsOf(student);
    student.dispose();
    return { kinds, w };
  };
  const [a, b] = [await run(0.5), await run(0.5)];
  assert.deepEqual(a.kinds, b.kinds);
  assert.deepEqual(a.w, b.w);
  assert.equal(a.kinds.length, 16);
  assert.deepEqual((await run(0)).kinds, Array(16).fill(false));
  assert.deepEqual((await run(1)).kinds, Array(16).fill(true));
  const more = (await run(0.8)).kinds;
  assert.ok(a.kinds.every((k, i) => !k || more[i]), "every on-policy batch at λ = 0.5 is on-policy at λ = 0.8");
});

test("token-level KD (λ = 0) from the ONNX export of the teacher trains the student as the in-process teacher does", async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  await saveTransformer(teacherModel, join(dir, "tsd"), { tokenizer: bytes });
  saveOnnx(teacherModel, join(dir, "onnx", "model.onnx"));
  copyFileSync(join(dir, "tsd", "tokenizer.json"), join(dir, "onnx", "tokenizer.json"));
  const onnx = await openOnnxLmTeacher(join(dir, "onnx"));
  t.after(() => onnx.close());
  const train = async (tch: typeof teacher | typeof onnx) => {
    const student = tinyStudent(CTX, 8);
    const r = await distillLmGkd({ student, teacher: tch, data, lambda: 0, terms: [{ loss: "token-kl" }, { loss: "token-topk-kd", weight: 0.5, options: { k: 5 } }], epochs: 3, batchSize: 2, seed: 8 });
    const w = weightsOf(student);
    student.dispose();
    return { r, w };
  };
  const [inProcess, viaOnnx] = [await train(teacher), await train(onnx)];
  assert.equal(viaOnnx.r.onPolicyBatches, 0);
  assertAllClose(viaOnnx.r.history.map((h) => h.loss), inProcess.r.history.map((h) => h.loss), { rtol: 1e-3, what: "loss per epoch" });
  assertAllClose(viaOnnx.w, inProcess.w, { rtol: 1e-3, atolScale: 1e-3, what: "student weights" });
  // distillLm takes any CausalLmTeacher: an asynchronous one through this loop (λ = 0), the in-process one synchronously.
  const student = tinyStudent(CTX, 8);
  const viaDistillLm = await distillLm({ student, teacher: onnx, data, terms: [{ loss: "token-kl" }, { loss: "token-topk-kd", weight: 0.5, options: { k: 5 } }], epochs: 3, batchSize: 2, seed: 8 });
  assert.deepEqual(viaDistillLm.history.map((h) => h.loss), viaOnnx.r.history.map((h) => h.loss));
  assert.doesNotThrow(() => lmDistillLoss({ student, teacher, data, epochs: 1 }));
  assert.throws(() => lmDistillLoss({ student, teacher: onnx, data, epochs: 1 }), /teacher onnx:.*model\.onnx: runs asynchronously \(onnx\); use distillLm or distillLmGkd, which await it before each step/);
  student.dispose();
});

test("terms and tokenizers are checked before training, with one line naming what is wrong", async () => {
  const student = tinyStudent(CTX, 9);
  const go = (extra: Record<string, unknown>) => distillLmGkd({ student, teacher, data, epochs: 1, ...extra });
  await assert.rejects(go({ terms: [{ loss: "token-sampled-reverse-kl" }] }), /^TsdistillError: terms\[0\]\.loss: token-sampled-reverse-kl needs tokens sampled from the student; put it in onPolicyTerms$/);
  await assert.rejects(go({ lambda: 1.5 }), /lambda 1\.5: expected a share of on-policy batches in \[0, 1\]/);
  await assert.rejects(go({ promptLength: CTX + 1 }), /promptLength 30: expected an integer in \[1, 29\]/);
  await assert.rejects(go({ tokenizer: trainBpe([TEXT], { vocabSize: 260 }) }), /token-level distillation needs one vocabulary on both sides .* the teacher's vocabulary is byte tokenizer, 260 tokens, the student's huggingface tokenizer, 260 tokens, but the tokenizers differ/);
  await assert.rejects(go({ sampling: { temperature: -1 } }), /sampling: temperature -1: expected a number ≥ 0/);
  student.dispose();
});

test("black-box GKD through a local OpenAI-protocol stand-in server: sampled-token reverse KL on student samples, top-k KD on data batches", async (t) => {
  const s = await startStandIn(teacherModel);
  t.after(() => s.close());
  const api = new ApiLmTeacher({ kind: "api-lm", baseURL: s.url, model: "standin", apiKeyEnv: null, tokenizer: "byte", tokenIds: true, topLogprobs: 5, contextLength: CTX + 1 });
  const student = tinyStudent(CTX, 10);
  await assert.rejects(distillLmGkd({ student, teacher: api, data, epochs: 1, terms: [{ loss: "token-kl" }] }), /terms\[0\]\.loss: token-kl needs the teacher's full logits; api:standin gives only its top 5 per token \(use token-topk-kd\)/);
  const before = await sampleNll(student);
  const result = await distillLmGkd({ student, teacher: api, data, tokenizer: bytes, lambda: 0.5, promptLength: P, sampling: { temperature: 1 }, epochs: 30, batchSize: 4, seed: 10, optimizer: { kind: "adam", lr: 1e-2 } });
  const after = await sampleNll(student);
  t.diagnostic(`black-box: on-policy ${result.onPolicyBatches}/30; teacher NLL of student samples ${before.toFixed(3)} → ${after.toFixed(3)}; ${api.stats.requests} requests`);
  assert.ok(result.onPolicyBatches > 0 && result.dataBatches > 0, `${result.onPolicyBatches} on-policy, ${result.dataBatches} data batches`);
  assert.equal(api.stats.scored, 30 * 4, "one scoring request per window per batch");
  const bodies = s.log.map((l) => l.body.logprobs);
  assert.deepEqual([...new Set(bodies)].sort(), [1, 5], "top-5 on data batches, the sampled tokens' log-probs (logprobs 1) on on-policy ones");
  assert.ok(after < before, `teacher NLL of the student's own samples: ${before} → ${after}`);
  // The sampled tokens' log-probs from the server are the in-process teacher's.
  const w = { ids: Int32Array.from(window.subarray(0, CTX)), batch: 1, length: CTX, next: Int32Array.of(window[CTX]) };
  assertAllClose(await api.targetLogprobs(w), await teacher.targetLogprobs(w), { rtol: 1e-3, atol: 1e-5, what: "server vs in-process log-probs" });
  student.dispose();
});
