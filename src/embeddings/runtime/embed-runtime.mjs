// tsdistill embedding runtime: a saved embedding student (static Model2Vec-style table, or a bag-of-embeddings
// student with a linear head) turned into sentence vectors, with no dependencies. It runs unchanged in Node and in
// browsers: tsdistill embeds through this file, and a page imports it with the model's three files:
//
//   import { loadEmbeddingModel } from "./embed-runtime.mjs";
//   const model = await loadEmbeddingModel("model/");          // config.json, embeddings.safetensors, tokenizer.json
//   const [v] = model.embed(["a sentence"]);                     // Float32Array(dim)
//
// Tokenizers built in: "sentencepiece" (a unigram vocabulary of [piece, score], segmented as the Universal Sentence
// Encoder's tokenizer does). A Hugging Face tokenizer.json (BPE, WordPiece, Unigram) needs a tokenizer library:
// pass its encoder as `options.encode` (text → ids, no special tokens).

export const EMBED_RUNTIME_VERSION = 1;
export const EMBEDDINGS_FORMAT = "tsdistill-embeddings";

/** A file or value the runtime cannot use; `where` names it, `problem` says what was expected. */
export class EmbedRuntimeError extends Error {
  constructor(where, problem) {
    super(`${where}: ${problem}`);
    this.name = "EmbedRuntimeError";
    this.where = where;
    this.problem = problem;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// SentencePiece unigram segmentation, as the Universal Sentence Encoder's tokenizer does it. The algorithm follows
// @tensorflow-models/universal-sentence-encoder's tokenizer (Apache-2.0, © 2019 Google LLC), which
// @energetic-ai/embeddings 0.2.0 ships unchanged; it is re-implemented here because that package's entry point
// loads @energetic-ai/core, a second bundled copy of TensorFlow.js, and because a page must run it without either.
//
//   text → NFKC → "▁" + text with every " " replaced by "▁" (empty text stays empty)
//   Viterbi over code points (a null score counts as 0): a piece ending at position e scores score(piece) + best[e − len]; a position where no
//   vocabulary piece starts is the unknown id 0 (one code point, score 0); ties go to the later candidate
//   (score ≥ best); consecutive unknowns merge into one.

const SEPARATOR = "\u2581";
/** A whole word: letters and digits, with inner apostrophes ("don't"); WORD_AT_START finds one after a chunk's "▁". */
const WORD = /[\p{L}\p{N}]+(?:['\u2019][\p{L}\p{N}]+)*/u;
const WORD_AT_START = /^\u2581([\p{L}\p{N}]+(?:['\u2019][\p{L}\p{N}]+)*)/u;

/** The whole words of a text, as SentencePieceTokenizer's word lookup sees them (after NFKC, split on spaces). */
export function leadingWords(text) {
  const out = [];
  for (const chunk of String(text).normalize("NFKC").split(" ")) {
    const m = (SEPARATOR + chunk).match(WORD_AT_START);
    if (m) out.push(m[1]);
  }
  return out;
}

/** The Universal Sentence Encoder's vocabulary layout: ids 0–5 are reserved (unknown, <s>, </s>, 3 extras). */
export const USE_RESERVED_SYMBOLS = 6;

export class SentencePieceTokenizer {
  /**
   * `vocab`: [[piece, score], ...] in id order; pieces with id < `reserved` are never produced (they are not
   * segmentation candidates).
   */
  constructor(vocab, reserved = USE_RESERVED_SYMBOLS, words = []) {
    if (!Array.isArray(vocab) || vocab.length <= reserved) throw new EmbedRuntimeError("vocab", `expected an array of more than ${reserved} [piece, score] pairs`);
    if (!Array.isArray(words)) throw new EmbedRuntimeError("words", "expected an array of whole words");
    this.vocab = vocab;
    this.reserved = reserved;
    // Whole words (Model2Vec's vocabulary step): word k has id vocab.length + k; see encode.
    this.words = words;
    this.wordIds = new Map();
    words.forEach((w, k) => {
      if (typeof w !== "string" || !WORD.test(w) || w.match(WORD)[0] !== w) throw new EmbedRuntimeError(`words[${k}]`, `${JSON.stringify(w)} is not one whole word (letters and digits, inner apostrophes)`);
      if (!this.wordIds.has(w)) this.wordIds.set(w, vocab.length + k);
    });
    // USE's vocab.json has a null score for 7 pieces with ":" ("://", "▁:)", …); its tokenizer adds them as 0.
    this.scores = Float64Array.from(vocab, (e) => (Array.isArray(e) && typeof e[1] === "number" ? e[1] : 0));
    this.lengths = new Int32Array(vocab.length);
    // A trie over code points: node = Map(code point → node), node.id = the piece ending there (or -1).
    this.root = { next: new Map(), id: -1 };
    for (let id = 0; id < vocab.length; id++) {
      const entry = vocab[id];
      if (!Array.isArray(entry) || typeof entry[0] !== "string" || !(typeof entry[1] === "number" || entry[1] === null)) {
        throw new EmbedRuntimeError(`vocab[${id}]`, "expected [piece, score] with a string piece and a numeric score");
      }
      const chars = Array.from(entry[0]);
      this.lengths[id] = chars.length;
      if (id < reserved || chars.length === 0) continue;
      let node = this.root;
      for (const ch of chars) {
        let child = node.next.get(ch);
        if (!child) node.next.set(ch, (child = { next: new Map(), id: -1 }));
        node = child;
      }
      node.id = id;
    }
  }

  get size() {
    return this.vocab.length + this.words.length;
  }

  /**
   * The text's ids (no special tokens). With whole words: the input is cut before each "▁" (no piece of USE's
   * vocabulary holds an inner "▁", so the Viterbi path breaks there anyway); a chunk whose leading word (letters and
   * digits, inner apostrophes) is in the word list gives that word's id, then the rest of the chunk's pieces.
   */
  encode(text) {
    const normalized = String(text).normalize("NFKC");
    const input = normalized.length > 0 ? SEPARATOR + normalized.replace(/ /g, SEPARATOR) : normalized;
    if (this.words.length === 0) return this.segment(Array.from(input));
    const out = [];
    for (const chunk of input.split(/(?=\u2581)/)) {
      const m = chunk.match(WORD_AT_START);
      const id = m ? this.wordIds.get(m[1]) : undefined;
      if (id === undefined) {
        for (const t of this.segment(Array.from(chunk))) out.push(t);
        continue;
      }
      out.push(id);
      for (const t of this.segment(Array.from(chunk.slice(m[0].length)))) out.push(t);
    }
    const merged = [];
    for (let i = 0; i < out.length; i++) if (!(out[i] === 0 && i > 0 && out[i - 1] === 0)) merged.push(out[i]);
    return merged;
  }

  /** Viterbi over code points (see above). */
  segment(symbols) {
    const n = symbols.length;
    if (n === 0) return [];
    const best = new Float64Array(n + 1);
    const word = new Int32Array(n + 1);
    const wordLen = new Int32Array(n + 1);
    // candidates[e]: pieces ending at e, in the order they were found (start ascending, then length ascending).
    const candidates = Array.from({ length: n + 1 }, () => []);
    for (let i = 0; i < n; i++) {
      let node = this.root.next.get(symbols[i]);
      let found = false;
      for (let k = i; node; ) {
        if (node.id >= 0) {
          candidates[k + 1].push(i, node.id, k + 1 - i);
          found = true;
        }
        k++;
        node = k < n ? node.next.get(symbols[k]) : undefined;
      }
      if (!found) candidates[i + 1].push(i, 0, 1);
    }
    for (let e = 1; e <= n; e++) {
      const c = candidates[e];
      for (let j = 0; j < c.length; j += 3) {
        const id = c[j + 1];
        const len = c[j + 2];
        const score = (id === 0 ? 0 : this.scores[id]) + best[e - len];
        if (best[e] === 0 || score >= best[e]) {
          best[e] = score;
          word[e] = id;
          wordLen[e] = len;
        }
      }
    }
    const out = [];
    for (let e = n; e > 0; e -= wordLen[e]) out.push(word[e]);
    out.reverse();
    const merged = [];
    for (let i = 0; i < out.length; i++) if (!(out[i] === 0 && i > 0 && out[i - 1] === 0)) merged.push(out[i]);
    return merged;
  }

  /** The text of these ids: pieces joined, "▁" as a space, the leading space dropped; reserved ids are left out. */
  decode(ids) {
    let s = "";
    for (const id of ids) {
      if (id >= this.reserved && id < this.vocab.length) s += this.vocab[id][0];
      else if (id >= this.vocab.length && id < this.size) s += SEPARATOR + this.words[id - this.vocab.length];
    }
    return s.replace(/\u2581/g, " ").replace(/^ /, "");
  }
}

// ---------------------------------------------------------------------------------------------------------------
// safetensors (F32 tensors; a quantised table as F16, or as I8 with a per-row F32 scale "<name>/scale"; see
// src/util/safetensors.ts for the format)

const BYTES = { F32: 4, F16: 2, I8: 1 };

/** fp16 bits → the number they stand for (as src/util/float16.ts fromHalfBits; the runtime imports nothing). */
function halfToFloat(h) {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 31) return m ? NaN : sign * Infinity;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

/**
 * Tensors {dtype, shape, data} (data: Float32Array for F32, Uint16Array of fp16 bits for F16, Int8Array for I8) →
 * name → {shape, data: Float32Array}: F16 widened, an I8 tensor [rows, …] times its "<name>/scale" [rows] (one
 * scale per row: value = q · scale), which is then dropped.
 */
export function dequantizeTensors(tensors, source = "embeddings.safetensors") {
  const out = {};
  for (const [name, t] of Object.entries(tensors)) {
    if (name.endsWith("/scale") && tensors[name.slice(0, -"/scale".length)]?.dtype === "I8") continue;
    if (t.dtype === "F32") out[name] = { shape: t.shape, data: t.data };
    else if (t.dtype === "F16") out[name] = { shape: t.shape, data: Float32Array.from(t.data, halfToFloat) };
    else if (t.dtype === "I8") {
      const scale = tensors[`${name}/scale`];
      const rows = t.shape[0];
      if (!scale || scale.dtype !== "F32" || scale.shape.length !== 1 || scale.shape[0] !== rows) throw new EmbedRuntimeError(source, `int8 tensor "${name}" needs an F32 tensor "${name}/scale" [${rows}] (one scale per row)`);
      const per = rows > 0 ? t.data.length / rows : 0;
      const data = new Float32Array(t.data.length);
      for (let i = 0; i < data.length; i++) data[i] = t.data[i] * scale.data[Math.floor(i / per)];
      out[name] = { shape: t.shape, data };
    } else throw new EmbedRuntimeError(source, `tensor "${name}" is ${t.dtype}; expected F32, F16 or I8`);
  }
  return out;
}

/** name → {shape, data: Float32Array} from a safetensors file's bytes (F32, F16 and I8 + scale; little-endian hosts). */
export function readSafetensorsF32(bytes, source = "embeddings.safetensors") {
  const u8 = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  if (u8.length < 8) throw new EmbedRuntimeError(source, "too short for a safetensors file");
  const view = new DataView(u8.buffer, u8.byteOffset, u8.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (8 + headerLength > u8.length) throw new EmbedRuntimeError(source, `header length ${headerLength} runs past the end of the file`);
  let header;
  try {
    header = JSON.parse(new TextDecoder().decode(u8.subarray(8, 8 + headerLength)));
  } catch (err) {
    throw new EmbedRuntimeError(source, `header is not JSON (${err.message})`);
  }
  const base = 8 + headerLength;
  const raw = {};
  for (const [name, t] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const size = BYTES[t.dtype];
    if (!size) throw new EmbedRuntimeError(source, `tensor "${name}" is ${t.dtype}; expected F32, F16 or I8`);
    const [begin, end] = t.data_offsets;
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (end - begin !== count * size || base + end > u8.length) throw new EmbedRuntimeError(source, `tensor "${name}" has bad data offsets`);
    // A copy (new Uint8Array(view) copies; a Node Buffer's slice would not): the tensor's start need not be aligned.
    const buf = new Uint8Array(u8.subarray(base + begin, base + end)).buffer;
    raw[name] = { dtype: t.dtype, shape: t.shape, data: t.dtype === "F32" ? new Float32Array(buf) : t.dtype === "F16" ? new Uint16Array(buf) : new Int8Array(buf) };
  }
  return dequantizeTensors(raw, source);
}

// ---------------------------------------------------------------------------------------------------------------
// The model

/** A tokenizer from a saved tokenizer.json: built in for "sentencepiece", else `encode` must be given. */
export function tokenizerFromJson(json, encode) {
  if (encode) return { encode };
  if (json && json.kind === "sentencepiece") {
    const t = new SentencePieceTokenizer(json.vocab, json.reserved ?? USE_RESERVED_SYMBOLS, json.words ?? []);
    return { encode: (text) => t.encode(text) };
  }
  throw new EmbedRuntimeError("tokenizer.json", 'is a Hugging Face tokenizer; pass options.encode (text → ids without special tokens) from a tokenizer library, e.g. @lenml/tokenizers');
}

/**
 * An embedding model from its parts: config.json's object, the safetensors tensors ("embeddings" [vocab, width],
 * optional "head/kernel" [width, dim] and "head/bias" [dim], and with config.context > 0 the context layer's
 * "context/kernel1" [3·width, H], "context/bias1" [H], "context/kernel2" [H, width], "context/query" [H]) and a
 * tokenizer {encode(text) → ids}.
 * embed(texts) → one Float32Array(dim) per text: the mean of the tokens' rows (ids outside the table and the pad id
 * are skipped; a text without tokens is the zero vector before the head), then the head, then L2 normalisation
 * when config.normalize. With a context layer the mean becomes Σ softmax(a)_t·z_t over the kept tokens, where
 * h_t = relu([r_{t−1}, r_t, r_{t+1}]·W1 + b1) (zero rows outside the text), z_t = r_t + h_t·W2, a_t = h_t·q.
 */
export class EmbeddingModel {
  constructor(config, tensors, tokenizer) {
    if (!config || config.format !== EMBEDDINGS_FORMAT) throw new EmbedRuntimeError("config.json", `format is ${JSON.stringify(config && config.format)}; expected "${EMBEDDINGS_FORMAT}"`);
    const table = tensors.embeddings;
    if (!table || table.shape.length !== 2) throw new EmbedRuntimeError("embeddings.safetensors", 'expected a tensor "embeddings" [vocab, width]');
    this.config = config;
    this.table = table.data;
    this.vocab = table.shape[0];
    this.width = table.shape[1];
    this.kernel = tensors["head/kernel"] ? tensors["head/kernel"].data : null;
    this.bias = tensors["head/bias"] ? tensors["head/bias"].data : null;
    this.dim = this.kernel ? tensors["head/kernel"].shape[1] : this.width;
    if (this.kernel && tensors["head/kernel"].shape[0] !== this.width) throw new EmbedRuntimeError("embeddings.safetensors", "head/kernel rows do not match the table width");
    this.padId = typeof config.padId === "number" ? config.padId : -1;
    this.hidden = Number.isInteger(config.context) && config.context > 0 ? config.context : 0;
    if (this.hidden > 0) {
      const H = this.hidden;
      const W = this.width;
      const want = { "context/kernel1": [3 * W, H], "context/bias1": [H], "context/kernel2": [H, W], "context/query": [H] };
      for (const [name, shape] of Object.entries(want)) {
        if (!tensors[name] || tensors[name].shape.join() !== shape.join()) throw new EmbedRuntimeError("embeddings.safetensors", `expected a tensor "${name}" [${shape}] for config.context ${H}`);
      }
      this.ctx = { w1: tensors["context/kernel1"].data, b1: tensors["context/bias1"].data, w2: tensors["context/kernel2"].data, q: tensors["context/query"].data };
    }
    this.normalize = config.normalize !== false;
    this.tokenizer = tokenizer;
  }

  /** Ids → vector (Float64 accumulation, Float32 result). */
  embedIds(ids) {
    const w = this.width;
    let acc = new Float64Array(w);
    const kept = [];
    for (const id of ids) if (id >= 0 && id < this.vocab && id !== this.padId) kept.push(id);
    if (this.hidden > 0) acc = this.contextPool(kept);
    else {
      for (const id of kept) {
        const row = id * w;
        for (let j = 0; j < w; j++) acc[j] += this.table[row + j];
      }
      if (kept.length > 0) for (let j = 0; j < w; j++) acc[j] /= kept.length;
    }
    let v = acc;
    if (this.kernel) {
      const d = this.dim;
      v = new Float64Array(d);
      for (let j = 0; j < d; j++) v[j] = this.bias ? this.bias[j] : 0;
      for (let i = 0; i < w; i++) {
        const a = acc[i];
        if (a === 0) continue;
        const row = i * d;
        for (let j = 0; j < d; j++) v[j] += a * this.kernel[row + j];
      }
    }
    if (this.normalize) {
      let s = 0;
      for (let j = 0; j < v.length; j++) s += v[j] * v[j];
      const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
      for (let j = 0; j < v.length; j++) v[j] *= inv;
    }
    return Float32Array.from(v);
  }

  /**
   * The context layer's weighted mean of the kept ids' context-mixed rows (see the class comment). Two rewrites keep
   * it cheap: each id's three products r·W1[part] are computed once and kept (this.parts), so h_t is a sum of three
   * of them; and W2 is applied once per text, since Σ_t p_t (r_t + h_t·W2) = Σ_t p_t r_t + (Σ_t p_t h_t)·W2.
   */
  contextPool(kept) {
    const W = this.width;
    const H = this.hidden;
    const { w1, b1, w2, q } = this.ctx;
    const n = kept.length;
    const out = new Float64Array(W);
    if (n === 0) return out;
    if (!this.parts) {
      this.parts = new Float32Array(this.vocab * 3 * H);
      this.partsDone = new Uint8Array(this.vocab);
    }
    const acc = new Float64Array(H);
    for (const id of kept) {
      if (this.partsDone[id]) continue;
      const row = id * W;
      for (let part = 0; part < 3; part++) {
        acc.fill(0);
        for (let i = 0; i < W; i++) {
          const x = this.table[row + i];
          if (x === 0) continue;
          const base = (part * W + i) * H;
          for (let k = 0; k < H; k++) acc[k] += x * w1[base + k];
        }
        this.parts.set(acc, (id * 3 + part) * H);
      }
      this.partsDone[id] = 1;
    }
    const h = new Float64Array(n * H);
    const a = new Float64Array(n);
    let max = -Infinity;
    for (let t = 0; t < n; t++) {
      const cur = (kept[t] * 3 + 1) * H;
      const prev = t > 0 ? kept[t - 1] * 3 * H : -1;
      const next = t < n - 1 ? (kept[t + 1] * 3 + 2) * H : -1;
      let score = 0;
      for (let k = 0; k < H; k++) {
        let v = b1[k] + this.parts[cur + k];
        if (prev >= 0) v += this.parts[prev + k];
        if (next >= 0) v += this.parts[next + k];
        v = v > 0 ? v : 0;
        h[t * H + k] = v;
        score += v * q[k];
      }
      a[t] = score;
      if (score > max) max = score;
    }
    let total = 0;
    for (let t = 0; t < n; t++) total += (a[t] = Math.exp(a[t] - max));
    const hs = new Float64Array(H);
    for (let t = 0; t < n; t++) {
      const p = a[t] / total;
      const row = kept[t] * W;
      for (let i = 0; i < W; i++) out[i] += p * this.table[row + i];
      for (let k = 0; k < H; k++) hs[k] += p * h[t * H + k];
    }
    for (let k = 0; k < H; k++) {
      const v = hs[k];
      if (v === 0) continue;
      const base = k * W;
      for (let i = 0; i < W; i++) out[i] += v * w2[base + i];
    }
    return out;
  }

  /** Texts → one Float32Array(dim) each. */
  embed(texts) {
    if (!Array.isArray(texts)) throw new EmbedRuntimeError("texts", "expected an array of strings");
    return texts.map((t, i) => {
      if (typeof t !== "string") throw new EmbedRuntimeError(`texts[${i}]`, "expected a string");
      return this.embedIds(this.tokenizer.encode(t));
    });
  }
}

/**
 * Fetches a saved model's config.json, embeddings.safetensors and tokenizer.json from `baseUrl` (a folder URL;
 * `options.fetch` defaults to the global fetch) and returns an EmbeddingModel.
 */
export async function loadEmbeddingModel(baseUrl, options = {}) {
  const get = options.fetch ?? globalThis.fetch;
  const base = String(baseUrl).endsWith("/") ? String(baseUrl) : `${baseUrl}/`;
  const fetchOk = async (name) => {
    const res = await get(base + name);
    if (!res.ok) throw new EmbedRuntimeError(base + name, `HTTP ${res.status}`);
    return res;
  };
  const [config, weights, tokenizer] = await Promise.all([
    fetchOk("config.json").then((r) => r.json()),
    fetchOk("embeddings.safetensors").then((r) => r.arrayBuffer()),
    options.encode ? Promise.resolve(null) : fetchOk("tokenizer.json").then((r) => r.json()),
  ]);
  return new EmbeddingModel(config, readSafetensorsF32(weights), tokenizerFromJson(tokenizer, options.encode));
}
