import { DataError } from "../util/errors.js";
import { readDataFile } from "../util/files.js";
import { featurizeTexts, fitNgrams, ngramConfig, type HashedNgramConfig } from "../features/hashed-ngrams.js";
import { DEFAULT_SPLIT_SEED, DEFAULT_TEST_FRACTION, stratifiedSplit } from "./stratified-split.js";
import { sortLabelNames } from "./tabular.js";
import { textDataset } from "./text-dataset.js";
import type { InMemoryDataset } from "./dataset.js";

/** What a served text model needs to featurise new texts: field names, class names and the fitted featuriser. */
export interface TextPreprocess {
  kind: "text";
  version: 1;
  textField: string;
  labelField: string;
  labelNames: string[];
  featurizer: HashedNgramConfig;
}

export interface JsonlTextOptions {
  textField?: string;
  labelField?: string;
  featurizer?: Partial<HashedNgramConfig>;
  testFraction?: number;
  splitSeed?: number;
  /** A separate JSONL file of test samples (every one labelled). */
  testFile?: string;
}

export interface JsonlRecords {
  texts: string[];
  /** The label as a string; null where the object has no label (unlabeled sample). */
  labels: (string | null)[];
  lines: number[];
}

/** Reads one JSON object per line; blank lines are skipped. Errors name the file, line and field. */
export function readJsonlTexts(path: string, textField = "text", labelField = "label"): JsonlRecords {
  const text = readDataFile(path, "a JSONL file (one JSON object per line)").toString("utf8");
  const out: JsonlRecords = { texts: [], labels: [], lines: [] };
  text.split(/\r?\n/).forEach((raw, k) => {
    const line = k + 1;
    if (raw.trim() === "") return;
    let obj: unknown;
    try {
      obj = JSON.parse(raw);
    } catch (err) {
      throw new DataError(path, `line ${line}: not valid JSON (${(err as Error).message})`);
    }
    if (typeof obj !== "object" || obj === null || Array.isArray(obj)) throw new DataError(path, `line ${line}: expected a JSON object, got ${Array.isArray(obj) ? "an array" : typeof obj}`);
    const rec = obj as Record<string, unknown>;
    const t = rec[textField];
    if (typeof t !== "string") throw new DataError(path, `line ${line}: field "${textField}": expected a string, got ${t === undefined ? "nothing" : JSON.stringify(t).slice(0, 40)}`);
    const l = rec[labelField];
    let label: string | null;
    if (l === undefined || l === null) label = null;
    else if (typeof l === "string" || typeof l === "number" || typeof l === "boolean") label = String(l);
    else throw new DataError(path, `line ${line}: field "${labelField}": expected a string or number label (or null for unlabeled), got ${JSON.stringify(l).slice(0, 40)}`);
    out.texts.push(t);
    out.labels.push(label);
    out.lines.push(line);
  });
  if (out.texts.length === 0) throw new DataError(path, "has no JSON lines; expected one object per line");
  return out;
}

export interface TextSplits {
  train: InMemoryDataset;
  test: InMemoryDataset;
  unlabeled?: InMemoryDataset;
  preprocess: TextPreprocess;
}

/** Texts with class indices (−1: unlabeled). */
export interface LabelledTexts {
  texts: string[];
  y: Int32Array;
}

export interface JsonlLabelledSplits {
  textField: string;
  labelField: string;
  /** Class names, sorted (class index = position). */
  labelNames: string[];
  train: LabelledTexts;
  test: LabelledTexts;
  unlabeled: LabelledTexts;
}

/**
 * The texts of a JSONL file split for classification, before any featurisation: labels → class indices (sorted
 * names), a seeded stratified test split (or the test file), unlabeled samples apart.
 */
export function splitJsonlTexts(path: string, opts: Omit<JsonlTextOptions, "featurizer"> = {}): JsonlLabelledSplits {
  const textField = opts.textField ?? "text";
  const labelField = opts.labelField ?? "label";
  const recs = readJsonlTexts(path, textField, labelField);
  const testRecs = opts.testFile ? readJsonlTexts(opts.testFile, textField, labelField) : null;
  const labelNames = sortLabelNames([...recs.labels, ...(testRecs?.labels ?? [])].filter((l): l is string => l !== null));
  if (labelNames.length < 2) throw new DataError(path, `field "${labelField}" has ${labelNames.length} distinct label; expected at least 2 classes`);
  const index = new Map(labelNames.map((n, i) => [n, i]));
  const encode = (r: JsonlRecords) => Int32Array.from(r.labels, (l) => (l === null ? -1 : index.get(l)!));
  const y = encode(recs);
  const split = stratifiedSplit(y, testRecs ? 0 : opts.testFraction ?? DEFAULT_TEST_FRACTION, opts.splitSeed ?? DEFAULT_SPLIT_SEED);
  if (split.train.length === 0) throw new DataError(path, "has no labelled samples; expected at least one");
  const pick = (rows: Int32Array): LabelledTexts => ({ texts: Array.from(rows, (i) => recs.texts[i]), y: Int32Array.from(rows, (i) => y[i]) });
  let test: LabelledTexts;
  if (testRecs) {
    const ty = encode(testRecs);
    const missing = ty.indexOf(-1);
    if (missing >= 0) throw new DataError(opts.testFile!, `line ${testRecs.lines[missing]}: the test file needs field "${labelField}" on every line`);
    test = { texts: testRecs.texts, y: ty };
  } else {
    test = pick(split.test);
  }
  return { textField, labelField, labelNames, train: pick(split.train), test, unlabeled: pick(split.unlabeled) };
}

/**
 * JSONL text classification data: labels → class indices (sorted names), a seeded stratified test split (or
 * the test file), idf fitted on the training texts only, hashed n-gram features for every split.
 */
export function loadJsonlText(path: string, opts: JsonlTextOptions = {}, name = `jsonl:${path}`): TextSplits {
  const { textField, labelField, labelNames, train, test, unlabeled } = splitJsonlTexts(path, opts);
  const featurizer = fitNgrams(train.texts, ngramConfig(opts.featurizer, name));
  const make = (part: LabelledTexts, partName: string) =>
    textDataset(`${name}/${partName}`, featurizeTexts(part.texts, featurizer), part.y, [featurizer.buckets], labelNames.length, part.texts);
  return {
    train: make(train, "train"),
    test: make(test, "test"),
    unlabeled: unlabeled.texts.length > 0 ? make(unlabeled, "unlabeled") : undefined,
    preprocess: { kind: "text", version: 1, textField, labelField, labelNames, featurizer },
  };
}
