import { existsSync, statSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { isTransformerFolder } from "../students/transformer-io.js";
import { DataError, TsdistillError } from "../util/errors.js";
import { readYamlFile } from "../util/yaml-file.js";
import { describeZodError } from "../util/zod-errors.js";
import { ApiLmTeacher, ApiLmTeacherConfig, type ApiLmTeacherOptions } from "./api-lm-teacher.js";
import type { CausalLmTeacher } from "./lm-teacher.js";
import { openTransformerLmTeacher } from "./lm-teacher-model.js";
import { openOnnxLmTeacher, type OnnxLmTeacherOptions } from "./lm-teacher-onnx.js";

export interface OpenLmTeacherOptions {
  /** For ONNX teachers (tokenizer, ctx, padId, threads, batch size). */
  onnx?: OnnxLmTeacherOptions;
  /** For api-lm configs (environment, fetch, per-batch callbacks). */
  api?: ApiLmTeacherOptions;
}

const EXPECTED = "expected a tsdistill LM folder (config.json + model.safetensors), an ONNX causal LM (.onnx, or a folder with model.onnx), or an api-lm teacher config (.yaml/.json)";

/**
 * Opens an LM teacher from what a --teacher option names: a folder saved by tsdistill, an ONNX causal LM (file or
 * folder, tokenizer.json beside it), or a YAML/JSON config of kind "api-lm" (its tokenizer path is relative to the
 * config's folder).
 */
export async function openLmTeacher(spec: string, opts: OpenLmTeacherOptions = {}): Promise<CausalLmTeacher> {
  if (!existsSync(spec)) throw new DataError(spec, `not found; ${EXPECTED}`);
  if (statSync(spec).isDirectory()) {
    if (isTransformerFolder(spec)) return openTransformerLmTeacher(spec);
    if (["model.onnx", "decoder_model.onnx"].some((f) => existsSync(join(spec, f)))) return openOnnxLmTeacher(spec, opts.onnx);
    throw new DataError(spec, EXPECTED);
  }
  if (/\.onnx$/i.test(spec)) return openOnnxLmTeacher(spec, opts.onnx);
  if (!/\.(ya?ml|json)$/i.test(spec)) throw new DataError(spec, EXPECTED);
  const raw = readYamlFile(spec, "an api-lm teacher config");
  const kind = (raw as { kind?: unknown } | null)?.kind;
  if (kind !== "api-lm") throw new TsdistillError(`${spec}: kind: expected "api-lm" for an LM teacher config, got ${JSON.stringify(kind ?? null)}`);
  const parsed = ApiLmTeacherConfig.safeParse(raw);
  if (!parsed.success) throw new TsdistillError(describeZodError(parsed.error, { file: spec }));
  const c = parsed.data;
  const tokenizer = c.tokenizer === null || c.tokenizer === "byte" || isAbsolute(c.tokenizer) ? c.tokenizer : resolve(dirname(spec), c.tokenizer);
  return new ApiLmTeacher({ ...c, tokenizer }, opts.api);
}
