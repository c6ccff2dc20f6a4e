// The README's claim, checked end to end through the CLI: `tsdistill demo --quick --json` distills a student
// that beats the same student trained alone (same seed, same images, same epochs). About 3 minutes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "./helpers.js";

test("demo --quick --json: the distilled student beats the student trained alone", { timeout: 600_000 }, (t) => {
  const { dir, cleanup } = tempDir();
  try {
    const out = join(dir, "run");
    const r = spawnSync(process.execPath, ["bin/tsdistill.js", "demo", "--quick", "--json", "--quiet", "--out", out], { encoding: "utf8" });
    assert.equal(r.status, 0, `exit ${r.status}\n${r.stderr}`);
    const lines = r.stdout.trim().split("\n");
    assert.equal(lines.length, 1, "one JSON object on stdout");
    const res = JSON.parse(lines[0]);
    for (const k of ["teacher", "studentAlone", "distilled"]) {
      for (const f of ["accuracy", "errors", "params"]) assert.equal(typeof res[k][f], "number", `${k}.${f}`);
    }
    t.diagnostic(`errors: teacher ${res.teacher.errors}, alone ${res.studentAlone.errors}, distilled ${res.distilled.errors}; gap closed ${res.gapClosed}; ${res.seconds.toFixed(0)} s`);
    assert.ok(res.teacher.errors < res.studentAlone.errors, "the teacher is better than the student alone");
    assert.ok(res.distilled.errors < res.studentAlone.errors, `distilled (${res.distilled.errors} errors) beats alone (${res.studentAlone.errors})`);
    assert.ok(res.gapClosed > 0);
    assert.ok(res.distilled.agreementWithTeacher > res.studentAlone.agreementWithTeacher, "distillation brings the student closer to its teacher");
    assert.equal(res.distilled.params, res.studentAlone.params);
    for (const f of ["config.json", "metrics.json", "results.json", "teacher/model.json", "student-alone/model.json", "student/model.json"]) {
      assert.ok(existsSync(join(out, f)), `run folder has ${f}`);
    }
  } finally {
    cleanup();
  }
});
