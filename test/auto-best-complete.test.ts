// `tsdistill auto` on tabular data: every trial model and <out>/best carry preprocess.json and the data spec, so
// best/ predicts from raw records, serves them, and evaluates and exports without --data like any other student.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { useBackend } from "../src/engine/backend.js";
import { runAutoSearch } from "../src/auto/search.js";
import { loadImageData } from "../src/data/sources.js";
import { loadStudent } from "../src/students/student.js";
import { createServer } from "../src/serve/server.js";
import { makeDeployFixture } from "./deploy-fixture.js";
import { runCli, tempDir } from "./helpers.js";

await useBackend("wasm");

test("auto's best student is complete: preprocess.json, data spec, raw predictions, serve, eval and export without --data", { timeout: 240_000 }, async () => {
  const { dir, cleanup } = tempDir("tsdistill-auto-best-");
  try {
    const fx = await makeDeployFixture(join(dir, "fx"));
    const out = join(dir, "search");
    const result = await runAutoSearch({
      teacher: fx.mixed, // a TF.js student of the same CSV serves as the teacher
      data: fx.mixedCsv,
      validationSize: 20,
      seed: 1,
      constraints: { maxParams: 2000 },
      objective: "accuracy",
      trials: 2,
      workers: 0,
      out,
      db: join(dir, "runs.db"),
      backend: "wasm",
      halving: { minEpochs: 1, maxEpochs: 2, eta: 2 },
      batchSize: 16,
      space: { mlpWidths: [4, 8], mlpMaxDepth: 1, cnnShare: 0, lrMin: 3e-3, lrMax: 1e-2 },
      latencySeconds: 0.02,
    });
    assert.ok(result.bestDir, "a best student");
    const best = result.bestDir!;
    const dataPre = JSON.parse(JSON.stringify(loadImageData(fx.mixedCsv).preprocess));
    assert.deepEqual(JSON.parse(readFileSync(join(best, "preprocess.json"), "utf8")), dataPre, "best/preprocess.json is the data's fitted preprocessing");
    for (const trial of readdirSync(join(out, "trials"))) {
      assert.deepEqual(JSON.parse(readFileSync(join(out, "trials", trial, "preprocess.json"), "utf8")), dataPre, `trial ${trial} carries preprocess.json`);
    }

    const s = await loadStudent(best);
    assert.equal(s.data, fx.mixedCsv, "the data spec is recorded");
    assert.equal(s.rawInput, "records");
    const preds = await s.predict(fx.records);
    assert.equal(preds.length, fx.records.length);
    s.dispose();

    const server = await createServer({ modelDir: best });
    const res = await server.app.request("/predict", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ records: fx.records }) });
    assert.equal(res.status, 200);
    const served = ((await res.json()) as { predictions: { class: number; probabilities: number[] }[] }).predictions;
    assert.deepEqual(served.map((p) => p.class), preds.map((p) => ("class" in p ? p.class : -1)));
    await server.predictor.close();

    const ev = await runCli(["eval", "--model", best, "--json"]);
    assert.equal(ev.code, 0, ev.stderr);
    const e = JSON.parse(ev.stdout);
    assert.equal(e.data, fx.mixedCsv);
    assert.equal(e.testSize, loadImageData(fx.mixedCsv).test.size);
    const ex = await runCli(["export", "--model", best, "--out", join(dir, "best.onnx"), "--json"]);
    assert.equal(ex.code, 0, ex.stderr);
    const x = JSON.parse(ex.stdout);
    assert.equal(x.agreement, 1);
    assert.deepEqual(x.shipped.map((p: string) => p.slice(dir.length)), ["/best.preprocess.json", "/best.preprocess.mjs", "/best.preprocess.d.mts"]);
  } finally {
    cleanup();
  }
});
