import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { DataError } from "../util/errors.js";
import { readDataFile } from "../util/files.js";
import { Rng } from "../util/rng.js";

/** Where Debian's `fortunes` / `fortunes-min` packages put the category files. */
export const FORTUNES_DIR = "/usr/share/games/fortunes";

/** Topics with ≥ 147 quotes each in Debian's fortunes 1:1.99.1 that are about one subject (not "people", "wisdom"). */
export const DEFAULT_FORTUNE_CATEGORIES = ["computers", "food", "law", "love", "politics", "sports"];

export interface FortunesOptions {
  dir?: string;
  /** Category file names (default DEFAULT_FORTUNE_CATEGORIES). */
  categories?: string[];
  /** Keep at most this many quotes per category (a seeded sample; default all). */
  maxPerCategory?: number;
  /** Drop quotes shorter than this many characters (default 20). */
  minChars?: number;
  seed?: number;
}

export interface LabelledTexts {
  texts: string[];
  labels: Int32Array;
  classNames: string[];
  /** Quotes of these categories left out by maxPerCategory (file order; none without it): on-topic unlabeled text. */
  notDrawn: string[];
}

/**
 * One fortune file's quotes: the text between lines holding only "%", with backspace overstrikes ("_\bx", bold
 * "x\bx") reduced to the printed character and surrounding whitespace trimmed.
 */
export function parseFortunes(text: string): string[] {
  return text
    .replace(/\r\n/g, "\n")
    .split(/^%[ \t]*$/m)
    .map((q) => q.replace(/.\x08/gs, "").trim())
    .filter((q) => q.length > 0);
}

/** The category files of a fortunes folder (regular files without an extension, e.g. "computers"). */
export function fortuneCategories(dir = FORTUNES_DIR): string[] {
  if (!existsSync(dir)) throw new DataError(dir, "not found; expected Debian's fortunes files (apt-get install fortunes fortunes-min)");
  return readdirSync(dir)
    .filter((f) => !f.includes(".") && statSync(join(dir, f)).isFile())
    .sort();
}

/** Quotes of several categories, labelled by category (class i = categories[i]). */
export function loadFortunes(opts: FortunesOptions = {}): LabelledTexts {
  const dir = opts.dir ?? FORTUNES_DIR;
  const categories = opts.categories ?? DEFAULT_FORTUNE_CATEGORIES;
  if (categories.length < 2) throw new DataError(dir, `categories: ${categories.length} given; a labelled set needs at least 2`);
  const available = fortuneCategories(dir);
  const texts: string[] = [];
  const labels: number[] = [];
  const notDrawn: string[] = [];
  categories.forEach((c, label) => {
    if (!available.includes(c)) throw new DataError(join(dir, c), `no such fortune category; expected one of ${available.join(", ")}`);
    let quotes = parseFortunes(readDataFile(join(dir, c), "a fortune file (quotes separated by % lines)").toString("utf8")).filter((q) => q.length >= (opts.minChars ?? 20));
    if (opts.maxPerCategory !== undefined && quotes.length > opts.maxPerCategory) {
      const order = new Rng(opts.seed ?? 0, "fortunes", c).permutation(quotes.length);
      const drawn = new Set(order.subarray(0, opts.maxPerCategory));
      notDrawn.push(...quotes.filter((_, i) => !drawn.has(i)));
      quotes = quotes.filter((_, i) => drawn.has(i));
    }
    if (quotes.length === 0) throw new DataError(join(dir, c), "has no quotes");
    for (const q of quotes) texts.push(q), labels.push(label);
  });
  return { texts, labels: Int32Array.from(labels), classNames: [...categories], notDrawn };
}
