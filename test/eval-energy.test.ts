// Energy and cost figures: process CPU time per 1,000 predictions for teacher and student, their ratio, the
// energy estimate at a stated (overridable) watts-per-core figure, and an API teacher's token cost per 1,000 labels.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { encodeIdx } from "../src/data/idx.js";
import { SequentialModel } from "../src/students/model.js";
import { modelConfigFromSpec } from "../src/students/spec.js";
import { saveModel } from "../src/students/io.js";
import { apiCostPer1000, DEFAULT_WATTS_PER_CORE, energyFigures, formatEnergy, measureCpu } from "../src/eval/energy.js";
import { runCli, tempDir } from "./helpers.js";

test("energyFigures: joules = CPU seconds × watts per core; the ratio is teacher / student CPU; remote teachers get no ratio", () => {
  const s = { predictions: 2000, cpuMs: 50, wallMs: 60, cpuMsPer1000: 25 };
  const t = { predictions: 2000, cpuMs: 400, wallMs: 300, cpuMsPer1000: 200 };
  const e = energyFigures(s, t, 5);
  assert.deepEqual(e.student, { cpuMsPer1000: 25, joulesPer1000: 0.125, remote: false });
  assert.deepEqual(e.teacher, { cpuMsPer1000: 200, joulesPer1000: 1, remote: false });
  assert.equal(e.cpuRatio, 8);
  assert.match(formatEnergy(e), /teacher 200\.0 ms CPU, 1\.000 J, student 25\.0 ms CPU, 0\.125 J; the teacher uses 8\.0× the student's CPU time \(energy = process CPU time × 5 W per busy core; --watts-per-core\)/);
  const remote = energyFigures(s, { ...t, remote: true }, 5, 0.42);
  assert.equal(remote.cpuRatio, null);
  assert.match(formatEnergy(remote), /this machine's share only.*API tokens \$0\.4200 per 1,000 labels/);
  assert.ok(Math.abs(apiCostPer1000({ costUSD: 0.021, labelled: 50 })! - 0.42) < 1e-12);
  assert.equal(apiCostPer1000({ costUSD: null, labelled: 50 }), null);
  assert.equal(DEFAULT_WATTS_PER_CORE, 5);
});

test("measureCpu counts this process's CPU time of busy work", () => {
  const { cpu } = measureCpu(1000, () => {
    // Busy until 50 ms of CPU time have passed (wall time would not do on a loaded machine).
    let x = 0;
    const start = process.cpuUsage();
    while (process.cpuUsage(start).user < 50_000) for (let i = 0; i < 1e4; i++) x += Math.sqrt(x + i);
    return x;
  });
  assert.ok(cpu.cpuMs >= 50 && cpu.cpuMs < 5000, `50 ms of busy CPU work measured as ${cpu.cpuMs} ms`);
  assert.equal(cpu.cpuMsPer1000, cpu.cpuMs);
});

test("eval --json --watts-per-core: CPU time per 1,000 predictions for teacher and student, ratio and energy", { timeout: 120_000 }, async (t) => {
  const { dir, cleanup } = tempDir("tsdistill-energy-");
  t.after(cleanup);
  const data = join(dir, "data");
  mkdirSync(data);
  for (const [split, n] of [["train", 20], ["t10k", 300]] as const) {
    writeFileSync(join(data, `${split}-images-idx3-ubyte`), encodeIdx("uint8", [n, 8, 8], Array.from({ length: n * 64 }, (_, i) => (i * 37 + (i >> 6) * 11) % 256)));
    writeFileSync(join(data, `${split}-labels-idx1-ubyte`), encodeIdx("uint8", [n], Array.from({ length: n }, (_, i) => (i * 7) % 10)));
  }
  const shape = { inputShape: [8, 8, 1], numClasses: 10 };
  for (const [name, spec] of [["teacher", "mlp:256-256"], ["student", "mlp:8"]] as const) {
    const m = new SequentialModel(modelConfigFromSpec(spec, shape), 1);
    await saveModel(m, join(dir, name), { spec });
    m.dispose();
  }
  const r = await runCli(["eval", "--model", join(dir, "student"), "--teacher", join(dir, "teacher"), "--data", `idx:${data}`, "--batch", "32", "--watts-per-core", "7", "--json"], 120_000);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { energy: ReturnType<typeof energyFigures>; student: { cpu: { predictions: number; cpuMsPer1000: number } }; teacher: { cpu: { cpuMsPer1000: number } } };
  const e = out.energy;
  assert.equal(e.wattsPerCore, 7);
  assert.equal(out.student.cpu.predictions, 300);
  for (const side of [e.student, e.teacher!]) {
    assert.ok(side.cpuMsPer1000 > 0, `CPU time measured: ${JSON.stringify(side)}`);
    assert.ok(Math.abs(side.joulesPer1000 - (side.cpuMsPer1000 / 1000) * 7) < 1e-12);
  }
  assert.equal(e.student.cpuMsPer1000, out.student.cpu.cpuMsPer1000);
  assert.ok(Math.abs(e.cpuRatio! - e.teacher!.cpuMsPer1000 / e.student.cpuMsPer1000) < 1e-12);
  const table = await runCli(["eval", "--model", join(dir, "student"), "--teacher", join(dir, "teacher"), "--data", `idx:${data}`, "--batch", "32"], 120_000);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /CPU time \/ 1,000 predictions/);
  assert.match(table.stdout, /per 1,000 predictions: teacher [\d.]+ ms CPU, [\d.]+ J, student [\d.]+ ms CPU, [\d.]+ J; the teacher uses [\d.]+× the student's CPU time \(energy = process CPU time × 5 W per busy core; --watts-per-core\)/);
  t.diagnostic(`teacher ${e.teacher!.cpuMsPer1000.toFixed(1)} ms CPU / 1,000, student ${e.student.cpuMsPer1000.toFixed(1)} ms, ratio ${e.cpuRatio!.toFixed(1)}× (loaded 2-core machine)`);
});
