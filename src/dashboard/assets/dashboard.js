// tsdistill dashboard client (served by `tsdistill dashboard`): hash routes, uPlot charts, live updates by
// server-sent events. Plain browser JavaScript, no build step; everything it loads comes from the same server.
//   #/                 runs and searches (refreshed every 1.5 s); tick runs and press Compare
//   #/run/ID           one run: loss and validation accuracy per epoch, live while it trains
//   #/compare/ID,ID…   several runs on one chart
//   #/search/ID        one search: Pareto plots, trials table, per-epoch curves of its trials
"use strict";
(function () {
  const PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#be185d", "#4b5563", "#65a30d", "#0f766e"];
  const app = document.getElementById("app");
  const selected = new Set();
  let leaving = [];

  function leave() {
    for (const f of leaving) f();
    leaving = [];
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "text") node.textContent = String(v);
      else if (k === "onclick" || k === "onchange") node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  }

  const pct = (v) => (v === null || v === undefined ? "–" : (v * 100).toFixed(2) + "%");
  const num = (v, d) => (v === null || v === undefined || !Number.isFinite(v) ? "–" : Number(v).toFixed(d === undefined ? 4 : d));
  const when = (iso) => (iso ? new Date(iso).toLocaleString() : "–");
  const status = (s) => el("span", { class: "status " + s, "data-status": s, text: s });
  const link = (href, text) => el("a", { href, text });

  async function getJson(url) {
    const r = await fetch(url, { cache: "no-store" });
    if (!r.ok) throw new Error(url + ": HTTP " + r.status);
    return r.json();
  }

  function table(head, rows, attrs) {
    return el("div", { class: "scroll" }, el("table", attrs || {}, el("thead", {}, el("tr", {}, head.map((h) => el("th", { text: h })))), el("tbody", {}, rows)));
  }

  /** Server-sent events for this view; closed when the view is left. */
  function subscribe(url, event, onData) {
    const es = new EventSource(url);
    es.addEventListener(event, (e) => onData(JSON.parse(e.data)));
    leaving.push(() => es.close());
    return es;
  }

  // ---- charts ------------------------------------------------------------------------------------------------

  /**
   * A uPlot line chart in `box` (a .chart element with data-chart=NAME). update(xs, series) redraws it;
   * box gets data-points (values drawn) and data-series (lines) so that tests can count what is shown.
   */
  function lineChart(box, title, yLabel, opts) {
    opts = opts || {};
    let plot = null;
    let names = "";
    const resize = () => plot && plot.setSize({ width: Math.max(320, box.clientWidth - 12), height: 260 });
    window.addEventListener("resize", resize);
    leaving.push(() => {
      window.removeEventListener("resize", resize);
      if (plot) plot.destroy();
    });
    return {
      update(xs, series) {
        const points = series.reduce((n, s) => n + s.values.filter((v) => v !== null && v !== undefined).length, 0);
        box.setAttribute("data-points", String(points));
        box.setAttribute("data-series", String(series.length));
        if (series.length === 0 || xs.length === 0) {
          if (plot) plot.destroy();
          plot = null;
          names = "";
          box.replaceChildren(el("div", { class: "empty", text: title + ": no data yet" }));
          return;
        }
        const data = [xs, ...series.map((s) => s.values)];
        const key = series.map((s) => s.label).join("\u0000");
        if (plot && key === names) return plot.setData(data);
        if (plot) plot.destroy();
        box.replaceChildren();
        names = key;
        plot = new uPlot(
          {
            title,
            width: Math.max(320, box.clientWidth - 12),
            height: 260,
            scales: { x: { time: false, distr: opts.logX ? 3 : 1 } },
            axes: [{ label: opts.xLabel || "epoch" }, { label: yLabel, size: 60 }],
            series: [
              { label: opts.xLabel || "epoch" },
              ...series.map((s, i) => ({
                label: s.label,
                stroke: s.color || PALETTE[i % PALETTE.length],
                width: 2,
                spanGaps: true,
                points: { show: s.pointsOnly || xs.length < 40, size: s.pointsOnly ? 8 : 5 },
                paths: s.pointsOnly ? () => null : undefined,
              })),
            ],
          },
          data,
          box,
        );
      },
    };
  }

  /** x = 1…longest phase; one series per (label, epochs) with loss or validation accuracy. */
  function epochSeries(groups, field) {
    const longest = Math.max(0, ...groups.map((g) => g.epochs.length));
    const xs = Array.from({ length: longest }, (_, i) => i + 1);
    const series = groups
      .filter((g) => g.epochs.some((e) => typeof e[field] === "number"))
      .map((g) => ({ label: g.label, values: xs.map((_, i) => (g.epochs[i] && typeof g.epochs[i][field] === "number" ? g.epochs[i][field] : null)) }));
    return { xs, series };
  }

  function curveBoxes(prefix) {
    const loss = el("div", { class: "chart", "data-chart": prefix + "loss" });
    const acc = el("div", { class: "chart", "data-chart": prefix + "accuracy" });
    return { loss, acc, node: el("div", { class: "charts" }, loss, acc) };
  }

  // ---- views -------------------------------------------------------------------------------------------------

  function home() {
    const runsBody = el("tbody");
    const searchesBody = el("tbody");
    const compare = el("button", { id: "compare", disabled: true, text: "Compare selected runs" });
    compare.addEventListener("click", () => (location.hash = "#/compare/" + [...selected].map(encodeURIComponent).join(",")));
    const note = el("p", { class: "meta" });
    app.replaceChildren(
      el("h1", { text: "Runs" }),
      el("div", { class: "toolbar" }, compare, el("span", { class: "meta", text: "tick two or more runs to draw their curves on one chart" })),
      el("div", { class: "scroll" }, el("table", { id: "runs" }, el("thead", {}, el("tr", {}, ["", "run", "kind", "status", "epochs", "loss", "val accuracy", "updated"].map((h) => el("th", { text: h })))), runsBody)),
      el("h1", { text: "Searches (tsdistill auto)" }),
      el("div", { class: "scroll" }, el("table", { id: "searches" }, el("thead", {}, el("tr", {}, ["id", "folder", "data", "status", "trials", "best (validation)", "updated"].map((h) => el("th", { text: h })))), searchesBody)),
      note,
    );
    const refreshCompare = () => (compare.disabled = selected.size < 2);
    const refresh = async () => {
      try {
        const [runs, searches] = await Promise.all([getJson("/api/runs"), getJson("/api/searches")]);
        runsBody.replaceChildren(
          ...runs.runs.map((r) => {
            const last = r.phases[r.phases.length - 1];
            const box = el("input", { type: "checkbox", "data-run": r.id, checked: selected.has(r.id) });
            box.addEventListener("change", () => {
              if (box.checked) selected.add(r.id);
              else selected.delete(r.id);
              refreshCompare();
            });
            return el(
              "tr",
              { "data-run": r.id },
              el("td", {}, box),
              el("td", { class: "text" }, link("#/run/" + encodeURIComponent(r.id), r.id)),
              el("td", { class: "text", text: r.kind || "–" }),
              el("td", {}, status(r.status)),
              el("td", { text: r.phases.map((p) => p.epochs).join(" + ") || "0" }),
              el("td", { text: num(last && last.lastLoss) }),
              el("td", { text: pct(last && last.lastValAccuracy) }),
              el("td", { text: when(r.updatedAt) }),
            );
          }),
        );
        if (runs.runs.length === 0) runsBody.replaceChildren(el("tr", {}, el("td", { class: "text", colspan: 8, text: "no runs in " + runs.runsDir + " yet" })));
        searchesBody.replaceChildren(
          ...searches.searches.map((s) =>
            el(
              "tr",
              { "data-search": s.id },
              el("td", {}, link("#/search/" + s.id, String(s.id))),
              el("td", { class: "text", text: s.outDir }),
              el("td", { class: "text", text: s.data || "–" }),
              el("td", {}, status(s.status)),
              el("td", { text: s.trials.finished + "/" + s.trials.total + (s.trials.running ? " (" + s.trials.running + " running)" : "") }),
              el("td", { class: "text", text: s.best ? s.best.spec + " " + pct(s.best.valAccuracy) : "–" }),
              el("td", { text: when(s.updatedAt) }),
            ),
          ),
        );
        if (searches.searches.length === 0) searchesBody.replaceChildren(el("tr", {}, el("td", { class: "text", colspan: 7, text: "no searches in " + searches.db })));
        note.textContent = "";
      } catch (err) {
        note.textContent = "could not refresh: " + err.message;
      }
      refreshCompare();
    };
    refresh();
    const timer = setInterval(refresh, 1500);
    leaving.push(() => clearInterval(timer));
  }

  function runView(id) {
    const head = el("p", { class: "meta" });
    const boxes = curveBoxes("");
    const config = el("pre", { id: "config" });
    const results = el("pre", { id: "results" });
    app.replaceChildren(
      el("h1", { text: id }),
      head,
      boxes.node,
      el("h2", { text: "Config" }),
      config,
      el("h2", { text: "Results" }),
      results,
    );
    const loss = lineChart(boxes.loss, "loss", "loss");
    const acc = lineChart(boxes.acc, "validation accuracy", "accuracy");
    let filesShown = "";
    subscribe("/api/runs/" + encodeURIComponent(id) + "/events", "run", async (d) => {
      const groups = Object.entries(d.metrics).map(([phase, epochs]) => ({ label: phase, epochs }));
      const l = epochSeries(groups, "loss");
      const a = epochSeries(groups, "valAccuracy");
      loss.update(l.xs, l.series);
      acc.update(a.xs, a.series);
      head.replaceChildren(status(d.summary.status), " ", d.summary.kind || "", " · updated ", when(d.summary.updatedAt), " · ", link("/report/run/" + encodeURIComponent(id), "report"));
      app.setAttribute("data-run-status", d.summary.status);
      if (filesShown !== d.summary.status) {
        filesShown = d.summary.status;
        const files = await getJson("/api/runs/" + encodeURIComponent(id)).catch(() => null);
        if (files) {
          config.textContent = JSON.stringify(files.config, null, 2);
          results.textContent = files.results === null ? "(none yet)" : JSON.stringify(files.results, null, 2);
        }
      }
    });
  }

  function compareView(ids) {
    const boxes = curveBoxes("compare-");
    const body = el("tbody");
    app.replaceChildren(
      el("h1", { text: "Compare " + ids.length + " runs" }),
      el("p", { class: "meta" }, ...ids.map((id, i) => [i ? ", " : "", link("#/run/" + encodeURIComponent(id), id)])),
      boxes.node,
      el("div", { class: "scroll" }, el("table", { id: "compare-table" }, el("thead", {}, el("tr", {}, ["run", "status", "phase", "epochs", "last loss", "best val accuracy"].map((h) => el("th", { text: h })))), body)),
    );
    const loss = lineChart(boxes.loss, "loss", "loss");
    const acc = lineChart(boxes.acc, "validation accuracy", "accuracy");
    const runs = new Map();
    const redraw = () => {
      const groups = [];
      const rows = [];
      for (const id of ids) {
        const d = runs.get(id);
        if (!d) continue;
        for (const [phase, epochs] of Object.entries(d.metrics)) {
          groups.push({ label: Object.keys(d.metrics).length > 1 ? id + " · " + phase : id, epochs });
          const best = Math.max(...epochs.map((e) => (typeof e.valAccuracy === "number" ? e.valAccuracy : -Infinity)));
          rows.push(el("tr", {}, el("td", { class: "text", text: id }), el("td", {}, status(d.summary.status)), el("td", { class: "text", text: phase }), el("td", { text: epochs.length }), el("td", { text: num(epochs.length ? epochs[epochs.length - 1].loss : null) }), el("td", { text: pct(Number.isFinite(best) ? best : null) })));
        }
      }
      const l = epochSeries(groups, "loss");
      const a = epochSeries(groups, "valAccuracy");
      loss.update(l.xs, l.series);
      acc.update(a.xs, a.series);
      body.replaceChildren(...rows);
    };
    for (const id of ids) subscribe("/api/runs/" + encodeURIComponent(id) + "/events", "run", (d) => (runs.set(id, d), redraw()));
  }

  function searchView(id) {
    const head = el("p", { class: "meta" });
    const latency = el("div", { class: "chart", "data-chart": "pareto-latency" });
    const params = el("div", { class: "chart", "data-chart": "pareto-params" });
    const curves = curveBoxes("trials-");
    const body = el("tbody");
    app.replaceChildren(
      el("h1", { text: "Search " + id }),
      head,
      el("h2", { text: "Pareto fronts (validation score; each candidate at its highest finished rung)" }),
      el("div", { class: "charts" }, latency, params),
      el("h2", { text: "Trials" }),
      el("div", { class: "scroll" }, el("table", { id: "trials" }, el("thead", {}, el("tr", {}, ["trial", "status", "student", "method", "epochs", "params", "latency", "val score", "agreement", "test", "seconds", "note"].map((h) => el("th", { text: h })))), body)),
      el("h2", { text: "Per-epoch curves (running trials first, then the latest)" }),
      curves.node,
    );
    const latChart = lineChart(latency, "validation score vs batch-1 latency", "score", { xLabel: "latency (ms)" });
    const parChart = lineChart(params, "validation score vs parameters", "score", { xLabel: "parameters", logX: true });
    const loss = lineChart(curves.loss, "trial loss", "loss");
    const acc = lineChart(curves.acc, "trial validation accuracy", "accuracy");
    const scatter = (chart, cands, front, xOf) => {
      const pts = cands.filter((c) => Number.isFinite(xOf(c)) && xOf(c) > 0).sort((a, b) => xOf(a) - xOf(b));
      const onFront = new Set(front);
      chart.update(
        pts.map(xOf),
        pts.length ? [
          { label: "candidates", pointsOnly: true, values: pts.map((c) => c.valAccuracy), color: "#9ca3af" },
          { label: "Pareto front", values: pts.map((c) => (onFront.has(c.trialId) ? c.valAccuracy : null)), color: "#dc2626" },
        ] : [],
      );
    };
    subscribe("/api/searches/" + id + "/events", "search", (d) => {
      const s = d.search;
      head.replaceChildren(status(s.status), " ", s.outDir, " · ", s.data || "", " · ", s.trials.finished + "/" + s.trials.total + " trials finished · ", num(s.elapsedSeconds, 0) + " s", ...(d.hasReport ? [" · ", link("/report/search/" + id, "report")] : []));
      app.setAttribute("data-search-status", s.status);
      scatter(latChart, d.summary.candidates, d.summary.frontLatency, (c) => (c.finalLatencyMs !== null ? c.finalLatencyMs : c.latencyMs));
      scatter(parChart, d.summary.candidates, d.summary.frontParams, (c) => c.params);
      body.replaceChildren(
        ...d.trials.map((t) =>
          el(
            "tr",
            { "data-trial": t.key },
            el("td", { class: "text", text: t.key }),
            el("td", {}, status(t.status)),
            el("td", { class: "text", text: t.spec }),
            el("td", { class: "text", text: t.config.method || "" }),
            el("td", { text: t.fidelity }),
            el("td", { text: t.params === null ? "–" : t.params.toLocaleString("en-US") }),
            el("td", { text: t.latencyMs === null ? "–" : num(t.latencyMs, 3) + " ms" }),
            el("td", { text: pct(t.valAccuracy) }),
            el("td", { text: pct(t.valAgreement) }),
            el("td", { text: pct(t.testAccuracy) }),
            el("td", { text: num(t.seconds, 1) }),
            el("td", { class: "text", text: t.reason || "" }),
          ),
        ),
      );
      const withEpochs = d.trials.filter((t) => d.epochs[t.id]);
      const shown = [...withEpochs.filter((t) => t.status === "running"), ...withEpochs.filter((t) => t.status !== "running").reverse()].slice(0, 8);
      const groups = shown.map((t) => ({ label: t.key, epochs: d.epochs[t.id] }));
      const l = epochSeries(groups, "loss");
      const a = epochSeries(groups, "valAccuracy");
      loss.update(l.xs, l.series);
      acc.update(a.xs, a.series);
    });
  }

  function route() {
    leave();
    app.removeAttribute("data-run-status");
    app.removeAttribute("data-search-status");
    const parts = location.hash.replace(/^#\/?/, "").split("/");
    const view = parts[0] || "";
    const arg = parts.slice(1).join("/");
    if (view === "run" && arg) runView(decodeURIComponent(arg));
    else if (view === "compare" && arg) compareView(arg.split(",").filter(Boolean).map(decodeURIComponent));
    else if (view === "search" && /^\d+$/.test(arg)) searchView(Number(arg));
    else home();
    app.setAttribute("data-view", view || "home");
  }

  window.addEventListener("hashchange", route);
  route();
})();
