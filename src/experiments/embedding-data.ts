// The labelled fortunes and the unlabeled transfer/refinement texts of a `kind: embedding` recipe. Unlabeled text
// comes from the quotes of the labelled categories that the per-category sample did not draw (on-topic, labels
// discarded), from the other categories (off-topic), or both (on-topic first, then off-topic up to the count). A
// quote whose text is also a labelled quote (fortunes repeats some across files) is never unlabeled text.
import { join } from "node:path";
import { DEFAULT_FORTUNE_CATEGORIES, fortuneCategories, loadFortunes, parseFortunes, type LabelledTexts } from "../data/fortunes.js";
import { readJsonlTexts } from "../data/jsonl-text.js";
import { DataError } from "../util/errors.js";
import { readDataFile } from "../util/files.js";
import { Rng } from "../util/rng.js";

export type UnlabeledSource = "other-categories" | "labelled-categories" | "both";

export interface EmbeddingData {
  labelled: LabelledTexts;
  unlabeled: string[];
  /** How many unlabeled texts are quotes of the labelled categories (the rest: other categories). */
  onTopic: number;
}

export function loadEmbeddingData(d: { dir: string; categories?: string[]; perCategory: number; unlabeled: number; unlabeledFrom: UnlabeledSource }, seed: number): EmbeddingData {
  const categories = d.categories ?? DEFAULT_FORTUNE_CATEGORIES;
  const labelled = loadFortunes({ dir: d.dir, categories, maxPerCategory: d.perCategory, seed });
  const seen = new Set(labelled.texts);
  const fresh = (t: string) => !seen.has(t) && (seen.add(t), true);
  const sample = (pool: string[], n: number, stream: string) => Array.from(new Rng(seed, stream).permutation(pool.length).subarray(0, Math.min(n, pool.length)), (i) => pool[i]);
  const onTopic = d.unlabeledFrom === "other-categories" ? [] : sample(labelled.notDrawn.filter((t) => t.length >= 20).filter(fresh), d.unlabeled, "embedding-recipe-on-topic");
  let offTopic: string[] = [];
  if (d.unlabeledFrom !== "labelled-categories" && onTopic.length < d.unlabeled) {
    const taken = new Set(categories);
    const pool = fortuneCategories(d.dir)
      .filter((c) => !taken.has(c))
      .flatMap((c) => parseFortunes(readDataFile(join(d.dir, c), "a fortune file").toString("utf8")))
      .filter((t) => t.length >= 20)
      .filter(fresh);
    offTopic = sample(pool, d.unlabeled - onTopic.length, "embedding-recipe-unlabeled");
  }
  return { labelled, unlabeled: [...onTopic, ...offTopic], onTopic: onTopic.length };
}

/** A second labelled set the embedding models are probed on (e.g. SpamAssassin): a seeded sample of perClass per label. */
export interface ProbeSet {
  name: string;
  texts: string[];
  labels: Int32Array;
  classNames: string[];
}

export function loadProbeSet(p: { name: string; data: string; perClass: number }, seed: number): ProbeSet {
  const recs = readJsonlTexts(p.data);
  const classNames = [...new Set(recs.labels.filter((l): l is string => l !== null))].sort();
  if (classNames.length < 2) throw new DataError(p.data, `has ${classNames.length} labels; a probe needs at least 2 (field "label")`);
  const texts: string[] = [];
  const labels: number[] = [];
  classNames.forEach((c, k) => {
    const rows = recs.labels.flatMap((l, i) => (l === c ? [i] : []));
    const take = Array.from(new Rng(seed, "embedding-probe", p.name, c).permutation(rows.length).subarray(0, Math.min(p.perClass, rows.length))).sort((a, b) => a - b);
    for (const i of take) texts.push(recs.texts[rows[i]]), labels.push(k);
  });
  return { name: p.name, texts, labels: Int32Array.from(labels), classNames };
}
