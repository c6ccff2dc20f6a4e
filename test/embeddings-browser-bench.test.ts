// bench/embeddings-browser.ts's measurement on the students of `tsdistill run recipes/use-embeddings.yaml --quick`
// at a tiny sample count: every model (USE-lite, static tables, the bag student, the distilled classifier's ONNX
// export) is loaded and timed in Chromium and in Node, the numbers are finite, the page loads the bytes Node reads,
// and the page's vectors are Node's (bit for bit for the JavaScript runtime, to float tolerance for TF.js wasm and
// onnxruntime-web). Real teacher (USE-lite from npm, offline), real data (Debian fortunes); nothing from the network.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { FORTUNES_DIR } from "../src/data/fortunes.js";
import { measureEmbeddingsBrowser } from "../bench/embeddings-browser-measure.js";
import { runCli, tempDir } from "./helpers.js";
import { needs, needsChromium } from "./prerequisites.js";

const skip = needsChromium || needs(existsSync(join(FORTUNES_DIR, "computers")), FORTUNES_DIR, "sudo apt-get install -y fortunes fortunes-min");

test("embeddings in Chromium beside Node: every model of a --quick use-embeddings run loads, is timed, and embeds as in Node", { skip, timeout: 600_000 }, async (t) => {
  const tmp = tempDir();
  t.after(tmp.cleanup);
  const runDir = join(tmp.dir, "run");
  const r = await runCli(["run", "recipes/use-embeddings.yaml", "--quick", "--json", "--quiet", "--out", runDir], 400_000);
  assert.equal(r.code, 0, `exit ${r.code}: ${r.stderr.slice(-2000)}`);
  const b = await measureEmbeddingsBrowser(runDir, { sentences: 6, throughputSeconds: 0.05, check: 4 });
  assert.equal(b.sentences, 6);
  assert.deepEqual(b.skipped, [], "every student of the run opens");
  const names = b.models.map((m) => m.name);
  for (const want of [/^USE-lite \(teacher\)$/, /^static d=32$/, /^static d=64$/, /^bag-32/, /^classifier ← static-64.*distilled \(ONNX\)$/]) {
    assert.ok(names.some((n) => want.test(n)), `a model matching ${want}; got ${names.join(", ")}`);
  }
  for (const m of b.models) {
    for (const [side, s] of [["Node", m.node], ["Chromium", m.chromium]] as const) {
      const what = `${m.name} in ${side}`;
      assert.ok(s.timing.msPerSentence > 0 && Number.isFinite(s.timing.msPerSentence), `${what}: ms/sentence ${s.timing.msPerSentence}`);
      assert.ok(s.timing.sentencesPerSecond > 0 && Number.isFinite(s.timing.sentencesPerSecond), `${what}: sentences/s ${s.timing.sentencesPerSecond}`);
      assert.equal(s.timing.samples, 6, `${what}: every sentence timed at batch 1`);
      assert.equal(s.timing.batchSize, 32);
      assert.ok(s.loadMs > 0 && Number.isFinite(s.loadMs), `${what}: load ${s.loadMs} ms`);
    }
    assert.equal(m.chromium.bytes, m.node.bytes, `${m.name}: the page loads the model files Node reads`);
    assert.ok(m.node.bytes > 1000, `${m.name}: ${m.node.bytes} bytes`);
    // The JavaScript runtime is the same code on both sides; TF.js wasm and onnxruntime agree to float rounding.
    const tol = m.kind === "runtime" ? 0 : m.kind === "onnx" ? 1e-5 : 1e-4;
    assert.ok(m.maxAbsDiff <= tol, `${m.name}: max |page − Node| ${m.maxAbsDiff} > ${tol}`);
  }
  const teacher = b.models.find((m) => m.kind === "use-lite")!;
  assert.ok(teacher.dim === 512 && teacher.node.bytes > 25e6, "USE-lite: 512-d vectors from its ~28 MB of files");
  assert.match(teacher.chromium.runs, /^TF\.js (wasm|cpu)/);
  assert.match(b.chromiumVersion, /^\d+\./);
});
