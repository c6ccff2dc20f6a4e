// Probe accuracy of saved embedding folders (and of teacher vectors in a .f32 cache file, 512-d) on the
// use-embeddings recipe's fixed split (seed 0) and on K other seeded 80/20 splits of its labelled quotes: mean ± sd,
// to tell real gains from one split's noise. Usage: K=4 node --import tsx bench/embedding-splits.ts DIR... [FILE.f32]
// Folders refined on the training quotes (static.refine.train) saw the other splits' test texts: not held out there.
import { readFileSync } from "node:fs";
import { loadEmbeddingData } from "../src/experiments/embedding-data.js";
import { probeOnSplit } from "./embedding-bench-data.js";
import { bagEmbedder, loadEmbeddingModel } from "../src/embeddings/embedding-model.js";
const K = Number(process.env.K ?? 6);
const d = loadEmbeddingData({ dir: "/usr/share/games/fortunes", categories: ["computers", "food", "law", "love", "politics", "sports"], perCategory: 150, unlabeled: 2000, unlabeledFrom: "both" }, 0);
const L = d.labelled;
const C = L.classNames.length;
const probe = (v: Float32Array, dim: number, seed: number) => probeOnSplit(L.labels, C, v, dim, seed);
function report(name: string, v: Float32Array, dim: number) {
  const fixed = probe(v, dim, 0);
  const others = Array.from({ length: K }, (_, k) => probe(v, dim, 100 + k));
  const m = others.reduce((a, b) => a + b, 0) / K;
  const sd = K > 1 ? Math.sqrt(others.reduce((a, b) => a + (b - m) ** 2, 0) / (K - 1)) : NaN;
  console.log(`${name.padEnd(50)} fixed ${(100 * fixed).toFixed(1)}  other splits ${(100 * m).toFixed(1)} ± ${Number.isNaN(sd) ? "–" : (100 * sd).toFixed(1)} [${others.map((a) => (100 * a).toFixed(1)).join(" ")}]`);
}
for (const arg of process.argv.slice(2)) {
  if (arg.endsWith(".f32")) { report("teacher", new Float32Array(readFileSync(arg).buffer.slice(0)), 512); continue; }
  const { model, tokenizer } = loadEmbeddingModel(arg);
  const e = bagEmbedder(model, tokenizer);
  report(arg, e.embed(L.texts), e.dim);
  model.dispose();
}
