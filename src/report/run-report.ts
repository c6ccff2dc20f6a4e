// Collects what a run folder holds (config.json, metrics.json, results.json, model folders) and evaluates its
// models into one JSON-ready RunReport, which html.ts renders.
import { isModelFolder } from "../students/any-model.js";
import { loadPreprocess } from "../data/preprocess.js";
import { existsSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, extname, isAbsolute, join, resolve } from "node:path";
import type { EpochMetrics } from "../train/reporter.js";
import { loadImageData } from "../data/sources.js";
import { evaluateModels, type EvaluationSuite, type ModelEntry } from "../eval/model-eval.js";
import { apiCostPer1000, DEFAULT_WATTS_PER_CORE, energyFigures, type EnergyFigures } from "../eval/energy.js";
import { DataError, TsdistillError } from "../util/errors.js";
import type { InMemoryDataset } from "../data/dataset.js";
import { writeFileAtomic } from "../util/files.js";
import { renderReportHtml, reportCharts } from "./html.js";
import { lmReport, lmRowsOf } from "./lm-report.js";
import type { Phase, ResultRow, ResultsSummary, RunKind, RunReport } from "./run-report-types.js";

export type { Phase, ResultRow, ResultsSummary, RunKind, RunReport } from "./run-report-types.js";

export interface RunReportOptions {
  /** Data set to evaluate on (default: the run's own, from config.json, else mnist). */
  data?: string;
  /** Evaluate the run's model folders (default true). */
  evaluate?: boolean;
  /** Measure latency and throughput (default true). */
  timing?: boolean;
  batchSize?: number;
  /** Seconds each timing loop may take (default 2). */
  maxSeconds?: number;
  backend?: string;
  /** For the energy estimate (default DEFAULT_WATTS_PER_CORE). */
  wattsPerCore?: number;
}

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);
const str = (v: unknown): string | null => (typeof v === "string" ? v : null);

function readJson(path: string): unknown | undefined {
  if (!existsSync(path)) return undefined;
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new DataError(path, `could not be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new DataError(path, `is not valid JSON (${(err as Error).message})`);
  }
}

function runKind(config: unknown, results: unknown): RunKind {
  const cmd = isObj(config) ? str(config.command) : null;
  if (cmd === "demo") return "demo";
  if (cmd === "distill") return "distill";
  if (cmd === "distill --config") return "recipe";
  if (cmd === "train") return "train";
  const f = summarizeResults(results).format;
  return f === "unknown" ? "unknown" : f;
}

function modelRow(name: string, role: ResultRow["role"], spec: string | null, m: unknown): ResultRow {
  const o = isObj(m) ? m : {};
  return {
    name,
    role,
    spec: str(o.spec) ?? spec,
    accuracy: num(o.accuracy),
    errors: num(o.errors),
    testSize: num(o.testSize),
    params: num(o.params),
    bytesOnDisk: num(o.bytesOnDisk),
    latencyMsBatch1: num(o.latencyMsBatch1),
    agreementWithTeacher: num(o.agreementWithTeacher),
    trainSeconds: num(o.trainSeconds),
  };
}

const emptyRow = (name: string, role: ResultRow["role"], spec: string | null): ResultRow => modelRow(name, role, spec, {});

/** Reads results.json of any run kind (demo, distill, distill --config, train) into table rows. */
export function summarizeResults(results: unknown): ResultsSummary {
  const none: ResultsSummary = { format: "unknown", rows: [], gapClosed: null, agreementMeasuredOn: null };
  if (!isObj(results)) return none;
  const r = results;
  if (isObj(r.teacher) && isObj(r.studentAlone) && isObj(r.distilled)) {
    const cfg = isObj(r.config) ? r.config : {};
    const tSpec = isObj(cfg.teacher) ? str(cfg.teacher.spec) : null;
    const sSpec = isObj(cfg.student) ? str(cfg.student.spec) : null;
    return {
      format: "demo",
      rows: [modelRow("teacher", "teacher", tSpec, r.teacher), modelRow("student alone", "student", sSpec, r.studentAlone), modelRow("distilled", "student", sSpec, r.distilled)],
      gapClosed: num(r.gapClosed),
      agreementMeasuredOn: "test set",
    };
  }
  if (isObj(r.student)) {
    // distill --config (a recipe): { student: {spec, params, accuracy, errors, agreementWithTeacher}, teacher: {...} | null }
    const testSize = num(r.testSize);
    const rows: ResultRow[] = [];
    if (isObj(r.teacher)) rows.push({ ...modelRow("teacher", "teacher", null, r.teacher), testSize });
    rows.push({ ...modelRow("student", "student", null, r.student), testSize, trainSeconds: num(r.seconds) });
    return { format: "recipe", rows, gapClosed: null, agreementMeasuredOn: str(r.agreementMeasuredOn) };
  }
  if (typeof r.student === "string") {
    const testSize = num(r.testSize);
    const teacher = { ...emptyRow("teacher", "teacher", null), accuracy: num(r.teacherTestAccuracy), params: num(r.teacherParams), testSize };
    const student: ResultRow = {
      ...emptyRow("student", "student", r.student),
      accuracy: num(r.testAccuracy),
      errors: num(r.testErrors),
      testSize,
      params: num(r.params),
      agreementWithTeacher: num(r.agreementWithTeacher),
      trainSeconds: num(r.trainSeconds),
    };
    return { format: "distill", rows: teacher.accuracy !== null || teacher.params !== null ? [teacher, student] : [student], gapClosed: null, agreementMeasuredOn: str(r.agreementMeasuredOn) };
  }
  if (typeof r.model === "string" && "testAccuracy" in r) {
    const row: ResultRow = { ...emptyRow("model", "model", r.model), accuracy: num(r.testAccuracy), errors: num(r.testErrors), testSize: num(r.testSize), params: num(r.params), trainSeconds: num(r.trainSeconds) };
    return { format: "train", rows: [row], gapClosed: null, agreementMeasuredOn: null };
  }
  return none;
}

function readPhases(metrics: unknown, file: string): Phase[] {
  if (metrics === undefined) return [];
  if (!isObj(metrics)) throw new DataError(file, "expected an object {phase: [{epoch, loss, …}, …]}");
  return Object.entries(metrics).map(([name, list]) => {
    if (!Array.isArray(list)) throw new DataError(file, `phase "${name}": expected a list of epochs`);
    return { name, epochs: list.filter(isObj).map((e) => e as unknown as EpochMetrics) };
  });
}

const hasModel = (dir: string) => isModelFolder(dir);

/** Where a path written in config.json points now: as given (cwd), else relative to the run folder or its parent. */
function resolveRecorded(p: string, runDir: string): string | null {
  const candidates = isAbsolute(p) ? [p] : [resolve(p), resolve(runDir, p), resolve(dirname(runDir), p)];
  return candidates.find(hasModel) ?? null;
}

/** The run's model folders, teacher first. */
export function runModels(runDir: string, kind: RunKind, config: unknown, notes: string[]): ModelEntry[] {
  const entries: ModelEntry[] = [];
  const add = (name: string, dir: string, teacher = false) => entries.push({ name, dir, teacher });
  const external = (p: string | null, what: string) => {
    if (!p) return;
    const dir = resolveRecorded(p, runDir);
    if (dir) add("teacher", dir, true);
    else notes.push(`the teacher named in config.json (${what}: ${p}) was not found, so it is not evaluated`);
  };
  if (hasModel(join(runDir, "teacher"))) add("teacher", join(runDir, "teacher"), true);
  else if (kind === "distill" && isObj(config)) external(str(config.teacher), "teacher");
  else if (kind === "recipe" && isObj(config) && isObj(config.recipe) && isObj(config.recipe.teacher) && config.recipe.teacher.kind === "tfjs") external(str(config.recipe.teacher.path), "recipe.teacher.path");
  if (hasModel(join(runDir, "student-alone"))) add("student alone", join(runDir, "student-alone"));
  if (hasModel(join(runDir, "student"))) add(kind === "demo" ? "distilled" : "student", join(runDir, "student"));
  if (hasModel(join(runDir, "model"))) add("model", join(runDir, "model"));
  // A teacher that reads the samples another way (an n-gram MLP teaching a transformer) cannot share the test tensor.
  const teacher = entries.find((e) => e.teacher);
  const other = entries.find((e) => !e.teacher);
  if (teacher && other && JSON.stringify(loadPreprocess(teacher.dir)) !== JSON.stringify(loadPreprocess(other.dir))) {
    notes.push(`the teacher ${teacher.dir} prepares its inputs differently from the student (its own preprocess.json), so it is not in this table; tsdistill eval --model ${other.dir} --teacher ${teacher.dir} compares them`);
    entries.splice(entries.indexOf(teacher), 1);
  }
  return entries;
}

function runData(config: unknown): string {
  if (isObj(config)) {
    if (typeof config.data === "string") return config.data;
    if (isObj(config.recipe) && isObj(config.recipe.data) && typeof config.recipe.data.source === "string") return config.recipe.data.source;
  }
  return "mnist";
}

/** Reads a run folder and evaluates its models (on the current TF.js backend). */
export async function buildRunReport(runDir: string, opts: RunReportOptions = {}): Promise<RunReport> {
  const dir = resolve(runDir);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new DataError(dir, "is not a folder; expected a run folder (config.json, metrics.json, results.json, model folders)");
  const config = readJson(join(dir, "config.json"));
  const metrics = readJson(join(dir, "metrics.json"));
  const results = readJson(join(dir, "results.json"));
  if (config === undefined && metrics === undefined && results === undefined) {
    throw new DataError(dir, "is not a run folder: it has none of config.json, metrics.json, results.json");
  }
  const notes: string[] = [];
  const kind = runKind(config, results);
  const phases = readPhases(metrics, join(dir, "metrics.json"));
  if (metrics === undefined) notes.push("no metrics.json: no training curves");
  const summary = results === undefined ? null : summarizeResults(results);
  if (results === undefined) notes.push("no results.json: no results table");
  else if (summary!.format === "unknown") notes.push("results.json has a layout this report does not know; see the raw config below");

  let evaluation: EvaluationSuite | null = null;
  let data: string | null = null;
  // An LM run's models are causal transformers: lmReport below evaluates them on the run's corpus.
  const lmRun = lmRowsOf(results) !== null;
  const entries = lmRun ? [] : runModels(dir, kind, config, notes);
  if ((opts.evaluate ?? true) && entries.length) {
    const dataName = opts.data ?? runData(config);
    let test: InMemoryDataset | null = null;
    try {
      test = loadImageData(dataName).test;
      data = dataName;
    } catch (err) {
      // The run's own data set may have moved since: report what the folder holds and say why models are missing.
      if (opts.data !== undefined || !(err instanceof TsdistillError)) throw err;
      notes.push(`the run's data set could not be loaded (${err.message}); pass --data to evaluate the models`);
    }
    if (test?.task === "regression") {
      notes.push(`${dataName} is a regression task; the report's model table covers classifiers only (tsdistill eval --model DIR --data … gives RMSE, MAE and R²)`);
      test = null;
    }
    if (test) evaluation = await evaluateModels(entries, test, dataName, { batchSize: opts.batchSize ?? 256, timing: opts.timing ?? true, maxSeconds: opts.maxSeconds ?? 2, latencyRuns: 200, throughputRuns: 30 });
  } else if (!entries.length) {
    notes.push("no model folders (model.json) in the run folder: no evaluation charts");
  }
  const lm = await lmReport(dir, config, results, { evaluate: opts.evaluate ?? true, data: opts.data, notes });
  // An LM run's model folders are transformers, which the classifier evaluation above does not read.
  if (lm) for (let i = notes.length - 1; i >= 0; i--) if (/^no model folders|^the teacher named in config\.json \(teacher:/.test(notes[i])) notes.splice(i, 1);
  const report: RunReport = {
    format: "tsdistill-run-report",
    version: 1,
    runDir: dir,
    runName: basename(dir),
    kind,
    data,
    backend: opts.backend ?? null,
    trainedOn: str(isObj(config) ? config.backend ?? (isObj(config.recipe) ? config.recipe.backend : undefined) : undefined),
    config: config ?? null,
    phases,
    results: summary,
    evaluation,
    energy: energyOf(evaluation, results, opts.wattsPerCore ?? DEFAULT_WATTS_PER_CORE),
    charts: [],
    notes,
    lm,
  };
  report.charts = reportCharts(report);
  return report;
}

/** The JSON file written next to an HTML report: same name, .json. */
export function jsonPathFor(htmlPath: string): string {
  return extname(htmlPath).toLowerCase() === ".html" || extname(htmlPath).toLowerCase() === ".htm" ? htmlPath.slice(0, -extname(htmlPath).length) + ".json" : htmlPath + ".json";
}

/** Builds the report and writes report.html (self-contained) and report.json next to it, each atomically. */
export async function writeRunReport(runDir: string, out?: string, opts: RunReportOptions = {}): Promise<{ html: string; json: string; report: RunReport }> {
  const report = await buildRunReport(runDir, opts);
  const html = resolve(out ?? join(report.runDir, "report.html"));
  const json = jsonPathFor(html);
  if (json === html) throw new DataError(html, "the HTML report and its JSON would have the same name");
  writeFileAtomic(json, JSON.stringify(report, null, 2) + "\n");
  writeFileAtomic(html, renderReportHtml(report));
  return { html, json, report };
}

/** The first student and the teacher of the evaluation; an API teacher's token cost from results.json's teacherStats. */
function energyOf(ev: EvaluationSuite | null, results: unknown, wattsPerCore: number): EnergyFigures | null {
  const student = ev?.models.find((m) => !m.teacher && m.cpu);
  if (!student?.cpu) return null;
  const teacher = ev!.models.find((m) => m.teacher && m.cpu);
  const stats = isObj(results) && isObj(results.teacherStats) ? results.teacherStats : null;
  return energyFigures(student.cpu, teacher?.cpu ?? null, wattsPerCore, apiCostPer1000(stats));
}
