// `tsdistill dashboard`: a read-only web UI on 127.0.0.1 over the run folders and the run store (Hono on
// node:http, as `tsdistill serve`). Live curves come as server-sent events, sent whenever a run's metrics.json
// (written after every epoch) or the store changes. Every asset is served from here (uPlot from node_modules),
// so the page loads nothing from the network.
//
//   GET /                           the page (runs, searches, one run, compare, one search: #/… routes)
//   GET /api/runs                   runs with status and last metrics          GET /api/searches
//   GET /api/runs/:id               summary, metrics, config, results          GET /api/searches/:id
//   GET /api/runs/:id/events        SSE "run" {summary, metrics}                GET /api/searches/:id/events (SSE "search")
//   GET /report/run/:id             the run's report (its report.html, else one made now without evaluation)
//   GET /report/search/:id          the search's report.html
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { existsSync, readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";
import { Hono, type Context } from "hono";
import { streamSSE } from "hono/streaming";
import { serve } from "@hono/node-server";
import { buildRunReport } from "../report/run-report.js";
import { renderReportHtml } from "../report/html.js";
import { TsdistillError } from "../util/errors.js";
import { listRuns, locateRun, readMetrics, runFiles, summarizeRun } from "./runs-index.js";
import { listSearches, searchDetail, StoreReader } from "./searches.js";
import { dashboardPage } from "./page.js";

export interface DashboardOptions {
  /** The runs folder (run folders, and the partial folders of runs in progress). */
  runsDir: string;
  /** The run store (it may not exist yet). */
  db: string;
  port?: number;
  /** How often event streams look for changes (default 500 ms). */
  pollMs?: number;
}

export interface RunningDashboard {
  url: string;
  port: number;
  close(): Promise<void>;
}

const require = createRequire(import.meta.url);
// src/dashboard/assets both from src/dashboard (tsx) and dist/dashboard (compiled): the package ships src/.
const ASSETS = new URL("../../src/dashboard/assets/", import.meta.url);

function assetFiles(): Record<string, { path: string; type: string }> {
  return {
    "uPlot.iife.min.js": { path: require.resolve("uplot/dist/uPlot.iife.min.js"), type: "text/javascript; charset=utf-8" },
    "uPlot.min.css": { path: require.resolve("uplot/dist/uPlot.min.css"), type: "text/css; charset=utf-8" },
    "dashboard.js": { path: new URL("dashboard.js", ASSETS).pathname, type: "text/javascript; charset=utf-8" },
    "dashboard.css": { path: new URL("dashboard.css", ASSETS).pathname, type: "text/css; charset=utf-8" },
  };
}

const CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

function html(c: Context, body: string, status: 200 | 404 = 200): Response {
  c.header("Content-Security-Policy", CSP);
  c.header("Cache-Control", "no-store");
  return c.html(body, status);
}

const notFound = (c: Context, what: string) => c.json({ error: what }, 404);

export function createDashboardApp(opts: DashboardOptions): { app: Hono; store: StoreReader } {
  const runsDir = resolve(opts.runsDir);
  const store = new StoreReader(resolve(opts.db));
  const pollMs = opts.pollMs ?? 500;
  const assets = assetFiles();
  const app = new Hono();

  app.use("*", async (c, next) => {
    if (c.req.method !== "GET" && c.req.method !== "HEAD") return c.json({ error: "the dashboard is read-only: GET only" }, 405);
    // Only pages served from this machine's loopback address may talk to it (no DNS rebinding).
    const host = (c.req.header("host") ?? "").replace(/:\d+$/, "");
    if (host !== "127.0.0.1" && host !== "localhost" && host !== "[::1]") return c.json({ error: `unexpected Host "${host}"` }, 403);
    await next();
  });

  app.get("/", (c) => html(c, dashboardPage({ runsDir, db: store.path })));
  // Browsers ask for it on pages without an icon (the reports): no icon, and no 404 in their consoles.
  app.get("/favicon.ico", (c) => c.body(null, 204));
  app.get("/assets/:name", (c) => {
    const a = assets[c.req.param("name")];
    if (!a || !existsSync(a.path)) return notFound(c, "no such asset");
    c.header("Content-Type", a.type);
    c.header("Cache-Control", "no-cache");
    return c.body(readFileSync(a.path));
  });

  app.get("/api/runs", (c) => c.json({ runsDir, runs: listRuns(runsDir) }));
  app.get("/api/runs/:id", (c) => {
    const id = c.req.param("id");
    const where = locateRun(runsDir, id);
    if (!where) return notFound(c, `no run ${id} in ${runsDir}`);
    return c.json({ summary: summarizeRun(id, where), metrics: readMetrics(where.dir), ...runFiles(where.dir) });
  });
  app.get("/api/runs/:id/events", (c) => {
    const id = c.req.param("id");
    if (!locateRun(runsDir, id)) return notFound(c, `no run ${id} in ${runsDir}`);
    return streamSSE(c, async (stream) => {
      let last = "";
      while (!stream.aborted && !stream.closed) {
        const where = locateRun(runsDir, id);
        if (where) {
          const file = join(where.dir, "metrics.json");
          const stamp = `${where.dir}|${where.status}|${existsSync(file) ? `${statSync(file).size}:${statSync(file).mtimeMs}` : "-"}`;
          if (stamp !== last) {
            last = stamp;
            await stream.writeSSE({ event: "run", data: JSON.stringify({ summary: summarizeRun(id, where), metrics: readMetrics(where.dir) }) });
          }
        }
        await stream.sleep(pollMs);
      }
    });
  });

  app.get("/api/searches", (c) => c.json({ db: store.path, searches: listSearches(store.get()) }));
  const searchId = (c: Context): number | null => {
    const n = Number(c.req.param("id"));
    return Number.isInteger(n) && n > 0 ? n : null;
  };
  app.get("/api/searches/:id", (c) => {
    const id = searchId(c);
    const d = id === null ? null : searchDetail(store.get(), id);
    return d ? c.json(d) : notFound(c, `no search ${c.req.param("id")} in ${store.path}`);
  });
  app.get("/api/searches/:id/events", (c) => {
    const id = searchId(c);
    if (id === null || !searchDetail(store.get(), id)) return notFound(c, `no search ${c.req.param("id")} in ${store.path}`);
    return streamSSE(c, async (stream) => {
      let last = "";
      while (!stream.aborted && !stream.closed) {
        const stamp = store.stamp();
        if (stamp !== last) {
          last = stamp;
          const d = searchDetail(store.get(), id);
          if (d) await stream.writeSSE({ event: "search", data: JSON.stringify(d) });
        }
        await stream.sleep(pollMs);
      }
    });
  });

  app.get("/report/run/:id", async (c) => {
    const id = c.req.param("id");
    const where = locateRun(runsDir, id);
    if (!where) return html(c, `<!doctype html><title>not found</title><p>No run ${id} in ${runsDir}.</p>`, 404);
    const saved = join(where.dir, "report.html");
    if (existsSync(saved)) return html(c, readFileSync(saved, "utf8"));
    // Made now from the folder as it is (curves, results, config); models are not evaluated here.
    return html(c, renderReportHtml(await buildRunReport(where.dir, { evaluate: false })));
  });
  app.get("/report/search/:id", (c) => {
    const id = searchId(c);
    const d = id === null ? null : searchDetail(store.get(), id);
    const file = d ? join(d.search.outDir, "report.html") : "";
    if (!d || !existsSync(file)) return html(c, `<!doctype html><title>not found</title><p>No report for search ${c.req.param("id")} yet (it is written when the search ends).</p>`, 404);
    return html(c, readFileSync(file, "utf8"));
  });
  app.notFound((c) => notFound(c, `no route ${c.req.path}`));
  return { app, store };
}

/** Listens on 127.0.0.1:port (0: any free port). */
export async function startDashboard(opts: DashboardOptions): Promise<RunningDashboard> {
  const port = opts.port ?? 0;
  const { app, store } = createDashboardApp(opts);
  const server = await new Promise<Server>((ok, fail) => {
    const s = serve({ fetch: app.fetch, hostname: "127.0.0.1", port }) as Server;
    s.once("error", (err: NodeJS.ErrnoException) => fail(new TsdistillError(`--port: cannot listen on 127.0.0.1:${port}: ${err.code === "EADDRINUSE" ? "the address is already in use" : err.message}`)));
    s.once("listening", () => ok(s));
  });
  const actual = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${actual}/`,
    port: actual,
    close: async () => {
      const closed = new Promise<void>((r) => server.close(() => r()));
      server.closeAllConnections();
      await closed;
      store.close();
    },
  };
}
