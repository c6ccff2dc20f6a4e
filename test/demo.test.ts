// The demo pipeline on a tiny budget: worker-thread training, the result's shape, the run folder, determinism.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { useBackend } from "../src/engine/backend.js";
import { DemoConfig, formatDemoTable, runMnistDemo, demoConfig } from "../src/demo/mnist-demo.js";
import { RunFolder } from "../src/run/run-folder.js";
import { tempDir } from "./helpers.js";

await useBackend("wasm");

const tiny = DemoConfig.parse({
  seed: 7,
  teacherTrainSize: 3000,
  trainSize: 1500,
  validationSize: 300,
  teacher: { spec: "mlp:96", dropout: 0.2, inputDropout: 0, jitter: 1, epochs: 2 },
  student: { spec: "mlp:24", epochs: 2 },
  temperature: 4,
  alpha: 0.1,
  batchSize: 32,
});

test("the demo trains teacher and student-alone in worker threads and matches the sequential run exactly", async () => {
  const { dir, cleanup } = tempDir();
  try {
    const run = RunFolder.create("demo", join(dir, "run"));
    const parallel = await runMnistDemo(tiny, { run, parallel: true });
    const runDir = run.finish();
    const sequential = await runMnistDemo(tiny, { parallel: false });
    for (const key of ["teacher", "studentAlone", "distilled"] as const) {
      for (const field of ["accuracy", "errors", "params", "agreementWithTeacher"] as const) {
        assert.equal(parallel[key][field], sequential[key][field], `${key}.${field} differs between parallel and sequential runs`);
      }
      assert.ok(parallel[key].accuracy > 0.3, `${key} learned something (accuracy ${parallel[key].accuracy})`);
      assert.equal(parallel[key].testSize, 10000);
      assert.ok(parallel[key].bytesOnDisk > parallel[key].params * 4, `${key} size on disk covers its float32 weights`);
      assert.ok(parallel[key].latencyMsBatch1 > 0);
    }
    assert.equal(parallel.teacher.agreementWithTeacher, 1);
    assert.equal(parallel.teacher.params, 784 * 96 + 96 + 96 * 10 + 10);
    assert.equal(parallel.distilled.params, 784 * 24 + 24 + 24 * 10 + 10);
    const gap = parallel.studentAlone.errors - parallel.teacher.errors;
    assert.equal(parallel.gapClosed, gap > 0 ? (parallel.studentAlone.errors - parallel.distilled.errors) / gap : null);
    for (const f of ["teacher/model.json", "teacher/weights.bin", "student-alone/model.json", "student/model.json", "student/weights.bin"]) {
      assert.ok(existsSync(join(runDir, f)), `run folder has ${f}`);
    }
    const table = formatDemoTable(parallel);
    assert.match(table, /teacher mlp:96/);
    assert.match(table, /Gap closed/);
  } finally {
    cleanup();
  }
});

test("demo configs: the default and --quick budgets", () => {
  const full = demoConfig(false);
  const quick = demoConfig(true);
  assert.equal(full.teacher.spec, "mlp:1200-1200");
  assert.equal(full.student.spec, "mlp:800-800");
  assert.equal(quick.student.spec, "mlp:800-800");
  assert.ok(quick.trainSize < full.trainSize || quick.student.epochs < full.student.epochs, "--quick is a smaller budget");
  assert.equal(demoConfig(true, 5).seed, 5);
});

test("metrics.json in a run folder records every epoch of every phase", async () => {
  const { dir, cleanup } = tempDir();
  try {
    const { recordingReporter } = await import("../src/cli/commands/common.js");
    const { ProgressReporter } = await import("../src/cli/progress.js");
    const run = RunFolder.create("demo", join(dir, "run2"));
    const reporter = recordingReporter(run, new ProgressReporter({ quiet: true }));
    await runMnistDemo({ ...tiny, student: { spec: "mlp:16", epochs: 1 }, teacher: { ...tiny.teacher, epochs: 1 } }, { run, reporter, parallel: true });
    const out = run.finish();
    const metrics = JSON.parse(readFileSync(join(out, "metrics.json"), "utf8"));
    assert.deepEqual(Object.keys(metrics).sort(), ["distilled", "student alone", "teacher"]);
    for (const phase of Object.values(metrics) as { epoch: number; loss: number; valAccuracy: number }[][]) {
      assert.equal(phase.length, 1);
      assert.ok(Number.isFinite(phase[0].loss) && phase[0].valAccuracy >= 0);
    }
  } finally {
    cleanup();
  }
});
