import * as tf from "@tensorflow/tfjs-core";
import type { LayersModel } from "@tensorflow/tfjs-layers";
import type { SequentialModel } from "../students/model.js";
import type { InMemoryDataset } from "../data/dataset.js";
import { runTeacher } from "./teacher-run.js";
import type { Teacher } from "./teacher-types.js";

export type { FeatureTensor, Teacher, TeacherInput, TeacherKind, TeacherMetadata } from "./teacher-types.js";

/** Rows `indices` of a row-major [rows, ...rowShape] array, as a tensor [indices.length, ...rowShape]. */
export function gatherRows(values: Float32Array, rowShape: number[], indices: Int32Array, what: string): tf.Tensor {
  const width = rowShape.reduce((a, b) => a * b, 1);
  const rows = values.length / width;
  for (const i of indices) if (!(i >= 0 && i < rows)) throw new RangeError(`${what}: row ${i} is outside 0..${rows - 1}`);
  const out = new Float32Array(indices.length * width);
  for (let i = 0; i < indices.length; i++) out.set(values.subarray(indices[i] * width, (indices[i] + 1) * width), i * width);
  return tf.tensor(out, [indices.length, ...rowShape]);
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
 * The teacher's logits for a whole in-memory dataset, computed once (computeTeacherLogits in teacher-run.ts runs any
 * teacher, sync or async). With a frozen teacher and no augmentation this replaces a teacher forward pass at every step.
 */
export class TeacherLogitCache implements LogitLookup {
  constructor(
    readonly values: Float32Array,
    readonly numClasses: number,
  ) {}

  /** The teacher's logits for every row of `data` (its first batch checked as validateTeacherOutputs does). */
  static async compute(teacher: Teacher, data: InMemoryDataset, batchSize = 1000): Promise<TeacherLogitCache> {
    return new TeacherLogitCache(await runTeacher(teacher, data, { batchSize }), teacher.numClasses);
  }

  /** Rows for these sample indices, as a [n, numClasses] tensor. */
  gather(indices: Int32Array): tf.Tensor2D {
    return gatherRows(this.values, [this.numClasses], indices, "teacher logits") as tf.Tensor2D;
  }
}
