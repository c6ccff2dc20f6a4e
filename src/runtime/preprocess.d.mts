// Types of preprocess.mjs, the dependency-free preprocessing runtime (shipped next to exported models).

export declare const RUNTIME_VERSION: number;

export declare class PreprocessError extends Error {
  constructor(where: string, problem: string);
  /** The input and index, e.g. `records[2]` or `texts[0]`. */
  readonly where: string;
  /** What was wrong and what was expected. */
  readonly problem: string;
}

/** One tabular cell as text; null is a missing value. */
export type Cell = string | null;

export type TabularColumn =
  | { name: string; kind: "numeric"; mean: number; std: number }
  | { name: string; kind: "categorical"; categories: string[] };

export interface TabularPreprocess {
  kind: "tabular";
  version: number;
  label: string;
  labelNames: string[];
  columns: TabularColumn[];
  standardize: boolean;
  features: string[];
  /** "regression": the model outputs one value (decodeOutput gives {value}). Absent: classification. */
  task?: "classification" | "regression" | string;
  /** A regression target's training mean and std: decodeOutput returns output · std + mean. */
  target?: { mean: number; std: number };
}

export interface HashedNgramConfig {
  kind: "hashed-ngrams";
  words: [number, number];
  chars: [number, number];
  buckets: number;
  weighting: "log" | "tfidf";
  lowercase: boolean;
  hashSeed: number;
  idf?: number[];
}

export interface TextPreprocess {
  kind: "text";
  version: number;
  textField: string;
  labelField: string;
  labelNames: string[];
  featurizer: HashedNgramConfig;
  task?: string;
}

export interface ImagePreprocess {
  kind: "image";
  version: number;
  height: number;
  width: number;
  channels: 1 | 3;
  labelNames: string[];
  task?: string;
}

export type DataPreprocess = TabularPreprocess | TextPreprocess | ImagePreprocess;

/** A decoded 8-bit RGBA image, row-major (a canvas ImageData fits). */
export interface RgbaImage {
  width: number;
  height: number;
  data: ArrayLike<number>;
}

/** A tabular record: column name → value (absent or null: missing), or the input columns' values in order. */
export type RawRecord = Record<string, string | number | boolean | null | undefined> | (string | number | boolean | null | undefined)[];

export type RawInputKind = "records" | "texts" | "images";

export interface RecordOptions {
  /** Names the inputs in errors (default "records"). */
  source?: string;
  /** A key that is neither an input column nor the label column is an error (default true). */
  strict?: boolean;
}

export interface ClassPrediction {
  class: number;
  label: string;
  probabilities: number[];
}

export interface RegressionPrediction {
  value: number;
}

export type Prediction = ClassPrediction | RegressionPrediction;

export interface GraphInput {
  type: "float32" | "uint8";
  data: Float32Array | Uint8Array;
  dims: number[];
}

export declare function rawInputKind(pre: DataPreprocess): RawInputKind;
export declare function preprocessShape(pre: DataPreprocess): number[];
export declare function preprocess(pre: DataPreprocess, inputs: readonly unknown[], options?: RecordOptions): { data: Float32Array; shape: number[] };
export declare function graphInput(pre: DataPreprocess, inputs: readonly unknown[], inputName?: "input" | "values" | "pixels" | string, options?: RecordOptions): GraphInput;
export declare function decodeOutput(pre: DataPreprocess, output: ArrayLike<number>, rows?: number): Prediction[];

export declare const MISSING_CATEGORY: string;
export declare function isMissingToken(s: string): boolean;
export declare function parseNumber(s: string): number | null;
export declare function tabularWidth(pre: TabularPreprocess): number;
export declare function recordCells(pre: TabularPreprocess, records: readonly unknown[], options?: RecordOptions): Cell[][];
export declare function encodeTabularRows(pre: TabularPreprocess, rows: readonly (readonly Cell[])[], where?: (i: number) => string): Float32Array;
export declare function encodeRecords(pre: TabularPreprocess, records: readonly unknown[], options?: RecordOptions): Float32Array;
export declare function allNumeric(pre: DataPreprocess): boolean;
export declare function numericValues(pre: TabularPreprocess, records: readonly unknown[], options?: RecordOptions): Float32Array;

export declare function murmur3Bytes(bytes: ArrayLike<number>, n: number, seed?: number): number;
export declare function murmur3(text: string, seed?: number): number;
export declare function tokenize(text: string, lowercase: boolean): string[];
export declare class BucketCounts {
  constructor(buckets: number);
  readonly counts: Float64Array;
  touched: number[];
  add(bucket: number): void;
  clear(): void;
}
export declare function termCounts(text: string, config: HashedNgramConfig, out: BucketCounts): BucketCounts;
export declare function featurizeTexts(texts: readonly string[], config: HashedNgramConfig): Float32Array;
export declare function encodeTexts(pre: TextPreprocess, texts: readonly unknown[], source?: string): Float32Array;

export declare function resizeBilinear(src: ArrayLike<number>, sh: number, sw: number, c: number, dh: number, dw: number): Float32Array;
export declare function imageToSample(img: RgbaImage, height: number, width: number, channels: 1 | 3): Float32Array;
export declare function encodeImages(pre: ImagePreprocess, images: readonly unknown[], source?: string): Float32Array;
export declare function imagePixels(pre: ImagePreprocess, images: readonly unknown[], source?: string): Uint8Array;
