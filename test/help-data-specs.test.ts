import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { DATA_HELP, DATA_SPECS_HELP } from "../src/data/sources.js";
import { TRAIN_HELP } from "../src/cli/commands/train.js";
import { DISTILL_HELP } from "../src/cli/commands/distill.js";
import { EVAL_HELP } from "../src/cli/commands/eval.js";
import { LABEL_HELP } from "../src/cli/commands/label.js";
import { AUTO_HELP } from "../src/cli/commands/auto.js";
import { EXPORT_HELP } from "../src/cli/commands/export.js";
import { REPORT_HELP } from "../src/cli/commands/report.js";

// The kinds the loader's own error message names: "mnist" and every "kind:<…".
const kinds = ["mnist", ...[...DATA_HELP.matchAll(/"([a-z]+):</g)].map((m) => m[1])];

test("the shared data-spec help lists every kind the loader accepts, one line each", () => {
  assert.ok(kinds.length >= 6, `kinds from DATA_HELP: ${kinds.join(", ")}`);
  for (const kind of kinds) assert.match(DATA_SPECS_HELP, new RegExp(`^  ${kind}(:[A-Z]+)?(\\[\\?…\\])? {2,}`, "m"), `no line for ${kind}`);
});

test("every command that takes --data shows every data spec in its --help", () => {
  const helps = { train: TRAIN_HELP, distill: DISTILL_HELP, eval: EVAL_HELP, label: LABEL_HELP, auto: AUTO_HELP, export: EXPORT_HELP, report: REPORT_HELP };
  for (const [name, help] of Object.entries(helps)) {
    assert.ok(help.includes(DATA_SPECS_HELP), `${name} --help lacks the data specs`);
    assert.match(help, /^ {2}--data SPEC {12}/m, `${name} --help lacks --data`);
    assert.match(help, /^ {2}--label COL/m, `${name} --help lacks --label`);
  }
  // And no command file takes --data without the shared help: a new command must add it too.
  const dir = join("src", "cli", "commands");
  for (const file of readdirSync(dir)) {
    const source = readFileSync(join(dir, file), "utf8");
    if (file === "common.ts" || !/\.\.\.(DATA_OPTIONS|TRAINING_OPTIONS)\b/.test(source)) continue;
    // The language-model variants (--data text:…|sotu) list the corpus specs instead.
    if (file.startsWith("lm-")) {
      assert.match(source, /--data SPEC {12}\$\{LM_DATA_HELP\}/, `${file} takes --data but its help does not list the corpus specs`);
      continue;
    }
    assert.match(source, /\$\{DATA_SPECS_HELP\}/, `${file} takes --data but its help does not list the data specs`);
    assert.ok(file.replace(".ts", "") in helps, `${file} takes --data: add its help to this test`);
  }
});
