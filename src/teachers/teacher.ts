import * as tf from "@tensorflow/tfjs-core";
import type { LayersModel } from "@tensorflow/tfjs-layers";
import type { SequentialModel } from "../students/model.js";
import type { InMemoryDataset } from "../data/dataset.js";
import { predictLogits } from "../eval/classification.js";

/** Rows `indices` of a row-major [rows, ...rowShape] array, as a tensor [indices.length, ...rowShape]. */
export function gatherRows(values: Float32Array, rowShape: number[], indices: Int32Array, what: string): tf.Tensor {
  const width = rowShape.reduce((a, b) => a * b, 1);
  const rows = values.length / width;
  for (const i of indices) if (!(i >= 0 && i < rows)) throw new RangeError(`${what}: row ${i} is outside 0..${rows - 1}`);
  const out = new Float32Array(indices.length * width);
  for (let i = 0; i < indices.length; i++) out.set(values.subarray(indices[i] * width, (indices[i] + 1) * width), i * width);
  return tf.tensor(out, [indices.length, ...rowShape]);
}

/** Where a teacher came from. */
export type TeacherKind = "engine" | "tfjs-layers" | "tfjs-graph" | "onnx" | "function" | "ensemble" | "api";

/** What a teacher takes, what it returns, and which content it is (filled by every adapter). */
export interface TeacherMetadata {
  kind: TeacherKind;
  input: {
    /** The model's input name, where it has one (ONNX, graph models). */
    name?: string;
    /** Batch first; null for a dimension the model leaves open (the batch, a sequence length). */
    shape: (number | null)[];
    dtype: "float32" | "int32" | "string";
    /** "nhwc"/"nchw": images; "flat": vectors; "text": raw strings (api teachers); "any": whatever the function takes. */
    layout: "nhwc" | "nchw" | "flat" | "sequence" | "text" | "any";
  };
  output: {
    numClasses: number;
    classNames?: string[];
    /** What the model itself returns; `logits` always hands back logits (log-probabilities for probability models). */
    kind: "logits" | "probabilities" | "binary-probability" | "binary-logit" | "label-logprobs";
  };
  /** sha256 of the teacher's content (weights and definition), as used by teacher caches; null when unknown (in-memory). */
  hash: string | null;
}

/** A named intermediate tensor read from an asynchronous teacher. */
export interface FeatureTensor {
  data: Float32Array;
  shape: number[];
}

/** A frozen model whose outputs a student learns to reproduce. */
export interface Teacher {
  readonly name: string;
  readonly numClasses: number;
  /** Input/output spec and content hash (optional so hand-written teachers keep compiling). */
  readonly metadata?: TeacherMetadata;
  /** Logits for a batch [n, ...sampleShape] → [n, numClasses]. */
  logits(x: tf.Tensor): tf.Tensor2D;
  /**
   * For teachers that run asynchronously (ONNX Runtime, HTTP): logits [n, C] for n samples, row-major. `rows` are
   * the samples' row indices in the dataset being labelled, for teachers that read something else than `x` for a row
   * (the api teacher reads the row's raw text).
   */
  logitsAsync?(x: Float32Array, n: number, rows?: Int32Array): Promise<Float32Array>;
  /** Asynchronous teachers: logits plus named intermediate tensors (row-major, batch first). */
  forwardAsync?(x: Float32Array, n: number, capture: string[]): Promise<{ logits: Float32Array; features: Map<string, FeatureTensor> }>;
  /** Logits plus named intermediate outputs (feature-based distillation), where the teacher exposes them. */
  forward?(x: tf.Tensor, capture: string[]): { logits: tf.Tensor2D; features: Map<string, tf.Tensor> };
  /** Names of the layers `forward` can capture, and their output shapes (no batch dimension). */
  layers?(): { name: string; shape: number[] }[];
}

/** A teacher from an engine model (e.g. one trained with `tsdistill train`); exposes every layer's output. */
export function modelTeacher(model: SequentialModel, name = "teacher", hash: string | null = null): Teacher {
  return {
    name,
    numClasses: model.numOutputs,
    metadata: {
      kind: "engine",
      input: { shape: [null, ...model.config.inputShape], dtype: "float32", layout: model.config.inputShape.length === 3 ? "nhwc" : "flat" },
      output: { numClasses: model.numOutputs, kind: "logits" },
      hash,
    },
    logits: (x) => model.predict(x),
    forward: (x, capture) => model.forward(x, { training: false, capture }),
    layers: () => model.layers.map((l) => ({ name: l.config.name, shape: l.outputShape })),
  };
}

/**
 * A teacher from a stock tf.layers model. If its last layer applies softmax, the log-probabilities are used
 * as logits (equal to the logits up to a per-row constant, which softmax ignores).
 */
export function layersModelTeacher(model: LayersModel, name = "teacher"): Teacher {
  const last = model.layers[model.layers.length - 1];
  const softmaxOut = (last.getConfig() as { activation?: string }).activation === "softmax";
  const numClasses = (model.outputs[0].shape as number[])[1];
  const inputShape = (model.inputs[0].shape as (number | null)[]).map((d) => (d === -1 ? null : d));
  return {
    name,
    numClasses,
    metadata: {
      kind: "tfjs-layers",
      input: { shape: inputShape, dtype: "float32", layout: inputShape.length === 4 ? "nhwc" : "flat" },
      output: { numClasses, kind: softmaxOut ? "probabilities" : "logits" },
      hash: null,
    },
    logits: (x) =>
      tf.tidy(() => {
        const y = model.predict(x) as tf.Tensor2D;
        return softmaxOut ? (tf.log(tf.maximum(y, 1e-30)) as tf.Tensor2D) : y;
      }),
  };
}

/** Teacher logits looked up by dataset row: an in-memory cache or an on-disk teacher cache. */
export interface LogitLookup {
  readonly numClasses: number;
  /** Rows for these sample indices, as a [n, numClasses] tensor. */
  gather(indices: Int32Array): tf.Tensor2D;
}

/**
 * The teacher's logits for a whole in-memory dataset, computed once. With a frozen teacher and no
 * augmentation this replaces a teacher forward pass at every step.
 */
export class TeacherLogitCache implements LogitLookup {
  constructor(
    readonly values: Float32Array,
    readonly numClasses: number,
  ) {}

  static compute(teacher: Teacher, data: InMemoryDataset, batchSize = 1000): TeacherLogitCache {
    return new TeacherLogitCache(predictLogits((x) => teacher.logits(x), data, batchSize), teacher.numClasses);
  }

  /** Rows for these sample indices, as a [n, numClasses] tensor. */
  gather(indices: Int32Array): tf.Tensor2D {
    return gatherRows(this.values, [this.numClasses], indices, "teacher logits") as tf.Tensor2D;
  }
}
