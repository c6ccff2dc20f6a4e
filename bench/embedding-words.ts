// Whole-word cap vs size and probe accuracy for the use-embeddings recipe's static tables: for each width d and
// word cap N (the N most frequent words of static.words' list), the static table, refined as the recipe refines
// it (unlabeled + training quotes, cosine, 8 epochs), stored int8, then MB (what a page loads) and the probe on the
// recipe's fixed split (seed 0) and on K other seeded splits (the refinement saw their test quotes' teacher vectors,
// never a label). Teacher vectors (texts and tokens) come from runs/embedding-cache, written by a full run of the
// recipe. Usage: K=4 nice -n 10 node --import tsx bench/embedding-words.ts 128:0,900 96:3000 [--size-only]
// U: the unlabeled quotes drawn as the recipe draws them (default 4000, the draw these numbers were measured with; the recipe now takes all: U=20000).
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { stratifiedSplit } from "../src/data/stratified-split.js";
import { useBackend } from "../src/engine/backend.js";
import { trainEmbeddingStudent } from "../src/distill/train-embedding.js";
import { distillStaticFromTeacher } from "../src/embeddings/distill-static.js";
import { bagEmbedder, loadEmbeddingModel, projectTeacher, saveEmbeddingModel } from "../src/embeddings/embedding-model.js";
import { frequentWords } from "../src/embeddings/words.js";
import { pickRows } from "../src/eval/embedding-metrics.js";
import { probeOnSplit } from "./embedding-bench-data.js";
import { inferenceBytes } from "../src/experiments/embedding-run.js";
import { loadEmbeddingData } from "../src/experiments/embedding-data.js";
import { openUseLite } from "../src/teachers/embedding/tfjs-embedding-teacher.js";
import type { SentencePieceTokenizer } from "../src/tokenizers/sentencepiece.js";

const K = Number(process.env.K ?? 4);
const sizeOnly = process.argv.includes("--size-only");
const specs = process.argv.slice(2).filter((a) => !a.startsWith("--")).map((a) => { const [d, ns] = a.split(":"); return { d: Number(d), ns: ns.split(",").map(Number) }; });
const cache = "runs/embedding-cache";
const out = process.env.OUT ?? "runs/words-bench";
const MAX_TOKENS = 128;
await useBackend("wasm"); // as `tsdistill run` trains the recipe's students
const data = loadEmbeddingData({ dir: "/usr/share/games/fortunes", categories: ["computers", "food", "law", "love", "politics", "sports"], perCategory: 150, unlabeled: Number(process.env.U ?? 4000), unlabeledFrom: "both" }, 0);
const L = data.labelled;
const C = L.classNames.length;
const split0 = stratifiedSplit(L.labels, 0.2, 0);
const trainTexts = Array.from(split0.train, (i) => L.texts[i]);
const teacher = await openUseLite({ maxTokens: MAX_TOKENS });
const prefix = `USE-lite-${(teacher.hash ?? "nohash").slice(0, 12)}`;
const hashOf = (texts: string[]) => createHash("sha256").update(JSON.stringify(texts)).digest("hex").slice(0, 16);
const f32 = (file: string) => new Float32Array(readFileSync(file).buffer.slice(0));
const tok = teacher.tokenizer as SentencePieceTokenizer;
const allWords = frequentWords([...data.unlabeled, ...trainTexts], tok, { minCount: 2, max: 5000 });
const tokenFile = join(cache, `${prefix}-tokens-${hashOf(allWords)}`);
if (!existsSync(`${tokenFile}.f32`)) throw new Error(`${tokenFile}.f32 missing: run recipes/use-embeddings.yaml once (it writes the cache)`);
const all = { vectors: f32(`${tokenFile}.f32`), embedded: JSON.parse(readFileSync(`${tokenFile}.json`, "utf8")) as boolean[] };
const D = teacher.dim;
const P = tok.vocabSize;
const tL = f32(join(cache, `${prefix}-${MAX_TOKENS}-${hashOf(L.texts)}.f32`));
const tU = f32(join(cache, `${prefix}-${MAX_TOKENS}-${hashOf(data.unlabeled)}.f32`));
const refineTexts = [...data.unlabeled, ...trainTexts];
const refineVectors = new Float32Array(refineTexts.length * D);
refineVectors.set(tU);
refineVectors.set(pickRows(tL, D, split0.train), tU.length);

const probe = (v: Float32Array, dim: number, seed: number) => probeOnSplit(L.labels, C, v, dim, seed);
const pct = (x: number) => (100 * x).toFixed(1);
console.log(`teacher probe: fixed ${pct(probe(tL, D, 0))}, other splits [${Array.from({ length: K }, (_, k) => pct(probe(tL, D, 100 + k))).join(" ")}]`);
for (const { d, ns } of specs) {
  for (const n of ns) {
    const words = allWords.slice(0, n);
    const V = P + words.length;
    const tokenVectors = { vectors: all.vectors.slice(0, V * D), embedded: all.embedded.slice(0, V) };
    const s = await distillStaticFromTeacher(teacher, { pcaDims: d, sifCoefficient: 1e-4, tokenVectors, words });
    const dir = join(out, `d${d}-w${n}`);
    let secs = 0;
    if (!sizeOnly) {
      const targets = projectTeacher(s.projection!, refineVectors, refineTexts.length);
      const res = await trainEmbeddingStudent(s.model, s.tokenizer, refineTexts, targets, { epochs: 8, batchSize: 64, optimizer: { lr: 1e-3 }, ctx: MAX_TOKENS, seed: 0 });
      secs = res.seconds;
    }
    await saveEmbeddingModel(s.model, dir, { tokenizer: s.tokenizer, projection: s.projection, quantize: "int8" });
    s.model.dispose();
    const mb = inferenceBytes(dir) / 1e6;
    if (sizeOnly) { console.log(`d=${d} words=${n}: ${mb.toFixed(3)} MB int8 (${(28.37 / mb).toFixed(1)}× smaller than 28.37 MB)`); continue; }
    const m = loadEmbeddingModel(dir);
    const v = bagEmbedder(m.model, m.tokenizer).embed(L.texts);
    m.model.dispose();
    const fixed = probe(v, d, 0);
    const others = Array.from({ length: K }, (_, k) => probe(v, d, 100 + k));
    const mean = others.reduce((a, b) => a + b, 0) / K;
    console.log(`d=${d} words=${n}: ${mb.toFixed(3)} MB int8 (${(28.37 / mb).toFixed(1)}×), refined ${secs.toFixed(0)} s; probe fixed ${pct(fixed)}, other splits ${pct(mean)} [${others.map(pct).join(" ")}]`);
  }
}
await teacher.close();
