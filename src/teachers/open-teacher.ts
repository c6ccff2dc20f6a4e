import { existsSync } from "node:fs";
import type { InMemoryDataset } from "../data/dataset.js";
import { DataError } from "../util/errors.js";
import { isTeacherConfigFile, loadTeacherConfig, openTeacherConfig, type OpenConfigContext } from "./teacher-config.js";
import type { DataPreprocess } from "../data/preprocess.js";
import { openSavedModelTeacher } from "./saved-model-teacher.js";
import { ensembleOf, openFunction, openOnnxFile, openTfjsFolder, type OpenedTeacher } from "./teacher-openers.js";

export type { OpenedTeacher } from "./teacher-openers.js";

export const TEACHER_SPEC_HELP =
  "a TF.js model folder (layers or graph model), a tsdistill transformer folder, an ONNX file (*.onnx), fn:<module>[#export] (a JS function), or a teacher config (*.yaml, *.json: kind tfjs | onnx | api | function | ensemble)";

/**
 * What opening a teacher may need besides its path and data: the api teacher's callbacks, and the data's
 * preprocessing (a tsdistill model folder whose own preprocess.json differs reads the raw samples through it).
 */
export type OpenTeacherContext = Omit<OpenConfigContext, "data"> & { dataPreprocess?: DataPreprocess };

/**
 * Opens one teacher from a path — a TF.js folder, an .onnx file, `fn:module#export`, or a teacher config file — for
 * the data set it will run on (its sample shape; a function teacher reads its class count off its first rows).
 */
export async function openTeacher(spec: string, data: InMemoryDataset, ctx: OpenTeacherContext = {}): Promise<OpenedTeacher> {
  if (spec.startsWith("fn:")) return openFunction(spec.slice(3), data);
  if (spec.endsWith(".onnx")) return openOnnxFile(spec, { sampleShape: data.sampleShape });
  if (isTeacherConfigFile(spec)) return openTeacherConfig(loadTeacherConfig(spec), { ...ctx, data });
  if (!existsSync(spec)) throw new DataError(spec, `not found; expected ${TEACHER_SPEC_HELP}`);
  return (await openSavedModelTeacher(spec, data, ctx.dataPreprocess)) ?? openTfjsFolder(spec);
}

/** Several teachers: their weighted average of probabilities (one teacher is returned as is). */
export async function openTeachers(specs: string[], data: InMemoryDataset, weights?: number[], ctx: OpenTeacherContext = {}): Promise<OpenedTeacher> {
  if (specs.length === 1 && !weights) return openTeacher(specs[0], data, ctx);
  const opened: OpenedTeacher[] = [];
  try {
    for (const s of specs) opened.push(await openTeacher(s, data, ctx));
  } catch (err) {
    for (const o of opened) await o.close();
    throw err;
  }
  return ensembleOf(opened, weights, data.sampleShape);
}
