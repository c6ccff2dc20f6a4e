import { readYamlFile } from "../util/yaml-file.js";
import { existsSync } from "node:fs";
import { z } from "zod";
import { TsdistillError } from "../util/errors.js";
import { describeZodError } from "../util/zod-errors.js";
import { parseRecipe, type Recipe } from "../distill/recipe.js";

/**
 * An experiment file (recipes/*.yaml run by `tsdistill run`): a recipe (data, teacher, student, training, loss) plus
 * what makes it a comparison — the student alone as a baseline, several distilled variants sharing one teacher,
 * post-hoc evaluations, reference numbers from the paper, data the machine must have, and a `quick` budget.
 */
const Variant = z
  .object({
    name: z.string().min(1),
    /** Partial recipe merged over the base (student, data, training, loss or stages). */
    student: z.record(z.string(), z.unknown()).optional(),
    data: z.record(z.string(), z.unknown()).optional(),
    training: z.record(z.string(), z.unknown()).optional(),
    loss: z.unknown().optional(),
    stages: z.unknown().optional(),
  })
  .strict();
export type Variant = z.infer<typeof Variant>;

const ExperimentExtras = z
  .object({
    description: z.string().optional(),
    /** Train the student alone (hard labels only, same seed, data and epochs) next to each distilled student. */
    baseline: z.boolean().default(true),
    variants: z.array(Variant).min(1).optional(),
    evaluate: z
      .object({
        /** For students whose transfer set left this class out: raise its logit bias until their predicted share of it on the validation split is right. */
        adjustBiasFor: z.number().int().min(0).optional(),
        /** Report the errors on these classes separately. */
        classErrors: z.array(z.number().int().min(0)).default([]),
      })
      .strict()
      .default({ classErrors: [] }),
    /** Published numbers printed beside the measured ones (row name → value), with their source. */
    reference: z.object({ source: z.string(), metric: z.string(), rows: z.record(z.string(), z.number()) }).strict().optional(),
    /** Files or folders the data need, with the exact command that provides them. */
    requires: z.array(z.object({ path: z.string(), prepare: z.string() }).strict()).default([]),
    /** Overrides for `--quick` (a tiny budget): merged over the base; `variants` keeps only those named. */
    quick: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

const EXTRA_KEYS = ["description", "baseline", "variants", "evaluate", "reference", "requires", "quick"] as const;

export interface Experiment {
  name: string;
  file: string;
  quick: boolean;
  extras: z.infer<typeof ExperimentExtras>;
  /** The base recipe (validated). */
  base: Recipe;
  /** One validated recipe per distilled variant (teacher as in the base). */
  variants: { name: string; recipe: Recipe; overrides: Variant }[];
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

/** Objects merge key by key; anything else (arrays included) is replaced. */
export function deepMerge(base: unknown, over: unknown): unknown {
  if (!isObject(base) || !isObject(over)) return over === undefined ? base : over;
  const out: Json = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = deepMerge(base[k], v);
  return out;
}

/** Parses an experiment object; `quick` applies the quick overrides. Errors name the file and field. */
export function parseExperiment(value: unknown, file: string, opts: { quick?: boolean } = {}): Experiment {
  if (!isObject(value)) throw new TsdistillError(`${file}: expected a YAML mapping with name, data, teacher, student, …`);
  const extrasIn: Json = {};
  const recipeIn: Json = {};
  for (const [k, v] of Object.entries(value)) ((EXTRA_KEYS as readonly string[]).includes(k) ? extrasIn : recipeIn)[k] = v;
  const ex = ExperimentExtras.safeParse(extrasIn);
  if (!ex.success) throw new TsdistillError(describeZodError(ex.error, { file }));
  const extras = ex.data;
  let baseIn: unknown = recipeIn;
  let variants = extras.variants;
  if (opts.quick) {
    if (!extras.quick) throw new TsdistillError(`${file}: --quick needs a "quick" section in the recipe`);
    const { variants: keep, ...over } = extras.quick as Json;
    baseIn = deepMerge(recipeIn, over);
    if (keep !== undefined) {
      if (!Array.isArray(keep) || keep.length === 0 || !keep.every((k) => typeof k === "string")) throw new TsdistillError(`${file}: quick.variants: expected a non-empty list of variant names`);
      const unknown = keep.find((k) => !variants?.some((v) => v.name === k));
      if (unknown) throw new TsdistillError(`${file}: quick.variants: no variant named "${unknown}"; expected one of ${(variants ?? []).map((v) => v.name).join(", ")}`);
      variants = variants?.filter((v) => keep.includes(v.name));
    }
  }
  // The base needs a loss to validate as a recipe; variants may bring their own.
  const baseForParse = variants && !(baseIn as Json).loss && !(baseIn as Json).stages ? deepMerge(baseIn, pickLoss(variants[0])) : baseIn;
  const base = parseRecipe(baseForParse, file);
  const list = (variants ?? [{ name: "distilled" }]).map((v, i) => {
    const merged = deepMerge(baseIn, { ...pickLoss(v), student: v.student, data: v.data, training: v.training });
    if (v.loss !== undefined || v.stages !== undefined) {
      // A variant's loss replaces the base's loss or stages entirely.
      delete (merged as Json).loss;
      delete (merged as Json).stages;
      Object.assign(merged as Json, pickLoss(v));
    }
    return { name: v.name, recipe: parseRecipe(merged, `${file}: variants[${i}] (${v.name})`), overrides: v as Variant };
  });
  const names = new Set<string>();
  for (const v of list) {
    if (names.has(v.name)) throw new TsdistillError(`${file}: variants: the name "${v.name}" is used twice`);
    names.add(v.name);
  }
  return { name: base.name, file, quick: !!opts.quick, extras, base, variants: list };
}

function pickLoss(v: { loss?: unknown; stages?: unknown }): Json {
  const out: Json = {};
  if (v.loss !== undefined) out.loss = v.loss;
  if (v.stages !== undefined) out.stages = v.stages;
  return out;
}

/** Reads the raw YAML (or JSON) of an experiment file. */
export function readExperimentYaml(path: string): unknown {
  return readYamlFile(path, "a YAML recipe");
}

export function loadExperiment(path: string, opts: { quick?: boolean } = {}): Experiment {
  return parseExperiment(readExperimentYaml(path), path, opts);
}

/** Fails with the exact preparation command when a data file the experiment needs is missing. */
export function checkRequirements(ex: Experiment): void {
  for (const r of ex.extras.requires) {
    if (!existsSync(r.path)) throw new TsdistillError(`${ex.file}: needs ${r.path}, which is missing; prepare it with: ${r.prepare}`);
  }
}
