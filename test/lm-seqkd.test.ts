// Sequence-level KD (src/teachers/lm-generation-cache.ts, src/distill/lm-seqkd.ts): the teacher's generations go
// into a resumable cache (an interrupted run resumes to the same bytes), and a tiny student with ANOTHER tokenizer
// trained on them with cross-entropy alone writes the teacher's continuations.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { useBackend } from "../src/engine/backend.js";
import { distillLmSequenceKd, sequenceKdWindows, windowPrompts } from "../src/distill/lm-seqkd.js";
import { generate } from "../src/generate/generate.js";
import { transformerConfigFromSpec } from "../src/students/spec.js";
import { TransformerModel } from "../src/students/transformer.js";
import { readLmGenerationCache, writeLmGenerationCache } from "../src/teachers/lm-generation-cache.js";
import { transformerLmTeacher } from "../src/teachers/lm-teacher-model.js";
import { trainBpe } from "../src/tokenizers/bpe-train.js";
import { DataError } from "../src/util/errors.js";
import { tempDir } from "./helpers.js";
import { bytes, memorisedLm, tinyStudent, windowData } from "./lm-fixtures.js";

await useBackend("wasm", { fallback: false });

const TEXT = "the teacher writes, the student copies";
const teacherModel = await memorisedLm(TEXT, { seed: 11 });
const teacher = transformerLmTeacher(teacherModel, bytes);
const PROMPTS = ["the", "the teacher", "the teacher writes,", "the teacher writes, the"];
const now = () => new Date(0);

const filesOf = (dir: string) => Object.fromEntries(readdirSync(dir).sort().map((f) => [f, readFileSync(join(dir, f), "utf8")]));

test("generation cache: an interrupted run resumes to the same files as an uninterrupted one; other settings are refused", async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const opts = { n: 2, maxTokens: 12, temperature: 1.2, seed: 4, shardSize: 1, now };
  const full = join(dir, "full");
  const m = await writeLmGenerationCache(teacher, PROMPTS, full, opts);
  assert.deepEqual([m.numPrompts, m.shards.length, m.sampling], [4, 4, { n: 2, maxTokens: 12, temperature: 1.2, topK: 0, topP: 1, seed: 4, documentStart: true }]);
  assert.equal(m.teacherHash, teacher.hash);

  const resumed = join(dir, "resumed");
  const ctrl = new AbortController();
  const shardsDone: number[] = [];
  await assert.rejects(
    writeLmGenerationCache(teacher, PROMPTS, resumed, { ...opts, signal: ctrl.signal, onShard: (i) => (shardsDone.push(i), i === 1 && ctrl.abort(new Error("interrupted"))) }),
    /interrupted/,
  );
  assert.deepEqual(shardsDone, [0, 1]);
  assert.throws(() => readLmGenerationCache(resumed), (e: Error) => e instanceof DataError && /LM generation cache is incomplete \(only manifest\.partial\.json\)/.test(e.message));
  const again: number[] = [];
  await writeLmGenerationCache(teacher, PROMPTS, resumed, { ...opts, onShard: (i) => again.push(i) });
  assert.deepEqual(again, [2, 3], "only the missing shards are generated");
  assert.deepEqual(filesOf(resumed), filesOf(full));

  const { records } = readLmGenerationCache(resumed, { teacherHash: teacher.hash });
  assert.deepEqual(records.map((r) => [r.index, r.prompt, r.generations.length]), PROMPTS.map((p, i) => [i, p, 2]));
  assert.ok(records.every((r) => r.generations.every((g) => g.ids !== null && g.ids.length >= 1 && (g.finish === "stop" || g.ids.length === 12))));
  assert.notEqual(records[0].generations[0].text, records[0].generations[1].text, "two samples per prompt differ");
  await assert.rejects(writeLmGenerationCache(teacher, PROMPTS, resumed, { ...opts, seed: 5 }), /manifest\.json: stale cache: sampling\.seed is 4 in the cache, now 5; delete .* or use another folder \(or pass overwrite\)/);
  await assert.rejects(writeLmGenerationCache(teacher, [...PROMPTS, "x"], resumed, opts), /stale cache: promptsHash is/);
  assert.throws(() => readLmGenerationCache(resumed, { teacherHash: "other" }), /stale cache: teacherHash is .* expected other/);
});

test("sequence-level KD across tokenizers: a BPE student trained with cross-entropy on the byte-level teacher's greedy continuations writes them", async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  await writeLmGenerationCache(teacher, PROMPTS, dir, { maxTokens: 48, temperature: 0, now });
  const { records, manifest } = readLmGenerationCache(dir);
  assert.deepEqual(records.map((r) => r.prompt + r.generations[0].text), PROMPTS.map(() => TEXT), "the teacher continues every prompt with the rest of its text");

  const bpe = trainBpe([TEXT, "the student copies the teacher"], { vocabSize: 280 });
  const ctx = 32;
  const w = sequenceKdWindows(records, bpe, { ctx, padId: bpe.special.pad });
  assert.equal(w.data.size, 4);
  assert.deepEqual(Array.from(w.promptLengths), PROMPTS.map((p) => 1 + bpe.encode(p).length), "EOS + the prompt's BPE tokens are masked");
  const student = new TransformerModel(transformerConfigFromSpec({ layers: 1, dim: 32, heads: 2, ff: 64, ctx, vocab: bpe.vocabSize, causal: true, tie: true, padId: bpe.special.pad }), 12);
  const result = await distillLmSequenceKd({ student, tokenizer: bpe, records, documentStart: manifest.sampling.documentStart, epochs: 80, batchSize: 4, seed: 12, optimizer: { kind: "adam", lr: 1e-2 } });
  t.diagnostic(`cross-entropy on the teacher's continuations ${result.history[0].loss.toFixed(3)} → ${result.history.at(-1)!.loss.toFixed(4)} nats/token; student vocab ${bpe.vocabSize} (BPE), teacher 260 (bytes)`);
  assert.deepEqual([result.windows, result.truncated, result.skipped], [4, 0, 0]);
  for (const [i, prompt] of PROMPTS.entries()) {
    const g = generate(student, [bpe.special.eos!, ...bpe.encode(prompt)], { maxTokens: 40, temperature: 0, eos: bpe.special.eos! });
    assert.deepEqual([bpe.decode(g.ids), g.stop], [records[i].generations[0].text, "eos"], `prompt ${JSON.stringify(prompt)}`);
  }
  student.dispose();
});

test("sequence-level KD mixed with token-level terms needs the teacher's vocabulary; prompts can come from window prefixes", async () => {
  const records = [{ index: 0, prompt: "the teacher", generations: [{ text: " writes, the student copies", ids: null, finish: "stop" as const }] }];
  const ctx = teacher.ctx;
  const byteStudent = tinyStudent(ctx, 13);
  const r = await distillLmSequenceKd({ student: byteStudent, tokenizer: bytes, records, teacher, terms: [{ loss: "token-ce" }, { loss: "token-kl", weight: 0.5 }], epochs: 2, batchSize: 1, seed: 13 });
  assert.deepEqual([r.onPolicyBatches, r.dataBatches, r.history.length], [0, 2, 2]);
  await assert.rejects(distillLmSequenceKd({ student: byteStudent, tokenizer: bytes, records, terms: [{ loss: "token-kl" }], epochs: 1 }), /terms\[0\]\.loss: token-kl reads the teacher; pass a teacher \(with the student's vocabulary\), or train with token-ce alone/);
  const bpe = trainBpe([TEXT], { vocabSize: 270 });
  const bpeStudent = new TransformerModel(transformerConfigFromSpec({ layers: 1, dim: 8, heads: 2, ctx, vocab: bpe.vocabSize, causal: true, padId: bpe.special.pad }), 1);
  await assert.rejects(
    distillLmSequenceKd({ student: bpeStudent, tokenizer: bpe, records, teacher, terms: [{ loss: "token-ce" }, { loss: "token-kl" }], epochs: 1 }),
    /token-level distillation needs one vocabulary on both sides \(sequence-level KD works across tokenizers\): the teacher's vocabulary is byte tokenizer, 260 tokens, the student's huggingface tokenizer, \d+ tokens$/,
  );
  assert.deepEqual(windowPrompts(windowData(TEXT, 2), bytes, 5), ["the ", "the "], "the EOS separator decodes to nothing");
  byteStudent.dispose();
  bpeStudent.dispose();
});
