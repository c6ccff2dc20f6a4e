// Texts for embedding distillation and evaluation, named by one spec string on the command line:
//   fortunes               every quote of Debian's fortunes (labelled by category file)
//   fortunes:a,b,c         the quotes of these categories (labelled)
//   text:FILE              one text per line (unlabeled)
//   jsonl:FILE             one {"text": ..., "label": ...} per line (label optional)
import { DataError, UsageError } from "../util/errors.js";
import { readDataFile } from "../util/files.js";
import { Rng } from "../util/rng.js";
import { fortuneCategories, loadFortunes } from "./fortunes.js";
import { readJsonlTexts } from "./jsonl-text.js";

export const EMBEDDING_DATA_HELP = "fortunes, fortunes:CAT1,CAT2,… (Debian fortunes, category = label), text:FILE (a text per line), jsonl:FILE ({text, label?} per line)";

export interface EmbeddingTexts {
  texts: string[];
  /** Class index per text, −1 where unlabeled; null when nothing is labelled. */
  labels: Int32Array | null;
  classNames: string[];
}

export interface EmbeddingTextOptions {
  /** Keep at most this many texts (a seeded sample, in file order). */
  max?: number;
  /** Fortunes: at most this many quotes per category. */
  perCategory?: number;
  seed?: number;
}

function sample<T>(items: T[], max: number | undefined, seed: number): number[] {
  if (max === undefined || items.length <= max) return items.map((_, i) => i);
  return Array.from(new Rng(seed, "embedding-texts").permutation(items.length).subarray(0, max)).sort((a, b) => a - b);
}

export function loadEmbeddingTexts(spec: string, opts: EmbeddingTextOptions = {}): EmbeddingTexts {
  const seed = opts.seed ?? 0;
  const colon = spec.indexOf(":");
  const kind = colon < 0 ? spec : spec.slice(0, colon);
  const arg = colon < 0 ? "" : spec.slice(colon + 1);
  let all: EmbeddingTexts;
  if (kind === "fortunes") {
    const categories = arg ? arg.split(",").map((c) => c.trim()).filter(Boolean) : fortuneCategories();
    const f = loadFortunes({ categories, maxPerCategory: opts.perCategory, seed });
    all = { texts: f.texts, labels: f.labels, classNames: f.classNames };
  } else if (kind === "text") {
    if (!arg) throw new UsageError(`--data: "text:" needs a file, e.g. text:corpus.txt`);
    const texts = readDataFile(arg, "a text file (one text per line)").toString("utf8").split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0);
    if (texts.length === 0) throw new DataError(arg, "has no non-empty lines; expected one text per line");
    all = { texts, labels: null, classNames: [] };
  } else if (kind === "jsonl") {
    if (!arg) throw new UsageError(`--data: "jsonl:" needs a file, e.g. jsonl:texts.jsonl`);
    const r = readJsonlTexts(arg);
    if (r.texts.length === 0) throw new DataError(arg, "has no records; expected one JSON object per line");
    const classNames = [...new Set(r.labels.filter((l): l is string => l !== null))].sort();
    all = { texts: r.texts, labels: classNames.length ? Int32Array.from(r.labels, (l) => (l === null ? -1 : classNames.indexOf(l))) : null, classNames };
  } else {
    throw new UsageError(`--data: unknown text source "${spec}"; expected ${EMBEDDING_DATA_HELP}`);
  }
  const keep = sample(all.texts, opts.max, seed);
  return { texts: keep.map((i) => all.texts[i]), labels: all.labels ? Int32Array.from(keep, (i) => all.labels![i]) : null, classNames: all.classNames };
}
