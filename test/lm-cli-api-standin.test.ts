// The LM commands with an api-lm teacher, against a LOCAL OpenAI-protocol stand-in server (test/lm-standin-server.ts:
// node:http on 127.0.0.1 answering /v1/completions from a tsdistill LM in this process) with injected 429/500
// faults; no network and no remote model.
import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { useBackend } from "../src/engine/backend.js";
import { transformerConfigFromSpec } from "../src/students/spec.js";
import { TransformerModel } from "../src/students/transformer.js";
import { openLmTopKCache } from "../src/teachers/lm-topk-cache.js";
import { runCli, tempDir } from "./helpers.js";
import { PAD } from "./lm-fixtures.js";
import { startStandIn, type Fault } from "./lm-standin-server.js";

await useBackend("wasm", { fallback: false });

const CTX = 12;
// The served model scores each window with the token after it: ctx + 1 positions.
const served = new TransformerModel(transformerConfigFromSpec(`transformer:layers=1,dim=16,heads=2,ff=32,ctx=${CTX + 1},causal,tie,padId=${PAD}`), 5);

const json = (stdout: string) => JSON.parse(stdout.trim().split("\n").pop()!) as Record<string, any>;

test("label --top-k and distill --method gkd from an api-lm teacher (LOCAL stand-in server, injected 429/500 faults)", { timeout: 600_000 }, async (t) => {
  const { dir, cleanup } = tempDir("tsdistill-lm-api-");
  t.after(cleanup);
  writeFileSync(join(dir, "corpus.txt"), Array.from({ length: 6 }, (_, i) => `speech ${i}: we hold these truths ${"and more ".repeat(i + 2)}`).join("\n\n"));
  const data = `text:${join(dir, "corpus.txt")}?ctx=${CTX}&holdout=0.2&validation=0`;
  // Every prompt fails on its first attempt (429 or 500) and is answered on the retry.
  const fault = (prompt: string, attempt: number): Fault | null => (attempt === 0 ? { kind: "status", status: prompt.length % 2 ? 429 : 500, headers: { "retry-after": "0" } } : null);
  const clean = await startStandIn(served);
  const faulty = await startStandIn(served, { fault });
  t.after(async () => {
    await clean.close();
    await faulty.close();
  });
  process.env.LM_CLI_TEST_KEY = "sk-standin";
  const config = (name: string, url: string) => {
    const file = join(dir, `${name}.yaml`);
    writeFileSync(file, `kind: api-lm\nbaseURL: ${url}\nmodel: standin\napiKeyEnv: LM_CLI_TEST_KEY\ntokenizer: byte\ntopLogprobs: 5\ncontextLength: ${CTX + 1}\nbackoff: { baseMs: 2, maxMs: 20 }\n`);
    return file;
  };
  const [cleanCfg, faultyCfg] = [config("clean", clean.url), config("faulty", faulty.url)];

  const label = (cfg: string, out: string) => runCli(["label", "--teacher", cfg, "--data", data, "--top-k", "5", "--out", out, "--json", "--quiet"]);
  const a = await label(cleanCfg, join(dir, "topk-clean"));
  assert.equal(a.code, 0, a.stderr);
  const b = await label(faultyCfg, join(dir, "topk-faulty"));
  assert.equal(b.code, 0, b.stderr);
  assert.equal(json(b.stdout).bytesPerToken, 5 * 2 + 5 * 2 + 2);
  // The two endpoints differ (so do the teacher hashes stored in the caches); the top-k they hold must not.
  const entries = (d: string) => {
    const cache = openLmTopKCache(join(dir, d));
    const all = cache.gather(Int32Array.from({ length: cache.manifest.numWindows }, (_, i) => i));
    cache.close();
    return all;
  };
  assert.deepEqual(entries("topk-faulty"), entries("topk-clean"), "retried requests give the same top-k, log-probs and tail masses");
  assert.ok(faulty.log.some((l) => l.attempt === 1), "faults were injected and retried");

  const d = await runCli(["distill", "--teacher", faultyCfg, "--student", "transformer:layers=1,dim=8,heads=2,causal,tie", "--data", data, "--method", "gkd", "--lambda", "0.5", "--epochs", "1", "--batch-size", "4", "--samples", "2", "--prompt-tokens", "4", "--max-tokens", "4", "--json", "--quiet", "--out", join(dir, "gkd")]);
  assert.equal(d.code, 0, d.stderr);
  const r = json(d.stdout);
  assert.equal(r.method, "gkd");
  assert.ok(r.onPolicyBatches > 0 && r.onPolicyBatches < r.steps, `λ = 0.5: some batches on-policy (${r.onPolicyBatches} of ${r.steps})`);
  assert.ok(r.agreement >= 0 && r.agreement <= 1 && r.teacherNll.samples === 2, d.stdout);

  const kl = await runCli(["distill", "--teacher", cleanCfg, "--student", "transformer:layers=1,dim=8,heads=2,causal,tie", "--data", data, "--method", "kl", "--epochs", "1", "--quiet", "--out", join(dir, "kl")]);
  assert.equal(kl.code, 1);
  assert.match(kl.stderr, /token-kl needs the teacher's full logits; api:standin gives only its top 5 per token/);
});
