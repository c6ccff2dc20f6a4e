// The causal-LM commands end to end through bin/tsdistill.js: train on a text: corpus, generate, eval against a
// teacher, label (top-k and generation caches, resumable), distill with several methods, the tokenizer check.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCli, tempDir } from "./helpers.js";

function corpus(dir: string): string {
  const words = "the people of the union ask congress for peace and work while the nation grows".split(" ");
  let s = 7;
  const next = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
  const docs = Array.from({ length: 10 }, (_, d) => `Address ${d}. ` + Array.from({ length: 60 }, () => words[Math.floor(next() * words.length)]).join(" ") + ".");
  const file = join(dir, "corpus.txt");
  writeFileSync(file, docs.join("\n\n"));
  return file;
}

const json = (stdout: string) => JSON.parse(stdout.trim().split("\n").pop()!) as Record<string, any>;

test("causal LM CLI: train, generate, eval, label (top-k + generations), distill (kl, topk, seqkd), tokenizer check", { timeout: 600_000 }, async (t) => {
  const { dir, cleanup } = tempDir("tsdistill-lm-cli-");
  t.after(cleanup);
  const data = `text:${corpus(dir)}?ctx=16&holdout=0.2&validation=0.1`;
  const common = ["--data", data, "--epochs", "1", "--batch-size", "16", "--quiet", "--json"];

  const trained = await runCli(["train", "--model", "transformer:layers=1,dim=16,heads=2,causal,tie", ...common, "--out", join(dir, "teacher")]);
  assert.equal(trained.code, 0, trained.stderr);
  const tr = json(trained.stdout);
  assert.equal(tr.kind, "lm");
  assert.ok(tr.bitsPerByte > 0 && Number.isFinite(tr.bitsPerByte) && tr.perplexity > 1 && tr.msPerToken > 0, trained.stdout);
  const teacher = join(dir, "teacher", "model");
  assert.equal(JSON.parse(readFileSync(join(teacher, "tokenizer.json"), "utf8")).kind, "byte");

  const gen = (seed: string, temperature = "1") => runCli(["generate", "--model", teacher, "--prompt", "the people", "--max-tokens", "12", "--seed", seed, "--temperature", temperature, "--json"]);
  const [g1, g2, g3] = [await gen("3"), await gen("3"), await gen("4")];
  assert.equal(g1.code, 0, g1.stderr);
  assert.equal(json(g1.stdout).continuation, json(g2.stdout).continuation, "same seed, same text");
  assert.ok(json(g1.stdout).tokens >= 1 && json(g1.stdout).tokens <= 12);
  assert.equal(json(g1.stdout).prompt, "the people");
  assert.ok(json(g3.stdout).continuation !== json(g1.stdout).continuation || json(g3.stdout).tokens !== json(g1.stdout).tokens, "another seed samples another continuation");
  const noPrompt = await runCli(["generate", "--model", teacher]);
  assert.equal(noPrompt.code, 2);
  assert.match(noPrompt.stderr, /--prompt TEXT is required/);

  // A model agrees with itself on every next token; the eval reads the corpus recorded in the model folder.
  const ev = await runCli(["eval", "--model", teacher, "--teacher", teacher, "--samples", "4", "--max-tokens", "8", "--json", "--quiet"]);
  assert.equal(ev.code, 0, ev.stderr);
  const e = json(ev.stdout);
  assert.equal(e.agreement, 1);
  assert.equal(e.teacherNll.samples, 4);
  assert.ok(Math.abs(e.bitsPerByte - tr.bitsPerByte) < 1e-9, "eval reproduces train's held-out bits/byte");

  const topk = join(dir, "topk");
  const lab = await runCli(["label", "--teacher", teacher, "--data", data, "--top-k", "8", "--out", topk, "--json", "--quiet"]);
  assert.equal(lab.code, 0, lab.stderr);
  assert.equal(json(lab.stdout).bytesPerToken, 8 * 2 + 8 * 2 + 2, "u16 ids + f16 log-probs + f16 tail mass");
  const manifest = readFileSync(join(topk, "manifest.json"), "utf8");
  const again = await runCli(["label", "--teacher", teacher, "--data", data, "--top-k", "8", "--out", topk, "--quiet"]);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /34 bytes\/token/);
  assert.equal(readFileSync(join(topk, "manifest.json"), "utf8"), manifest, "a complete cache is kept as it is");
  const gens = join(dir, "gens");
  const lg = await runCli(["label", "--teacher", teacher, "--data", data, "--generations", "1", "--out", gens, "--json", "--quiet"]);
  assert.equal(lg.code, 0, lg.stderr);
  assert.equal(json(lg.stdout).prompts, tr.trainWindows);

  const student = ["--teacher", teacher, "--student", "transformer:layers=1,dim=8,heads=2,causal,tie", ...common, "--samples", "4", "--max-tokens", "8"];
  for (const [method, extra] of [["kl", []], ["topk", ["--topk-cache", topk]], ["seqkd", ["--generations", gens]]] as const) {
    const d = await runCli(["distill", ...student, "--method", method, ...extra, "--out", join(dir, `d-${method}`)]);
    assert.equal(d.code, 0, `${method}: ${d.stderr}`);
    const r = json(d.stdout);
    assert.equal(r.method, method);
    assert.equal(r.steps, tr.steps, `${method}: the same steps as the teacher's training on the same windows`);
    assert.ok(r.agreement >= 0 && r.agreement <= 1 && r.teacherNll.samples === 4 && r.params < tr.params, d.stdout);
  }

  // report: the LM rows of results.json and the model re-evaluated against the run's teacher.
  const rep = await runCli(["report", "--run", join(dir, "d-kl"), "--json", "--quiet"]);
  assert.equal(rep.code, 0, rep.stderr);
  const report = JSON.parse(readFileSync(json(rep.stdout).json, "utf8"));
  const distilled = JSON.parse(readFileSync(join(dir, "d-kl", "results.json"), "utf8"));
  assert.equal(report.lm.rows[0].name, "student (kl)");
  assert.equal(report.lm.rows[0].bitsPerByte, distilled.bitsPerByte);
  assert.ok(Math.abs(report.lm.evaluation.bitsPerByte - distilled.bitsPerByte) < 1e-9 && report.lm.evaluation.agreement === distilled.agreement, "the same held-out numbers when evaluated again");
  assert.deepEqual(report.notes, []);
  assert.match(readFileSync(json(rep.stdout).html, "utf8"), /Language model \(held-out documents\)/);

  // Token-level KD across tokenizers is refused before training, naming both.
  const mismatch = await runCli(["distill", ...student, "--data", `${data}&tokenizer=bpe:300`, "--method", "kl", "--out", join(dir, "d-mismatch")]);
  assert.equal(mismatch.code, 1, mismatch.stderr);
  assert.match(mismatch.stderr, /token-level distillation needs one vocabulary on both sides \(sequence-level KD works across tokenizers\): the teacher's vocabulary is byte tokenizer, 260 tokens, the student's huggingface tokenizer, \d+ tokens/);
  assert.equal(mismatch.stderr.trim().split("\n").length, 1, mismatch.stderr);
});
