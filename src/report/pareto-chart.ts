// Pareto scatter for the auto report, in the style of svg.ts: every candidate as a dot (grey when it breaks a
// constraint), the front as a step line, the constraint as a dashed line, the best candidate ringed.
import { PALETTE, esc, niceTicks } from "./svg.js";

export interface ScatterPoint {
  id: number;
  x: number;
  y: number;
  label: string;
  onFront: boolean;
  meets: boolean;
  best: boolean;
}

const f = (v: number) => (Number.isFinite(v) ? Number(v.toFixed(2)).toString() : "0");
const tick = (v: number) => (Math.abs(v) >= 1e6 ? `${Number((v / 1e6).toPrecision(3))}M` : Math.abs(v) >= 1e4 ? `${Number((v / 1e3).toPrecision(3))}k` : Number(v.toPrecision(4)).toString());

/** One <svg data-chart="NAME">; `limitX` draws a vertical dashed line at the constraint (e.g. --max-latency-ms). */
export function paretoChart(name: string, o: { title: string; xLabel: string; yLabel: string; points: ScatterPoint[]; limitX?: number; fmtY?: (v: number) => string }): string {
  const W = 640;
  const H = 340;
  const L = 64;
  const R = 20;
  const T = 28;
  const B = 44;
  const pts = o.points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
  const xs = pts.map((p) => p.x).concat(o.limitX !== undefined ? [o.limitX] : []);
  const ys = pts.map((p) => p.y);
  const xt = niceTicks(0, Math.max(...xs, 1e-9), 6);
  const yt = niceTicks(ys.length ? Math.min(...ys) : 0, ys.length ? Math.max(...ys) : 1, 5);
  const sx = (v: number) => L + ((v - xt[0]) / (xt[xt.length - 1] - xt[0] || 1)) * (W - L - R);
  const sy = (v: number) => H - B - ((v - yt[0]) / (yt[yt.length - 1] - yt[0] || 1)) * (H - B - T);
  const fmtY = o.fmtY ?? tick;
  let s = `<svg data-chart="${esc(name)}" class="chart" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(o.title)}"><title>${esc(o.title)}</title>`;
  s += `<text class="chart-title" x="${L}" y="16">${esc(o.title)}</text>`;
  for (const t of yt) s += `<line class="grid" x1="${L}" y1="${f(sy(t))}" x2="${W - R}" y2="${f(sy(t))}"/><text class="tick" x="${L - 6}" y="${f(sy(t) + 4)}" text-anchor="end">${esc(fmtY(t))}</text>`;
  for (const t of xt) s += `<line class="tickmark" x1="${f(sx(t))}" y1="${H - B}" x2="${f(sx(t))}" y2="${H - B + 4}"/><text class="tick" x="${f(sx(t))}" y="${H - B + 16}" text-anchor="middle">${esc(tick(t))}</text>`;
  s += `<line class="axis" x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}"/><line class="axis" x1="${L}" y1="${H - B}" x2="${L}" y2="${T}"/>`;
  s += `<text class="label" x="${f((L + W - R) / 2)}" y="${H - 6}" text-anchor="middle">${esc(o.xLabel)}</text>`;
  s += `<text class="label" transform="translate(14 ${f((T + H - B) / 2)}) rotate(-90)" text-anchor="middle">${esc(o.yLabel)}</text>`;
  if (o.limitX !== undefined) {
    s += `<line class="limit" x1="${f(sx(o.limitX))}" y1="${T}" x2="${f(sx(o.limitX))}" y2="${H - B}" stroke="#dc2626" stroke-width="1.5" stroke-dasharray="5 3"/>`;
    s += `<text class="tick" x="${f(sx(o.limitX) - 4)}" y="${T + 10}" text-anchor="end">limit</text>`;
  }
  const front = pts.filter((p) => p.onFront).sort((a, b) => a.x - b.x);
  if (front.length) {
    // Step line: the best quality reachable at each cost.
    let d = `M${f(sx(front[0].x))} ${f(sy(front[0].y))}`;
    for (let i = 1; i < front.length; i++) d += ` H${f(sx(front[i].x))} V${f(sy(front[i].y))}`;
    s += `<path class="series front" d="${d}" stroke="${PALETTE[0]}" fill="none" stroke-width="2"/>`;
  }
  // Front points last, so that other candidates never cover them.
  for (const p of [...pts.filter((q) => !q.onFront), ...pts.filter((q) => q.onFront)]) {
    const color = !p.meets ? "#9ca3af" : p.onFront ? PALETTE[0] : "#93c5fd";
    s += `<circle cx="${f(sx(p.x))}" cy="${f(sy(p.y))}" r="${p.onFront ? 4.5 : 3.5}" fill="${color}"><title>${esc(p.label)}</title></circle>`;
    if (p.best) s += `<circle class="best" cx="${f(sx(p.x))}" cy="${f(sy(p.y))}" r="8" fill="none" stroke="${PALETTE[1]}" stroke-width="2"><title>${esc(`best: ${p.label}`)}</title></circle>`;
  }
  return s + "</svg>";
}
