import { DataError } from "../util/errors.js";
import * as runtime from "../runtime/runtime.js";
import { asDataError, isMissingToken, MISSING_CATEGORY, parseNumber } from "../runtime/runtime.js";
import { InMemoryDataset } from "./dataset.js";
import { ArrayRawView, type RawRecord } from "./raw.js";
import { DEFAULT_SPLIT_SEED, DEFAULT_TEST_FRACTION, stratifiedSplit } from "./stratified-split.js";

/** One cell as read from a file; null is a missing value. */
export type Cell = string | null;

/** A column type stated by the file format itself (ARFF); CSV columns are detected instead. */
export type ColumnDeclaration = { kind: "numeric" } | { kind: "categorical"; categories?: string[] };

/** A table as a reader parsed it: every value still a string, nothing fitted yet. */
export interface RawTable {
  file: string;
  columns: string[];
  rows: Cell[][];
  /** Line of each row in the file, 1-based, for error messages. */
  lines: number[];
  declared?: (ColumnDeclaration | undefined)[];
}

export interface TabularOptions {
  /** Label column name (default: the last column). */
  label?: string;
  /** Force these columns categorical / numeric (default: numeric when every value parses as a number). */
  categorical?: string[];
  numeric?: string[];
  /** Columns to leave out (ids, free text). */
  drop?: string[];
  /** Standardise numeric columns with the training mean and std (default true). */
  standardize?: boolean;
  /** Held-out share of each class when there is no test file (default 0.2), and its seed (default 0). */
  testFraction?: number;
  splitSeed?: number;
  /** A separate test table (same columns); when given, nothing is held out of the training file. */
  testTable?: RawTable;
}

export type TabularColumn =
  | { name: string; kind: "numeric"; mean: number; std: number }
  | { name: string; kind: "categorical"; categories: string[] };

/**
 * Everything fitted on the training rows, as plain JSON (saved as preprocess.json next to a model): input
 * columns in order, each numeric column's training mean (fills missing values) and std, each categorical
 * column's categories (one-hot, plus a last slot for missing or unseen values), and the class names.
 */
export interface TabularPreprocess {
  kind: "tabular";
  version: 1;
  label: string;
  labelNames: string[];
  columns: TabularColumn[];
  standardize: boolean;
  /** Name of every output feature, in order ("age", "color=red", "color=(missing)"). */
  features: string[];
}

export { MISSING_CATEGORY, isMissingToken, parseNumber };
const MAX_CATEGORIES = 1000;

function columnIndex(table: RawTable, name: string, option: string): number {
  const i = table.columns.indexOf(name);
  if (i < 0) throw new DataError(table.file, `has no column "${name}" (${option}); its columns are ${table.columns.map((c) => JSON.stringify(c)).join(", ")}`);
  return i;
}

/** Sorts class names numerically when they all are numbers, else by code point (the same on every platform). */
export function sortLabelNames(names: Iterable<string>): string[] {
  const list = [...new Set(names)];
  const numeric = list.every((s) => parseNumber(s) !== null);
  return numeric ? list.sort((a, b) => parseNumber(a)! - parseNumber(b)!) : list.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

interface Schema {
  labelIndex: number;
  inputs: { index: number; name: string; kind: "numeric" | "categorical"; declared?: string[] }[];
  labelNames: string[];
}

function resolveSchema(table: RawTable, opts: TabularOptions): Schema {
  if (table.columns.length < 2) throw new DataError(table.file, `has ${table.columns.length} column; expected at least one input column and a label column`);
  const labelIndex = opts.label === undefined ? table.columns.length - 1 : columnIndex(table, opts.label, "label");
  const forcedCat = new Set((opts.categorical ?? []).map((c) => (columnIndex(table, c, "categorical"), c)));
  const forcedNum = new Set((opts.numeric ?? []).map((c) => (columnIndex(table, c, "numeric"), c)));
  const dropped = new Set((opts.drop ?? []).map((c) => (columnIndex(table, c, "drop"), c)));
  const inputs: Schema["inputs"] = [];
  table.columns.forEach((name, index) => {
    if (index === labelIndex || dropped.has(name)) return;
    const declared = table.declared?.[index];
    let kind: "numeric" | "categorical";
    if (forcedCat.has(name)) kind = "categorical";
    else if (forcedNum.has(name)) kind = "numeric";
    else if (declared) kind = declared.kind;
    else kind = table.rows.every((r) => r[index] === null || parseNumber(r[index]!) !== null) ? "numeric" : "categorical";
    const cats = declared?.kind === "categorical" && kind === "categorical" ? declared.categories : undefined;
    inputs.push({ index, name, kind, declared: cats });
  });
  if (inputs.length === 0) throw new DataError(table.file, "has no input columns left after dropping; expected at least one");
  const declaredLabel = table.declared?.[labelIndex];
  const labelNames =
    declaredLabel?.kind === "categorical" && declaredLabel.categories ? declaredLabel.categories
    : sortLabelNames([...(opts.testTable?.rows ?? []), ...table.rows].map((r) => r[labelIndex]).filter((v): v is string => v !== null));
  if (labelNames.length < 2) {
    throw new DataError(table.file, `label column "${table.columns[labelIndex]}" has ${labelNames.length} class; expected at least 2 (label=NAME picks another column)`);
  }
  return { labelIndex, inputs, labelNames };
}

/** Class index of every row; −1 where the label is missing (the row is unlabeled). */
function encodeLabels(table: RawTable, labelIndex: number, labelNames: string[]): Int32Array {
  const index = new Map(labelNames.map((n, i) => [n, i]));
  const numericNames = labelNames.every((s) => parseNumber(s) !== null);
  return Int32Array.from(table.rows, (r, i) => {
    const v = r[labelIndex];
    if (v === null) return -1;
    let k = index.get(v);
    // "1" and "1.0" are the same class when every class name is a number.
    if (k === undefined && numericNames) k = labelNames.findIndex((n) => parseNumber(n) === parseNumber(v));
    if (k === undefined || k < 0) {
      throw new DataError(table.file, `line ${table.lines[i]}: label "${v}" in column "${table.columns[labelIndex]}" is not one of the ${labelNames.length} classes`);
    }
    return k;
  });
}

/** Fits means, stds and categories on the given training rows only. */
function fitPreprocess(table: RawTable, schema: Schema, trainRows: ArrayLike<number>, standardize: boolean): TabularPreprocess {
  const columns: TabularColumn[] = schema.inputs.map((col) => {
    if (col.kind === "numeric") {
      let n = 0;
      let sum = 0;
      let sumSq = 0;
      for (let k = 0; k < trainRows.length; k++) {
        const r = trainRows[k];
        const cell = table.rows[r][col.index];
        if (cell === null) continue;
        const v = parseNumber(cell);
        if (v === null) throw new DataError(table.file, `line ${table.lines[r]}: column "${col.name}": expected a number, got "${cell}"`);
        n++;
        sum += v;
        sumSq += v * v;
      }
      const mean = n > 0 ? sum / n : 0;
      const variance = n > 0 ? Math.max(0, sumSq / n - mean * mean) : 0;
      const std = Math.sqrt(variance);
      return { name: col.name, kind: "numeric", mean, std: std > 1e-12 * Math.max(1, Math.abs(mean)) ? std : 1 };
    }
    let categories = col.declared;
    if (!categories) {
      const seen = new Set<string>();
      for (let k = 0; k < trainRows.length; k++) {
        const cell = table.rows[trainRows[k]][col.index];
        if (cell !== null) seen.add(cell);
      }
      categories = [...seen].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    }
    if (categories.length > MAX_CATEGORIES) {
      throw new DataError(table.file, `column "${col.name}" has ${categories.length} distinct values; expected at most ${MAX_CATEGORIES} for one-hot encoding (drop=${col.name} leaves it out)`);
    }
    return { name: col.name, kind: "categorical", categories };
  });
  const features = columns.flatMap((c) => (c.kind === "numeric" ? [c.name] : [...c.categories, MISSING_CATEGORY].map((v) => `${c.name}=${v}`)));
  return { kind: "tabular", version: 1, label: table.columns[schema.labelIndex], labelNames: schema.labelNames, columns, standardize, features };
}

/** Number of features a preprocess produces per row. */
export function tabularWidth(pre: TabularPreprocess): number {
  return pre.features.length;
}

/**
 * Encodes rows of cells (one per preprocess column, in its order) into features [rows, width]. `where(i)`
 * names row i in errors (file and line, or request index). The code is the preprocessing runtime's
 * (src/runtime/preprocess.mjs), which serve and exported models use for raw records.
 */
export function encodeTabularRows(pre: TabularPreprocess, rows: readonly Cell[][], where: (i: number) => string): Float32Array {
  return asDataError(() => runtime.encodeTabularRows(pre, rows, where));
}

/** The cells of the schema's input columns for the given rows (reordering a test table by column name). */
function inputCells(table: RawTable, pre: TabularPreprocess, rows: ArrayLike<number>): Cell[][] {
  const idx = pre.columns.map((c) => columnIndex(table, c.name, "an input column of the training file"));
  return Array.from(rows, (r) => idx.map((j) => table.rows[r][j]));
}

/** The rows as records (column → cell, every column but the label): the raw view a function teacher reads. */
function recordView(table: RawTable, rows: Int32Array, label: string): ArrayRawView {
  const cols = table.columns.map((c, j) => [c, j] as const).filter(([c]) => c !== label);
  return new ArrayRawView(
    "record",
    Array.from(rows, (r) => {
      const rec: RawRecord = {};
      for (const [c, j] of cols) rec[c] = table.rows[r][j];
      return rec;
    }),
  );
}

export interface TabularSplits {
  train: InMemoryDataset;
  test: InMemoryDataset;
  /** Rows whose label is missing (label −1): only a teacher can label them. */
  unlabeled?: InMemoryDataset;
  preprocess: TabularPreprocess;
}

/**
 * The whole tabular pipeline: schema (label, column kinds), labels, a seeded stratified train/test split
 * (or the separate test table), preprocessing fitted on the training rows only, then features for every split.
 */
export function tabularSplits(table: RawTable, name: string, opts: TabularOptions = {}): TabularSplits {
  const schema = resolveSchema(table, opts);
  const y = encodeLabels(table, schema.labelIndex, schema.labelNames);
  const split = stratifiedSplit(y, opts.testTable ? 0 : opts.testFraction ?? DEFAULT_TEST_FRACTION, opts.splitSeed ?? DEFAULT_SPLIT_SEED);
  if (split.train.length === 0) throw new DataError(table.file, "has no labelled rows; expected at least one row with a label");
  const pre = fitPreprocess(table, schema, split.train, opts.standardize ?? true);
  const width = tabularWidth(pre);
  const make = (t: RawTable, rows: Int32Array, labels: Int32Array, part: string) => {
    const x = encodeTabularRows(pre, inputCells(t, pre, rows), (i) => `${t.file}: line ${t.lines[rows[i]]}`);
    return new InMemoryDataset(`${name}/${part}`, x, Int32Array.from(rows, (r) => labels[r]), [width], schema.labelNames.length, recordView(t, rows, pre.label));
  };
  const train = make(table, split.train, y, "train");
  let test: InMemoryDataset;
  if (opts.testTable) {
    const tt = opts.testTable;
    const ty = encodeLabels(tt, columnIndex(tt, pre.label, "label"), schema.labelNames);
    const missing = ty.indexOf(-1);
    if (missing >= 0) throw new DataError(tt.file, `line ${tt.lines[missing]}: the test file needs a label in column "${pre.label}" on every row`);
    test = make(tt, Int32Array.from(ty, (_, i) => i), ty, "test");
  } else {
    test = make(table, split.test, y, "test");
  }
  const unlabeled = split.unlabeled.length > 0 ? make(table, split.unlabeled, y, "unlabeled") : undefined;
  return { train, test, unlabeled, preprocess: pre };
}
