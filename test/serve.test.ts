// `tsdistill serve`: the HTTP inference server (src/serve) on 127.0.0.1, in both runtimes (TF.js and
// onnxruntime-node), every route and every validation error, and the CLI command in a child process.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs-core";
import { useBackend } from "../src/engine/backend.js";
import { saveOnnx } from "../src/export/onnx.js";
import { saveModel } from "../src/students/io.js";
import { SequentialModel } from "../src/students/model.js";
import { modelConfigFromSpec } from "../src/students/spec.js";
import { createServer, startServer, type RunningServer } from "../src/serve/server.js";
import { serveCommand } from "../src/cli/commands/serve.js";
import { TsdistillError, UsageError } from "../src/util/errors.js";
import { Rng } from "../src/util/rng.js";
import { assertAllClose, tempDir } from "./helpers.js";

await useBackend("wasm", { fallback: false });

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const { dir: root, cleanup } = tempDir("tsdistill-serve-");
process.on("exit", cleanup);

const SHAPE = [28, 28, 1];
const SIZE = 784;
const LABELS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"];

// A small CNN (exercises the NHWC → NCHW handling of the ONNX export) saved as a model folder plus DIR.onnx.
const model = new SequentialModel(modelConfigFromSpec("cnn:conv4k3-pool-dense16", { inputShape: SHAPE, numClasses: 10 }), 7);
const modelDir = join(root, "cnn");
await saveModel(model, modelDir, { labels: LABELS, note: "serve test" });
saveOnnx(model, `${modelDir}.onnx`);

const servers: RunningServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close(100)));
  model.dispose();
});
async function start(opts: Parameters<typeof startServer>[0]): Promise<RunningServer> {
  // The servers default to auto (native where the addon loads); these tests pin wasm, like the engine above.
  const s = await startServer({ backend: "wasm", ...opts });
  servers.push(s);
  return s;
}

const tfjs = await start({ modelDir });
const onnx = await start({ modelDir, onnx: "auto" });
const limited = await start({ modelDir, maxBodyBytes: 64 * 1024, maxBatch: 4 });

/** Seeded samples in [0, 1) with 4 decimals (MNIST-like pixels, compact JSON). */
function samples(n: number, seed: number): number[][] {
  const rng = new Rng(seed, "serve-test");
  return Array.from({ length: n }, () => Array.from({ length: SIZE }, () => Math.round(rng.next() * 1e4) / 1e4));
}
const [GOOD] = samples(1, 1);

function directLogits(xs: number[][]): Float32Array {
  return tf.tidy(() => new Float32Array(model.predict(tf.tensor(xs.flat(), [xs.length, ...SHAPE])).dataSync() as Float32Array));
}

interface Answer {
  status: number;
  headers: Headers;
  json: Record<string, unknown>;
}

async function call(s: RunningServer, path: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetch(s.url + path, init);
  const text = await res.text();
  assert.match(res.headers.get("content-type") ?? "", /^application\/json/, `${init.method ?? "GET"} ${path}: JSON answer expected, got ${text.slice(0, 100)}`);
  return { status: res.status, headers: res.headers, json: JSON.parse(text) as Record<string, unknown> };
}

const postJson = (s: RunningServer, body: unknown, raw = false) =>
  call(s, "/predict", { method: "POST", headers: { "content-type": "application/json" }, body: raw ? (body as string) : JSON.stringify(body) });

/** A 4xx answer {error} with this status, one line, matching `pattern`. */
function assertError(a: Answer, status: number, pattern: RegExp): void {
  assert.equal(a.status, status, `expected ${status}, got ${a.status}: ${JSON.stringify(a.json)}`);
  assert.deepEqual(Object.keys(a.json), ["error"]);
  const msg = a.json.error as string;
  assert.equal(typeof msg, "string");
  assert.ok(!msg.includes("\n"), `error message is one line: ${msg}`);
  assert.match(msg, pattern);
}

type Predictions = { class: number; label?: string; probabilities: number[]; logits: number[] }[];

/** The keep-serving check: a good request right after a bad one. */
async function assertStillServing(s: RunningServer): Promise<void> {
  const a = await postJson(s, { input: GOOD });
  assert.equal(a.status, 200, JSON.stringify(a.json));
  assert.equal((a.json.predictions as Predictions).length, 1);
}

// ---- routes ---------------------------------------------------------------------------------------------------

test("binds 127.0.0.1 by default, on a free port", () => {
  for (const s of [tfjs, onnx, limited]) {
    const addr = s.server.address() as { address: string; port: number };
    assert.equal(addr.address, "127.0.0.1");
    assert.equal(s.host, "127.0.0.1");
    assert.ok(addr.port > 0);
    assert.equal(s.url, `http://127.0.0.1:${addr.port}`);
  }
});

test("GET /health", async () => {
  for (const s of [tfjs, onnx]) {
    const a = await call(s, "/health");
    assert.equal(a.status, 200);
    assert.deepEqual(a.json, { status: "ok" });
  }
  const head = await fetch(tfjs.url + "/health", { method: "HEAD" });
  assert.equal(head.status, 200);
});

test("GET /metadata: shape, classes, params, runtime, labels, model metadata", async () => {
  const t = await call(tfjs, "/metadata");
  assert.equal(t.status, 200);
  assert.deepEqual(t.json.inputShape, SHAPE);
  assert.equal(t.json.numClasses, 10);
  assert.equal(t.json.params, model.paramCount);
  assert.equal(t.json.runtime, "tfjs");
  assert.equal(t.json.engine, "wasm");
  assert.deepEqual(t.json.labels, LABELS);
  assert.deepEqual(t.json.metadata, { labels: LABELS, note: "serve test" });
  assert.equal(t.json.maxBatch, 256);
  assert.equal(t.json.maxBodyBytes, 1024 * 1024);

  const o = await call(onnx, "/metadata");
  assert.equal(o.json.runtime, "onnxruntime");
  assert.equal(o.json.engine, `${modelDir}.onnx`);
  assert.equal(o.json.params, model.paramCount);
  assert.deepEqual(o.json.labels, LABELS);
  const check = o.json.onnxCheck as { samples: number; maxAbsDiff: number; sameClass: number };
  assert.equal(check.sameClass, 1);
  assert.ok(check.maxAbsDiff < 1e-4, `startup check max |diff| ${check.maxAbsDiff}`);
  assert.equal((await call(limited, "/metadata")).json.maxBatch, 4);
});

test("POST /predict: one sample (flat and nested) and a batch; softmax and logits match the model", async () => {
  const xs = samples(5, 2);
  const ref = directLogits(xs);
  for (const s of [tfjs, onnx]) {
    const batch = await postJson(s, { inputs: xs });
    assert.equal(batch.status, 200, JSON.stringify(batch.json));
    const preds = batch.json.predictions as Predictions;
    assert.equal(preds.length, 5);
    preds.forEach((p, i) => {
      assert.deepEqual(Object.keys(p).sort(), ["class", "label", "logits", "probabilities"]);
      assertAllClose(p.logits, ref.subarray(i * 10, i * 10 + 10), { what: `${s.predictor.runtime} logits of sample ${i}` });
      const max = Math.max(...p.logits);
      const e = p.logits.map((l) => Math.exp(l - max));
      const sum = e.reduce((a, b) => a + b, 0);
      assertAllClose(p.probabilities, e.map((v) => v / sum), { rtol: 1e-9, what: "probabilities" });
      assert.ok(Math.abs(p.probabilities.reduce((a, b) => a + b, 0) - 1) < 1e-9);
      assert.equal(p.class, p.logits.indexOf(max));
      assert.equal(p.label, LABELS[p.class]);
    });

    const single = await postJson(s, { input: xs[3] });
    assert.equal(single.status, 200);
    assert.deepEqual(single.json.predictions, [preds[3]]);

    // Nested to the input shape [28][28][1]: the same sample, the same answer.
    const nested = Array.from({ length: 28 }, (_, r) => Array.from({ length: 28 }, (_, c) => [xs[3][r * 28 + c]]));
    assert.deepEqual((await postJson(s, { input: nested })).json.predictions, [preds[3]]);
    assert.deepEqual((await postJson(s, { inputs: [nested, xs[4]] })).json.predictions, [preds[3], preds[4]]);
  }
});

test("TF.js serving frees its tensors", async () => {
  await postJson(tfjs, { input: GOOD });
  const before = tf.memory().numTensors;
  for (let i = 0; i < 5; i++) await postJson(tfjs, { inputs: [GOOD, GOOD, GOOD] });
  await postJson(tfjs, { input: GOOD.slice(3) }); // rejected before any tensor exists
  assert.equal(tf.memory().numTensors, before);
});

test("ONNX and TF.js runtimes agree on the class of 50 random inputs", async () => {
  const xs = samples(50, 3);
  const t = (await postJson(tfjs, { inputs: xs })).json.predictions as Predictions;
  const o = (await postJson(onnx, { inputs: xs })).json.predictions as Predictions;
  assert.equal(t.length, 50);
  assert.equal(o.length, 50);
  assert.deepEqual(
    o.map((p) => p.class),
    t.map((p) => p.class),
  );
  assertAllClose(o.flatMap((p) => p.logits), t.flatMap((p) => p.logits), { rtol: 1e-4, atolScale: 1e-5, what: "onnx vs tfjs logits" });
  // The classes are not all the same (the comparison means something).
  assert.ok(new Set(t.map((p) => p.class)).size > 1);
});

// ---- validation ----------------------------------------------------------------------------------------------

const withValue = (i: number, v: unknown) => GOOD.map((x, j) => (j === i ? v : x));

const BAD_BODIES: { name: string; body: unknown; raw?: boolean; pattern: RegExp }[] = [
  { name: "too few values", body: { input: GOOD.slice(1) }, pattern: /^input: expected \[28,28,1\] = 784 values per sample, got 783$/ },
  { name: "too many values in a batch sample", body: { inputs: [GOOD, [...GOOD, 0]] }, pattern: /^inputs\[1\]: expected \[28,28,1\] = 784 values per sample, got 785$/ },
  { name: "nested, wrong count", body: { input: Array.from({ length: 28 }, () => Array.from({ length: 27 }, () => [0])) }, pattern: /^input: expected \[28,28,1\] = 784 values per sample, got 756$/ },
  { name: "nested, wrong shape", body: { input: Array.from({ length: 28 }, () => Array.from({ length: 28 }, () => 0)) }, pattern: /^input\[0\]\[0\]: expected an array of 1 \(samples are 784 values flat or nested as \[28,28,1\]\), got 0$/ },
  { name: "string value", body: { input: withValue(5, "a") }, pattern: /^input\[5\]: expected a finite number, got "a"$/ },
  { name: "null value", body: { input: withValue(7, null) }, pattern: /^input\[7\]: expected a finite number, got null$/ },
  { name: "boolean in a batch", body: { inputs: [GOOD, GOOD, withValue(100, true)] }, pattern: /^inputs\[2\]\[100\]: expected a finite number, got true$/ },
  { name: "nested non-number", body: { input: Array.from({ length: 28 }, (_, r) => Array.from({ length: 28 }, (_, c) => [r === 3 && c === 4 ? "x" : 0])) }, pattern: /^input\[3\]\[4\]\[0\]: expected a finite number, got "x"$/ },
  { name: "non-finite (1e999)", body: `{"input": [0, 0, 0, 1e999${",0".repeat(780)}]}`, raw: true, pattern: /^input\[3\]: expected a finite number, got Infinity/ },
  { name: "beyond float32", body: { input: withValue(3, 1e39) }, pattern: /^input\[3\]: expected a finite float32, got 1e\+39/ },
  { name: "input null", body: { input: null }, pattern: /^input: expected an array of numbers \(\[28,28,1\] = 784 values per sample, flat or nested\), got null$/ },
  { name: "input not an array", body: { input: "pixels" }, pattern: /^input: expected an array of numbers \(\[28,28,1\] = 784 values per sample, flat or nested\), got "pixels"$/ },
  { name: "neither input nor inputs", body: { data: [GOOD] }, pattern: /^body: expected a field "input" \(one sample, \[28,28,1\] = 784 numbers\), "inputs" \(an array of samples\), "image" or "images" \(images: \{"images": \["<base64 PNG or JPEG>", \.\.\.\]\}\)$/ },
  { name: "both input and inputs", body: { input: GOOD, inputs: [GOOD] }, pattern: /^body: expected either "input" \(one sample\) or "inputs" \(a batch\), not both$/ },
  { name: "inputs not an array", body: { inputs: 3 }, pattern: /^inputs: expected an array of samples/ },
  { name: "empty batch", body: { inputs: [] }, pattern: /^inputs: expected 1 to 256 samples, got an empty array$/ },
  { name: "body not an object", body: [GOOD], pattern: /^body: expected a JSON object/ },
  { name: "invalid JSON", body: '{"input": [1, 2,', raw: true, pattern: /^body: invalid JSON \(.+\)$/ },
  { name: "empty body", body: "", raw: true, pattern: /^body: empty; expected a JSON object/ },
];

test("400 for every malformed /predict body, and the server keeps serving after each", async () => {
  for (const s of [tfjs, onnx]) {
    for (const c of BAD_BODIES) {
      const a = await postJson(s, c.body, c.raw);
      assertError(a, 400, c.pattern);
      await assertStillServing(s);
    }
  }
});

test("400 for a batch larger than maxBatch", async () => {
  const a = await postJson(limited, { inputs: Array.from({ length: 5 }, () => GOOD.map(() => 0)) });
  assertError(a, 400, /^inputs: expected at most 4 samples per request \(max batch\), got 5$/);
  await assertStillServing(limited);
  const ok = await postJson(limited, { inputs: Array.from({ length: 4 }, () => GOOD.map(() => 0)) });
  assert.equal(ok.status, 200);
});

test("415 for a wrong or missing content type", async () => {
  const body = JSON.stringify({ input: GOOD });
  const plain = await call(tfjs, "/predict", { method: "POST", headers: { "content-type": "text/plain" }, body });
  assertError(plain, 415, /^content-type: expected application\/json, got "text\/plain"$/);
  await assertStillServing(tfjs);
  const none = await call(tfjs, "/predict", { method: "POST", body: new TextEncoder().encode(body) });
  assertError(none, 415, /^content-type: expected application\/json, got none$/);
  await assertStillServing(tfjs);
  // Parameters and +json types are fine.
  const charset = await call(tfjs, "/predict", { method: "POST", headers: { "content-type": "application/json; charset=utf-8" }, body });
  assert.equal(charset.status, 200);
});

test("404 for an unknown route, 405 (with Allow) for a wrong method", async () => {
  assertError(await call(tfjs, "/nope"), 404, /^GET \/nope: no such route; routes are GET \/health, GET \/metadata, POST \/predict$/);
  await assertStillServing(tfjs);
  assertError(await call(tfjs, "/predict/extra", { method: "POST" }), 404, /^POST \/predict\/extra: no such route/);
  const cases: [string, string, string][] = [
    ["GET", "/predict", "POST"],
    ["PUT", "/predict", "POST"],
    ["DELETE", "/health", "GET, HEAD"],
    ["POST", "/metadata", "GET, HEAD"],
  ];
  for (const [method, path, allow] of cases) {
    const a = await call(tfjs, path, { method });
    assertError(a, 405, new RegExp(`^${method} ${path}: method not allowed; use (POST|GET)$`));
    assert.equal(a.headers.get("allow"), allow);
    await assertStillServing(tfjs);
  }
});

interface RawAnswer {
  status: number;
  body: string;
  /** Whether the request body was still open (never ended by us) when the answer came. */
  answeredEarly: boolean;
  sent: number;
  /** Bytes the server's socket had read (headers included) 100 ms after the answer. */
  serverRead: number;
}

/** Server-side sockets by the client's port, to see how much of a body the server actually read. */
const serverSockets = new Map<number, import("node:net").Socket>();
for (const s of [tfjs, limited]) s.server.on("connection", (sock) => sock.remotePort && serverSockets.set(sock.remotePort, sock));

/**
 * POSTs a body of up to `total` bytes with node:http, `chunk` bytes at a time (chunked encoding unless
 * `contentLength` is given), and stops writing as soon as an answer arrives. The request is only ended after all
 * `total` bytes are written, so `answeredEarly` means the server answered without reading the whole body.
 */
function rawPost(s: RunningServer, opts: { total: number; chunk: number; contentLength?: number }): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (opts.contentLength !== undefined) headers["content-length"] = String(opts.contentLength);
    const req = http.request(`${s.url}/predict`, { method: "POST", headers, agent: false });
    let sent = 0;
    let ended = false;
    let answered = false;
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`no answer after ${sent} bytes`));
    }, 10_000);
    req.on("response", (res) => {
      answered = true;
      const answeredEarly = !ended;
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      const clientPort = req.socket?.localPort ?? -1;
      res.on("end", () => {
        clearTimeout(timer);
        setTimeout(() => {
          req.destroy();
          const serverRead = serverSockets.get(clientPort)?.bytesRead ?? -1;
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8"), answeredEarly, sent, serverRead });
        }, 100);
      });
      res.on("error", () => undefined);
    });
    req.on("error", (err) => {
      if (!answered) {
        clearTimeout(timer);
        reject(err);
      }
    });
    const piece = Buffer.alloc(opts.chunk, 0x20); // spaces: valid JSON whitespace, so only the size matters
    const pump = () => {
      while (!answered && sent < opts.total) {
        sent += piece.length;
        if (!req.write(piece)) return void req.once("drain", pump);
      }
      if (!answered && !ended) {
        ended = true;
        req.end();
      }
    };
    req.write('{"input": ');
    req.flushHeaders();
    setImmediate(pump);
  });
}

test("413 for a body over maxBodyBytes: by Content-Length at once, and by counting streamed bytes", async () => {
  // Content-Length says 64 MiB: answered from the header, before (almost) any of the body is sent.
  const declared = await rawPost(limited, { total: 64 * 1024 * 1024 - 10, chunk: 64 * 1024, contentLength: 64 * 1024 * 1024 });
  assert.equal(declared.status, 413);
  assert.ok(declared.answeredEarly && declared.sent < 64 * 1024 * 1024, `the server read the whole body (${declared.sent} bytes sent)`);
  assert.ok(declared.serverRead > 0 && declared.serverRead < 1024 * 1024, `the server read ${declared.serverRead} bytes`);
  assert.match(JSON.parse(declared.body).error, /^body: Content-Length 67108864 bytes is over the limit; the limit is 65536 bytes \(--max-body\)$/);
  await assertStillServing(limited);

  // Chunked, no Content-Length: the server counts bytes and answers once past the limit, long before 32 MiB.
  const streamed = await rawPost(limited, { total: 32 * 1024 * 1024, chunk: 16 * 1024 });
  assert.equal(streamed.status, 413);
  assert.ok(streamed.answeredEarly, `the server read the whole body (${streamed.sent} bytes sent)`);
  assert.ok(streamed.serverRead > 64 * 1024 && streamed.serverRead < 1024 * 1024, `the server read ${streamed.serverRead} bytes`);
  assert.match(JSON.parse(streamed.body).error, /^body: more than 65536 bytes received; the limit is 65536 bytes \(--max-body\)$/);
  await assertStillServing(limited);

  // The default limit is 1 MiB: a 2 MiB body is refused, a 900 KiB one is not refused for its size.
  const big = await rawPost(tfjs, { total: 2 * 1024 * 1024, chunk: 64 * 1024, contentLength: 2 * 1024 * 1024 + 10 });
  assert.equal(big.status, 413);
  const padded = `{"input": ${JSON.stringify(GOOD)}${" ".repeat(900 * 1024)}}`;
  assert.equal((await postJson(tfjs, padded, true)).status, 200);
  await assertStillServing(tfjs);
});

test("concurrent good and bad requests are all answered correctly", async () => {
  const answers = await Promise.all(
    Array.from({ length: 24 }, (_, i) => (i % 3 === 0 ? postJson(onnx, { input: GOOD.slice(2) }) : postJson(i % 2 ? onnx : tfjs, { inputs: [GOOD, GOOD] }))),
  );
  answers.forEach((a, i) => assert.equal(a.status, i % 3 === 0 ? 400 : 200));
});

// ---- startup errors ------------------------------------------------------------------------------------------

test("missing model files or ONNX file: one-line TsdistillError naming the file", async () => {
  const missing = join(root, "no-such-model");
  await assert.rejects(createServer({ modelDir: missing }), (err: Error) => {
    assert.ok(err instanceof TsdistillError);
    assert.equal(err.message, `${join(missing, "model.json")}: not found; expected a TF.js layers model folder (model.json + weight files)`);
    return true;
  });
  const noOnnx = join(root, "none.onnx");
  await assert.rejects(createServer({ modelDir, onnx: noOnnx }), (err: Error) => {
    assert.ok(err instanceof TsdistillError);
    assert.match(err.message, new RegExp(`^${noOnnx.replace(/[.\\]/g, "\\$&")}: not found; expected an ONNX model file`));
    assert.ok(!err.message.includes("\n"));
    return true;
  });
  // A file that is not ONNX.
  const notOnnx = join(modelDir, "model.json");
  await assert.rejects(createServer({ modelDir, onnx: notOnnx }), (err: Error) => err instanceof TsdistillError && err.message.startsWith(`${notOnnx}: could not be loaded by onnxruntime (`) && !err.message.includes("\n"));
  // "auto" with no ONNX file next to the model: TF.js.
  const other = join(root, "other");
  await saveModel(model, other);
  const auto = await createServer({ modelDir: other, onnx: "auto" });
  assert.equal(auto.predictor.runtime, "tfjs");
  await auto.predictor.close();
  // Bad options.
  await assert.rejects(createServer({ modelDir, maxBatch: 0 }), /maxBatch: expected an integer ≥ 1, got 0/);
  await assert.rejects(serveCommand([]), (err: Error) => err instanceof UsageError && /--model is required/.test(err.message));
  await assert.rejects(serveCommand(["--model", modelDir, "--port", "70000"]), (err: Error) => err instanceof UsageError && /^--port: expected an integer in \[0, 65535\], got "70000"$/.test(err.message));
});

test("listening on a port in use is a one-line TsdistillError", async () => {
  await assert.rejects(startServer({ modelDir, port: tfjs.port }), (err: Error) => err instanceof TsdistillError && err.message === `cannot listen on 127.0.0.1:${tfjs.port}: the address is already in use`);
});

// ---- the CLI command ---------------------------------------------------------------------------------------------

/** Runs serveCommand in a child process the way bin/tsdistill.js + main() would (one-line errors, exit codes). */
function spawnServe(args: string[]) {
  const script =
    "import('./src/cli/commands/serve.ts').then(m => m.serveCommand(process.argv.slice(1))).then(() => process.exit(0), (e) => {" +
    " if (typeof e?.exitCode === 'number') { process.stderr.write('tsdistill: error: ' + e.message + '\\n'); process.exit(e.exitCode); }" +
    " process.stderr.write('tsdistill: internal error: ' + (e?.stack ?? e) + '\\n'); process.exit(70); })";
  const child = spawn(process.execPath, ["--import", "tsx", "-e", script, "--", ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  const waitFor = async (re: RegExp, ms: number): Promise<RegExpMatchArray> => {
    const t0 = Date.now();
    for (;;) {
      const m = re.exec(stdout);
      if (m) return m;
      if (child.exitCode !== null || Date.now() - t0 > ms) throw new Error(`no ${re} on stdout; stdout: ${stdout}; stderr: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  return { child, exited, waitFor, out: () => stdout, err: () => stderr };
}

test("CLI: serve prints the URL (127.0.0.1 by default), answers /health and /predict, exits 0 on SIGTERM", async () => {
  const p = spawnServe(["--model", modelDir, "--port", "0", "--onnx", "auto"]);
  try {
    const m = await p.waitFor(/at (http:\/\/127\.0\.0\.1:(\d+))\n/, 20_000);
    assert.match(p.out(), /^serving .+ with onnxruntime-node \(.+\.onnx\) at http:\/\/127\.0\.0\.1:\d+\n$/);
    const health = await fetch(`${m[1]}/health`);
    assert.deepEqual(await health.json(), { status: "ok" });
    const pred = await fetch(`${m[1]}/predict`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ input: GOOD }) });
    assert.equal(pred.status, 200);
    p.child.kill("SIGTERM");
    const { code, signal } = await p.exited;
    assert.equal(signal, null, `stderr: ${p.err()}`);
    assert.equal(code, 0, `stderr: ${p.err()}`);
    assert.match(p.err(), /SIGTERM: stopping/);
    await assert.rejects(fetch(`${m[1]}/health`)); // nothing listens any more
  } finally {
    if (p.child.exitCode === null) p.child.kill("SIGKILL");
  }
});

test("CLI: a missing model folder exits non-zero with one stderr line naming the file", async () => {
  const missing = join(root, "missing-model");
  const p = spawnServe(["--model", missing, "--port", "0"]);
  const { code } = await p.exited;
  assert.equal(code, 1);
  assert.equal(p.out(), "");
  const lines = p.err().trimEnd().split("\n");
  assert.equal(lines.length, 1, p.err());
  assert.equal(lines[0], `tsdistill: error: ${join(missing, "model.json")}: not found; expected a TF.js layers model folder (model.json + weight files)`);
});
