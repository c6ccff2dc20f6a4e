import { readYamlFile } from "../util/yaml-file.js";
import { z } from "zod";
import { BACKENDS } from "../engine/backend.js";
import { OptimizerConfig } from "../train/optimizers.js";
import { ScheduleConfig } from "../util/schedules.js";
import { TsdistillError } from "../util/errors.js";
import { describeZodError } from "../util/zod-errors.js";
import { TermSpec } from "./terms.js";
import { TransformerSpec } from "../students/transformer-config.js";
import { transformerSpecString } from "../students/spec.js";

export const TeacherSpec = z.discriminatedUnion("kind", [
  /** A TF.js layers model folder (model.json + weights), e.g. from `tsdistill train`. */
  z.object({ kind: z.literal("tfjs"), path: z.string() }).strict(),
  /** A teacher cache from `tsdistill label` over exactly this transfer set: logits only, the teacher is not loaded. */
  z.object({ kind: z.literal("cache"), path: z.string() }).strict(),
  /** Trains the teacher first (hard labels), so a recipe can stand alone. */
  z
    .object({
      kind: z.literal("train"),
      spec: z.string(),
      epochs: z.number().int().positive(),
      dropout: z.number().min(0).max(0.99).default(0),
      inputDropout: z.number().min(0).max(0.99).default(0),
      /** Random shifts of the teacher's training images, in pixels. */
      jitter: z.number().int().min(0).default(0),
      /** Images the teacher trains on (default: all training images, of which the students' set is a prefix). */
      trainSize: z.number().int().positive().optional(),
      lr: z.number().positive().default(1e-3),
      /** Mini-batch size of the teacher's training (default: training.batchSize). */
      batchSize: z.number().int().positive().optional(),
    })
    .strict(),
]);
export type TeacherSpec = z.infer<typeof TeacherSpec>;

export const StageSpec = z
  .object({
    name: z.string(),
    epochs: z.number().int().positive(),
    terms: z.array(TermSpec).min(1),
    /** Learning rate for this stage (default: training.optimizer.lr). */
    lr: z.number().positive().optional(),
  })
  .strict();

export const Recipe = z
  .object({
    name: z.string().default("recipe"),
    seed: z.number().int().min(0).default(42),
    backend: z.enum(BACKENDS).default("auto"),
    /** Run folder (default runs/<time>-<name>). */
    output: z.string().optional(),
    data: z
      .object({
        /** Any --data spec: "mnist", "idx:<folder>", "csv:<file>?label=COL", … */
        source: z.string().default("mnist"),
        /** Samples held out of the training split for validation (default 10 % of it, at most 5,000). */
        validationSize: z.number().int().positive().optional(),
        /** The students' transfer set: the first N training images (default: all). */
        trainSize: z.number().int().positive().optional(),
        /** Classes left out of the students' transfer set (Hinton et al.'s omitted-3s experiment). */
        omitClasses: z.array(z.number().int().min(0)).default([]),
        /** Extra transfer samples the teacher labels: noisy copies, mixup blends, shifted image copies. */
        transfer: z
          .object({
            /** Add the data source's unlabeled samples (e.g. images:<dir>?unlabeled=<dir>) for the teacher to label. */
            unlabeled: z.boolean().default(false),
            noise: z.object({ copies: z.number().int().positive(), std: z.number().positive(), clip: z.tuple([z.number(), z.number()]).optional() }).strict().optional(),
            mixup: z.object({ count: z.number().int().positive(), alpha: z.number().positive() }).strict().optional(),
            shift: z.object({ copies: z.number().int().positive(), maxShift: z.number().int().positive() }).strict().optional(),
          })
          .strict()
          .optional(),
      })
      .strict()
      .default({ source: "mnist", omitClasses: [] }),
    teacher: TeacherSpec,
    student: z
      .object({
        /** mlp:…, cnn:…, transformer:…, or a transformer as a YAML object ({kind: transformer, layers, dim, heads, …}). */
        spec: z.union([z.string(), z.record(z.string(), z.unknown())]).transform((v, ctx) => {
          if (typeof v === "string") return v;
          const t = TransformerSpec.safeParse(v);
          if (t.success) return transformerSpecString(t.data);
          for (const issue of t.error.issues) ctx.addIssue({ code: "custom", message: `transformer: ${issue.message}`, path: issue.path as (string | number)[] });
          return z.NEVER;
        }),
        dropout: z.number().min(0).max(0.99).default(0),
        inputDropout: z.number().min(0).max(0.99).default(0),
      })
      .strict(),
    training: z
      .object({
        epochs: z.number().int().positive().default(5),
        batchSize: z.number().int().positive().default(128),
        optimizer: OptimizerConfig.default({ kind: "adam", lr: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-7, weightDecay: 0 }),
        schedule: ScheduleConfig.default({ kind: "cosine", minFactor: 0, warmupEpochs: 0 }),
      })
      .strict()
      .default({ epochs: 5, batchSize: 128, optimizer: { kind: "adam", lr: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-7, weightDecay: 0 }, schedule: { kind: "cosine", minFactor: 0, warmupEpochs: 0 } }),
    /** One-stage training: these terms for training.epochs. */
    loss: z.object({ terms: z.array(TermSpec).min(1) }).strict().optional(),
    /** Multi-stage training (e.g. FitNets: hints first, then KD); replaces `loss`. */
    stages: z.array(StageSpec).min(1).optional(),
  })
  .strict()
  .refine((r) => (r.loss ? 1 : 0) + (r.stages ? 1 : 0) === 1, { message: 'give exactly one of "loss" (one stage) or "stages"', path: ["loss"] });
export type Recipe = z.infer<typeof Recipe>;
export type RecipeInput = z.input<typeof Recipe>;

/** Parses and validates a recipe; errors name the file and the field. */
export function parseRecipe(value: unknown, file = "recipe"): Recipe {
  const r = Recipe.safeParse(value);
  if (!r.success) throw new TsdistillError(describeZodError(r.error, { file }));
  return r.data;
}

/** Reads a YAML (or JSON) recipe file. */
export function loadRecipe(path: string): Recipe {
  return parseRecipe(readYamlFile(path, "a YAML recipe"), path);
}

/** The recipe's stages (a one-stage recipe becomes one stage named "distill"). */
export function recipeStages(r: Recipe): z.infer<typeof StageSpec>[] {
  return r.stages ?? [{ name: "distill", epochs: r.training.epochs, terms: r.loss!.terms }];
}
