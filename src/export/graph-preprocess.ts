// What of a model's preprocessing an export can put into the ONNX graph, and the files it ships otherwise: the
// preprocessing runtime (preprocess.mjs + preprocess.d.mts, copied verbatim) and the model's preprocess.json.
import { readFileSync } from "node:fs";
import type { DataPreprocess } from "../data/preprocess.js";
import { allNumeric, asDataError, encodeImages, encodeRecords, imagePixels, numericValues, RUNTIME_FILES } from "../runtime/runtime.js";
import type { Rng } from "../util/rng.js";
import type { GraphPreprocess } from "./onnx-graph.js";

/**
 * The preprocessing an ONNX graph can hold: image models take uint8 RGB pixels at the model's size; tabular models
 * whose input columns are all numeric take the raw values (NaN for missing). Null for text models and tabular
 * models with categorical columns (their string handling stays in the shipped module).
 */
export function graphPreprocessFor(pre: DataPreprocess): GraphPreprocess | null {
  if (pre.kind === "image") return { kind: "pixels", height: pre.height, width: pre.width, channels: pre.channels };
  if (pre.kind === "tabular" && allNumeric(pre)) {
    const cols = pre.columns.map((c) => c as { mean: number; std: number });
    return { kind: "values", mean: cols.map((c) => c.mean), std: pre.standardize ? cols.map((c) => c.std) : null };
  }
  return null;
}

/** One line on what the graph input is (printed by export, stored in the ONNX metadata). */
export function describeGraphInput(g: GraphPreprocess | null, inputShape: readonly number[]): string {
  if (!g) return `"input": float32 [batch, ${inputShape.join(", ")}] features (preprocess with the shipped preprocess.mjs)`;
  if (g.kind === "pixels") {
    return `"pixels": uint8 RGB [batch, ${g.height}, ${g.width}, 3] at the model's size; the graph scales to [0, 1]${g.channels === 1 ? " and converts to gray (BT.601 luma)" : ""}`;
  }
  return `"values": float32 [batch, ${g.mean.length}] raw column values, NaN for missing; the graph fills missing values with the training mean${g.std ? " and standardises" : ""}`;
}

export interface ShippedFiles {
  json: string;
  module: string;
  types: string;
}

/** The files that ship the preprocessing: path → contents. */
export function preprocessingFiles(pre: DataPreprocess, to: ShippedFiles): Record<string, string> {
  return {
    [to.json]: JSON.stringify(pre, null, 2) + "\n",
    [to.module]: readFileSync(RUNTIME_FILES.module, "utf8"),
    [to.types]: readFileSync(RUNTIME_FILES.types, "utf8"),
  };
}

/** What an ONNX graph takes: "features", or raw "values" / "pixels" (preprocessing in the graph). */
export type GraphInputKind = "features" | GraphPreprocess["kind"];

/** uint8 RGB pixels [n, h, w, 3] as RGBA images (alpha 255). */
function pixelsToRgba(pixels: Uint8Array, n: number, h: number, w: number): { width: number; height: number; data: Uint8Array }[] {
  return Array.from({ length: n }, (_, i) => {
    const data = new Uint8Array(h * w * 4);
    for (let p = 0; p < h * w; p++) {
      const s = (i * h * w + p) * 3;
      data[4 * p] = pixels[s];
      data[4 * p + 1] = pixels[s + 1];
      data[4 * p + 2] = pixels[s + 2];
      data[4 * p + 3] = 255;
    }
    return { width: w, height: h, data };
  });
}

/**
 * Raw rows → what a raw-input graph takes, and the features TF.js needs for the same samples (both through the
 * preprocessing runtime): values → NaN-marked column values and encoded records; pixels → uint8 RGB at the model's
 * size and the features of exactly those pixels (so a comparison tests the graph, not the rounding to uint8).
 */
export function graphFeed(kind: GraphPreprocess["kind"], pre: DataPreprocess, rows: readonly unknown[], source = "input"): { graph: Float32Array | Uint8Array; features: Float32Array } {
  return asDataError(() => {
    if (kind === "values") {
      if (pre.kind !== "tabular") throw new Error(`graph input "values" needs a tabular preprocess, got ${pre.kind}`);
      return { graph: numericValues(pre, rows, { source, strict: false }), features: encodeRecords(pre, rows, { source, strict: false }) };
    }
    if (pre.kind !== "image") throw new Error(`graph input "pixels" needs an image preprocess, got ${pre.kind}`);
    const graph = imagePixels(pre, rows, source);
    return { graph, features: encodeImages(pre, pixelsToRgba(graph, rows.length, pre.height, pre.width), source) };
  });
}

/** Seeded raw rows for a check without data: records around the training means (1 in 8 values missing), or random RGBA images. */
export function randomRawRows(kind: GraphPreprocess["kind"], pre: DataPreprocess, n: number, rng: Rng): unknown[] {
  if (kind === "values" && pre.kind === "tabular") {
    return Array.from({ length: n }, () =>
      Object.fromEntries(pre.columns.map((c) => [c.name, c.kind === "numeric" && rng.next() >= 0.125 ? c.mean + c.std * rng.normal() : null])),
    );
  }
  if (pre.kind !== "image") throw new Error(`random ${kind} rows need an image preprocess`);
  return Array.from({ length: n }, () => ({ width: pre.width, height: pre.height, data: Uint8Array.from({ length: pre.width * pre.height * 4 }, () => rng.int(256)) }));
}
