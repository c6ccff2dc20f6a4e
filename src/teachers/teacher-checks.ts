// Checks before work: a teacher and a data set that do not fit are refused before anything is labelled, trained
// or written, with one line naming both sides. `label`, `distill` and `eval` call checkTeacherOnData right after
// opening the teacher.
import type { InMemoryDataset } from "../data/dataset.js";
import { TsdistillError } from "../util/errors.js";
import type { Teacher } from "./teacher.js";
import { readsRaw, runTeacherBatch, teacherInput } from "./teacher-run.js";
import { checkOutputWidth, rawMismatch, validateTeacherOutputs } from "./teacher-validate.js";

const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** The members of an ensemble (checked one by one), or the teacher itself. */
function leaves(teacher: Teacher): Teacher[] {
  const members = (teacher as { members?: Teacher[] }).members;
  return Array.isArray(members) ? members.flatMap(leaves) : [teacher];
}

/** A teacher that reads features must take samples of the data's size (its fixed input dims, when it has them). */
function checkFeatureShape(teacher: Teacher, data: InMemoryDataset, dataName: string): void {
  // ONNX teachers check their input against the data when opened (an input builder may reshape what it is given).
  if (readsRaw(teacher) || teacher.metadata?.kind === "onnx") return;
  const dims = teacher.metadata?.input.shape.slice(1);
  if (!dims || dims.length === 0 || dims.some((d) => d === null)) return;
  const want = size(dims as number[]);
  if (want !== data.sampleSize) {
    throw new TsdistillError(
      `--teacher: the teacher ${teacher.name} takes inputs of shape [${dims.join(", ")}] (${want} values) but ${dataName} has samples of shape [${data.sampleShape.join(", ")}] (${data.sampleSize} values)`,
    );
  }
}

export interface TeacherCheckOptions {
  /** How the data is named in messages (e.g. the --data value). */
  dataName: string;
  /** Samples the teacher is run on, spread evenly over the data (default 64). */
  probeRows?: number;
}

/**
 * Checks a teacher against the data it will label, before any work: output width (one per class), the raw sample
 * kind or the feature shape it reads, then one run on rows spread over the data whose outputs are validated
 * (validateTeacherOutputs). Teachers that call a remote service are not run (each call costs). Returns the warnings.
 */
export async function checkTeacherOnData(teacher: Teacher, data: InMemoryDataset, opts: TeacherCheckOptions): Promise<string[]> {
  const { dataName } = opts;
  checkOutputWidth(teacher, data, dataName);
  for (const t of [teacher, ...leaves(teacher)]) {
    if (readsRaw(t)) {
      const view = data.rawView();
      if (!view || !t.metadata!.input.rawKinds!.includes(view.kind)) throw rawMismatch(t, dataName, view?.kind);
    } else checkFeatureShape(t, data, dataName);
  }
  if (data.size === 0 || leaves(teacher).some((t) => t.metadata?.remote)) return [];
  // Rows spread over the data set (a file sorted by class would give one class in its first rows).
  const k = Math.min(opts.probeRows ?? 64, data.size);
  const rows = Int32Array.from({ length: k }, (_, i) => Math.floor((i * data.size) / k));
  const input = teacherInput(data, rows, teacher);
  let values: Float32Array;
  try {
    values = await runTeacherBatch(teacher, input);
  } catch (err) {
    if (err instanceof TsdistillError) throw err;
    const what = input.raw ? `${input.rawKind} samples` : `samples of shape [${data.sampleShape.join(", ")}]`;
    throw new TsdistillError(`--teacher: the teacher ${teacher.name} could not run on the ${what} of ${dataName} (${(err as Error).message.split("\n")[0]})`);
  }
  return validateTeacherOutputs(teacher, values, input, Int32Array.from(rows, (r) => data.y[r]));
}
