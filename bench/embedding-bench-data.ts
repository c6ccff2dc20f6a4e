// What the embedding benches share with recipes/use-embeddings.yaml: its labelled and unlabeled fortunes (the
// recipe's draw), USE-lite's vectors of them from runs/embedding-cache (a full run of the recipe writes them), and
// the recipe's probe (logistic regression, L2 by 3-fold CV) on one seeded 80/20 split.
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { stratifiedSplit } from "../src/data/stratified-split.js";
import { chooseProbeL2, linearProbe, pickRows } from "../src/eval/embedding-metrics.js";
import { loadEmbeddingData } from "../src/experiments/embedding-data.js";

export const FORTUNES_DIR = "/usr/share/games/fortunes";
export const RECIPE_CATEGORIES = ["computers", "food", "law", "love", "politics", "sports"];
export const EMBEDDING_CACHE = "runs/embedding-cache";
/** USE-lite's hash prefix and token limit in the recipe's cache names. */
export const USE_LITE_CACHE_PREFIX = "USE-lite-9d7c0b83d987";
export const MAX_TOKENS = 128;
/** The recipe's extra splits (split 0 is the seed's). */
export const OTHER_SPLIT_SEEDS = [100, 101, 102, 103];

/** The recipe's data with `unlabeled` unlabeled quotes (the recipe takes all: 20000). */
export const recipeData = (unlabeled: number) => loadEmbeddingData({ dir: FORTUNES_DIR, categories: RECIPE_CATEGORIES, perCategory: 150, unlabeled, unlabeledFrom: "both" }, 0);

export const hashOfTexts = (texts: readonly string[]) => createHash("sha256").update(JSON.stringify(texts)).digest("hex").slice(0, 16);

/** The cache file of the teacher's vectors of these texts (as the recipe names it). */
export const cacheFileOf = (texts: readonly string[]) => join(EMBEDDING_CACHE, `${USE_LITE_CACHE_PREFIX}-${MAX_TOKENS}-${hashOfTexts(texts)}.f32`);

/** USE-lite's vectors of these texts from the cache; a missing file says which run makes it. */
export function cachedTeacherVectors(texts: readonly string[]): Float32Array {
  const file = cacheFileOf(texts);
  if (!existsSync(file)) throw new Error(`${file} is missing: run recipes/use-embeddings.yaml (full) first, with the same data.unlabeled`);
  return new Float32Array(readFileSync(file).buffer.slice(0));
}

/** The recipe's probe of vectors v (rows of the labelled quotes, width dim) on the split with this seed. */
export function probeOnSplit(labels: Int32Array, numClasses: number, v: Float32Array, dim: number, seed: number): number {
  const s = stratifiedSplit(labels, 0.2, seed);
  const y = (rows: Int32Array) => Int32Array.from(rows, (i) => labels[i]);
  const x = pickRows(v, dim, s.train);
  const l2 = chooseProbeL2({ x, y: y(s.train) }, numClasses, { epochs: 100, lr: 0.01, seed: 0 }).l2;
  return linearProbe({ x, y: y(s.train) }, { x: pickRows(v, dim, s.test), y: y(s.test) }, numClasses, { epochs: 100, lr: 0.01, l2, seed: 0 }).testAccuracy;
}
