// What a teacher's outputs must look like, checked on the first batch it labels (label, distill, eval all run
// teachers through teacher-run.ts, which calls this): finite numbers, not one answer for every input, and
// probabilities that sum to 1 where the teacher declares probabilities.
import type { RawKind } from "../data/raw.js";
import { TsdistillError } from "../util/errors.js";
import type { Teacher, TeacherInput } from "./teacher-types.js";

/** The number of values a teacher must give per sample for this data: one per class. */
export function expectedOutputWidth(data: { numClasses: number }): number {
  return data.numClasses;
}

/** Throws when the teacher's output width is not what the data needs (expected and got, in words). */
export function checkOutputWidth(teacher: Pick<Teacher, "name" | "numClasses">, data: { numClasses: number }, dataName: string): void {
  const want = expectedOutputWidth(data);
  if (teacher.numClasses !== want) {
    throw new TsdistillError(`--teacher: the teacher ${teacher.name} gives ${teacher.numClasses} outputs per sample but ${dataName} has ${want} classes (expected ${want} outputs)`);
  }
}

const fmt = (v: number) => (Number.isInteger(v) ? String(v) : v.toPrecision(4));

function logSoftmaxRow(values: Float32Array, r: number, c: number): Float64Array {
  let max = -Infinity;
  for (let j = 0; j < c; j++) max = Math.max(max, values[r * c + j]);
  let sum = 0;
  for (let j = 0; j < c; j++) sum += Math.exp(values[r * c + j] - max);
  const lse = max + Math.log(sum);
  return Float64Array.from({ length: c }, (_, j) => values[r * c + j] - lse);
}

/**
 * Whether one answer for the whole batch means a broken teacher: the batch holds samples of at least two classes
 * (when the labels are known), else at least 8 different inputs (features, or raw texts/records).
 */
function answersShouldDiffer(input: TeacherInput, labels?: Int32Array): boolean {
  if (labels) {
    const known = Array.from(labels).filter((y) => y >= 0);
    if (known.length > 0) return new Set(known).size >= 2;
  }
  if (input.n < 8) return false;
  const d = input.x.length / Math.max(input.n, 1);
  for (let i = 1; i < input.n; i++) for (let j = 0; j < d; j++) if (input.x[i * d + j] !== input.x[j]) return true;
  if (input.raw && (input.rawKind === "text" || input.rawKind === "record")) {
    const first = JSON.stringify(input.raw[0]);
    return input.raw.some((r) => JSON.stringify(r) !== first);
  }
  return false;
}

/**
 * Checks one batch of a teacher's logits [n, C] for the batch `input` (with the samples' labels, when known): NaN/Inf
 * and one answer (the same class distribution) for samples of different classes are errors; declared probabilities
 * whose rows do not sum to 1 give a warning (returned).
 */
export function validateTeacherOutputs(teacher: Teacher, values: Float32Array, input: TeacherInput, labels?: Int32Array): string[] {
  const C = teacher.numClasses;
  const n = input.n;
  if (values.length !== n * C) throw new TsdistillError(`teacher ${teacher.name}: returned ${values.length} values for ${n} samples; expected ${n * C} (${C} per sample)`);
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) {
      const r = Math.floor(i / C);
      throw new TsdistillError(`teacher ${teacher.name}: output ${values[i]} for sample ${r} (data set row ${input.rows[r]}), class ${i % C}; a teacher's outputs must be finite numbers`);
    }
  }
  if (n >= 2 && C >= 2 && answersShouldDiffer(input, labels)) {
    const first = logSoftmaxRow(values, 0, C);
    let same = true;
    for (let r = 1; r < n && same; r++) {
      const row = logSoftmaxRow(values, r, C);
      for (let j = 0; j < C; j++) if (Math.abs(row[j] - first[j]) > 1e-6 * (1 + Math.abs(first[j]))) same = false;
    }
    if (same) {
      const shown = Array.from(values.subarray(0, Math.min(C, 6)), fmt).join(", ") + (C > 6 ? ", …" : "");
      throw new TsdistillError(
        `teacher ${teacher.name} gives one answer for every input: all ${n} samples of the first batch${labels ? " (of several classes)" : ""} got [${shown}]; check what it is fed (its input spec, normalisation, the raw samples) or its weights`,
      );
    }
  }
  const warnings: string[] = [];
  if (teacher.metadata?.output.kind === "probabilities") {
    for (let r = 0; r < n; r++) {
      let sum = 0;
      for (let j = 0; j < C; j++) sum += Math.exp(values[r * C + j]);
      if (Math.abs(sum - 1) > 1e-3) {
        warnings.push(`teacher ${teacher.name} declares probabilities, but sample ${r} of the first batch sums to ${fmt(sum)}, not 1; their logs are used as logits (softmax renormalises them)`);
        break;
      }
    }
  }
  return warnings;
}

const RAW_HINT: Record<RawKind, string> = {
  text: "texts (--data jsonl:<file>)",
  record: "records (--data csv:<file> or arff:<file>)",
  image: "images (--data images:<folder>, idx:<folder> or mnist)",
};

/** The one-line error for a teacher that reads raw samples the data set does not have. */
export function rawMismatch(teacher: Teacher, dataName: string, have: RawKind | undefined): TsdistillError {
  const kinds = teacher.metadata?.input.rawKinds ?? [];
  const want = kinds.length === 3 ? "raw samples" : kinds.map((k) => RAW_HINT[k]).join(" or ");
  const has = have ? `has ${have} samples` : "has no raw samples (only feature vectors)";
  const way = teacher.metadata?.kind === "function" ? '; a function teacher that should get the features declares "input: features" in its teacher.yaml' : "";
  return new TsdistillError(`--teacher: the teacher ${teacher.name} reads ${want}, but ${dataName} ${has}${way}`);
}
