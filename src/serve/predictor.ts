// The inference side of `tsdistill serve`: a saved model behind one interface, run either by TF.js (the engine
// model) or by onnxruntime-node (an ONNX export of the same model).
import { statSync } from "node:fs";
import * as tf from "@tensorflow/tfjs-core";
import { useBackend, type BackendName } from "../engine/backend.js";
import { OnnxRunner } from "../export/onnx-runtime.js";
import { loadModel, type ModelMetadata } from "../students/io.js";
import { loadPreprocess } from "../data/preprocess.js";
import type { SequentialModel } from "../students/model.js";
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

export interface Predictor {
  readonly runtime: Runtime;
  /** Shape of one sample, without the batch dimension. */
  readonly inputShape: number[];
  /** Values per sample (product of inputShape). */
  readonly sampleSize: number;
  readonly numClasses: number;
  readonly params: number;
  readonly metadata: ModelMetadata;
  /** Class names from the model metadata (`labels` or `classNames`), when present with one name per class. */
  readonly labels?: string[];
  /** tfjs: the TF.js backend; onnxruntime: the ONNX file. */
  readonly engine: string;
  readonly onnxCheck?: OnnxCheck;
  /** Regression models (preprocess.json says task regression): one output z, the value z·std + mean. */
  readonly regression?: { target: string; mean: number; std: number };
  /** Logits for `n` samples stored back to back in `x` (n · sampleSize values); returns n · numClasses values. */
  predict(x: Float32Array, n: number): Promise<Float32Array>;
  close(): Promise<void>;
}

export interface PredictorOptions {
  modelDir: string;
  /** An ONNX file, or "auto" for `<modelDir>.onnx` then `<modelDir>/model.onnx` (TF.js when neither exists). */
  onnx?: string;
  /** TF.js backend (default wasm); also used for the startup check of an ONNX file. */
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

function labelsFrom(metadata: ModelMetadata, numClasses: number): string[] | undefined {
  for (const key of ["labels", "classNames"]) {
    const v = metadata[key];
    if (Array.isArray(v) && v.length === numClasses && v.every((s) => typeof s === "string")) return v as string[];
  }
  return undefined;
}

function tfjsLogits(model: SequentialModel, x: Float32Array, n: number): Float32Array {
  const out = tf.tidy(() => model.predict(tf.tensor(x, [n, ...model.config.inputShape], "float32")));
  try {
    return new Float32Array(out.dataSync() as Float32Array);
  } finally {
    out.dispose();
  }
}

export function argmaxRow(v: ArrayLike<number>, row: number, cols: number): number {
  let best = 0;
  for (let j = 1; j < cols; j++) if (v[row * cols + j] > v[row * cols + best]) best = j;
  return best;
}

/**
 * Loads the model folder (missing or broken files become one-line DataErrors naming the file) and, when an ONNX
 * file is given or found, an onnxruntime session for it. The ONNX file is checked at startup: its output must have
 * one logit per class, and its logits on a few random inputs are compared with TF.js's (see `onnxCheck`).
 */
export async function createPredictor(opts: PredictorOptions): Promise<Predictor> {
  const backend = await useBackend(opts.backend ?? "wasm");
  const { model, metadata } = await loadModel(opts.modelDir);
  const inputShape = [...model.config.inputShape];
  const sampleSize = inputShape.reduce((a, b) => a * b, 1);
  const numClasses = model.numOutputs;
  const params = model.paramCount;
  const labels = labelsFrom(metadata, numClasses);
  const pre = loadPreprocess(opts.modelDir);
  const regression = pre?.kind === "tabular" && pre.task === "regression" && pre.target && numClasses === 1 ? { target: pre.label, mean: pre.target.mean, std: pre.target.std } : undefined;

  let onnxPath: string | null = null;
  if (opts.onnx === "auto") onnxPath = findOnnxFile(opts.modelDir);
  else if (opts.onnx !== undefined) onnxPath = opts.onnx;

  if (onnxPath === null) {
    return {
      runtime: "tfjs",
      inputShape,
      sampleSize,
      numClasses,
      params,
      metadata,
      labels,
      ...(regression ? { regression } : {}),
      engine: backend,
      predict: async (x, n) => tfjsLogits(model, x, n),
      close: async () => model.dispose(),
    };
  }

  let runner: OnnxRunner;
  try {
    const bytes = readDataFile(onnxPath, "an ONNX model file (e.g. from 'tsdistill export')");
    try {
      runner = await OnnxRunner.create(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), { exactFloat: true });
    } catch (err) {
      throw new DataError(onnxPath, `could not be loaded by onnxruntime (${oneLine((err as Error).message)})`);
    }
  } catch (err) {
    model.dispose();
    throw err;
  }
  const file = onnxPath;
  let onnxCheck: OnnxCheck;
  try {
    // A few seeded random samples through both runtimes: checks the ONNX input/output shapes and reports how
    // closely the file matches the TF.js model (a stale or int8 export differs).
    const samples = 8;
    const rng = new Rng(0, "serve-onnx-check");
    const x = Float32Array.from({ length: samples * sampleSize }, () => rng.normal());
    let got: Float32Array;
    try {
      got = await runner.run(x, [samples, ...inputShape]);
    } catch (err) {
      throw new DataError(file, `does not run on input [batch, ${inputShape}] of ${opts.modelDir} (${oneLine((err as Error).message)})`);
    }
    if (got.length !== samples * numClasses) {
      throw new DataError(file, `outputs ${got.length / samples} values per sample, but ${opts.modelDir} has ${numClasses} classes`);
    }
    const ref = tfjsLogits(model, x, samples);
    let maxAbsDiff = 0;
    let same = 0;
    for (let i = 0; i < ref.length; i++) maxAbsDiff = Math.max(maxAbsDiff, Math.abs(ref[i] - got[i]));
    for (let r = 0; r < samples; r++) if (argmaxRow(ref, r, numClasses) === argmaxRow(got, r, numClasses)) same++;
    onnxCheck = { samples, maxAbsDiff, sameClass: same / samples };
  } catch (err) {
    await runner.release();
    throw err;
  } finally {
    model.dispose(); // the ONNX path serves from onnxruntime only
  }
  return {
    runtime: "onnxruntime",
    inputShape,
    sampleSize,
    numClasses,
    params,
    metadata,
    labels,
    ...(regression ? { regression } : {}),
    engine: file,
    onnxCheck,
    predict: (x, n) => runner.run(x, [n, ...inputShape]),
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
