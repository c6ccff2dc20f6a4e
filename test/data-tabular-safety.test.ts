// Tabular data read safely (issue 14, item 3): the label must be named (or be the only label/class/target/y column),
// numeric columns refuse stray text with one line that names the way out, a numeric label with many values is a
// regression task, every run prints how the data was read and split, and the validation split is a share of the data.
import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadCsv } from "../src/data/csv.js";
import { loadArff } from "../src/data/arff.js";
import { describeData, loadImageData, loadSplits, withDataOptions } from "../src/data/sources.js";
import { planValidation } from "../src/data/summary.js";
import { DataError, UsageError } from "../src/util/errors.js";
import { tempDir } from "./helpers.js";

const FIXTURES = join(import.meta.dirname, "fixtures");

function throwsLine(fn: () => unknown, kind: typeof DataError | typeof UsageError, ...parts: string[]): string {
  let message = "";
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof kind, `expected a ${kind.name}, got ${(err as Error)?.name}: ${(err as Error)?.message}`);
    assert.ok(!err.message.includes("\n"), `message is not one line: ${JSON.stringify(err.message)}`);
    for (const p of parts) assert.ok(err.message.includes(p), `message ${JSON.stringify(err.message)} lacks ${JSON.stringify(p)}`);
    message = err.message;
    return true;
  });
  return message;
}

function write(dir: string, name: string, header: string, rows: (string | number)[][]): string {
  const file = join(dir, name);
  writeFileSync(file, [header, ...rows.map((r) => r.join(","))].join("\n") + "\n");
  return file;
}

test("the label must be named: an error lists the columns; several candidates are named too", (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const plain = write(dir, "plain.csv", "age,city,income", [[30, "x", 1], [40, "y", 2], [50, "x", 3]]);
  throwsLine(() => loadCsv(plain), DataError, "plain.csv", "which column is the label?", "label=COL", "--label COL", '"age", "city", "income"');
  const two = write(dir, "two.csv", "Class,y,v", [["a", 1, 2], ["b", 2, 3]]);
  throwsLine(() => loadCsv(two), DataError, "two.csv", 'several columns could be ("Class", "y")');
  // Naming it works, and so does the option filled in from --label.
  assert.equal(loadCsv(plain, { label: "city", testFraction: 0 }).preprocess.label, "city");
  assert.equal(loadImageData(withDataOptions(`csv:${plain}`, { label: "city" })).preprocess?.labelNames.join(), "x,y");
});

test("exactly one column named label/class/target/y (any case) is taken as the label, and the summary says so", () => {
  const d = loadImageData(`csv:${join(FIXTURES, "loans-mini.csv")}?drop=note`);
  assert.equal(d.tabular?.label, "class");
  assert.equal(d.tabular?.labelChosen, "auto");
  const lines = describeData(d);
  assert.ok(lines.some((l) => l.startsWith('label: "class", picked as the only column named label, class, target or y')), lines.join("\n"));
  const arff = loadArff(join(FIXTURES, "loans-mini.arff"));
  assert.equal(arff.summary.labelChosen, "auto", "ARFF files need a named label too; credit-g's 'class' is picked");
});

test('"thirty" in a numeric column is one error naming file, line, column and value, with categorical=COL as the way out', (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const rows: (string | number)[][] = Array.from({ length: 30 }, (_, i) => [20 + i, i % 3 === 0 ? "" : "ok", i % 2 ? "yes" : "no"]);
  rows[11][0] = "thirty";
  const file = write(dir, "ages.csv", "age,note,label", rows);
  const msg = throwsLine(() => loadCsv(file), DataError, "ages.csv", "line 13", 'column "age"', '"thirty"', "categorical=age");
  assert.match(msg, /96\.7 % of its values are numbers/, "the share that made it numeric is stated");
  // The way out: declared categorical, the column becomes one-hot with "thirty" as one of its categories.
  const d = loadCsv(file, { categorical: ["age"], testFraction: 0 });
  const age = d.preprocess.columns.find((c) => c.name === "age");
  assert.ok(age?.kind === "categorical" && age.categories.includes("thirty"));
  // A mostly-text column with a few numbers stays categorical (below the 90 % rule).
  const mixed = write(dir, "mixed.csv", "size,label", [["small", "a"], ["large", "b"], ["3", "a"], ["medium", "b"]]);
  assert.equal(loadCsv(mixed, { testFraction: 0 }).preprocess.columns[0].kind, "categorical");
});

test("a numeric label with many distinct values is a regression task; class codes and task= say otherwise", (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const price = write(dir, "price.csv", "rooms,price", Array.from({ length: 50 }, (_, i) => [1 + (i % 5), (100 + i * 7.25).toFixed(2)]));
  throwsLine(() => loadCsv(price), DataError, "which column is the label?", '"rooms", "price"');
  const d = loadCsv(price, { label: "price", testFraction: 0.2 });
  assert.equal(d.preprocess.task, "regression");
  assert.deepEqual(d.preprocess.labelNames, []);
  assert.equal(d.train.task, "regression");
  assert.equal(d.train.numClasses, 1);
  assert.equal(d.train.size + d.test.size, 50);
  assert.deepEqual([d.train.size, d.test.size], [40, 10], "20 % held out at random");
  // Targets are standardised with the training rows' mean and std, which preprocess.json keeps.
  const values = Array.from(d.train.targets!, (z) => z * d.preprocess.target!.std + d.preprocess.target!.mean);
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  assert.ok(Math.abs(mean - d.preprocess.target!.mean) < 1e-6, `training targets average to the stored mean: ${mean} vs ${d.preprocess.target!.mean}`);
  assert.ok(Array.from(d.train.y).every((y) => y === 0), "labelled regression rows carry y = 0");
  assert.match(d.summary.taskReason, /50 distinct values/);
  // 26 integer codes 0..25: classes. More than 20 distinct integers over a wide range: regression.
  const codes = write(dir, "codes.csv", "v,letter", Array.from({ length: 52 }, (_, i) => [i, i % 26]));
  assert.equal(loadCsv(codes, { label: "letter", testFraction: 0 }).preprocess.task ?? "classification", "classification");
  const counts = write(dir, "counts.csv", "v,count", Array.from({ length: 52 }, (_, i) => [i, i * 37]));
  assert.equal(loadCsv(counts, { label: "count", testFraction: 0 }).preprocess.task, "regression");
  // task= overrides either way; a regression needs numbers.
  assert.equal(loadCsv(price, { label: "price", task: "classification", testFraction: 0 }).preprocess.labelNames.length, 50);
  assert.equal(loadCsv(codes, { label: "letter", task: "regression", testFraction: 0 }).preprocess.task, "regression");
  const words = write(dir, "words.csv", "v,label", [[1, "a"], [2, "b"]]);
  throwsLine(() => loadCsv(words, { task: "regression" }), DataError, "words.csv", "line 2", '"a"', "task=regression needs a numeric label");
  throwsLine(() => loadImageData(`csv:${words}?task=maybe`), UsageError, "task", "classification or regression");
});

test("the schema summary: every column's role, missing values and their filling, task, split sizes and how they were made", () => {
  const spec = `csv:${join(FIXTURES, "loans-mini.csv")}?drop=note`;
  const splits = loadSplits(spec, { seed: 42 });
  const text = describeData(loadImageData(spec), splits.summary.split).join("\n");
  const expected = [
    `data ${spec}: 10 rows, 6 columns → 10 features`,
    "task: classification, 2 classes: bad, good; the label is not numeric",
    'label: "class", picked as the only column named label, class, target or y (label=COL or --label COL picks another)',
    "columns (missing values counted over every row):",
    '  checking       categorical, 3 categories + "(missing)"; 1 missing → "(missing)" slot',
    "  duration       numeric; no missing",
    '  purpose        categorical, 3 categories + "(missing)"; no missing',
    // The held-out rows are line 8 (good, 2835) and line 6 (bad, amount missing): the mean of the 8 other amounts.
    `  credit amount  numeric; 1 missing → training mean ${(44229 - 2835) / 8}`,
    "  note           dropped; 1 missing",
    "  class          label; no missing",
    "splits: train 7, validation 1 (10 % of the 8 training samples, seed 42), test 2 (20 % of each class held out, split-seed 0)",
  ];
  assert.equal(text, expected.join("\n"));
  assert.deepEqual(splits.summary.tabular?.columns.find((c) => c.name === "credit amount"), { name: "credit amount", role: "numeric", how: "detected", missing: 1, fill: "training mean 5174.25" });
  assert.deepEqual(Array.from(splits.test.rawRows([0, 1])!, (r) => (r as Record<string, string | null>)["credit amount"]), [null, "2835"]);
});

test("validation size: 10 % of the training split, at most 5,000, at least 1; MNIST keeps 5,000; too little data is one error", () => {
  assert.equal(planValidation(60000, undefined, 42).size, 5000, "MNIST's 60,000 → 5,000 as in the published runs");
  assert.match(planValidation(60000, undefined, 42).how, /capped at 5,000/);
  assert.equal(planValidation(800, undefined, 1).size, 80);
  assert.equal(planValidation(9, undefined, 1).size, 1);
  assert.equal(planValidation(800, 300, 1).size, 300, "--validation-size still overrides");
  assert.throws(() => planValidation(1, undefined, 1, "--validation-size", (m) => new UsageError(m)), (e: unknown) => e instanceof UsageError && /1 training sample; expected at least 2/.test(e.message));
  assert.throws(() => planValidation(10, 10, 1, "--validation-size", (m) => new UsageError(m)), /--validation-size: expected fewer than the 10 training samples, got 10/);
  const s = loadSplits(`arff:${join(FIXTURES, "loans-mini.arff")}`, { seed: 3 });
  assert.deepEqual([s.train.size, s.validation.size, s.test.size], [7, 1, 2]);
});

test("--label and --task fill the spec's options; a conflicting spec or a non-tabular source is one usage error", () => {
  assert.equal(withDataOptions("csv:a b.csv", { label: "price (€)", task: "regression" }), "csv:a b.csv?label=price%20(%E2%82%AC)&task=regression");
  assert.equal(withDataOptions("csv:a.csv?drop=id", { label: "y" }), "csv:a.csv?drop=id&label=y");
  assert.equal(withDataOptions("csv:a.csv?label=y", { label: "y" }), "csv:a.csv?label=y", "the same value twice is fine");
  throwsLine(() => withDataOptions("csv:a.csv?label=y", { label: "z" }), UsageError, "--label z", "label=y");
  throwsLine(() => withDataOptions("mnist", { label: "z" }), UsageError, "--label", "csv:");
  throwsLine(() => withDataOptions("images:dir", { task: "regression" }), UsageError, "--task", "csv:, arff:");
  assert.equal(withDataOptions("mnist", { task: "classification" }), "mnist");
});
