import { readYamlFile } from "../util/yaml-file.js";
import { z } from "zod";
import { BACKENDS } from "../engine/backend.js";
import { TsdistillError } from "../util/errors.js";
import { describeZodError } from "../util/zod-errors.js";
import { NOISE_COLORS } from "./synth.js";

const range = z.tuple([z.number().positive(), z.number().positive()]).refine(([a, b]) => a <= b, "expected [min, max] with min ≤ max");

const DataSpec = z
  .object({
    /** Parent folder of the synthesised audio; each set of options gets its own subfolder (reused when present). */
    dir: z.string().default("runs/vad-data"),
    clips: z.number().int().positive(),
    /** The last `heldout` clips are kept for evaluation. */
    heldout: z.number().int().positive(),
    clipSeconds: range.default([6, 12]),
    gapSeconds: range.default([0.3, 2.5]),
    snrDb: z.array(z.number()).min(1).default([20, 10, 5, 0]),
    cleanShare: z.number().min(0).max(1).default(0.2),
    noises: z.array(z.enum(NOISE_COLORS)).default(["white", "pink", "brown"]),
  })
  .strict()
  .refine((d) => d.heldout < d.clips, { message: "heldout must be smaller than clips", path: ["heldout"] });

const QuickSpec = z
  .object({
    clips: z.number().int().positive(),
    heldout: z.number().int().positive(),
    epochs: z.number().int().positive(),
    clipSeconds: range.optional(),
  })
  .strict();

export const VadRecipe = z
  .object({
    kind: z.literal("vad"),
    name: z.string().default("silero-vad"),
    seed: z.number().int().min(0).default(42),
    backend: z.enum(BACKENDS).default("auto"),
    /** Run folder (default runs/<time>-<name>). */
    output: z.string().optional(),
    teacher: z
      .object({
        /** The Silero VAD v5 ONNX file (default: the one in @ricky0123/vad-web). */
        path: z.string().optional(),
        /** Streams labelled side by side. */
        batch: z.number().int().positive().default(32),
      })
      .strict()
      .default({ batch: 32 }),
    data: DataSpec,
    features: z
      .object({
        melBands: z.number().int().min(4).max(128).default(32),
        /** 512-sample chunks of context before and after the labelled chunk. */
        past: z.number().int().min(0).max(64).default(8),
        future: z.number().int().min(0).max(16).default(0),
      })
      .strict()
      .default({ melBands: 32, past: 8, future: 0 }),
    student: z.object({ spec: z.string() }).strict(),
    training: z
      .object({
        epochs: z.number().int().positive().default(10),
        batchSize: z.number().int().positive().default(256),
        lr: z.number().positive().default(2e-3),
        /** KD temperature on the two-class (speech, non-speech) logits. */
        temperature: z.number().positive().default(2),
        /** Weight of the hard term (the teacher's thresholded decisions); 0 = soft labels only. */
        alpha: z.number().min(0).max(1).default(0),
      })
      .strict()
      .default({ epochs: 10, batchSize: 256, lr: 2e-3, temperature: 2, alpha: 0 }),
    /** Smaller budget for `--quick`. */
    quick: QuickSpec.optional(),
    latency: z
      .object({
        /** Chunks timed per model in the streaming (batch-1) measurement. */
        frames: z.number().int().positive().default(2000),
      })
      .strict()
      .default({ frames: 2000 }),
  })
  .strict();
export type VadRecipe = z.infer<typeof VadRecipe>;
export type VadRecipeInput = z.input<typeof VadRecipe>;

/** Validates a parsed recipe; errors name the field (and `file`, when given). */
export function parseVadRecipe(value: unknown, file?: string): VadRecipe {
  const r = VadRecipe.safeParse(value);
  if (!r.success) throw new TsdistillError(describeZodError(r.error, { file }));
  return r.data;
}

export function loadVadRecipe(path: string): VadRecipe {
  return parseVadRecipe(readYamlFile(path, "a YAML recipe"), path);
}

/** The recipe with its `quick` overrides applied. */
export function applyQuick(r: VadRecipe): VadRecipe {
  if (!r.quick) throw new TsdistillError(`recipe ${r.name}: --quick needs a "quick" section (clips, heldout, epochs)`);
  const { clips, heldout, epochs, clipSeconds } = r.quick;
  if (heldout >= clips) throw new TsdistillError(`recipe ${r.name}: quick.heldout must be smaller than quick.clips`);
  return {
    ...r,
    data: { ...r.data, clips, heldout, clipSeconds: clipSeconds ?? r.data.clipSeconds },
    training: { ...r.training, epochs },
  };
}
