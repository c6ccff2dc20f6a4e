// The "api" teacher (src/teachers/api.ts) against a LOCAL test server: node:http on 127.0.0.1 (port 0) speaking
// the OpenAI chat-completions protocol with logprobs. No model and no network: the server derives each answer's
// top-k logprobs from the input text by a keyword rule, so the expected soft labels are known exactly, and it can
// inject faults (429, 5xx, connection resets, slow answers) on chosen attempts of chosen inputs.
import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { inspect } from "node:util";
import * as tf from "@tensorflow/tfjs-core";
import { useBackend } from "../src/engine/backend.js";
import { topKKd } from "../src/losses/response.js";
import { TsdistillError } from "../src/util/errors.js";
import { ApiTeacher, ApiTeacherError, parseRetryAfter, toSoftLabels, toTopK, type ApiLabel, type ApiTeacherConfigInput, type RetryInfo } from "../src/teachers/api.js";
import { DEFAULT_PROMPT, renderPrompt } from "../src/teachers/api-prompt.js";
import { assertAllClose } from "./helpers.js";

// ---- the local OpenAI-protocol test server ------------------------------------------------------------------

type Top = [token: string, prob: number][];

type Fault =
  | { kind: "status"; status: number; message?: string; headers?: Record<string, string> }
  | { kind: "reset" }
  | { kind: "sleep"; ms: number };

interface Logged {
  input: string;
  attempt: number;
  /** performance.now() when the request body had arrived. */
  at: number;
  auth: string | undefined;
  body: Record<string, unknown>;
}

interface ServerOptions {
  /** The next-token distribution (token, probability) for an input; default: sentimentRule. */
  rule?: (input: string) => Top;
  /** A fault for this attempt (0-based) of this input, or null for a normal answer. */
  fault?: (input: string, attempt: number) => Fault | null;
  /** Delay before every normal answer (ms). */
  delayMs?: number;
}

/** The number after "#" in an input ("review #7: …" → 7). */
const numberOf = (input: string) => Number(/#(\d+)/.exec(input)?.[1] ?? 0);

/** The keyword rule: probabilities of the next token, not normalised over labels (Σ < 1, like a real model's top-k). */
function sentimentRule(input: string): Top {
  const v = (numberOf(input) % 5) / 20; // 0 … 0.2, so rows differ
  if (input.includes("???")) {
    return [["Sorry", 0.5], [" I", 0.3], ["Hmm", 0.1]]; // no label at all
  }
  if (/good|great/.test(input)) {
    return [[" positive", 0.55 + v], ["Positive", 0.1], [" neutral", 0.15 - v / 2], ["The", 0.05], ["\n", 0.02], [" negative", 0.01]];
  }
  if (/bad|awful/.test(input)) {
    return [[" negative", 0.5 + v / 2], [" positive", 0.15], [" neutral", 0.1], ["Negative", 0.05], ["I", 0.01]];
  }
  return [["Sure", 0.45], [" neutral", 0.2 + v], [" negative", 0.05], [":", 0.03], ["Neutral", 0.04], [" positive", 0.004]];
}

function chatCompletion(body: Record<string, unknown>, top: Top) {
  const k = Number(body.top_logprobs ?? 0);
  const sorted = [...top].sort((a, b) => b[1] - a[1]);
  const shown = sorted.slice(0, k).map(([token, p]) => ({ token, logprob: Math.log(p), bytes: [...Buffer.from(token)] }));
  const [token, p] = sorted[0];
  const messages = body.messages as { content: string }[];
  const promptChars = messages.reduce((s, m) => s + m.content.length, 0);
  return {
    id: "chatcmpl-test",
    object: "chat.completion",
    created: 0,
    model: body.model,
    choices: [
      {
        index: 0,
        message: { role: "assistant", content: token },
        finish_reason: "length",
        logprobs: { content: [{ token, logprob: Math.log(p), bytes: [...Buffer.from(token)], top_logprobs: shown }] },
      },
    ],
    usage: { prompt_tokens: Math.ceil(promptChars / 4), completion_tokens: 1, total_tokens: Math.ceil(promptChars / 4) + 1 },
  };
}

/** The input inside a rendered prompt: between <<< >>> when the template marks it, else after the default prompt's "Input:". */
function inputOf(content: string): string {
  const marked = /<<<([\s\S]*?)>>>/.exec(content);
  if (marked) return marked[1];
  const at = content.lastIndexOf("Input:\n");
  return at >= 0 ? content.slice(at + "Input:\n".length) : content;
}

async function startServer(opts: ServerOptions = {}) {
  const rule = opts.rule ?? sentimentRule;
  const log: Logged[] = [];
  const attempts = new Map<string, number>();
  const stats = { inFlight: 0, maxInFlight: 0 };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      stats.inFlight++;
      stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
      let open = true;
      const timers: NodeJS.Timeout[] = [];
      res.on("close", () => {
        if (open) stats.inFlight--;
        open = false;
        timers.forEach(clearTimeout);
      });
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown>;
      const messages = body.messages as { role: string; content: string }[];
      const input = inputOf(messages[messages.length - 1].content);
      const attempt = attempts.get(input) ?? 0;
      attempts.set(input, attempt + 1);
      log.push({ input, attempt, at: performance.now(), auth: req.headers.authorization, body });
      const send = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
        if (!open) return;
        res.writeHead(status, { "content-type": "application/json", ...headers });
        res.end(JSON.stringify(payload));
      };
      const fault = opts.fault?.(input, attempt) ?? null;
      if (fault?.kind === "reset") {
        req.socket.destroy();
        return;
      }
      if (fault?.kind === "status") {
        send(fault.status, { error: { message: fault.message ?? `injected ${fault.status}`, type: "test", code: null } }, fault.headers);
        return;
      }
      const answer = () => send(200, chatCompletion(body, rule(input)));
      const wait = (fault?.kind === "sleep" ? fault.ms : 0) + (opts.delayMs ?? 0);
      if (wait > 0) timers.push(setTimeout(answer, wait));
      else answer();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    log,
    stats,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

type Server = Awaited<ReturnType<typeof startServer>>;

async function withServer(opts: ServerOptions, body: (s: Server) => Promise<void>): Promise<void> {
  const s = await startServer(opts);
  try {
    await body(s);
  } finally {
    await s.close();
  }
}

const LABELS = ["positive", "negative", "neutral"];
const KEY = "sk-test-SECRET-0123456789";
const ENV = { TSDISTILL_TEST_KEY: KEY };

function teacher(url: string, extra: Partial<ApiTeacherConfigInput> = {}): ApiTeacher {
  return new ApiTeacher(
    { kind: "api", baseURL: url, model: "test-model", apiKeyEnv: "TSDISTILL_TEST_KEY", labels: LABELS, backoff: { baseMs: 2, maxMs: 50 }, ...extra },
    { env: ENV },
  );
}

const WORDS = ["good", "bad", "meh", "great", "awful", "so-so", "???"];
const inputsOf = (n: number) => Array.from({ length: n }, (_, i) => `review #${i}: ${WORDS[i % WORDS.length]} product`);

// ---- float64 reference of the documented label distribution --------------------------------------------------

/**
 * Found labels: Σ p of matching tokens (trimmed, case-folded). Missing labels share t = min(1 − Σ shown p,
 * m·min shown p) evenly; all renormalised over the labels. No label found: uniform.
 */
function expectedProbs(shown: Top, labels: string[]): number[] {
  const mass = labels.map(() => 0);
  let total = 0;
  let pMin = Infinity;
  for (const [token, p] of shown) {
    total += p;
    pMin = Math.min(pMin, p);
    const j = labels.indexOf(token.trim().toLowerCase());
    if (j >= 0) mass[j] += p;
  }
  const missing = mass.filter((m) => m === 0).length;
  if (missing === labels.length) return labels.map(() => 1 / labels.length);
  const tail = missing ? Math.min(1 - total, missing * pMin) : 0;
  const Z = mass.reduce((s, m) => s + m, 0) + tail;
  return mass.map((m) => (m > 0 ? m : tail / missing) / Z);
}

const shownTop = (input: string, k: number): Top => [...sentimentRule(input)].sort((a, b) => b[1] - a[1]).slice(0, k);

/** The parts of a label that must not depend on faults and retries. */
const essence = (l: ApiLabel) => ({ ...l, attempts: undefined, probs: Array.from(l.probs) });

function assertOneLine(msg: string): void {
  assert.ok(!msg.includes("\n"), `error message should be one line: ${JSON.stringify(msg)}`);
}

async function rejection(p: Promise<unknown>): Promise<ApiTeacherError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof TsdistillError, `expected a TsdistillError, got ${String(e)}`);
    assert.ok(e instanceof ApiTeacherError);
    return e;
  }
  assert.fail("expected labelBatch to reject");
}

// ---- happy path ------------------------------------------------------------------------------------------------

test("local OpenAI-protocol test server: keyword-rule logprobs give the documented soft labels, in input order", async () => {
  await withServer({}, async (s) => {
    const t = teacher(s.url, { pricing: { inputPerMTok: 0.5, outputPerMTok: 2 } });
    const inputs = inputsOf(28);
    const progress: number[] = [];
    const out = await t.labelBatch(inputs, { onProgress: (p) => progress.push(p.done) });
    assert.equal(out.length, inputs.length);
    out.forEach((l, i) => {
      assert.equal(l.index, i);
      const shown = shownTop(inputs[i], 5);
      assertAllClose(l.probs, expectedProbs(shown, LABELS), { rtol: 1e-6, atolScale: 1e-7, what: `probs of ${inputs[i]}` });
      assertAllClose(Array.from(l.probs).reduce((a, b) => a + b, 0), 1, { rtol: 1e-6 });
      assert.deepEqual(l.rawTopLogprobs, shown.map(([token, p]) => ({ token, logprob: Math.log(p) })));
      // topK: found labels, most probable first, log of their dense probability; missing = the others.
      for (let r = 1; r < l.topK.length; r++) assert.ok(l.topK[r - 1].logprob >= l.topK[r].logprob);
      for (const { labelIndex, logprob } of l.topK) assertAllClose(Math.exp(logprob), l.probs[labelIndex], { rtol: 1e-6 });
      assert.deepEqual([...l.topK.map((x) => x.labelIndex), ...l.missing].sort(), [0, 1, 2]);
      assert.equal(l.attempts, 1);
      assert.equal(l.usage.completionTokens, 1);
    });
    // Per kind: "good" → positive chosen, negative missing; "bad" → all found; "meh" → the model says "Sure" (no
    // label chosen) though neutral is most probable; "???" → no label: uniform, chosen null.
    assert.deepEqual([out[0].chosen, out[0].missing, out[0].text], [0, [1], " positive"]);
    assert.deepEqual([out[1].chosen, out[1].missing], [1, []]);
    assert.equal(out[1].tailMass, 0);
    assert.deepEqual([out[2].chosen, out[2].topK[0].labelIndex], [null, 2]);
    assert.deepEqual([out[6].chosen, out[6].topK, out[6].missing], [null, [], [0, 1, 2]]);
    assertAllClose(out[6].probs, [1 / 3, 1 / 3, 1 / 3]);
    // A missing label never outranks a found one.
    for (const l of out) for (const j of l.missing) for (const f of l.topK) assert.ok(l.probs[j] <= l.probs[f.labelIndex] + 1e-7);
    // The request: the OpenAI chat-completions fields, the default prompt with the labels, the key as a Bearer header.
    const req = s.log[0].body;
    assert.equal(req.model, "test-model");
    assert.equal(req.temperature, 0);
    assert.equal(req.logprobs, true);
    assert.equal(req.top_logprobs, 5);
    assert.equal(req.max_tokens, 1);
    const msgs = req.messages as { role: string; content: string }[];
    assert.equal(msgs.length, 1);
    assert.equal(msgs[0].role, "user");
    assert.ok(msgs[0].content.includes("positive, negative, neutral"));
    assert.ok(s.log.every((r) => r.auth === `Bearer ${KEY}`));
    // Stats and cost.
    const prompt = out.reduce((a, l) => a + l.usage.promptTokens, 0);
    const st = t.stats;
    assert.deepEqual(
      { ...st, costUSD: undefined },
      { requests: 28, retries: 0, labelled: 28, failed: 0, noLabel: 4, promptTokens: prompt, completionTokens: 28, totalTokens: prompt + 28, costUSD: undefined },
    );
    assertAllClose(st.costUSD!, (prompt * 0.5 + 28 * 2) / 1e6, { rtol: 1e-12 });
    assert.deepEqual(progress, Array.from({ length: 28 }, (_, i) => i + 1));
  });
});

test("local OpenAI-protocol test server: top_logprobs = 2 leaves more labels missing; the tail estimate follows", async () => {
  await withServer({}, async (s) => {
    const t = teacher(s.url, { topLogprobs: 2 });
    const inputs = inputsOf(7);
    const out = await t.labelBatch(inputs);
    assert.equal(s.log[0].body.top_logprobs, 2);
    out.forEach((l, i) => assertAllClose(l.probs, expectedProbs(shownTop(inputs[i], 2), LABELS), { rtol: 1e-6, atolScale: 1e-7, what: inputs[i] }));
    // "good": " positive", "neutral" shown, negative missing with t = min(R, 1·p_min).
    assert.deepEqual(out[0].missing, [1]);
    assert.ok(out[0].tailMass > 0);
  });
});

test("local OpenAI-protocol test server: multi-token labels are read by their first token", async () => {
  const rule = (input: string): Top => (input.includes("west") ? [[" Los", 0.7], ["New", 0.2], ["Chicago", 0.05]] : [["New", 0.6], ["Los", 0.3], ["chicago", 0.05]]);
  await withServer({ rule }, async (s) => {
    const t = teacher(s.url, { labels: ["New York", "Los Angeles", "Chicago"], prompt: "Which city? {labels}\n<<<{input}>>>", system: "You classify." });
    const out = await t.labelBatch(["east coast", "west coast"]);
    assert.deepEqual(s.log[0].body.messages, [
      { role: "system", content: "You classify." },
      { role: "user", content: "Which city? New York, Los Angeles, Chicago\n<<<east coast>>>" },
    ]);
    assert.deepEqual(out.map((l) => l.chosen), [0, 1]);
    assertAllClose(out[0].probs, [0.6 / 0.95, 0.3 / 0.95, 0.05 / 0.95], { rtol: 1e-6 });
    assertAllClose(out[1].probs, [0.2 / 0.95, 0.7 / 0.95, 0.05 / 0.95], { rtol: 1e-6 });
  });
});

// ---- faults and retries ------------------------------------------------------------------------------------------

/**
 * Faults by input number mod 10, on the first attempt (and on the second for 9): 1: 429; 2: 429 with
 * Retry-After: 1 (capped to backoff.maxMs); 3: 500; 5: 503; 6: connection reset; 8: answer after 8 s with a
 * 2.5 s timeout; 9: 500 then a reset. 0, 4, 7: none.
 */
function injected(input: string, attempt: number): Fault | null {
  const r = numberOf(input) % 10;
  if (attempt === 0) {
    if (r === 1) return { kind: "status", status: 429, message: "rate limited" };
    if (r === 2) return { kind: "status", status: 429, message: "slow down", headers: { "retry-after": "1" } };
    if (r === 3 || r === 9) return { kind: "status", status: 500, message: "internal error" };
    if (r === 5) return { kind: "status", status: 503, message: "overloaded" };
    if (r === 6) return { kind: "reset" };
    if (r === 8) return { kind: "sleep", ms: 8000 };
  }
  if (attempt === 1 && r === 9) return { kind: "reset" };
  return null;
}
const faultsOf = (i: number) => ({ 1: 1, 2: 1, 3: 1, 5: 1, 6: 1, 8: 1, 9: 2 })[i % 10] ?? 0;

test("local OpenAI-protocol test server: 429 (± Retry-After), 500, 503, resets and timeouts are retried; labels equal a fault-free run", async () => {
  const inputs = inputsOf(40);
  // The timeout is generous enough that a normal answer never hits it, even on a loaded machine (the exact retry
  // counts below depend on that), and far enough from the 8 s answer that the timed-out ones always time out.
  const config = { concurrency: 4, timeoutMs: 2500, backoff: { baseMs: 2, maxMs: 120 } };
  let clean: ApiLabel[] = [];
  await withServer({}, async (s) => {
    clean = await teacher(s.url, config).labelBatch(inputs);
  });
  await withServer({ fault: injected }, async (s) => {
    const t = teacher(s.url, config);
    const retries: RetryInfo[] = [];
    const out = await t.labelBatch(inputs, { onRetry: (r) => retries.push(r) });
    assert.equal(out.length, inputs.length);
    assert.deepEqual(out.map((l) => l.index), inputs.map((_, i) => i));
    assert.deepEqual(out.map(essence), clean.map(essence));
    assert.deepEqual(out.map((l) => l.attempts), inputs.map((_, i) => 1 + faultsOf(i)));
    const expectedRetries = inputs.reduce((a, _, i) => a + faultsOf(i), 0);
    assert.equal(expectedRetries, 32);
    assert.equal(t.stats.retries, expectedRetries);
    assert.equal(t.stats.requests, inputs.length + expectedRetries);
    assert.equal(s.log.length, inputs.length + expectedRetries);
    // Exactly one answered request per input reached a normal answer… and usage counts only answered requests.
    assert.equal(t.stats.completionTokens, inputs.length);
    // Each retry, as the teacher saw it: what failed and how long it waited.
    assert.equal(retries.length, expectedRetries);
    const seen = (i: number) => retries.filter((r) => r.index === i).map((r) => `${r.attempt} ${r.status} ${r.message}`);
    for (let i = 0; i < inputs.length; i++) {
      const r = i % 10;
      const want =
        r === 1 ? ['1 429 HTTP 429 "rate limited"']
        : r === 2 ? ['1 429 HTTP 429 "slow down"']
        : r === 3 ? ['1 500 HTTP 500 "internal error"']
        : r === 5 ? ['1 503 HTTP 503 "overloaded"']
        : r === 6 ? [/^1 null network error \(/]
        : r === 8 ? ["1 null timed out after 2500 ms"]
        : r === 9 ? ['1 500 HTTP 500 "internal error"', /^2 null network error \(/]
        : [];
      const got = seen(i);
      assert.equal(got.length, want.length, `retries of input ${i}: ${JSON.stringify(got)}`);
      want.forEach((w, j) => (typeof w === "string" ? assert.equal(got[j], w) : assert.match(got[j], w)));
    }
    // Retry-After: 1 s is honoured, capped at backoff.maxMs (120 ms); other retries wait a full-jitter
    // uniform(0, baseMs·2^attempt). The server sees the gap too (a lower bound: it cannot arrive earlier).
    for (const r of retries) {
      if (r.message.includes("slow down")) assert.equal(r.delayMs, 120);
      else assert.ok(r.delayMs >= 0 && r.delayMs <= 2 * 2 ** (r.attempt - 1), `delay ${r.delayMs} ms after attempt ${r.attempt}`);
    }
    for (const i of [2, 12, 22, 32]) {
      const [a, b] = s.log.filter((r) => r.input === inputs[i]);
      assert.ok(b.at - a.at >= 119, `Retry-After gap at the server for input ${i}: ${(b.at - a.at).toFixed(1)} ms`);
    }
  });
});

test("local OpenAI-protocol test server: 401 fails fast without retries, naming the status and the server's message but not the key", async () => {
  const fault = (): Fault => ({ kind: "status", status: 401, message: `Incorrect API key provided: ${KEY}. You can find your key at …` });
  await withServer({ fault }, async (s) => {
    const t = teacher(s.url, { concurrency: 1 });
    const err = await rejection(t.labelBatch(inputsOf(10)));
    assert.match(err.message, /HTTP 401/);
    assert.match(err.message, /Incorrect API key provided/);
    assert.match(err.message, /TSDISTILL_TEST_KEY/);
    assert.match(err.message, /not retried/);
    assert.ok(!err.message.includes(KEY), err.message);
    assertOneLine(err.message);
    assert.equal(err.status, 401);
    assert.equal(s.log.length, 1);
    assert.deepEqual([t.stats.requests, t.stats.retries], [1, 0]);
    assert.deepEqual(err.completed, []);
    assert.equal(err.notStarted.length, 9);
  });
  // With 4 in flight, only those 4 reach the server; nothing is retried or started after the failure.
  await withServer({ fault }, async (s) => {
    const t = teacher(s.url, { concurrency: 4 });
    await rejection(t.labelBatch(inputsOf(12)));
    assert.ok(s.log.length <= 4, `${s.log.length} requests`);
    assert.equal(t.stats.retries, 0);
  });
});

test("local OpenAI-protocol test server: 400, 403 and 404 fail fast too (one request each)", async () => {
  for (const status of [400, 403, 404]) {
    await withServer({ fault: () => ({ kind: "status", status, message: `bad thing ${status}` }) }, async (s) => {
      const t = teacher(s.url, { concurrency: 1 });
      const err = await rejection(t.labelBatch(inputsOf(3)));
      assert.match(err.message, new RegExp(`HTTP ${status} "bad thing ${status}"`));
      assertOneLine(err.message);
      assert.equal(s.log.length, 1);
      assert.equal(t.stats.retries, 0);
    });
  }
});

test("local OpenAI-protocol test server: exhausting retries gives one TsdistillError line; nothing is returned as complete", async () => {
  const fault = (input: string): Fault | null =>
    numberOf(input) === 2 ? { kind: "status", status: 503, message: `overloaded (key ${KEY})` } : null;
  await withServer({ fault }, async (s) => {
    const t = teacher(s.url, { concurrency: 1, maxRetries: 2 });
    const err = await rejection(t.labelBatch(inputsOf(6)));
    assertOneLine(err.message);
    assert.match(err.message, /^api teacher: 1 of 6 inputs failed after 2 retries each/);
    assert.match(err.message, /HTTP 503/);
    assert.match(err.message, /last HTTP status: 503/);
    assert.ok(!err.message.includes(KEY), err.message);
    assert.equal(err.status, 503);
    assert.deepEqual(err.completed.map((l) => l.index), [0, 1]);
    assert.deepEqual(err.failed, [2]);
    assert.deepEqual(err.notStarted, [3, 4, 5]);
    assert.equal(s.log.length, 2 + 3);
    assert.deepEqual([t.stats.retries, t.stats.failed, t.stats.labelled], [2, 1, 2]);
  });
  // Every request reset (no HTTP status at all), 3 in flight: all 3 fail, the rest never start.
  await withServer({ fault: () => ({ kind: "reset" }) }, async (s) => {
    const t = teacher(s.url, { concurrency: 3, maxRetries: 1 });
    const err = await rejection(t.labelBatch(inputsOf(9)));
    assertOneLine(err.message);
    assert.match(err.message, /^api teacher: 3 of 9 inputs failed after 1 retry each \(last: network error/);
    assert.match(err.message, /last HTTP status: none/);
    assert.equal(err.status, null);
    assert.equal(err.notStarted.length, 6);
    assert.equal(s.log.length, 6);
  });
});

test("local OpenAI-protocol test server: cancelling through opts.signal rejects with the finished labels attached", async () => {
  await withServer({ delayMs: 15 }, async (s) => {
    const t = teacher(s.url, { concurrency: 2 });
    const ctrl = new AbortController();
    const err = await rejection(t.labelBatch(inputsOf(20), { signal: ctrl.signal, onProgress: (p) => p.done === 4 && ctrl.abort() }));
    assert.match(err.message, /^api teacher: cancelled; \d+ of 20 inputs labelled$/);
    assert.ok(err.completed.length >= 4 && err.completed.length < 20);
    assert.ok(err.notStarted.length > 0);
    assert.ok(s.log.length < 20);
  });
});

// ---- limits -------------------------------------------------------------------------------------------------------

test("local OpenAI-protocol test server: never more requests in flight than concurrency (per teacher, across batches)", async () => {
  for (const concurrency of [1, 3]) {
    await withServer({ delayMs: 20 }, async (s) => {
      const t = teacher(s.url, { concurrency });
      const out = await t.labelBatch(inputsOf(15));
      assert.equal(out.length, 15);
      assert.equal(s.stats.maxInFlight, concurrency);
    });
  }
  await withServer({ delayMs: 20 }, async (s) => {
    const t = teacher(s.url, { concurrency: 3 });
    const [a, b] = await Promise.all([t.labelBatch(inputsOf(9)), t.labelBatch(inputsOf(9))]);
    assert.deepEqual(a.map(essence), b.map(essence));
    assert.equal(s.stats.maxInFlight, 3);
  });
});

/** A fetch that records when each request is started (performance.now()), then calls the real one. */
function timedFetch(starts: number[]): typeof fetch {
  return (input, init) => {
    starts.push(performance.now());
    return fetch(input, init);
  };
}

test("local OpenAI-protocol test server: request starts respect requestsPerSecond (token bucket, burst 1 and 5)", async () => {
  // The guarantee: with capacity b, the k-th start (0-based, in time order) is not before t0 + (k − b + 1)/rps,
  // where t0 is when labelBatch was called. Checked on the client's start times and on the server's arrival times
  // (which can only be later). The machine may delay a start but never advance it, so these bounds hold on a
  // loaded machine too; "not much slower than needed" is checked loosely.
  const rps = 20;
  const interval = 1000 / rps;
  const check = async (n: number, burst: number) => {
    await withServer({}, async (s) => {
      const starts: number[] = [];
      const t = new ApiTeacher(
        { kind: "api", baseURL: s.url, model: "m", apiKeyEnv: null, labels: LABELS, concurrency: 8, requestsPerSecond: rps, burst },
        { fetch: timedFetch(starts) },
      );
      const t0 = performance.now();
      await t.labelBatch(inputsOf(n));
      assert.equal(starts.length, n);
      const arrivals = s.log.map((r) => r.at);
      for (const [what, times] of [["start", starts], ["server arrival", arrivals]] as const) {
        [...times].sort((a, b) => a - b).forEach((at, k) => {
          const earliest = Math.max(0, k - burst + 1) * interval;
          assert.ok(at - t0 >= earliest - 1, `burst ${burst}: ${what} ${k} at +${(at - t0).toFixed(1)} ms, before +${earliest} ms`);
        });
      }
      // At most rps + burst − 1 starts in the first second.
      assert.ok(starts.filter((x) => x < t0 + 1000).length <= rps + burst - 1);
      const last = Math.max(...starts) - t0;
      // Upper bounds are generous (a loaded machine delays starts); the lower bounds above are the limiter's promise.
      assert.ok(last < (n - burst) * interval + 10_000, `burst ${burst}: last start at +${last.toFixed(0)} ms`);
      if (burst > 1) {
        const sorted = [...starts].sort((a, b) => a - b);
        // Without the burst the limiter would hold the burst-th start until +(burst − 1)·interval.
        assert.ok(sorted[burst - 1] - sorted[0] < (burst - 1) * interval, `burst ${burst}: the first ${burst} go without waiting for tokens (${(sorted[burst - 1] - sorted[0]).toFixed(1)} ms)`);
      }
    });
  };
  await check(22, 1);
  await check(15, 5);
});

// ---- the key -----------------------------------------------------------------------------------------------------

test("local OpenAI-protocol test server: the key goes only in the Bearer header; apiKeyEnv null sends none; a missing variable is named", async () => {
  await withServer({}, async (s) => {
    const t = teacher(s.url);
    await t.labelBatch(inputsOf(2));
    assert.deepEqual(s.log.map((r) => r.auth), [`Bearer ${KEY}`, `Bearer ${KEY}`]);
    assert.ok(!JSON.stringify(s.log.map((r) => r.body)).includes(KEY));
    assert.ok(!inspect(t, { depth: 10 }).includes(KEY));
    assert.ok(!JSON.stringify(t).includes(KEY));
    const local = new ApiTeacher({ kind: "api", baseURL: s.url, model: "m", apiKeyEnv: null, labels: LABELS }, { env: {} });
    await local.labelBatch(inputsOf(1));
    assert.equal(s.log[2].auth, undefined);
  });
  assert.throws(
    () => new ApiTeacher({ kind: "api", baseURL: "http://127.0.0.1:1/v1", model: "m", apiKeyEnv: "NO_SUCH_KEY_VAR", labels: LABELS }, { env: {} }),
    (e: Error) => e instanceof TsdistillError && /environment variable NO_SUCH_KEY_VAR/.test(e.message) && !e.message.includes("\n"),
  );
  // A key pasted into the config instead of a variable name is refused without being echoed.
  assert.throws(
    () => new ApiTeacher({ kind: "api", baseURL: "http://127.0.0.1:1/v1", model: "m", apiKeyEnv: KEY, labels: LABELS }, { env: {} }),
    (e: Error) => e instanceof TsdistillError && /^teacher\.apiKeyEnv: /.test(e.message) && !e.message.includes(KEY),
  );
});

// ---- construction (no server needed) -------------------------------------------------------------------------

test("labels whose first tokens clash are rejected at construction, naming them (no server needed)", () => {
  const make = (labels: string[], extra: Partial<ApiTeacherConfigInput> = {}) =>
    new ApiTeacher({ kind: "api", baseURL: "http://127.0.0.1:1/v1", model: "m", apiKeyEnv: null, labels, ...extra });
  const rejects = (labels: string[], re: RegExp, extra: Partial<ApiTeacherConfigInput> = {}) =>
    assert.throws(() => make(labels, extra), (e: Error) => e instanceof TsdistillError && re.test(e.message) && !e.message.includes("\n"));
  rejects(["New York", "New Jersey", "Boston"], /labels "New York" and "New Jersey" share the first token "new"/);
  rejects(["1", "2", "10"], /labels "1" and "10" may share a first token: "1" is a prefix of "10"/);
  rejects(["positive", "Positive"], /"positive" and "Positive" are the same label/);
  rejects(["a b", "c"], /share the first token "x"/, { labelTokens: ["x", "X"] });
  rejects(["a", "b"], /labelTokens has 1 entries but there are 2 labels/, { labelTokens: ["a"] });
  rejects(["only"], /^teacher\.labels: /);
  rejects(["a", "b"], /^teacher\.prompt: must contain the \{input\} placeholder/, { prompt: "Label: {labels}" });
  rejects(["a", "b"], /^teacher\.topLogprobs: /, { topLogprobs: 21 });
  rejects(["a", "b"], /^teacher\.temperature: /, { temperature: 0.7 as 0 });
  rejects(["a", "b"], /^teacher\.baseURL: expected an http\(s\) URL/, { baseURL: "localhost:8080" });
  // Explicit first tokens lift the prefix check; case-sensitive labels may differ by case only.
  assert.equal(make(["1", "2", "10"], { labelTokens: ["1", "2", "10"] }).numClasses, 3);
  assert.equal(make(["Yes", "yes"], { caseSensitive: true }).numClasses, 2);
});

test("prompt rendering and Retry-After parsing (no server needed)", () => {
  const p = renderPrompt(DEFAULT_PROMPT, "text with {labels} inside", ["a", "b"]);
  assert.ok(p.includes("exactly one of these labels: a, b."));
  assert.ok(p.endsWith("Input:\ntext with {labels} inside"));
  const h = (o: Record<string, string>) => new Headers(o);
  assert.equal(parseRetryAfter(h({ "retry-after": "2" })), 2000);
  assert.equal(parseRetryAfter(h({ "retry-after-ms": "150", "retry-after": "9" })), 150);
  assert.equal(parseRetryAfter(h({ "retry-after": new Date(10_000).toUTCString() }), 7_000), 3000);
  assert.equal(parseRetryAfter(h({ "retry-after": "soon" })), undefined);
  assert.equal(parseRetryAfter(h({})), undefined);
});

// ---- into the loss ---------------------------------------------------------------------------------------------

test("local OpenAI-protocol test server: toSoftLabels / toTopK feed topKKd, which then equals the dense KL", async () => {
  await useBackend("cpu", { fallback: false });
  await withServer({}, async (s) => {
    const inputs = inputsOf(7);
    const out = await teacher(s.url).labelBatch(inputs);
    const C = LABELS.length;
    const soft = toSoftLabels(out, C);
    assert.equal(soft.length, out.length * C);
    out.forEach((l, i) => assert.deepEqual(Array.from(soft.subarray(i * C, (i + 1) * C)), Array.from(l.probs)));
    const student = out.map((_, i) => [0.3 * i - 1, 0.5, -0.2 * i]);
    // Float64 KL(probs ‖ softmax(student)), batch mean.
    const kl =
      out.reduce((acc, l, i) => {
        const z = student[i];
        const lse = Math.log(z.reduce((a, v) => a + Math.exp(v), 0));
        return acc + Array.from(l.probs).reduce((a, p, c) => a + (p > 0 ? p * (Math.log(p) - (z[c] - lse)) : 0), 0);
      }, 0) / out.length;
    for (const k of [2, 3]) {
      const { indices, logprobs } = toTopK(out, k);
      assert.equal(indices.length, out.length * k);
      out.forEach((l, i) => {
        if (l.topK.length) assert.equal(indices[i * k], l.topK[0].labelIndex);
        assert.equal(new Set(indices.subarray(i * k, (i + 1) * k)).size, k);
      });
      // With C − k ≤ 1 the uniform tail rebuilds the dense distribution exactly, so topKKd = KL at T = 1.
      const loss = tf.tidy(() =>
        topKKd(tf.tensor2d(student), tf.tensor2d(indices, [out.length, k], "int32"), tf.tensor2d(logprobs, [out.length, k]), { temperature: 1, tail: "uniform" }).dataSync()[0],
      );
      assertAllClose(loss, kl, { rtol: 1e-4, what: `topKKd with k = ${k}` });
    }
    assert.throws(() => toTopK(out, 4), TsdistillError);
    assert.throws(() => toSoftLabels(out, 4), TsdistillError);
  });
});
