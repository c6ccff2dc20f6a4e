import { createHash } from "node:crypto";
import { existsSync, statSync } from "node:fs";
import { loadModel } from "../students/io.js";
import { DataError } from "../util/errors.js";
import { hashFiles } from "./label-cache.js";
import { hashModelFolder } from "./model-hash.js";
import { OnnxTeacher } from "./onnx-teacher.js";
import { EnsembleTeacher, FunctionTeacher } from "./function-teacher.js";
import { modelTeacher, type Teacher } from "./teacher.js";

export const TEACHER_SPEC_HELP = "a TF.js model folder, an ONNX file (*.onnx), or fn:<module>[#export] (a JS function)";

export interface OpenedTeacher {
  teacher: Teacher;
  /** Content hash that identifies the teacher in caches. */
  hash: string;
  close(): Promise<void>;
}

/** Opens one teacher from a path: a TF.js folder, an .onnx file, or `fn:module#export`. */
export async function openTeacher(spec: string, sampleShape: number[]): Promise<OpenedTeacher> {
  if (spec.startsWith("fn:")) {
    const t = await FunctionTeacher.load(spec.slice(3), sampleShape);
    return { teacher: t, hash: hashFiles([spec.slice(3).split("#")[0]]) + `#${spec.split("#")[1] ?? "default"}`, close: async () => {} };
  }
  if (spec.endsWith(".onnx")) {
    const t = await OnnxTeacher.open(spec, { sampleShape });
    return { teacher: t, hash: hashFiles([spec]), close: () => t.close() };
  }
  if (!existsSync(spec) || !statSync(spec).isDirectory()) throw new DataError(spec, `not found; expected ${TEACHER_SPEC_HELP}`);
  const { model } = await loadModel(spec);
  return { teacher: modelTeacher(model, spec), hash: hashModelFolder(spec), close: async () => model.dispose() };
}

/** Several teachers: their weighted average of probabilities (one teacher is returned as is). */
export async function openTeachers(specs: string[], sampleShape: number[], weights?: number[]): Promise<OpenedTeacher> {
  if (specs.length === 1 && !weights) return openTeacher(specs[0], sampleShape);
  const opened: OpenedTeacher[] = [];
  try {
    for (const s of specs) opened.push(await openTeacher(s, sampleShape));
    const ensemble = new EnsembleTeacher(opened.map((o) => o.teacher), weights, sampleShape);
    return {
      teacher: ensemble,
      hash: createHash("sha256").update(`ensemble:${opened.map((o) => o.hash).join("+")}@${(weights ?? []).join(",")}`).digest("hex"),
      close: async () => {
        for (const o of opened) await o.close();
      },
    };
  } catch (err) {
    for (const o of opened) await o.close();
    throw err;
  }
}
