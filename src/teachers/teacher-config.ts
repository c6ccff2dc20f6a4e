import { readYamlFile } from "../util/yaml-file.js";
import { dirname, isAbsolute, resolve } from "node:path";
import { z } from "zod";
import { TsdistillError } from "../util/errors.js";
import { hashFiles } from "../util/hashing.js";
import { describeZodError } from "../util/zod-errors.js";
import { ApiTeacherConfig, type ApiTeacherOptions, type LabelBatchOptions } from "./api.js";
import { ApiTextTeacher } from "./api-text-teacher.js";
import type { OnnxInputBuilder } from "./onnx-teacher.js";
import { InputSpec } from "./input-spec.js";
import type { InMemoryDataset } from "../data/dataset.js";
import { ensembleOf, importFunction, openFunction, openOnnxFile, openTfjsFolder, type OpenedTeacher } from "./teacher-openers.js";

// A teacher described in a YAML/JSON file (`tsdistill label --teacher teacher.yaml`). Paths in it are relative to
// the file's folder. One kind per file; an ensemble lists its members inline.

const classNames = z.array(z.string().min(1)).min(2).optional();
/** "path/to/module.mjs#exportName" (default export without "#"). */
const moduleRef = z.string().regex(/^[^#]+(#[A-Za-z_$][\w$]*)?$/, 'expected "path/to/module.js#exportName"');

export const TfjsTeacherConfig = z
  .object({
    kind: z.literal("tfjs"),
    /** A TF.js model folder (model.json + weights): layers or graph model. */
    path: z.string().min(1),
    output: z.enum(["auto", "logits", "probabilities"]).default("auto"),
    /** Graph models: the node holding the scores (default the model's first output). */
    outputNode: z.string().min(1).optional(),
    /** How raw images/texts (or the features) become the model's input (input-spec.ts); default: the features as they are. */
    input: InputSpec.optional(),
    classNames,
  })
  .strict();

export const OnnxTeacherConfig = z
  .object({
    kind: z.literal("onnx"),
    path: z.string().min(1),
    layout: z.enum(["auto", "nhwc", "nchw"]).default("auto"),
    output: z.enum(["auto", "logits", "probabilities"]).default("auto"),
    /** The output holding the scores (default the first). */
    outputName: z.string().min(1).optional(),
    /** Intermediate tensors to expose by name (made graph outputs). */
    capture: z.array(z.string().min(1)).optional(),
    /** A module exporting an OnnxInputBuilder, for models with extra inputs or recurrent state. */
    inputBuilder: moduleRef.optional(),
    /** Recurrent state: output name → the input it feeds on the next call. */
    state: z.record(z.string(), z.string()).optional(),
    threads: z.number().int().positive().default(1),
    /** How raw images/texts (or the features) become the model's input (input-spec.ts); default: the features as they are. */
    input: InputSpec.optional(),
    classNames,
  })
  .strict()
  .refine((c) => !(c.input && c.inputBuilder), { message: "give input or inputBuilder, not both", path: ["input"] });

export const FunctionTeacherConfig = z
  .object({
    kind: z.literal("function"),
    /** A JS/TS module exporting a TeacherFunction. */
    module: z.string().min(1),
    export: z.string().regex(/^[A-Za-z_$][\w$]*$/, "expected an export name").default("default"),
    /** raw: the function gets each batch's raw samples (texts, records, images) and features; features: only the features. */
    input: z.enum(["raw", "features"]).default("raw"),
    /** What it returns: logits, or probabilities (their logs are used). */
    output: z.enum(["logits", "probabilities"]).default("logits"),
  })
  .strict();

export interface EnsembleTeacherConfig {
  kind: "ensemble";
  members: TeacherConfig[];
  weights?: number[];
}

export type TeacherConfig = z.infer<typeof TfjsTeacherConfig> | z.infer<typeof OnnxTeacherConfig> | z.infer<typeof FunctionTeacherConfig> | ApiTeacherConfig | EnsembleTeacherConfig;

const EnsembleSchema: z.ZodType<EnsembleTeacherConfig, unknown> = z
  .object({
    kind: z.literal("ensemble"),
    members: z.array(z.lazy(() => TeacherConfig)).min(1),
    /** Weighted average of the members' probabilities (default equal). */
    weights: z.array(z.number().min(0)).optional(),
  })
  .strict()
  .refine((e) => !e.weights || e.weights.length === e.members.length, { message: "expected one weight per member", path: ["weights"] })
  .refine((e) => !e.weights || e.weights.some((w) => w > 0), { message: "expected at least one positive weight", path: ["weights"] });

export const TeacherConfig: z.ZodType<TeacherConfig, unknown> = z.union([
  z.discriminatedUnion("kind", [TfjsTeacherConfig, OnnxTeacherConfig, FunctionTeacherConfig, ApiTeacherConfig]),
  EnsembleSchema,
]) as unknown as z.ZodType<TeacherConfig, unknown>;

const KINDS = ["tfjs", "onnx", "api", "function", "ensemble"];

/** Validates a teacher config; errors are one line naming the file and the field. */
export function parseTeacherConfig(value: unknown, file = "teacher"): TeacherConfig {
  // The kind first, so a wrong kind is named as such rather than as every union member's first problem.
  const kind = (value as { kind?: unknown } | null)?.kind;
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new TsdistillError(`${file}: expected a mapping with kind: ${KINDS.join(" | ")}`);
  if (kind === "embedding") throw new TsdistillError(`${file}: kind: embedding is an embedding teacher (vectors, not class scores); open it with openEmbeddingTeacher (src/teachers/embedding) and distil it into an embedding student`);
  if (!KINDS.includes(kind as string)) throw new TsdistillError(`${file}: kind: expected one of ${KINDS.join(", ")}, got ${JSON.stringify(kind ?? null)}`);
  if (kind === "ensemble") {
    const members = (value as { members?: unknown }).members;
    if (Array.isArray(members)) members.forEach((m, i) => parseTeacherConfig(m, `${file}: members[${i}]`));
  }
  const schemas: Record<string, z.ZodType<TeacherConfig, unknown>> = { tfjs: TfjsTeacherConfig, onnx: OnnxTeacherConfig, function: FunctionTeacherConfig, api: ApiTeacherConfig, ensemble: EnsembleSchema };
  const r = schemas[kind as string].safeParse(value);
  if (!r.success) throw new TsdistillError(describeZodError(r.error, { file }));
  return r.data;
}

/** Whether a --teacher value names a config file rather than a model. */
export function isTeacherConfigFile(spec: string): boolean {
  return /\.(ya?ml|json)$/i.test(spec);
}

/** Reads a YAML (or JSON) teacher config; relative paths in it are made relative to its folder. */
export function loadTeacherConfig(path: string): TeacherConfig {
  return withBaseDir(parseTeacherConfig(readYamlFile(path, "a YAML or JSON teacher config"), path), dirname(path));
}

function withBaseDir(c: TeacherConfig, base: string): TeacherConfig {
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  const input = (i: InputSpec | undefined) =>
    i?.kind === "text" ? { input: { ...i, tokenizer: abs(i.tokenizer), ...(i.tokenizerConfig ? { tokenizerConfig: abs(i.tokenizerConfig) } : {}) } } : {};
  switch (c.kind) {
    case "tfjs":
    case "onnx":
      return { ...c, path: abs(c.path), ...(c.kind === "onnx" && c.inputBuilder ? { inputBuilder: abs(c.inputBuilder) } : {}), ...input(c.input) };
    case "function":
      return { ...c, module: abs(c.module) };
    case "ensemble":
      return { ...c, members: c.members.map((m) => withBaseDir(m, base)) };
    default:
      return c;
  }
}

export interface OpenConfigContext {
  /** The data set the teacher will label (its sample shape; function teachers read their class count off its first rows). */
  data: InMemoryDataset;
  /** For the api kind: environment, fetch and per-batch callbacks (retries, progress). */
  api?: ApiTeacherOptions & { batch?: LabelBatchOptions };
}

/** Opens the teacher a config describes. */
export async function openTeacherConfig(config: TeacherConfig, ctx: OpenConfigContext): Promise<OpenedTeacher> {
  switch (config.kind) {
    case "tfjs":
      return openTfjsFolder(config.path, { output: config.output, outputNode: config.outputNode, classNames: config.classNames, input: config.input });
    case "onnx": {
      const builder = config.inputBuilder ? ((await importFunction(config.inputBuilder, "an ONNX input builder (x, n, ctx) => feeds")) as unknown as OnnxInputBuilder) : undefined;
      const builderHash = config.inputBuilder ? `${hashFiles([config.inputBuilder.split("#")[0]])}#${config.inputBuilder.split("#")[1] ?? "default"}` : undefined;
      return openOnnxFile(
        config.path,
        { sampleShape: ctx.data.sampleShape, layout: config.layout, output: config.output, outputName: config.outputName, capture: config.capture, inputBuilder: builder, state: config.state, threads: config.threads, classNames: config.classNames, inputSpec: config.input },
        builderHash,
      );
    }
    case "function":
      return openFunction(`${config.module}#${config.export}`, ctx.data, { input: config.input, output: config.output });
    case "api": {
      const t = new ApiTextTeacher(config, ctx.api);
      return { teacher: t, hash: t.metadata.hash!, close: async () => {}, stats: () => ({ ...t.stats }) };
    }
    case "ensemble": {
      const opened: OpenedTeacher[] = [];
      try {
        for (const m of config.members) opened.push(await openTeacherConfig(m, ctx));
      } catch (err) {
        for (const o of opened) await o.close();
        throw err;
      }
      return ensembleOf(opened, config.weights, ctx.data.sampleShape);
    }
  }
}
