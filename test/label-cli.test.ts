// `tsdistill label` killed mid-run and run again gives the same files as an uninterrupted run; `distill
// --teacher-cache` and a `kind: cache` recipe then train without loading the teacher; stale caches are refused.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { useBackend } from "../src/engine/backend.js";
import { SequentialModel } from "../src/students/model.js";
import { modelConfigFromSpec } from "../src/students/spec.js";
import { saveModel } from "../src/students/io.js";
import { tempDir } from "./helpers.js";

await useBackend("wasm");
const cli = (...args: string[]) => spawnSync(process.execPath, ["bin/tsdistill.js", ...args], { encoding: "utf8" });

function cacheFiles(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const f of readdirSync(dir).sort()) {
    let text = readFileSync(join(dir, f)).toString("base64");
    if (f === "manifest.json") {
      const m = JSON.parse(readFileSync(join(dir, f), "utf8"));
      delete m.createdAt;
      text = JSON.stringify(m);
    }
    out.set(f, text);
  }
  return out;
}

test("label: killed mid-run then resumed gives the files of an uninterrupted run; distill runs from the cache alone", { timeout: 300_000 }, async () => {
  const { dir, cleanup } = tempDir();
  try {
    const teacherDir = join(dir, "teacher");
    const model = new SequentialModel(modelConfigFromSpec("mlp:1200-1200", { inputShape: [28, 28, 1], numClasses: 10 }), 3);
    await saveModel(model, teacherDir);
    model.dispose();
    // 12,000 of the 55,000 transfer images in 12 shards: enough shards left to kill the process between them.
    const args = (out: string) => ["label", "--teacher", teacherDir, "--out", out, "--train-size", "12000", "--shard-size", "1000", "--quiet", "--json"];

    const full = join(dir, "full");
    const r = cli(...args(full));
    assert.equal(r.status, 0, r.stderr);
    const res = JSON.parse(r.stdout);
    assert.equal(res.samples, 12000);
    assert.equal(res.shards, 12);

    const killed = join(dir, "killed");
    const child = spawn(process.execPath, ["bin/tsdistill.js", ...args(killed)], { stdio: "ignore" });
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        if (existsSync(killed) && readdirSync(killed).some((f) => f.startsWith("shard-"))) {
          clearInterval(timer);
          child.kill("SIGKILL");
          resolve();
        }
      }, 20);
      child.on("exit", () => {
        clearInterval(timer);
        reject(new Error("label finished before it could be killed"));
      });
    });
    await new Promise((res) => child.once("exit", res));
    assert.ok(!existsSync(join(killed, "manifest.json")), "the killed run left no final manifest");
    const again = cli(...args(killed));
    assert.equal(again.status, 0, again.stderr);
    const resumed = JSON.parse(again.stdout);
    assert.ok(resumed.shardsComputed < 12, `only the missing shards were computed (${resumed.shardsComputed})`);
    assert.deepEqual(cacheFiles(killed), cacheFiles(full), "same files as the uninterrupted run");

    // Distil from the cache alone (the teacher folder is removed first, so it cannot be loaded).
    spawnSync("rm", ["-rf", teacherDir]);
    const out = join(dir, "run");
    const d = cli("distill", "--teacher-cache", full, "--student", "mlp:16", "--epochs", "1", "--train-size", "12000", "--temperature", "4", "--alpha", "0.1", "--out", out, "--quiet", "--json");
    assert.equal(d.status, 0, d.stderr);
    const dres = JSON.parse(d.stdout);
    assert.equal(dres.teacherTestAccuracy, null);
    assert.equal(dres.agreementMeasuredOn, "transfer set (teacher cache)");
    assert.ok(dres.testAccuracy > 0 && dres.agreementWithTeacher > 0);

    const recipe = join(dir, "cache.yaml");
    writeFileSync(recipe, stringify({ name: "from-cache", teacher: { kind: "cache", path: full }, student: { spec: "mlp:16" }, data: { trainSize: 12000 }, training: { epochs: 1 }, loss: { terms: [{ loss: "kd" }, { loss: "ce", weight: 0.1 }] } }));
    const rr = cli("distill", "--config", recipe, "--out", join(dir, "run2"), "--quiet", "--json");
    assert.equal(rr.status, 0, rr.stderr);
    assert.equal(JSON.parse(rr.stdout).teacher, null);

    // A cache made for another transfer set is refused, naming the field.
    const stale = cli("distill", "--teacher-cache", full, "--student", "mlp:16", "--epochs", "1", "--train-size", "1000", "--out", join(dir, "run3"));
    assert.equal(stale.status, 1);
    assert.equal(stale.stderr.trim().split("\n").length, 1, stale.stderr);
    assert.match(stale.stderr, /stale|numSamples|dataset/);
    assert.ok(!existsSync(join(dir, "run3")));
  } finally {
    cleanup();
  }
});
