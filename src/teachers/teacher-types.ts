// The teacher interface and its input/metadata types, below every module that runs or checks teachers (teacher.ts
// re-exports them with the adapters built on them).
import type * as tf from "@tensorflow/tfjs-core";
import type { RawKind } from "../data/raw.js";

/**
 * One batch as a teacher sees it: both views of each sample. `x` is what the student reads (features, NHWC pixels
 * in [0, 1], hashed n-grams…); `raw` is what the user gave (texts, CSV records, decoded RGBA images), present when
 * the teacher reads raw samples (see TeacherMetadata.input.rawKinds) and the data set keeps them.
 */
export interface TeacherInput {
  /** The student's features, row-major [n, ...sampleShape]. */
  x: Float32Array;
  n: number;
  /** One sample's shape in `x`. */
  sampleShape: number[];
  /** Each sample's row in the data set being labelled. */
  rows: Int32Array;
  /** The raw samples, in the order of `rows` (strings, records, RgbaImage). */
  raw?: readonly unknown[];
  /** What `raw` holds. */
  rawKind?: RawKind;
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
    /**
     * The raw sample kinds the teacher reads (function teachers, teachers with an input spec for images or text,
     * api teachers); absent or empty when it reads the student's features.
     */
    rawKinds?: RawKind[];
  };
  output: {
    numClasses: number;
    classNames?: string[];
    /** What the model itself returns; `logits` always hands back logits (log-probabilities for probability models). */
    kind: "logits" | "probabilities" | "binary-probability" | "binary-logit" | "label-logprobs";
  };
  /** sha256 of the teacher's content (weights and definition), as used by teacher caches; null when unknown (in-memory). */
  hash: string | null;
  /** Every call is a request to a remote service (api teachers): checks spend no probe call on it. */
  remote?: boolean;
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
   * For teachers that run asynchronously (ONNX Runtime, HTTP, JS functions) or read raw samples: logits [n, C] for
   * the batch, row-major. Build the input with teacherInput() (teacher-run.ts), run any teacher with runTeacher().
   */
  logitsAsync?(input: TeacherInput): Promise<Float32Array>;
  /** Asynchronous teachers: logits plus named intermediate tensors (row-major, batch first). */
  forwardAsync?(input: TeacherInput, capture: string[]): Promise<{ logits: Float32Array; features: Map<string, FeatureTensor> }>;
  /** Logits plus named intermediate outputs (feature-based distillation), where the teacher exposes them. */
  forward?(x: tf.Tensor, capture: string[]): { logits: tf.Tensor2D; features: Map<string, tf.Tensor> };
  /** Names of the layers `forward` can capture, and their output shapes (no batch dimension). */
  layers?(): { name: string; shape: number[] }[];
}
