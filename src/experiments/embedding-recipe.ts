// `kind: embedding` recipes (recipes/use-embeddings.yaml): a sentence encoder distilled into static tables, trained
// embedding students and a fine-tune-then-distil classifier, all measured on the same labelled fortunes.
import { existsSync } from "node:fs";
import { z } from "zod";
import { TsdistillError } from "../util/errors.js";
import { readYamlFile } from "../util/yaml-file.js";
import { describeZodError } from "../util/zod-errors.js";

const Lr = z.number().positive();

const Probe = z
  .object({
    epochs: z.number().int().positive().default(100),
    lr: Lr.default(0.01),
    /** L2 penalty of the logistic regression; "cv": chosen per model by 3-fold cross-validation on its training rows. */
    l2: z.union([z.number().min(0), z.literal("cv")]).default(1e-4),
  })
  .strict();

const TrainedStudent = z.discriminatedUnion("kind", [
  z
    .object({
      kind: z.literal("bag"),
      name: z.string(),
      /** Table width; the head maps to the teacher's width. */
      width: z.number().int().positive(),
      /** Start from a static table of the same width (its rows and PCA as the head) instead of random rows. */
      init: z.enum(["random", "static"]).default("static"),
      epochs: z.number().int().positive(),
      lr: Lr.default(1e-3),
      /** Weight of the RKD-distance term beside the cosine term (0: cosine only). */
      rkd: z.number().min(0).default(1),
    })
    .strict(),
  z
    .object({
      kind: z.literal("transformer"),
      name: z.string(),
      layers: z.number().int().positive(),
      dim: z.number().int().positive(),
      heads: z.number().int().positive(),
      ff: z.number().int().positive().optional(),
      /** Tokens read (attention cost grows with its square). */
      ctx: z.number().int().positive().default(64),
      epochs: z.number().int().positive(),
      lr: Lr.default(1e-3),
      rkd: z.number().min(0).default(1),
    })
    .strict(),
]);
export type TrainedStudent = z.infer<typeof TrainedStudent>;

export const EmbeddingRecipe = z
  .object({
    kind: z.literal("embedding"),
    name: z.string().default("use-embeddings"),
    seed: z.number().int().min(0).default(0),
    /** Run folder (default runs/<time>-<name>). */
    output: z.string().optional(),
    /** "use-lite" or a teacher.yaml (kind: embedding), relative to the recipe file. */
    teacher: z.string().default("use-lite"),
    /** Tokens of each text the teacher (and the students) read. */
    maxTokens: z.number().int().positive().default(128),
    data: z
      .object({
        /** Debian fortunes folder (apt-get install fortunes fortunes-min). */
        dir: z.string().default("/usr/share/games/fortunes"),
        /** Labelled categories (class = category); default: computers, food, law, love, politics, sports. */
        categories: z.array(z.string()).min(2).optional(),
        perCategory: z.number().int().positive().default(150),
        testShare: z.number().gt(0).lt(1).default(0.2),
        /**
         * Seeded train/test splits of the labelled quotes the probes and classifiers are scored on (accuracy: the
         * mean over them). The first is the seed's split, split k > 0 uses seed + 99 + k (the benches' 100, 101, …).
         * More than one needs static.refine.train false: one split's training quotes are another's test quotes.
         */
        splits: z.number().int().min(1).default(1),
        /** Unlabeled texts (a seeded sample): the transfer set of the classifiers, the refinement/training text of the students. */
        unlabeled: z.number().int().min(2).default(2000),
        /**
         * Where they come from: quotes of the other categories (off-topic), quotes of the labelled categories the
         * per-category sample left out (on-topic, labels discarded; never a labelled quote), or both (on-topic first).
         */
        unlabeledFrom: z.enum(["other-categories", "labelled-categories", "both"]).default("other-categories"),
      })
      .strict()
      .prefault({}),
    static: z
      .object({
        /** PCA widths; the teacher's token vectors are computed once. */
        dims: z.array(z.number().int().positive()).min(1).default([64, 128, 256]),
        sifCoefficient: z.number().gt(0).lt(1).nullable().default(1e-4),
        /**
         * Model2Vec's vocabulary step (SentencePiece teachers): the frequent whole words of the unlabeled and
         * training quotes (never test quotes) that the teacher's vocabulary splits, each one row of the table.
         */
        words: z
          .object({ minCount: z.number().int().min(1).default(2), max: z.number().int().min(0).default(5000) })
          .strict()
          .nullable()
          .default(null),
        /** Refine these widths' tables on the unlabeled text towards the projected teacher vectors (cosine). */
        refine: z
          .object({
            dims: z.array(z.number().int().positive()).default([]),
            epochs: z.number().int().positive().default(4),
            lr: Lr.default(1e-3),
            /** Also refine on the labelled training quotes (their teacher vectors, never their labels or a test quote). */
            train: z.boolean().default(false),
            /** Word dropout: each token of a refinement text left out of a step with this probability. */
            tokenDropout: z.number().min(0).lt(1).default(0),
            /** Weight of a pull towards the distilled rows: anchor · mean((row − distilled row)²). */
            anchor: z.number().min(0).default(0),
            /**
             * Variants of the refinement text read by the teacher join it (refined and contextual tables): `copies` per
             * text, each with words dropped at p = mask, then cut to a random 1…maxN-word span at p = ngram
             * (data/text-augment.ts). Default 0 copies: none.
             */
            augment: z
              .object({
                copies: z.number().int().min(0).default(0),
                mask: z.number().min(0).lt(1).default(0.3),
                ngram: z.number().min(0).max(1).default(0.5),
                maxN: z.number().int().min(1).default(16),
              })
              .strict()
              .prefault({}),
          })
          .strict()
          .prefault({}),
        /**
         * Contextual tables (static-<d>-context): these widths' static tables with a context layer (each token sees its
         * neighbours; a learned weighted mean; src/embeddings/context-layer.ts), trained with the table on the
         * refinement text towards the projected teacher vectors, as refine does. The layer starts as the identity.
         */
        context: z
          .object({
            dims: z.array(z.number().int().positive()).default([]),
            /** Hidden width H of the layer: 3·d·H + H + H·d + H more weights (float32, also in quantised copies). */
            hidden: z.number().int().positive().default(64),
            epochs: z.number().int().positive().default(4),
            lr: Lr.default(1e-3),
            /** Word dropout: each token of a text left out of a step with this probability (as refine.tokenDropout). */
            tokenDropout: z.number().min(0).lt(1).default(0),
            /**
             * The TF.js backend this training runs on (default: the run's). The run goes back to its own backend
             * afterwards, so the teacher and the timings are not affected. "native" falls back to wasm without the addon.
             */
            backend: z.enum(["wasm", "cpu", "native"]).optional(),
          })
          .strict()
          .prefault({}),
        /**
         * Quantised copies of these widths' tables (refined where refined; the contextual ones too): int8 (one float32
         * scale per row) and/or fp16, saved as <folder>-int8 / <folder>-fp16 and measured like the float32 tables.
         */
        quantize: z
          .object({ dims: z.array(z.number().int().positive()).default([]), kinds: z.array(z.enum(["int8", "fp16"])).min(1).default(["int8"]) })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    students: z.array(TrainedStudent).default([]),
    classifier: z
      .object({
        /** The head fine-tuned on the frozen teacher's vectors (logistic regression, standardised inputs). */
        head: Probe.prefault({}),
        /**
         * Augmented copies of the labelled training quotes added to the transfer set, labelled by the fine-tuned
         * teacher only (Tang et al. 2019: words masked — here dropped — with probability mask, then the text cut to
         * a random 1–5-gram with probability ngram). copies 0: none.
         */
        augment: z
          .object({ copies: z.number().int().min(0).default(0), mask: z.number().min(0).lt(1).default(0.1), ngram: z.number().min(0).max(1).default(0.25) })
          .strict()
          .prefault({}),
        /**
         * Students: a static table of this width (refined if it was; with from: context, its contextual table, the
         * layer included) + a linear head to the classes.
         */
        students: z
          .array(
            z
              .object({
                width: z.number().int().positive(),
                from: z.enum(["table", "context"]).default("table"),
                epochs: z.number().int().positive(),
                lr: Lr.default(3e-3),
                temperature: z.number().positive().default(2),
                hardWeight: z.number().min(0).max(1).default(0.5),
                /**
                 * Whether the unlabeled quotes join this student's transfer set (default true). false: the training
                 * quotes and their augmented copies only (Tang et al.'s transfer set), a fraction of the cost.
                 */
                unlabeled: z.boolean().default(true),
                /** The TF.js backend this student trains on (default: the run's), as static.context.backend. */
                backend: z.enum(["wasm", "cpu", "native"]).optional(),
              })
              .strict(),
          )
          .default([]),
      })
      .strict()
      .prefault({}),
    probe: Probe.prefault({}),
    /**
     * More labelled sets the embedding models are probed on (a column each), e.g. SpamAssassin: JSONL {text, label}
     * (path relative to the working folder), a seeded sample of perClass texts per label, split like the fortunes.
     */
    probes: z
      .array(
        z
          .object({
            name: z.string().regex(/^[\w-]+$/),
            data: z.string(),
            /** The command that makes the file, printed when it is missing. */
            prepare: z.string(),
            perClass: z.number().int().positive().default(300),
          })
          .strict(),
      )
      .default([]),
    /** Seconds spent timing each model (batch-1 latency, then batched throughput). */
    timingSeconds: z.number().positive().default(20),
    /** Overrides for `--quick` (merged key by key; lists are replaced). */
    quick: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();
export type EmbeddingRecipe = z.infer<typeof EmbeddingRecipe>;

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
function merge(base: unknown, over: unknown): unknown {
  if (!isObject(base) || !isObject(over)) return over === undefined ? base : over;
  const out: Json = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = merge(base[k], v);
  return out;
}

/** Parses a recipe object (`quick`: its quick section merged in); errors name the file and the field. */
export function parseEmbeddingRecipe(value: unknown, file: string, opts: { quick?: boolean } = {}): EmbeddingRecipe {
  const first = EmbeddingRecipe.safeParse(value);
  if (!first.success) throw new TsdistillError(describeZodError(first.error, { file }));
  if (!opts.quick) return first.data;
  if (!first.data.quick) throw new TsdistillError(`${file}: --quick: the recipe has no quick section`);
  const merged = merge(value, first.data.quick) as Json;
  const quick = EmbeddingRecipe.safeParse({ ...merged, quick: undefined });
  if (!quick.success) throw new TsdistillError(describeZodError(quick.error, { file, base: "quick" }));
  return quick.data;
}

export function loadEmbeddingRecipe(file: string, opts: { quick?: boolean } = {}): EmbeddingRecipe {
  return parseEmbeddingRecipe(readYamlFile(file, "an embedding recipe (kind: embedding)"), file, opts);
}

/** Checks that refer across sections (widths that must be among the static dims) and that the probe files exist. */
export function checkEmbeddingRecipe(r: EmbeddingRecipe, file: string): void {
  for (const p of r.probes) if (!existsSync(p.data)) throw new TsdistillError(`${file}: probes: ${p.name} needs ${p.data}, which is missing; prepare it with: ${p.prepare}`);
  const names = new Set<string>();
  for (const s of r.students) {
    if (names.has(s.name)) throw new TsdistillError(`${file}: students: the name "${s.name}" is used twice`);
    names.add(s.name);
  }
  if (r.data.splits > 1 && r.static.refine.train) throw new TsdistillError(`${file}: data.splits: ${r.data.splits} splits need static.refine.train false (one split's training quotes are another's test quotes)`);
  const dims = new Set(r.static.dims);
  for (const d of r.static.quantize.dims) if (!dims.has(d)) throw new TsdistillError(`${file}: static.quantize.dims: ${d} is not among static.dims [${r.static.dims}]`);
  for (const d of r.static.refine.dims) if (!dims.has(d)) throw new TsdistillError(`${file}: static.refine.dims: ${d} is not among static.dims [${r.static.dims}]`);
  for (const d of r.static.context.dims) if (!dims.has(d)) throw new TsdistillError(`${file}: static.context.dims: ${d} is not among static.dims [${r.static.dims}]`);
  for (const c of r.classifier.students) {
    if (!dims.has(c.width)) throw new TsdistillError(`${file}: classifier.students: width ${c.width} is not among static.dims [${r.static.dims}]`);
    if (c.from === "context" && !r.static.context.dims.includes(c.width)) throw new TsdistillError(`${file}: classifier.students: width ${c.width} from: context needs ${c.width} among static.context.dims [${r.static.context.dims}]`);
  }
  for (const s of r.students) if (s.kind === "bag" && s.init === "static" && !dims.has(s.width)) throw new TsdistillError(`${file}: students: ${s.name} starts from static-${s.width}, which is not among static.dims [${r.static.dims}]`);
}
