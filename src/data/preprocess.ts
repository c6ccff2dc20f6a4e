import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { DataError } from "../util/errors.js";
import { readDataFile, writeFileAtomic } from "../util/files.js";
import { asDataError, decodeOutput, preprocess, preprocessShape as runtimeShape, rawInputKind, type Prediction, type RawInputKind } from "../runtime/runtime.js";
import { decodeImage } from "./image-decode.js";
import type { ImagePreprocess } from "./image-folder.js";
import type { TextPreprocess } from "./jsonl-text.js";
import type { TabularPreprocess } from "./tabular.js";
import { encodeTokenRows, type TokenPreprocess } from "./jsonl-tokens.js";

/**
 * The fitted input pipeline of a data set, as plain JSON: saved as preprocess.json in a model's folder so
 * eval and serve turn raw rows (CSV records, texts, image files) into exactly the features the model saw.
 */
export type DataPreprocess = TabularPreprocess | TextPreprocess | ImagePreprocess | TokenPreprocess;
/** The kinds the shipped preprocessing runtime (preprocess.mjs) handles; token ids need the tokenizer (TS only). */
export type RuntimePreprocess = Exclude<DataPreprocess, TokenPreprocess>;

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
    : p.kind === "tokens" ? Number.isInteger(p.ctx) && typeof p.textField === "string" && typeof p.tokenizer === "object" && p.tokenizer !== null && typeof p.tokenizer.tokenizer === "object"
    : false;
  if (!ok) throw new DataError(path, `kind ${JSON.stringify(p.kind)}: expected "tabular", "text", "image" or "tokens" with its fields`);
  return p as DataPreprocess;
}

/** The sample shape a preprocess produces. */
export function preprocessShape(pre: DataPreprocess): number[] {
  return pre.kind === "tokens" ? [pre.ctx] : runtimeShape(pre);
}

/** What raw inputs the preprocessing takes: "records", "texts" or "images". */
export function preprocessRawKind(pre: DataPreprocess): RawInputKind {
  return pre.kind === "tokens" ? "texts" : rawInputKind(pre);
}

/** A model's outputs → predictions (class, label, probabilities; or value for a regression model). */
export function decodePredictions(pre: DataPreprocess, output: ArrayLike<number>, rows?: number): Prediction[] {
  // decodeOutput reads only labelNames (and a tabular task), so a token model decodes as any classifier does.
  return decodeOutput(pre.kind === "tokens" ? { kind: "image", version: 1, height: 1, width: 1, channels: 1, labelNames: pre.labelNames } : pre, output, rows);
}

export interface ApplyOptions {
  /** Names the inputs in errors: row i is `${source}[i]` (default "input"). */
  source?: string;
  /**
   * Tabular records: a key that is neither an input column nor the label is an error (default false: the raw
   * records of a CSV also hold the columns that were dropped).
   */
  strict?: boolean;
}

/**
 * Raw rows → features [rows, …shape] with the fitted preprocessing (the preprocessing runtime,
 * src/runtime/preprocess.mjs, which exports ship; here images may also be PNG/JPEG bytes or file paths):
 * - tabular: each row an object keyed by column name (missing keys are missing values) or an array of the
 *   input columns' values in `pre.columns` order;
 * - text: each row a string or an object with the text field;
 * - image: each row a decoded RGBA image, the bytes of a PNG/JPEG file, or (Node) the path of one.
 */
export function applyPreprocess(pre: DataPreprocess, rawRows: readonly unknown[], source: string | ApplyOptions = "input"): Float32Array {
  const opts = typeof source === "string" ? { source } : source;
  const name = opts.source ?? "input";
  if (pre.kind === "tokens") return encodeTokenRows(pre, rawRows, name);
  const rows = pre.kind === "image" ? rawRows.map((r, i) => decodeRawImage(r, `${name}[${i}]`)) : rawRows;
  return asDataError(() => preprocess(pre, rows, { source: name, strict: opts.strict ?? false }).data);
}

/** A raw image row as RGBA: decoded images pass through; bytes are decoded; a string is read as a file. */
export function decodeRawImage(r: unknown, where: string): unknown {
  if (typeof r === "string") return decodeImage(readDataFile(r, "a PNG or JPEG image"), r);
  if (r instanceof Uint8Array) return decodeImage(r, where);
  return r;
}

/** The class name of an output index. */
export function labelName(pre: DataPreprocess, classIndex: number): string {
  return pre.labelNames[classIndex] ?? String(classIndex);
}
