import { join } from "node:path";
import { writeFileSync } from "node:fs";
import { readDataFile, writeDirAtomic } from "../util/files.js";
import { DataError } from "../util/errors.js";

interface WeightEntry {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype: string; min?: number; scale?: number; original_dtype?: string };
}

/**
 * Rewrites a TF.js layers model folder with uint8 kernels, in the quantization format TF.js's own loader
 * understands ({dtype: "uint8", min, scale} per weight tensor; dequantized at load by tf.loadLayersModel). TF.js's
 * manifest has one scale per tensor, so this is per-tensor affine quantization (the ONNX export is per output
 * channel). Biases and tensors under 1,024 values stay float32.
 */
export async function quantizeTfjsFolder(srcDir: string, outDir: string): Promise<{ floatBytes: number; quantizedBytes: number }> {
  const jsonPath = join(srcDir, "model.json");
  const json = JSON.parse(readDataFile(jsonPath, "a TF.js layers model folder").toString("utf8")) as {
    weightsManifest: { paths: string[]; weights: WeightEntry[] }[];
    [k: string]: unknown;
  };
  const buffers = json.weightsManifest.flatMap((g) => g.paths.map((p) => readDataFile(join(srcDir, p), `a weight file named in ${jsonPath}`)));
  const all = Buffer.concat(buffers);
  const entries = json.weightsManifest.flatMap((g) => g.weights);
  const out: Uint8Array[] = [];
  const manifest: WeightEntry[] = [];
  let offset = 0;
  for (const w of entries) {
    if (w.quantization || w.dtype !== "float32") throw new DataError(jsonPath, `weight ${w.name} is already quantized or not float32`);
    const size = w.shape.reduce((a, b) => a * b, 1);
    const values = new Float32Array(all.buffer.slice(all.byteOffset + offset, all.byteOffset + offset + size * 4));
    offset += size * 4;
    if (size < 1024 || w.name.endsWith("/bias")) {
      out.push(new Uint8Array(values.buffer));
      manifest.push(w);
      continue;
    }
    let min = Infinity;
    let max = -Infinity;
    for (const v of values) {
      if (v < min) min = v;
      if (v > max) max = v;
    }
    const scale = max > min ? (max - min) / 255 : 1;
    const q = new Uint8Array(size);
    for (let i = 0; i < size; i++) q[i] = Math.max(0, Math.min(255, Math.round((values[i] - min) / scale)));
    out.push(q);
    manifest.push({ ...w, quantization: { dtype: "uint8", min, scale, original_dtype: "float32" } });
  }
  if (offset !== all.length) throw new DataError(jsonPath, `weights hold ${all.length} bytes, the manifest describes ${offset}`);
  const data = Buffer.concat(out);
  await writeDirAtomic(outDir, (tmp) => {
    writeFileSync(join(tmp, "weights.bin"), data);
    writeFileSync(join(tmp, "model.json"), JSON.stringify({ ...json, weightsManifest: [{ paths: ["weights.bin"], weights: manifest }] }));
  });
  return { floatBytes: all.length, quantizedBytes: data.length };
}
