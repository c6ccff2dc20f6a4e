// The data summary every command prints (stderr) and records (config.json, --json): how the data was read (for a
// table: each column's role, missing values and how they are filled), the task, and the sizes of the
// train / validation / test splits with how each was made. Nothing about the data is decided silently.
import type { InMemoryDataset, Task } from "./dataset.js";
import type { TabularSummary } from "./tabular.js";

/** Validation split: this share of the training split … */
export const VALIDATION_SHARE = 0.1;
/** … at most this many samples (MNIST's 60,000 → 5,000, as in the published runs). */
export const VALIDATION_CAP = 5000;

/** How the validation split of a command was made. */
export interface ValidationPlan {
  size: number;
  /** In words, e.g. "10 % of the 800 training rows, seed 42". */
  how: string;
}

/**
 * The validation size: `requested` when given (it must leave a training sample), else 10 % of the training split
 * capped at 5,000 and at least 1. `option` names where `requested` came from in errors.
 */
export function planValidation(trainRows: number, requested: number | undefined, seed: number, option = "--validation-size", fail: (m: string) => Error = (m) => new Error(m)): ValidationPlan {
  if (requested !== undefined) {
    if (requested >= trainRows) throw fail(`${option}: expected fewer than the ${trainRows} training samples, got ${requested}`);
    return { size: requested, how: `${option} ${requested}, seed ${seed}` };
  }
  if (trainRows < 2) throw fail(`the data has ${trainRows} training sample${trainRows === 1 ? "" : "s"}; expected at least 2 (one is held out for validation)`);
  const size = Math.min(VALIDATION_CAP, Math.max(1, Math.floor(trainRows * VALIDATION_SHARE)));
  const capped = size === VALIDATION_CAP && trainRows * VALIDATION_SHARE > VALIDATION_CAP;
  return { size, how: `${VALIDATION_SHARE * 100} % of the ${trainRows.toLocaleString("en-US")} training samples${capped ? `, capped at ${VALIDATION_CAP.toLocaleString("en-US")}` : ""}, seed ${seed}` };
}

export interface SplitSummary {
  train: number;
  validation: number;
  validationHow: string;
  /** Set when --train-size kept only N training samples (a seeded sample, stratified by class; seed in trainSampleSeed). */
  trainSize?: number;
  trainSampleSeed?: number;
}

export interface DataSummary {
  data: string;
  task: Task;
  /** Classification: number of classes (and their names when known). */
  classes?: number;
  classNames?: string[];
  /** Regression: the label column and the training targets' mean and std (the student learns (y − mean) / std). */
  target?: { name: string; mean: number; std: number };
  sampleShape: number[];
  /** Samples in the training split before the validation split. */
  trainRows: number;
  test: { size: number; how: string };
  unlabeled: number;
  tabular?: TabularSummary;
  split?: SplitSummary;
  /** Token ids (jsonl: with tokenizer=): the tokenizer, the context and how many texts were cut to it. */
  notices?: string[];
}

/** What summarizeData needs of a loaded data set (sources.ts's LoadedData). */
export interface SummarySource {
  name: string;
  train: InMemoryDataset;
  test: InMemoryDataset;
  unlabeled?: InMemoryDataset;
  preprocess?: { labelNames: string[] };
  testHow: string;
  tabular?: TabularSummary;
  notices?: string[];
}

export function summarizeData(data: SummarySource, split?: SplitSummary): DataSummary {
  const t = data.train;
  const names = data.preprocess?.labelNames;
  return {
    data: data.name,
    task: t.task,
    ...(t.task === "classification" ? { classes: t.numClasses, ...(names && names.length === t.numClasses ? { classNames: names } : {}) } : {}),
    ...(t.target ? { target: { name: t.target.name, mean: t.target.mean, std: t.target.std } } : {}),
    sampleShape: t.sampleShape,
    trainRows: t.size,
    test: { size: data.test.size, how: data.testHow },
    unlabeled: data.unlabeled?.size ?? 0,
    ...(data.tabular ? { tabular: data.tabular } : {}),
    ...(split ? { split } : {}),
    ...(data.notices?.length ? { notices: data.notices } : {}),
  };
}

const n = (v: number) => v.toLocaleString("en-US");
const num = (v: number) => Number(v.toPrecision(6)).toString();
const MAX_COLUMNS_SHOWN = 40;

/** The summary as lines for the terminal (each command prints them on stderr unless --quiet). */
export function formatDataSummary(s: DataSummary): string[] {
  const lines: string[] = [];
  const tab = s.tabular;
  const shape = tab ? `${n(tab.rows)} rows, ${tab.columns.length} columns → ${tab.features} features` : `samples of shape [${s.sampleShape}]`;
  lines.push(`data ${s.data}: ${shape}`);
  if (s.task === "classification") {
    const names = s.classNames && s.classNames.length <= 12 ? `: ${s.classNames.join(", ")}` : "";
    lines.push(`task: classification, ${s.classes} classes${names}${tab ? `; ${tab.taskReason}` : ""}`);
  } else {
    lines.push(`task: regression of "${s.target!.name}"; ${tab?.taskReason ?? "numeric target"}; targets standardised with the training mean ${num(s.target!.mean)} and std ${num(s.target!.std)}`);
  }
  if (tab) {
    lines.push(
      tab.labelChosen === "auto"
        ? `label: "${tab.label}", picked as the only column named label, class, target or y (label=COL or --label COL picks another)`
        : `label: "${tab.label}"`,
    );
    lines.push("columns (missing values counted over every row):");
    const width = Math.min(24, Math.max(...tab.columns.map((c) => c.name.length)));
    for (const c of tab.columns.slice(0, MAX_COLUMNS_SHOWN)) {
      const how = c.how === "forced" ? ` (${c.role}=${c.name})` : "";
      const role =
        c.role === "categorical" ? `categorical, ${c.categories} categories + "(missing)"${how}`
        : c.role === "numeric" ? `numeric${how}`
        : c.role === "dropped" ? "dropped"
        : "label";
      const missing = c.missing === 0 ? "no missing" : `${n(c.missing)} missing${c.fill ? ` → ${c.fill}` : c.role === "label" ? " → unlabeled rows" : ""}`;
      lines.push(`  ${c.name.padEnd(width)}  ${role}; ${missing}`);
    }
    if (tab.columns.length > MAX_COLUMNS_SHOWN) lines.push(`  … ${tab.columns.length - MAX_COLUMNS_SHOWN} more columns (all in --json and the run folder's config.json)`);
  }
  const parts: string[] = [];
  if (s.split) {
    const kept = s.split.trainSize !== undefined ? ` (--train-size ${n(s.split.trainSize)}: a random sample stratified by ${s.task === "regression" ? "labelled/unlabeled" : "class"}, seed ${s.split.trainSampleSeed})` : "";
    parts.push(`train ${n(s.split.train)}${kept}`, `validation ${n(s.split.validation)} (${s.split.validationHow})`);
  } else {
    parts.push(`train ${n(s.trainRows)}`);
  }
  parts.push(`test ${n(s.test.size)} (${s.test.how})`);
  if (s.unlabeled) parts.push(`unlabeled ${n(s.unlabeled)} (rows without a label; only a teacher labels them)`);
  lines.push(`splits: ${parts.join(", ")}`);
  lines.push(...(s.notices ?? []));
  return lines;
}
