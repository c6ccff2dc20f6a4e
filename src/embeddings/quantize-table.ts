// A static/bag table stored smaller: int8 with one float32 scale per row (q = round(x / s), s = max|row| / 127) or
// fp16. The runtime (runtime/embed-runtime.mjs, dequantizeTensors) widens both back to float32 when it loads them.
import { encodeHalf } from "../util/float16.js";
import type { SafetensorsTensor } from "../util/safetensors.js";

export type TableQuantization = "int8" | "fp16";

/** The table [rows, width] as the safetensors tensors "embeddings" (I8 or F16) and, for int8, "embeddings/scale" [rows]. */
export function quantizeTable(table: Float32Array, rows: number, width: number, kind: TableQuantization): Record<string, SafetensorsTensor> {
  if (table.length !== rows * width) throw new Error(`quantizeTable: ${table.length} values; expected ${rows}×${width}`);
  if (kind === "fp16") return { embeddings: { dtype: "F16", shape: [rows, width], data: encodeHalf(table) } };
  const q = new Int8Array(rows * width);
  const scale = new Float32Array(rows);
  for (let i = 0; i < rows; i++) {
    let max = 0;
    for (let j = 0; j < width; j++) max = Math.max(max, Math.abs(table[i * width + j]));
    const s = max > 0 ? Math.fround(max / 127) : 0;
    scale[i] = s;
    if (s > 0) for (let j = 0; j < width; j++) q[i * width + j] = Math.max(-127, Math.min(127, Math.round(table[i * width + j] / s)));
  }
  return { embeddings: { dtype: "I8", shape: [rows, width], data: q }, "embeddings/scale": { dtype: "F32", shape: [rows], data: scale } };
}
