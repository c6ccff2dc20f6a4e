// tsdistill preprocessing runtime: turns raw inputs (tabular records, texts, RGBA images) into the features a
// saved student was trained on, and the student's outputs into predictions (class, label, probabilities).
//
// It imports nothing and runs unchanged in Node and in browsers: tsdistill itself featurises through this file,
// and `tsdistill export` copies it verbatim (with preprocess.d.mts, its types) next to the exported model, where
// a page imports it together with preprocess.json:
//
//   import { preprocess, decodeOutput } from "./preprocess.mjs";
//   const pre = await (await fetch("preprocess.json")).json();
//   const { data, shape } = preprocess(pre, [{ age: 41, color: "red" }]);   // records, texts or images
//   ... run the model on data / shape (ONNX "input" or a TF.js tensor) → logits ...
//   decodeOutput(pre, logits);   // [{ class, label, probabilities }]
//
// Errors are PreprocessError: one line naming the input and index ("records[2]: column \"age\": ...").

export const RUNTIME_VERSION = 1;

/** A raw input the preprocessing cannot use; `where` names it (e.g. `records[2]`), `problem` says what was expected. */
export class PreprocessError extends Error {
  constructor(where, problem) {
    super(`${where}: ${problem}`);
    this.name = "PreprocessError";
    this.where = where;
    this.problem = problem;
  }
}

function describe(v) {
  if (v === null) return "null";
  if (v === undefined) return "nothing";
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (typeof v === "object") return "an object";
  const s = typeof v === "string" ? JSON.stringify(v) : String(v);
  return s.length > 40 ? `${s.slice(0, 39)}…` : s;
}

// ---------------------------------------------------------------------------------------------------------------
// Any kind

/** What a model's raw inputs are: "records" (tabular), "texts" or "images". */
export function rawInputKind(pre) {
  if (pre.kind === "tabular") return "records";
  if (pre.kind === "text") return "texts";
  if (pre.kind === "image") return "images";
  throw new PreprocessError("preprocess.json", `kind ${describe(pre.kind)}: expected "tabular", "text" or "image"`);
}

/** The shape of one sample's features (without the batch dimension). */
export function preprocessShape(pre) {
  if (pre.kind === "tabular") return [tabularWidth(pre)];
  if (pre.kind === "text") return [pre.featurizer.buckets];
  return [pre.height, pre.width, pre.channels];
}

/**
 * Raw inputs → features {data: Float32Array [n · sample size], shape: [n, ...sample shape]}: records for a tabular
 * model, texts for a text model, RGBA images ({width, height, data}, e.g. a canvas ImageData) for an image model.
 * `source` names the inputs in errors (input i is `${source}[i]`).
 */
export function preprocess(pre, inputs, options = {}) {
  const kind = rawInputKind(pre);
  const source = options.source ?? kind;
  if (!Array.isArray(inputs)) throw new PreprocessError(source, `expected an array of ${kind}, got ${describe(inputs)}`);
  let data;
  if (kind === "records") data = encodeRecords(pre, inputs, { ...options, source });
  else if (kind === "texts") data = encodeTexts(pre, inputs, source);
  else data = encodeImages(pre, inputs, source);
  return { data, shape: [inputs.length, ...preprocessShape(pre)] };
}

/**
 * The tensor an exported ONNX graph takes, by the name of its input: "input" = features (float32, preprocessed
 * here), "values" = a numeric tabular model's raw column values (float32 [n, columns], NaN where missing; the graph
 * fills and standardises them), "pixels" = uint8 RGB [n, height, width, 3] at the model's size (the graph scales
 * them to [0, 1] and converts to gray when the model is gray).
 */
export function graphInput(pre, inputs, inputName = "input", options = {}) {
  const kind = rawInputKind(pre);
  const source = options.source ?? kind;
  if (!Array.isArray(inputs)) throw new PreprocessError(source, `expected an array of ${kind}, got ${describe(inputs)}`);
  if (inputName === "input") {
    const { data, shape } = preprocess(pre, inputs, options);
    return { type: "float32", data, dims: shape };
  }
  if (inputName === "values") return { type: "float32", data: numericValues(pre, inputs, { ...options, source }), dims: [inputs.length, pre.columns.length] };
  if (inputName === "pixels") return { type: "uint8", data: imagePixels(pre, inputs, source), dims: [inputs.length, pre.height, pre.width, 3] };
  throw new PreprocessError("graph input", `name ${describe(inputName)}: expected "input", "values" or "pixels"`);
}

function softmaxRow(v, offset, cols) {
  let max = -Infinity;
  for (let j = 0; j < cols; j++) max = Math.max(max, v[offset + j]);
  const out = new Array(cols);
  let sum = 0;
  for (let j = 0; j < cols; j++) {
    out[j] = Math.exp(v[offset + j] - max);
    sum += out[j];
  }
  for (let j = 0; j < cols; j++) out[j] /= sum;
  return out;
}

/**
 * The model's outputs (n rows back to back) → one prediction per row. Classification: {class, label,
 * probabilities} (softmax of the logits, computed in float64). Regression (a tabular preprocess with
 * task "regression"): {value}, mapped back to the target's units when the preprocess records target {mean, std}.
 */
export function decodeOutput(pre, output, rows) {
  const regression = pre.task === "regression";
  const cols = regression ? 1 : pre.labelNames.length;
  const n = rows ?? Math.floor(output.length / cols);
  if (n * cols !== output.length) {
    throw new PreprocessError("output", `expected ${cols} value${cols === 1 ? "" : "s"} per row${rows === undefined ? "" : ` × ${rows} rows`}, got ${output.length} values`);
  }
  const out = [];
  for (let r = 0; r < n; r++) {
    if (regression) {
      const t = pre.target;
      const raw = output[r];
      out.push({ value: t && Number.isFinite(t.mean) && Number.isFinite(t.std) ? raw * t.std + t.mean : raw });
      continue;
    }
    let best = 0;
    for (let j = 1; j < cols; j++) if (output[r * cols + j] > output[r * cols + best]) best = j;
    out.push({ class: best, label: pre.labelNames[best] ?? String(best), probabilities: softmaxRow(output, r * cols, cols) });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Tabular records: one-hot categorical columns (plus a slot for missing or unseen values), numeric columns with
// missing values filled by the training mean, then standardised with the training mean and std.

export const MISSING_CATEGORY = "(missing)";
/** Cells that count as missing in text formats (compared after trimming). */
const MISSING_TOKENS = new Set(["", "?", "NA", "N/A", "NaN", "null"]);

export function isMissingToken(s) {
  return MISSING_TOKENS.has(s.trim());
}

/** A finite number, or null when the text is not one. */
export function parseNumber(s) {
  const t = s.trim();
  if (t === "") return null;
  const v = Number(t);
  return Number.isFinite(v) ? v : null;
}

/** Number of features a tabular preprocess produces per row. */
export function tabularWidth(pre) {
  return pre.features.length;
}

function toCell(v, where) {
  if (v === null || v === undefined) return null;
  if (typeof v === "number") return Number.isNaN(v) ? null : String(v);
  if (typeof v === "boolean") return String(v);
  if (typeof v === "string") return isMissingToken(v) ? null : v;
  throw new PreprocessError(where, `expected a number, string or null, got ${describe(v)}`);
}

/**
 * Records → cells in the preprocess's column order. A record is an object keyed by column name (an absent key is a
 * missing value) or an array of the input columns' values in order. With `strict` (the default), a key that is
 * neither an input column nor the label column is an error (a misspelt column would otherwise be "missing").
 */
export function recordCells(pre, records, options = {}) {
  const source = options.source ?? "records";
  const strict = options.strict ?? true;
  const names = pre.columns.map((c) => c.name);
  const known = new Set([...names, pre.label]);
  return records.map((r, i) => {
    const at = `${source}[${i}]`;
    if (Array.isArray(r)) {
      if (r.length !== names.length) throw new PreprocessError(at, `expected ${names.length} values (${names.join(", ")}), got ${r.length}`);
      return r.map((v, j) => toCell(v, `${at}.${names[j]}`));
    }
    if (typeof r !== "object" || r === null) throw new PreprocessError(at, `expected an object keyed by column name (${names.join(", ")}) or an array of values, got ${describe(r)}`);
    if (strict) {
      for (const key of Object.keys(r)) {
        if (!known.has(key)) throw new PreprocessError(`${at}.${key}`, `is not a column of this model; its columns are ${names.join(", ")}`);
      }
    }
    return names.map((name) => toCell(r[name], `${at}.${name}`));
  });
}

/**
 * Rows of cells (one per preprocess column, in its order; null is missing) → features [rows, width]. `where(i)`
 * names row i in errors.
 */
export function encodeTabularRows(pre, rows, where = (i) => `rows[${i}]`) {
  const width = tabularWidth(pre);
  const out = new Float32Array(rows.length * width);
  const catIndex = pre.columns.map((c) => (c.kind === "categorical" ? new Map(c.categories.map((v, i) => [v, i])) : null));
  rows.forEach((row, i) => {
    let o = i * width;
    pre.columns.forEach((col, j) => {
      const cell = row[j];
      if (col.kind === "numeric") {
        let v = col.mean;
        if (cell !== null && cell !== undefined && !isMissingToken(cell)) {
          const parsed = parseNumber(cell);
          if (parsed === null) throw new PreprocessError(where(i), `column "${col.name}": expected a number, got "${cell}"`);
          v = parsed;
        }
        out[o++] = pre.standardize ? (v - col.mean) / col.std : v;
      } else {
        const k = cell === null || cell === undefined ? undefined : catIndex[j].get(cell);
        out[o + (k ?? col.categories.length)] = 1;
        o += col.categories.length + 1;
      }
    });
  });
  return out;
}

/** Records → features [records.length, width] (see recordCells and encodeTabularRows). */
export function encodeRecords(pre, records, options = {}) {
  const source = options.source ?? "records";
  return encodeTabularRows(pre, recordCells(pre, records, { ...options, source }), (i) => `${source}[${i}]`);
}

/** Whether every input column is numeric (then an ONNX graph can take the raw values: see graphInput "values"). */
export function allNumeric(pre) {
  return pre.kind === "tabular" && pre.columns.every((c) => c.kind === "numeric");
}

/** Records of an all-numeric model → raw values [records.length, columns], NaN where missing (no fill, no scaling). */
export function numericValues(pre, records, options = {}) {
  if (!allNumeric(pre)) throw new PreprocessError("preprocess.json", "has categorical columns; expected every input column numeric for raw values");
  const source = options.source ?? "records";
  const cells = recordCells(pre, records, { ...options, source });
  const n = pre.columns.length;
  const out = new Float32Array(cells.length * n);
  cells.forEach((row, i) =>
    row.forEach((cell, j) => {
      if (cell === null) out[i * n + j] = NaN;
      else {
        const v = parseNumber(cell);
        if (v === null) throw new PreprocessError(`${source}[${i}]`, `column "${pre.columns[j].name}": expected a number, got "${cell}"`);
        out[i * n + j] = v;
      }
    }),
  );
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Texts: hashed word and character n-grams (MurmurHash3 x86_32 over UTF-8, like scikit-learn's HashingVectorizer),
// weighted log(1 + tf) or tf·idf, each row L2-normalised.

/** MurmurHash3 x86 32-bit of bytes[0, n). */
export function murmur3Bytes(bytes, n, seed = 0) {
  const c1 = 0xcc9e2d51;
  const c2 = 0x1b873593;
  let h = seed >>> 0;
  const blocks = n & ~3;
  for (let i = 0; i < blocks; i += 4) {
    let k = bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24);
    k = Math.imul(k, c1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, c2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  let k = 0;
  switch (n & 3) {
    case 3:
      k ^= bytes[blocks + 2] << 16;
    // falls through
    case 2:
      k ^= bytes[blocks + 1] << 8;
    // falls through
    case 1:
      k ^= bytes[blocks];
      k = Math.imul(k, c1);
      k = (k << 15) | (k >>> 17);
      k = Math.imul(k, c2);
      h ^= k;
  }
  h ^= n;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** MurmurHash3 x86 32-bit over the UTF-8 bytes of a string. */
export function murmur3(text, seed = 0) {
  const bytes = new TextEncoder().encode(text);
  return murmur3Bytes(bytes, bytes.length, seed);
}

/** Words: runs of letters and digits (Unicode-aware), so tokenisation does not depend on the locale. */
export function tokenize(text, lowercase) {
  const t = lowercase ? text.toLowerCase() : text;
  return t.match(/[\p{L}\p{N}]+/gu) ?? [];
}

/** Growable byte buffer; `room` may replace it, so callers re-read `bytes` after asking. */
class Bytes {
  constructor() {
    this.bytes = new Uint8Array(4096);
  }
  room(n) {
    if (this.bytes.length < n) {
      const next = new Uint8Array(Math.max(n, 2 * this.bytes.length));
      next.set(this.bytes);
      this.bytes = next;
    }
    return this.bytes;
  }
}

/** UTF-8 encodes `s` into `into` at `pos` (room for 3 bytes per UTF-16 unit is ensured); returns the end. */
function encodeUtf8(s, into, pos) {
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
export class BucketCounts {
  constructor(buckets) {
    this.counts = new Float64Array(buckets);
    this.touched = [];
    /** The text's words, UTF-8, back to back. */
    this.words = new Bytes();
    /** Where each n-gram is assembled before hashing. */
    this.gram = new Bytes();
  }
  add(b) {
    if (this.counts[b]++ === 0) this.touched.push(b);
  }
  clear() {
    for (const b of this.touched) this.counts[b] = 0;
    this.touched = [];
  }
}

/**
 * Counts one text's n-grams into `out` (cleared first): word n-grams "w a b" and character n-grams "c xyz" taken
 * inside each word padded with spaces, assembled as UTF-8 bytes in a reused buffer and hashed into buckets.
 */
export function termCounts(text, config, out) {
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
    const cps = [];
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

/** Features [texts.length, buckets], row-major, each row of unit L2 norm (rows with no n-gram stay zero). */
export function featurizeTexts(texts, config) {
  if (config.weighting === "tfidf" && (!config.idf || config.idf.length !== config.buckets)) {
    throw new PreprocessError("featurizer", `tfidf needs idf with one value per bucket (${config.buckets}); fit it on the training texts first`);
  }
  const d = config.buckets;
  const out = new Float32Array(texts.length * d);
  const counter = new BucketCounts(d);
  texts.forEach((text, i) => {
    const { counts, touched } = termCounts(text, config, counter);
    const w = Float64Array.from(touched, (b) => (config.weighting === "tfidf" ? counts[b] * config.idf[b] : Math.log1p(counts[b])));
    let norm = 0;
    for (let k = 0; k < w.length; k++) norm += w[k] * w[k];
    const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
    touched.forEach((b, k) => (out[i * d + b] = w[k] * scale));
  });
  return out;
}

/** Texts (strings, or objects with the model's text field) → features [texts.length, buckets]. */
export function encodeTexts(pre, texts, source = "texts") {
  const list = texts.map((t, i) => {
    const s = typeof t === "object" && t !== null && !Array.isArray(t) ? t[pre.textField] : t;
    if (typeof s !== "string") throw new PreprocessError(`${source}[${i}]`, `expected a string or an object with a string field "${pre.textField}", got ${describe(s)}`);
    return s;
  });
  return featurizeTexts(list, pre.featurizer);
}

// ---------------------------------------------------------------------------------------------------------------
// Images: 8-bit RGBA → resized with bilinear interpolation on half-pixel centres → [0, 1], gray (ITU-R BT.601
// luma) or RGB, alpha ignored.

function checkImage(img, where) {
  if (typeof img !== "object" || img === null || typeof img.width !== "number" || typeof img.height !== "number" || !img.data || typeof img.data.length !== "number") {
    throw new PreprocessError(where, `expected a decoded RGBA image {width, height, data} (e.g. a canvas ImageData), got ${describe(img)}`);
  }
  if (!(Number.isInteger(img.width) && Number.isInteger(img.height) && img.width >= 1 && img.height >= 1)) {
    throw new PreprocessError(where, `expected a positive integer width and height, got ${img.width}×${img.height}`);
  }
  if (img.data.length !== img.width * img.height * 4) {
    throw new PreprocessError(where, `RGBA data holds ${img.data.length} bytes; expected width × height × 4 = ${img.width * img.height * 4}`);
  }
}

/** Bilinear resize of an H×W×C float image (half-pixel centres, edges clamped), as tf.image.resizeBilinear(halfPixelCenters). */
export function resizeBilinear(src, sh, sw, c, dh, dw) {
  const out = new Float32Array(dh * dw * c);
  const sy = sh / dh;
  const sx = sw / dw;
  for (let y = 0; y < dh; y++) {
    const fy = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), sh - 1);
    const y0 = Math.floor(fy);
    const y1 = Math.min(y0 + 1, sh - 1);
    const wy = fy - y0;
    for (let x = 0; x < dw; x++) {
      const fx = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), sw - 1);
      const x0 = Math.floor(fx);
      const x1 = Math.min(x0 + 1, sw - 1);
      const wx = fx - x0;
      for (let k = 0; k < c; k++) {
        const a = src[(y0 * sw + x0) * c + k];
        const b = src[(y0 * sw + x1) * c + k];
        const d = src[(y1 * sw + x0) * c + k];
        const e = src[(y1 * sw + x1) * c + k];
        out[(y * dw + x) * c + k] = (1 - wy) * ((1 - wx) * a + wx * b) + wy * ((1 - wx) * d + wx * e);
      }
    }
  }
  return out;
}

/** One RGBA image → height × width × channels floats in [0, 1]. */
export function imageToSample(img, height, width, channels) {
  const { width: sw, height: sh, data } = img;
  const src = new Float32Array(sw * sh * channels);
  for (let p = 0; p < sw * sh; p++) {
    const r = data[4 * p] / 255;
    const g = data[4 * p + 1] / 255;
    const b = data[4 * p + 2] / 255;
    if (channels === 1) src[p] = 0.299 * r + 0.587 * g + 0.114 * b;
    else {
      src[3 * p] = r;
      src[3 * p + 1] = g;
      src[3 * p + 2] = b;
    }
  }
  if (sw === width && sh === height) return src;
  return resizeBilinear(src, sh, sw, channels, height, width);
}

/** RGBA images → features [images.length, height, width, channels]. */
export function encodeImages(pre, images, source = "images") {
  const d = pre.height * pre.width * pre.channels;
  const out = new Float32Array(images.length * d);
  images.forEach((img, i) => {
    checkImage(img, `${source}[${i}]`);
    out.set(imageToSample(img, pre.height, pre.width, pre.channels), i * d);
  });
  return out;
}

/**
 * RGBA images → uint8 RGB [images.length, height, width, 3] at the model's size, for an ONNX graph that takes
 * pixels. Images at the model's size pass unchanged; others are resized bilinearly and rounded to integers, so
 * their predictions can differ slightly from those of the float path (encodeImages), which does not round.
 */
export function imagePixels(pre, images, source = "images") {
  const { height, width } = pre;
  const d = height * width * 3;
  const out = new Uint8Array(images.length * d);
  images.forEach((img, i) => {
    checkImage(img, `${source}[${i}]`);
    const n = img.width * img.height;
    const rgb = new Float32Array(n * 3);
    for (let p = 0; p < n; p++) {
      rgb[3 * p] = img.data[4 * p];
      rgb[3 * p + 1] = img.data[4 * p + 1];
      rgb[3 * p + 2] = img.data[4 * p + 2];
    }
    const sized = img.width === width && img.height === height ? rgb : resizeBilinear(rgb, img.height, img.width, 3, height, width);
    for (let k = 0; k < d; k++) out[i * d + k] = Math.max(0, Math.min(255, Math.round(sized[k])));
  });
  return out;
}
