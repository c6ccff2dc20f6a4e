// How a table's columns are read: which one is the label, which inputs are numeric or categorical, and whether the
// label makes a classification or a regression task. Every rule here is printed back to the user in the data
// summary (summary.ts), so nothing is guessed silently.
// The raw table types (what a reader parses, before anything is fitted) live here too, below tabular.ts.
import { DataError } from "../util/errors.js";
import { parseNumber } from "../runtime/runtime.js";
import type { Task } from "./dataset.js";

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
  /**
   * Label column name; when omitted, the only column named label, class, target or y (case-insensitive), else an
   * error listing the columns.
   */
  label?: string;
  /** Default: regression for a numeric label with many distinct values (tabular-schema.ts), else classification. */
  task?: Task;
  /** Force these columns categorical / numeric (default: numeric when ≥ 90 % of the present values are numbers). */
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

/** Column names (case-insensitive) taken as the label when the user names none and exactly one column has one. */
export const LABEL_COLUMN_NAMES = ["label", "class", "target", "y"];
/**
 * An undeclared input column is numeric when at least this share of its present cells parse as numbers; a cell that
 * then does not parse is an error (a typo such as "thirty" must not turn a numeric column into a one-hot one).
 */
export const NUMERIC_SHARE = 0.9;
/** A numeric label with more distinct values than this is a regression target … */
export const REGRESSION_MIN_DISTINCT = 20;
/** … unless every value is an integer and max − min is below this (class codes such as 0..99). */
export const CLASS_CODE_SPAN = 100;

export { parseNumber };

export function columnIndex(table: RawTable, name: string, option: string): number {
  const i = table.columns.indexOf(name);
  if (i < 0) throw new DataError(table.file, `has no column "${name}" (${option}); its columns are ${quoteList(table.columns)}`);
  return i;
}

const quoteList = (names: string[]) => names.map((c) => JSON.stringify(c)).join(", ");

export type ColumnHow = "declared" | "forced" | "detected";

export interface SchemaInput {
  index: number;
  name: string;
  kind: "numeric" | "categorical";
  how: ColumnHow;
  /** Detected columns: the share of present cells that parse as numbers. */
  numericShare?: number;
  /** ARFF nominal values, in declared order. */
  declared?: string[];
}

export interface Schema {
  labelIndex: number;
  /** "named": label= / --label; "auto": the only column named label/class/target/y. */
  labelChosen: "named" | "auto";
  inputs: SchemaInput[];
  dropped: string[];
  task: Task;
  /** Why this task, in words (with the option that says otherwise). */
  taskReason: string;
  /** Classification: class names in class order; regression: empty. */
  labelNames: string[];
}

/** Rows of the table and of the separate test table, with where each one is (for errors). */
function allRows(table: RawTable, testTable?: RawTable): { row: Cell[]; file: string; line: number }[] {
  const rows = table.rows.map((row, i) => ({ row, file: table.file, line: table.lines[i] }));
  if (testTable) rows.push(...testTable.rows.map((row, i) => ({ row, file: testTable.file, line: testTable.lines[i] })));
  return rows;
}

function chooseLabel(table: RawTable, opts: TabularOptions): { index: number; chosen: "named" | "auto" } {
  if (opts.label !== undefined) return { index: columnIndex(table, opts.label, "label"), chosen: "named" };
  const hits = table.columns.map((c, i) => [c, i] as const).filter(([c]) => LABEL_COLUMN_NAMES.includes(c.toLowerCase()));
  if (hits.length === 1) return { index: hits[0][1], chosen: "auto" };
  const why = hits.length > 1 ? `several columns could be (${quoteList(hits.map(([c]) => c))})` : "no column is named label, class, target or y";
  throw new DataError(table.file, `which column is the label? ${why}; name it with label=COL in the data spec or --label COL; the columns are ${quoteList(table.columns)}`);
}

/** Sorts class names numerically when they all are numbers, else by code point (the same on every platform). */
export function sortLabelNames(names: Iterable<string>): string[] {
  const list = [...new Set(names)];
  const numeric = list.every((s) => parseNumber(s) !== null);
  return numeric ? list.sort((a, b) => parseNumber(a)! - parseNumber(b)!) : list.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

function numericShare(table: RawTable, index: number): number {
  let present = 0;
  let numbers = 0;
  for (const r of table.rows) {
    const c = r[index];
    if (c === null) continue;
    present++;
    if (parseNumber(c) !== null) numbers++;
  }
  return present === 0 ? 1 : numbers / present;
}

/** Every cell of a numeric column must parse: the first that does not is one error line with the way out. */
function checkNumericCells(table: RawTable, testTable: RawTable | undefined, col: SchemaInput): void {
  for (const { row, file, line } of allRows(table, testTable)) {
    const testIndex = file === table.file ? col.index : testTable!.columns.indexOf(col.name);
    const cell = testIndex < 0 ? null : row[testIndex];
    if (cell === null || parseNumber(cell) !== null) continue;
    const why =
      col.how === "forced" ? `declared numeric (numeric=${col.name})`
      : `numeric (${(col.numericShare! * 100).toFixed(1)} % of its values are numbers; a column is numeric from ${NUMERIC_SHARE * 100} %)`;
    throw new DataError(file, `line ${line}: column "${col.name}" is ${why} but holds ${JSON.stringify(cell)}; correct the cell, leave it empty (missing), or declare the column categorical with categorical=${col.name}`);
  }
}

function resolveTask(table: RawTable, labelIndex: number, opts: TabularOptions): { task: Task; reason: string } {
  const name = table.columns[labelIndex];
  const declared = table.declared?.[labelIndex];
  const cells = allRows(table, opts.testTable)
    .map(({ row, file, line }) => ({ cell: row[file === table.file ? labelIndex : opts.testTable!.columns.indexOf(name)] ?? null, file, line }))
    .filter((c): c is { cell: string; file: string; line: number } => c.cell !== null);
  const nonNumber = cells.find((c) => parseNumber(c.cell) === null);
  const numeric = declared?.kind === "numeric" || (declared?.kind !== "categorical" || !declared.categories) && nonNumber === undefined;
  if (opts.task === "regression") {
    if (nonNumber && declared?.kind !== "numeric") {
      throw new DataError(nonNumber.file, `line ${nonNumber.line}: label "${name}" holds ${JSON.stringify(nonNumber.cell)}, not a number; task=regression needs a numeric label`);
    }
    return { task: "regression", reason: "task=regression" };
  }
  if (opts.task === "classification") return { task: "classification", reason: "task=classification" };
  if (!numeric) return { task: "classification", reason: "the label is not numeric" };
  const values = cells.map((c) => parseNumber(c.cell)!);
  const distinct = new Set(values).size;
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) (min = Math.min(min, v)), (max = Math.max(max, v));
  const integers = values.every(Number.isInteger);
  if (distinct <= REGRESSION_MIN_DISTINCT) {
    return { task: "classification", reason: `numeric label with ${distinct} distinct values (at most ${REGRESSION_MIN_DISTINCT}: classes; task=regression predicts the number)` };
  }
  if (integers && max - min < CLASS_CODE_SPAN) {
    return { task: "classification", reason: `numeric label with ${distinct} distinct integers in ${min}..${max}, read as class codes (task=regression predicts the number)` };
  }
  return { task: "regression", reason: `numeric label with ${distinct} distinct values${integers ? ` over ${min}..${max}` : ""} (task=classification treats them as classes)` };
}

/** Label, task and column kinds for this table (rules above); throws one DataError line for each problem. */
export function resolveSchema(table: RawTable, opts: TabularOptions): Schema {
  if (table.columns.length < 2) throw new DataError(table.file, `has ${table.columns.length} column; expected at least one input column and a label column`);
  const { index: labelIndex, chosen } = chooseLabel(table, opts);
  const label = table.columns[labelIndex];
  const forcedCat = new Set((opts.categorical ?? []).map((c) => (columnIndex(table, c, "categorical"), c)));
  const forcedNum = new Set((opts.numeric ?? []).map((c) => (columnIndex(table, c, "numeric"), c)));
  const dropped = new Set((opts.drop ?? []).map((c) => (columnIndex(table, c, "drop"), c)));
  for (const [set, option] of [[forcedCat, "categorical"], [forcedNum, "numeric"], [dropped, "drop"]] as const) {
    if (set.has(label)) throw new DataError(table.file, `column "${label}" is the label; it cannot also be ${option}=${label}`);
  }
  const both = [...forcedCat].find((c) => forcedNum.has(c));
  if (both) throw new DataError(table.file, `column "${both}" is declared both categorical and numeric; expected one of the two`);
  const inputs: SchemaInput[] = [];
  table.columns.forEach((name, index) => {
    if (index === labelIndex || dropped.has(name)) return;
    const declared = table.declared?.[index];
    let col: SchemaInput;
    if (forcedCat.has(name)) col = { index, name, kind: "categorical", how: "forced" };
    else if (forcedNum.has(name)) col = { index, name, kind: "numeric", how: "forced" };
    else if (declared) col = { index, name, kind: declared.kind, how: "declared" };
    else {
      const share = numericShare(table, index);
      col = { index, name, kind: share >= NUMERIC_SHARE ? "numeric" : "categorical", how: "detected", numericShare: share };
    }
    if (col.kind === "categorical" && declared?.kind === "categorical" && declared.categories) col.declared = declared.categories;
    if (col.kind === "numeric" && col.how !== "declared") checkNumericCells(table, opts.testTable, col);
    inputs.push(col);
  });
  if (inputs.length === 0) throw new DataError(table.file, "has no input columns left after dropping; expected at least one");
  const { task, reason } = resolveTask(table, labelIndex, opts);
  let labelNames: string[] = [];
  if (task === "classification") {
    const declaredLabel = table.declared?.[labelIndex];
    labelNames =
      declaredLabel?.kind === "categorical" && declaredLabel.categories ? declaredLabel.categories
      : sortLabelNames(allRows(table, opts.testTable).map(({ row, file }) => row[file === table.file ? labelIndex : opts.testTable!.columns.indexOf(label)]).filter((v): v is string => v !== null && v !== undefined));
    if (labelNames.length < 2) {
      throw new DataError(table.file, `label column "${label}" has ${labelNames.length} class; expected at least 2 (label=NAME picks another column)`);
    }
  }
  return { labelIndex, labelChosen: chosen, inputs, dropped: [...dropped], task, taskReason: reason, labelNames };
}
