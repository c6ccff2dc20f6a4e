import { UsageError } from "../util/errors.js";
import { murmur3, murmur3Bytes } from "./murmur3.js";

/**
 * Hashed n-gram text features ("the hashing trick"): word n-grams and character n-grams (taken inside each
 * word padded with spaces, like scikit-learn's char_wb) are hashed with MurmurHash3 into a fixed number of
 * buckets, weighted by log(1 + tf) or tf·idf, and each row is L2-normalised. No vocabulary is stored, so the
 * config below (plus idf when fitted) is everything a served model needs to featurise new text.
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

/** Words: runs of letters and digits (Unicode-aware), so tokenisation does not depend on the locale. */
export function tokenize(text: string, lowercase: boolean): string[] {
  const t = lowercase ? text.toLowerCase() : text;
  return t.match(/[\p{L}\p{N}]+/gu) ?? [];
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

/** Growable byte buffer; `room` may replace it, so callers re-read `bytes` after asking. */
class Bytes {
  bytes = new Uint8Array(4096);
  room(n: number): Uint8Array {
    if (this.bytes.length < n) {
      const next = new Uint8Array(Math.max(n, 2 * this.bytes.length));
      next.set(this.bytes);
      this.bytes = next;
    }
    return this.bytes;
  }
}

/** UTF-8 encodes `s` into `into` at `pos` (room for 3 bytes per UTF-16 unit is ensured); returns the end. */
function encodeUtf8(s: string, into: Bytes, pos: number): number {
  const b = into.room(pos + 3 * s.length);
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) b[pos++] = c;
    else if (c < 0x800) {
      b[pos++] = 0xc0 | (c >> 6);
      b[pos++] = 0x80 | (c & 63);
    } else {
      if (c >= 0xd800 && c < 0xdc00 && i + 1 < s.length) {
        const d = s.charCodeAt(i + 1);
        if (d >= 0xdc00 && d < 0xe000) {
          c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
          i++;
          b[pos++] = 0xf0 | (c >> 18);
          b[pos++] = 0x80 | ((c >> 12) & 63);
          b[pos++] = 0x80 | ((c >> 6) & 63);
          b[pos++] = 0x80 | (c & 63);
          continue;
        }
      }
      if (c >= 0xd800 && c < 0xe000) c = 0xfffd; // a lone surrogate, as TextEncoder writes it
      b[pos++] = 0xe0 | (c >> 12);
      b[pos++] = 0x80 | ((c >> 6) & 63);
      b[pos++] = 0x80 | (c & 63);
    }
  }
  return pos;
}

/** Term counts per bucket of one text at a time: dense counts plus the list of buckets touched. */
class BucketCounts {
  readonly counts: Float64Array;
  touched: number[] = [];
  /** The text's words, UTF-8, back to back: word k is words.bytes[starts[k], starts[k + 1]). */
  readonly words = new Bytes();
  /** Where each n-gram is assembled before hashing. */
  readonly gram = new Bytes();

  constructor(buckets: number) {
    this.counts = new Float64Array(buckets);
  }

  add(b: number): void {
    if (this.counts[b]++ === 0) this.touched.push(b);
  }

  clear(): void {
    for (const b of this.touched) this.counts[b] = 0;
    this.touched = [];
  }
}

/**
 * Counts one text's n-grams into `out` (cleared first). Same buckets as hashing each string of `ngrams()`,
 * but the n-grams are assembled as UTF-8 bytes in a reused buffer (no string or array per n-gram).
 */
function termCounts(text: string, config: HashedNgramConfig, out: BucketCounts): BucketCounts {
  out.clear();
  const { buckets, hashSeed } = config;
  const tokens = tokenize(text, config.lowercase);
  const starts = new Int32Array(tokens.length + 1);
  let end = 0;
  tokens.forEach((t, k) => {
    starts[k] = end;
    end = encodeUtf8(t, out.words, end);
  });
  starts[tokens.length] = end;
  const w = out.words.bytes;
  const [wlo, whi] = config.words;
  if (wlo > 0) {
    for (let n = wlo; n <= whi; n++) {
      for (let i = 0; i + n <= tokens.length; i++) {
        const g = out.gram.room(2 + starts[i + n] - starts[i] + n);
        g[0] = 0x77; // "w "
        g[1] = 0x20;
        let pos = 2;
        for (let k = i; k < i + n; k++) {
          if (k > i) g[pos++] = 0x20;
          for (let j = starts[k]; j < starts[k + 1]; j++) g[pos++] = w[j];
        }
        out.add(murmur3Bytes(g, pos, hashSeed) % buckets);
      }
    }
  }
  const [clo, chi] = config.chars;
  if (clo > 0) {
    const cps: number[] = [];
    for (let k = 0; k < tokens.length; k++) {
      // Byte offsets of the code points of " word " (UTF-8 continuation bytes are 10xxxxxx); the offsets
      // just before and just after the word stand for the padding spaces.
      cps.length = 0;
      cps.push(starts[k] - 1);
      for (let j = starts[k]; j < starts[k + 1]; j++) if ((w[j] & 0xc0) !== 0x80) cps.push(j);
      cps.push(starts[k + 1], starts[k + 1] + 1);
      const count = cps.length - 1;
      const g = out.gram.room(2 + starts[k + 1] - starts[k] + 2);
      g[0] = 0x63; // "c "
      g[1] = 0x20;
      for (let n = clo; n <= chi && n <= count; n++) {
        for (let i = 0; i + n <= count; i++) {
          let pos = 2;
          for (let j = cps[i]; j < cps[i + n]; j++) g[pos++] = j < starts[k] || j >= starts[k + 1] ? 0x20 : w[j];
          out.add(murmur3Bytes(g, pos, hashSeed) % buckets);
        }
      }
    }
  }
  return out;
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
  if (config.weighting === "tfidf" && (!config.idf || config.idf.length !== config.buckets)) {
    throw new Error("tfidf featuriser used before fitNgrams (idf missing)");
  }
  const d = config.buckets;
  const out = new Float32Array(texts.length * d);
  const counter = new BucketCounts(d);
  texts.forEach((text, i) => {
    const { counts, touched } = termCounts(text, config, counter);
    const w = Float64Array.from(touched, (b) => (config.weighting === "tfidf" ? counts[b] * config.idf![b] : Math.log1p(counts[b])));
    let norm = 0;
    for (let k = 0; k < w.length; k++) norm += w[k] * w[k];
    const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
    touched.forEach((b, k) => (out[i * d + b] = w[k] * scale));
  });
  return out;
}
