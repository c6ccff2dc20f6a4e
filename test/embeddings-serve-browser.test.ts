// Embedding students deployed: `tsdistill serve` answers POST /embed (library and CLI), and a saved folder is used in
// Chromium (playwright-core) by the documented snippet — embed-runtime.mjs + loadEmbeddingModel(folder) — giving the
// vectors Node gives. Everything is served from 127.0.0.1 by this test; nothing comes from the network.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { useBackend } from "../src/engine/backend.js";
import { BagOfEmbeddingsModel, bagEmbedder, saveEmbeddingModel } from "../src/embeddings/embedding-model.js";
import { distillStatic } from "../src/embeddings/distill-static.js";
import { classifierFromStatic, distillClassifier } from "../src/distill/embedding-classifier.js";
import { createEmbeddingServer } from "../src/serve/embed-server.js";
import { TransformerModel } from "../src/students/transformer.js";
import { resolveTransformerConfig } from "../src/students/transformer-config.js";
import { saveTransformer } from "../src/students/transformer-io.js";
import { openEmbedder } from "../src/embeddings/transformer-embedder.js";
import { SentencePieceTokenizer } from "../src/tokenizers/sentencepiece.js";
import { useLiteDir } from "../src/teachers/embedding/tfjs-embedding-teacher.js";
import { trainBpe } from "../src/tokenizers/bpe-train.js";
import { assertAllClose, tempDir } from "./helpers.js";
import { needsChromium } from "./prerequisites.js";
import { callPage, openPage, serveFiles } from "./browser-page.js";

const ROOT = resolve(fileURLToPath(new URL("..", import.meta.url)));
const TEXTS = ["How old are you?", "The weather is lovely today.", "", "naïve café — 日本語 😀", "the cat sat on the mat"];
const CORPUS = ["the cat sat on the mat", "a dog barked at the cat", "stocks fell sharply today", "the market rallied after the news"];

/** A static model over USE-lite's SentencePiece vocabulary (random rows: the test is about plumbing, not quality). */
async function fixtures(dir: string): Promise<{ sp: string; hf: string; transformer: string }> {
  await useBackend("cpu");
  const sp = SentencePieceTokenizer.fromVocabFile(join(useLiteDir(), "vocab.json"));
  const a = new BagOfEmbeddingsModel({ kind: "static", vocab: sp.vocabSize, width: 16, padId: sp.special.pad }, { seed: 1 });
  await saveEmbeddingModel(a, join(dir, "sp"), { tokenizer: sp });
  const bpe = trainBpe(CORPUS, { vocabSize: 300 });
  const b = new BagOfEmbeddingsModel({ vocab: bpe.vocabSize, width: 8, dim: 5, padId: bpe.special.pad }, { seed: 2 });
  await saveEmbeddingModel(b, join(dir, "hf"), { tokenizer: bpe });
  const t = new TransformerModel(resolveTransformerConfig({ layers: 1, dim: 8, heads: 2, ctx: 12, head: "embed", embedDim: 6 }, { vocab: bpe.vocabSize, padId: bpe.special.pad }), 4);
  await saveTransformer(t, join(dir, "tr"), { tokenizer: bpe, metadata: { embedding: { normalize: true } } });
  [a, b, t].forEach((m) => m.dispose());
  return { sp: join(dir, "sp"), hf: join(dir, "hf"), transformer: join(dir, "tr") };
}

const post = (body: unknown, type = "application/json") => ({ method: "POST", headers: { "content-type": type }, body: typeof body === "string" ? body : JSON.stringify(body) });

test("POST /embed: vectors equal the library's; bad requests are one-line 4xx answers and the server keeps serving", async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const fx = await fixtures(dir);
  for (const model of [fx.sp, fx.transformer]) {
    const s = await createEmbeddingServer({ modelDir: model, maxBatch: 4, backend: "cpu" });
    try {
      const ref = await openEmbedder(model);
      const want = ref.embed(TEXTS.slice(0, 4));
      ref.dispose();
      const res = await s.app.request("/embed", post({ texts: TEXTS.slice(0, 4) }));
      assert.equal(res.status, 200);
      const body = (await res.json()) as { embeddings: number[][]; dim: number };
      assert.equal(body.dim, s.embedder.dim);
      assertAllClose(body.embeddings.flat(), want, { rtol: 1e-6, atolScale: 1e-7, what: `/embed of ${model}` });
      const one = (await (await s.app.request("/embed", post({ text: TEXTS[0] }))).json()) as { embeddings: number[][] };
      assertAllClose(one.embeddings[0], want.subarray(0, body.dim), { rtol: 1e-5, atolScale: 1e-6 });
      const meta = (await (await s.app.request("/metadata")).json()) as { kind: string; dim: number };
      assert.equal(meta.kind, "embeddings");
      const bad: [RequestInit, number, RegExp][] = [
        [post({ texts: ["a", 3] }), 400, /^texts\[1\]: expected a string, got 3$/],
        [post({ texts: "a" }), 400, /^texts: expected an array of strings, got a string$/],
        [post({ texts: ["a", "b", "c", "d", "e"] }), 413, /^texts: 5 texts; at most 4 per request/],
        [post({ input: ["a"] }), 400, /^body\.input: unknown field; expected "texts" or "text"$/],
        [post("{oops"), 400, /^body: invalid JSON/],
        [post({ text: "a" }, "text/plain"), 415, /^content-type: expected application\/json/],
      ];
      for (const [req, status, re] of bad) {
        const r = await s.app.request("/embed", req);
        assert.equal(r.status, status);
        assert.match(((await r.json()) as { error: string }).error, re);
        assert.equal((await s.app.request("/embed", post({ text: "still serving" }))).status, 200);
      }
      const predict = await s.app.request("/predict", post({ texts: ["a"] }));
      assert.equal(predict.status, 404);
      assert.match(((await predict.json()) as { error: string }).error, /this is an embedding model: GET \/health, GET \/metadata, POST \/embed/);
    } finally {
      s.embedder.dispose();
    }
  }
});

test("CLI: tsdistill serve on an embedding folder prints the URL, answers /embed, exits 0 on SIGTERM", async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const fx = await fixtures(dir);
  const script = "import('./src/cli/commands/serve.ts').then(m => m.serveCommand(process.argv.slice(1))).then(() => process.exit(0), (e) => { process.stderr.write(String(e?.message) + '\\n'); process.exit(1); })";
  const child = spawn(process.execPath, ["--import", "tsx", "-e", script, "--", "--model", fx.hf, "--port", "0"], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout.on("data", (d: Buffer) => (out += d));
  child.stderr.on("data", (d: Buffer) => (err += d));
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  try {
    const t0 = Date.now();
    let m: RegExpExecArray | null = null;
    while (!(m = /at (http:\/\/127\.0\.0\.1:\d+)\n/.exec(out))) {
      if (child.exitCode !== null || Date.now() - t0 > 30_000) throw new Error(`no URL; stdout ${out}; stderr ${err}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.match(out, /^serving .+ \(bag embedding model, 5-d vectors\) at http:\/\/127\.0\.0\.1:\d+\n$/);
    const res = await fetch(`${m[1]}/embed`, post({ texts: ["the cat", "stocks"] }));
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { embeddings: number[][] }).embeddings.length, 2);
    child.kill("SIGTERM");
    assert.equal(await exited, 0, err);
  } finally {
    if (child.exitCode === null) child.kill("SIGKILL");
  }
});

/** "/lenml/…" @lenml/tokenizers' browser build, "/x/…" the saved model folders. */
const LENML = { "/lenml/": "node_modules/@lenml/tokenizers/dist/" };

// The snippet of docs/EMBEDDINGS.md, with a tokenizer library for the Hugging Face case.
const PAGE = `<!doctype html><meta charset="utf-8"><script type="module">
window.__embed = async ({ base, texts, hf }) => {
  const { loadEmbeddingModel } = await import(base + "embed-runtime.mjs");
  let encode;
  if (hf) {
    const { TokenizerLoader } = await import("/lenml/main.mjs");
    const json = async (f) => (await fetch(base + f)).json();
    const tok = TokenizerLoader.fromPreTrained({ tokenizerJSON: await json("tokenizer.json"), tokenizerConfig: await json("tokenizer_config.json") });
    encode = (text) => tok.encode(text, { add_special_tokens: false });
  }
  const model = await loadEmbeddingModel(base, { encode });
  return model.embed(texts).map((v) => Array.from(v));
};
window.__ready = true;
</script>`;

/**
 * Students distilled from the real teacher: a static table from USE-lite over a small BPE vocabulary (each token's
 * text through USE-lite, PCA 16, SIF; small so the test stays fast on a loaded machine) and, from it, a classifier
 * (rescaled table + a head fitted on labelled texts, then distilled: logits, not normalised).
 */
async function distilledFixtures(dir: string): Promise<{ static: string; classifier: string }> {
  const s = await distillStatic("use-lite", { pcaDims: 16, vocabulary: trainBpe(CORPUS, { vocabSize: 300 }) });
  await saveEmbeddingModel(s.model, join(dir, "distilled"), { tokenizer: s.tokenizer, projection: s.projection });
  const texts = ["I love you", "my heart is yours", "the court ruled today", "a lawyer and a judge", "compile the kernel", "the computer crashed"];
  const labels = Int32Array.of(0, 0, 1, 1, 2, 2);
  const c = classifierFromStatic(s.model, s.tokenizer, 3, { texts, labels, probe: { epochs: 20 } });
  const teacherLogits = Float32Array.from({ length: 18 }, (_, k) => (Math.floor(k / 3) >> 1 === k % 3 ? 2 : 0));
  await distillClassifier(c, s.tokenizer, texts, teacherLogits, labels, { epochs: 1, seed: 1 });
  await saveEmbeddingModel(c, join(dir, "classifier"), { tokenizer: s.tokenizer, metadata: { classes: ["love", "law", "computers"] } });
  s.model.dispose();
  c.dispose();
  return { static: join(dir, "distilled"), classifier: join(dir, "classifier") };
}

test("the documented browser snippet embeds in Chromium exactly as Node does (SentencePiece and Hugging Face tokenizers; students distilled from USE-lite)", { skip: needsChromium, timeout: 300_000 }, async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const fx = await fixtures(dir);
  const { page, errors, close } = await openPage(await serveFiles(PAGE, { roots: { ...LENML, "/x/": `${dir}/` } }));
  try {
    const distilled = await distilledFixtures(dir);
    for (const [name, folder, hf] of [["sp", fx.sp, false], ["hf", fx.hf, true], ["distilled", distilled.static, true], ["classifier", distilled.classifier, true]] as const) {
      const e = await openEmbedder(folder);
      const want = e.embed(TEXTS);
      e.dispose();
      const got = await callPage<number[][]>(page, "__embed", { base: `/x/${name}/`, texts: TEXTS, hf });
      assert.equal(got.length, TEXTS.length);
      // Same runtime code on both sides; the vectors agree to the last bit.
      assert.deepEqual(got.flat(), Array.from(want), `${name}: browser vs Node`);
    }
    assert.deepEqual(errors, []);
  } finally {
    await close();
  }
});
