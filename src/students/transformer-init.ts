import * as tf from "@tensorflow/tfjs-core";
import { deepCopy } from "../engine/memory.js";
import { TsdistillError } from "../util/errors.js";
import type { TransformerModel } from "./transformer.js";

/** Teacher weight name for a student weight name: student block i ← teacher block 2i (0-based), the rest by name. */
function teacherName(name: string): string {
  return name.replace(/^block_(\d+)\//, (_, i) => `block_${2 * (Number(i) - 1) + 1}/`);
}

/**
 * Initialises a student from a wider-or-deeper teacher's layers as DistilBERT did: student block i takes teacher
 * block 2i (0-based), the token embedding, the first ctx positions and the final LayerNorm are copied, and the
 * head too when both have the same kind of head with the same shape. Needs equal vocab, dim, heads and ff.
 * Returns the names of the student weights that were copied.
 */
export function initFromTeacher(student: TransformerModel, teacher: TransformerModel): string[] {
  const s = student.config;
  const t = teacher.config;
  const problems: string[] = [];
  for (const key of ["vocab", "dim", "heads", "ff"] as const) if (s[key] !== t[key]) problems.push(`${key} ${s[key]} vs the teacher's ${t[key]}`);
  if (s.ctx > t.ctx) problems.push(`ctx ${s.ctx} vs the teacher's ${t.ctx}`);
  if (2 * (s.layers - 1) >= t.layers) problems.push(`${s.layers} layers, but a ${t.layers}-layer teacher has only ${Math.ceil(t.layers / 2)} every-other blocks`);
  if (problems.length > 0) {
    throw new TsdistillError(
      `cannot initialise the student from the teacher's layers: ${problems.join("; ")}; expected equal vocab, dim, heads and ff, ctx ≤ the teacher's and layers ≤ ⌈teacher layers / 2⌉`,
    );
  }
  const source = new Map(teacher.namedWeights().map((p) => [p.name, p.tensor]));
  const copied: string[] = [];
  for (const { name, tensor } of student.namedWeights()) {
    if (name.startsWith("head/") && s.head !== t.head) continue;
    const from = source.get(teacherName(name));
    if (!from) continue;
    const value = name === "embeddings/position" ? tf.slice(from, [0, 0], tensor.shape) : from;
    if (!tf.util.arraysEqual(value.shape, tensor.shape)) continue;
    // A deep copy: optimisers update in place, and the teacher must not change when the student trains.
    const copy = deepCopy(value);
    tensor.assign(copy);
    copy.dispose();
    if (value !== from) value.dispose();
    copied.push(name);
  }
  return copied;
}
