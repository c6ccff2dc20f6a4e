/**
 * The safetensors format (https://huggingface.co/docs/safetensors), as written and read by Hugging Face's
 * reference implementation:
 *
 *   [8 bytes]  N, the header length, a little-endian u64
 *   [N bytes]  a UTF-8 JSON object {"__metadata__": {string: string}, name: {dtype, shape, data_offsets: [begin, end]}, …},
 *              padded with spaces (0x20) to a multiple of 8 bytes
 *   [rest]     the tensor data, little-endian, row-major; offsets are relative to the start of this part, and the
 *              tensors cover it exactly (contiguous from 0, no gaps, no overlaps, nothing after the last one)
 *
 * The encoder orders tensors like the reference (descending dtype alignment, then name), so with the 8-byte
 * header padding every tensor starts aligned to its element size. The decoder is strict: anything that is not
 * exactly such a file (bad lengths, bad UTF-8 or JSON, duplicate keys, unknown fields or dtypes, offsets with
 * holes or overlaps or past the end, shape × itemsize ≠ byte length, non-string metadata) is a one-line
 * DataError naming the source.
 */
import { DataError } from "./errors.js";

export const SAFETENSORS_DTYPES = ["F32", "I32", "F16", "U8", "I8", "I64"] as const;
export type SafetensorsDtype = (typeof SAFETENSORS_DTYPES)[number];

/** F16 is carried as its raw bits (Uint16Array): Node 20 has no Float16Array. */
export type SafetensorsData = Float32Array | Int32Array | Uint16Array | Uint8Array | Int8Array | BigInt64Array;

export interface SafetensorsTensor {
  dtype: SafetensorsDtype;
  shape: number[];
  data: SafetensorsData;
}

export interface DecodedSafetensors {
  /** In file (offset) order (except that JavaScript lists integer-like names first). */
  tensors: Record<string, SafetensorsTensor>;
  /** The `__metadata__` map, or undefined when the file has none. */
  metadata?: Record<string, string>;
}

/** The reference implementation refuses headers over 100 MB; so do we. */
export const MAX_HEADER_BYTES = 100_000_000;

interface DtypeInfo {
  size: number;
  /** Position in the reference implementation's Dtype enum order (U8 < I8 < F16 < I32 < F32 < I64). */
  rank: number;
  array: string;
  is: (d: unknown) => boolean;
  make: (buffer: ArrayBuffer) => SafetensorsData;
}

const DTYPES: Record<SafetensorsDtype, DtypeInfo> = {
  U8: { size: 1, rank: 0, array: "Uint8Array", is: (d) => d instanceof Uint8Array, make: (b) => new Uint8Array(b) },
  I8: { size: 1, rank: 1, array: "Int8Array", is: (d) => d instanceof Int8Array, make: (b) => new Int8Array(b) },
  F16: { size: 2, rank: 2, array: "Uint16Array", is: (d) => d instanceof Uint16Array, make: (b) => new Uint16Array(b) },
  I32: { size: 4, rank: 3, array: "Int32Array", is: (d) => d instanceof Int32Array, make: (b) => new Int32Array(b) },
  F32: { size: 4, rank: 4, array: "Float32Array", is: (d) => d instanceof Float32Array, make: (b) => new Float32Array(b) },
  I64: { size: 8, rank: 5, array: "BigInt64Array", is: (d) => d instanceof BigInt64Array, make: (b) => new BigInt64Array(b) },
};

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function isDtype(s: unknown): s is SafetensorsDtype {
  return typeof s === "string" && (SAFETENSORS_DTYPES as readonly string[]).includes(s);
}

/** Copies `src` into `dst`, swapping bytes within each element on a big-endian host. */
function copyLittleEndian(src: Uint8Array, dst: Uint8Array, dstOffset: number, itemSize: number): void {
  if (LITTLE_ENDIAN || itemSize === 1) {
    dst.set(src, dstOffset);
    return;
  }
  for (let i = 0; i < src.length; i += itemSize) {
    for (let j = 0; j < itemSize; j++) dst[dstOffset + i + j] = src[i + itemSize - 1 - j];
  }
}

function defineEntry<T>(obj: Record<string, T>, key: string, value: T): void {
  // defineProperty, not assignment: a key "__proto__" must become an own property, not a prototype.
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Serialises tensors (and optional string metadata) to safetensors bytes, byte-compatible with the reference writer. */
export function encodeSafetensors(tensors: Record<string, SafetensorsTensor>, metadata?: Record<string, string>): Uint8Array {
  const entries = Object.entries(tensors);
  for (const [name, t] of entries) {
    if (name === "__metadata__") throw new TypeError(`safetensors: "__metadata__" is reserved and cannot name a tensor`);
    if (!isDtype(t.dtype)) throw new TypeError(`safetensors: tensor "${name}": unknown dtype ${JSON.stringify(t.dtype)}; expected one of ${SAFETENSORS_DTYPES.join(", ")}`);
    const info = DTYPES[t.dtype];
    if (!info.is(t.data)) {
      throw new TypeError(`safetensors: tensor "${name}": dtype ${t.dtype} needs a ${info.array}, got ${t.data?.constructor?.name ?? typeof t.data}`);
    }
    if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new TypeError(`safetensors: tensor "${name}": shape ${JSON.stringify(t.shape)} is not a list of non-negative integers`);
    }
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) throw new TypeError(`safetensors: tensor "${name}": shape [${t.shape}] has ${count} elements, data has ${t.data.length}`);
  }
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== "string") throw new TypeError(`safetensors: metadata "${k}" must be a string, got ${typeof v}`);
    }
  }
  // Reference order: descending dtype (alignment), then name (byte order of the UTF-8, as Rust compares Strings).
  entries.sort(([an, a], [bn, b]) => DTYPES[b.dtype].rank - DTYPES[a.dtype].rank || Buffer.compare(Buffer.from(an), Buffer.from(bn)));

  let offset = 0;
  const parts: string[] = [];
  if (metadata !== undefined) parts.push(`"__metadata__":${JSON.stringify(metadata)}`);
  for (const [name, t] of entries) {
    const end = offset + t.data.byteLength;
    parts.push(`${JSON.stringify(name)}:{"dtype":"${t.dtype}","shape":${JSON.stringify(t.shape)},"data_offsets":[${offset},${end}]}`);
    offset = end;
  }
  const json = Buffer.from(`{${parts.join(",")}}`, "utf8");
  const headerLen = json.length + ((8 - (json.length % 8)) % 8);
  const out = new Uint8Array(8 + headerLen + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLen), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLen);
  let pos = 8 + headerLen;
  for (const [, t] of entries) {
    copyLittleEndian(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), out, pos, DTYPES[t.dtype].size);
    pos += t.data.byteLength;
  }
  return out;
}

class JsonSyntaxError extends Error {}

/**
 * A strict JSON parser: standard JSON (RFC 8259) only, and any object with a repeated key is an error (JSON.parse
 * would silently keep the last one).
 */
export function parseJsonStrict(text: string): unknown {
  let i = 0;
  const STRING = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
  const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
  const fail = (what: string): never => {
    throw new JsonSyntaxError(`${what} at character ${i}`);
  };
  const ws = () => {
    while (i < text.length && (text[i] === " " || text[i] === "\n" || text[i] === "\r" || text[i] === "\t")) i++;
  };
  const token = (re: RegExp): string | null => {
    re.lastIndex = i;
    const m = re.exec(text);
    if (!m) return null;
    i += m[0].length;
    return m[0];
  };
  const string = (): string => {
    const s = token(STRING);
    if (s === null) fail("expected a string");
    return JSON.parse(s!) as string;
  };
  const value = (depth: number): unknown => {
    if (depth > 100) fail("nesting too deep");
    ws();
    const c = text[i];
    if (c === "{") {
      i++;
      const obj: Record<string, unknown> = {};
      const seen = new Set<string>();
      ws();
      if (text[i] === "}") {
        i++;
        return obj;
      }
      for (;;) {
        ws();
        const keyAt = i;
        const key = string();
        if (seen.has(key)) {
          i = keyAt;
          fail(`duplicate key ${JSON.stringify(key)}`);
        }
        seen.add(key);
        ws();
        if (text[i] !== ":") fail("expected ':'");
        i++;
        defineEntry(obj, key, value(depth + 1));
        ws();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "}") {
          i++;
          return obj;
        }
        fail("expected ',' or '}'");
      }
    }
    if (c === "[") {
      i++;
      const arr: unknown[] = [];
      ws();
      if (text[i] === "]") {
        i++;
        return arr;
      }
      for (;;) {
        arr.push(value(depth + 1));
        ws();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "]") {
          i++;
          return arr;
        }
        fail("expected ',' or ']'");
      }
    }
    if (c === '"') return string();
    for (const [lit, v] of [["true", true], ["false", false], ["null", null]] as const) {
      if (text.startsWith(lit, i)) {
        i += lit.length;
        return v;
      }
    }
    const num = token(NUMBER);
    if (num === null) fail(i >= text.length ? "unexpected end" : `unexpected ${JSON.stringify(text[i])}`);
    return Number(num);
  };
  const result = value(0);
  ws();
  if (i !== text.length) fail("unexpected text after the JSON value");
  return result;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Parses safetensors bytes; `source` (usually the file path) names the file in every error. */
export function decodeSafetensors(bytes: Uint8Array, source: string): DecodedSafetensors {
  const bad = (problem: string): never => {
    throw new DataError(source, `not a valid safetensors file: ${problem}`);
  };
  if (bytes.length < 8) bad(`${bytes.length} bytes is too short for the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n64 = view.getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER_BYTES)) bad(`header length ${n64} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  const n = Number(n64);
  if (n < 2) bad(`header length ${n} is too small for a JSON object`);
  if (8 + n > bytes.length) bad(`header length ${n} runs past the end of the file (${bytes.length} bytes)`);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes.subarray(8, 8 + n));
  } catch {
    return bad("header is not valid UTF-8");
  }
  if (text[0] !== "{") bad(`header does not start with '{'`);
  let header: unknown;
  try {
    header = parseJsonStrict(text);
  } catch (err) {
    if (err instanceof JsonSyntaxError) return bad(`header is not valid JSON (${err.message})`);
    throw err;
  }
  if (!isPlainObject(header)) return bad("header is not a JSON object");

  let metadata: Record<string, string> | undefined;
  const infos: { name: string; dtype: SafetensorsDtype; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") {
      if (!isPlainObject(entry)) bad(`"__metadata__" must be an object of strings`);
      metadata = {};
      for (const [k, v] of Object.entries(entry as Record<string, unknown>)) {
        if (typeof v !== "string") bad(`metadata "${k}" is ${v === null ? "null" : typeof v}, expected a string`);
        defineEntry(metadata, k, v as string);
      }
      continue;
    }
    const what = `tensor ${JSON.stringify(name)}`;
    if (!isPlainObject(entry)) return bad(`${what} is not an object`);
    for (const key of Object.keys(entry)) {
      if (key !== "dtype" && key !== "shape" && key !== "data_offsets") bad(`${what} has an unknown field "${key}"`);
    }
    const { dtype, shape, data_offsets: offsets } = entry;
    if (dtype === undefined) bad(`${what} has no dtype`);
    if (!isDtype(dtype)) return bad(`${what} has unknown or unsupported dtype ${JSON.stringify(dtype)} (expected one of ${SAFETENSORS_DTYPES.join(", ")})`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      return bad(`${what} has shape ${JSON.stringify(shape)}, expected a list of non-negative integers`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      return bad(`${what} has data_offsets ${JSON.stringify(offsets)}, expected [begin, end] non-negative integers`);
    }
    const [begin, end] = offsets as number[];
    if (end < begin) bad(`${what} has data_offsets [${begin}, ${end}] that end before they begin`);
    let elements = 1;
    for (const d of shape as number[]) elements *= d;
    const expected = elements * DTYPES[dtype].size;
    if (!Number.isSafeInteger(expected) || expected !== end - begin) {
      bad(`${what}: shape [${shape}] × ${DTYPES[dtype].size} bytes (${dtype}) = ${expected} bytes, but data_offsets [${begin}, ${end}] span ${end - begin}`);
    }
    infos.push({ name, dtype, shape: (shape as number[]).slice(), begin, end });
  }

  const dataStart = 8 + n;
  const dataLength = bytes.length - dataStart;
  infos.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  for (const t of infos) {
    if (t.begin < pos) bad(`tensor ${JSON.stringify(t.name)} at [${t.begin}, ${t.end}] overlaps the previous tensor (which ends at ${pos})`);
    if (t.begin > pos) bad(`tensor ${JSON.stringify(t.name)} begins at ${t.begin}, leaving a hole after byte ${pos}`);
    if (t.end > dataLength) bad(`tensor ${JSON.stringify(t.name)} ends at ${t.end}, past the end of the data (${dataLength} bytes)`);
    pos = t.end;
  }
  if (pos !== dataLength) bad(`the tensors cover ${pos} bytes of data but ${dataLength} follow the header`);

  const tensors: Record<string, SafetensorsTensor> = {};
  for (const t of infos) {
    const info = DTYPES[t.dtype];
    const buf = new ArrayBuffer(t.end - t.begin);
    copyLittleEndian(bytes.subarray(dataStart + t.begin, dataStart + t.end), new Uint8Array(buf), 0, info.size);
    defineEntry(tensors, t.name, { dtype: t.dtype, shape: t.shape, data: info.make(buf) });
  }
  return metadata === undefined ? { tensors } : { tensors, metadata };
}
