// A saved student as a deployable unit: its network plus the preprocessing it was trained with, predicting from
// raw inputs (tabular records, texts, images) as well as from features.
import * as tf from "@tensorflow/tfjs-core";
import { useBackend, type BackendName } from "../engine/backend.js";
import { applyPreprocess, decodePredictions, loadPreprocess, preprocessRawKind, preprocessShape, type DataPreprocess } from "../data/preprocess.js";
import { decodeOutput, type Prediction, type RawInputKind } from "../runtime/runtime.js";
import { DataError } from "../util/errors.js";
import type { ModelMetadata } from "./io.js";
import { loadAnyModel, type AnyModel } from "./any-model.js";

export type { Prediction, RawInputKind };

export interface Student {
  readonly dir: string;
  readonly model: AnyModel;
  readonly metadata: ModelMetadata;
  /**
   * How raw inputs become features: the model's preprocess.json, or for a model saved without one whose input is an
   * image ([height, width, 1 or 3], e.g. MNIST) the implied pixel pipeline (RGBA → [0, 1] at the model's size).
   * Null when raw inputs cannot be turned into this model's features (only predictFeatures works).
   */
  readonly preprocess: DataPreprocess | null;
  /** Whether `preprocess` came from preprocess.json (false: implied by the input shape, or none). */
  readonly preprocessSaved: boolean;
  /** What `predict` takes: "records", "texts" or "images"; null without preprocessing. */
  readonly rawInput: RawInputKind | null;
  /** The data spec recorded when the model was trained (metadata `data`), or null. */
  readonly data: string | null;
  readonly inputShape: number[];
  readonly numOutputs: number;
  /** Class names, one per output (from the preprocessing or the metadata's `labels`), when known. */
  readonly labels?: string[];
  /** Raw inputs (records, texts, or images: RGBA objects, PNG/JPEG bytes or file paths) → predictions. */
  predict(inputs: readonly unknown[]): Promise<Prediction[]>;
  /** Raw inputs → the model's logits [n, numOutputs] (row-major). */
  logits(inputs: readonly unknown[]): Float32Array;
  /** Features (n samples of inputShape, back to back) → logits [n, numOutputs]. */
  logitsFromFeatures(x: Float32Array, n: number): Float32Array;
  /** Logits → predictions (class, label, probabilities; or value for a regression model). */
  decode(logits: ArrayLike<number>, n: number): Prediction[];
  dispose(): void;
}

export interface LoadStudentOptions {
  /** Switch TF.js to this backend first (default: keep the current one). */
  backend?: BackendName;
}

/** Class names in the metadata (`labels` or `classNames`), when there is one per output. */
export function metadataLabels(metadata: ModelMetadata, numOutputs: number): string[] | undefined {
  for (const key of ["labels", "classNames"]) {
    const v = metadata[key];
    if (Array.isArray(v) && v.length === numOutputs && v.every((s) => typeof s === "string")) return v as string[];
  }
  return undefined;
}

/**
 * The preprocessing of a model folder: its preprocess.json, else (for image-shaped inputs [H, W, 1|3]) the pixel
 * pipeline such models are trained with, else null. Throws when preprocess.json disagrees with the model's input.
 */
export function modelPreprocess(dir: string, inputShape: readonly number[], numOutputs: number, metadata: ModelMetadata): { preprocess: DataPreprocess | null; saved: boolean } {
  const saved = loadPreprocess(dir);
  if (saved) {
    const shape = preprocessShape(saved);
    if (shape.join() !== inputShape.join()) {
      throw new DataError(`${dir}/preprocess.json`, `produces features of shape [${shape}] but the model takes [${inputShape}]; expected the preprocess.json saved with this model`);
    }
    const regression = (saved as { task?: string }).task === "regression";
    if (!regression && saved.labelNames.length !== numOutputs) {
      throw new DataError(`${dir}/preprocess.json`, `names ${saved.labelNames.length} classes but the model has ${numOutputs} outputs`);
    }
    return { preprocess: saved, saved: true };
  }
  const [h, w, c] = inputShape;
  if (inputShape.length === 3 && (c === 1 || c === 3)) {
    const labelNames = metadataLabels(metadata, numOutputs) ?? Array.from({ length: numOutputs }, (_, i) => String(i));
    return { preprocess: { kind: "image", version: 1, height: h, width: w, channels: c, labelNames }, saved: false };
  }
  return { preprocess: null, saved: false };
}

/**
 * Loads a saved student (model.json + weights, and preprocess.json when it has one) for prediction:
 *
 *     const s = await loadStudent("runs/x/student");
 *     await s.predict([{ age: 41, color: "red" }]);   // → [{ class, label, probabilities }]
 */
export async function loadStudent(dir: string, opts: LoadStudentOptions = {}): Promise<Student> {
  if (opts.backend) await useBackend(opts.backend);
  const { model, metadata } = await loadAnyModel(dir);
  let pre: { preprocess: DataPreprocess | null; saved: boolean };
  try {
    pre = modelPreprocess(dir, model.inputShape, model.numOutputs, metadata);
  } catch (err) {
    model.dispose();
    throw err;
  }
  const preprocess = pre.preprocess;
  const inputShape = [...model.inputShape];
  const numOutputs = model.numOutputs;
  const regression = (preprocess as { task?: string } | null)?.task === "regression";
  const labels = regression ? undefined : pre.saved ? preprocess!.labelNames : metadataLabels(metadata, numOutputs);
  const logitsFromFeatures = (x: Float32Array, n: number): Float32Array => {
    const out = tf.tidy(() => model.predict(tf.tensor(x, [n, ...inputShape], "float32")));
    try {
      return new Float32Array(out.dataSync() as Float32Array);
    } finally {
      out.dispose();
    }
  };
  const features = (inputs: readonly unknown[]): Float32Array => {
    if (!preprocess) {
      throw new DataError(dir, `has no preprocess.json and its input [${inputShape}] is not an image; expected features (logitsFromFeatures) for this model`);
    }
    if (!Array.isArray(inputs)) throw new DataError("inputs", `expected an array of ${preprocessRawKind(preprocess)}`);
    return applyPreprocess(preprocess, inputs, { source: preprocessRawKind(preprocess), strict: true });
  };
  const decode = (logits: ArrayLike<number>, n: number): Prediction[] => {
    if (preprocess) return decodePredictions(preprocess, logits, n);
    const names = labels ?? Array.from({ length: numOutputs }, (_, i) => String(i));
    return decodeOutput({ kind: "image", version: 1, height: 1, width: 1, channels: 1, labelNames: names }, logits, n);
  };
  const logits = (inputs: readonly unknown[]) => logitsFromFeatures(features(inputs), inputs.length);
  return {
    dir,
    model,
    metadata,
    preprocess,
    preprocessSaved: pre.saved,
    rawInput: preprocess ? preprocessRawKind(preprocess) : null,
    data: typeof metadata.data === "string" ? metadata.data : null,
    inputShape,
    numOutputs,
    labels,
    predict: async (inputs) => decode(logits(inputs), inputs.length),
    logits,
    logitsFromFeatures,
    decode,
    dispose: () => model.dispose(),
  };
}
