// The look both HTML reports share (the run report and the auto-search report); each adds its own rules.
export const BASE_CSS = `
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: #111827; margin: 0; background: #f9fafb; }
main { max-width: 1200px; margin: 0 auto; padding: 24px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 10px; border-bottom: 1px solid #e5e7eb; padding-bottom: 4px; }
.meta { color: #4b5563; margin: 0 0 8px; }
table { border-collapse: collapse; margin: 8px 0 16px; background: #fff; }
th, td { border: 1px solid #e5e7eb; padding: 4px 10px; text-align: right; font-variant-numeric: tabular-nums; }
thead th { background: #f3f4f6; text-align: center; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; }
svg.chart { background: #fff; border: 1px solid #e5e7eb; border-radius: 6px; max-width: 100%; height: auto; }
svg .chart-title { font-size: 13px; font-weight: 600; fill: #111827; }
svg .tick { font-size: 11px; fill: #374151; }
svg .label { font-size: 12px; fill: #4b5563; }
svg .grid { stroke: #eef0f3; }
svg .axis, svg .tickmark { stroke: #9ca3af; }
`;
