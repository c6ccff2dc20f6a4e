// `tsdistill dashboard` in headless Chromium (playwright-core, Debian's /usr/bin/chromium; skipped without it):
// the page loads; a `tsdistill train` started during the test appears as running and its loss curve grows
// (points counted over time) until it finishes; the compare view draws two runs on one chart; a search from the
// run store shows its Pareto plot and trials; the run's report opens. No console errors, and every request the
// page makes goes to the dashboard on 127.0.0.1. TSDISTILL_SCREENSHOT=FILE saves a screenshot of the compare view.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { RunStore } from "../src/runs/store.js";
import { Rng } from "../src/util/rng.js";
import { runCli, tempDir } from "./helpers.js";
import { CliProcess } from "./queue-helpers.js";
import { needs } from "./prerequisites.js";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const skip = needs(existsSync(CHROMIUM), CHROMIUM, "sudo apt-get install -y chromium");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** 3,000 rows, 8 numeric features, 4 classes: big enough that an epoch of a small MLP at batch 16 takes a while. */
function writeData(file: string): void {
  const rng = new Rng(5, "dashboard-data");
  const lines = ["f1,f2,f3,f4,f5,f6,f7,f8,label"];
  for (let i = 0; i < 3000; i++) {
    const c = i % 4;
    lines.push(Array.from({ length: 8 }, (_, j) => (rng.normal() + (j % 4 === c ? 1.5 : 0)).toFixed(3)).join(",") + `,c${c}`);
  }
  writeFileSync(file, lines.join("\n") + "\n");
}

/** A finished search in a run store, written through the store's own API (no training). */
function writeSearch(db: string, outDir: string): void {
  const store = RunStore.open(db, { create: true });
  try {
    const s = store.createSearch(outDir, { data: "csv:points.csv", objective: "accuracy", constraints: {} });
    const specs = ["mlp:8", "mlp:16", "mlp:32", "mlp:32-16"];
    specs.forEach((spec, k) => {
      const t = store.ensureTrial(s.id, { key: `b0-c${k}-r0`, bracket: 0, candidate: k, rung: 0, config: { method: "kd", student: spec }, spec, params: 100 * (k + 1) ** 2, latencyMs: 0.01 * (k + 1), fidelity: 3 });
      store.startTrial(t.id);
      for (let e = 1; e <= 3; e++) store.addEpoch(t.id, { epoch: e, loss: 1.2 / e + 0.05 * k, lr: 0.01, seconds: 0.1, samplesPerSecond: 1000, valAccuracy: 0.5 + 0.1 * e - 0.02 * k * (k - 2) });
      store.finishTrial(t.id, { seconds: 0.3, valAccuracy: 0.8 - 0.02 * k * (k - 2), valAgreement: 0.9, valLoss: 0.5, metrics: {}, modelDir: null });
    });
    store.updateSearch(s.id, { status: "finished" });
  } finally {
    store.close();
  }
}

test("dashboard in Chromium: a training run appears and its curve grows live; compare, search and report views render; no console errors; no request leaves 127.0.0.1", { skip, timeout: 240_000 }, async () => {
  const { dir, cleanup } = tempDir("tsdistill-dashboard-");
  const runs = join(dir, "runs");
  mkdirSync(runs);
  const csv = join(dir, "points.csv");
  writeData(csv);
  writeSearch(join(runs, "tsdistill.db"), join(dir, "search"));
  const trainArgs = (name: string, epochs: number) => ["train", "--model", "mlp:64-64", "--data", `csv:${csv}`, "--epochs", String(epochs), "--batch-size", "16", "--backend", "cpu", "--out", join(runs, name), "--quiet"];
  const first = await runCli(trainArgs("first", 2));
  assert.equal(first.code, 0, first.stderr);

  const dash = CliProcess.start(["dashboard", "--runs", runs, "--port", "0", "--json"]);
  let live: CliProcess | null = null;
  const { chromium } = await import("playwright-core");
  const context = await chromium.launchPersistentContext(join(dir, "profile"), {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1100, height: 760 },
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  try {
    for (let i = 0; i < 600 && !dash.stdout.includes("\n"); i++) await sleep(50);
    const { url } = JSON.parse(dash.stdout) as { url: string };
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const page = context.pages()[0] ?? (await context.newPage());
    const errors: string[] = [];
    const requests: string[] = [];
    page.on("console", (m) => void (m.type() === "error" && errors.push(`console: ${m.text()}`)));
    page.on("pageerror", (e) => errors.push(`page: ${e.message}`));
    page.on("request", (r) => void requests.push(r.url()));
    page.on("response", (r) => void (r.status() >= 400 && errors.push(`HTTP ${r.status()} for ${r.url()}`)));

    await page.goto(url);
    await page.waitForSelector('tr[data-run="first"] [data-status="finished"]', { timeout: 30_000 });
    await page.waitForSelector('tr[data-search="1"]');

    // A run started now shows up as running, and its loss curve gains points while it trains.
    live = CliProcess.start(trainArgs("live", 12));
    await page.waitForSelector('tr[data-run="live"] [data-status="running"]', { timeout: 90_000 });
    await page.click('tr[data-run="live"] a');
    await page.waitForSelector('#app[data-run-status="running"]');
    const points = async () => Number((await page.getAttribute('[data-chart="loss"]', "data-points")) ?? 0);
    const seen: number[] = [];
    for (let i = 0; i < 1200; i++) {
      const status = await page.getAttribute("#app", "data-run-status");
      const n = await points();
      if (seen[seen.length - 1] !== n) seen.push(n);
      if (status === "finished") break;
      await sleep(100);
    }
    assert.equal(await page.getAttribute("#app", "data-run-status"), "finished", `the run finished (points seen ${seen})`);
    assert.equal(await points(), 12, "all 12 epochs drawn");
    assert.ok(seen.filter((n) => n > 0 && n < 12).length >= 2, `the curve grew while the run trained: point counts seen ${JSON.stringify(seen)}`);
    assert.ok(await page.$('[data-chart="loss"] canvas'), "uPlot drew the chart");
    assert.equal((await live.exited).code, 0, live.stderr);

    // Two runs on one chart.
    await page.goto(url);
    await page.waitForSelector('tr[data-run="live"] [data-status="finished"]');
    await page.check('input[data-run="first"]');
    await page.check('input[data-run="live"]');
    await page.click("#compare");
    await page.waitForSelector('[data-chart="compare-loss"][data-series="2"] canvas');
    assert.equal(await page.getAttribute('[data-chart="compare-loss"]', "data-points"), "14", "2 + 12 epochs");
    assert.equal((await page.$$("#compare-table tbody tr")).length, 2);
    if (process.env.TSDISTILL_SCREENSHOT) await page.screenshot({ path: process.env.TSDISTILL_SCREENSHOT, clip: { x: 0, y: 0, width: 1100, height: 580 } });

    // A search: Pareto plots and the trials table from the store.
    await page.goto(`${url}#/search/1`);
    await page.waitForSelector('#app[data-search-status="finished"]');
    await page.waitForSelector('[data-chart="pareto-latency"] canvas');
    assert.equal((await page.$$("#trials tbody tr")).length, 4);
    assert.equal(await page.getAttribute('[data-chart="pareto-params"]', "data-series"), "2", "candidates and the front");
    assert.equal(await page.getAttribute('[data-chart="trials-loss"]', "data-points"), "12", "4 trials × 3 epochs");

    // The run's report, made from its folder.
    const report = await page.goto(`${url}report/run/live`);
    assert.equal(report?.status(), 200);
    assert.ok(await page.$('svg[data-chart^="loss-"]'), "the report draws the loss curve");

    // Read-only: anything but GET is refused.
    assert.equal((await fetch(`${url}api/runs`, { method: "POST" })).status, 405);

    assert.deepEqual(errors, [], "no console or page errors");
    const origin = new URL(url).origin;
    const away = requests.filter((r) => !r.startsWith(origin + "/") && !r.startsWith("data:"));
    assert.deepEqual(away, [], "every request goes to the dashboard on 127.0.0.1");
    assert.ok(requests.some((r) => r.endsWith("/assets/uPlot.iife.min.js")), "uPlot came from the dashboard");
  } finally {
    await context.close();
    await live?.stop("SIGKILL");
    await dash.stop();
    cleanup();
  }
});
