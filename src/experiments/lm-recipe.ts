import { z } from "zod";
import { BACKENDS } from "../engine/backend.js";
import { LM_METHODS } from "../distill/lm-method.js";
import { TsdistillError } from "../util/errors.js";
import { readYamlFile } from "../util/yaml-file.js";
import { describeZodError } from "../util/zod-errors.js";

/*
 * `kind: lm` recipes (recipes/sotu-lm.yaml): a teacher LM trained by the recipe (or reused from the teacher store),
 * exported to ONNX and used through the ONNX teacher path, and one student row per method, all at the same student
 * steps (same windows, epochs and batch size). A `quick:` section overrides data, teacher, training and eval for
 * the test suite.
 */

const Training = z
  .object({
    epochs: z.number().int().positive(),
    batchSize: z.number().int().positive().default(16),
    lr: z.number().positive().default(2e-3),
  })
  .strict();

const Data = z
  .object({
    /** An LM --data spec: sotu[:FROM-TO][?ctx=N&…] or text:<file|folder>[?…]. */
    source: z.string(),
    /** The students' training windows: the first N of the train split (default all). */
    trainWindows: z.number().int().positive().optional(),
    /** Held-out windows scored (default all test windows). */
    testWindows: z.number().int().positive().optional(),
  })
  .strict();

const Teacher = z
  .object({
    spec: z.string(),
    /** Training windows of the teacher (default: the whole train split). */
    trainWindows: z.number().int().positive().optional(),
    training: Training,
  })
  .strict();

const Eval = z
  .object({
    /** Student samples the teacher scores. */
    samples: z.number().int().min(0).default(200),
    promptTokens: z.number().int().positive().default(16),
    maxTokens: z.number().int().positive().default(64),
    /** Held-out windows used for next-token agreement (default all scored windows). */
    agreementWindows: z.number().int().positive().optional(),
  })
  .strict();

const Row = z.union([
  z.enum(LM_METHODS),
  z
    .object({
      method: z.enum(LM_METHODS),
      name: z.string().optional(),
      temperature: z.number().positive().optional(),
      beta: z.number().min(0).max(1).optional(),
      alpha: z.number().min(0).max(1).optional(),
      k: z.number().int().positive().optional(),
      lambda: z.number().min(0).max(1).optional(),
      tau: z.number().min(0).optional(),
    })
    .strict(),
]);

// Overrides carry no defaults: a field the quick section leaves out keeps the recipe's value.
const TrainingOverride = z.object({ epochs: z.number().int().positive(), batchSize: z.number().int().positive(), lr: z.number().positive() }).partial().strict();
const Overrides = z
  .object({
    data: Data.partial().optional(),
    teacher: z.object({ spec: z.string(), trainWindows: z.number().int().positive(), training: TrainingOverride }).partial().strict().optional(),
    student: z.object({ spec: z.string() }).strict().optional(),
    training: TrainingOverride.optional(),
    eval: z.object({ samples: z.number().int().min(0), promptTokens: z.number().int().positive(), maxTokens: z.number().int().positive(), agreementWindows: z.number().int().positive() }).partial().strict().optional(),
  })
  .strict();

export const LmRecipe = z
  .object({
    kind: z.literal("lm"),
    name: z.string().default("lm"),
    seed: z.number().int().min(0).default(42),
    backend: z.enum(BACKENDS).default("wasm"),
    data: Data,
    teacher: Teacher,
    student: z.object({ spec: z.string() }).strict(),
    /** Every row's student training (equal steps across rows). */
    training: Training,
    rows: z.array(Row).min(1),
    /** Top-k entries cached per token (topk rows). */
    topK: z.number().int().positive().default(20),
    eval: Eval.default({ samples: 200, promptTokens: 16, maxTokens: 64 }),
    quick: Overrides.optional(),
  })
  .strict();
export type LmRecipe = z.infer<typeof LmRecipe>;
export type LmRecipeRow = Exclude<z.infer<typeof Row>, string>;

/** Parses a recipe (its quick section applied when `quick`); errors name the file and field. */
export function parseLmRecipe(raw: unknown, file: string, opts: { quick?: boolean } = {}): LmRecipe {
  const parsed = LmRecipe.safeParse(raw);
  if (!parsed.success) throw new TsdistillError(describeZodError(parsed.error, { file }));
  const r = parsed.data;
  if (!opts.quick || !r.quick) return r;
  const q = r.quick;
  return {
    ...r,
    data: { ...r.data, ...q.data },
    teacher: { ...r.teacher, ...q.teacher, training: { ...r.teacher.training, ...q.teacher?.training } },
    student: q.student ?? r.student,
    training: { ...r.training, ...q.training },
    eval: { ...r.eval, ...q.eval },
  };
}

export function readLmRecipe(file: string, opts: { quick?: boolean } = {}): LmRecipe {
  return parseLmRecipe(readYamlFile(file, "an LM recipe (kind: lm)"), file, opts);
}

/** A row as an object, named (method, plus its non-default settings). */
export function rowSettings(row: z.infer<typeof Row>): LmRecipeRow & { name: string } {
  const r: LmRecipeRow = typeof row === "string" ? { method: row } : row;
  if (r.name) return { ...r, name: r.name };
  const extras = Object.entries(r).filter(([k]) => k !== "method" && k !== "name").map(([k, v]) => `${k}=${v}`);
  return { ...r, name: extras.length ? `${r.method} (${extras.join(", ")})` : r.method };
}
