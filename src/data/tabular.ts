import { DataError } from "../util/errors.js";
import * as runtime from "../runtime/runtime.js";
import { asDataError, isMissingToken, MISSING_CATEGORY } from "../runtime/runtime.js";
import { InMemoryDataset, type Task } from "./dataset.js";
import { ArrayRawView, type RawRecord } from "./raw.js";
import { DEFAULT_SPLIT_SEED, DEFAULT_TEST_FRACTION, stratifiedSplit } from "./stratified-split.js";
import { columnIndex, parseNumber, resolveSchema, type Cell, type RawTable, type Schema, type TabularOptions } from "./tabular-schema.js";

export { parseNumber, sortLabelNames } from "./tabular-schema.js";
export type { Cell, ColumnDeclaration, RawTable, TabularOptions } from "./tabular-schema.js";

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
  /** Class names in output order; empty for regression. */
  labelNames: string[];
  columns: TabularColumn[];
  standardize: boolean;
  /** Name of every output feature, in order ("age", "color=red", "color=(missing)"). */
  features: string[];
  /** Absent in files written before regression existed: classification. */
  task?: Task;
  /** Regression: the training targets' mean and std; the model's output z means the value z·std + mean. */
  target?: { mean: number; std: number };
}

export { MISSING_CATEGORY, isMissingToken };
const MAX_CATEGORIES = 1000;

/** Class index of every row (regression: 0); −1 where the label is missing (the row is unlabeled). */
function encodeLabels(table: RawTable, labelIndex: number, schema: Schema): Int32Array {
  const { labelNames } = schema;
  if (schema.task === "regression") return Int32Array.from(table.rows, (r) => (r[labelIndex] === null ? -1 : 0));
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
      // resolveSchema checked that every present cell parses.
      const values: number[] = [];
      for (let k = 0; k < trainRows.length; k++) {
        const cell = table.rows[trainRows[k]][col.index];
        if (cell !== null) values.push(parseNumber(cell)!);
      }
      const [mean, std] = meanStd(values);
      return { name: col.name, kind: "numeric", mean, std };
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
  const pre: TabularPreprocess = { kind: "tabular", version: 1, label: table.columns[schema.labelIndex], labelNames: schema.labelNames, columns, standardize, features };
  if (schema.task === "regression") {
    const [mean, std] = meanStd(Array.from(trainRows, (r) => parseNumber(table.rows[r][schema.labelIndex]!)!));
    Object.assign(pre, { task: "regression", target: { mean, std } });
  }
  return pre;
}

/** Population mean and std (std 1 for a constant column, so standardising never divides by zero). */
function meanStd(values: number[]): [number, number] {
  let sum = 0;
  let sumSq = 0;
  for (const v of values) (sum += v), (sumSq += v * v);
  const n = values.length;
  const mean = n > 0 ? sum / n : 0;
  const std = n > 0 ? Math.sqrt(Math.max(0, sumSq / n - mean * mean)) : 0;
  return [mean, std > 1e-12 * Math.max(1, Math.abs(mean)) ? std : 1];
}

/** A regression model's outputs (standardised) in the target's units. */
export function unstandardizeTargets(pre: TabularPreprocess, z: ArrayLike<number>): Float64Array {
  const { mean, std } = pre.target ?? { mean: 0, std: 1 };
  return Float64Array.from(z, (v) => v * std + mean);
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
  /** How the table was read, for the data summary every command prints. */
  summary: TabularSummary;
}

export interface TabularColumnSummary {
  name: string;
  role: "numeric" | "categorical" | "dropped" | "label";
  /** declared by the file (ARFF), forced by an option, or detected from the values. */
  how?: "declared" | "forced" | "detected" | "named" | "auto";
  /** Categorical: categories fitted on the training rows (plus one "(missing)" slot for missing and unseen values). */
  categories?: number;
  /** Missing cells in the file (and the test file). */
  missing: number;
  /** How missing cells are filled: the training mean for numeric columns, the "(missing)" slot for categorical ones. */
  fill?: string;
}

export interface TabularSummary {
  file: string;
  testFile?: string;
  rows: number;
  columns: TabularColumnSummary[];
  features: number;
  label: string;
  labelChosen: "named" | "auto";
  task: Task;
  taskReason: string;
  /** How the test rows were chosen, in words. */
  testHow: string;
}

/** Rows of every column that hold no value. */
function missingCounts(tables: RawTable[], name: string): number {
  let n = 0;
  for (const t of tables) {
    const j = t.columns.indexOf(name);
    if (j >= 0) for (const r of t.rows) if (r[j] === null) n++;
  }
  return n;
}

function summarize(table: RawTable, opts: TabularOptions, schema: Schema, pre: TabularPreprocess): TabularSummary {
  const tables = opts.testTable ? [table, opts.testTable] : [table];
  const byName = new Map(pre.columns.map((c) => [c.name, c]));
  const how = new Map(schema.inputs.map((c) => [c.name, c.how]));
  const fmt = (v: number) => Number(v.toPrecision(6)).toString();
  const columns = table.columns.map((name): TabularColumnSummary => {
    const missing = missingCounts(tables, name);
    if (name === pre.label) return { name, role: "label", how: schema.labelChosen, missing };
    const c = byName.get(name);
    if (!c) return { name, role: "dropped", missing };
    if (c.kind === "numeric") return { name, role: "numeric", how: how.get(name), missing, ...(missing ? { fill: `training mean ${fmt(c.mean)}` } : {}) };
    return { name, role: "categorical", how: how.get(name), categories: c.categories.length, missing, ...(missing ? { fill: `"${MISSING_CATEGORY}" slot` } : {}) };
  });
  const fraction = opts.testFraction ?? DEFAULT_TEST_FRACTION;
  const seed = opts.splitSeed ?? DEFAULT_SPLIT_SEED;
  const testHow =
    opts.testTable ? `the rows of ${opts.testTable.file}`
    : fraction === 0 ? "none (test-fraction=0)"
    : schema.task === "regression" ? `${fraction * 100} % of the labelled rows held out at random, split-seed ${seed}`
    : `${fraction * 100} % of each class held out, split-seed ${seed}`;
  return {
    file: table.file,
    ...(opts.testTable ? { testFile: opts.testTable.file } : {}),
    rows: table.rows.length,
    columns,
    features: tabularWidth(pre),
    label: pre.label,
    labelChosen: schema.labelChosen,
    task: schema.task,
    taskReason: schema.taskReason,
    testHow,
  };
}

/** Standardised targets of these rows (0 where the label is missing). */
function targetsOf(table: RawTable, rows: ArrayLike<number>, labelIndex: number, pre: TabularPreprocess): Float32Array {
  const { mean, std } = pre.target!;
  return Float32Array.from(rows, (r) => {
    const cell = table.rows[r][labelIndex];
    return cell === null ? 0 : (parseNumber(cell)! - mean) / std;
  });
}

/**
 * The whole tabular pipeline: schema (label, task, column kinds), labels, a seeded stratified train/test split
 * (or the separate test table; regression rows are one stratum), preprocessing fitted on the training rows only,
 * then features (and regression targets) for every split.
 */
export function tabularSplits(table: RawTable, name: string, opts: TabularOptions = {}): TabularSplits {
  const schema = resolveSchema(table, opts);
  const y = encodeLabels(table, schema.labelIndex, schema);
  const split = stratifiedSplit(y, opts.testTable ? 0 : opts.testFraction ?? DEFAULT_TEST_FRACTION, opts.splitSeed ?? DEFAULT_SPLIT_SEED);
  if (split.train.length === 0) throw new DataError(table.file, "has no labelled rows; expected at least one row with a label");
  const pre = fitPreprocess(table, schema, split.train, opts.standardize ?? true);
  const width = tabularWidth(pre);
  const regression = schema.task === "regression";
  const make = (t: RawTable, rows: Int32Array, labels: Int32Array, part: string) => {
    const x = encodeTabularRows(pre, inputCells(t, pre, rows), (i) => `${t.file}: line ${t.lines[rows[i]]}`);
    const target = regression ? { values: targetsOf(t, rows, columnIndex(t, pre.label, "label"), pre), mean: pre.target!.mean, std: pre.target!.std, name: pre.label } : undefined;
    return new InMemoryDataset(`${name}/${part}`, x, Int32Array.from(rows, (r) => labels[r]), [width], regression ? 1 : schema.labelNames.length, recordView(t, rows, pre.label), target);
  };
  const train = make(table, split.train, y, "train");
  let test: InMemoryDataset;
  if (opts.testTable) {
    const tt = opts.testTable;
    const ty = encodeLabels(tt, columnIndex(tt, pre.label, "label"), schema);
    const missing = ty.indexOf(-1);
    if (missing >= 0) throw new DataError(tt.file, `line ${tt.lines[missing]}: the test file needs a label in column "${pre.label}" on every row`);
    test = make(tt, Int32Array.from(ty, (_, i) => i), ty, "test");
  } else {
    test = make(table, split.test, y, "test");
  }
  const unlabeled = split.unlabeled.length > 0 ? make(table, split.unlabeled, y, "unlabeled") : undefined;
  return { train, test, unlabeled, preprocess: pre, summary: summarize(table, opts, schema, pre) };
}
