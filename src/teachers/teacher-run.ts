// Running any teacher (sync or async, reading features or raw samples) over rows of a data set: the one path used
// by the label cache, TeacherLogitCache (distill, recipes) and eval.
import * as tf from "@tensorflow/tfjs-core";
import type { InMemoryDataset } from "../data/dataset.js";
import { TsdistillError } from "../util/errors.js";
import type { Teacher, TeacherInput } from "./teacher-types.js";
import { rawMismatch, validateTeacherOutputs } from "./teacher-validate.js";

/** Whether the teacher reads raw samples (texts, records, images) rather than the student's features. */
export function readsRaw(teacher: Teacher): boolean {
  return (teacher.metadata?.input.rawKinds?.length ?? 0) > 0;
}

/**
 * The rows of `data` as one teacher batch: the student's features and, when the teacher reads them (or no teacher
 * is given), the raw samples. A teacher that reads raw samples the data set lacks is a one-line error.
 */
export function teacherInput(data: InMemoryDataset, rows: Int32Array, teacher?: Teacher): TeacherInput {
  const input: TeacherInput = { x: data.gather(rows).x, n: rows.length, sampleShape: data.sampleShape, rows };
  if (teacher && !readsRaw(teacher)) return input;
  const view = data.rawView();
  if (teacher) {
    const kinds = teacher.metadata!.input.rawKinds!;
    if (!view || !kinds.includes(view.kind)) throw rawMismatch(teacher, data.name, view?.kind);
  }
  if (view) {
    input.raw = view.rows(rows);
    input.rawKind = view.kind;
  }
  return input;
}

/** The shape a sync teacher's input tensor gets: the model's own when its fixed dims hold the same values. */
function tensorShape(teacher: Teacher, sampleShape: number[]): number[] {
  const dims = teacher.metadata?.input.shape.slice(1);
  if (!dims || dims.length === 0 || dims.some((d) => d === null)) return sampleShape;
  const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
  return size(dims as number[]) === size(sampleShape) ? (dims as number[]) : sampleShape;
}

/** Logits [n, C] for one batch, from `logitsAsync` when the teacher has it, else from `logits` on a tensor. */
export async function runTeacherBatch(teacher: Teacher, input: TeacherInput): Promise<Float32Array> {
  const C = teacher.numClasses;
  let values: Float32Array;
  if (teacher.logitsAsync) {
    values = await teacher.logitsAsync(input);
  } else {
    values = tf.tidy(() => {
      const out = teacher.logits(tf.tensor(input.x, [input.n, ...tensorShape(teacher, input.sampleShape)]));
      if (out.rank !== 2 || out.shape[0] !== input.n || out.shape[1] !== C) {
        throw new TsdistillError(`teacher ${teacher.name}: logits have shape [${out.shape}], expected [${input.n}, ${C}]`);
      }
      return out.dtype === "float32" ? (out.dataSync() as Float32Array) : (tf.cast(out, "float32").dataSync() as Float32Array);
    });
  }
  if (values.length !== input.n * C) throw new TsdistillError(`teacher ${teacher.name}: returned ${values.length} values for ${input.n} samples; expected ${input.n * C} (${C} per sample)`);
  return values;
}

export interface RunTeacherOptions {
  /** Samples per teacher call (default 1000). */
  batchSize?: number;
  /** The rows to run, in this order (default all rows); the result follows this order. */
  rows?: Int32Array;
  /** Stops between batches. */
  signal?: AbortSignal;
  /** Check the first batch's outputs (validateTeacherOutputs; default true). */
  validate?: boolean;
  /** Receives validateTeacherOutputs' warnings (default: stderr). */
  onWarning?: (message: string) => void;
}

function abortError(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException("the teacher run was aborted", "AbortError");
}

/** The teacher's logits for rows of `data`, row-major [rows, C], computed batch by batch. */
export async function runTeacher(teacher: Teacher, data: InMemoryDataset, opts: RunTeacherOptions = {}): Promise<Float32Array> {
  const rows = opts.rows ?? Int32Array.from({ length: data.size }, (_, i) => i);
  const batchSize = opts.batchSize ?? 1000;
  const C = teacher.numClasses;
  const out = new Float32Array(rows.length * C);
  for (let b = 0; b < rows.length; b += batchSize) {
    // Let timers and other callbacks (e.g. an abort) run between teacher calls.
    await new Promise((resolve) => setImmediate(resolve));
    if (opts.signal?.aborted) throw abortError(opts.signal);
    const input = teacherInput(data, rows.subarray(b, Math.min(b + batchSize, rows.length)), teacher);
    const values = await runTeacherBatch(teacher, input);
    if (b === 0 && opts.validate !== false) {
      const labels = Int32Array.from(input.rows, (r) => data.y[r]);
      for (const w of validateTeacherOutputs(teacher, values, input, labels)) (opts.onWarning ?? ((m: string) => process.stderr.write(`warning: ${m}\n`)))(w);
    }
    out.set(values, b * C);
  }
  return out;
}
