import { numberOption, type OptionSpec } from "../args.js";
import { trainingSettings, type TrainingSettings, type Values } from "./common.js";
import { isLmDataSpec, loadLmCorpus, LM_DATA_HELP, type LmCorpus } from "../../data/lm-corpus.js";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CONFIG_FILE, isTransformerFolder, loadTransformer } from "../../students/transformer-io.js";
import type { TransformerModel } from "../../students/transformer.js";
import { openLmTeacher } from "../../teachers/open-lm-teacher.js";
import type { CausalLmTeacher } from "../../teachers/lm-teacher.js";
import type { Tokenizer } from "../../tokenizers/tokenizer.js";
import { TsdistillError, UsageError } from "../../util/errors.js";

// What the language-model commands (train/distill/eval/label/generate on text: or sotu data) share.

export { isLmDataSpec, LM_DATA_HELP };

/** Whether the command line's --data names an LM corpus (the commands hand such runs to their LM variant). */
export function argvHasLmData(argv: string[]): boolean {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--data" && isLmDataSpec(argv[i + 1])) return true;
    if (a.startsWith("--data=") && isLmDataSpec(a.slice("--data=".length))) return true;
  }
  return false;
}

/** Whether --model names a saved causal LM (eval hands it to its LM variant). */
export function argvModelIsLm(argv: string[]): boolean {
  const i = argv.findIndex((a) => a === "--model" || a.startsWith("--model="));
  if (i < 0) return false;
  const dir = argv[i].startsWith("--model=") ? argv[i].slice("--model=".length) : argv[i + 1];
  if (dir === undefined || !isTransformerFolder(dir)) return false;
  try {
    const c = (JSON.parse(readFileSync(join(dir, CONFIG_FILE), "utf8")) as { config?: { head?: string; causal?: boolean } }).config;
    return c?.head === "lm" && c.causal === true;
  } catch {
    return false;
  }
}

export const LM_EVAL_OPTIONS: OptionSpec = {
  samples: { type: "string" },
  "prompt-tokens": { type: "string" },
  "max-tokens": { type: "string" },
};

export const LM_EVAL_HELP = `  --samples N            student samples the teacher scores (default 200; 0: none)
  --prompt-tokens N      prompt tokens of each sample, from the start of held-out windows (default 16)
  --max-tokens N         tokens per sample (default 64)`;

export interface LmEvalSettings {
  samples: number;
  promptTokens: number;
  maxTokens: number;
}

export function lmEvalSettings(values: Values): LmEvalSettings {
  return {
    samples: numberOption("samples", values.samples, { int: true, min: 0 }) ?? 200,
    promptTokens: numberOption("prompt-tokens", values["prompt-tokens"], { int: true, min: 1 }) ?? 16,
    maxTokens: numberOption("max-tokens", values["max-tokens"], { int: true, min: 1 }) ?? 64,
  };
}

/** The training options for LMs: as for other models, with a default batch of 16 windows and 3 epochs. */
export function lmTrainingSettings(values: Values): TrainingSettings {
  const s = trainingSettings(values, { epochs: 3 });
  if (values["batch-size"] === undefined) s.fit.batchSize = 16;
  return s;
}

/** The corpus of --data (with --train-size windows kept from the start of the train split). */
export function loadLmData(spec: string, s: Pick<TrainingSettings, "trainSize">, fallback?: { tokenizer?: Tokenizer; ctx?: number }): LmCorpus {
  const corpus = loadLmCorpus(spec, fallback);
  if (s.trainSize !== undefined && s.trainSize < corpus.train.size) corpus.train = corpus.train.take(s.trainSize);
  return corpus;
}

/** A causal LM saved by tsdistill (train, distill). */
export async function loadLmFolder(dir: string, what = "--model"): Promise<{ model: TransformerModel; tokenizer: Tokenizer; metadata: Record<string, unknown> }> {
  const loaded = await loadTransformer(dir);
  const c = loaded.model.config;
  if (c.head !== "lm" || !c.causal) {
    loaded.model.dispose();
    throw new TsdistillError(`${what} ${dir}: the transformer has a ${c.head} head${c.causal ? "" : " and non-causal attention"}; expected a causal LM (head=lm, causal)`);
  }
  return loaded;
}

export const LM_TEACHER_HELP =
  "a tsdistill LM folder (train/distill output), an ONNX causal LM (.onnx or a folder with model.onnx and tokenizer.json; " +
  "input_ids, attention_mask[, position_ids] → logits), or an api-lm config (.yaml/.json: kind: api-lm, baseURL, model, tokenizer; an OpenAI-compatible /v1/completions server)";

export async function openLmTeacherOption(values: Values, required: boolean): Promise<CausalLmTeacher | null> {
  const spec = values.teacher as string | undefined;
  if (spec === undefined) {
    if (required) throw new UsageError(`--teacher is required: ${LM_TEACHER_HELP}`);
    return null;
  }
  return openLmTeacher(spec);
}
