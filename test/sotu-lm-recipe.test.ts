// recipes/sotu-lm.yaml --quick through the CLI: the teacher trained (then reused from the teacher store), exported to
// ONNX and used through the ONNX teacher path; one row per method at equal student steps; the table's columns.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { runCli, tempDir } from "./helpers.js";

test("tsdistill run recipes/sotu-lm.yaml --quick: seven rows at equal steps, ONNX teacher, reused on the second run", { timeout: 600_000 }, async (t) => {
  const { dir, cleanup } = tempDir("tsdistill-sotu-lm-");
  t.after(cleanup);
  const teachers = join(dir, "teachers");
  const first = await runCli(["run", "recipes/sotu-lm.yaml", "--quick", "--out", join(dir, "a"), "--teachers", teachers, "--quiet"], 300_000);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /\| row \| held-out bits\/byte \| next-token agreement \| teacher NLL of 8 student samples \(nats\/token\) \| params \| ms\/token \| steps \|/);
  const res = JSON.parse(readFileSync(join(dir, "a", "results.json"), "utf8"));
  assert.deepEqual(res.rows.map((r: { method: string }) => r.method), ["alone", "kl", "reverse-kl", "jsd", "topk", "gkd", "seqkd"]);
  assert.equal(new Set(res.rows.map((r: { steps: number }) => r.steps)).size, 1, "every row takes the same student steps");
  assert.ok(res.teacher.params >= 4 * res.rows[0].params, `teacher ${res.teacher.params} params, student ${res.rows[0].params}: ≥ 4× smaller`);
  assert.equal(res.teacher.reused, false);
  assert.ok(res.teacher.onnx.endsWith("model.onnx") && existsSync(join(dir, "a", "teacher-onnx", "model.onnx")));
  assert.ok(res.teacher.bitsPerByte < res.rows[0].bitsPerByte, "the teacher beats the student alone on held-out text");
  for (const r of res.rows) assert.ok(Number.isFinite(r.bitsPerByte) && r.agreement >= 0 && r.agreement <= 1 && r.teacherNll.samples === 8 && r.msPerToken > 0, JSON.stringify(r));
  assert.equal(res.topKBytesPerToken, 20 * 2 + 20 * 2 + 2);

  const second = await runCli(["run", "recipes/sotu-lm.yaml", "--quick", "--out", join(dir, "b"), "--teachers", teachers, "--quiet", "--json"], 300_000);
  assert.equal(second.code, 0, second.stderr);
  const again = JSON.parse(second.stdout.trim().split("\n").pop()!);
  assert.equal(again.teacher.reused, true);
  assert.equal(again.teacher.bitsPerByte, res.teacher.bitsPerByte, "the reused teacher scores the same");
  assert.deepEqual(again.rows.map((r: { bitsPerByte: number }) => r.bitsPerByte), res.rows.map((r: { bitsPerByte: number }) => r.bitsPerByte), "same seed → same rows");
});
