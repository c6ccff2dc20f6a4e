import { existsSync } from "node:fs";
import { join } from "node:path";
import { numberOption, parseOptions } from "../args.js";
import { DEFAULT_DB } from "../../auto/search.js";
import { startDashboard } from "../../dashboard/server.js";
import { UsageError } from "../../util/errors.js";

export const DASHBOARD_HELP = `tsdistill dashboard [--runs DIR] [--db FILE] [--port N]

Serves a read-only web UI on 127.0.0.1 over your runs and searches: every run folder (train, distill, demo, run)
with its status — running, interrupted or finished — and live loss and validation-accuracy curves while it
trains (server-sent events, from the metrics.json each run rewrites after every epoch); two or more runs on one
chart; each run's report; the searches of 'tsdistill auto' from the run store with their trials, Pareto plots
and per-epoch curves. Charts are drawn by uPlot, served from node_modules with everything else: the page loads
nothing from the network. Stops on SIGINT/SIGTERM.

  --runs DIR             the runs folder (default runs)
  --db FILE              the run store (default DIR/tsdistill.db with --runs DIR, else ${DEFAULT_DB}; it may
                         appear later)
  --port N               port on 127.0.0.1 (default 6060; 0 picks a free one)
  --json                 print the address as one JSON object
  --quiet, -q            no log lines
  --help, -h             this help`;

export async function dashboardCommand(argv: string[]): Promise<void> {
  const { values } = parseOptions("dashboard", argv, {
    runs: { type: "string" },
    db: { type: "string" },
    port: { type: "string" },
    json: { type: "boolean" },
    quiet: { type: "boolean", short: "q" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) return void process.stdout.write(DASHBOARD_HELP + "\n");
  const runsDir = String(values.runs ?? "runs");
  if (values.runs !== undefined && !existsSync(runsDir)) throw new UsageError(`--runs: ${runsDir} does not exist; expected the folder your runs are written to`);
  const db = String(values.db ?? (values.runs !== undefined ? join(runsDir, "tsdistill.db") : DEFAULT_DB));
  const port = numberOption("port", values.port, { int: true, min: 0, max: 65535 }) ?? 6060;
  const running = await startDashboard({ runsDir, db, port });
  if (values.json) process.stdout.write(JSON.stringify({ url: running.url, runs: runsDir, db }) + "\n");
  else process.stdout.write(`dashboard at ${running.url} (runs ${runsDir}, store ${db}); Ctrl-C stops it\n`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
  if (!values.quiet) process.stderr.write("dashboard: stopping\n");
  await running.close();
}
