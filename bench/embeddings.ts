// USE-lite (the teacher) against embedding students distilled from it: static Model2Vec-style tables (d = 64, 128,
// 256; no training data), the d = 256 table refined on unlabeled text, a trained bag-of-embeddings student and a
// trained transformer student. One table: params, MB, ms/sentence (batch 1), sentences/s (batch 32), cosine to the
// teacher, top-10 nearest-neighbour overlap, linear-probe accuracy on Debian fortunes categories and SpamAssassin,
// and retention (% of the teacher's probe accuracy).
//
//   node --import tsx bench/embeddings.ts [--quick] [--out runs/bench-embeddings] [--epochs N] [--train-texts N]
//
// Everything TF.js runs on wasm: on this machine the native backend (BLAS products, the other kernels in plain
// JavaScript) was slower for every model here — USE-lite 280 vs 78 ms/sentence, a training step of the bag student
// 1.35 vs 0.69 s and of the transformer student 26 vs 8.2 s (B = 32, T = 128). Static and bag students embed through
// the dependency-free runtime (no TF.js). Teacher vectors are cached under --out.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { useBackend } from "../src/engine/backend.js";
import { DEFAULT_FORTUNE_CATEGORIES, fortuneCategories, FORTUNES_DIR, loadFortunes, parseFortunes } from "../src/data/fortunes.js";
import { readJsonlTexts } from "../src/data/jsonl-text.js";
import { stratifiedSplit } from "../src/data/stratified-split.js";
import { distillStaticFromTeacher } from "../src/embeddings/distill-static.js";
import { BagOfEmbeddingsModel, bagEmbedder, bagFromStatic, loadEmbeddingModel, projectTeacher, saveEmbeddingModel, type Embedder, type Projection } from "../src/embeddings/embedding-model.js";
import { trainEmbeddingStudent } from "../src/distill/train-embedding.js";
import type { TrainingReporter } from "../src/train/reporter.js";
import { openEmbedder } from "../src/embeddings/transformer-embedder.js";
import { bytesOnDisk } from "../src/eval/size.js";
import { linearProbe, meanCosine, neighbourOverlap, pickRows, timeEmbedding } from "../src/eval/embedding-metrics.js";
import { resolveTransformerConfig } from "../src/students/transformer-config.js";
import { saveTransformer } from "../src/students/transformer-io.js";
import { TransformerModel } from "../src/students/transformer.js";
import { embedAll } from "../src/teachers/embedding/embedding-teacher.js";
import { openUseLite, useLiteDir } from "../src/teachers/embedding/tfjs-embedding-teacher.js";
import { Rng } from "../src/util/rng.js";

const { values: args } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    out: { type: "string", default: "runs/bench-embeddings" },
    epochs: { type: "string" },
    "train-texts": { type: "string" },
    /** Reuse the models an earlier run saved under --out (and its cached teacher vectors): evaluation only. */
    "eval-only": { type: "boolean", default: false },
  },
});
const quick = args.quick!;
const evalOnly = args["eval-only"]!;
const out = args.out!;
const MAX_TOKENS = 128; // teacher input and student context, in USE tokens
const TRAIN_TEXTS = Number(args["train-texts"] ?? (quick ? 300 : 4000));
const EPOCHS = Number(args.epochs ?? (quick ? 2 : 8));
const PER_CATEGORY = quick ? 40 : 150;
// The transformer student reads the first 64 tokens (attention cost) and trains fewer epochs: a wasm step at
// B = 32, T = 128 took 8 s here.
const TRANSFORMER_CTX = 64;
const TRANSFORMER_EPOCHS = quick ? 1 : 3;
const SPAM = quick ? 200 : 800;
mkdirSync(join(out, "cache"), { recursive: true });
const log = (s: string) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${s}\n`);
/** Logs each epoch of a student's training (its ProgressEvents), prefixed with `what`. */
const epochLog = (what: string): TrainingReporter => ({ onEpoch: (e) => log(`${what} epoch ${e.epoch}: loss ${e.loss.toFixed(4)} (${e.metrics.seconds.toFixed(0)} s)`) });

// ---- data ---------------------------------------------------------------------------------------------------------
const fortunes = loadFortunes({ maxPerCategory: PER_CATEGORY, seed: 0 });
const spamAll = readJsonlTexts("runs/data/spam-assassin.jsonl");
const spamLabels = Int32Array.from(spamAll.labels, (l) => (l === "spam" ? 1 : 0));
const spamPick = stratifiedSplit(spamLabels, SPAM / spamLabels.length, 0).test; // a stratified sample
const trim = (t: string) => t.slice(0, 1000); // SpamAssassin messages: the first 1,000 characters
const spam = { texts: Array.from(spamPick, (i) => trim(spamAll.texts[i])), labels: Int32Array.from(spamPick, (i) => spamLabels[i]) };
const probeCats = new Set(DEFAULT_FORTUNE_CATEGORIES);
const pool = [
  ...fortuneCategories().filter((c) => !probeCats.has(c)).flatMap((c) => parseFortunes(readFileSync(join(FORTUNES_DIR, c), "utf8"))),
  ...spamAll.texts.filter((_, i) => !spamPick.includes(i)).map(trim),
].filter((t) => t.length >= 20);
const trainTexts = Array.from(new Rng(0, "bench-train-texts").permutation(pool.length).subarray(0, TRAIN_TEXTS), (i) => pool[i]);
const heldOut = [...fortunes.texts, ...spam.texts];
log(`data: ${fortunes.texts.length} fortunes in ${fortunes.classNames.length} categories, ${spam.texts.length} SpamAssassin messages, ${trainTexts.length} unlabeled training texts (of ${pool.length})`);

const hashOf = (texts: string[]) => createHash("sha256").update(JSON.stringify(texts)).digest("hex").slice(0, 16);

// ---- phase 1 (wasm): teacher vectors, teacher timing, static distillation -----------------------------------------
await useBackend("wasm");
const teacher = await openUseLite({ maxTokens: MAX_TOKENS });
async function teacherVectors(texts: string[], what: string): Promise<Float32Array> {
  const file = join(out, "cache", `use-lite-${teacher.hash.slice(0, 12)}-${MAX_TOKENS}-${hashOf(texts)}.f32`);
  if (existsSync(file)) return new Float32Array(readFileSync(file).buffer.slice(0));
  const start = performance.now();
  const v = await embedAll(teacher, texts, { batchSize: 32, onProgress: (d, n) => d % 640 === 0 && log(`  teacher ${what}: ${d}/${n}`) });
  log(`teacher ${what}: ${texts.length} texts in ${((performance.now() - start) / 1000).toFixed(0)} s`);
  writeFileSync(file, new Uint8Array(v.buffer));
  return v;
}
const teacherHeld = await teacherVectors(heldOut, "held-out");
const teacherTrain = await teacherVectors(trainTexts, "training");
const timingTexts = fortunes.texts.filter((_, i) => i % Math.ceil(fortunes.texts.length / 96) === 0);
log("timing the teacher");
const teacherTiming = await timeEmbedding((t) => teacher.embed(t), timingTexts, { maxSeconds: quick ? 10 : 40 });
const statics: { d: number; dir: string; projection: Projection | null; seconds: number }[] = [];
for (const d of evalOnly ? [] : [64, 128, 256]) {
  const r = await distillStaticFromTeacher(teacher, { pcaDims: d });
  const dir = join(out, `static-${d}`);
  await saveEmbeddingModel(r.model, dir, { tokenizer: r.tokenizer, projection: r.projection, metadata: { teacher: "use-lite", distill: r.info } });
  statics.push({ d, dir, projection: r.projection, seconds: r.info.seconds });
  log(`static d=${d}: ${r.info.seconds.toFixed(1)} s, PCA keeps ${(100 * r.info.explainedVariance!).toFixed(1)} % of the token vectors' variance`);
  r.model.dispose();
}
if (evalOnly) {
  for (const d of [64, 128, 256]) {
    const dir = join(out, `static-${d}`);
    const saved = loadEmbeddingModel(dir);
    statics.push({ d, dir, projection: saved.projection, seconds: ((saved.metadata.distill ?? {}) as { seconds?: number }).seconds ?? NaN });
    saved.model.dispose();
  }
}
const useTokenizer = teacher.tokenizer;
await teacher.close();

// ---- phase 2: refinement and trained students ------------------------------------------------------------
const trainBackend = await useBackend("wasm");
const trained: Record<string, { dir: string; seconds: number; losses: number[] }> = {};
if (evalOnly) {
  const prior = JSON.parse(readFileSync(join(out, "results.json"), "utf8")) as { training: { runs: Record<string, { seconds: number; losses: number[] }> } };
  const dirs: Record<string, string> = { "static-256-refined": "static-256-refined", "bag-128": "bag-128", "bag-128 ← static-128": "bag-128-from-static", "transformer-2x128": "transformer-2x128" };
  for (const [name, d] of Object.entries(dirs)) trained[name] = { dir: join(out, d), ...prior.training.runs[name] };
}
if (!evalOnly) {
  const { model, tokenizer, projection } = loadEmbeddingModel(statics[2].dir);
  const targets = projectTeacher(projection!, teacherTrain, trainTexts.length);
  const r = await trainEmbeddingStudent(model, tokenizer, trainTexts, targets, { epochs: Math.max(1, Math.round(EPOCHS / 2)), batchSize: 64, optimizer: { lr: 1e-3 }, ctx: MAX_TOKENS, seed: 0, reporter: epochLog("  refine static-256") });
  const dir = join(out, "static-256-refined");
  await saveEmbeddingModel(model, dir, { tokenizer, projection, metadata: { teacher: "use-lite", refined: { epochs: r.losses.length, losses: r.losses } } });
  trained["static-256-refined"] = { dir, seconds: r.seconds, losses: r.losses };
  model.dispose();
}
if (!evalOnly) {
  const model = new BagOfEmbeddingsModel({ kind: "bag", vocab: useTokenizer.vocabSize, width: 128, dim: 512, padId: useTokenizer.special.pad }, { seed: 0 });
  const r = await trainEmbeddingStudent(model, useTokenizer, trainTexts, teacherTrain, { epochs: EPOCHS, batchSize: 64, optimizer: { lr: 3e-3 }, ctx: MAX_TOKENS, seed: 0, terms: [{ loss: "cosine" }, { loss: "rkd-distance", weight: 1 }], reporter: epochLog("  bag") });
  const dir = join(out, "bag-128");
  await saveEmbeddingModel(model, dir, { tokenizer: useTokenizer, metadata: { teacher: "use-lite", trained: { epochs: EPOCHS, losses: r.losses } } });
  trained["bag-128"] = { dir, seconds: r.seconds, losses: r.losses };
  model.dispose();
}
if (!evalOnly) {
  const { model: st, projection } = loadEmbeddingModel(statics[1].dir);
  const model = bagFromStatic(st, projection!);
  st.dispose();
  const r = await trainEmbeddingStudent(model, useTokenizer, trainTexts, teacherTrain, { epochs: EPOCHS, batchSize: 64, optimizer: { lr: 1e-3 }, ctx: MAX_TOKENS, seed: 0, terms: [{ loss: "cosine" }, { loss: "rkd-distance", weight: 1 }], reporter: epochLog("  bag from static") });
  const dir = join(out, "bag-128-from-static");
  await saveEmbeddingModel(model, dir, { tokenizer: useTokenizer, metadata: { teacher: "use-lite", init: "static-128", trained: { epochs: EPOCHS, losses: r.losses } } });
  trained["bag-128 ← static-128"] = { dir, seconds: r.seconds, losses: r.losses };
  model.dispose();
}
if (!evalOnly) {
  const config = resolveTransformerConfig({ layers: 2, dim: 128, heads: 4, ff: 256, ctx: TRANSFORMER_CTX, head: "embed", embedDim: 512 }, { vocab: useTokenizer.vocabSize, padId: useTokenizer.special.pad });
  const model = new TransformerModel(config, 0);
  const r = await trainEmbeddingStudent(model, useTokenizer, trainTexts, teacherTrain, { epochs: TRANSFORMER_EPOCHS, batchSize: 32, optimizer: { lr: 1e-3 }, ctx: TRANSFORMER_CTX, seed: 0, terms: [{ loss: "cosine" }, { loss: "rkd-distance", weight: 1 }], reporter: epochLog("  transformer") });
  const dir = join(out, "transformer-2x128");
  await saveTransformer(model, dir, { tokenizer: useTokenizer, metadata: { teacher: "use-lite", embedding: { normalize: true, addBos: false }, trained: { epochs: TRANSFORMER_EPOCHS, losses: r.losses } } });
  trained["transformer-2x128"] = { dir, seconds: r.seconds, losses: r.losses };
  model.dispose();
}

// ---- phase 3: evaluation ------------------------------------------------------------------------------------------
const fortuneSplit = stratifiedSplit(fortunes.labels, 0.2, 0);
const spamSplit = stratifiedSplit(spam.labels, 0.2, 0);
const nF = fortunes.texts.length;
const probeEpochs = quick ? 30 : 100;
function probes(v: Float32Array, d: number): { fortunes: number; spam: number } {
  const f = pickRows(v, d, Int32Array.from({ length: nF }, (_, i) => i));
  const s = v.subarray(nF * d);
  const run = (x: Float32Array, y: Int32Array, split: { train: Int32Array; test: Int32Array }, classes: number) =>
    linearProbe({ x: pickRows(x, d, split.train), y: Int32Array.from(split.train, (i) => y[i]) }, { x: pickRows(x, d, split.test), y: Int32Array.from(split.test, (i) => y[i]) }, classes, { epochs: probeEpochs, seed: 0 }).testAccuracy;
  return { fortunes: run(f, fortunes.labels, fortuneSplit, fortunes.classNames.length), spam: run(s, spam.labels, spamSplit, 2) };
}

interface Row {
  model: string;
  params: number;
  mb: number;
  msPerSentence: number;
  sentencesPerSecond: number;
  timedOn: string;
  cosine: number | null;
  nn10: number;
  probeFortunes: number;
  probeSpam: number;
}
const rows: Row[] = [];
const teacherProbe = probes(teacherHeld, 512);
const teacherFiles = ["model.json", "vocab.json", ...readdirShards()].map((f) => bytesOnDisk(join(useLiteDir(), f))).reduce((a, b) => a + b, 0);
function readdirShards(): string[] {
  const json = JSON.parse(readFileSync(join(useLiteDir(), "model.json"), "utf8")) as { weightsManifest: { paths: string[] }[] };
  return json.weightsManifest.flatMap((g) => g.paths);
}
rows.push({ model: "USE-lite (teacher)", params: 6_975_914, mb: teacherFiles / 1e6, msPerSentence: teacherTiming.msPerSentence, sentencesPerSecond: teacherTiming.sentencesPerSecond, timedOn: "wasm", cosine: 1, nn10: 1, probeFortunes: teacherProbe.fortunes, probeSpam: teacherProbe.spam });

const inferenceFiles = (dir: string) => ["config.json", "embeddings.safetensors", "tokenizer.json"].map((f) => bytesOnDisk(join(dir, f))).reduce((a, b) => a + b, 0);
async function evaluate(name: string, dir: string, e: Embedder, projection: Projection | null, timedOn: string, mb: number): Promise<void> {
  const v = e.embed(heldOut);
  const d = e.dim;
  const t = projection ? projectTeacher(projection, teacherHeld, heldOut.length) : teacherHeld;
  const cosine = t.length === v.length ? meanCosine(v, t, heldOut.length) : null;
  const nn10 = neighbourOverlap(v.subarray(0, nF * d), teacherHeld.subarray(0, nF * 512), nF, 10);
  const p = probes(v, d);
  const timing = await timeEmbedding((x) => e.embed(x), timingTexts, { maxSeconds: quick ? 5 : 20 });
  rows.push({ model: name, params: e.paramCount, mb, msPerSentence: timing.msPerSentence, sentencesPerSecond: timing.sentencesPerSecond, timedOn, cosine, nn10, probeFortunes: p.fortunes, probeSpam: p.spam });
  log(`${name}: cos ${cosine?.toFixed(3)}, NN@10 ${nn10.toFixed(3)}, probe fortunes ${p.fortunes.toFixed(3)}, spam ${p.spam.toFixed(3)}, ${timing.msPerSentence.toFixed(3)} ms/sentence`);
}
for (const s of statics) {
  const { model, tokenizer } = loadEmbeddingModel(s.dir);
  await evaluate(`static d=${s.d}`, s.dir, bagEmbedder(model, tokenizer), s.projection, "runtime (JS)", inferenceFiles(s.dir) / 1e6);
  model.dispose();
}
for (const [name, t] of Object.entries(trained)) {
  if (name.startsWith("transformer")) continue;
  const { model, tokenizer, projection } = loadEmbeddingModel(t.dir);
  await evaluate(name, t.dir, bagEmbedder(model, tokenizer), projection, "runtime (JS)", inferenceFiles(t.dir) / 1e6);
  model.dispose();
}
{
  const t = trained["transformer-2x128"];
  const e = await openEmbedder(t.dir);
  await evaluate(`transformer 2×128 (ctx ${TRANSFORMER_CTX})`, t.dir, e, null, "tfjs wasm", bytesOnDisk(t.dir) / 1e6);
  e.dispose();
}

// ---- report -------------------------------------------------------------------------------------------------------
const pct = (x: number) => `${(100 * x).toFixed(1)}`;
const lines = [
  `| model | params | MB | ms/sentence (batch 1) | sentences/s (batch 32) | cos→teacher | NN@10 overlap | probe fortunes (${fortunes.classNames.length} cat.) | probe spam | retention fortunes | retention spam |`,
  "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
  ...rows.map((r) =>
    `| ${r.model} | ${(r.params / 1e6).toFixed(2)}M | ${r.mb.toFixed(2)} | ${r.msPerSentence.toFixed(3)} | ${r.sentencesPerSecond.toFixed(0)} | ${r.cosine === null ? "–" : r.cosine.toFixed(3)} | ${r.nn10.toFixed(3)} | ${pct(r.probeFortunes)} | ${pct(r.probeSpam)} | ${pct(r.probeFortunes / teacherProbe.fortunes)} % | ${pct(r.probeSpam / teacherProbe.spam)} % |`,
  ),
];
const summary = {
  date: new Date().toISOString(),
  quick,
  loadAverage: loadavg(),
  data: { fortunes: { categories: fortunes.classNames, texts: nF, split: { train: fortuneSplit.train.length, test: fortuneSplit.test.length } }, spam: { texts: spam.texts.length, split: { train: spamSplit.train.length, test: spamSplit.test.length }, chars: 1000 }, trainTexts: trainTexts.length, maxTokens: MAX_TOKENS },
  training: { backend: trainBackend, epochs: EPOCHS, transformer: { epochs: TRANSFORMER_EPOCHS, ctx: TRANSFORMER_CTX }, runs: Object.fromEntries(Object.entries(trained).map(([k, v]) => [k, { seconds: v.seconds, losses: v.losses }])) },
  statics: statics.map((s) => ({ d: s.d, seconds: s.seconds })),
  rows,
};
writeFileSync(join(out, "results.json"), JSON.stringify(summary, null, 2));
writeFileSync(join(out, "results.md"), lines.join("\n") + "\n");
console.log(lines.join("\n"));
log(`wrote ${join(out, "results.json")} and results.md (load average ${loadavg().map((x) => x.toFixed(1)).join(" ")})`);
