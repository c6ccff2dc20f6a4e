// USE-lite through the CLI: `tsdistill run recipes/use-embeddings.yaml --quick` (static tables, a refined table, a
// trained bag student, fine-tune-then-distil classifiers; one table), `distill --task embedding` and `eval` on
// embedding students and classifiers. Real teacher (USE-lite from npm, offline), real data (Debian fortunes).
// The --quick run is made once and shared with the last test: bench/embeddings-browser.ts's measurement of
// its students at a tiny sample count, in Chromium and in Node (was test/embeddings-browser-bench.test.ts).
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { FORTUNES_DIR } from "../src/data/fortunes.js";
import { loadNativeAddon } from "../src/engine/native-addon.js";
import { parseEmbeddingRecipe, checkEmbeddingRecipe } from "../src/experiments/embedding-recipe.js";
import { withoutRows } from "../src/experiments/embedding-run-classifier.js";
import { parseStudentSpec } from "../src/cli/commands/embedding.js";
import { parse as parseYaml } from "yaml";
import { runCli, tempDir } from "./helpers.js";
import { needsChromium } from "./prerequisites.js";
import { measureEmbeddingsBrowser } from "../bench/embeddings-browser-measure.js";

const NO_FORTUNES = existsSync(join(FORTUNES_DIR, "computers")) ? false : `${FORTUNES_DIR} missing (apt-get install fortunes fortunes-min)`;

interface Row { model: string; role: string; params: number; mb: number; smaller: number; faster: number; cosine: number | null; nn10: number | null; accuracy: number; accuracies: number[]; retention: number; dir: string | null }

test("classifier.students unlabeled: false: the transfer set loses exactly the unlabeled rows, logits and labels aligned", () => {
  // 2 training quotes, 3 unlabeled, 1 augmented copy; 2 classes; logit = 10·row + class.
  const texts = ["t0", "t1", "u0", "u1", "u2", "a0"];
  const logits = Float32Array.from({ length: 12 }, (_, j) => 10 * Math.floor(j / 2) + (j % 2));
  const labels = Int32Array.from([1, 0, -1, -1, -1, -1]);
  const kept = withoutRows(2, 3, 2, { texts, logits, labels });
  assert.deepEqual(kept.texts, ["t0", "t1", "a0"]);
  assert.deepEqual([...kept.logits], [0, 1, 10, 11, 50, 51]);
  assert.deepEqual([...kept.labels], [1, 0, -1]);
});

test("use-embeddings recipe: schema errors name the field; cross-section widths are checked", () => {
  const base = { kind: "embedding", static: { dims: [64] } };
  assert.throws(() => parseEmbeddingRecipe({ ...base, data: { perCategory: 0 } }, "r.yaml"), /r\.yaml.*data\.perCategory/);
  assert.throws(() => parseEmbeddingRecipe({ ...base, students: [{ kind: "lstm", name: "x" }] }, "r.yaml"), /r\.yaml.*students/);
  assert.throws(() => parseEmbeddingRecipe({ ...base, bogus: 1 }, "r.yaml"), /r\.yaml.*bogus/);
  assert.throws(() => parseEmbeddingRecipe(base, "r.yaml", { quick: true }), /no quick section/);
  const r = parseEmbeddingRecipe({ ...base, classifier: { students: [{ width: 128, epochs: 1 }] } }, "r.yaml");
  assert.throws(() => checkEmbeddingRecipe(r, "r.yaml"), /classifier\.students: width 128 is not among static\.dims \[64\]/);
  const leaky = parseEmbeddingRecipe({ ...base, data: { splits: 3 }, static: { dims: [64], refine: { dims: [64], train: true } } }, "r.yaml");
  assert.throws(() => checkEmbeddingRecipe(leaky, "r.yaml"), /r\.yaml: data\.splits: 3 splits need static\.refine\.train false/);
  const ctx = parseEmbeddingRecipe({ ...base, static: { dims: [64], context: { dims: [96] } } }, "r.yaml");
  assert.throws(() => checkEmbeddingRecipe(ctx, "r.yaml"), /r\.yaml: static\.context\.dims: 96 is not among static\.dims \[64\]/);
  assert.throws(() => parseEmbeddingRecipe({ ...base, static: { dims: [64], context: { hidden: 0 } } }, "r.yaml"), /r\.yaml.*static\.context\.hidden/);
  assert.throws(() => parseEmbeddingRecipe({ ...base, static: { dims: [64], context: { backend: "gpu" } } }, "r.yaml"), /r\.yaml.*static\.context\.backend/);
  const ctxClassifier = parseEmbeddingRecipe({ ...base, classifier: { students: [{ width: 64, from: "context", epochs: 1 }] } }, "r.yaml");
  assert.throws(() => checkEmbeddingRecipe(ctxClassifier, "r.yaml"), /r\.yaml: classifier\.students: width 64 from: context needs 64 among static\.context\.dims \[\]/);
  assert.throws(() => parseEmbeddingRecipe({ ...base, static: { dims: [64], refine: { augment: { mask: 1 } } } }, "r.yaml"), /r\.yaml.*static\.refine\.augment\.mask/);
  const q = parseEmbeddingRecipe({ ...base, quick: { static: { dims: [32] }, data: { unlabeled: 10 } } }, "r.yaml", { quick: true });
  assert.deepEqual(q.static.dims, [32]);
  assert.equal(q.data.unlabeled, 10);
  assert.equal(q.data.perCategory, 150, "unmentioned fields keep the recipe's values");
  const full = parseEmbeddingRecipe(readYaml("recipes/use-embeddings.yaml"), "recipes/use-embeddings.yaml");
  checkEmbeddingRecipe(full, "recipes/use-embeddings.yaml");
  assert.deepEqual(full.static.dims, [64, 96, 128, 256]);
  assert.deepEqual(full.static.words, { minCount: 2, max: 3500 });
  assert.equal(full.probe.l2, "cv");
});

test("--student specs parse as kind:key=value,…", () => {
  assert.deepEqual(parseStudentSpec("static:d=128,refine=2"), { kind: "static", opts: { d: "128", refine: "2" } });
  assert.deepEqual(parseStudentSpec("bag"), { kind: "bag", opts: {} });
  assert.throws(() => parseStudentSpec("bag:width"), /expected key=value/);
});

const readYaml = (path: string): unknown => parseYaml(readFileSync(path, "utf8"));

// One `run recipes/use-embeddings.yaml --quick` for the two tests below, made by the first that needs it.
const quickTmp = tempDir();
after(quickTmp.cleanup);
let quickRun: Promise<{ code: number | null; stdout: string; stderr: string; seconds: number }> | undefined;
const runQuick = () =>
  (quickRun ??= (async () => {
    const started = performance.now();
    const r = await runCli(["run", "recipes/use-embeddings.yaml", "--quick", "--json", "--quiet", "--out", join(quickTmp.dir, "run")], 300_000);
    return { ...r, seconds: (performance.now() - started) / 1000 };
  })());

test("tsdistill run recipes/use-embeddings.yaml --quick: one table with static, trained, fine-tuned teacher and distilled classifier rows", { skip: NO_FORTUNES, timeout: 300_000 }, async (t) => {
  const r = await runQuick();
  assert.equal(r.code, 0, `exit ${r.code}: ${r.stderr.slice(-2000)}`);
  t.diagnostic(`quick recipe: ${r.seconds.toFixed(0)} s (machine shared)`);
  const res = JSON.parse(r.stdout) as { rows: Row[]; table: string; runDir: string; data: { labelled: number; test: number; splits: number; heldOut: number; unlabeled: number; onTopic: number; augmented: number; refineVariants: number } };
  const roles = res.rows.map((x) => x.role);
  for (const role of ["teacher", "static", "trained", "fine-tuned teacher", "distilled classifier", "classifier alone"]) assert.ok(roles.includes(role), `a ${role} row; got ${roles.join(", ")}`);
  const teacher = res.rows.find((x) => x.role === "teacher")!;
  assert.ok(teacher.accuracy > 1 / 6 + 0.1, `the teacher's probe beats chance on 6 categories: ${teacher.accuracy}`);
  assert.ok(teacher.mb > 25 && teacher.params > 6e6, "USE-lite's size is measured from its files");
  // Scored on 2 splits (quick: data.splits 2); nothing was refined on a labelled quote, so all of them are held out.
  assert.equal(res.data.splits, 2);
  assert.equal(res.data.heldOut, res.data.labelled);
  for (const row of res.rows) {
    assert.equal(row.accuracies.length, 2, `${row.model}: one accuracy per split`);
    assert.ok(Math.abs(row.accuracy - (row.accuracies[0] + row.accuracies[1]) / 2) < 1e-12, `${row.model}: accuracy is the splits' mean`);
  }
  for (const row of res.rows.filter((x) => x.role !== "teacher" && x.role !== "fine-tuned teacher")) {
    assert.ok(row.smaller > 5, `${row.model}: ${row.smaller.toFixed(1)}× smaller`);
    assert.ok(row.faster > 20, `${row.model}: ${row.faster.toFixed(0)}× faster per sentence`);
    assert.ok(row.accuracy >= 0 && row.accuracy <= 1 && Number.isFinite(row.retention), `${row.model}: accuracy ${row.accuracy}, retention ${row.retention}`);
    assert.ok(row.dir && existsSync(join(res.runDir, row.dir, "embeddings.safetensors")), `${row.model}: its folder is saved`);
  }
  for (const row of res.rows.filter((x) => x.role === "static")) assert.ok(row.cosine !== null && row.cosine > 0.1 && row.nn10! > 0.05, `${row.model}: cosine ${row.cosine}, NN@10 ${row.nn10}`);
  // The int8 copy of the refined d=64 table: stored as int8 (a third of the float32 folder's bytes or less) and probed as stored.
  const f32 = res.rows.find((x) => x.model === "static d=64, refined")!;
  const int8 = res.rows.find((x) => x.model === "static d=64, refined, int8")!;
  assert.ok(int8.mb < f32.mb / 2.5 && int8.dir === "static-64-refined-int8", `int8 ${int8.mb} MB vs float32 ${f32.mb} MB`);
  assert.match(readFileSync(join(res.runDir, int8.dir, "embeddings.safetensors")).subarray(0, 400).toString("latin1"), /"embeddings":\{"dtype":"I8"/);
  // The contextual d=64 table (static.context) and its int8 copy: the layer's weights saved beside the table.
  const ctx = res.rows.find((x) => x.model === "static d=64 + context")!;
  const ctx8 = res.rows.find((x) => x.model === "static d=64 + context, int8")!;
  assert.equal(ctx.role, "trained");
  const ctxConfig = JSON.parse(readFileSync(join(res.runDir, ctx.dir!, "config.json"), "utf8"));
  assert.equal(ctxConfig.context, 16);
  // static.context.backend: native trains the layer on the addon where it is built (else wasm); the run stays on wasm.
  assert.equal(ctxConfig.metadata.context.backend, loadNativeAddon() ? "native" : "wasm");
  assert.ok(ctx8.mb < ctx.mb / 2.5 && ctx8.cosine !== null && ctx8.cosine > 0.1, `context int8 ${ctx8.mb} MB vs ${ctx.mb} MB, cosine ${ctx8.cosine}`);
  // Whole words (static.words): up to 300 of them after USE's 8000 pieces, one table row each.
  const words = (JSON.parse(readFileSync(join(res.runDir, int8.dir, "tokenizer.json"), "utf8")) as { words?: string[] }).words ?? [];
  assert.ok(words.length > 20 && words.length <= 300, `${words.length} whole words`);
  assert.equal(JSON.parse(readFileSync(join(res.runDir, int8.dir, "config.json"), "utf8")).vocab, 8000 + words.length);
  assert.ok(res.data.onTopic === res.data.unlabeled && res.data.augmented > 0, `on-topic ${res.data.onTopic}, augmented ${res.data.augmented}`);
  // static.refine.augment (quick: 1 copy): a teacher-read variant of (nearly) every refinement quote joins the text.
  assert.ok(res.data.refineVariants > res.data.unlabeled * 0.8 && res.data.refineVariants <= res.data.unlabeled, `${res.data.refineVariants} refinement variants of ${res.data.unlabeled} quotes`);
  const ft = res.rows.find((x) => x.role === "fine-tuned teacher")!;
  const distilled = res.rows.find((x) => x.role === "distilled classifier")!;
  assert.ok(Math.abs(distilled.retention - distilled.accuracy / ft.accuracy) < 1e-9, "classifier retention is relative to the fine-tuned teacher");
  // A classifier student from the contextual table (classifier.students from: context): it keeps the layer.
  // unlabeled: false: distilled on the training quotes and their augmented copies only.
  const ctxClassifier = res.rows.find((x) => x.model === "classifier ← static-64 + context, distilled (training quotes + copies)")!;
  assert.equal(ctxClassifier?.dir, "classifier-64-context");
  const ctxClassifierConfig = JSON.parse(readFileSync(join(res.runDir, ctxClassifier.dir, "config.json"), "utf8"));
  assert.deepEqual([ctxClassifierConfig.context, ctxClassifierConfig.dim, ctxClassifierConfig.metadata.classifier.backend, ctxClassifierConfig.metadata.classifier.unlabeled], [16, 6, loadNativeAddon() ? "native" : "wasm", false]);
  assert.match(res.table, /\| USE-lite \(teacher\) \|/);
  assert.ok(existsSync(join(res.runDir, "results.json")));

  // The distilled classifier (the first split's) through `tsdistill eval`: its class logits scored directly, same
  // accuracy as the recipe's on the same split (same categories, per-category sample, seed and test share).
  const ev = await runCli(["eval", "--model", join(res.runDir, distilled.dir!), "--data", "fortunes:computers,food,law,love,politics,sports", "--per-category", "20", "--json", "--quiet"], 120_000);
  assert.equal(ev.code, 0, ev.stderr.slice(-1500));
  const e = JSON.parse(ev.stdout) as { metric: string; accuracy: number; test: number };
  assert.equal(e.metric, "classifier");
  assert.equal(e.test, res.data.test);
  assert.ok(Math.abs(e.accuracy - distilled.accuracies[0]) < 1e-9, `eval ${e.accuracy} vs recipe ${distilled.accuracies[0]}`);
});

test("tsdistill distill --task embedding (static, refined on fortunes) and eval against USE-lite; bad specs are one-line errors", { skip: NO_FORTUNES, timeout: 300_000 }, async (t) => {
  const tmp = tempDir();
  t.after(tmp.cleanup);
  const out = join(tmp.dir, "s32");
  const d = await runCli(["distill", "--task", "embedding", "--teacher", "use-lite", "--student", "static:d=32,refine=1", "--data", "fortunes:computers,food", "--max-texts", "40", "--max-tokens", "32", "--out", out, "--json", "--quiet"], 240_000);
  assert.equal(d.code, 0, d.stderr.slice(-1500));
  const res = JSON.parse(d.stdout) as { kind: string; dim: number; losses: number[]; texts: number };
  assert.equal(res.kind, "static");
  assert.equal(res.dim, 32);
  assert.equal(res.losses.length, 1);
  assert.equal(res.texts, 40);
  for (const f of ["config.json", "embeddings.safetensors", "tokenizer.json", "embed-runtime.mjs", "projection.safetensors"]) assert.ok(existsSync(join(out, f)), f);
  const ev = await runCli(["eval", "--model", out, "--teacher", "use-lite", "--data", "fortunes:computers,food", "--per-category", "25", "--max-tokens", "32", "--json", "--quiet"], 240_000);
  assert.equal(ev.code, 0, ev.stderr.slice(-1500));
  const e = JSON.parse(ev.stdout) as { metric: string; accuracy: number; teacherAccuracy: number; retention: number; cosine: number; nn10: number; speedup: number };
  assert.equal(e.metric, "probe");
  assert.ok(e.teacherAccuracy > 0.6, `teacher probe on 2 categories: ${e.teacherAccuracy}`);
  assert.ok(Math.abs(e.retention - e.accuracy / e.teacherAccuracy) < 1e-9);
  assert.ok(e.cosine > 0.1 && e.nn10 > 0, `cosine ${e.cosine} (PCA space), NN@10 ${e.nn10}`);
  assert.ok(e.speedup > 20, `${e.speedup}× faster`);

  const bad = await runCli(["distill", "--task", "embedding", "--teacher", "use-lite", "--student", "static:width=3", "--out", join(tmp.dir, "x")]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^tsdistill: error: --student: static takes d, sif, refine; got "width"\n$/);
  const noData = await runCli(["distill", "--task", "embedding", "--teacher", "use-lite", "--student", "bag:width=8", "--out", join(tmp.dir, "y")]);
  assert.equal(noData.code, 2);
  assert.match(noData.stderr, /--data is required for bag students/);
  assert.ok(!existsSync(join(tmp.dir, "x")) && !existsSync(join(tmp.dir, "y")), "nothing written for bad input");
});

// Every model (USE-lite, static tables, the bag student, the distilled classifier's ONNX export) is loaded and timed
// in Chromium and in Node, the numbers are finite, the page loads the bytes Node reads, and the page's vectors are
// Node's (bit for bit for the JavaScript runtime, to float tolerance for TF.js wasm and onnxruntime-web).
test("embeddings in Chromium beside Node: every model of a --quick use-embeddings run loads, is timed, and embeds as in Node", { skip: NO_FORTUNES || needsChromium, timeout: 600_000 }, async () => {
  const r = await runQuick();
  assert.equal(r.code, 0, `exit ${r.code}: ${r.stderr.slice(-2000)}`);
  const b = await measureEmbeddingsBrowser(join(quickTmp.dir, "run"), { sentences: 6, throughputSeconds: 0.05, check: 4 });
  assert.equal(b.sentences, 6);
  assert.deepEqual(b.skipped, [], "every student of the run opens");
  const names = b.models.map((m) => m.name);
  for (const want of [/^USE-lite \(teacher\)$/, /^static d=32$/, /^static d=64$/, /^bag-32/, /^static d=64 \+ context(, int8)?$/, /^classifier ← static-64.*distilled \(ONNX\)$/]) {
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
