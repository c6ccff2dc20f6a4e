// `tsdistill label --teacher teacher.yaml` with an api teacher config, against a LOCAL test server: node:http on
// 127.0.0.1 speaking the OpenAI chat-completions protocol with logprobs (top_logprobs). The server derives each
// answer from the input text, so every cached row can be checked against its own text; it injects 429s, 500s,
// connection resets and answers slower than the timeout. Then `tsdistill distill --teacher-cache` trains a student
// from the cache alone. Command functions run in-process (no build needed).
import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { labelCommand } from "../src/cli/commands/label.js";
import { distillCommand } from "../src/cli/commands/distill.js";
import { loadSplits } from "../src/data/sources.js";
import { textsOf } from "../src/data/text-dataset.js";
import { openLabelCache } from "../src/teachers/label-cache.js";
import { assertAllClose, tempDir } from "./helpers.js";

const LABELS = ["negative", "neutral", "positive"]; // the data's class order (sorted label names)
const KINDS = [
  { word: "awful", label: "negative", p: [0.75, 0.15, 0.1] },
  { word: "okay", label: "neutral", p: [0.2, 0.6, 0.2] },
  { word: "great", label: "positive", p: [0.1, 0.2, 0.7] },
];
const numberOf = (text: string) => Number(/#(\d+)/.exec(text)![1]);

/** The answer's label distribution for a text: its kind's, shifted by (#·7 mod 5)/50 so rows differ. */
function expectedProbs(text: string): number[] {
  const kind = KINDS.find((k) => text.includes(k.word))!;
  const v = ((numberOf(text) * 7) % 5) / 50;
  const p = [...kind.p];
  const top = p.indexOf(Math.max(...p));
  const low = p.indexOf(Math.min(...p));
  p[top] -= v;
  p[low] += v;
  return p;
}

type Fault = "429" | "500" | "reset" | "slow" | null;

/** A local OpenAI-protocol server; `fault(text, attempt)` picks what an attempt gets. */
async function startServer(fault: (n: number, attempt: number) => Fault) {
  const attempts = new Map<string, number>();
  const answered = new Map<string, number>(); // 200s actually delivered, per input text
  const seen = { "429": 0, "500": 0, reset: 0, slow: 0, auth: new Set<string>() };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      seen.auth.add(String(req.headers.authorization));
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { messages: { content: string }[]; top_logprobs: number; logprobs: boolean };
      const text = /<<<([\s\S]*)>>>/.exec(body.messages[body.messages.length - 1].content)![1];
      const attempt = attempts.get(text) ?? 0;
      attempts.set(text, attempt + 1);
      const f = fault(numberOf(text), attempt);
      if (f) seen[f]++;
      if (f === "reset") return void req.socket.destroy();
      if (f === "429" || f === "500") {
        res.writeHead(Number(f), { "content-type": "application/json", ...(f === "429" ? { "retry-after-ms": "15" } : {}) });
        return void res.end(JSON.stringify({ error: { message: `injected ${f}` } }));
      }
      const p = expectedProbs(text);
      const top = LABELS.map((l, i) => ({ token: ` ${l}`, logprob: Math.log(p[i]) })).sort((a, b) => b.logprob - a.logprob).slice(0, body.top_logprobs);
      const payload = {
        id: "chatcmpl-local",
        object: "chat.completion",
        choices: [{ index: 0, message: { role: "assistant", content: top[0].token }, finish_reason: "length", logprobs: { content: [{ ...top[0], top_logprobs: top }] } }],
        usage: { prompt_tokens: 20, completion_tokens: 1, total_tokens: 21 },
      };
      const send = () => {
        if (res.destroyed || res.writableEnded || req.socket.destroyed) return;
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify(payload));
        answered.set(text, (answered.get(text) ?? 0) + 1);
      };
      if (f === "slow") setTimeout(send, 1500).unref();
      else send();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/v1`, answered, seen, close: () => new Promise<void>((resolve) => server.closeAllConnections() ?? server.close(() => resolve())) };
}

/** Runs a command function in-process and returns what it printed on stdout. */
async function capture(run: () => Promise<void>): Promise<string> {
  const write = process.stdout.write.bind(process.stdout);
  let out = "";
  process.stdout.write = ((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  }) as typeof process.stdout.write;
  try {
    await run();
  } finally {
    process.stdout.write = write;
  }
  return out;
}

test("tsdistill label with an api teacher config against a local OpenAI-protocol server with logprobs: 429s, 500s, resets and timeouts lose or duplicate no label, and the cache trains a student", async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const lines: string[] = [];
  for (let i = 0; i < 150; i++) {
    const k = KINDS[i % 3];
    lines.push(JSON.stringify({ text: `review #${i}: the food was ${k.word}, ${["really", "quite", "so"][i % 7 % 3]} ${k.word} ${i % 2 ? "service" : "place"}`, label: k.label }));
  }
  const file = join(dir, "reviews.jsonl");
  writeFileSync(file, lines.join("\n") + "\n");
  const data = `jsonl:${file}?buckets=128`;
  const split = ["--validation-size", "12", "--seed", "7"];

  // Transient faults on first (and second) attempts; an input numbered 4 mod 17 always fails in the first run.
  let brokenInput = true;
  const server = await startServer((n, attempt) => {
    if (brokenInput && n % 17 === 4) return "500";
    if (attempt === 0 && n % 10 === 3) return "429";
    if (attempt <= 1 && n % 10 === 6) return "500";
    if (attempt === 0 && n % 13 === 5) return "reset";
    if (attempt === 0 && n % 19 === 2) return "slow";
    return null;
  });
  t.after(server.close);
  process.env.TSDISTILL_TEST_API_KEY = "test-key-123";
  const config = join(dir, "teacher.yaml");
  writeFileSync(
    config,
    [
      "kind: api",
      `baseURL: ${server.url}`,
      "model: local-test",
      "apiKeyEnv: TSDISTILL_TEST_API_KEY",
      `labels: [${LABELS.join(", ")}]`,
      'prompt: "Classify as {labels}: <<<{input}>>>"',
      "topLogprobs: 3",
      "concurrency: 4",
      "requestsPerSecond: 400",
      "burst: 8",
      "maxRetries: 3",
      "timeoutMs: 5000",
      "backoff: {baseMs: 5, maxMs: 40}",
      "pricing: {inputPerMTok: 0.5, outputPerMTok: 1.5}",
      "",
    ].join("\n"),
  );
  const { train } = loadSplits(data, { validationSize: 12, seed: 7 });
  const texts = textsOf(train)!;
  assert.ok(texts && texts.length === train.size, "the jsonl data set keeps its raw texts");
  const cacheDir = join(dir, "cache");
  const label = () => labelCommand(["--teacher", config, "--data", data, ...split, "--out", cacheDir, "--shard-size", "16", "--quiet", "--json"]);

  // First run: the broken inputs keep failing after their retries, so labelling stops in the first shard holding
  // one; the shards before it stay. (The split, and so which rows share that shard, depends on the file's path.)
  const firstFailing = texts.findIndex((x) => numberOf(x) % 17 === 4);
  const keptShards = Math.floor(firstFailing / 16);
  const brokenInShard = texts.slice(keptShards * 16, keptShards * 16 + 16).filter((x) => numberOf(x) % 17 === 4).length;
  // Labelling stops starting new requests after the first permanent failure, so 1..brokenInShard of them are reported.
  await assert.rejects(label(), (err: Error) => {
    const m = /api teacher: (\d+) of 16 inputs failed after 3 retries each \(last: HTTP 500 "injected 500"/.exec(err.message);
    assert.ok(m, `the error names the failed inputs and the last HTTP status: ${err.message}`);
    const failed = Number(m[1]);
    assert.ok(failed >= 1 && failed <= brokenInShard, `${failed} failed inputs reported; the shard holds ${brokenInShard} broken ones`);
    return true;
  });
  if (keptShards === 0) assert.ok(!existsSync(cacheDir), "a run that finished no shard leaves no folder");
  else {
    const partial = JSON.parse(readFileSync(join(cacheDir, "manifest.partial.json"), "utf8")) as { shards: unknown[] };
    assert.equal(partial.shards.length, keptShards, `shards before row ${firstFailing} are kept`);
  }
  const answeredBefore = new Map(server.answered);

  // Second run: the server recovered; only the unfinished shards are asked again.
  brokenInput = false;
  const out = JSON.parse(await capture(label)) as { samples: number; shardsComputed: number; teacherStats: { requests: number; retries: number; labelled: number; totalTokens: number; costUSD: number } };
  assert.equal(out.samples, train.size);
  assert.equal(out.shardsComputed, Math.ceil(train.size / 16) - keptShards, "kept shards are not recomputed");
  assert.equal(out.teacherStats.labelled, train.size - keptShards * 16, "the second run labels exactly the rows of the unfinished shards");
  assert.ok(out.teacherStats.retries > 10, `retries happened (${out.teacherStats.retries})`);
  assert.equal(out.teacherStats.totalTokens, 21 * out.teacherStats.labelled, "tokens are counted per answered request");
  assert.ok(Math.abs(out.teacherStats.costUSD - (20 * 0.5 + 1.5) * out.teacherStats.labelled / 1e6) < 1e-12, `cost ${out.teacherStats.costUSD}`);
  for (const f of ["429", "500", "reset", "slow"] as const) assert.ok(server.seen[f] > 0, `fault ${f} was injected (${server.seen[f]} times)`);
  assert.deepEqual([...server.seen.auth], ["Bearer test-key-123"], "the key from apiKeyEnv, as a Bearer token");

  // Every transfer row is in the cache exactly once, with the answer for ITS text.
  const cache = openLabelCache(cacheDir, { numSamples: train.size });
  const rows = Int32Array.from({ length: train.size }, (_, i) => i);
  const want = Float32Array.from(texts.flatMap((x) => expectedProbs(x).map(Math.log)));
  assertAllClose(cache.logitsFor(rows), want, { rtol: 1e-5, atol: 1e-6, what: "cached log-probabilities by row" });
  cache.close();
  const keptTexts = new Set(texts.slice(0, keptShards * 16));
  for (const x of texts) {
    const before = answeredBefore.get(x) ?? 0;
    const after = (server.answered.get(x) ?? 0) - before;
    if (keptTexts.has(x)) assert.equal(before + after, 1, `"${x}" (kept shard) was answered once, not again after the resume`);
    else assert.equal(after, 1, `"${x}" was answered exactly once in the resumed run`);
  }
  const trainSet = new Set(texts);
  for (const x of server.answered.keys()) assert.ok(trainSet.has(x), `only transfer-set texts are sent ("${x}")`);

  // The cache alone trains a student on the hashed n-gram features of the same texts.
  const runDir = join(dir, "run");
  const result = JSON.parse(
    await capture(() => distillCommand(["--teacher-cache", cacheDir, "--data", data, ...split, "--student", "mlp:32", "--epochs", "30", "--batch-size", "16", "--out", runDir, "--quiet", "--json"])),
  ) as { agreementWithTeacher: number; testAccuracy: number };
  t.diagnostic(`rows ${train.size}; resumed run: ${out.teacherStats.requests} requests, ${out.teacherStats.retries} retries; faults ${JSON.stringify({ ...server.seen, auth: undefined })}; student agreement ${result.agreementWithTeacher}, test accuracy ${result.testAccuracy}`);
  assert.ok(result.agreementWithTeacher > 0.85, `student agrees with the cached api teacher on ${result.agreementWithTeacher} of the transfer set`);
  assert.ok(result.testAccuracy > 0.8, `student test accuracy ${result.testAccuracy}`);
});

test("label refuses an api teacher whose labels are not the data's classes in the data's order", async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const file = join(dir, "d.jsonl");
  writeFileSync(file, Array.from({ length: 40 }, (_, i) => JSON.stringify({ text: `t #${i}`, label: ["no", "yes"][i % 2] })).join("\n"));
  const config = join(dir, "t.json");
  writeFileSync(config, JSON.stringify({ kind: "api", baseURL: "http://127.0.0.1:9/v1", model: "m", apiKeyEnv: null, labels: ["yes", "no"] }));
  await assert.rejects(
    labelCommand(["--teacher", config, "--data", `jsonl:${file}?buckets=16`, "--validation-size", "4", "--out", join(dir, "c"), "--quiet"]),
    /--teacher: the teacher's classes \[yes, no\] are not the data's classes in the data's order \[no, yes\]/,
  );
});
