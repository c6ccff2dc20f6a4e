// `tsdistill export`: ONNX (float and int8, checked in onnxruntime-node by the command itself) and TF.js.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { useBackend } from "../src/engine/backend.js";
import { SequentialModel } from "../src/students/model.js";
import { modelConfigFromSpec } from "../src/students/spec.js";
import { saveModel } from "../src/students/io.js";
import { tempDir } from "./helpers.js";

await useBackend("wasm");
const cli = (...args: string[]) => spawnSync(process.execPath, ["bin/tsdistill.js", ...args], { encoding: "utf8" });

test("export: ONNX float and int8 are checked against TF.js; TF.js export loads back; bad input is one line", async () => {
  const { dir, cleanup } = tempDir();
  try {
    const model = new SequentialModel(modelConfigFromSpec("cnn:conv4k3-pool-dense16", { inputShape: [28, 28, 1], numClasses: 10, dropout: 0.2 }), 5);
    const modelDir = join(dir, "student");
    await saveModel(model, modelDir);
    model.dispose();

    const f = cli("export", "--model", modelDir, "--out", join(dir, "s.onnx"), "--check", "300", "--json");
    assert.equal(f.status, 0, f.stderr);
    const fr = JSON.parse(f.stdout);
    assert.equal(fr.checked, 300);
    assert.ok(fr.maxAbsDiff <= 1e-4, `max |diff| ${fr.maxAbsDiff}`);
    assert.equal(fr.agreement, 1);

    const q = cli("export", "--model", modelDir, "--int8", "--out", join(dir, "s8.onnx"), "--check", "300", "--json");
    assert.equal(q.status, 0, q.stderr);
    const qr = JSON.parse(q.stdout);
    assert.ok(statSync(join(dir, "s8.onnx")).size < statSync(join(dir, "s.onnx")).size, "int8 file is smaller");
    assert.ok(qr.agreement >= 0.95, `int8 agreement ${qr.agreement}`);
    assert.equal(typeof qr.sizeReduction, "number");

    const t = cli("export", "--model", modelDir, "--format", "tfjs", "--out", join(dir, "tfjs"), "--json");
    assert.equal(t.status, 0, t.stderr);
    assert.ok(existsSync(join(dir, "tfjs", "model.json")) && existsSync(join(dir, "tfjs", "weights.bin")));

    const t8 = cli("export", "--model", modelDir, "--format", "tfjs", "--int8", "--out", join(dir, "tfjs8"), "--check", "300", "--json");
    assert.equal(t8.status, 0, t8.stderr);
    const t8r = JSON.parse(t8.stdout);
    assert.ok(t8r.sizeReduction > 2.5, `uint8 TF.js weights are smaller: ${t8r.sizeReduction}`);
    assert.ok(t8r.agreement >= 0.95, `uint8 TF.js agreement ${t8r.agreement}`);

    for (const [args, mention] of [
      [["export", "--model", join(dir, "missing")], "model.json"],
      [["export", "--model", modelDir, "--format", "pb"], "--format"],
    ] as const) {
      const r = cli(...args);
      assert.notEqual(r.status, 0);
      const lines = r.stderr.trim().split("\n");
      assert.equal(lines.length, 1, r.stderr);
      assert.ok(lines[0].includes(mention), `${lines[0]} mentions ${mention}`);
    }
  } finally {
    cleanup();
  }
});
