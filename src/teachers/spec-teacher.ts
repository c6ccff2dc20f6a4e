import * as tf from "@tensorflow/tfjs-core";
import { TsdistillError } from "../util/errors.js";
import { prepareInput, rawKindOf, resolveInputSpec, type InputSpec } from "./input-spec.js";
import type { Teacher, TeacherInput, TeacherMetadata } from "./teacher.js";

/**
 * A synchronous (TF.js or engine) teacher fed through an input spec (input-spec.ts): each batch's raw images or
 * texts (or rescaled features) become the model's input tensor, as the model was trained, instead of the student's
 * features. TF.js takes float32 and int32 inputs, one input per model.
 */
export function withInputSpec(inner: Teacher, spec: InputSpec, where: string, hash: string | null): Teacher {
  const meta = inner.metadata;
  if (!meta) throw new TsdistillError(`teacher ${inner.name}: an input spec needs the model's input shape, which this teacher does not report`);
  const resolved = resolveInputSpec(spec, { runtime: "tfjs", inputs: [{ name: meta.input.name ?? "input", shape: meta.input.shape, dtype: meta.input.dtype }], where });
  const rawKind = rawKindOf(resolved);
  const layout: TeacherMetadata["input"]["layout"] = resolved.kind === "text" ? "sequence" : resolved.kind === "image" ? (resolved.flat ? "flat" : resolved.layout) : meta.input.layout;
  const metadata: TeacherMetadata = { ...meta, input: { ...meta.input, layout, ...(rawKind ? { rawKinds: [rawKind] } : {}) }, hash };
  return {
    name: inner.name,
    numClasses: inner.numClasses,
    metadata,
    async logitsAsync(input: TeacherInput): Promise<Float32Array> {
      const [feed] = prepareInput(resolved, input, inner.name);
      return tf.tidy(() => {
        const x = tf.tensor(feed.data as Float32Array | Int32Array, feed.shape, feed.dtype === "int32" ? "int32" : "float32");
        const out = inner.logits(x);
        return (out.dtype === "float32" ? out : tf.cast(out, "float32")).dataSync() as Float32Array;
      });
    },
    logits(): tf.Tensor2D {
      throw new TsdistillError(`teacher ${inner.name}: it reads its input through an input spec; run it with runTeacher (teacher-run.ts), or label the data first ('tsdistill label')`);
    },
  };
}
