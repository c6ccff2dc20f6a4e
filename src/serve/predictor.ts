// The inference side of `tsdistill serve`: a saved model behind one interface, run either by TF.js (the engine
// model) or by onnxruntime-node (an ONNX export of the same model), from tensors or from raw inputs (records,
// texts, images) through the model's preprocessing.
import { statSync } from "node:fs";
import { useBackend, type BackendName } from "../engine/backend.js";
import { applyPreprocess, decodeRawImage, preprocessRawKind, type DataPreprocess } from "../data/preprocess.js";
import { OnnxRunner } from "../export/onnx-runtime.js";
import { onnxInputKind } from "../export/onnx.js";
import { graphFeed, graphPreprocessFor, randomRawRows, type GraphInputKind } from "../export/graph-preprocess.js";
import { asDataError, imagePixels, numericValues, rawInputKind, type Prediction, type RawInputKind } from "../runtime/runtime.js";
import type { ModelMetadata } from "../students/io.js";
import { loadStudent, type Student } from "../students/student.js";
import { DataError } from "../util/errors.js";
import { readDataFile } from "../util/files.js";
import { Rng } from "../util/rng.js";

export type Runtime = "onnxruntime" | "tfjs";

/** How an ONNX file was checked against the TF.js model at startup (random inputs). */
export interface OnnxCheck {
  samples: number;
  maxAbsDiff: number;
  /** Fraction of the check samples where both runtimes pick the same class. */
  sameClass: number;
}

/** What tensors sent as "input"/"inputs" are: the model's features, or the raw input an ONNX graph takes. */
export interface TensorInput {
  kind: GraphInputKind;
  dtype: "float32" | "uint8";
  /** Shape of one sample, without the batch dimension. */
  shape: number[];
  description: string;
}

export interface Predictor {
  readonly runtime: Runtime;
  /** Shape of one tensor sample ("input"), without the batch dimension. */
  readonly inputShape: number[];
  /** Values per tensor sample (product of inputShape). */
  readonly sampleSize: number;
  readonly tensorInput: TensorInput;
  readonly numClasses: number;
  readonly params: number;
  readonly metadata: ModelMetadata;
  /** Class names (preprocess.json, else the metadata's `labels` or `classNames`), when known. */
  readonly labels?: string[];
  /** The preprocessing raw inputs go through (see Student.preprocess); null when the model takes only tensors. */
  readonly preprocess: DataPreprocess | null;
  readonly preprocessSaved: boolean;
  /** What raw inputs the model takes: "records", "texts" or "images"; null for tensors only. */
  readonly rawInput: RawInputKind | null;
  /** tfjs: the TF.js backend; onnxruntime: the ONNX file. */
  readonly engine: string;
  readonly onnxCheck?: OnnxCheck;
  /** Regression models (preprocess.json says task regression): one output z, the value z·std + mean. */
  readonly regression?: { target: string; mean: number; std: number };
  /** Logits for `n` samples stored back to back in `x` (n · sampleSize values); returns n · numClasses values. */
  /** Logits for `n` tensor samples stored back to back in `x` (n · sampleSize values); returns n · numClasses values. */
  predict(x: Float32Array, n: number): Promise<Float32Array>;
  /**
   * Logits for raw samples (records, texts, or images as RGBA or PNG/JPEG bytes); bad samples are DataErrors naming
   * `${source}[i]`.
   */
  predictRaw(rows: readonly unknown[], source: string): Promise<Float32Array>;
  /** Logits → predictions (class, label, probabilities). */
  decode(logits: ArrayLike<number>, n: number): Prediction[];
  close(): Promise<void>;
}

export interface PredictorOptions {
  modelDir: string;
  /** An ONNX file, or "auto" for `<modelDir>.onnx` then `<modelDir>/model.onnx` (TF.js when neither exists). */
  onnx?: string;
  /** TF.js backend (default auto: native when the addon loads, else wasm); also used for the startup check of an ONNX file. */
  backend?: BackendName;
}

/** The ONNX file "auto" picks for a model folder, or null. */
export function findOnnxFile(modelDir: string): string | null {
  const base = modelDir.replace(/[/\\]+$/, "");
  for (const candidate of [`${base}.onnx`, `${base}/model.onnx`]) {
    try {
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not there
    }
  }
  return null;
}

export function argmaxRow(v: ArrayLike<number>, row: number, cols: number): number {
  let best = 0;
  for (let j = 1; j < cols; j++) if (v[row * cols + j] > v[row * cols + best]) best = j;
  return best;
}

function featuresTensorInput(s: Student): TensorInput {
  return { kind: "features", dtype: "float32", shape: [...s.inputShape], description: `float32 features [${s.inputShape}]${s.preprocessSaved ? " (what preprocess.json produces)" : ""}` };
}

function graphTensorInput(kind: "values" | "pixels", pre: DataPreprocess): TensorInput {
  if (kind === "pixels" && pre.kind === "image") {
    return { kind, dtype: "uint8", shape: [pre.height, pre.width, 3], description: `integer RGB pixels 0..255 [${pre.height},${pre.width},3] (the ONNX graph scales them${pre.channels === 1 ? " and converts to gray" : ""})` };
  }
  const n = pre.kind === "tabular" ? pre.columns.length : 0;
  return { kind, dtype: "float32", shape: [n], description: `raw column values [${n}] in preprocess.json's column order, null for missing (the ONNX graph fills and standardises)` };
}

/** Raw rows with images given as bytes or RGBA, decoded to RGBA (images only). */
function decodedRows(pre: DataPreprocess, rows: readonly unknown[], source: string): readonly unknown[] {
  return pre.kind === "image" ? rows.map((r, i) => decodeRawImage(r, `${source}[${i}]`)) : rows;
}

/**
 * Loads the model folder (missing or broken files become one-line DataErrors naming the file) and, when an ONNX
 * file is given or found, an onnxruntime session for it. The ONNX file is checked at startup: its output must have
 * one logit per class, and its logits on a few random inputs are compared with TF.js's (see `onnxCheck`); a graph
 * that takes raw values or pixels gets random raw inputs, and TF.js the features the runtime makes of them.
 */
export async function createPredictor(opts: PredictorOptions): Promise<Predictor> {
  const backend = await useBackend(opts.backend ?? "auto");
  const student = await loadStudent(opts.modelDir);
  const { metadata, preprocess, labels } = student;
  const inputShape = [...student.inputShape];
  const numClasses = student.numOutputs;
  const params = student.model.paramCount;
  const common = {
    numClasses,
    params,
    metadata,
    labels,
    preprocess,
    preprocessSaved: student.preprocessSaved,
    rawInput: preprocess ? preprocessRawKind(preprocess) : null,
    decode: (logits: ArrayLike<number>, n: number) => student.decode(logits, n),
  };
  const rawFeatures = (rows: readonly unknown[], source: string): Float32Array => {
    if (!preprocess) throw new DataError(source, `this model takes only tensors; it has no preprocess.json`);
    return applyPreprocess(preprocess, rows, { source, strict: true });
  };
  const regression = preprocess?.kind === "tabular" && preprocess.task === "regression" && preprocess.target && numClasses === 1 ? { target: preprocess.label, mean: preprocess.target.mean, std: preprocess.target.std } : undefined;

  let onnxPath: string | null = null;
  if (opts.onnx === "auto") onnxPath = findOnnxFile(opts.modelDir);
  else if (opts.onnx !== undefined) onnxPath = opts.onnx;

  if (onnxPath === null) {
    const tensorInput = featuresTensorInput(student);
    return {
      ...common,
      runtime: "tfjs",
      inputShape,
      sampleSize: inputShape.reduce((a, b) => a * b, 1),
      tensorInput,
    ...(regression ? { regression } : {}),
      engine: backend,
      predict: async (x, n) => student.logitsFromFeatures(x, n),
      predictRaw: async (rows, source) => student.logitsFromFeatures(rawFeatures(rows, source), rows.length),
      close: async () => student.dispose(),
    };
  }

  let runner: OnnxRunner;
  let kind: GraphInputKind;
  const file = onnxPath;
  try {
    const bytes = readDataFile(file, "an ONNX model file (e.g. from 'tsdistill export')");
    const view = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    try {
      kind = onnxInputKind(view).kind;
      runner = await OnnxRunner.create(view, { exactFloat: true });
    } catch (err) {
      throw new DataError(file, `could not be loaded by onnxruntime (${oneLine((err as Error).message)})`);
    }
  } catch (err) {
    student.dispose();
    throw err;
  }
  let tensorInput: TensorInput;
  let onnxCheck: OnnxCheck;
  try {
    const g = kind !== "features" ? (student.preprocessSaved && preprocess ? graphPreprocessFor(preprocess) : null) : null;
    if (kind !== "features" && g?.kind !== kind) {
      throw new DataError(file, `takes raw ${kind} (its preprocessing is in the graph) but ${opts.modelDir} has no preprocess.json for that; serve the model folder it was exported from`);
    }
    tensorInput = kind === "features" ? featuresTensorInput(student) : graphTensorInput(kind, preprocess!);
    // A few seeded random samples through both runtimes: checks the ONNX input/output shapes and reports how
    // closely the file matches the TF.js model (a stale or int8 export differs).
    const samples = 8;
    const rng = new Rng(0, "serve-onnx-check");
    let graphX: Float32Array | Uint8Array;
    let features: Float32Array;
    if (kind === "features") {
      graphX = features = Float32Array.from({ length: samples * inputShape.reduce((a, b) => a * b, 1) }, () => rng.normal());
    } else {
      ({ graph: graphX, features } = graphFeed(kind, preprocess!, randomRawRows(kind, preprocess!, samples, rng)));
    }
    let got: Float32Array;
    try {
      got = await runner.run(graphX, [samples, ...tensorInput.shape]);
    } catch (err) {
      throw new DataError(file, `does not run on input [batch, ${tensorInput.shape}] (${tensorInput.kind}) of ${opts.modelDir} (${oneLine((err as Error).message)})`);
    }
    if (got.length !== samples * numClasses) {
      throw new DataError(file, `outputs ${got.length / samples} values per sample, but ${opts.modelDir} has ${numClasses} classes`);
    }
    const ref = student.logitsFromFeatures(features, samples);
    let maxAbsDiff = 0;
    let same = 0;
    for (let i = 0; i < ref.length; i++) maxAbsDiff = Math.max(maxAbsDiff, Math.abs(ref[i] - got[i]));
    for (let r = 0; r < samples; r++) if (argmaxRow(ref, r, numClasses) === argmaxRow(got, r, numClasses)) same++;
    onnxCheck = { samples, maxAbsDiff, sameClass: same / samples };
  } catch (err) {
    await runner.release();
    throw err;
  } finally {
    student.dispose(); // the ONNX path serves from onnxruntime only
  }
  const shape = tensorInput.shape;
  const graphRaw = (rows: readonly unknown[], source: string): Float32Array | Uint8Array => {
    if (kind === "features") return rawFeatures(rows, source);
    const pre = preprocess!;
    return asDataError(() => {
      if (pre.kind === "image") return imagePixels(pre, decodedRows(pre, rows, source), source);
      if (pre.kind === "tabular") return numericValues(pre, rows, { source, strict: true });
      throw new Error(`graph input ${kind} with a ${pre.kind} preprocess`);
    });
  };
  return {
    ...common,
    runtime: "onnxruntime",
    inputShape: shape,
    sampleSize: shape.reduce((a, b) => a * b, 1),
    tensorInput,
    ...(regression ? { regression } : {}),
    engine: file,
    onnxCheck,
    predict: (x, n) => runner.run(tensorInput.dtype === "uint8" ? Uint8Array.from(x) : x, [n, ...shape]),
    predictRaw: (rows, source) => runner.run(graphRaw(rows, source), [rows.length, ...shape]),
    close: () => runner.release(),
  };
}

export function oneLine(s: string, max = 200): string {
  const t = s.replace(/\s+/g, " ").trim();
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}

/** Row-wise softmax in float64 (max-subtracted). */
export function softmaxRow(logits: ArrayLike<number>, row: number, cols: number): number[] {
  let max = -Infinity;
  for (let j = 0; j < cols; j++) max = Math.max(max, logits[row * cols + j]);
  const out = new Array<number>(cols);
  let sum = 0;
  for (let j = 0; j < cols; j++) {
    out[j] = Math.exp(logits[row * cols + j] - max);
    sum += out[j];
  }
  for (let j = 0; j < cols; j++) out[j] /= sum;
  return out;
}
