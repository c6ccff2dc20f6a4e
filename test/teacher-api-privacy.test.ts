// Privacy of api teachers, against a LOCAL stand-in server (node:http on 127.0.0.1 speaking the OpenAI
// chat-completions protocol with logprobs; it echoes the Authorization header back in its error bodies, as some
// servers do). Redaction (built-in kinds and user patterns), --dry-run (nothing sent, nothing written) and the API
// key never appearing in stdout, stderr, the cache folder or the run folder.
import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Redactor } from "../src/teachers/redact.js";
import { ApiTeacher } from "../src/teachers/api.js";
import { runCli, tempDir } from "./helpers.js";

const KEY = "sk-test-PRIVACY-0123456789abcdef";
const LABELS = ["bad", "good"];

test("Redactor: e-mail, phone, Luhn-valid card and mod-97-valid IBAN numbers and user patterns are replaced and counted; dates, prices and invalid card numbers are not", () => {
  const r = new Redactor(true);
  assert.equal(r.apply("write to jane.doe+x@mail.example.org today"), "write to [EMAIL] today");
  assert.equal(r.apply("call +44 20 7946 0958 or (555) 123-4567."), "call [PHONE] or [PHONE].");
  assert.equal(r.apply("card 4111 1111 1111 1111, not 4111-1111-1111-1112"), "card [CARD], not 4111-1111-1111-1112");
  // A checksum-invalid IBAN is not an IBAN; its long digit run is still caught as phone-like.
  assert.equal(r.apply("IBAN DE89 3704 0044 0532 0130 00; not DE00 3704 0044 0532 0130 00"), "IBAN [IBAN]; not DE00 [PHONE] 0130 00");
  assert.equal(r.apply("on 2024-01-05 at 10:30 it cost 19.99 (order 12345, v1.2.3)"), "on 2024-01-05 at 10:30 it cost 19.99 (order 12345, v1.2.3)");
  assert.deepEqual(r.counts, { email: 1, phone: 3, card: 1, iban: 1, patterns: 0, total: 6 });
  const only = new Redactor({ kinds: ["email"], patterns: ["ACME-\\d{4}"] });
  assert.equal(only.apply("ACME-1234 from a@b.io, tel 555 123 4567"), "[REDACTED] from [EMAIL], tel 555 123 4567");
  assert.deepEqual(only.counts, { email: 1, phone: 0, card: 0, iban: 0, patterns: 1, total: 2 });
  assert.throws(() => new Redactor({ patterns: ["(unclosed"] }, "teacher.redact"), /^TsdistillError: teacher\.redact\.patterns\[0\]: not a valid regular expression/);
});

test("ApiTeacher.messages: redaction from the config and from --redact/--redact-pattern, before the prompt is filled", () => {
  const base = { kind: "api" as const, baseURL: "http://127.0.0.1:9/v1", model: "m", labels: LABELS, apiKeyEnv: null, prompt: "Rate: {input}" };
  const plain = new ApiTeacher(base);
  assert.equal(plain.messages("mail x@y.org")[0].content, "Rate: mail x@y.org");
  assert.equal(plain.stats.redactions, undefined);
  const fromConfig = new ApiTeacher({ ...base, redact: { kinds: ["email"] } });
  assert.equal(fromConfig.messages("mail x@y.org, 555 123 4567")[0].content, "Rate: mail [EMAIL], 555 123 4567");
  const fromCli = new ApiTeacher({ ...base, redact: { kinds: ["email"] } }, { redact: { all: true, patterns: ["secret\\w*"] } });
  assert.equal(fromCli.messages("mail x@y.org, 555 123 4567, secretXYZ")[0].content, "Rate: mail [EMAIL], [PHONE], [REDACTED]");
  assert.equal(fromCli.stats.redactions!.total, 3);
});

/** The stand-in server: records every body it receives; the first attempt of texts holding "#3" gets a 500 that echoes the key. */
async function startStandIn() {
  const bodies: string[] = [];
  const tries = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const raw = Buffer.concat(chunks).toString("utf8");
      bodies.push(raw);
      const body = JSON.parse(raw) as { messages: { content: string }[]; top_logprobs: number };
      const text = body.messages[body.messages.length - 1].content;
      const n = (tries.get(text) ?? 0) + 1;
      tries.set(text, n);
      if (text.includes("#3") && n === 1) {
        res.writeHead(500, { "content-type": "application/json" });
        return void res.end(JSON.stringify({ error: { message: `upstream failed for ${req.headers.authorization}` } }));
      }
      const good = text.includes("great") ? 0.8 : 0.2;
      const top = [
        { token: " good", logprob: Math.log(good) },
        { token: " bad", logprob: Math.log(1 - good) },
      ].sort((a, b) => b.logprob - a.logprob);
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ choices: [{ index: 0, message: { role: "assistant", content: top[0].token }, logprobs: { content: [{ ...top[0], top_logprobs: top }] } }], usage: { prompt_tokens: 30, completion_tokens: 1 } }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/v1`, bodies, close: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))) };
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" }).map((f) => join(dir, f));
}

function assertNoKey(where: string, text: string): void {
  assert.ok(!text.includes(KEY), `${where} holds the API key`);
  assert.ok(!text.includes(KEY.slice(3, 20)), `${where} holds part of the API key`);
}

test("label and distill with an api teacher against a local stand-in server: --dry-run sends and writes nothing; --redact strips PII before sending; the key is in no output, cache or run folder", { timeout: 300_000 }, async (t) => {
  const { dir, cleanup } = tempDir("tsdistill-privacy-");
  t.after(cleanup);
  const server = await startStandIn();
  t.after(server.close);
  const lines = Array.from({ length: 40 }, (_, i) =>
    JSON.stringify({ text: `review #${i}: ${i % 2 ? "great" : "awful"} food, reach me at guest${i}@example.com or +1 415 555 ${String(1000 + i)} ref ACME-${String(1000 + i)}`, label: i % 2 ? "good" : "bad" }),
  );
  const data = join(dir, "reviews.jsonl");
  writeFileSync(data, lines.join("\n") + "\n");
  const config = join(dir, "teacher.yaml");
  writeFileSync(config, [`kind: api`, `baseURL: ${server.url}`, `model: stand-in`, `apiKeyEnv: TSDISTILL_PRIVACY_KEY`, `labels: [${LABELS.join(", ")}]`, `maxRetries: 2`, `backoff: {baseMs: 5, maxMs: 20}`, `pricing: {inputPerMTok: 0.15, outputPerMTok: 0.6}`].join("\n") + "\n");
  process.env.TSDISTILL_PRIVACY_KEY = KEY;
  const common = ["--teacher", config, "--data", `jsonl:${data}?buckets=64`, "--validation-size", "4", "--seed", "3"];

  // --dry-run: the request bodies and the estimate, redacted; no request, no folder.
  const cache = join(dir, "cache");
  const dry = await runCli(["label", ...common, "--out", cache, "--dry-run", "--redact", "--redact-pattern", "ACME-\\d+"]);
  assert.equal(dry.code, 0, dry.stderr);
  assert.equal(server.bodies.length, 0, "a dry run sends nothing");
  assert.equal(existsSync(cache), false, "a dry run writes nothing");
  const requests = Number(/would make (\d+) requests/.exec(dry.stdout)?.[1]);
  assert.ok(requests > 20, dry.stdout);
  assert.match(dry.stdout, /dry run: nothing was sent\. A real run would make \d+ requests to http:\/\/127\.0\.0\.1:\d+\/v1\/chat\/completions \(model stand-in\)/);
  assert.match(dry.stdout, /Authorization: Bearer <the key in \$TSDISTILL_PRIVACY_KEY, not shown>/);
  assert.match(dry.stdout, /\[EMAIL\]/);
  assert.match(dry.stdout, /Estimated cost: \$0\.00\d+ \(\$0\.0\d+ per 1,000 labels\)/);
  assert.ok(dry.stdout.includes(`Redactions: ${3 * requests} (email ${requests}, phone ${requests}, card 0, iban 0, patterns ${requests})`), dry.stdout);
  assert.doesNotMatch(dry.stdout, /@example\.com|ACME-1/);
  assertNoKey("dry-run stdout", dry.stdout + dry.stderr);

  // A real label run with --redact: the server never sees an address, a phone number or a pattern match.
  const labelled = await runCli(["label", ...common, "--out", cache, "--redact", "--redact-pattern", "ACME-\\d+", "--json"]);
  assert.equal(labelled.code, 0, labelled.stderr);
  assert.ok(server.bodies.length >= requests, `${server.bodies.length} requests`);
  for (const b of server.bodies) assert.doesNotMatch(b, /@example\.com|\+1 415|ACME-1/, "a text left the machine unredacted");
  assert.ok(server.bodies.some((b) => b.includes("[EMAIL]") && b.includes("[PHONE]") && b.includes("[REDACTED]")));
  const result = JSON.parse(labelled.stdout) as { teacherStats: { redactions: { total: number; email: number }; costUSD: number; retries: number } };
  assert.ok(result.teacherStats.retries >= 1, "the stand-in's 500 (which echoes the key) was retried");
  assert.ok(result.teacherStats.redactions.email >= requests, JSON.stringify(result.teacherStats.redactions));
  const stats = JSON.parse(readFileSync(join(cache, "teacher-stats.json"), "utf8")) as { redactions: { email: number } };
  assert.equal(stats.redactions.email, result.teacherStats.redactions.email);
  assert.match(labelled.stderr, /retry 1 of a request/);
  assertNoKey("label stdout/stderr", labelled.stdout + labelled.stderr);

  // distill straight from the api teacher: its run folder records the stats, never the key.
  const runDir = join(dir, "run");
  const distilled = await runCli(["distill", ...common, "--student", "mlp:8", "--epochs", "1", "--out", runDir, "--redact"]);
  assert.equal(distilled.code, 0, distilled.stderr);
  const results = JSON.parse(readFileSync(join(runDir, "results.json"), "utf8")) as { teacherStats: Record<string, { redactions: { total: number } }> | { redactions: { total: number } } };
  assert.ok(JSON.stringify(results.teacherStats).includes('"redactions"'), JSON.stringify(results.teacherStats));
  assertNoKey("distill stdout/stderr", distilled.stdout + distilled.stderr);
  for (const f of [...filesUnder(cache), ...filesUnder(runDir)]) if (statSync(f).isFile()) assertNoKey(f, readFileSync(f).toString("latin1"));
});
