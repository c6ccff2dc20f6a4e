import { existsSync } from "node:fs";
import { join } from "node:path";
import { loadLmCorpus } from "../data/lm-corpus.js";
import { evaluateLmSuite, type LmSuiteResult } from "../eval/lm-suite.js";
import { isTransformerFolder, loadTransformer } from "../students/transformer-io.js";
import { openLmTeacher } from "../teachers/open-lm-teacher.js";
import { TsdistillError } from "../util/errors.js";

// The language-model part of a run report: the rows results.json recorded (train/distill on text:/sotu data, or a
// kind: lm recipe) and, when asked, a fresh evaluation of the run's model folder against the run's teacher.

export interface LmReportRow {
  name: string;
  bitsPerByte: number | null;
  perplexity: number | null;
  agreement: number | null;
  /** The teacher's NLL of the student's samples, nats per teacher token. */
  teacherNll: number | null;
  params: number | null;
  msPerToken: number | null;
  steps: number | null;
}

export interface LmReport {
  rows: LmReportRow[];
  /** The run's model re-evaluated (null when not asked or when the run has no model folder). */
  evaluation: (LmSuiteResult & { data: string; teacher: string | null }) | null;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);

function row(name: string, r: Obj): LmReportRow {
  const nll = isObj(r.teacherNll) ? num(r.teacherNll.nllPerToken) : null;
  return { name, bitsPerByte: num(r.bitsPerByte), perplexity: num(r.perplexity), agreement: num(r.agreement), teacherNll: nll, params: num(r.params), msPerToken: num(r.msPerToken), steps: num(r.steps) };
}

/** The LM rows of results.json, or null when it is not an LM run's. */
export function lmRowsOf(results: unknown): LmReportRow[] | null {
  if (!isObj(results)) return null;
  if (results.kind === "lm") return [row(typeof results.method === "string" ? `student (${results.method})` : "model", results)];
  if (Array.isArray(results.rows) && isObj(results.teacher) && typeof results.teacher.onnx === "string") {
    return [...results.rows.filter(isObj).map((r) => row(String(r.name), r)), row("teacher (ONNX)", results.teacher)];
  }
  return null;
}

export async function lmReport(dir: string, config: unknown, results: unknown, opts: { evaluate: boolean; data?: string; notes: string[] }): Promise<LmReport | null> {
  const rows = lmRowsOf(results);
  if (!rows) return null;
  const modelDir = join(dir, "model");
  if (!opts.evaluate || !isTransformerFolder(modelDir)) return { rows, evaluation: null };
  const cfg = isObj(config) ? config : {};
  const data = opts.data ?? (typeof cfg.data === "string" ? cfg.data : null);
  if (!data) {
    opts.notes.push("config.json names no corpus; pass --data to evaluate the LM");
    return { rows, evaluation: null };
  }
  const teacherPath = typeof cfg.teacher === "string" ? cfg.teacher : null;
  const { model, tokenizer } = await loadTransformer(modelDir);
  let teacher = null;
  try {
    if (teacherPath && existsSync(teacherPath)) teacher = await openLmTeacher(teacherPath);
    else if (teacherPath) opts.notes.push(`the teacher named in config.json (${teacherPath}) was not found; the LM is evaluated without it`);
    const corpus = loadLmCorpus(data, { tokenizer, ctx: model.config.ctx });
    const r = await evaluateLmSuite({ model, tokenizer, test: corpus.test, teacher, samples: 50 });
    return { rows, evaluation: { ...r, data, teacher: teacherPath } };
  } catch (err) {
    if (!(err instanceof TsdistillError)) throw err;
    opts.notes.push(`the LM could not be evaluated (${err.message})`);
    return { rows, evaluation: null };
  } finally {
    model.dispose();
    await teacher?.close();
  }
}

const fix = (v: number | null, d = 4) => (v === null ? "–" : v.toFixed(d));
const pct = (v: number | null) => (v === null ? "–" : `${(v * 100).toFixed(2)}%`);

/** The LM section's table rows: header and cells (html.ts renders them). */
export function lmReportTable(lm: LmReport): { head: string[]; rows: string[][] } {
  const head = ["model", "held-out bits/byte", "perplexity", "next-token agreement", "teacher NLL of samples (nats/token)", "params", "ms/token", "steps"];
  const cells = (r: LmReportRow) => [r.name, fix(r.bitsPerByte), fix(r.perplexity, 3), pct(r.agreement), fix(r.teacherNll), r.params === null ? "–" : r.params.toLocaleString("en-US"), fix(r.msPerToken, 3), r.steps === null ? "–" : String(r.steps)];
  const rows = lm.rows.map(cells);
  if (lm.evaluation) {
    const e = lm.evaluation;
    rows.push(cells({ name: `model, evaluated now on ${e.data}`, bitsPerByte: e.bitsPerByte, perplexity: e.perplexity, agreement: e.agreement, teacherNll: e.teacherNll?.nllPerToken ?? null, params: e.params, msPerToken: e.msPerToken, steps: null }));
  }
  return { head, rows };
}
