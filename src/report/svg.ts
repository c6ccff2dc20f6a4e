// Self-drawn inline SVG charts for the run report: no scripts, no external resources. Every chart is one
// <svg data-chart="NAME"> with at least one drawn mark (path, rect, circle or line).

export const PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#be185d", "#4b5563"];

/** Escapes text for HTML/SVG content and attribute values. */
export function esc(s: unknown): string {
  return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

const f = (x: number) => (Number.isFinite(x) ? Number(x.toFixed(2)).toString() : "0");

/** About `count` round tick values (1, 2 or 5 × 10^k apart) covering [min, max]. */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!(Number.isFinite(min) && Number.isFinite(max))) return [0, 1];
  if (max - min < 1e-12) {
    const pad = Math.abs(min) > 1e-12 ? Math.abs(min) * 0.1 : 1;
    min -= pad;
    max += pad;
  }
  const raw = (max - min) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const lo = Math.floor(min / step + 1e-9) * step;
  const hi = Math.ceil(max / step - 1e-9) * step;
  const ticks: number[] = [];
  for (let v = lo; v <= hi + step * 1e-6; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

function tickLabel(v: number): string {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e6) return `${Number((v / 1e6).toPrecision(3))}M`;
  if (a >= 1e4) return `${Number((v / 1e3).toPrecision(3))}k`;
  return Number(v.toPrecision(4)).toString();
}

interface Frame {
  width: number;
  height: number;
  left: number;
  right: number;
  top: number;
  bottom: number;
}

function open(name: string, title: string, fr: Frame): string {
  return `<svg data-chart="${esc(name)}" class="chart" viewBox="0 0 ${fr.width} ${fr.height}" width="${fr.width}" height="${fr.height}" role="img" aria-label="${esc(title)}"><title>${esc(title)}</title>` +
    `<text class="chart-title" x="${fr.left}" y="16">${esc(title)}</text>`;
}

/** Axes with grid lines and tick labels for linear scales; returns the SVG and the mapping functions. */
function axes(fr: Frame, xTicks: number[], yTicks: number[], xLabel: string, yLabel: string, fmtX: ((v: number) => string) | null = tickLabel, fmtY = tickLabel) {
  const x0 = fr.left;
  const x1 = fr.width - fr.right;
  const y0 = fr.height - fr.bottom;
  const y1 = fr.top;
  const xmin = xTicks[0];
  const xmax = xTicks[xTicks.length - 1];
  const ymin = yTicks[0];
  const ymax = yTicks[yTicks.length - 1];
  const sx = (v: number) => x0 + ((v - xmin) / (xmax - xmin || 1)) * (x1 - x0);
  const sy = (v: number) => y0 - ((v - ymin) / (ymax - ymin || 1)) * (y0 - y1);
  let s = "";
  for (const t of yTicks) s += `<line class="grid" x1="${f(x0)}" y1="${f(sy(t))}" x2="${f(x1)}" y2="${f(sy(t))}"/><text class="tick" x="${f(x0 - 6)}" y="${f(sy(t) + 4)}" text-anchor="end">${esc(fmtY(t))}</text>`;
  if (fmtX) for (const t of xTicks) s += `<line class="tickmark" x1="${f(sx(t))}" y1="${f(y0)}" x2="${f(sx(t))}" y2="${f(y0 + 4)}"/><text class="tick" x="${f(sx(t))}" y="${f(y0 + 16)}" text-anchor="middle">${esc(fmtX(t))}</text>`;
  s += `<line class="axis" x1="${f(x0)}" y1="${f(y0)}" x2="${f(x1)}" y2="${f(y0)}"/><line class="axis" x1="${f(x0)}" y1="${f(y0)}" x2="${f(x0)}" y2="${f(y1)}"/>`;
  s += `<text class="label" x="${f((x0 + x1) / 2)}" y="${f(fr.height - 4)}" text-anchor="middle">${esc(xLabel)}</text>`;
  s += `<text class="label" transform="translate(12 ${f((y0 + y1) / 2)}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`;
  return { svg: s, sx, sy, x0, x1, y0, y1 };
}

function legend(items: { name: string; color: string; dashed?: boolean }[], x: number, y: number): string {
  return items
    .map((it, i) => {
      const yy = y + i * 16;
      return `<line x1="${f(x)}" y1="${f(yy)}" x2="${f(x + 18)}" y2="${f(yy)}" stroke="${it.color}" stroke-width="2.5"${it.dashed ? ' stroke-dasharray="5 3"' : ""}/>` +
        `<text class="legend" x="${f(x + 24)}" y="${f(yy + 4)}">${esc(it.name)}</text>`;
    })
    .join("");
}

export interface LineSeries {
  name: string;
  color: string;
  points: [number, number][];
  dashed?: boolean;
}

/** Lines with a dot per point (a single-point series still draws its dot). */
export function lineChart(name: string, o: { title: string; xLabel: string; yLabel: string; series: LineSeries[]; yMin?: number; yMax?: number; fmtY?: (v: number) => string; width?: number; legendWidth?: number }): string {
  const fr: Frame = { width: o.width ?? 640, height: 300, left: 58, right: o.legendWidth ?? 170, top: 28, bottom: 40 };
  const pts = o.series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const xs = pts.map((p) => p[0]);
  const ys = pts.map((p) => p[1]);
  const xTicks = niceTicks(Math.min(...xs, 1), Math.max(...xs, 1), Math.min(8, Math.max(1, Math.max(...xs, 1) - Math.min(...xs, 1))));
  const yTicks = niceTicks(o.yMin ?? Math.min(...ys), o.yMax ?? Math.max(...ys), 5);
  const ax = axes(fr, xTicks, yTicks, o.xLabel, o.yLabel, tickLabel, o.fmtY);
  let s = open(name, o.title, fr) + ax.svg;
  for (const se of o.series) {
    const p = se.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    if (p.length === 0) continue;
    const d = p.map(([x, y], i) => `${i ? "L" : "M"}${f(ax.sx(x))} ${f(ax.sy(y))}`).join(" ");
    s += `<path class="series" d="${d}" stroke="${se.color}"${se.dashed ? ' stroke-dasharray="5 3"' : ""}/>`;
    for (const [x, y] of p) s += `<circle cx="${f(ax.sx(x))}" cy="${f(ax.sy(y))}" r="3" fill="${se.color}"><title>${esc(`${se.name}, epoch ${x}: ${Number(y.toPrecision(5))}`)}</title></circle>`;
  }
  s += legend(o.series, fr.width - fr.right + 12, fr.top + 8);
  return s + "</svg>";
}

export interface BarGroup {
  name: string;
  color: string;
  values: (number | null)[];
}

/** Vertical grouped bars: one cluster per category, one bar per group; values printed above short clusters. */
export function barChart(name: string, o: { title: string; categories: string[]; groups: BarGroup[]; yLabel: string; xLabel?: string; yMax?: number; fmt?: (v: number) => string; width?: number }): string {
  const fr: Frame = { width: o.width ?? 640, height: 300, left: 64, right: o.groups.length > 1 ? 150 : 20, top: 28, bottom: 40 };
  const vals = o.groups.flatMap((g) => g.values).filter((v): v is number => v !== null && Number.isFinite(v));
  const yTicks = niceTicks(0, o.yMax ?? Math.max(...vals, 0), 5);
  const fmt = o.fmt ?? tickLabel;
  const x0 = fr.left;
  const x1 = fr.width - fr.right;
  const n = Math.max(1, o.categories.length);
  // A categorical x axis: `axes` draws no x ticks; the category labels go under each cluster below.
  const ax = axes(fr, [0, 1], yTicks, o.xLabel ?? "", o.yLabel, null, fmt);
  let s = open(name, o.title, fr) + ax.svg;
  const slot = (x1 - x0) / n;
  const barW = Math.max(2, (slot * 0.8) / Math.max(1, o.groups.length));
  const showValues = o.categories.length * o.groups.length <= 12;
  o.categories.forEach((cat, ci) => {
    const cx = x0 + slot * (ci + 0.5);
    s += `<text class="tick" x="${f(cx)}" y="${f(ax.y0 + 16)}" text-anchor="middle">${esc(cat)}</text>`;
    o.groups.forEach((g, gi) => {
      const v = g.values[ci];
      if (v === null || !Number.isFinite(v)) return;
      const bx = cx - (barW * o.groups.length) / 2 + gi * barW;
      const top = ax.sy(Math.max(v, 0));
      const h = Math.max(1, ax.y0 - top);
      s += `<rect class="bar" x="${f(bx)}" y="${f(ax.y0 - h)}" width="${f(barW * 0.92)}" height="${f(h)}" fill="${g.color}"><title>${esc(`${cat}, ${g.name}: ${fmt(v)}`)}</title></rect>`;
      if (showValues) s += `<text class="value" x="${f(bx + barW * 0.46)}" y="${f(ax.y0 - h - 4)}" text-anchor="middle">${esc(fmt(v))}</text>`;
    });
  });
  if (o.groups.length > 1) s += legend(o.groups, fr.width - fr.right + 12, fr.top + 8);
  return s + "</svg>";
}

export interface ReliabilityBinLike {
  lower: number;
  upper: number;
  count: number;
  meanConfidence: number | null;
  accuracy: number | null;
}

/** Reliability diagram: accuracy per confidence bin (bars), the gap to the bin's mean confidence, the diagonal. */
export function reliabilityChart(name: string, o: { title: string; bins: ReliabilityBinLike[]; color: string }): string {
  const fr: Frame = { width: 340, height: 340, left: 50, right: 14, top: 28, bottom: 40 };
  const ticks = [0, 0.2, 0.4, 0.6, 0.8, 1];
  const ax = axes(fr, ticks, ticks, "confidence (top-1 probability)", "accuracy", tickLabel, tickLabel);
  let s = open(name, o.title, fr) + ax.svg;
  for (const b of o.bins) {
    if (!b.count || b.accuracy === null || b.meanConfidence === null) continue;
    const x = ax.sx(b.lower);
    const w = Math.max(1, ax.sx(b.upper) - x - 1);
    const top = ax.sy(b.accuracy);
    const conf = ax.sy(b.meanConfidence);
    const what = `confidence (${b.lower.toFixed(3)}, ${b.upper.toFixed(3)}]: ${b.count} samples, accuracy ${(b.accuracy * 100).toFixed(1)}%, mean confidence ${(b.meanConfidence * 100).toFixed(1)}%`;
    s += `<rect class="bar" x="${f(x)}" y="${f(top)}" width="${f(w)}" height="${f(Math.max(1, ax.y0 - top))}" fill="${o.color}" fill-opacity="0.8"><title>${esc(what)}</title></rect>`;
    // Over-confidence (accuracy below confidence): the missing accuracy, up to the confidence, in amber.
    if (conf < top) s += `<rect class="gap" x="${f(x)}" y="${f(conf)}" width="${f(w)}" height="${f(top - conf)}" fill="#f59e0b" fill-opacity="0.6"><title>${esc(what)}</title></rect>`;
    s += `<line class="confidence" x1="${f(x)}" y1="${f(conf)}" x2="${f(x + w)}" y2="${f(conf)}" stroke="#111827" stroke-width="2"/>`;
  }
  s += `<line class="diagonal" x1="${f(ax.sx(0))}" y1="${f(ax.sy(0))}" x2="${f(ax.sx(1))}" y2="${f(ax.sy(1))}" stroke="#374151" stroke-width="1.2" stroke-dasharray="4 3"/>`;
  return s + "</svg>";
}

/** Confusion-matrix heat map, coloured by the share of each true class (row-normalised). */
export function heatmapChart(name: string, o: { title: string; matrix: number[][]; labels: string[] }): string {
  const n = o.matrix.length;
  const cell = Math.max(8, Math.min(34, Math.floor(360 / Math.max(1, n))));
  const fr: Frame = { width: 60 + cell * n + 20, height: 48 + cell * n + 40, left: 60, right: 20, top: 40, bottom: 40 };
  let s = open(name, o.title, fr);
  const showCounts = n <= 12;
  o.matrix.forEach((row, t) => {
    const total = row.reduce((a, b) => a + b, 0);
    row.forEach((v, p) => {
      const share = total ? v / total : 0;
      const x = fr.left + p * cell;
      const y = fr.top + t * cell;
      const color = t === p ? `rgba(37,99,235,${f(0.08 + 0.92 * share)})` : `rgba(220,38,38,${f(share === 0 ? 0.03 : 0.12 + 0.88 * Math.min(1, share * 3))})`;
      s += `<rect class="cell" x="${f(x)}" y="${f(y)}" width="${cell - 1}" height="${cell - 1}" fill="${color}"><title>${esc(`true ${o.labels[t]}, predicted ${o.labels[p]}: ${v} (${(share * 100).toFixed(1)}% of class ${o.labels[t]})`)}</title></rect>`;
      if (showCounts && v > 0) s += `<text class="cell-text${share > 0.5 ? " on-dark" : ""}" x="${f(x + (cell - 1) / 2)}" y="${f(y + cell / 2 + 3)}" text-anchor="middle">${v}</text>`;
    });
  });
  o.labels.forEach((l, i) => {
    s += `<text class="tick" x="${f(fr.left + i * cell + cell / 2)}" y="${f(fr.top - 6)}" text-anchor="middle">${esc(l)}</text>`;
    s += `<text class="tick" x="${f(fr.left - 6)}" y="${f(fr.top + i * cell + cell / 2 + 4)}" text-anchor="end">${esc(l)}</text>`;
  });
  s += `<text class="label" x="${f(fr.left + (cell * n) / 2)}" y="${f(fr.top + cell * n + 20)}" text-anchor="middle">predicted class (columns) · true class (rows)</text>`;
  return s + "</svg>";
}
