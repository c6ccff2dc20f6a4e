// The safetensors encoder/decoder: round trips, byte-level compatibility with the reference format (checked by an
// independent parser written here, and by byte strings built by hand), and the strict decoder's error messages.
import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeSafetensors, encodeSafetensors, parseJsonStrict, type SafetensorsTensor } from "../src/teachers/safetensors.js";
import { DataError } from "../src/util/errors.js";
import { Rng } from "../src/util/rng.js";

const ITEM_SIZE: Record<string, number> = { F32: 4, I32: 4, F16: 2, U8: 1, I8: 1, I64: 8 };

/**
 * An independent, strict reading of the format (what Python's `safetensors` checks, plus the writer's padding):
 * u64 LE header length, JSON header padded with spaces to 8 bytes, tensors contiguous from 0 and covering the
 * data exactly, each aligned to its element size, shape × itemsize = byte length. Returns each tensor's raw
 * bytes, read with DataView in little-endian order, so callers can check the values independently too.
 */
function independentParse(bytes: Uint8Array): {
  header: Record<string, unknown>;
  order: string[];
  raw: Map<string, { dtype: string; shape: number[]; view: DataView }>;
} {
  assert.ok(bytes.length >= 8, "file shorter than 8 bytes");
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(dv.getBigUint64(0, true));
  assert.equal(n % 8, 0, `header length ${n} is not a multiple of 8`);
  assert.ok(8 + n <= bytes.length, "header runs past the end");
  const text = Buffer.from(bytes.subarray(8, 8 + n)).toString("utf8");
  assert.equal(text[0], "{", "header must start with '{'");
  const trimmed = text.replace(/ +$/, "");
  assert.ok(n - Buffer.byteLength(trimmed) < 8, "more than 7 bytes of padding");
  assert.ok(trimmed.endsWith("}"), "padding must be spaces after the JSON object");
  const header = JSON.parse(text) as Record<string, unknown>;
  const dataLen = bytes.length - 8 - n;
  const entries = Object.entries(header).filter(([k]) => k !== "__metadata__") as [string, { dtype: string; shape: number[]; data_offsets: [number, number] }][];
  if ("__metadata__" in header) {
    for (const v of Object.values(header.__metadata__ as object)) assert.equal(typeof v, "string", "metadata values must be strings");
  }
  entries.sort((a, b) => a[1].data_offsets[0] - b[1].data_offsets[0]);
  let pos = 0;
  const raw = new Map<string, { dtype: string; shape: number[]; view: DataView }>();
  for (const [name, info] of entries) {
    assert.deepEqual(Object.keys(info).sort(), ["data_offsets", "dtype", "shape"], `${name}: fields`);
    const size = ITEM_SIZE[info.dtype];
    assert.ok(size, `${name}: dtype ${info.dtype}`);
    const [b, e] = info.data_offsets;
    assert.equal(b, pos, `${name}: not contiguous (begins at ${b}, expected ${pos})`);
    assert.equal(e - b, info.shape.reduce((x, y) => x * y, 1) * size, `${name}: shape × itemsize ≠ byte length`);
    assert.equal((8 + n + b) % size, 0, `${name}: data not aligned to ${size} bytes`);
    raw.set(name, { dtype: info.dtype, shape: info.shape, view: new DataView(bytes.buffer, bytes.byteOffset + 8 + n + b, e - b) });
    pos = e;
  }
  assert.equal(pos, dataLen, "tensors must cover the data exactly");
  return { header, order: entries.map(([k]) => k), raw };
}

/** Element i of a raw little-endian tensor, read with DataView (independent of typed-array byte order). */
function readLE(dtype: string, view: DataView, i: number): number | bigint {
  switch (dtype) {
    case "F32":
      return view.getFloat32(4 * i, true);
    case "I32":
      return view.getInt32(4 * i, true);
    case "F16":
      return view.getUint16(2 * i, true);
    case "U8":
      return view.getUint8(i);
    case "I8":
      return view.getInt8(i);
    case "I64":
      return view.getBigInt64(8 * i, true);
  }
  throw new Error(dtype);
}

function sampleTensors(): Record<string, SafetensorsTensor> {
  const rng = new Rng(3, "safetensors");
  const f32 = Float32Array.from({ length: 24 }, () => rng.normal());
  f32.set([NaN, -0, Infinity, -Infinity, 1.4e-45, 3.4028234663852886e38], 0);
  return {
    "w.f32": { dtype: "F32", shape: [2, 3, 4], data: f32 },
    "w.i32": { dtype: "I32", shape: [5], data: Int32Array.from([0, 1, -1, 2147483647, -2147483648]) },
    "w.f16": { dtype: "F16", shape: [3], data: Uint16Array.from([0x3c00, 0xc000, 0x7e00]) }, // 1, −2, NaN as raw half bits
    "w.u8": { dtype: "U8", shape: [7], data: Uint8Array.from([0, 1, 2, 127, 128, 254, 255]) },
    "w.i8": { dtype: "I8", shape: [3], data: Int8Array.from([-128, 0, 127]) },
    "w.i64": { dtype: "I64", shape: [1, 3], data: BigInt64Array.from([-(2n ** 63n), 0n, 2n ** 63n - 1n]) },
    scalar: { dtype: "F32", shape: [], data: Float32Array.from([2.5]) },
    empty: { dtype: "I32", shape: [0, 3], data: new Int32Array(0) },
  };
}

function assertSameTensor(actual: SafetensorsTensor, expected: SafetensorsTensor, what: string): void {
  assert.equal(actual.dtype, expected.dtype, `${what}: dtype`);
  assert.deepEqual(actual.shape, expected.shape, `${what}: shape`);
  assert.equal(actual.data.constructor, expected.data.constructor, `${what}: array type`);
  // Compare bytes, so NaN payloads and −0 count.
  assert.deepEqual(
    Buffer.from(actual.data.buffer, actual.data.byteOffset, actual.data.byteLength),
    Buffer.from(expected.data.buffer, expected.data.byteOffset, expected.data.byteLength),
    `${what}: data`,
  );
}

test("round trip for each dtype, alone and together, with metadata", () => {
  const all = sampleTensors();
  for (const [name, t] of Object.entries(all)) {
    const bytes = encodeSafetensors({ [name]: t });
    const back = decodeSafetensors(bytes, "one.safetensors");
    assert.deepEqual(Object.keys(back.tensors), [name]);
    assertSameTensor(back.tensors[name], t, name);
    assert.equal(back.metadata, undefined);
  }
  const metadata = { format: "pt", "näme": "välue ✓", empty: "" };
  const back = decodeSafetensors(encodeSafetensors(all, metadata), "all.safetensors");
  assert.deepEqual(back.metadata, metadata);
  assert.deepEqual(Object.keys(back.tensors).sort(), Object.keys(all).sort());
  for (const [name, t] of Object.entries(all)) assertSameTensor(back.tensors[name], t, name);
  // Subarray views encode only their own elements.
  const big = Float32Array.from([9, 1, 2, 3, 9]);
  const sub = decodeSafetensors(encodeSafetensors({ v: { dtype: "F32", shape: [3], data: big.subarray(1, 4) } }), "sub");
  assert.deepEqual(Array.from(sub.tensors.v.data as Float32Array), [1, 2, 3]);
});

test("encoded files pass an independent strict parser (what Python's safetensors reads)", () => {
  const all = sampleTensors();
  const metadatas: (Record<string, string> | undefined)[] = [undefined, {}, { a: "1" }, { k: "x".repeat(13) }];
  for (const metadata of metadatas) {
    for (let drop = 0; drop <= Object.keys(all).length; drop++) {
      // Different subsets give different header lengths, so every padding amount 0..7 gets exercised.
      const subset = Object.fromEntries(Object.entries(all).filter((_, i) => i !== drop));
      const bytes = encodeSafetensors(subset, metadata);
      const { header, order, raw } = independentParse(bytes);
      assert.deepEqual(header.__metadata__, metadata);
      // Reference order: descending dtype alignment (I64, F32, I32, F16, I8, U8), then name.
      const rank = ["U8", "I8", "F16", "I32", "F32", "I64"];
      const expectedOrder = Object.keys(subset).sort((a, b) => rank.indexOf(subset[b].dtype) - rank.indexOf(subset[a].dtype) || (a < b ? -1 : a > b ? 1 : 0));
      assert.deepEqual(order, expectedOrder);
      for (const [name, t] of Object.entries(subset)) {
        const r = raw.get(name)!;
        assert.equal(r.dtype, t.dtype);
        assert.deepEqual(r.shape, t.shape);
        for (let i = 0; i < t.data.length; i++) {
          const want = t.data[i];
          const got = readLE(t.dtype, r.view, i);
          assert.ok(Object.is(got, want) || (Number.isNaN(got as number) && Number.isNaN(want as number)), `${name}[${i}]: ${got} vs ${want}`);
        }
      }
    }
  }
});

/** Bytes of a file: u64 LE length of `header` (as given, no padding added), the header, then `data`. */
function fileBytes(header: string, data: number[] | Uint8Array = []): Uint8Array {
  const h = Buffer.from(header, "utf8");
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

function f32le(...values: number[]): number[] {
  const b = Buffer.alloc(4 * values.length);
  values.forEach((v, i) => b.writeFloatLE(v, 4 * i));
  return [...b];
}

test("known-good byte strings (the reference writer's output, built by hand) decode, and the encoder reproduces them", () => {
  // {"attn.0": float32 [1, 2, 3] = 0..5}: the header is exactly 64 bytes, so no padding.
  const header1 = '{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}';
  assert.equal(header1.length, 64);
  const file1 = fileBytes(header1, [0, 0, 0, 0, 0, 0, 0x80, 0x3f, 0, 0, 0, 0x40, 0, 0, 0x40, 0x40, 0, 0, 0x80, 0x40, 0, 0, 0xa0, 0x40]);
  const d1 = decodeSafetensors(file1, "known1");
  assert.deepEqual(d1.tensors["attn.0"].shape, [1, 2, 3]);
  assert.deepEqual(Array.from(d1.tensors["attn.0"].data as Float32Array), [0, 1, 2, 3, 4, 5]);
  assert.deepEqual(encodeSafetensors({ "attn.0": { dtype: "F32", shape: [1, 2, 3], data: Float32Array.from([0, 1, 2, 3, 4, 5]) } }), file1);

  // {"attn0": [1, 1, 2, 3]}: 65 bytes of JSON, padded with 7 spaces to 72.
  const header2 = '{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}' + " ".repeat(7);
  assert.equal(header2.length, 72);
  const file2 = fileBytes(header2, f32le(0, 1, 2, 3, 4, 5));
  assert.deepEqual(Array.from(decodeSafetensors(file2, "known2").tensors.attn0.data as Float32Array), [0, 1, 2, 3, 4, 5]);
  assert.deepEqual(encodeSafetensors({ attn0: { dtype: "F32", shape: [1, 1, 2, 3], data: Float32Array.from([0, 1, 2, 3, 4, 5]) } }), file2);

  // No tensors: "{}" + 6 spaces; with metadata {"framework": "pt"}: 35 bytes + 5 spaces.
  const empty = fileBytes("{}      ");
  assert.deepEqual(decodeSafetensors(empty, "empty"), { tensors: {} });
  assert.deepEqual(encodeSafetensors({}), empty);
  const withMeta = fileBytes('{"__metadata__":{"framework":"pt"}}     ');
  assert.deepEqual(decodeSafetensors(withMeta, "meta"), { tensors: {}, metadata: { framework: "pt" } });
  assert.deepEqual(encodeSafetensors({}, { framework: "pt" }), withMeta);

  // Mixed dtypes, written in reference order (I64, F32, I32, U8), with the metadata first.
  const header3 =
    '{"__metadata__":{"k":"v"},"a":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},"c":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},' +
    '"d":{"dtype":"I32","shape":[1],"data_offsets":[12,16]},"b":{"dtype":"U8","shape":[3],"data_offsets":[16,19]}}';
  const padded3 = header3 + " ".repeat((8 - (header3.length % 8)) % 8);
  const file3 = fileBytes(padded3, [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, ...f32le(-1.5), 7, 0, 0, 0, 1, 2, 3]);
  const d3 = decodeSafetensors(file3, "known3");
  assert.deepEqual(d3.tensors.a.data, BigInt64Array.from([-2n]));
  assert.deepEqual(d3.tensors.c.data, Float32Array.from([-1.5]));
  assert.deepEqual(d3.tensors.d.data, Int32Array.from([7]));
  assert.deepEqual(d3.tensors.b.data, Uint8Array.from([1, 2, 3]));
  assert.deepEqual(
    encodeSafetensors(
      {
        b: { dtype: "U8", shape: [3], data: Uint8Array.from([1, 2, 3]) },
        a: { dtype: "I64", shape: [1], data: BigInt64Array.from([-2n]) },
        d: { dtype: "I32", shape: [1], data: Int32Array.from([7]) },
        c: { dtype: "F32", shape: [1], data: Float32Array.from([-1.5]) },
      },
      { k: "v" },
    ),
    file3,
  );

  // Files from older writers (unpadded header, any tensor order, whitespace in the JSON) are valid too.
  const old = fileBytes('{ "y": {"dtype": "I8", "shape": [2], "data_offsets": [1, 3]},\n "x": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]} }', [9, 0xff, 1]);
  const dOld = decodeSafetensors(old, "old");
  assert.deepEqual(Object.keys(dOld.tensors), ["x", "y"]);
  assert.deepEqual(dOld.tensors.y.data, Int8Array.from([-1, 1]));
  assert.deepEqual(dOld.tensors.x.data, Uint8Array.from([9]));
});

test("malformed files: each is a one-line DataError naming the source and the problem", () => {
  const t = (name: string, dtype: string, shape: unknown, offsets: unknown) => `${JSON.stringify(name)}:{"dtype":${JSON.stringify(dtype)},"shape":${JSON.stringify(shape)},"data_offsets":${JSON.stringify(offsets)}}`;
  const good = fileBytes(`{${t("a", "F32", [2], [0, 8])}}`, f32le(1, 2));
  assert.doesNotThrow(() => decodeSafetensors(good, "good"));
  const withLength = (n: bigint, rest: Uint8Array = new Uint8Array(0)) => {
    const out = new Uint8Array(8 + rest.length);
    new DataView(out.buffer).setBigUint64(0, n, true);
    out.set(rest, 8);
    return out;
  };
  const cases: [string, Uint8Array, RegExp][] = [
    ["empty file", new Uint8Array(0), /too short/],
    ["7 bytes", new Uint8Array(7), /too short/],
    ["header length past the end", withLength(100n, Buffer.from("{}")), /runs past the end/],
    ["huge header length", withLength(2n ** 63n, Buffer.from("{}")), /exceeds/],
    ["zero header length", withLength(0n), /too small/],
    ["invalid UTF-8", fileBytes("{}      ").map((b, i) => (i === 9 ? 0xff : b)), /UTF-8/],
    ["not JSON", fileBytes("{not json}"), /not valid JSON/],
    ["truncated JSON", fileBytes(`{${t("a", "F32", [2], [0, 8])}`, f32le(1, 2)), /not valid JSON/],
    ["trailing comma", fileBytes(`{${t("a", "F32", [2], [0, 8])},}`, f32le(1, 2)), /not valid JSON/],
    ["JSON array", fileBytes("[1, 2]  "), /start with '\{'/],
    ["garbage after the JSON", fileBytes(`{${t("a", "F32", [2], [0, 8])}} x`, f32le(1, 2)), /not valid JSON/],
    ["unknown dtype", fileBytes(`{${t("a", "Q4", [2], [0, 8])}}`, f32le(1, 2)), /unknown or unsupported dtype "Q4"/],
    ["unsupported dtype", fileBytes(`{${t("a", "BF16", [4], [0, 8])}}`, f32le(1, 2)), /unsupported dtype "BF16"/],
    ["missing dtype", fileBytes(`{"a":{"shape":[2],"data_offsets":[0,8]}}`, f32le(1, 2)), /no dtype/],
    ["unknown field", fileBytes(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"extra":1}}`, f32le(1, 2)), /unknown field "extra"/],
    ["tensor not an object", fileBytes(`{"a":[1,2]}`), /not an object/],
    ["negative dimension", fileBytes(`{${t("a", "F32", [-2], [0, 8])}}`, f32le(1, 2)), /shape/],
    ["fractional dimension", fileBytes(`{${t("a", "F32", [2.5], [0, 8])}}`, f32le(1, 2)), /shape/],
    ["offsets not a pair", fileBytes(`{${t("a", "F32", [2], [0, 4, 8])}}`, f32le(1, 2)), /data_offsets/],
    ["offsets reversed", fileBytes(`{${t("a", "F32", [0], [8, 0])}}`, f32le(1, 2)), /end before they begin/],
    ["shape × itemsize ≠ bytes", fileBytes(`{${t("a", "F32", [3], [0, 8])}}`, f32le(1, 2)), /shape \[3\] × 4 bytes/],
    ["I64 size", fileBytes(`{${t("a", "I64", [2], [0, 8])}}`, f32le(1, 2)), /= 16 bytes/],
    ["overlap", fileBytes(`{${t("a", "F32", [2], [0, 8])},${t("b", "F32", [1], [4, 8])}}`, f32le(1, 2)), /overlaps/],
    ["hole", fileBytes(`{${t("a", "F32", [1], [0, 4])},${t("b", "F32", [1], [8, 12])}}`, f32le(1, 2, 3)), /hole/],
    ["not starting at 0", fileBytes(`{${t("a", "F32", [1], [4, 8])}}`, f32le(1, 2)), /hole/],
    ["past the end", fileBytes(`{${t("a", "F32", [3], [0, 12])}}`, f32le(1, 2)), /past the end of the data/],
    ["trailing bytes", fileBytes(`{${t("a", "F32", [1], [0, 4])}}`, f32le(1, 2)), /cover 4 bytes of data but 8 follow/],
    ["duplicate tensor", fileBytes(`{${t("a", "F32", [1], [0, 4])},${t("a", "F32", [1], [4, 8])}}`, f32le(1, 2)), /duplicate key "a"/],
    ["duplicate metadata key", fileBytes(`{"__metadata__":{"k":"1","k":"2"},${t("a", "F32", [2], [0, 8])}}`, f32le(1, 2)), /duplicate key "k"/],
    ["non-string metadata", fileBytes(`{"__metadata__":{"k":1},${t("a", "F32", [2], [0, 8])}}`, f32le(1, 2)), /metadata "k" is number/],
    ["null metadata value", fileBytes(`{"__metadata__":{"k":null}}`), /metadata "k" is null/],
    ["metadata not an object", fileBytes(`{"__metadata__":"x"}`), /"__metadata__" must be an object/],
  ];
  for (const [what, bytes, pattern] of cases) {
    assert.throws(
      () => decodeSafetensors(bytes, "/data/bad.safetensors"),
      (err: unknown) => {
        assert.ok(err instanceof DataError, `${what}: expected a DataError, got ${err}`);
        assert.ok(err.message.startsWith("/data/bad.safetensors: not a valid safetensors file: "), `${what}: ${err.message}`);
        assert.match(err.message, pattern, what);
        assert.ok(!err.message.includes("\n"), `${what}: message is one line`);
        return true;
      },
      what,
    );
  }
});

test("the encoder refuses inconsistent tensors", () => {
  const bad = (tensors: Record<string, unknown>, pattern: RegExp) =>
    assert.throws(() => encodeSafetensors(tensors as Record<string, SafetensorsTensor>), (e: unknown) => e instanceof TypeError && pattern.test(e.message));
  bad({ a: { dtype: "F32", shape: [2], data: Int32Array.from([1, 2]) } }, /needs a Float32Array, got Int32Array/);
  bad({ a: { dtype: "F16", shape: [2], data: Float32Array.from([1, 2]) } }, /needs a Uint16Array/);
  bad({ a: { dtype: "F32", shape: [3], data: Float32Array.from([1, 2]) } }, /3 elements, data has 2/);
  bad({ a: { dtype: "F32", shape: [-2], data: Float32Array.from([1, 2]) } }, /non-negative integers/);
  bad({ a: { dtype: "F64", shape: [1], data: Float32Array.from([1]) } }, /unknown dtype "F64"/);
  bad({ __metadata__: { dtype: "F32", shape: [1], data: Float32Array.from([1]) } }, /reserved/);
  assert.throws(() => encodeSafetensors({}, { k: 1 as unknown as string }), /metadata "k" must be a string/);
});

test("parseJsonStrict agrees with JSON.parse on valid JSON and refuses what JSON.parse would accept only loosely", () => {
  for (const text of ['{"a":[1,-2.5e3,true,false,null,"x\\u00e9\\n"],"b":{}}', "[]", " 0 ", '"\\ud83d\\ude00"', '{"__proto__":1}']) {
    assert.deepEqual(parseJsonStrict(text), JSON.parse(text));
  }
  const proto = parseJsonStrict('{"__proto__":{"polluted":1}}') as Record<string, unknown>;
  assert.ok(Object.hasOwn(proto, "__proto__"));
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  for (const text of ['{"a":1,"a":2}', '{"o":{"k":1,"k":1}}', "[1,]", "01", "NaN", "'x'", '{"a" 1}', "", "{} {}", '"\t"']) {
    assert.throws(() => parseJsonStrict(text), Error, text);
  }
});
