// TF.js export of embedding students: a graph model (tf.loadGraphModel) that gives the runtime's vectors, through
// the library and `tsdistill export --format tfjs`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { useBackend } from "../src/engine/backend.js";
import { BagOfEmbeddingsModel, bagEmbedder, saveEmbeddingModel } from "../src/embeddings/embedding-model.js";
import { checkEmbeddingTfjs, runEmbeddingTfjs, saveEmbeddingTfjs } from "../src/export/tfjs-embeddings.js";
import { trainBpe } from "../src/tokenizers/bpe-train.js";
import { assertAllClose, runCli, tempDir } from "./helpers.js";

const CORPUS = ["the cat sat on the mat", "a dog barked at the cat", "stocks fell sharply today", "the market rallied after the news"];
const TEXTS = ["the cat sat", "", "stocks rallied", "a dog and a cat and a market"];

test("TF.js graph export: static (normalised) and head (logits) models equal the runtime; padding does not change a text's vector", async (t) => {
  const tmp = tempDir();
  t.after(tmp.cleanup);
  await useBackend("cpu");
  const tok = trainBpe(CORPUS, { vocabSize: 300 });
  const models = [
    new BagOfEmbeddingsModel({ kind: "static", vocab: tok.vocabSize, width: 12, padId: tok.special.pad }, { seed: 1 }),
    new BagOfEmbeddingsModel({ vocab: tok.vocabSize, width: 8, dim: 5, padId: tok.special.pad, normalize: false }, { seed: 2 }),
  ];
  for (const [k, m] of models.entries()) {
    const dir = join(tmp.dir, `m${k}`);
    await saveEmbeddingTfjs(m, tok, dir);
    for (const f of ["model.json", "group1-shard1of1.bin", "tokenizer.json", "embed-runtime.mjs"]) assert.ok(existsSync(join(dir, f)), f);
    assert.equal(JSON.parse(readFileSync(join(dir, "model.json"), "utf8")).format, "graph-model");
    const want = bagEmbedder(m, tok).embed(TEXTS);
    const got = await runEmbeddingTfjs(dir, tok, TEXTS);
    assertAllClose(got, want, { atol: 1e-5, what: `model ${k}` });
    // One text alone (no padding) gives the row it got in the padded batch.
    assertAllClose(await runEmbeddingTfjs(dir, tok, [TEXTS[0]]), got.subarray(0, m.config.dim), { atol: 1e-6, what: `model ${k}, unpadded` });
    assert.ok((await checkEmbeddingTfjs(dir, m, tok)) < 1e-5);
    if (m.config.normalize) for (const i of [0, 2, 3]) assert.ok(Math.abs(Math.hypot(...got.subarray(i * 12, (i + 1) * 12)) - 1) < 1e-5, "unit length");
    m.dispose();
  }
});

test("CLI: tsdistill export --format tfjs on an embedding folder writes the graph model and checks it; an existing --out is refused", async (t) => {
  const tmp = tempDir();
  t.after(tmp.cleanup);
  await useBackend("cpu");
  const tok = trainBpe(CORPUS, { vocabSize: 300 });
  const m = new BagOfEmbeddingsModel({ kind: "static", vocab: tok.vocabSize, width: 16, padId: tok.special.pad }, { seed: 3 });
  await saveEmbeddingModel(m, join(tmp.dir, "static"), { tokenizer: tok });
  m.dispose();
  const out = join(tmp.dir, "static-tfjs");
  const r = await runCli(["export", "--model", join(tmp.dir, "static"), "--format", "tfjs", "--out", out, "--json", "--quiet"]);
  assert.equal(r.code, 0, r.stderr);
  const res = JSON.parse(r.stdout) as { format: string; dim: number; check: { maxAbsDiff: number } };
  assert.equal(res.format, "tfjs");
  assert.equal(res.dim, 16);
  assert.ok(res.check.maxAbsDiff < 1e-5, `max |diff| ${res.check.maxAbsDiff}`);
  const again = await runCli(["export", "--model", join(tmp.dir, "static"), "--format", "tfjs", "--out", out]);
  assert.equal(again.code, 2);
  assert.match(again.stderr, /^tsdistill: error: --out: .* already exists; choose a new folder\n$/);
});
