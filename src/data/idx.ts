import { readDataFile } from "../util/files.js";
import { gunzipSync } from "node:zlib";
import { DataError } from "../util/errors.js";

/** Element types of the idx format (LeCun's MNIST files): the third magic byte. */
const IDX_TYPES: Record<number, { name: string; bytes: number }> = {
  0x08: { name: "uint8", bytes: 1 },
  0x09: { name: "int8", bytes: 1 },
  0x0b: { name: "int16", bytes: 2 },
  0x0c: { name: "int32", bytes: 4 },
  0x0d: { name: "float32", bytes: 4 },
  0x0e: { name: "float64", bytes: 8 },
};

export interface IdxArray {
  dtype: string;
  shape: number[];
  /** Values in row-major order, converted to numbers of the element type. */
  data: Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;
}

/**
 * Parses an idx file: magic [0, 0, type, ndims], ndims big-endian uint32 sizes, then the values big-endian.
 * Gzipped input (magic 1f 8b) is decompressed first. `source` names the file in errors.
 */
export function parseIdx(buf: Uint8Array, source = "idx data"): IdxArray {
  if (buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) {
    try {
      buf = gunzipSync(buf);
    } catch (err) {
      throw new DataError(source, `is gzipped but could not be decompressed (${(err as Error).message}); the file is probably truncated`);
    }
  }
  if (buf.length < 4) throw new DataError(source, `is ${buf.length} bytes long; an idx file has at least a 4-byte header`);
  if (buf[0] !== 0 || buf[1] !== 0) {
    throw new DataError(source, `is not an idx file: expected magic bytes 00 00 <type> <ndims>, got ${hex(buf.subarray(0, 4))}`);
  }
  const type = IDX_TYPES[buf[2]];
  if (!type) throw new DataError(source, `has unknown idx element type 0x${buf[2].toString(16)}; expected one of 08 09 0b 0c 0d 0e`);
  const ndims = buf[3];
  if (ndims === 0) throw new DataError(source, "declares 0 dimensions; expected at least 1");
  const headerBytes = 4 + 4 * ndims;
  if (buf.length < headerBytes) throw new DataError(source, `is truncated inside its header (${buf.length} of ${headerBytes} bytes)`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const shape: number[] = [];
  for (let i = 0; i < ndims; i++) shape.push(view.getUint32(4 + 4 * i, false));
  const count = shape.reduce((a, b) => a * b, 1);
  const expected = headerBytes + count * type.bytes;
  if (buf.length !== expected) {
    const what = buf.length < expected ? "is truncated" : "has trailing bytes";
    throw new DataError(source, `${what}: its header declares shape [${shape.join(", ")}] of ${type.name} (${expected} bytes), but the file has ${buf.length} bytes`);
  }
  const body = buf.subarray(headerBytes);
  let data: IdxArray["data"];
  switch (type.name) {
    case "uint8":
      data = new Uint8Array(body);
      break;
    case "int8":
      data = new Int8Array(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength));
      break;
    default: {
      const bodyView = new DataView(body.buffer, body.byteOffset, body.byteLength);
      const Ctor = { int16: Int16Array, int32: Int32Array, float32: Float32Array, float64: Float64Array }[type.name as "int16"]!;
      const out = new Ctor(count);
      for (let i = 0; i < count; i++) {
        const o = i * type.bytes;
        out[i] =
          type.name === "int16" ? bodyView.getInt16(o, false)
          : type.name === "int32" ? bodyView.getInt32(o, false)
          : type.name === "float32" ? bodyView.getFloat32(o, false)
          : bodyView.getFloat64(o, false);
      }
      data = out;
    }
  }
  return { dtype: type.name, shape, data };
}

export function readIdxFile(path: string): IdxArray {
  return parseIdx(readDataFile(path, "an idx file (optionally gzipped)"), path);
}

/** Encodes an array as an idx file (used by tests and by tools that write transfer sets). */
export function encodeIdx(dtype: "uint8" | "float32" | "int32", shape: number[], values: ArrayLike<number>): Uint8Array {
  const code = { uint8: 0x08, int32: 0x0c, float32: 0x0d }[dtype];
  const bytes = dtype === "uint8" ? 1 : 4;
  const out = new Uint8Array(4 + 4 * shape.length + values.length * bytes);
  const view = new DataView(out.buffer);
  out[2] = code;
  out[3] = shape.length;
  shape.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  const off = 4 + 4 * shape.length;
  for (let i = 0; i < values.length; i++) {
    if (dtype === "uint8") out[off + i] = values[i];
    else if (dtype === "int32") view.setInt32(off + 4 * i, values[i], false);
    else view.setFloat32(off + 4 * i, values[i], false);
  }
  return out;
}

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(" ");
}
