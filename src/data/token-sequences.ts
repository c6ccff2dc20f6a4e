import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { DataError } from "../util/errors.js";
import { readDataFile } from "../util/files.js";
import { Rng } from "../util/rng.js";
import { requireSpecial, type Tokenizer } from "../tokenizers/tokenizer.js";
import { InMemoryDataset } from "./dataset.js";
import { ArrayRawView } from "./raw.js";
import { textsOf } from "./text-dataset.js";
import { DEFAULT_SPLIT_SEED } from "./stratified-split.js";

/*
 * Token sequences for transformer students. Ids are stored as the dataset's float features (sampleShape [ctx]), so
 * batching, subsets, teacher caches and fit() work unchanged; the model casts them to int32.
 */

export interface CorpusDocument {
  /** The file (folder corpora) or "file#n" (the n-th blank-line-separated document of a single file). */
  name: string;
  text: string;
}

function textFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .flatMap((e) => (e.isDirectory() ? textFiles(join(dir, e.name)) : e.isFile() && e.name.endsWith(".txt") ? [join(dir, e.name)] : []));
}

/**
 * A corpus's documents: each .txt file of a folder (searched recursively, in name order), or the blank-line
 * separated parts of a single file. Empty documents are skipped.
 */
export function readCorpusDocuments(path: string): CorpusDocument[] {
  let isDir = false;
  try {
    isDir = statSync(path).isDirectory();
  } catch {
    throw new DataError(path, "not found; expected a text file or a folder of .txt files");
  }
  const docs = isDir
    ? textFiles(path).map((f) => ({ name: relative(path, f), text: readDataFile(f, "a UTF-8 text file").toString("utf8") }))
    : readDataFile(path, "a UTF-8 text file").toString("utf8").split(/\r?\n(?:[ \t]*\r?\n)+/).map((text, i) => ({ name: `${path}#${i + 1}`, text }));
  const kept = docs.filter((d) => d.text.trim() !== "");
  if (kept.length === 0) throw new DataError(path, isDir ? "has no non-empty .txt files; expected a folder of text documents" : "is empty; expected text");
  return kept;
}

/**
 * Packs documents into one stream (EOS after each) and cuts it into windows of ctx+1 tokens that overlap by one
 * token, so every token after the first is a target exactly once. The tail shorter than a window is dropped.
 * Returns the windows row-major [n, ctx+1].
 */
export function packWindows(docs: readonly (readonly number[])[], ctx: number, eos: number): Int32Array {
  const stream: number[] = [];
  for (const d of docs) {
    for (const id of d) stream.push(id); // not push(...d): a long document would overflow the call stack
    stream.push(eos);
  }
  const n = stream.length > ctx ? Math.floor((stream.length - 1) / ctx) : 0;
  const out = new Int32Array(n * (ctx + 1));
  for (let w = 0; w < n; w++) for (let k = 0; k <= ctx; k++) out[w * (ctx + 1) + k] = stream[w * ctx + k];
  return out;
}

/** Windows [n, ctx+1] as a dataset: x = the first ctx tokens, y = the token after them (see nextTokenTargets). */
export function windowDataset(name: string, windows: Int32Array, ctx: number, vocabSize: number): InMemoryDataset {
  const n = windows.length / (ctx + 1);
  const x = new Float32Array(n * ctx);
  const y = new Int32Array(n);
  for (let w = 0; w < n; w++) {
    for (let k = 0; k < ctx; k++) x[w * ctx + k] = windows[w * (ctx + 1) + k];
    y[w] = windows[w * (ctx + 1) + ctx];
  }
  return new InMemoryDataset(name, x, y, [ctx], vocabSize);
}

export interface CorpusOptions {
  ctx: number;
  /** Share of documents held out whole for validation (default 0.1; at least one document when > 0). */
  validationFraction?: number;
  /** Share of documents held out whole for test (default 0.1). */
  testFraction?: number;
  /** Seed of the document split (default the data split seed, 0). */
  seed?: number;
}

export interface CorpusSplits {
  train: InMemoryDataset;
  validation: InMemoryDataset | null;
  test: InMemoryDataset | null;
  /** Document names of each split. */
  documents: { train: string[]; validation: string[]; test: string[] };
}

/** A text corpus (file or folder) as next-token windows, with whole documents held out for validation and test. */
export function corpusDatasets(path: string, tokenizer: Tokenizer, opts: CorpusOptions): CorpusSplits {
  const { ctx, validationFraction = 0.1, testFraction = 0.1, seed = DEFAULT_SPLIT_SEED } = opts;
  for (const [k, f] of [["validationFraction", validationFraction], ["testFraction", testFraction]] as const) {
    if (!(f >= 0 && f < 1)) throw new DataError(path, `${k} ${f}: expected a fraction in [0, 1)`);
  }
  const docs = readCorpusDocuments(path);
  const held = (f: number) => (f > 0 ? Math.max(1, Math.round(f * docs.length)) : 0);
  const [nVal, nTest] = [held(validationFraction), held(testFraction)];
  if (docs.length - nVal - nTest < 1) throw new DataError(path, `has ${docs.length} document(s); holding out whole documents for validation and test needs at least ${nVal + nTest + 1}`);
  const order = new Rng(seed, "corpus-split").permutation(docs.length);
  const pick = (from: number, to: number) => Array.from(order.subarray(from, to)).sort((a, b) => a - b).map((i) => docs[i]);
  const parts = { validation: pick(0, nVal), test: pick(nVal, nVal + nTest), train: pick(nVal + nTest, docs.length) };
  const eos = requireSpecial(tokenizer, "eos", "packing documents into windows");
  const make = (part: keyof typeof parts): InMemoryDataset | null => {
    if (parts[part].length === 0) return null;
    const windows = packWindows(parts[part].map((d) => tokenizer.encode(d.text)), ctx, eos);
    if (windows.length === 0) throw new DataError(path, `the ${part} documents hold fewer than ctx+1 = ${ctx + 1} tokens; expected at least one window (use a smaller ctx or more text)`);
    return windowDataset(`text:${path}/${part}`, windows, ctx, tokenizer.vocabSize);
  };
  const names = (part: keyof typeof parts) => parts[part].map((d) => d.name);
  return { train: make("train")!, validation: make("validation"), test: make("test"), documents: { train: names("train"), validation: names("validation"), test: names("test") } };
}

export interface SequenceOptions {
  ctx: number;
  /** Start each sequence with BOS (a first-token pooling head reads it); default: when the tokenizer has one. */
  addBos?: boolean;
  /** End each sequence with EOS (when it fits); default false. */
  addEos?: boolean;
}

export interface PaddedSequences {
  /** [n, ctx] ids, right-padded with the pad id. */
  ids: Int32Array;
  /** [n, ctx] 1 at real tokens, 0 at padding (the attention mask). */
  mask: Uint8Array;
  lengths: Int32Array;
  /** How many texts were cut to ctx tokens. */
  truncated: number;
}

/** Texts as fixed-length id sequences: [BOS] text-ids [EOS], cut to ctx, right-padded, with attention masks. */
export function encodeSequences(texts: readonly string[], tokenizer: Tokenizer, opts: SequenceOptions): PaddedSequences {
  const { ctx } = opts;
  const pad = requireSpecial(tokenizer, "pad", "padding sequences");
  const withBos = opts.addBos ?? tokenizer.special.bos !== null;
  const bos = withBos ? requireSpecial(tokenizer, "bos", "addBos") : null;
  const eos = opts.addEos ? requireSpecial(tokenizer, "eos", "addEos") : null;
  const ids = new Int32Array(texts.length * ctx).fill(pad);
  const mask = new Uint8Array(texts.length * ctx);
  const lengths = new Int32Array(texts.length);
  let truncated = 0;
  texts.forEach((text, i) => {
    const seq = [...(bos !== null ? [bos] : []), ...tokenizer.encode(text), ...(eos !== null ? [eos] : [])];
    if (seq.length > ctx) truncated++;
    const n = Math.min(seq.length, ctx);
    for (let k = 0; k < n; k++) (ids[i * ctx + k] = seq[k]), (mask[i * ctx + k] = 1);
    lengths[i] = n;
  });
  return { ids, mask, lengths, truncated };
}

/** Labelled texts as a token-sequence dataset (x = padded ids, sampleShape [ctx]) that keeps the raw texts. */
export function sequenceDataset(name: string, texts: readonly string[], labels: Int32Array, numClasses: number, tokenizer: Tokenizer, opts: SequenceOptions): InMemoryDataset {
  const { ids } = encodeSequences(texts, tokenizer, opts);
  return new InMemoryDataset(name, Float32Array.from(ids), labels, [opts.ctx], numClasses, new ArrayRawView("text", texts));
}

/** A text dataset (e.g. from jsonl:, featurised otherwise) re-encoded as token sequences, same labels and raw texts. */
export function tokenizeTextDataset(data: InMemoryDataset, tokenizer: Tokenizer, opts: SequenceOptions): InMemoryDataset {
  const texts = textsOf(data);
  if (!texts) throw new Error(`dataset ${data.name} keeps no raw texts to tokenize`);
  return sequenceDataset(data.name, texts, data.y, data.numClasses, tokenizer, opts);
}
