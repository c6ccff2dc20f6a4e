// Renders a RunReport as one self-contained HTML page: inline CSS, inline SVG charts drawn here, the report's
// JSON in an inert <script type="application/json"> block. No scripts run and nothing is fetched.
import { lmReportTable } from "./lm-report.js";
import type { ModelEvaluation } from "../eval/model-eval.js";
import type { ResultRow, RunReport } from "./run-report-types.js";
import { PALETTE, barChart, esc, heatmapChart, lineChart, reliabilityChart, type LineSeries } from "./svg.js";
import { BASE_CSS } from "./style.js";
import { formatEnergy } from "../eval/energy.js";

export interface Chart {
  name: string;
  section: "curves" | "results" | "calibration" | "confusion" | "classes" | "speed";
  svg: string;
}

/** "student alone" → "student-alone": the suffix of per-model chart names. */
export function slug(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "") || "model";
}

const pctFmt = (v: number) => `${Number((v * 100).toPrecision(4))}%`;
const pct = (x: number | null | undefined, digits = 2) => (x == null ? "–" : `${(x * 100).toFixed(digits)}%`);
const int = (x: number | null | undefined) => (x == null ? "–" : Math.round(x).toLocaleString("en-US"));
const size = (b: number | null | undefined) => (b == null ? "–" : b >= 1024 * 1024 ? `${(b / 1024 / 1024).toFixed(2)} MB` : `${(b / 1024).toFixed(1)} KB`);
const msFmt = (x: number | null | undefined) => (x == null ? "–" : x < 1 ? `${x.toFixed(3)} ms` : `${x.toFixed(2)} ms`);
const ratio = (x: number | null | undefined) => (x == null ? "–" : `${x.toFixed(2)}×`);
const secs = (x: number | null | undefined) => (x == null ? "–" : `${x.toFixed(1)} s`);

function colorOf(names: string[], name: string): string {
  return PALETTE[Math.max(0, names.indexOf(name)) % PALETTE.length];
}

/** Every chart of the report, in page order (each an <svg data-chart="name"> with drawn marks). */
export function buildCharts(r: RunReport): Chart[] {
  const charts: Chart[] = [];
  // Chart names stay unique even when two phases or models slug alike ("stage a", "stage-a").
  const used = new Set<string>();
  const uniq = (base: string) => {
    let name = base;
    for (let i = 2; used.has(name); i++) name = `${base}-${i}`;
    used.add(name);
    return name;
  };
  const phaseNames = r.phases.map((p) => p.name);
  const finite = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);
  const accSeries: LineSeries[] = [];
  for (const p of r.phases) {
    const color = colorOf(phaseNames, p.name);
    const loss = p.epochs.filter((e) => finite(e.epoch) && finite(e.loss)).map((e) => [e.epoch, e.loss] as [number, number]);
    const valLoss = p.epochs.filter((e) => finite(e.epoch) && finite(e.valLoss)).map((e) => [e.epoch, e.valLoss!] as [number, number]);
    const valAcc = p.epochs.filter((e) => finite(e.epoch) && finite(e.valAccuracy)).map((e) => [e.epoch, e.valAccuracy!] as [number, number]);
    // One loss chart per phase: phases train on different losses (cross-entropy, distillation sums) and scales.
    const series: LineSeries[] = [];
    if (loss.length) series.push({ name: "training", color, points: loss });
    if (valLoss.length) series.push({ name: "validation", color: "#4b5563", points: valLoss, dashed: true });
    if (series.length) {
      const name = uniq(`loss-${slug(p.name)}`);
      charts.push({ name, section: "curves", svg: lineChart(name, { title: `Loss per epoch: ${p.name}`, xLabel: "epoch", yLabel: "loss", series, width: 420, legendWidth: 100 }) });
    }
    if (valAcc.length) accSeries.push({ name: p.name, color, points: valAcc });
  }
  if (accSeries.length) {
    const ys = accSeries.flatMap((s) => s.points.map((p) => p[1]));
    charts.push({ name: "val-accuracy", section: "curves", svg: lineChart("val-accuracy", { title: "Validation accuracy per epoch", xLabel: "epoch", yLabel: "validation accuracy", series: accSeries, yMin: Math.max(0, Math.min(...ys) - 0.02), yMax: Math.min(1, Math.max(...ys) + 0.02), fmtY: pctFmt }) });
  }

  const rows = (r.results?.rows ?? []).filter((x) => x.accuracy !== null);
  if (rows.length) {
    charts.push({
      name: "test-accuracy",
      section: "results",
      svg: barChart("test-accuracy", { title: "Test accuracy (results.json)", categories: rows.map((x) => x.name), groups: [{ name: "test accuracy", color: PALETTE[0], values: rows.map((x) => x.accuracy) }], yLabel: "accuracy", yMax: 1, fmt: pctFmt, width: 420 }),
    });
  }

  const ev = r.evaluation;
  if (ev) {
    const names = ev.models.map((m) => m.name);
    for (const m of ev.models) {
      const name = uniq(`reliability-${slug(m.name)}`);
      charts.push({ name, section: "calibration", svg: reliabilityChart(name, { title: `${m.name}: ECE ${pct(m.calibration.ece)}`, bins: m.calibration.bins, color: colorOf(names, m.name) }) });
    }
    const labels = Array.from({ length: ev.numClasses }, (_, c) => String(c));
    for (const m of ev.models) {
      const name = uniq(`confusion-${slug(m.name)}`);
      charts.push({ name, section: "confusion", svg: heatmapChart(name, { title: `${m.name}: ${m.errors} errors of ${m.testSize}`, matrix: m.confusionMatrix, labels }) });
    }
    charts.push({
      name: "per-class-accuracy",
      section: "classes",
      svg: barChart("per-class-accuracy", {
        title: "Accuracy per true class",
        categories: labels,
        groups: ev.models.map((m) => ({ name: m.name, color: colorOf(names, m.name), values: m.perClass.accuracy })),
        yLabel: "accuracy",
        xLabel: "class",
        yMax: 1,
        fmt: pctFmt,
        width: 760,
      }),
    });
    const timed = ev.models.filter((m) => m.timing);
    if (timed.length) {
      charts.push({
        name: "latency",
        section: "speed",
        svg: barChart("latency", {
          title: "Latency at batch 1 (lower is better)",
          categories: timed.map((m) => m.name),
          groups: [
            { name: "p50", color: PALETTE[0], values: timed.map((m) => m.timing!.batch1.p50Ms) },
            { name: "p99", color: PALETTE[4], values: timed.map((m) => m.timing!.batch1.p99Ms) },
          ],
          yLabel: "ms",
          fmt: (v) => (v < 1 ? v.toFixed(3) : v.toFixed(2)),
        }),
      });
      charts.push({
        name: "throughput",
        section: "speed",
        svg: barChart("throughput", {
          title: `Throughput at batch ${ev.batchSize} (higher is better)`,
          categories: timed.map((m) => m.name),
          groups: [{ name: "samples/s", color: PALETTE[2], values: timed.map((m) => m.timing!.batchN.samplesPerSecond) }],
          yLabel: "samples / s",
          width: 480,
        }),
      });
    }
  }
  // Page order: the sections as renderReportHtml lays them out (the sort is stable within a section).
  const order: Chart["section"][] = ["results", "curves", "calibration", "confusion", "classes", "speed"];
  return charts.sort((a, b) => order.indexOf(a.section) - order.indexOf(b.section));
}

/** The data-chart names the HTML will hold, in page order. */
export function reportCharts(r: RunReport): string[] {
  return buildCharts(r).map((c) => c.name);
}

function htmlTable(head: string[], body: string[][], cls = ""): string {
  return `<table${cls ? ` class="${cls}"` : ""}><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join("")}</tr></thead><tbody>${body
    .map((row) => `<tr>${row.map((c, i) => (i === 0 ? `<th scope="row">${esc(c)}</th>` : `<td>${esc(c)}</td>`)).join("")}</tr>`)
    .join("")}</tbody></table>`;
}

function resultsTable(rows: ResultRow[]): string {
  return htmlTable(
    ["model", "spec", "test accuracy", "test errors", "params", "size on disk", "latency b=1", "agreement with teacher", "train time"],
    rows.map((x) => [x.name, x.spec ?? "–", pct(x.accuracy), x.errors == null ? "–" : `${x.errors}${x.testSize ? ` / ${x.testSize}` : ""}`, int(x.params), size(x.bytesOnDisk), msFmt(x.latencyMsBatch1), x.role === "teacher" ? "–" : pct(x.agreementWithTeacher), secs(x.trainSeconds)]),
  );
}

function evaluationTable(models: ModelEvaluation[], batchSize: number): string {
  const row = (label: string, fn: (m: ModelEvaluation) => string) => [label, ...models.map(fn)];
  return htmlTable(
    ["", ...models.map((m) => m.name)],
    [
      row("accuracy (top-1)", (m) => pct(m.accuracy)),
      row("top-5 accuracy", (m) => pct(m.top5Accuracy)),
      row("errors", (m) => `${m.errors} / ${m.testSize}`),
      row("loss (cross-entropy)", (m) => m.loss.toFixed(4)),
      row("ECE (15 bins)", (m) => pct(m.calibration.ece)),
      row("fidelity (top-1 agreement with teacher)", (m) => (m.teacher ? "–" : pct(m.agreementWithTeacher))),
      row("KL(teacher ‖ model), nats", (m) => (m.teacher || m.klFromTeacher === null ? "–" : m.klFromTeacher.toFixed(4))),
      row("params", (m) => int(m.params)),
      row("size on disk", (m) => size(m.bytesOnDisk)),
      row("latency b=1 p50", (m) => msFmt(m.timing?.batch1.p50Ms)),
      row("latency b=1 p99", (m) => msFmt(m.timing?.batch1.p99Ms)),
      row(`throughput b=${batchSize}`, (m) => (m.timing ? `${int(m.timing.batchN.samplesPerSecond)} samples/s` : "–")),
      row("CPU time / 1,000 predictions", (m) => (m.cpu ? `${m.cpu.cpuMsPer1000.toFixed(1)} ms` : "–")),
    ],
    "metrics",
  );
}

const CSS = `${BASE_CSS}
tbody th { text-align: left; font-weight: 500; }
svg .legend, svg .value { font-size: 11px; fill: #374151; }
svg .series { fill: none; stroke-width: 2; }
svg .cell-text { font-size: 10px; fill: #111827; }
svg .cell-text.on-dark { fill: #fff; }
.notes li { color: #92400e; }
pre { background: #fff; border: 1px solid #e5e7eb; padding: 10px; overflow: auto; font-size: 12px; }
`;

/** The whole page. */
export function renderReportHtml(r: RunReport): string {
  const charts = buildCharts(r);
  const section = (s: Chart["section"]) => {
    const cs = charts.filter((c) => c.section === s);
    return cs.length ? `<div class="charts">${cs.map((c) => c.svg).join("\n")}</div>` : "";
  };
  const parts: string[] = [];
  parts.push(`<h1>tsdistill run report — ${esc(r.runName)}</h1>`);
  parts.push(`<p class="meta">${esc(r.runDir)} · ${esc(r.kind)} run${r.data ? ` · evaluated on ${esc(r.data)} (${r.evaluation?.testSize ?? 0} test samples)` : ""}${r.trainedOn ? ` · trained on backend ${esc(r.trainedOn)}` : ""}${r.backend ? ` · evaluated on backend ${esc(r.backend)}` : ""}</p>`);
  if (r.notes.length) parts.push(`<ul class="notes">${r.notes.map((n) => `<li>${esc(n)}</li>`).join("")}</ul>`);

  parts.push(`<h2>Teacher vs student (results.json)</h2>`);
  if (r.results && r.results.rows.length) {
    parts.push(resultsTable(r.results.rows));
    if (r.results.format === "demo") parts.push(`<p>Gap closed (student alone → teacher): ${r.results.gapClosed === null ? "n/a (the teacher is not better than the student alone)" : pct(r.results.gapClosed, 1)}</p>`);
    if (r.results.agreementMeasuredOn) parts.push(`<p class="meta">Agreement measured on the ${esc(r.results.agreementMeasuredOn)}.</p>`);
  } else parts.push(`<p>No results.json results to show.</p>`);
  parts.push(section("results"));
  if (r.lm) {
    const t = lmReportTable(r.lm);
    parts.push(`<h2>Language model (held-out documents)</h2>`, htmlTable(t.head, t.rows));
  }

  if (r.evaluation) {
    const ev = r.evaluation;
    parts.push(`<h2>Evaluation on ${esc(ev.data)} (${ev.testSize} test samples)</h2>`);
    parts.push(evaluationTable(ev.models, ev.batchSize));
    if (ev.comparisons.length) {
      parts.push(
        htmlTable(
          ["student", "fidelity", "KL(teacher ‖ student)", "param ratio", "compression (bytes)", "speed-up (p50, b=1)", `throughput ratio (b=${ev.batchSize})`],
          ev.comparisons.map((c) => [c.student, pct(c.fidelity), `${c.klTeacherStudent.toFixed(4)} nats`, ratio(c.paramRatio), ratio(c.compressionRatio), ratio(c.speedUp), ratio(c.throughputRatio)]),
        ),
      );
    }
  }

  if (r.energy) parts.push(`<h2>Energy and cost</h2><p>${esc(formatEnergy(r.energy))}</p><p class="meta">Process CPU time (user + system, all threads) of one pass over the test split after a warm-up batch.</p>`);

  parts.push(`<h2>Training curves (metrics.json)</h2>`);
  if (r.phases.length) {
    parts.push(
      htmlTable(
        ["phase", "epochs", "final loss", "best validation accuracy", "final validation accuracy", "time"],
        r.phases.map((p) => {
          const last = p.epochs[p.epochs.length - 1];
          const accs = p.epochs.map((e) => e.valAccuracy).filter((v): v is number => typeof v === "number");
          return [p.name, String(p.epochs.length), last && Number.isFinite(last.loss) ? last.loss.toFixed(4) : "–", accs.length ? pct(Math.max(...accs)) : "–", pct(last?.valAccuracy), secs(p.epochs.reduce((s, e) => s + (Number.isFinite(e.seconds) ? e.seconds : 0), 0))];
        }),
      ),
    );
    parts.push(section("curves"));
  } else parts.push(`<p>No per-epoch metrics.</p>`);

  if (r.evaluation) {
    parts.push(`<h2>Calibration: reliability diagrams</h2><p class="meta">Bars: accuracy per confidence bin (15 equal-width bins; empty bins are not drawn). Black tick: the bin's mean confidence; amber: over-confidence (accuracy below confidence). Dashed: perfect calibration.</p>`);
    parts.push(section("calibration"));
    parts.push(`<h2>Confusion matrices</h2><p class="meta">Blue: correct (share of the true class); red: confusions.</p>`);
    parts.push(section("confusion"));
    parts.push(`<h2>Per-class accuracy</h2>`);
    parts.push(section("classes"));
    if (charts.some((c) => c.section === "speed")) {
      parts.push(`<h2>Speed (measured in one process, round-robin)</h2>`);
      parts.push(section("speed"));
    }
  }
  parts.push(`<h2>Configuration</h2><details><summary>config.json</summary><pre>${esc(JSON.stringify(r.config, null, 2))}</pre></details>`);
  // The report's data, inert (not executed): the same object as report.json.
  const data = JSON.stringify(r).replace(/</g, "\\u003c").replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tsdistill report — ${esc(r.runName)}</title>
<style>${CSS}</style>
</head>
<body>
<main>
${parts.filter(Boolean).join("\n")}
</main>
<script type="application/json" id="report-data">${data}</script>
</body>
</html>
`;
}
