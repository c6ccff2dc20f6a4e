import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadCsv, parseCsv, readCsvTable } from "../src/data/csv.js";
import { applyPreprocess, loadPreprocess, savePreprocess } from "../src/data/preprocess.js";
import { stratifiedSplit } from "../src/data/stratified-split.js";
import type { TabularPreprocess } from "../src/data/tabular.js";
import { DataError } from "../src/util/errors.js";
import { tempDir } from "./helpers.js";

const FIXTURE = join(import.meta.dirname, "fixtures", "loans-mini.csv");

function dataError(fn: () => unknown, ...parts: (string | RegExp)[]): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof DataError, `expected a DataError, got ${(err as Error)?.name}: ${(err as Error)?.message}`);
    assert.ok(!err.message.includes("\n"), `message is not one line: ${JSON.stringify(err.message)}`);
    for (const p of parts) assert.ok(typeof p === "string" ? err.message.includes(p) : p.test(err.message), `message ${JSON.stringify(err.message)} lacks ${p}`);
    return true;
  });
}

function meanStd(values: number[]): [number, number] {
  const m = values.reduce((a, b) => a + b, 0) / values.length;
  return [m, Math.sqrt(values.reduce((a, b) => a + (b - m) ** 2, 0) / values.length)];
}

test("parseCsv follows RFC 4180: quoted commas, line breaks, doubled quotes, CRLF, blank lines", () => {
  const text = 'a,b,c\r\n1,"x, y",3\r\n\r\n"multi\nline","say ""hi""",\n4,5,6';
  const { records, lines } = parseCsv(text, "t.csv");
  assert.deepEqual(records, [["a", "b", "c"], ["1", "x, y", "3"], ["multi\nline", 'say "hi"', ""], ["4", "5", "6"]]);
  assert.deepEqual(lines, [1, 2, 4, 6], "each record's first line, counting the line inside the quoted field");
  assert.deepEqual(parseCsv("a;b\n1;2\n", "t.csv", ";").records, [["a", "b"], ["1", "2"]]);
});

test("parseCsv: malformed quoting is one DataError naming file and line", () => {
  dataError(() => parseCsv('a,b\n1,"open\n2,3\n', "bad.csv"), "bad.csv", "line 2", "never closed");
  dataError(() => parseCsv('a,b\n1,"x"y\n', "bad.csv"), "bad.csv", "line 2", "after a closing quote");
  dataError(() => parseCsv('a,b\n1,x"y\n', "bad.csv"), "bad.csv", "line 2", "quote inside an unquoted field");
});

test("CSV fixture: detection, one-hot, standardisation, string labels (golden, whole file as training rows)", () => {
  const { dir, cleanup } = tempDir();
  try {
    const testFile = join(dir, "test.csv");
    // Extreme test values: if they entered the fit, the means would move far away.
    writeFileSync(testFile, "checking,duration,purpose,credit amount,note,class\nno checking,1000,radio/tv,999999,q,bad\n");
    const d = loadCsv(FIXTURE, { drop: ["note"], testFile });
    const pre = d.preprocess;
    assert.deepEqual(pre.labelNames, ["bad", "good"], "string classes sorted by code point");
    assert.deepEqual(Array.from(d.train.y), [1, 0, 1, 1, 0, 1, 1, 1, 1, 0]);
    assert.deepEqual(pre.features, [
      "checking=0<=X<200", "checking=<0", "checking=no checking", "checking=(missing)",
      "duration",
      "purpose=education", "purpose=new car", "purpose=radio/tv", "purpose=(missing)",
      "credit amount",
    ]);
    const [dm, ds] = meanStd([6, 48, 12, 42, 24, 36, 24, 36, 12, 30]);
    const [cm, cs] = meanStd([1169, 5951, 2096, 7882, 9055, 2835, 6948, 3059, 5234]);
    const dur = pre.columns[1];
    const amt = pre.columns[3];
    assert.ok(dur.kind === "numeric" && Math.abs(dur.mean - 27) < 1e-12 && Math.abs(dur.std - ds) < 1e-9, `duration mean/std ${JSON.stringify(dur)}`);
    assert.ok(amt.kind === "numeric" && Math.abs(amt.mean - cm) < 1e-9 && Math.abs(amt.std - cs) < 1e-9, `credit amount fitted on the 9 present training values: ${JSON.stringify(amt)}`);
    const row = (i: number) => Array.from(d.train.x.subarray(i * 10, (i + 1) * 10));
    const close = (got: number[], want: number[], what: string) => got.forEach((g, k) => assert.ok(Math.abs(g - want[k]) < 1e-5, `${what}[${k}] = ${g}, expected ${want[k]}`));
    close(row(0), [0, 1, 0, 0, (6 - dm) / ds, 0, 0, 1, 0, (1169 - cm) / cs], "row 0");
    close(row(4), [0, 1, 0, 0, (24 - dm) / ds, 0, 1, 0, 0, 0], "row 4 (missing amount → train mean → 0)");
    close(row(6), [0, 0, 0, 1, (24 - dm) / ds, 0, 0, 1, 0, (2835 - cm) / cs], "row 6 (missing checking → its own category)");
    close(Array.from(d.test.x), [0, 0, 1, 0, (1000 - dm) / ds, 0, 0, 1, 0, (999999 - cm) / cs], "test row, standardised with training statistics");
    assert.deepEqual(Array.from(d.test.y), [0]);
  } finally {
    cleanup();
  }
});

test("standardisation and categories are fitted on the training split only", () => {
  const { dir, cleanup } = tempDir();
  try {
    const header = "num,cat,label";
    const rows = Array.from({ length: 40 }, (_, i) => [i, i % 3 === 0 ? "red" : "blue", i % 2 ? "yes" : "no"]);
    const labels = rows.map((r) => (r[2] === "no" ? 0 : 1));
    const { train, test: held } = stratifiedSplit(labels, 0.25, 0);
    const write = (name: string, data: (string | number)[][]) => {
      writeFileSync(join(dir, name), [header, ...data.map((r) => r.join(","))].join("\n") + "\n");
      return join(dir, name);
    };
    const base = loadCsv(write("a.csv", rows), { testFraction: 0.25 }).preprocess;
    assert.equal(base.labelNames.join(), "no,yes");
    const trainValues = Array.from(train, (i) => i);
    const num = base.columns[0];
    assert.ok(num.kind === "numeric" && Math.abs(num.mean - meanStd(trainValues)[0]) < 1e-9, `mean of the 30 training rows, got ${JSON.stringify(num)}`);
    // Changing only held-out rows (values and a category never seen in training) leaves the fit unchanged.
    const changed = rows.map((r, i) => (held.includes(i) ? [1e6 + i, "green", r[2]] : r));
    const again = loadCsv(write("b.csv", changed), { testFraction: 0.25 });
    assert.deepEqual(again.preprocess, base, "preprocessing must not depend on test rows");
    const cat = again.preprocess.columns[1];
    assert.ok(cat.kind === "categorical" && !cat.categories.includes("green"), "a test-only category is not a category");
    const t0 = Array.from(again.test.x.subarray(0, 4));
    assert.deepEqual(t0.slice(1), [0, 0, 1], "an unseen category falls into the (missing) slot");
    // Changing a training row does change it.
    const trainChanged = rows.map((r, i) => (i === train[0] ? [500, r[1], r[2]] : r));
    assert.notDeepEqual(loadCsv(write("c.csv", trainChanged), { testFraction: 0.25 }).preprocess, base, "a training row moves the mean");
  } finally {
    cleanup();
  }
});

test("options: label column by name, forced categorical, numeric labels sorted as numbers, unlabeled rows", () => {
  const { dir, cleanup } = tempDir();
  try {
    const f = join(dir, "x.csv");
    writeFileSync(f, "y,zip,v\n10,1001,0.5\n2,1002,1.5\n10,1001,2.5\n,1003,3\n2,1001,4\n");
    const d = loadCsv(f, { label: "y", categorical: ["zip"], standardize: false, testFraction: 0 });
    assert.deepEqual(d.preprocess.labelNames, ["2", "10"], "numeric class names sort as numbers");
    assert.deepEqual(d.preprocess.features, ["zip=1001", "zip=1002", "zip=(missing)", "v"]);
    assert.deepEqual(Array.from(d.train.y), [1, 0, 1, 0]);
    assert.deepEqual(Array.from(d.train.x), [1, 0, 0, 0.5, 0, 1, 0, 1.5, 1, 0, 0, 2.5, 1, 0, 0, 4]);
    assert.ok(d.unlabeled, "the row without a label is kept apart");
    assert.deepEqual(Array.from(d.unlabeled!.y), [-1]);
    assert.deepEqual(Array.from(d.unlabeled!.x), [0, 0, 1, 3], "1003 is unseen in training → (missing) slot");
    assert.equal(d.test.size, 0);
  } finally {
    cleanup();
  }
});

test("preprocess.json round trip: applyPreprocess on raw records reproduces the training features", () => {
  const { dir, cleanup } = tempDir();
  try {
    const d = loadCsv(FIXTURE, { drop: ["note"], testFraction: 0.2 });
    savePreprocess(dir, d.preprocess);
    const pre = loadPreprocess(dir) as TabularPreprocess;
    assert.deepEqual(pre, d.preprocess, "JSON round trip keeps every fitted value");
    const table = readCsvTable(FIXTURE);
    const objects = table.rows.map((r) => Object.fromEntries(table.columns.map((c, j) => [c, r[j]])));
    const all = applyPreprocess(pre, objects, "request");
    const { train } = stratifiedSplit(Int32Array.from(table.rows, (r) => (r[5] === "bad" ? 0 : 1)), 0.2, 0);
    const w = pre.features.length;
    Array.from(train).forEach((row, k) => {
      assert.deepEqual(Array.from(all.subarray(row * w, (row + 1) * w)), Array.from(d.train.x.subarray(k * w, (k + 1) * w)), `row ${row}`);
    });
    const asArrays = applyPreprocess(pre, [["<0", 6, "radio/tv", 1169]]);
    assert.deepEqual(Array.from(asArrays), Array.from(all.subarray(0, w)), "array rows in column order give the same features");
    dataError(() => applyPreprocess(pre, [{ duration: "long" }], "request"), "request[0]", 'column "duration"', "expected a number");
    dataError(() => applyPreprocess(pre, [[1, 2]], "request"), "request[0]", "expected 4 values");
  } finally {
    cleanup();
  }
});

test("bad CSV input: one DataError line naming the file and the line or column", () => {
  const { dir, cleanup } = tempDir();
  try {
    const f = (name: string, text: string) => (writeFileSync(join(dir, name), text), join(dir, name));
    dataError(() => loadCsv(f("count.csv", 'a,b,c\n1,"x\ny",2\n1,2\n')), "count.csv", "line 4", "expected 3 fields");
    dataError(() => loadCsv(f("num.csv", "a,b\n1,x\nq,y\n2,x\n"), { numeric: ["a"], label: "b" }), "num.csv", "line 3", 'column "a"', "numeric=a", '"q"', "categorical=a");
    dataError(() => loadCsv(f("lab.csv", "a,b\n1,x\n2,y\n"), { label: "c" }), "lab.csv", 'no column "c"', "label");
    dataError(() => loadCsv(f("one.csv", "a,b\n1,x\n2,x\n"), { label: "b" }), "one.csv", "expected at least 2");
    dataError(() => loadCsv(f("dup.csv", "a,a,b\n1,2,x\n")), "dup.csv", "line 1", "appears twice");
    dataError(() => loadCsv(f("empty.csv", "")), "empty.csv", "is empty");
    dataError(() => loadCsv(join(dir, "missing.csv")), "missing.csv", "not found");
  } finally {
    cleanup();
  }
});
