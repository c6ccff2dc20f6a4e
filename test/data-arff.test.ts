import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadArff, parseArff } from "../src/data/arff.js";
import { loadCsv } from "../src/data/csv.js";
import { DataError } from "../src/util/errors.js";
import { tempDir } from "./helpers.js";

const FIXTURE = join(import.meta.dirname, "fixtures", "loans-mini.arff");

function dataError(fn: () => unknown, ...parts: string[]): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof DataError, `expected a DataError, got ${(err as Error)?.name}: ${(err as Error)?.message}`);
    assert.ok(!err.message.includes("\n"), `message is not one line: ${JSON.stringify(err.message)}`);
    for (const p of parts) assert.ok(err.message.includes(p), `message ${JSON.stringify(err.message)} lacks ${p}`);
    return true;
  });
}

test("parseArff: attributes, quoted names and values, comments, missing values", () => {
  const t = parseArff(
    "% comment\n@RELATION r\n@attribute 'a b' numeric\n@attribute c {x, 'y z', \"w\"}\n@attribute s string\n@attribute class {p,n}\n@data\n1.5,'y z','it\\'s',p % note\n?,x,?,n\n",
    "t.arff",
  );
  assert.deepEqual(t.columns, ["a b", "c", "s", "class"]);
  assert.deepEqual(t.declared, [{ kind: "numeric" }, { kind: "categorical", categories: ["x", "y z", "w"] }, { kind: "categorical" }, { kind: "categorical", categories: ["p", "n"] }]);
  assert.deepEqual(t.rows, [["1.5", "y z", "it's", "p"], [null, "x", null, "n"]]);
  assert.deepEqual(t.lines, [8, 9]);
});

test("parseArff: sparse rows fill omitted values with 0 (first nominal value)", () => {
  const t = parseArff("@relation r\n@attribute a numeric\n@attribute b numeric\n@attribute c {u, v}\n@attribute class {p,n}\n@data\n{1 3, 3 n}\n{0 2, 2 v, 3 p}\n{}\n", "s.arff");
  assert.deepEqual(t.rows, [["0", "3", "u", "n"], ["2", "0", "v", "p"], ["0", "0", "u", "p"]]);
});

test("ARFF fixture: declared categories in declared order, class order from the header (golden)", () => {
  const { dir, cleanup } = tempDir();
  try {
    const testFile = join(dir, "t.arff");
    writeFileSync(testFile, "@relation t\n@attribute checking {'<0', '0<=X<200', 'no checking'}\n@attribute duration numeric\n@attribute purpose {'new car', radio/tv, education}\n@attribute 'credit amount' real\n@attribute class {good, bad}\n@data\n'<0',500,education,1e6,bad\n");
    const d = loadArff(FIXTURE, { testFile });
    const pre = d.preprocess;
    assert.deepEqual(pre.labelNames, ["good", "bad"]);
    assert.deepEqual(pre.features, [
      "checking=<0", "checking=0<=X<200", "checking=no checking", "checking=(missing)",
      "duration",
      "purpose=new car", "purpose=radio/tv", "purpose=education", "purpose=(missing)",
      "credit amount",
    ]);
    assert.deepEqual(Array.from(d.train.y), [0, 1, 0, 0, 1, 0, 0, 0, 0, 1]);
    const dur = pre.columns[1];
    assert.ok(dur.kind === "numeric" && dur.mean === 27 && Math.abs(dur.std - Math.sqrt(174.6)) < 1e-9, `duration fitted on the 10 training rows: ${JSON.stringify(dur)}`);
    const amt = pre.columns[3];
    assert.ok(amt.kind === "numeric" && Math.abs(amt.mean - 44229 / 9) < 1e-9, `credit amount mean of the 9 present values: ${JSON.stringify(amt)}`);
    const w = 10;
    assert.deepEqual(Array.from(d.train.x.subarray(6 * w, 6 * w + 4)), [0, 0, 0, 1], "row 7's missing checking → (missing) slot");
    assert.equal(d.train.x[4 * w + 9], 0, "row 5's missing amount → the training mean → 0 after standardisation");
    assert.ok(Math.abs(d.test.x[4] - (500 - 27) / Math.sqrt(174.6)) < 1e-5, `test row uses training statistics: ${d.test.x[4]}`);
    assert.deepEqual(Array.from(d.test.y), [1]);
  } finally {
    cleanup();
  }
});

test("the ARFF and CSV versions of one table give the same numeric features", () => {
  const a = loadArff(FIXTURE, { testFraction: 0 });
  const c = loadCsv(join(import.meta.dirname, "fixtures", "loans-mini.csv"), { drop: ["note"], testFraction: 0 });
  const num = (x: Float32Array) => Array.from({ length: 10 }, (_, i) => [x[i * 10 + 4], x[i * 10 + 9]]);
  assert.deepEqual(num(a.train.x), num(c.train.x));
  assert.deepEqual(Array.from(a.train.y, (k) => a.preprocess.labelNames[k]), Array.from(c.train.y, (k) => c.preprocess.labelNames[k]));
  assert.equal(loadArff(FIXTURE).test.size, 2, "default split: 20% of 7 good (1) and of 3 bad (1)");
});

test("bad ARFF input: one DataError line naming the file and line", () => {
  const { dir, cleanup } = tempDir();
  try {
    const f = (name: string, text: string) => (writeFileSync(join(dir, name), text), join(dir, name));
    const head = "@relation r\n@attribute a numeric\n@attribute c {x, y}\n@attribute class {p,n}\n@data\n";
    dataError(() => loadArff(f("nominal.arff", head + "1,x,p\n2,z,n\n")), "nominal.arff", "line 7", '"z" is not one of its declared values');
    dataError(() => loadArff(f("num.arff", head + "1,x,p\nabc,y,n\n")), "num.arff", "line 7", 'attribute "a"', "expected a number");
    dataError(() => loadArff(f("count.arff", head + "1,x\n")), "count.arff", "line 6", "expected 3 values");
    dataError(() => loadArff(f("quote.arff", head + "1,'x,p\n")), "quote.arff", "line 6", "never closed");
    dataError(() => loadArff(f("date.arff", "@relation r\n@attribute d date 'yyyy'\n@data\n")), "date.arff", "line 2", "not supported");
    dataError(() => loadArff(f("nodata.arff", "@relation r\n@attribute a numeric\n")), "nodata.arff", "no @data");
    dataError(() => loadArff(f("sparse.arff", head + "{7 1}\n")), "sparse.arff", "line 6", "sparse entry");
  } finally {
    cleanup();
  }
});
