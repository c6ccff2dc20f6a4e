import * as tf from "@tensorflow/tfjs-core";
import { join } from "node:path";
import { copyFileSync, readdirSync, writeFileSync } from "node:fs";
import { readDataFile, writeDirAtomic } from "../util/files.js";
import { DataError } from "../util/errors.js";
import { SequentialModel } from "../students/model.js";
import { saveModel, type ModelMetadata } from "../students/io.js";
import { quantizeWeightsInt8 } from "./quantize.js";

interface WeightEntry {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype: string; min?: number; scale?: number; original_dtype?: string };
}

/** How one weight tensor is stored: exact small integers (u = q + 127), per-tensor affine uint8, or float32. */
type Storage = "int" | "affine" | "float";

/**
 * Saves a model in the TF.js layers format with int8 kernels that have one scale per output channel, in a form
 * stock tf.loadLayersModel reads. TF.js's manifest holds one {min, scale} per tensor, so a kernel W ≈ Q·diag(s) is
 * stored as the integers Q (exact in uint8 with min = −127, scale = 1) and each scale s_j is folded forward:
 * the layer's bias becomes b_j / s_j, its output h_j / s_j (exact through linear, ReLU, max/avg pooling and
 * flatten, which are positively homogeneous), and the next layer's input rows are multiplied by s_j before that
 * layer is itself quantized per output channel. Layers that cannot pass a scale on (sigmoid/tanh, the output layer)
 * get per-tensor affine uint8 instead.
 */
export async function saveTfjsInt8(model: SequentialModel, outDir: string, metadata: ModelMetadata = {}, files: Record<string, string | Uint8Array> = {}): Promise<{ floatBytes: number; quantizedBytes: number; perChannelLayers: string[] }> {
  const layers = model.layers;
  const weights = model.params.map((p) => Float32Array.from(p.dataSync() as Float32Array));
  const storage: Storage[] = weights.map(() => "float");
  let w = 0;
  let pending: Float32Array | null = null; // scale per input feature of the next weighted layer
  const weighted = layers.map((l, i) => (l.params.length ? i : -1)).filter((i) => i >= 0);
  const lastWeighted = weighted[weighted.length - 1];
  const perChannelLayers: string[] = [];
  let shape = model.config.inputShape;
  for (const [i, layer] of layers.entries()) {
    const c = layer.config;
    if (c.type === "dense" || c.type === "conv2d") {
      const kernel = weights[w];
      const kShape = layer.params[0].shape;
      const cin = kShape[kShape.length - 2];
      const cout = kShape[kShape.length - 1];
      if (pending) {
        for (let j = 0; j < kernel.length; j++) {
          const inIndex = c.type === "dense" ? Math.floor(j / cout) : Math.floor(j / cout) % cin;
          kernel[j] *= pending[inIndex];
        }
      }
      const foldable = i !== lastWeighted && (c.activation === "relu" || c.activation === "linear");
      if (foldable) {
        const { q, scales } = quantizeWeightsInt8(kernel, kShape, kShape.length - 1);
        for (let j = 0; j < kernel.length; j++) kernel[j] = q[j];
        storage[w] = "int";
        if (c.useBias) for (let j = 0; j < cout; j++) weights[w + 1][j] /= scales[j];
        pending = scales;
        perChannelLayers.push(c.name);
      } else {
        storage[w] = "affine";
        pending = null;
      }
      w += layer.params.length;
    } else if (c.type === "flatten" && pending) {
      const [h, wd, ch] = shape;
      const expanded = new Float32Array(h * wd * ch);
      for (let j = 0; j < expanded.length; j++) expanded[j] = pending[j % ch];
      pending = expanded;
    }
    shape = layer.outputShape;
  }
  const copy = new SequentialModel(model.config, 0);
  try {
    copy.setWeights(weights.map((v, i) => tf.tensor(v, model.params[i].shape)));
    await saveModel(copy, outDir, { ...metadata, quantization: "int8 kernels, per-output-channel scales folded forward (TF.js uint8 storage)" }, files);
  } finally {
    copy.dispose();
  }
  const sizes = await rewriteAsUint8(outDir, (_name, index) => storage[index] ?? "float");
  return { ...sizes, perChannelLayers };
}

/** Rewrites a saved folder's weights: "int" kernels hold integers in [−127, 127]; "affine" get min/scale uint8. */
async function rewriteAsUint8(dir: string, plan: (name: string, index: number) => Storage): Promise<{ floatBytes: number; quantizedBytes: number }> {
  const jsonPath = join(dir, "model.json");
  const json = JSON.parse(readDataFile(jsonPath, "a TF.js layers model folder").toString("utf8")) as {
    weightsManifest: { paths: string[]; weights: WeightEntry[] }[];
    [k: string]: unknown;
  };
  const all = Buffer.concat(json.weightsManifest.flatMap((g) => g.paths.map((p) => readDataFile(join(dir, p), `a weight file named in ${jsonPath}`))));
  const out: Uint8Array[] = [];
  const manifest: WeightEntry[] = [];
  let offset = 0;
  json.weightsManifest.flatMap((g) => g.weights).forEach((e, index) => {
    const size = e.shape.reduce((a, b) => a * b, 1);
    const values = new Float32Array(all.buffer.slice(all.byteOffset + offset, all.byteOffset + offset + size * 4));
    offset += size * 4;
    const how = plan(e.name, index);
    if (how === "float") {
      out.push(new Uint8Array(values.buffer));
      manifest.push(e);
      return;
    }
    let min = -127;
    let scale = 1;
    if (how === "affine") {
      let max = -Infinity;
      min = Infinity;
      for (const v of values) {
        if (v < min) min = v;
        if (v > max) max = v;
      }
      scale = max > min ? (max - min) / 255 : 1;
    }
    const q = new Uint8Array(size);
    for (let i = 0; i < size; i++) q[i] = Math.max(0, Math.min(255, Math.round((values[i] - min) / scale)));
    out.push(q);
    manifest.push({ ...e, quantization: { dtype: "uint8", min, scale, original_dtype: "float32" } });
  });
  if (offset !== all.length) throw new DataError(jsonPath, `weights hold ${all.length} bytes, the manifest describes ${offset}`);
  const data = Buffer.concat(out);
  await writeDirAtomic(dir, (tmp) => {
    // Other files of the folder (preprocess.json, preprocess.mjs) stay.
    for (const f of readdirSync(dir)) if (f !== "model.json" && f !== "weights.bin" && !f.startsWith(".")) copyFileSync(join(dir, f), join(tmp, f));
    writeFileSync(join(tmp, "weights.bin"), data);
    writeFileSync(join(tmp, "model.json"), JSON.stringify({ ...json, weightsManifest: [{ paths: ["weights.bin"], weights: manifest }] }));
  });
  return { floatBytes: all.length, quantizedBytes: data.length };
}
