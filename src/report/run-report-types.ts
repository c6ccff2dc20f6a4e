// The run report's JSON shape (what run-report.ts collects and html.ts renders), below both.
import type { EvaluationSuite } from "../eval/model-eval.js";
import type { EnergyFigures } from "../eval/energy.js";
import type { EpochMetrics } from "../train/reporter.js";
import type { LmReport } from "./lm-report.js";

export type RunKind = "demo" | "distill" | "recipe" | "train" | "unknown";

/** One row of the teacher-vs-student table, as results.json recorded it (null where it did not). */
export interface ResultRow {
  name: string;
  role: "teacher" | "student" | "model";
  spec: string | null;
  accuracy: number | null;
  errors: number | null;
  testSize: number | null;
  params: number | null;
  bytesOnDisk: number | null;
  latencyMsBatch1: number | null;
  agreementWithTeacher: number | null;
  trainSeconds: number | null;
}

export interface ResultsSummary {
  /** Which kind of results.json this was read as. */
  format: "demo" | "distill" | "recipe" | "train" | "unknown";
  rows: ResultRow[];
  /** Demo only: (errors alone − errors distilled) / (errors alone − errors teacher). */
  gapClosed: number | null;
  agreementMeasuredOn: string | null;
}

export interface Phase {
  name: string;
  epochs: EpochMetrics[];
}

export interface RunReport {
  format: "tsdistill-run-report";
  version: 1;
  runDir: string;
  runName: string;
  kind: RunKind;
  /** The data set the models were evaluated on (null without an evaluation). */
  data: string | null;
  /** The backend the models were evaluated on here (null without an evaluation). */
  backend: string | null;
  /** The backend the run trained on, as its config.json records it (null when it does not). */
  trainedOn: string | null;
  config: unknown;
  phases: Phase[];
  results: ResultsSummary | null;
  evaluation: EvaluationSuite | null;
  /** CPU time and energy per 1,000 predictions of the evaluated student and teacher (null without an evaluation). */
  energy?: EnergyFigures | null;
  /** The data-chart names of every chart in the HTML, in page order. */
  charts: string[];
  /** Things the report could not show and why (e.g. a teacher folder that no longer exists). */
  notes: string[];
  /** Language-model runs (text:/sotu data, kind: lm recipes): their rows and the model re-evaluated. */
  lm?: LmReport | null;
}
