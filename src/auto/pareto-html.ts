// The HTML report of a `tsdistill auto` search: constraints and counts, the best student, both Pareto charts and
// tables, every candidate. Self-contained like the run report: inline CSS and SVG, no scripts run.
import { scoreOf, type AutoResult, type CandidateSummary } from "./summary.js";
import { paretoChart, type ScatterPoint } from "../report/pareto-chart.js";
import { esc } from "../report/svg.js";
import { BASE_CSS } from "../report/style.js";

const pctOf = (x: number | null | undefined) => (x == null ? "–" : `${(x * 100).toFixed(2)}%`);
const r2Of = (x: number | null | undefined) => (x == null ? "–" : x.toFixed(4));
/** Regression searches hold R² where classification holds accuracy and agreement (auto/summary.ts). */
const scoreFormat = (r: AutoResult) => (r.summary.task === "regression" ? r2Of : pctOf);
const ms = (x: number | null | undefined) => (x == null ? "–" : `${x.toFixed(3)} ms`);
const int = (x: number | null | undefined) => (x == null ? "–" : Math.round(x).toLocaleString("en-US"));

const CSS = `${BASE_CSS}
th, td { padding: 4px 8px; }
td.l, th.l { text-align: left; }
tr.best td { background: #fef3c7; }
tr.off td { color: #9ca3af; }
`;

function table(r: AutoResult, rows: CandidateSummary[]): string {
  const reg = r.summary.task === "regression";
  const pct = scoreFormat(r);
  const head = ["trial", "student", "method", "T / τ", "α", "lr", "epochs", "params", "latency b=1 (search)", "latency b=1 (re-measured)", reg ? "val R²" : "val accuracy", reg ? "val R² vs teacher" : "val agreement", reg ? "test R²" : "test accuracy", reg ? "test R² vs teacher" : "test agreement", "constraints"];
  const body = rows
    .map((c) => {
      const cls = r.summary.best?.trialId === c.trialId ? "best" : c.meetsConstraints ? "" : "off";
      const cells = [String(c.trialId), c.spec, c.method, c.method === "logit-mse" || c.method === "mse" ? "–" : String(c.temperature), String(c.alpha), c.lr.toExponential(1), String(c.epochs), int(c.params), ms(c.latencyMs), ms(c.finalLatencyMs), pct(c.valAccuracy), pct(c.valAgreement), pct(c.testAccuracy), pct(c.testAgreement), c.meetsConstraints ? "met" : (c.violation ?? "")];
      return `<tr${cls ? ` class="${cls}"` : ""}>${cells.map((x, i) => `<td${i < 3 || i === 14 ? ' class="l"' : ""}>${esc(x)}</td>`).join("")}</tr>`;
    })
    .join("");
  return `<table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join("")}</tr></thead><tbody>${body}</tbody></table>`;
}

export function renderParetoHtml(r: AutoResult): string {
  const s = r.summary;
  const reg = s.task === "regression";
  const pct = scoreFormat(r);
  const metric = reg ? "R²" : "accuracy";
  const objective = s.objective === "agreement" ? (reg ? "validation R² vs the teacher" : "validation agreement") : `validation ${metric}`;
  const byId = new Map(s.candidates.map((c) => [c.trialId, c]));
  const points = (front: number[], x: (c: CandidateSummary) => number | null): ScatterPoint[] =>
    s.candidates.map((c) => ({
      id: c.trialId,
      x: x(c) ?? NaN,
      y: scoreOf(c, s.objective),
      label: `trial ${c.trialId}: ${c.spec} ${c.method}, ${c.epochs} epochs, ${pct(scoreOf(c, s.objective))}`,
      onFront: front.includes(c.trialId),
      meets: c.meetsConstraints,
      best: s.best?.trialId === c.trialId,
    }));
  const fmtY = reg ? (v: number) => `${Number(v.toPrecision(4))}` : (v: number) => `${Number((v * 100).toPrecision(4))}%`;
  const charts = [
    paretoChart("pareto-latency", { title: `${objective} vs batch-1 latency`, xLabel: "latency b=1 p50 (ms, measured before training)", yLabel: objective, points: points(s.frontLatency, (c) => c.latencyMs), limitX: s.constraints.maxLatencyMs, fmtY }),
    paretoChart("pareto-params", { title: `${objective} vs parameters`, xLabel: "parameters", yLabel: objective, points: points(s.frontParams, (c) => c.params), limitX: s.constraints.maxParams, fmtY }),
  ];
  const c = s.constraints;
  const limits = [c.maxParams !== undefined ? `params ≤ ${int(c.maxParams)}` : null, c.maxLatencyMs !== undefined ? `latency b=1 ≤ ${c.maxLatencyMs} ms` : null, c.minAgreement !== undefined ? `validation agreement ≥ ${pct(c.minAgreement)}` : null].filter(Boolean);
  const best = s.best;
  const parts = [
    `<h1>tsdistill auto — search ${r.searchId}</h1>`,
    `<p class="meta">${esc(r.outDir)} · teacher ${esc(r.teacher.spec)} (test ${metric} ${pct(r.teacher.testAccuracy)}) · data ${esc(r.data)} · backend ${esc(r.backend)} · status ${esc(r.status)} · ${r.elapsedSeconds.toFixed(0)} s in all</p>`,
    `<p>Constraints: ${limits.length ? esc(limits.join(", ")) : "none"}. Objective: ${esc(objective)}. Candidates: ${s.counts.candidates} (${s.counts.skipped} skipped before training), trials: ${s.counts.finished} finished, ${s.counts.failed} failed, ${s.counts.unfinished} unfinished.</p>`,
    best
      ? `<p><strong>Best meeting the constraints:</strong> trial ${best.trialId}, ${esc(best.spec)} (${esc(best.method)}), ${pct(best.valAccuracy)} validation ${metric}, ${pct(best.testAccuracy)} test ${metric}, ${int(best.params)} params, ${ms(best.finalLatencyMs ?? best.latencyMs)} batch-1 latency; saved to ${esc(r.bestDir ?? "–")}.</p>`
      : `<p><strong>No finished candidate meets the constraints.</strong></p>`,
    `<p class="meta">Latencies are batch-1 p50 on this machine and backend: "search" was measured on the untrained model before training (and decided the latency constraint), "re-measured" times the finalists round-robin at the end. On a shared CPU they are noisy.</p>`,
    `<div class="charts">${charts.join("\n")}</div>`,
    `<h2>Pareto front: ${esc(objective)} vs latency</h2>`,
    table(r, s.frontLatency.map((id) => byId.get(id)!).filter(Boolean)),
    `<h2>Pareto front: ${esc(objective)} vs parameters</h2>`,
    table(r, s.frontParams.map((id) => byId.get(id)!).filter(Boolean)),
    `<h2>Every candidate (highest rung reached)</h2>`,
    table(r, [...s.candidates].sort((a, b) => scoreOf(b, s.objective) - scoreOf(a, s.objective) || a.trialId - b.trialId)),
  ];
  const data = JSON.stringify(r).replace(/</g, "\\u003c").replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tsdistill auto — search ${r.searchId}</title>
<style>${CSS}</style>
</head>
<body>
<main>
${parts.join("\n")}
</main>
<script type="application/json" id="report-data">${data}</script>
</body>
</html>
`;
}
