// Fuzz suite, file readers: idx, CSV, ARFF, JSONL, PNG/JPEG, WAV, safetensors and ONNX teachers. Every valid
// input generated must read back correctly; every corrupted one (truncated, bit-flipped, bytes overwritten or
// inserted, wrong dtype or shape in a header) must give a TsdistillError of one line or a correct result, within
// a time bound, writing nothing. Fixed seed (test/fuzz-helpers.ts); figures in docs/RELIABILITY.md.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { PNG } from "pngjs";
import jpeg from "jpeg-js";
import { encodeIdx, parseIdx } from "../src/data/idx.js";
import { parseCsv, loadCsv } from "../src/data/csv.js";
import { parseArff, loadArff } from "../src/data/arff.js";
import { readJsonlTexts } from "../src/data/jsonl-text.js";
import { decodeImage } from "../src/data/image-decode.js";
import { encodeWav16, parseWav } from "../src/data/wav.js";
import { decodeSafetensors, encodeSafetensors, type SafetensorsTensor } from "../src/util/safetensors.js";
import { tempDir } from "./helpers.js";
import { Tally, cleanly, cleanlyAsync, listTree, mutate, mutationArb, mutationNear, params } from "./fuzz-helpers.js";

const { dir, cleanup } = tempDir("tsdistill-fuzz-readers-");
const cwd = join(dir, "cwd");
mkdirSync(cwd);
const startCwd = process.cwd();
process.chdir(cwd);
const tally = new Tally();
after(() => {
  process.chdir(startCwd);
  tally.print();
  cleanup();
});

const FIXTURES = new URL("./fixtures/", import.meta.url);
let fileNo = 0;
function tempFile(name: string, data: string | Uint8Array): string {
  const p = join(dir, `${fileNo++}-${name}`);
  writeFileSync(p, data);
  return p;
}

test("fuzz idx: valid files read back; corrupted ones are one clean error", () => {
  const valid = fc.record({
    dtype: fc.constantFrom("uint8" as const, "int32" as const, "float32" as const),
    shape: fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 4 }),
    seed: fc.integer(),
  });
  fc.assert(
    fc.property(valid, mutationNear(16, 64), ({ dtype, shape, seed }, m) => {
      const n = shape.reduce((a, b) => a * b, 1);
      const values = Array.from({ length: n }, (_, i) => (dtype === "float32" ? ((seed + i) % 97) / 7 : Math.abs(seed + i) % (dtype === "uint8" ? 256 : 100000)));
      const bytes = encodeIdx(dtype, shape, values);
      cleanly(tally, "idx (valid)", () => parseIdx(bytes, "t.idx"), (r) => {
        assert.deepEqual(r.shape, shape);
        assert.deepEqual(Array.from(r.data), Array.from(dtype === "float32" ? Float32Array.from(values) : values));
      });
      cleanly(tally, "idx (corrupted)", () => parseIdx(mutate(bytes, m), "t.idx"), (r) => {
        assert.equal(r.data.length, r.shape.reduce((a, b) => a * b, 1), "idx: data length matches the shape");
      });
    }),
    params(400),
  );
});

test("fuzz CSV: records round-trip; random text and corrupted tables are one clean error", () => {
  const field = fc.string({ unit: fc.constantFrom("a", "b", "1", " ", ",", '"', "\n", "é", "x"), maxLength: 6 });
  const quote = (f: string) => (/[",\n\r]/.test(f) || f === "" ? `"${f.replace(/"/g, '""')}"` : f);
  fc.assert(
    fc.property(fc.array(fc.array(field, { minLength: 2, maxLength: 2 }), { minLength: 1, maxLength: 8 }), (rows) => {
      const text = rows.map((r) => r.map(quote).join(",")).join("\n");
      cleanly(tally, "csv (valid)", () => parseCsv(text, "t.csv"), (r) => assert.deepEqual(r.records, rows));
    }),
    params(300),
  );
  fc.assert(
    fc.property(fc.string({ unit: fc.constantFrom("a", "1", ",", '"', "\n", "\r", ";", " "), maxLength: 60 }), (text) => {
      cleanly(tally, "csv (random text)", () => parseCsv(text, "t.csv"));
    }),
    params(300),
  );
  const table = readFileSync(new URL("loans-mini.csv", FIXTURES));
  fc.assert(
    fc.property(mutationArb, (m) => {
      const p = tempFile("t.csv", mutate(table, m));
      cleanly(tally, "csv table (corrupted)", () => loadCsv(p, { label: "class", testFraction: 0.25 }), (s) => assert.ok(s.train.size > 0));
    }),
    params(150),
  );
});

test("fuzz ARFF: corrupted files and random headers are one clean error", () => {
  const arff = readFileSync(new URL("loans-mini.arff", FIXTURES));
  fc.assert(
    fc.property(mutationArb, (m) => {
      const p = tempFile("t.arff", mutate(arff, m));
      cleanly(tally, "arff (corrupted)", () => loadArff(p, { testFraction: 0.25 }), (s) => assert.ok(s.train.size > 0));
    }),
    params(250),
  );
  const line = fc.constantFrom("@relation r", "@attribute a numeric", "@attribute b {x, y}", "@attribute 'c d' real", "@attribute e string", "@attribute f date", "@data", "1,x", "?,y", "{0 1, 1 x}", "1,x,2", "'q,x", "% c", "@attribute", "@attribute g {", "");
  fc.assert(
    fc.property(fc.array(line, { maxLength: 10 }), (lines) => {
      cleanly(tally, "arff (random lines)", () => parseArff(lines.join("\n"), "t.arff"));
    }),
    params(300),
  );
});

test("fuzz JSONL: random lines and corrupted files are one clean error; valid ones read back", () => {
  const rec = fc.record({ text: fc.string({ maxLength: 12 }), label: fc.oneof(fc.constant(null), fc.string({ maxLength: 4 }), fc.integer()) });
  fc.assert(
    fc.property(fc.array(rec, { minLength: 1, maxLength: 6 }), mutationArb, (recs, m) => {
      const text = recs.map((r) => JSON.stringify(r)).join("\n");
      const p = tempFile("t.jsonl", text);
      cleanly(tally, "jsonl (valid)", () => readJsonlTexts(p), (r) => {
        assert.deepEqual(r.texts, recs.map((x) => x.text));
        assert.deepEqual(r.labels, recs.map((x) => (x.label === null ? null : String(x.label))));
      });
      cleanly(tally, "jsonl (corrupted)", () => readJsonlTexts(tempFile("m.jsonl", mutate(Buffer.from(text), m))));
    }),
    params(200),
  );
  fc.assert(
    fc.property(fc.array(fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)), { maxLength: 4 }), (lines) => {
      cleanly(tally, "jsonl (random JSON lines)", () => readJsonlTexts(tempFile("r.jsonl", lines.join("\n"))));
    }),
    params(200),
  );
});

test("fuzz images: PNG and JPEG files decode; corrupted ones are one clean error", () => {
  const dims = fc.record({ w: fc.integer({ min: 1, max: 12 }), h: fc.integer({ min: 1, max: 12 }), seed: fc.integer({ min: 0, max: 255 }) });
  fc.assert(
    fc.property(dims, mutationNear(64, 200), fc.boolean(), ({ w, h, seed }, m, asJpeg) => {
      const rgba = Buffer.alloc(w * h * 4);
      for (let i = 0; i < rgba.length; i++) rgba[i] = (seed + i * 31) & 255;
      let bytes: Uint8Array;
      if (asJpeg) bytes = new Uint8Array(jpeg.encode({ data: rgba, width: w, height: h }, 90).data);
      else {
        const png = new PNG({ width: w, height: h });
        rgba.copy(png.data);
        bytes = new Uint8Array(PNG.sync.write(png));
      }
      cleanly(tally, asJpeg ? "jpeg (valid)" : "png (valid)", () => decodeImage(bytes, "t.img"), (img) => {
        assert.equal(img.width, w);
        assert.equal(img.height, h);
        if (!asJpeg) assert.deepEqual(Buffer.from(img.data), rgba);
      });
      cleanly(tally, asJpeg ? "jpeg (corrupted)" : "png (corrupted)", () => decodeImage(mutate(bytes, m), "t.img"), (img) => {
        assert.equal(img.data.length, img.width * img.height * 4, "decoded RGBA size matches the dimensions");
      });
    }),
    params(300),
  );
});

test("fuzz WAV: 16-bit files read back; corrupted ones are one clean error", () => {
  fc.assert(
    fc.property(fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: 1, maxLength: 64 }), fc.constantFrom(8000, 16000), mutationNear(44, 100), (xs, rate, m) => {
      const bytes = encodeWav16(Float32Array.from(xs), rate);
      cleanly(tally, "wav (valid)", () => parseWav(bytes, "t.wav"), (w) => {
        assert.equal(w.sampleRate, rate);
        assert.equal(w.samples.length, xs.length);
        for (let i = 0; i < xs.length; i++) assert.ok(Math.abs(w.samples[i] - xs[i]) < 1e-4, `sample ${i}`);
      });
      cleanly(tally, "wav (corrupted)", () => parseWav(mutate(bytes, m), "t.wav"), (w) => {
        assert.ok(w.samples.every((v) => Number.isFinite(v)), "wav: finite samples");
      });
    }),
    params(300),
  );
});

const DTYPES = ["F32", "I32", "F16", "U8", "I8", "I64"] as const;
test("fuzz safetensors: tensors round-trip; truncated, bit-flipped and wrong dtype/shape headers are one clean error", () => {
  const tensor = fc.record({ dtype: fc.constantFrom(...DTYPES), shape: fc.array(fc.integer({ min: 1, max: 4 }), { maxLength: 3 }) });
  fc.assert(
    fc.property(fc.dictionary(fc.constantFrom("w", "b", "layer.0.weight"), tensor, { minKeys: 1 }), mutationNear(120, 300), (spec, m) => {
      const tensors: Record<string, SafetensorsTensor> = {};
      for (const [name, { dtype, shape }] of Object.entries(spec)) {
        const n = shape.reduce((a, b) => a * b, 1);
        const data =
          dtype === "F32" ? Float32Array.from({ length: n }, (_, i) => i / 3)
          : dtype === "I32" ? Int32Array.from({ length: n }, (_, i) => i - 2)
          : dtype === "F16" ? Uint16Array.from({ length: n }, (_, i) => 0x3c00 + i)
          : dtype === "U8" ? Uint8Array.from({ length: n }, (_, i) => i)
          : dtype === "I8" ? Int8Array.from({ length: n }, (_, i) => -i)
          : BigInt64Array.from({ length: n }, (_, i) => BigInt(i));
        tensors[name] = { dtype, shape, data } as SafetensorsTensor;
      }
      const bytes = encodeSafetensors(tensors);
      cleanly(tally, "safetensors (valid)", () => decodeSafetensors(bytes, "t.safetensors"), (d) => {
        for (const [name, t] of Object.entries(tensors)) {
          assert.deepEqual(d.tensors[name].shape, t.shape);
          assert.equal(d.tensors[name].dtype, t.dtype);
          assert.deepEqual(Array.from(d.tensors[name].data as ArrayLike<unknown>), Array.from(t.data as ArrayLike<unknown>));
        }
      });
      cleanly(tally, "safetensors (corrupted)", () => decodeSafetensors(mutate(bytes, m), "t.safetensors"));
    }),
    params(300),
  );
  // Headers written by hand: any dtype string, shape and offsets, against a data section of any length.
  const entry = fc.record({
    dtype: fc.oneof(fc.constantFrom(...DTYPES, "F64", "BF16", "BOOL", "", "f32"), fc.string({ maxLength: 4 })),
    shape: fc.oneof(fc.array(fc.integer({ min: -2, max: 6 }), { maxLength: 3 }), fc.constant("3"), fc.constant([1.5]), fc.constant([2 ** 40])),
    data_offsets: fc.oneof(fc.tuple(fc.integer({ min: -4, max: 80 }), fc.integer({ min: -4, max: 80 })), fc.constant([0]), fc.constant(null)),
  });
  fc.assert(
    fc.property(fc.dictionary(fc.string({ minLength: 1, maxLength: 3 }), entry, { maxKeys: 3 }), fc.integer({ min: 0, max: 96 }), (header, dataLen) => {
      const json = Buffer.from(JSON.stringify(header));
      const bytes = new Uint8Array(8 + json.length + dataLen);
      new DataView(bytes.buffer).setBigUint64(0, BigInt(json.length), true);
      bytes.set(json, 8);
      cleanly(tally, "safetensors (random header)", () => decodeSafetensors(bytes, "t.safetensors"), (d) => {
        for (const t of Object.values(d.tensors)) assert.equal(t.data.length, t.shape.reduce((a, b) => a * b, 1), "data length matches the shape");
      });
    }),
    params(400),
  );
});

test("fuzz ONNX teachers: truncated and bit-flipped model files are one clean error", async () => {
  const [{ SequentialModel }, { modelConfigFromSpec }, { saveOnnx }, { OnnxTeacher }, { useBackend }] = await Promise.all([
    import("../src/students/model.js"),
    import("../src/students/spec.js"),
    import("../src/export/onnx.js"),
    import("../src/teachers/onnx-teacher.js"),
    import("../src/engine/backend.js"),
  ]);
  const { runTeacherBatch } = await import("../src/teachers/teacher-run.js");
  await useBackend("cpu", { fallback: false });
  const model = new SequentialModel(modelConfigFromSpec("mlp:8", { inputShape: [6], numClasses: 3 }), 1);
  const good = join(dir, "good.onnx");
  saveOnnx(model, good);
  model.dispose();
  const bytes = new Uint8Array(readFileSync(good));
  await fc.assert(
    fc.asyncProperty(mutationArb, async (m) => {
      const p = tempFile("t.onnx", mutate(bytes, m));
      await cleanlyAsync(tally, "onnx teacher (corrupted)", () => OnnxTeacher.open(p, { sampleShape: [6] }), async (t) => {
        // Accepted: it must then predict finite scores for a batch, or refuse with one clean line.
        await cleanlyAsync(tally, "onnx teacher predict (corrupted model)", () => runTeacherBatch(t, { x: new Float32Array(12), n: 2, sampleShape: [6], rows: Int32Array.of(0, 1) }), (out) => {
          assert.equal(out.length, 2 * t.numClasses);
        });
        await t.close();
      });
    }),
    params(120),
  );
});

test("fuzz readers wrote nothing outside their own temp folder", () => {
  assert.deepEqual(listTree(cwd), [], "nothing written to the working directory");
});
