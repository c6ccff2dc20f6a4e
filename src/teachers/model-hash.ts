import { join } from "node:path";
import { readDataFile } from "../util/files.js";
import { DataError } from "../util/errors.js";
import { hashFiles } from "../util/hashing.js";

/** Identifies a TF.js model folder by its content: sha256 over model.json and its weight files, in manifest order. */
export function hashModelFolder(dir: string): string {
  const jsonPath = join(dir, "model.json");
  let json: { weightsManifest?: { paths: string[] }[] };
  try {
    json = JSON.parse(readDataFile(jsonPath, "a TF.js model folder (model.json + weight files)").toString("utf8"));
  } catch (err) {
    if (err instanceof DataError) throw err;
    throw new DataError(jsonPath, `is not valid JSON (${(err as Error).message})`);
  }
  const weights = (json.weightsManifest ?? []).flatMap((g) => g.paths.map((p) => join(dir, p)));
  return hashFiles([jsonPath, ...weights]);
}
