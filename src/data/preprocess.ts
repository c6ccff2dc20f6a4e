import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { DataError } from "../util/errors.js";
import { writeFileAtomic } from "../util/files.js";
import { featurizeTexts } from "../features/hashed-ngrams.js";
import { decodeImage, toSample, type RgbaImage } from "./image-decode.js";
import type { ImagePreprocess } from "./image-folder.js";
import type { TextPreprocess } from "./jsonl-text.js";
import { encodeTabularRows, isMissingToken, tabularWidth, type Cell, type TabularPreprocess } from "./tabular.js";

/**
 * The fitted input pipeline of a data set, as plain JSON: saved as preprocess.json in a model's folder so
 * eval and serve turn raw rows (CSV records, texts, image files) into exactly the features the model saw.
 */
export type DataPreprocess = TabularPreprocess | TextPreprocess | ImagePreprocess;

export const PREPROCESS_FILE = "preprocess.json";

/** Writes preprocess.json into a model folder (atomically). */
export function savePreprocess(modelDir: string, pre: DataPreprocess): string {
  const path = join(modelDir, PREPROCESS_FILE);
  writeFileAtomic(path, JSON.stringify(pre, null, 2) + "\n");
  return path;
}

/** Reads a model folder's preprocess.json; null when the model has none (idx/MNIST models need none). */
export function loadPreprocess(modelDir: string): DataPreprocess | null {
  const path = join(modelDir, PREPROCESS_FILE);
  if (!existsSync(path)) return null;
  let pre: unknown;
  try {
    pre = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new DataError(path, `is not valid JSON (${(err as Error).message})`);
  }
  const p = pre as Partial<DataPreprocess> | null;
  if (!p || typeof p !== "object" || p.version !== 1 || !Array.isArray(p.labelNames)) {
    throw new DataError(path, "expected a version 1 preprocessing object with labelNames");
  }
  const ok =
    p.kind === "tabular" ? Array.isArray(p.columns) && Array.isArray(p.features)
    : p.kind === "text" ? typeof p.featurizer === "object" && p.featurizer !== null && typeof p.textField === "string"
    : p.kind === "image" ? Number.isInteger(p.height) && Number.isInteger(p.width) && (p.channels === 1 || p.channels === 3)
    : false;
  if (!ok) throw new DataError(path, `kind ${JSON.stringify(p.kind)}: expected "tabular", "text" or "image" with its fields`);
  return p as DataPreprocess;
}

/** The sample shape a preprocess produces. */
export function preprocessShape(pre: DataPreprocess): number[] {
  if (pre.kind === "tabular") return [tabularWidth(pre)];
  if (pre.kind === "text") return [pre.featurizer.buckets];
  return [pre.height, pre.width, pre.channels];
}

function toCell(v: unknown, where: string): Cell {
  if (v === null || v === undefined) return null;
  if (typeof v === "number") return Number.isNaN(v) ? null : String(v);
  if (typeof v === "boolean") return String(v);
  if (typeof v === "string") return isMissingToken(v) ? null : v;
  throw new DataError(where, `expected a number, string or null, got ${JSON.stringify(v)?.slice(0, 40)}`);
}

/**
 * Raw rows → features [rows, …shape] with the fitted preprocessing.
 * - tabular: each row an object keyed by column name (missing keys are missing values) or an array of the
 *   input columns' values in `pre.columns` order;
 * - text: each row a string or an object with the text field;
 * - image: each row the bytes of a PNG/JPEG file or a decoded RGBA image.
 * `source` names the input in errors (row i is `${source}[i]`).
 */
export function applyPreprocess(pre: DataPreprocess, rawRows: readonly unknown[], source = "input"): Float32Array {
  const at = (i: number) => `${source}[${i}]`;
  if (pre.kind === "tabular") {
    const rows = rawRows.map((r, i) => {
      if (Array.isArray(r)) {
        if (r.length !== pre.columns.length) throw new DataError(at(i), `expected ${pre.columns.length} values (${pre.columns.map((c) => c.name).join(", ")}), got ${r.length}`);
        return r.map((v, j) => toCell(v, `${at(i)}.${pre.columns[j].name}`));
      }
      if (typeof r !== "object" || r === null) throw new DataError(at(i), "expected an object keyed by column name or an array of values");
      return pre.columns.map((c) => toCell((r as Record<string, unknown>)[c.name], `${at(i)}.${c.name}`));
    });
    return encodeTabularRows(pre, rows, at);
  }
  if (pre.kind === "text") {
    const texts = rawRows.map((r, i) => {
      const t = typeof r === "object" && r !== null ? (r as Record<string, unknown>)[pre.textField] : r;
      if (typeof t !== "string") throw new DataError(at(i), `expected a string or an object with a string field "${pre.textField}"`);
      return t;
    });
    return featurizeTexts(texts, pre.featurizer);
  }
  const d = pre.height * pre.width * pre.channels;
  const out = new Float32Array(rawRows.length * d);
  rawRows.forEach((r, i) => {
    let img: RgbaImage;
    if (r instanceof Uint8Array) img = decodeImage(r, at(i));
    else if (typeof r === "object" && r !== null && (r as RgbaImage).data instanceof Uint8Array) img = r as RgbaImage;
    else throw new DataError(at(i), "expected PNG/JPEG bytes or a decoded RGBA image {width, height, data}");
    if (img.data.length !== img.width * img.height * 4) throw new DataError(at(i), `RGBA data holds ${img.data.length} bytes; expected width × height × 4 = ${img.width * img.height * 4}`);
    out.set(toSample(img, pre.height, pre.width, pre.channels), i * d);
  });
  return out;
}

/** The class name of an output index. */
export function labelName(pre: DataPreprocess, classIndex: number): string {
  return pre.labelNames[classIndex] ?? String(classIndex);
}
