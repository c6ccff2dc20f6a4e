import type * as tf from "@tensorflow/tfjs-core";
import { join } from "node:path";
import { DataError } from "../util/errors.js";
import { readDataFile } from "../util/files.js";

/** model.json of a TF.js model folder, as far as tsdistill reads it. */
export interface TfjsModelJson {
  format?: string;
  generatedBy?: string;
  convertedBy?: string | null;
  modelTopology?: unknown;
  weightsManifest?: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  signature?: unknown;
  modelInitializer?: unknown;
  userDefinedMetadata?: Record<string, unknown>;
}

/** Reads and parses DIR/model.json (one-line DataErrors naming the file and `expected`). */
export function readModelJson(dir: string, expected = "a TF.js model folder (model.json + weight files)"): TfjsModelJson {
  const path = join(dir, "model.json");
  const text = readDataFile(path, expected).toString("utf8");
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new DataError(path, `is not valid JSON (${(err as Error).message})`);
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) throw new DataError(path, "expected a JSON object (a TF.js model.json)");
  return json as TfjsModelJson;
}

function bytesPerElement(w: tf.io.WeightsManifestEntry): number {
  if (w.quantization) return w.quantization.dtype === "uint8" ? 1 : 2;
  return w.dtype === "bool" ? 1 : 4;
}

/**
 * A folder's weights as TF.js model artifacts (topology + specs + concatenated shards), read with node:fs so no
 * tfjs-node is needed. The shard bytes must add up to what the manifest declares.
 */
export function readModelArtifacts(dir: string, json: TfjsModelJson = readModelJson(dir)): tf.io.ModelArtifacts {
  const path = join(dir, "model.json");
  if (!json.modelTopology || !Array.isArray(json.weightsManifest)) throw new DataError(path, "is not a TF.js model: expected the fields modelTopology and weightsManifest");
  const weightSpecs: tf.io.WeightsManifestEntry[] = [];
  const chunks: Uint8Array[] = [];
  for (const [g, group] of json.weightsManifest.entries()) {
    if (!Array.isArray(group?.paths) || !Array.isArray(group?.weights)) throw new DataError(path, `weightsManifest[${g}]: expected { paths: [...], weights: [...] }`);
    weightSpecs.push(...group.weights);
    for (const p of group.paths) chunks.push(readDataFile(join(dir, p), `a weight file named in ${path}`));
  }
  const total = chunks.reduce((n, c) => n + c.length, 0);
  const expected = weightSpecs.reduce((n, w) => n + w.shape.reduce((a, b) => a * b, 1) * bytesPerElement(w), 0);
  if (total !== expected) throw new DataError(join(dir, json.weightsManifest[0]?.paths[0] ?? "weights"), `holds ${total} bytes, but model.json's manifest needs ${expected}`);
  const weightData = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    weightData.set(c, off);
    off += c.length;
  }
  return {
    modelTopology: json.modelTopology as tf.io.ModelArtifacts["modelTopology"],
    format: json.format,
    generatedBy: json.generatedBy,
    convertedBy: json.convertedBy ?? undefined,
    weightSpecs,
    weightData: weightData.buffer,
    signature: json.signature as tf.io.ModelArtifacts["signature"],
    modelInitializer: json.modelInitializer as tf.io.ModelArtifacts["modelInitializer"],
    userDefinedMetadata: json.userDefinedMetadata as tf.io.ModelArtifacts["userDefinedMetadata"],
  };
}
