// What a search found, read back from the run store: one entry per candidate (its highest-fidelity finished
// trial), which of them meet the constraints, the best one, and the Pareto fronts (quality vs latency and vs
// parameters). Used by `tsdistill auto` at the end and by `tsdistill runs pareto`.
import type { DataSummary } from "../data/summary.js";
import type { SearchRow, SearchStatus, TrialRow } from "../runs/store.js";
import { paretoFront } from "./pareto.js";

/** accuracy (classification) and r2 (regression) read valAccuracy; agreement reads valAgreement. */
export type Objective = "accuracy" | "agreement" | "r2";

export interface Constraints {
  maxParams?: number;
  maxLatencyMs?: number;
  minAgreement?: number;
}

export interface CandidateSummary {
  trialId: number;
  key: string;
  spec: string;
  method: string;
  temperature: number;
  alpha: number;
  lr: number;
  config: Record<string, unknown>;
  epochs: number;
  params: number | null;
  latencyMs: number | null;
  valAccuracy: number;
  valAgreement: number;
  /** On the test split; filled for the fronts and the best at the end of a search. */
  testAccuracy: number | null;
  testAgreement: number | null;
  /** Batch-1 p50 re-measured at the end, all finalists round-robin in one process (comparable among them). */
  finalLatencyMs: number | null;
  bytesOnDisk: number | null;
  modelDir: string | null;
  meetsConstraints: boolean;
  violation: string | null;
}

export interface SearchSummary {
  /**
   * Regression searches store R² where classification stores accuracy (valAccuracy, testAccuracy) and the R² of the
   * student against the teacher's predictions where it stores agreement (valAgreement, testAgreement).
   */
  task: "classification" | "regression";
  objective: Objective;
  constraints: Constraints;
  counts: { candidates: number; skipped: number; trials: number; finished: number; failed: number; unfinished: number };
  candidates: CandidateSummary[];
  best: CandidateSummary | null;
  /** Trial ids on each front, cheapest first. */
  frontLatency: number[];
  frontParams: number[];
}

export function scoreOf(c: { valAccuracy: number; valAgreement: number }, objective: Objective): number {
  return objective === "agreement" ? c.valAgreement : c.valAccuracy;
}

function violation(t: TrialRow, c: Constraints): string | null {
  if (c.maxParams !== undefined && t.params !== null && t.params > c.maxParams) return `params ${t.params} > ${c.maxParams}`;
  if (c.maxLatencyMs !== undefined && t.latencyMs !== null && t.latencyMs > c.maxLatencyMs) return `latency ${t.latencyMs.toFixed(3)} ms > ${c.maxLatencyMs} ms`;
  if (c.minAgreement !== undefined && (t.valAgreement ?? 0) < c.minAgreement) return `validation agreement ${((t.valAgreement ?? 0) * 100).toFixed(2)}% < ${(c.minAgreement * 100).toFixed(2)}% (regression: R² vs the teacher)`;
  return null;
}

export function summarizeSearch(search: SearchRow, trials: TrialRow[]): SearchSummary {
  const objective = (search.settings.objective as Objective | undefined) ?? "accuracy";
  const constraints = (search.settings.constraints as Constraints | undefined) ?? {};
  const top = new Map<string, TrialRow>();
  for (const t of trials) {
    if (t.status !== "finished") continue;
    const id = `${t.bracket}/${t.candidate}`;
    const cur = top.get(id);
    if (!cur || t.rung > cur.rung) top.set(id, t);
  }
  const candidates: CandidateSummary[] = [...top.values()].map((t) => {
    const v = violation(t, constraints);
    const m = t.metrics;
    const cfg = t.config;
    return {
      trialId: t.id,
      key: t.key,
      spec: t.spec,
      method: String(cfg.method),
      temperature: Number(cfg.temperature),
      alpha: Number(cfg.alpha),
      lr: Number(cfg.lr),
      config: cfg,
      epochs: t.fidelity,
      params: t.params,
      latencyMs: t.latencyMs,
      valAccuracy: t.valAccuracy ?? 0,
      valAgreement: t.valAgreement ?? 0,
      testAccuracy: t.testAccuracy,
      testAgreement: typeof m.testAgreement === "number" ? m.testAgreement : null,
      finalLatencyMs: typeof m.finalLatencyMs === "number" ? m.finalLatencyMs : null,
      bytesOnDisk: typeof m.bytesOnDisk === "number" ? m.bytesOnDisk : null,
      modelDir: t.modelDir,
      meetsConstraints: v === null,
      violation: v,
    };
  });
  const eligible = candidates.filter((c) => c.meetsConstraints);
  // Best: highest validation score; ties go to the faster, then smaller, then earlier candidate.
  const best =
    [...eligible].sort(
      (a, b) => scoreOf(b, objective) - scoreOf(a, objective) || (a.latencyMs ?? Infinity) - (b.latencyMs ?? Infinity) || (a.params ?? Infinity) - (b.params ?? Infinity) || a.trialId - b.trialId,
    )[0] ?? null;
  const front = (cost: (c: CandidateSummary) => number | null) =>
    paretoFront(candidates.map((c) => ({ id: c.trialId, score: scoreOf(c, objective), cost: cost(c) ?? NaN }))).map((p) => p.id);
  return {
    task: search.settings.task === "regression" ? "regression" : "classification",
    objective,
    constraints,
    counts: {
      candidates: new Set(trials.map((t) => `${t.bracket}/${t.candidate}`)).size,
      skipped: trials.filter((t) => t.status === "skipped").length,
      trials: trials.filter((t) => t.status !== "skipped").length,
      finished: trials.filter((t) => t.status === "finished").length,
      failed: trials.filter((t) => t.status === "failed").length,
      unfinished: trials.filter((t) => t.status === "pending" || t.status === "running" || t.status === "interrupted").length,
    },
    candidates,
    best,
    frontLatency: front((c) => c.latencyMs),
    frontParams: front((c) => c.params),
  };
}

const pctOf = (x: number | null) => (x === null ? "–" : `${(x * 100).toFixed(2)}%`);
const ms = (x: number | null) => (x === null ? "–" : `${x.toFixed(3)} ms`);
const int = (x: number | null) => (x === null ? "–" : x.toLocaleString("en-US"));

/** A Markdown table of one front (or any candidates), with the best marked. */
export function formatCandidates(s: SearchSummary, ids: number[]): string {
  const byId = new Map(s.candidates.map((c) => [c.trialId, c]));
  const reg = s.task === "regression";
  const pct = reg ? (x: number | null) => (x === null ? "–" : x.toFixed(4)) : pctOf;
  const head = ["trial", "student", "method", "T", "α", "lr", "epochs", "params", "latency b=1", "re-measured", reg ? "val R²" : "val acc", reg ? "val R² vs teacher" : "val agree", reg ? "test R²" : "test acc", reg ? "test R² vs teacher" : "test agree", "meets"];
  const rows = ids
    .map((id) => byId.get(id)!)
    .filter(Boolean)
    .map((c) => [
      `${c.trialId}${s.best?.trialId === c.trialId ? " *" : ""}`,
      c.spec,
      c.method,
      c.method === "logit-mse" || c.method === "mse" ? "–" : String(c.temperature),
      String(c.alpha),
      c.lr.toExponential(1),
      String(c.epochs),
      int(c.params),
      ms(c.latencyMs),
      ms(c.finalLatencyMs),
      pct(c.valAccuracy),
      pct(c.valAgreement),
      pct(c.testAccuracy),
      pct(c.testAgreement),
      c.meetsConstraints ? "yes" : `no (${c.violation})`,
    ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (i < 3 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(" | ")} |`;
  return [line(head), `|${widths.map((w, i) => (i < 3 ? ":" : "-") + "-".repeat(w) + (i < 3 ? "-" : ":")).join("|")}|`, ...rows.map(line)].join("\n");
}

/** Both fronts as text, for the terminal. */
export function formatFronts(s: SearchSummary): string {
  const what = s.objective === "accuracy" ? "validation accuracy" : s.objective === "r2" ? "validation R²" : s.task === "regression" ? "validation R² vs the teacher" : "validation agreement";
  return [
    `Pareto front: ${what} vs batch-1 latency (${s.frontLatency.length} of ${s.candidates.length} candidates; * = best meeting the constraints)`,
    formatCandidates(s, s.frontLatency),
    "",
    `Pareto front: ${what} vs parameters (${s.frontParams.length} of ${s.candidates.length} candidates)`,
    formatCandidates(s, s.frontParams),
  ].join("\n");
}

/** What `tsdistill auto` returns (finalize.ts fills it, pareto-html.ts renders it). */
export interface AutoResult {
  searchId: number;
  db: string;
  outDir: string;
  status: SearchStatus;
  task: "classification" | "regression";
  /** Regression: testAccuracy holds the teacher's test R². */
  teacher: { spec: string; testAccuracy: number };
  data: string;
  backend: string;
  summary: SearchSummary;
  /** How the data was read and split (data/summary.ts). */
  dataSummary?: DataSummary;
  /** <out>/best, or null when no candidate met the constraints. */
  bestDir: string | null;
  reportPath: string;
  resultsPath: string;
  /** Seconds of this invocation, and of all invocations of this search. */
  seconds: number;
  elapsedSeconds: number;
}
