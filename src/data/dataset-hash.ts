import { createHash } from "node:crypto";
import type { InMemoryDataset } from "./dataset.js";

function bytesOf(a: Float32Array | Int32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/**
 * sha256 (hex) identifying a dataset's contents: over the UTF-8 JSON of sampleShape (e.g. "[28,28,1]"), then
 * the x values as little-endian float32 bytes, then the y labels as little-endian int32 bytes.
 */
export function hashDataset(data: InMemoryDataset): string {
  return createHash("sha256").update(JSON.stringify(data.sampleShape)).update(bytesOf(data.x)).update(bytesOf(data.y)).digest("hex");
}

