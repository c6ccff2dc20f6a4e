// Embedding teachers other than USE-lite, each against something whose vectors are known: an ONNX export of a bag
// model (onnxruntime-node; also the export's own check), a TF.js layers model fed ids from a tokenizer.json, a JS
// function module, and an OpenAI-compatible /v1/embeddings endpoint played by a LOCAL STAND-IN SERVER (node:http on
// 127.0.0.1, deterministic vectors, injected faults) — no model, no network. Plus the config's one-line errors.
import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import * as tfl from "@tensorflow/tfjs-layers";
import { useBackend } from "../src/engine/backend.js";
import { BagOfEmbeddingsModel, bagEmbedder } from "../src/embeddings/embedding-model.js";
import { exportEmbeddingOnnx, runEmbeddingOnnx } from "../src/export/onnx-embeddings.js";
import { openEmbeddingTeacher, parseEmbeddingTeacherConfig } from "../src/teachers/embedding/embedding-teacher-config.js";
import { embedAll } from "../src/teachers/embedding/embedding-teacher.js";
import { ApiEmbeddingTeacher } from "../src/teachers/embedding/api-embedding-teacher.js";
import { parseTeacherConfig } from "../src/teachers/teacher-config.js";
import { trainBpe } from "../src/tokenizers/bpe-train.js";
import { writeTokenizerFiles } from "../src/tokenizers/io.js";
import { saveEmbeddingModel } from "../src/embeddings/embedding-model.js";
import { assertAllClose, runCli, tempDir } from "./helpers.js";

const CORPUS = ["the cat sat on the mat", "a dog barked at the cat", "stocks fell sharply today", "the market rallied after the news", "my code compiles but the tests fail"];
const TEXTS = ["the cat", "stocks rallied", "my tests fail today", "x"];

test("ONNX export of a bag model (head, normalised) matches the runtime in onnxruntime-node, and opens as an ONNX embedding teacher", async (t) => {
  await useBackend("cpu");
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const tok = trainBpe(CORPUS, { vocabSize: 300 });
  for (const dim of [undefined, 6]) {
    const model = new BagOfEmbeddingsModel({ vocab: tok.vocabSize, width: 8, dim, padId: tok.special.pad }, { seed: 1 });
    const want = bagEmbedder(model, tok).embed(TEXTS);
    const bytes = exportEmbeddingOnnx(model);
    assertAllClose(await runEmbeddingOnnx(bytes, tok, TEXTS), want, { rtol: 1e-5, atolScale: 1e-6, what: `onnxruntime vs runtime (head ${dim ?? "none"})` });
    writeFileSync(join(dir, "m.onnx"), bytes);
    writeTokenizerFiles(tok, dir);
    writeFileSync(join(dir, "teacher.yaml"), "kind: embedding\nsource: onnx\npath: m.onnx\ninput: { kind: text, tokenizer: tokenizer.json, addSpecialTokens: false, padding: longest }\n");
    const teacher = await openEmbeddingTeacher(join(dir, "teacher.yaml"));
    try {
      assert.equal(teacher.dim, dim ?? 8);
      assert.equal(teacher.tokenizer!.vocabSize, tok.vocabSize);
      assertAllClose(await embedAll(teacher, TEXTS, { batchSize: 3 }), want, { rtol: 1e-5, atolScale: 1e-6, what: "ONNX teacher" });
    } finally {
      await teacher.close();
    }
    model.dispose();
  }
});

test("CLI: tsdistill export on an embedding folder writes the ONNX file and checks it in onnxruntime-node", async (t) => {
  await useBackend("cpu");
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const tok = trainBpe(CORPUS, { vocabSize: 300 });
  const model = new BagOfEmbeddingsModel({ vocab: tok.vocabSize, width: 8, padId: tok.special.pad }, { seed: 4 });
  await saveEmbeddingModel(model, join(dir, "static"), { tokenizer: tok });
  const r = await runCli(["export", "--model", join(dir, "static"), "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout) as { out: string; dim: number; check: { maxAbsDiff: number } };
  assert.equal(report.out, join(dir, "static.onnx"));
  assert.ok(report.check.maxAbsDiff < 1e-5, `max |diff| ${report.check.maxAbsDiff}`);
  assertAllClose(await runEmbeddingOnnx(report.out, tok, TEXTS), bagEmbedder(model, tok).embed(TEXTS), { rtol: 1e-5, atolScale: 1e-6 });
  // --format tfjs is covered in embeddings-export-tfjs.test.ts; int8 has no embedding form.
  const bad = await runCli(["export", "--model", join(dir, "static"), "--int8"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--int8: not available for embedding models/);
  model.dispose();
});

test("a TF.js layers model reading ids from a tokenizer.json: mean-pooled token states, normalised", async (t) => {
  await useBackend("cpu");
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const tok = trainBpe(CORPUS, { vocabSize: 300 });
  writeTokenizerFiles(tok, dir);
  const m = tfl.sequential({ layers: [tfl.layers.embedding({ inputDim: tok.vocabSize, outputDim: 4, inputShape: [null as unknown as number], name: "emb" })] });
  const table = (m.getWeights()[0].arraySync() as number[][]).map((r) => r.slice());
  await m.save(tf.io.withSaveHandler(async (a) => {
    writeFileSync(join(dir, "weights.bin"), new Uint8Array(a.weightData as ArrayBuffer));
    writeFileSync(join(dir, "model.json"), JSON.stringify({ format: "layers-model", modelTopology: a.modelTopology, weightsManifest: [{ paths: ["weights.bin"], weights: a.weightSpecs }] }));
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" } };
  }));
  writeFileSync(join(dir, "teacher.yaml"), `kind: embedding\nsource: tfjs\npath: .\ninput: { kind: text, tokenizer: tokenizer.json, addSpecialTokens: false, padding: longest }\nnormalize: true\n`);
  const teacher = await openEmbeddingTeacher(join(dir, "teacher.yaml"));
  t.after(() => teacher.close());
  const got = await teacher.embed(["the cat sat", "dog"]);
  const want = ["the cat sat", "dog"].flatMap((s) => {
    const ids = tok.encode(s);
    const mean = [0, 1, 2, 3].map((j) => ids.reduce((a, id) => a + table[id][j], 0) / ids.length);
    const n = Math.hypot(...mean);
    return mean.map((v) => v / n);
  });
  assertAllClose(got, want, { rtol: 1e-5, atolScale: 1e-6 });
  // Ids in, bypassing the tokenizer: the same pooling over the given ids only.
  assertAllClose(await teacher.embedIds!([tok.encode("dog")]), want.slice(4), { rtol: 1e-5, atolScale: 1e-6 });
});

test("a function module as an embedding teacher; its answers are checked", async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  writeFileSync(join(dir, "embed.mjs"), "export function embed(texts) { return texts.map((t) => [t.length, 1, t.split(' ').length]); }\nexport const broken = (texts) => texts.map(() => [1]).slice(1);\n");
  writeFileSync(join(dir, "teacher.yaml"), "kind: embedding\nsource: function\nmodule: embed.mjs#embed\n");
  const teacher = await openEmbeddingTeacher(join(dir, "teacher.yaml"));
  assert.equal(teacher.dim, 3);
  assert.deepEqual(Array.from(await teacher.embed(["a b", "hello"])), [3, 1, 2, 5, 1, 1]);
  writeFileSync(join(dir, "broken.yaml"), "kind: embedding\nsource: function\nmodule: embed.mjs#broken\n");
  await assert.rejects(openEmbeddingTeacher(join(dir, "broken.yaml")), /embed\.mjs#broken: returned 0 vectors for 1 texts; expected one vector/);
});

// ---- the local stand-in for an OpenAI-compatible embeddings server --------------------------------------------

interface StandIn {
  url: string;
  requests: { input: string[]; auth: string | undefined; body: Record<string, unknown> }[];
  close(): void;
}

/** Vectors [len(text), vowels(text), 1]; answers in reverse index order; `fault(n)` may answer request n otherwise. */
async function standInServer(fault: (n: number) => { status: number; body: string; headers?: Record<string, string> } | null = () => null): Promise<StandIn> {
  const requests: StandIn["requests"] = [];
  const server = http.createServer((req, res) => {
    let raw = "";
    req.on("data", (d) => (raw += d));
    req.on("end", () => {
      const body = JSON.parse(raw) as { input: string[] };
      requests.push({ input: body.input, auth: req.headers.authorization, body });
      const f = req.url === "/v1/embeddings" ? fault(requests.length - 1) : { status: 404, body: "no such route" };
      if (f) return void res.writeHead(f.status, { "content-type": "text/plain", ...f.headers }).end(f.body);
      const data = body.input.map((t, index) => ({ object: "embedding", index, embedding: [t.length, (t.match(/[aeiou]/g) ?? []).length, 1] })).reverse();
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ object: "list", data, usage: { prompt_tokens: body.input.length, total_tokens: body.input.length } }));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, requests, close: () => server.close() };
}

test("api embedding teacher against a local stand-in server: probe, batches, order, key, retries, one-line failures", async (t) => {
  const s = await standInServer((n) => (n === 2 ? { status: 429, body: "slow down", headers: { "retry-after-ms": "5" } } : null));
  t.after(() => s.close());
  const teacher = await ApiEmbeddingTeacher.open({ baseURL: s.url, model: "m", apiKeyEnv: "TEST_KEY", batchSize: 2 }, { env: { TEST_KEY: "sk-secret" } });
  assert.equal(teacher.dim, 3); // from one probe request
  const v = await teacher.embed(["aa", "b", "cde", "e", "o"]);
  assert.deepEqual(Array.from(v), [2, 2, 1, 1, 0, 1, 3, 1, 1, 1, 1, 1, 1, 1, 1]);
  assert.deepEqual(s.requests.map((r) => r.input.length), [1, 2, 2, 2, 1]); // probe, then 2+2(429, retried)+1
  assert.equal(teacher.stats.retries, 1);
  assert.ok(s.requests.every((r) => r.auth === "Bearer sk-secret" && r.body.model === "m" && r.body.encoding_format === "float"));

  const bad = await standInServer(() => ({ status: 401, body: "invalid key sk-secret" }));
  t.after(() => bad.close());
  await assert.rejects(ApiEmbeddingTeacher.open({ baseURL: bad.url, model: "m", apiKeyEnv: "TEST_KEY", dimensions: 3 }, { env: { TEST_KEY: "sk-secret" } }).then((x) => x.embed(["a"])), (err: Error) => {
    assert.match(err.message, /HTTP 401: invalid key \*\*\*$/);
    assert.ok(!err.message.includes("sk-secret"));
    return true;
  });
  assert.equal(bad.requests.length, 1, "a 401 is not retried");
  await assert.rejects(ApiEmbeddingTeacher.open({ baseURL: s.url, model: "m", apiKeyEnv: "NOPE" }, { env: {} }), /apiKeyEnv: the environment variable NOPE is not set/);
});

test("embedding teacher configs: one-line errors naming the field; kind: embedding is refused where class scores are expected", () => {
  assert.throws(() => parseEmbeddingTeacherConfig({ kind: "embedding", source: "hub" }, "t.yaml"), /^TsdistillError: t\.yaml: source: expected one of use-lite, tfjs, onnx, function, api, got "hub"$/);
  assert.throws(() => parseEmbeddingTeacherConfig({ kind: "embedding", source: "tfjs", input: { kind: "sentencepiece", vocab: "v.json" } }, "t.yaml"), /t\.yaml: path: /);
  assert.throws(() => parseEmbeddingTeacherConfig({ kind: "embedding", source: "use-lite", maxTokens: 0 }, "t.yaml"), /t\.yaml: maxTokens: /);
  assert.throws(() => parseEmbeddingTeacherConfig({ kind: "embedding", source: "api", baseURL: "ftp://x", model: "m" }, "t.yaml"), /t\.yaml: baseURL: expected an http\(s\) URL/);
  assert.throws(() => parseEmbeddingTeacherConfig({ kind: "tfjs", path: "x" }, "t.yaml"), /t\.yaml: kind: expected "embedding"/);
  assert.throws(() => parseTeacherConfig({ kind: "embedding", source: "use-lite" }, "t.yaml"), /t\.yaml: kind: embedding is an embedding teacher \(vectors, not class scores\)/);
});
