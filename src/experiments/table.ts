import type { ExperimentResult, ResultRow } from "./run-experiment.js";

const pct = (v: number) => `${(v * 100).toFixed(2)}%`;
const kb = (b: number) => (b >= 1024 * 1024 ? `${(b / 1024 / 1024).toFixed(1)} MB` : `${(b / 1024).toFixed(0)} KB`);

/** A markdown table of an experiment's rows (teacher, students alone, distilled variants). */
export function experimentTable(r: ExperimentResult): string {
  const classes = Object.keys(r.rows[0]?.classErrors ?? {});
  const biased = r.rows.some((x) => x.biasAdjusted);
  const auc = r.rows.some((x) => x.auc !== undefined);
  const ref = r.reference;
  const head = [
    "model",
    "spec",
    `test errors (of ${r.testSize})`,
    ...(ref ? [`paper: ${ref.metric}`] : []),
    "accuracy",
    ...(auc ? ["ROC AUC"] : []),
    ...classes.map((c) => `errors on class ${c}`),
    ...(biased ? ["after bias fix: errors (on the class)", "bias δ"] : []),
    "agreement with teacher",
    "gap closed",
    "params",
    "size",
    "latency (batch 1, p50)",
    "speed-up",
  ];
  const line = (x: ResultRow) => [
    x.name,
    `\`${x.spec}\``,
    String(x.errors),
    ...(ref ? [ref.rows[x.name] !== undefined ? String(ref.rows[x.name]) : ""] : []),
    pct(x.accuracy),
    ...(auc ? [x.auc !== undefined ? x.auc.toFixed(4) : ""] : []),
    ...classes.map((c) => `${x.classErrors[c].errors} / ${x.classErrors[c].total}`),
    ...(biased ? (x.biasAdjusted ? [`${x.biasAdjusted.errors} (${x.biasAdjusted.classErrors.errors} / ${x.biasAdjusted.classErrors.total})`, x.biasAdjusted.delta.toFixed(2)] : ["", ""]) : []),
    x.role === "teacher" ? "—" : pct(x.agreement),
    x.role === "distilled" && r.gapClosed[x.name] !== null && r.gapClosed[x.name] !== undefined ? pct(r.gapClosed[x.name]!) : "",
    x.params.toLocaleString("en-US"),
    kb(x.bytes),
    `${x.latencyMs.toFixed(3)} ms`,
    x.role === "teacher" ? "1×" : `${x.speedup.toFixed(1)}×`,
  ];
  const rows = [head, head.map(() => "---"), ...r.rows.map(line)];
  return rows.map((cells) => `| ${cells.join(" | ")} |`).join("\n");
}

/** A markdown section: heading, how it was run, the table, the reference's source. */
export function experimentSection(r: ExperimentResult): string {
  const cmd = `npx tsdistill run ${r.file}${r.quick ? " --quick" : ""}${r.backend !== "auto" ? ` --backend ${r.backend}` : ""}`;
  const out = [
    `## ${r.name}${r.quick ? " (quick budget)" : ""}`,
    "",
    `Command: \`${cmd}\` — ${r.date.slice(0, 10)}, backend ${r.backend}, seed ${r.seed}, ${formatSeconds(r.seconds)}.`,
    "",
    experimentTable(r),
  ];
  if (r.reference) out.push("", `Paper column: ${r.reference.source}.`);
  return out.join("\n");
}

export function formatSeconds(s: number): string {
  const m = Math.floor(s / 60);
  return m ? `${m} min ${Math.round(s - 60 * m)} s` : `${s.toFixed(1)} s`;
}
