// The dashboard's one HTML page: a shell that loads uPlot and the client script, all from this server.
import { esc } from "../report/svg.js";

export function dashboardPage(o: { runsDir: string; db: string }): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tsdistill dashboard</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/uPlot.min.css">
<link rel="stylesheet" href="/assets/dashboard.css">
</head>
<body>
<header><a class="brand" href="#/">tsdistill dashboard</a><span class="where">runs: <code>${esc(o.runsDir)}</code> · store: <code>${esc(o.db)}</code></span></header>
<main id="app"><p>Loading…</p></main>
<script src="/assets/uPlot.iife.min.js"></script>
<script src="/assets/dashboard.js"></script>
</body>
</html>
`;
}
