// The API LM teacher (src/teachers/api-lm-teacher.ts) against a LOCAL OpenAI-protocol stand-in server
// (test/lm-standin-server.ts: node:http on 127.0.0.1 answering /v1/completions from a real tsdistill LM in this
// process), so its top-k, token log-probs and generations can be checked against the model itself, with injected
// 429/500/resets/timeouts. No network and no remote model.
import { test } from "node:test";
import assert from "node:assert/strict";
import { useBackend } from "../src/engine/backend.js";
import { ApiLmTeacher, type ApiLmTeacherConfigInput } from "../src/teachers/api-lm-teacher.js";
import { ApiBatchError } from "../src/teachers/api-http.js";
import { transformerLmTeacher } from "../src/teachers/lm-teacher-model.js";
import { trainBpe } from "../src/tokenizers/bpe-train.js";
import { TsdistillError } from "../src/util/errors.js";
import { assertAllClose } from "./helpers.js";
import { bytes, EOS, memorisedLm, memorisedWindow, PAD } from "./lm-fixtures.js";
import { startStandIn, type Fault, type StandInOptions } from "./lm-standin-server.js";

await useBackend("wasm", { fallback: false });

const TEXT = "ask the server for every token";
const { window, ctx: CTX } = memorisedWindow(TEXT);
const model = await memorisedLm(TEXT, { seed: 4, extraCtx: 1 }); // the server scores the window with the token after it
const local = transformerLmTeacher(model, bytes);
const KEY = "sk-lm-test-SECRET-42";

function apiTeacher(url: string, extra: Partial<ApiLmTeacherConfigInput> = {}, tokenizer: "byte" | null = "byte"): ApiLmTeacher {
  return new ApiLmTeacher({ kind: "api-lm", baseURL: url, model: "standin", apiKeyEnv: "LM_TEST_KEY", tokenizer, backoff: { baseMs: 2, maxMs: 40 }, ...extra }, { env: { LM_TEST_KEY: KEY } });
}

async function withStandIn(opts: StandInOptions, body: (s: Awaited<ReturnType<typeof startStandIn>>) => Promise<void>): Promise<void> {
  const s = await startStandIn(model, opts);
  try {
    await body(s);
  } finally {
    await s.close();
  }
}

/** Windows of the memorised text: the window itself, a shifted one with trailing padding, and three plain shifts. */
function windowsOf(rows: number): { ids: Int32Array; batch: number; length: number; next: Int32Array } {
  const ids: number[] = [];
  const next: number[] = [];
  for (let r = 0; r < rows; r++) {
    if (r === 1) {
      ids.push(...window.subarray(4, CTX), ...Array(4).fill(PAD));
      next.push(PAD);
    } else {
      const s = [...window.subarray(0, CTX - r), ...bytes.encode("x".repeat(r))];
      ids.push(...s);
      next.push(r === 0 ? window[CTX] : bytes.encode("x")[0]);
    }
  }
  return { ids: Int32Array.from(ids), batch: rows, length: CTX, next: Int32Array.from(next) };
}
/** Rows with a real (non-padding) target. */
const realRows = (w: ReturnType<typeof windowsOf>) => Array.from({ length: w.batch * CTX }, (_, r) => r).filter((r) => !(Math.floor(r / CTX) === 1 && r % CTX >= CTX - 5));

test("local OpenAI-protocol stand-in server: echo + logprobs give the model's top-k and token log-probs; special tokens' strings fall into the tail", async () => {
  await withStandIn({}, async (s) => {
    const w = windowsOf(5);
    const want = await local.topK(w, 5);
    const wantLp = await local.targetLogprobs(w);
    // token_id strings (vLLM's return_tokens_as_token_ids): every entry maps exactly.
    const exact = apiTeacher(s.url, { tokenIds: true, pricing: { inputPerMTok: 1, outputPerMTok: 3 } });
    assert.deepEqual(exact.capabilities, { logits: false, maxTopK: 20, tokenLogprobs: true });
    const got = await exact.topK(w, 5);
    const lp = await exact.targetLogprobs(w);
    for (const r of realRows(w)) {
      assert.deepEqual(Array.from(got.indices.subarray(r * 5, r * 5 + 5)), Array.from(want.indices.subarray(r * 5, r * 5 + 5)), `row ${r} ids`);
      assertAllClose(got.logprobs.subarray(r * 5, r * 5 + 5), want.logprobs.subarray(r * 5, r * 5 + 5), { rtol: 1e-3, atol: 1e-5, what: `row ${r} log-probs` });
      assertAllClose(got.tailMass[r], want.tailMass[r], { rtol: 1e-3, atol: 1e-5, what: `row ${r} tail` });
      assertAllClose(lp[r], wantLp[r], { rtol: 1e-3, atol: 1e-5, what: `row ${r} target log-prob` });
    }
    // The request: token ids with echo, logprobs = k, max_tokens 0; trailing padding is not sent.
    const req = s.log[0].body;
    assert.deepEqual([req.echo, req.logprobs, req.max_tokens, req.return_tokens_as_token_ids, req.model], [true, 5, 0, true, "standin"]);
    assert.deepEqual(req.prompt, Array.from(window));
    assert.equal((s.log[1].body.prompt as number[]).length, CTX - 4, "row 1 is sent without its trailing padding");
    assert.ok(s.log.every((l) => l.auth === `Bearer ${KEY}`));
    const st = exact.stats;
    assert.deepEqual([st.requests, st.retries, st.scored, st.failed, st.unmappedTopTokens], [10, 0, 10, 0, 0]);
    assert.ok(st.promptTokens > 0 && st.costUSD === st.promptTokens / 1e6);
    assertAllClose(await exact.sequenceLogprobs(Array.from(window)), Array.from(wantLp.subarray(0, CTX)), { rtol: 1e-3, atol: 1e-5, what: "sequence log-probs" });

    // Plain token strings: bytes map back to ids, but "<|eos|>" is no byte: EOS's mass goes to the tail.
    const plain = apiTeacher(s.url);
    const top = await plain.topK(w, 5);
    assert.ok(plain.stats.unmappedTopTokens > 0);
    const last = CTX - 1; // row 0's last target is EOS, the teacher's top-1 there
    assert.equal(want.indices[last * 5], EOS);
    assert.ok(!Array.from(top.indices.subarray(last * 5, last * 5 + 5)).some((id, j) => id === EOS && top.logprobs[last * 5 + j] > -1e8));
    assert.ok(top.tailMass[last] > 0.9, `EOS's probability is in the tail: ${top.tailMass[last]}`);
    for (let r = 0; r < last; r++) assert.equal(top.indices[r * 5], want.indices[r * 5], `row ${r}: byte tokens map back`);
    await assert.rejects(plain.topK(w, 21), /k 21: expected an integer in \[1, 20\] \(teacher\.topLogprobs\)/);
    await assert.rejects(plain.logits(), /an API returns at most the top 20 log-probs per token, not full logits/);
  });
});

/** The row of windowsOf(5) a prompt is: row 1 is the short one; rows ≥ 2 end in r + 1 "x" bytes. */
function rowOf(prompt: string): number {
  const ids = JSON.parse(prompt) as number[];
  if (ids.length !== CTX + 1) return 1;
  const xs = ids.filter((id) => id === 120).length;
  return xs === 0 ? 0 : xs - 1;
}

/** Faults by row: 429 twice (once with Retry-After), 500, a reset, a 3 s answer under a 400 ms timeout; row 0 none. */
function injected(prompt: string, attempt: number): Fault | null {
  const r = rowOf(prompt);
  if (attempt === 0 && r === 4) return { kind: "status", status: 429, message: "slow down", headers: { "retry-after": "0.01" } };
  if (attempt === 1 && r === 4) return { kind: "status", status: 429, message: "slow down" };
  if (attempt === 0 && r === 3) return { kind: "status", status: 500, message: "boom" };
  if (attempt === 0 && r === 2) return { kind: "reset" };
  if (attempt === 0 && r === 1) return { kind: "sleep", ms: 8000 };
  return null;
}

test("local OpenAI-protocol stand-in server: 429 (± Retry-After), 500, resets and timeouts are retried; results equal a fault-free run", async () => {
  const w = windowsOf(5);
  let clean: Float32Array | undefined;
  await withStandIn({}, async (s) => void (clean = await apiTeacher(s.url, { tokenIds: true }).targetLogprobs(w)));
  await withStandIn({ fault: injected }, async (s) => {
    const retries: string[] = [];
    // Exact retry counts: the timeout must never catch a normal answer on a loaded machine, only the 8 s one.
    const t = new ApiLmTeacher(
      { kind: "api-lm", baseURL: s.url, model: "standin", apiKeyEnv: null, tokenizer: "byte", tokenIds: true, timeoutMs: 2500, backoff: { baseMs: 2, maxMs: 40 } },
      { batch: { onRetry: (r) => retries.push(`${r.status} ${r.message}`) } },
    );
    const got = await t.targetLogprobs(w);
    assert.deepEqual(Array.from(got), Array.from(clean!));
    assert.equal(t.stats.retries, 5);
    assert.equal(t.stats.requests, 10);
    assert.deepEqual(retries.map((r) => r.replace(/\(.*\)/, "(…)")).sort(), ['429 HTTP 429 "slow down"', '429 HTTP 429 "slow down"', '500 HTTP 500 "boom"', "null network error (…)", "null timed out after 2500 ms"].sort());
    assert.ok(s.log.every((l) => l.auth === undefined), "apiKeyEnv null sends no key");
  });
});

test("local OpenAI-protocol stand-in server: 400 fails fast; exhausted retries give one error line with the finished results attached", async () => {
  await withStandIn({ fault: () => ({ kind: "status", status: 400, message: `bad request (key ${KEY})` }) }, async (s) => {
    const t = apiTeacher(s.url, { tokenIds: true });
    const err = await t.targetLogprobs(windowsOf(3)).then(
      () => assert.fail("expected a rejection"),
      (e: unknown) => e as ApiBatchError<unknown>,
    );
    assert.ok(err instanceof ApiBatchError && err instanceof TsdistillError);
    assert.match(err.message, /^api LM teacher api:standin: HTTP 400 "bad request \(key \[redacted\]\)" from http:\/\/127\.0\.0\.1:\d+\/v1\/completions; not retried$/);
    assert.equal(t.stats.retries, 0);
  });
  const failing = (prompt: string) => ((JSON.parse(prompt) as number[]).length === CTX + 1 ? null : ({ kind: "status", status: 503, message: "overloaded" } as Fault));
  await withStandIn({ fault: failing }, async (s) => {
    const t = new ApiLmTeacher({ kind: "api-lm", baseURL: s.url, model: "standin", apiKeyEnv: null, tokenizer: "byte", tokenIds: true, maxRetries: 2, concurrency: 1, backoff: { baseMs: 1, maxMs: 5 } });
    const err = (await t.targetLogprobs(windowsOf(4)).catch((e: unknown) => e)) as ApiBatchError<unknown>;
    assert.ok(err instanceof ApiBatchError);
    assert.match(err.message, /^api LM teacher api:standin: 1 of 4 inputs failed after 2 retries each \(last: HTTP 503 "overloaded"; last HTTP status: 503\); 1 scored, 2 not started, nothing returned/);
    assert.ok(!err.message.includes("\n"));
    assert.deepEqual([err.completed.length, err.failed, err.notStarted], [1, [1], [2, 3]]);
  });
});

test("local OpenAI-protocol stand-in server: a server whose tokenizer is not the declared one is caught from the echo; an undeclared tokenizer allows text only", async () => {
  await withStandIn({}, async (s) => {
    // Declared: a BPE vocabulary (specials first, so byte b is id b + 3); the server is byte-level.
    const bpe = trainBpe([TEXT], { vocabSize: 262 });
    const wrong = new ApiLmTeacher({ kind: "api-lm", baseURL: s.url, model: "standin", apiKeyEnv: null, tokenizer: null }, { tokenizer: bpe });
    const w = { ids: Int32Array.from(window.subarray(1, 9)), batch: 1, length: 8, next: Int32Array.of(window[9]) };
    await assert.rejects(
      wrong.targetLogprobs(w),
      (e: Error) =>
        e instanceof ApiBatchError &&
        /the server echoed token "a" \(id 100 in the declared huggingface tokenizer, 262 tokens\) at position 0 where id 97 was sent; the server's tokenizer is not the declared one, so token-level terms cannot be used \(sequence-level KD works across tokenizers\)$/.test(e.message),
    );
    const unknown = apiTeacher(s.url, {}, null);
    assert.deepEqual(unknown.capabilities, { logits: false, maxTopK: 0, tokenLogprobs: false });
    await assert.rejects(unknown.targetLogprobs(w), /LM teacher api:standin: token log-probs needs the server's tokenizer \(teacher\.tokenizer: "byte" or its tokenizer\.json\); without it only generations \(sequence-level KD\) work/);
    // Text still works: generations, and the NLL of a continuation by the server's own tokens (text offsets).
    const [[g]] = await unknown.generate(["ask the"], { maxTokens: 40, temperature: 0 });
    assert.deepEqual([g.text, g.finish, g.ids], [" server for every token", "stop", null]);
    const [scored] = await unknown.continuationNll([{ prompt: "ask the", continuation: " server" }]);
    const lp = await local.sequenceLogprobs([EOS, ...bytes.encode("ask the server")]);
    assert.equal(scored.tokens, 7);
    assertAllClose(scored.nll, -lp.slice(-7).reduce((a, b) => a + b, 0), { rtol: 1e-3, what: "continuation NLL" });
  });
});

test("local OpenAI-protocol stand-in server: generations for sequence-level KD — n per prompt, in index order, seeded per prompt", async () => {
  await withStandIn({}, async (s) => {
    const t = apiTeacher(s.url, { stop: ["\n"] });
    const opts = { maxTokens: 8, temperature: 1.3, n: 3, seed: 5 };
    const a = await t.generate(["ask", "every"], opts);
    assert.deepEqual(a.map((g) => g.length), [3, 3]);
    assert.deepEqual(await t.generate(["ask", "every"], opts), a, "same seed, same generations");
    assert.deepEqual(await t.generate(["every"], { ...opts, promptIndexBase: 1 }), [a[1]], "seeds follow the prompt's run-wide index");
    const body = s.log[0].body;
    assert.deepEqual([body.prompt, body.n, body.max_tokens, body.temperature, body.top_p, body.stop, "top_k" in body], ["ask", 3, 8, 1.3, 1, ["\n"], false]);
    assert.equal(t.stats.generated, 5);
  });
});
