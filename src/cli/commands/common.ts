import { existsSync, readFileSync } from "node:fs";
import { BACKENDS, useBackend, type ResolvedBackend } from "../../engine/backend.js";
import { choiceOption, numberOption, type OptionSpec } from "../args.js";
import type { FitOptions } from "../../train/fit.js";
import type { OptimizerConfig } from "../../train/optimizers.js";
import type { ScheduleConfig } from "../../util/schedules.js";
import { ProgressReporter } from "../progress.js";
import { BUDGET_HELP, DEFAULT_BATCH_SIZE, DEFAULT_EPOCHS, defaultBudget } from "../../train/budget.js";

export const GLOBAL_OPTIONS: OptionSpec = {
  backend: { type: "string" },
  quiet: { type: "boolean", short: "q" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
};

/** --data and the two options that fill its label= and task= (every command that takes --data). */
export const DATA_OPTIONS: OptionSpec = {
  data: { type: "string" },
  label: { type: "string" },
  task: { type: "string" },
};

/** The --data line of a command's help (what its default is), followed by --label and --task; end the help with DATA_SPECS_HELP. */
export function dataOptionHelp(what: string): string {
  return `  --data SPEC            ${what}; one of the data specs listed below\n${DATA_OPTIONS_HELP}`;
}

export const DATA_OPTIONS_HELP = `  --label COL            label column of csv:/arff: data (fills the spec's label=; default: the only column named
                         label, class, target or y; else an error lists the columns)
  --task classification|regression   csv:/arff: override the task (default: regression for a numeric label with
                         more than 20 distinct values that are not integer class codes; docs/TABULAR.md)`;

export const TRAINING_OPTIONS: OptionSpec = {
  ...DATA_OPTIONS,
  epochs: { type: "string" },
  "batch-size": { type: "string" },
  optimizer: { type: "string" },
  lr: { type: "string" },
  momentum: { type: "string" },
  schedule: { type: "string" },
  warmup: { type: "string" },
  "step-every": { type: "string" },
  gamma: { type: "string" },
  "train-size": { type: "string" },
  "validation-size": { type: "string" },
  seed: { type: "string" },
  out: { type: "string" },
  resume: { type: "boolean" },
};

export const GLOBAL_HELP = `  --backend auto|wasm|cpu|native   TF.js backend (default auto: native when its addon loads, else wasm; native:
                         BLAS kernels, see tsdistill doctor; cpu: slow reference)
  --quiet, -q            no progress output
  --json                 print the result as one JSON object on stdout`;

export const TRAINING_HELP = `${dataOptionHelp("data set (default mnist)")}
  --epochs N             training epochs (${BUDGET_HELP.epochs})
  --batch-size N         mini-batch size (${BUDGET_HELP.batchSize})
  --optimizer adam|sgd   optimiser (default adam)
  --lr X                 learning rate (default 0.001 for adam, 0.05 for sgd)
  --momentum X           SGD momentum (default 0.9)
  --schedule cosine|step|constant   learning-rate schedule (default cosine)
  --warmup N             linear warm-up epochs (default 0)
  --step-every N         step schedule: decay every N epochs (default 3)
  --gamma X              step schedule: decay factor (default 0.1)
  --train-size N         use only the first N training samples (after the validation split)
  --validation-size N    samples held out of the training split for validation and keep-best (default 10 % of it,
                         at most 5000)
  --seed N               random seed (default 42): same seed + backend → same numbers
  --out DIR              run folder (default runs/<time>-<command>)
  --resume               continue a killed run from its last finished epoch (same options): the one at --out DIR,
                         else the newest in runs/ of this command with these options; it ends as an uninterrupted
                         run would. Any other run removes the folders of killed runs next to its own.`;

export type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

export async function selectBackend(values: Values): Promise<ResolvedBackend> {
  const name = choiceOption("backend", values.backend, BACKENDS) ?? "auto";
  return useBackend(name);
}

export function reporterFrom(values: Values): ProgressReporter {
  return new ProgressReporter({ quiet: Boolean(values.quiet) });
}

export interface TrainingSettings {
  data: string;
  trainSize?: number;
  /** Default: 10 % of the training split, at most 5,000 (data/summary.ts). */
  validationSize?: number;
  seed: number;
  fit: Omit<FitOptions, "validation" | "reporter" | "label">;
  /** --epochs / --batch-size as given (sizedFit fills the others from the training set's size). */
  given: { epochs?: number; batchSize?: number };
}

/** Reads the shared training options, with one clear error per bad value. */
export function trainingSettings(values: Values, defaults: { epochs?: number } = {}): TrainingSettings {
  const optimizerKind = choiceOption("optimizer", values.optimizer, ["adam", "sgd"] as const) ?? "adam";
  const lr = numberOption("lr", values.lr, { min: 0, exclusiveMin: true });
  const optimizer: OptimizerConfig =
    optimizerKind === "adam"
      ? { kind: "adam", lr: lr ?? 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-7, weightDecay: 0 }
      : { kind: "sgd", lr: lr ?? 0.05, momentum: numberOption("momentum", values.momentum, { min: 0, max: 1 }) ?? 0.9, nesterov: false, weightDecay: 0 };
  const scheduleKind = choiceOption("schedule", values.schedule, ["cosine", "step", "constant"] as const) ?? "cosine";
  const warmupEpochs = numberOption("warmup", values.warmup, { min: 0 }) ?? 0;
  const schedule: ScheduleConfig =
    scheduleKind === "cosine" ? { kind: "cosine", minFactor: 0, warmupEpochs }
    : scheduleKind === "step" ? { kind: "step", everyEpochs: numberOption("step-every", values["step-every"], { min: 0, exclusiveMin: true }) ?? 3, gamma: numberOption("gamma", values.gamma, { min: 0, max: 1, exclusiveMin: true }) ?? 0.1, warmupEpochs }
    : { kind: "constant", warmupEpochs };
  const seed = numberOption("seed", values.seed, { int: true, min: 0 }) ?? 42;
  const given = { epochs: numberOption("epochs", values.epochs, { int: true, min: 1 }) ?? defaults.epochs, batchSize: numberOption("batch-size", values["batch-size"], { int: true, min: 1 }) };
  return {
    given,
    data: dataSpec(values),
    trainSize: numberOption("train-size", values["train-size"], { int: true, min: 1 }),
    validationSize: numberOption("validation-size", values["validation-size"], { int: true, min: 1 }),
    seed,
    fit: {
      epochs: given.epochs ?? DEFAULT_EPOCHS,
      batchSize: given.batchSize ?? DEFAULT_BATCH_SIZE,
      optimizer,
      schedule,
      seed,
    },
  };
}

import type { TrainingReporter, EpochMetrics } from "../../train/reporter.js";
import { RunFolder } from "../../run/run-folder.js";
import { splitLoaded, withDataOptions, type LoadedData, type Splits } from "../../data/sources.js";
import { formatDataSummary, type DataSummary } from "../../data/summary.js";

/**
 * Forwards to the progress output and keeps metrics.json in the run folder up to date after every epoch; a
 * resumed run starts from the metrics the interrupted one recorded, each training's from its checkpoint.
 */
export function recordingReporter(run: RunFolder, progress: TrainingReporter & { info?(m: string): void }): TrainingReporter & { metrics: Record<string, EpochMetrics[]> } {
  const saved = run.path("metrics.json");
  const metrics: Record<string, EpochMetrics[]> = run.resumed && existsSync(saved) ? (JSON.parse(readFileSync(saved, "utf8")) as Record<string, EpochMetrics[]>) : {};
  return {
    metrics,
    onBatch: (event) => progress.onBatch?.(event),
    onEpoch: (event) => {
      (metrics[event.label] ??= []).push(event.metrics);
      run.writeJson("metrics.json", metrics);
      progress.onEpoch?.(event);
    },
    onPhaseEnd: (label) => progress.onPhaseEnd?.(label),
    onRestore: (label, history, epochs) => {
      metrics[label] = history.slice();
      run.writeJson("metrics.json", metrics);
      progress.info?.(`${label}: continuing after epoch ${history.length}/${epochs} from the checkpoint`);
    },
  };
}

/** The --data value (default mnist) with --label and --task filled in as its label= and task= options. */
export function dataSpec(values: Values, fallback = "mnist"): string {
  const task = choiceOption("task", values.task, ["classification", "regression"] as const);
  return withDataOptions((values.data as string | undefined) ?? fallback, { label: values.label as string | undefined, task });
}

/** Prints the data summary (formatDataSummary) or notices on stderr (not with --quiet). */
export function announceData(values: Values, lines: string[] | DataSummary): void {
  if (!Array.isArray(lines)) lines = formatDataSummary(lines);
  if (!values.quiet && lines.length > 0) process.stderr.write(lines.join("\n") + "\n");
}

/**
 * Holds out the validation split (seeded; default 10 % of the training split, at most 5,000) and keeps the first
 * --train-size training samples. Print `summary` with announceData once the run's other checks have passed.
 */
export function splitTrainValidation(data: LoadedData, s: TrainingSettings): Splits {
  return splitLoaded(data, { validationSize: s.validationSize, trainSize: s.trainSize, seed: s.seed });
}

/** The fit options with the epochs and batch size not given filled in for a training set of n samples (train/budget.ts). */
export function sizedFit(s: TrainingSettings, n: number): TrainingSettings["fit"] {
  return { ...s.fit, ...defaultBudget(n, s.given) };
}

/** The run folder of a command: new, or with --resume the interrupted one (at --out, else the newest in runs/) whose config matches. */
export function openRunFolder(values: Values, kind: string, config: Record<string, unknown>, progress: { info(m: string): void }, opts: { out?: string; ignoreOnResume?: string[] } = {}): RunFolder {
  return RunFolder.open({ kind, out: (values.out as string | undefined) ?? opts.out, resume: Boolean(values.resume), config, ignoreOnResume: opts.ignoreOnResume, info: (m) => progress.info(m) });
}

export function printResult(values: Values, json: unknown, human: string): void {
  process.stdout.write(values.json ? JSON.stringify(json) + "\n" : human + "\n");
}

/** A number with 5 significant digits (RMSE and MAE in the target's units). */
export function fmt(v: number): string {
  return Number(v.toPrecision(5)).toString();
}
