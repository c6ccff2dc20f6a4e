// An exported student loads with tf.loadLayersModel in a real browser (Debian's Chromium, driven by
// playwright-core) and predicts the same class as Node for fixed inputs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { useBackend } from "../src/engine/backend.js";
import { SequentialModel } from "../src/students/model.js";
import { modelConfigFromSpec } from "../src/students/spec.js";
import { saveModel } from "../src/students/io.js";
import { Rng } from "../src/util/rng.js";
import { tempDir } from "./helpers.js";
import { needsChromium } from "./prerequisites.js";
import { openPage, serveFiles, TFJS_BUNDLE } from "./browser-page.js";

await useBackend("wasm");

test("the exported TF.js student predicts the same classes in Chromium as in Node", { skip: needsChromium, timeout: 120_000 }, async () => {
  const { dir, cleanup } = tempDir();
  const model = new SequentialModel(modelConfigFromSpec("cnn:conv4k3-pool-dense16", { inputShape: [28, 28, 1], numClasses: 10, dropout: 0.2 }), 11);
  const modelDir = join(dir, "student");
  await saveModel(model, modelDir);
  const rng = new Rng(5);
  const n = 8;
  const x = Array.from({ length: n * 784 }, () => rng.next());
  const node = tf.tidy(() => Array.from(model.predict(tf.tensor(x, [n, 28, 28, 1])).dataSync()));
  model.dispose();
  const page = `<!doctype html><meta charset="utf-8"><script src="/tf.min.js"></script><script>
    (async () => {
      try {
        await tf.setBackend("cpu");
        const m = await tf.loadLayersModel("/model/model.json");
        const x = ${JSON.stringify(x)};
        const y = m.predict(tf.tensor(x, [${n}, 28, 28, 1]));
        window.__result = Array.from(await y.data());
      } catch (e) { window.__error = String(e && e.stack || e); }
      window.__ready = true;
    })();
  </script>`;
  // The page sets __ready once it has a result or an error.
  const { page: p, errors, close } = await openPage(await serveFiles(page, { roots: { "/model/": `${modelDir}/` }, files: { "/tf.min.js": readFileSync(TFJS_BUNDLE) } }));
  try {
    const { result, error } = await p.evaluate(() => ({ result: (window as unknown as { __result?: number[] }).__result, error: (window as unknown as { __error?: string }).__error }));
    assert.equal(error, undefined, `page error: ${error}`);
    assert.deepEqual(errors, [], "no console errors");
    assert.equal(result!.length, node.length);
    let maxDiff = 0;
    for (let i = 0; i < node.length; i++) maxDiff = Math.max(maxDiff, Math.abs(result![i] - node[i]));
    const argmax = (v: number[], r: number) => v.slice(r * 10, r * 10 + 10).reduce((b, val, c, row) => (val > row[b] ? c : b), 0);
    for (let r = 0; r < n; r++) assert.equal(argmax(result!, r), argmax(node, r), `sample ${r}: same class in the browser`);
    assert.ok(maxDiff < 1e-4, `max |browser − node| ${maxDiff}`);
  } finally {
    await close();
    cleanup();
  }
});
