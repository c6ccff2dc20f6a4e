import { UsageError } from "../util/errors.js";
import { asDataError, BucketCounts, featurizeTexts as runtimeFeaturize, murmur3, termCounts, tokenize } from "../runtime/runtime.js";

export { tokenize };

/**
 * Hashed n-gram text features ("the hashing trick"): word n-grams and character n-grams (taken inside each
 * word padded with spaces, like scikit-learn's char_wb) are hashed with MurmurHash3 into a fixed number of
 * buckets, weighted by log(1 + tf) or tf·idf, and each row is L2-normalised. No vocabulary is stored, so the
 * config below (plus idf when fitted) is everything a served model needs to featurise new text. The featuriser
 * itself is in the preprocessing runtime (src/runtime/preprocess.mjs), which exported text models ship; `ngrams`
 * below spells the same n-grams out as strings (the reference the tests compare it with).
 */
export interface HashedNgramConfig {
  kind: "hashed-ngrams";
  /** Word n-gram lengths [min, max]; [0, 0] turns word n-grams off. */
  words: [number, number];
  /** Character n-gram lengths [min, max]; [0, 0] turns them off. */
  chars: [number, number];
  buckets: number;
  weighting: "log" | "tfidf";
  lowercase: boolean;
  /** MurmurHash3 seed. */
  hashSeed: number;
  /** Inverse document frequency per bucket (tfidf only), fitted on the training texts. */
  idf?: number[];
}

export const DEFAULT_NGRAMS: HashedNgramConfig = {
  kind: "hashed-ngrams",
  words: [1, 2],
  chars: [3, 5],
  buckets: 2048,
  weighting: "log",
  lowercase: true,
  hashSeed: 0,
};

/** Fills in defaults and checks ranges; `where` names the option in errors. */
export function ngramConfig(partial: Partial<HashedNgramConfig> = {}, where = "featuriser"): HashedNgramConfig {
  const c: HashedNgramConfig = { ...DEFAULT_NGRAMS, ...partial, kind: "hashed-ngrams" };
  for (const key of ["words", "chars"] as const) {
    const [lo, hi] = c[key];
    const off = lo === 0 && hi === 0;
    if (!off && !(Number.isInteger(lo) && Number.isInteger(hi) && lo >= 1 && hi >= lo && hi <= 16)) {
      throw new UsageError(`${where}: ${key}: expected a range like 1-2 (1 ≤ min ≤ max ≤ 16) or 0 to turn it off, got ${lo}-${hi}`);
    }
  }
  if (c.words[0] === 0 && c.chars[0] === 0) throw new UsageError(`${where}: words and chars are both off; expected at least one n-gram range`);
  if (!(Number.isInteger(c.buckets) && c.buckets >= 2 && c.buckets <= 1 << 20)) {
    throw new UsageError(`${where}: buckets: expected an integer in [2, 1048576], got ${c.buckets}`);
  }
  if (c.weighting !== "log" && c.weighting !== "tfidf") throw new UsageError(`${where}: weighting: expected log or tfidf, got ${String(c.weighting)}`);
  return c;
}

/** The n-gram strings of one text, prefixed "w " or "c " so a word and a character n-gram never collide by name. */
export function ngrams(text: string, config: HashedNgramConfig): string[] {
  const words = tokenize(text, config.lowercase);
  const out: string[] = [];
  const [wlo, whi] = config.words;
  if (wlo > 0) {
    for (let n = wlo; n <= whi; n++) for (let i = 0; i + n <= words.length; i++) out.push(`w ${words.slice(i, i + n).join(" ")}`);
  }
  const [clo, chi] = config.chars;
  if (clo > 0) {
    for (const word of words) {
      const chars = Array.from(` ${word} `);
      for (let n = clo; n <= chi; n++) {
        if (n > chars.length) break;
        for (let i = 0; i + n <= chars.length; i++) out.push(`c ${chars.slice(i, i + n).join("")}`);
      }
    }
  }
  return out;
}

/** Bucket index of an n-gram. */
export function bucketOf(gram: string, config: HashedNgramConfig): number {
  return murmur3(gram, config.hashSeed) % config.buckets;
}

/** Fits idf = ln((1 + n) / (1 + df)) + 1 on the training texts (tfidf only; log weighting needs no fitting). */
export function fitNgrams(texts: readonly string[], config: HashedNgramConfig): HashedNgramConfig {
  if (config.weighting !== "tfidf") return { ...config, idf: undefined };
  const df = new Float64Array(config.buckets);
  const counter = new BucketCounts(config.buckets);
  for (const text of texts) for (const b of termCounts(text, config, counter).touched) df[b]++;
  const n = texts.length;
  return { ...config, idf: Array.from(df, (d) => Math.log((1 + n) / (1 + d)) + 1) };
}

/** Features [texts.length, buckets], row-major, each row of unit L2 norm (rows with no n-gram stay zero). */
export function featurizeTexts(texts: readonly string[], config: HashedNgramConfig): Float32Array {
  return asDataError(() => runtimeFeaturize(texts, config));
}
