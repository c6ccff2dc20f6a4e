// The run report: a tiny demo run folder made through the library, `tsdistill report` over it, the HTML's
// self-containedness and charts, report.json against the run's own files, other run layouts, and the page
// rendered in headless Chromium (skipped when /usr/bin/chromium is missing).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { useBackend } from "../src/engine/backend.js";
import { DemoConfig, runMnistDemo } from "../src/demo/mnist-demo.js";
import { RunFolder } from "../src/run/run-folder.js";
import { recordingReporter } from "../src/cli/commands/common.js";
import { ProgressReporter } from "../src/cli/progress.js";
import { buildRunReport, jsonPathFor, summarizeResults, writeRunReport, type RunReport } from "../src/report/run-report.js";
import { renderReportHtml } from "../src/report/html.js";
import { reportCommand } from "../src/cli/commands/report.js";
import { DataError, UsageError } from "../src/util/errors.js";
import { tempDir } from "./helpers.js";
import { needs } from "./prerequisites.js";

const ROOT = resolve(fileURLToPath(new URL("..", import.meta.url)));
// CHROMIUM_PATH overrides the browser (e.g. to check the skip path); CI installs Debian's chromium here.
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

const { dir: tmp, cleanup } = tempDir("tsdistill-report-");
process.on("exit", cleanup);

await useBackend("wasm");

// A tiny demo: teacher, student alone and distilled student, one or two epochs each on a few MNIST images.
const tiny = DemoConfig.parse({
  seed: 3,
  teacherTrainSize: 1500,
  trainSize: 800,
  validationSize: 300,
  teacher: { spec: "mlp:48", dropout: 0, inputDropout: 0, jitter: 0, epochs: 2 },
  student: { spec: "mlp:12", epochs: 2 },
  temperature: 4,
  alpha: 0.1,
  batchSize: 64,
  lr: 3e-3,
});
const run = RunFolder.create("demo", join(tmp, "demo-run"));
const demoResult = await runMnistDemo(tiny, { run, reporter: recordingReporter(run, new ProgressReporter({ quiet: true })), parallel: false });
run.writeJson("config.json", { command: "demo", quick: false, ...tiny });
run.writeJson("results.json", demoResult);
const RUN = run.finish();

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `tsdistill report …` through the command module (it is registered in main.ts by the lead). */
function reportCli(args: string[], timeoutMs = 60_000): Promise<Run> {
  const script = `import('./src/cli/commands/report.ts').then((m) => m.reportCommand(process.argv.slice(1))).catch((e) => { process.stderr.write('tsdistill: error: ' + e.message + '\\n'); process.exit(e.exitCode ?? 70); })`;
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ["--import", "tsx", "-e", script, "--", ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      fail(new Error(`report ${args.join(" ")} timed out; stderr: ${stderr}`));
    }, timeoutMs);
    child.on("error", fail);
    child.on("close", (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr });
    });
  });
}

const DEMO_CHARTS = [
  "test-accuracy",
  "loss-teacher",
  "loss-student-alone",
  "loss-distilled",
  "val-accuracy",
  "reliability-teacher",
  "reliability-student-alone",
  "reliability-distilled",
  "confusion-teacher",
  "confusion-student-alone",
  "confusion-distilled",
  "per-class-accuracy",
  "latency",
  "throughput",
];

/** Attribute values of src= and href= in the page. */
const links = (html: string) => [...html.matchAll(/\b(?:src|href|xlink:href)\s*=\s*["']?([^"'\s>]*)/gi)].map((m) => m[1]);

/** The report JSON embedded in the page (an inert application/json block). */
function embedded(html: string): unknown {
  const m = /<script type="application\/json" id="report-data">([\s\S]*?)<\/script>/.exec(html);
  assert.ok(m, "the page embeds its data");
  return JSON.parse(m![1]);
}

const HTML = join(tmp, "out", "demo-report.html");
let cliReport: RunReport | null = null;

test("report --run on a demo run folder: self-contained HTML with every chart, and report.json matching the run", async () => {
  const r = await reportCli(["--run", RUN, "--out", HTML, "--batch", "128", "--json"]);
  assert.equal(r.code, 0, `exit ${r.code}\nstderr: ${r.stderr}`);
  assert.equal(r.stderr, "");
  const out = JSON.parse(r.stdout.trim());
  assert.equal(out.html, HTML);
  assert.equal(out.json, join(tmp, "out", "demo-report.json"));
  assert.deepEqual(out.charts, DEMO_CHARTS);
  assert.deepEqual(out.models, ["teacher", "student alone", "distilled"]);
  assert.deepEqual(readdirSync(join(tmp, "out")).sort(), ["demo-report.html", "demo-report.json"], "no temp files left behind");

  const html = readFileSync(HTML, "utf8");
  const report = JSON.parse(readFileSync(out.json, "utf8")) as RunReport;
  cliReport = report;
  // Self-contained: no URL to fetch, no scripts to run, no external stylesheet or font.
  assert.deepEqual(links(html).filter((u) => /^(https?:)?\/\//i.test(u)), [], "no external src/href");
  assert.doesNotMatch(html, /<script(?![^>]*type="application\/json")/i, "no executable script");
  assert.doesNotMatch(html, /<link\b|@import|url\(/i, "no stylesheet links, imports or url()");
  // Every chart is an <svg data-chart> with at least one mark.
  const svgs = [...html.matchAll(/<svg data-chart="([^"]+)"[\s\S]*?<\/svg>/g)];
  assert.deepEqual(svgs.map((m) => m[1]), DEMO_CHARTS);
  for (const [svg, name] of svgs) assert.match(svg, /<(path|rect|circle|line)\b/, `chart ${name} draws something`);
  assert.deepEqual(embedded(html), report, "the page carries the same data as report.json");

  // report.json against the run folder's own files.
  const metrics = JSON.parse(readFileSync(join(RUN, "metrics.json"), "utf8"));
  const results = JSON.parse(readFileSync(join(RUN, "results.json"), "utf8"));
  assert.equal(report.kind, "demo");
  assert.equal(report.runDir, RUN);
  assert.deepEqual(Object.fromEntries(report.phases.map((p) => [p.name, p.epochs])), metrics);
  assert.deepEqual(report.phases.map((p) => p.epochs.length), [2, 2, 2]);
  assert.equal(report.results!.format, "demo");
  assert.deepEqual(report.results!.rows.map((x) => [x.name, x.spec, x.accuracy, x.errors, x.params, x.agreementWithTeacher]), [
    ["teacher", "mlp:48", results.teacher.accuracy, results.teacher.errors, results.teacher.params, 1],
    ["student alone", "mlp:12", results.studentAlone.accuracy, results.studentAlone.errors, results.studentAlone.params, results.studentAlone.agreementWithTeacher],
    ["distilled", "mlp:12", results.distilled.accuracy, results.distilled.errors, results.distilled.params, results.distilled.agreementWithTeacher],
  ]);
  assert.equal(report.results!.gapClosed, results.gapClosed);
  // The evaluation reproduces the demo's own test numbers (same models, test set and backend).
  const ev = report.evaluation!;
  assert.equal(report.data, "mnist");
  assert.equal(ev.testSize, 10000);
  assert.equal(ev.batchSize, 128);
  const byName = Object.fromEntries(ev.models.map((m) => [m.name, m]));
  for (const [name, key] of [["teacher", "teacher"], ["student alone", "studentAlone"], ["distilled", "distilled"]] as const) {
    const m = byName[name];
    assert.equal(m.accuracy, results[key].accuracy, `${name} accuracy`);
    assert.equal(m.errors, results[key].errors);
    assert.equal(m.params, results[key].params);
    assert.equal(m.bytesOnDisk, results[key].bytesOnDisk);
    assert.equal(m.agreementWithTeacher, results[key].agreementWithTeacher, `${name} agreement`);
    assert.equal(m.confusionMatrix.flat().reduce((a, b) => a + b, 0), 10000);
    assert.equal(m.calibration.bins.reduce((a, b) => a + b.count, 0), 10000);
    assert.ok(m.timing!.batch1.p50Ms > 0 && m.timing!.batchN.samplesPerSecond > 0);
  }
  assert.deepEqual(ev.comparisons.map((c) => c.student), ["student alone", "distilled"]);
  for (const c of ev.comparisons) {
    assert.equal(c.compressionRatio, byName.teacher.bytesOnDisk! / byName[c.student].bytesOnDisk!);
    assert.equal(c.speedUp, byName.teacher.timing!.batch1.p50Ms / byName[c.student].timing!.batch1.p50Ms);
    assert.ok(c.klTeacherStudent > 0);
  }
  // The tables show the numbers.
  assert.ok(html.includes(`${(results.distilled.accuracy * 100).toFixed(2)}%`), "the results table shows the distilled accuracy");
  assert.ok(html.includes("Gap closed"));
});

test("the report renders in headless Chromium without errors, every chart drawn", { skip: needs(existsSync(CHROMIUM), CHROMIUM, "sudo apt-get install -y chromium") }, async () => {
  const html = existsSync(HTML) ? HTML : (await writeRunReport(RUN, join(tmp, "browser.html"), { timing: false })).html;
  const { chromium } = await import("playwright-core");
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"] });
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const errors: string[] = [];
    const requests: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(`console: ${m.text()}`);
    });
    page.on("pageerror", (e) => errors.push(`page error: ${e.message}`));
    page.on("request", (req) => {
      if (!req.url().startsWith("file:")) requests.push(req.url());
    });
    await page.goto(pathToFileURL(html).href, { waitUntil: "load" });
    const charts = await page.$$eval("svg[data-chart]", (svgs) =>
      svgs.map((svg) => {
        const box = svg.getBoundingClientRect();
        const marks = [...svg.querySelectorAll("path, rect, circle, line")] as SVGGraphicsElement[];
        const drawn = marks.filter((el) => {
          const b = el.getBBox();
          return b.width > 0 || b.height > 0;
        }).length;
        return { name: svg.getAttribute("data-chart"), width: box.width, height: box.height, marks: marks.length, drawn };
      }),
    );
    assert.deepEqual(errors, [], "no console or page errors");
    assert.deepEqual(requests, [], "the page fetches nothing");
    assert.deepEqual(charts.map((c) => c.name), DEMO_CHARTS);
    for (const c of charts) {
      assert.ok(c.width > 0 && c.height > 0, `chart ${c.name} has a box (${c.width}×${c.height})`);
      assert.ok(c.marks > 0 && c.drawn > 0, `chart ${c.name} has drawn marks (${c.drawn} of ${c.marks})`);
    }
    const title = await page.title();
    assert.match(title, /tsdistill report/);
  } finally {
    await browser.close();
  }
});

test("distill, train and recipe run folders; a missing teacher becomes a note; --no-eval", async () => {
  // A distill run: student/ here, the teacher named (relative to the run's parent folder) in config.json.
  const distillDir = join(tmp, "distill-run");
  mkdirSync(distillDir);
  cpSync(join(RUN, "student"), join(distillDir, "student"), { recursive: true });
  cpSync(join(RUN, "teacher"), join(tmp, "saved-teacher"), { recursive: true });
  writeFileSync(join(distillDir, "config.json"), JSON.stringify({ command: "distill", teacher: "saved-teacher", student: "mlp:12", data: "mnist" }));
  writeFileSync(join(distillDir, "metrics.json"), readFileSync(join(RUN, "metrics.json")));
  const distillResult = { student: "mlp:12", params: 9550, testAccuracy: 0.8, testErrors: 2000, teacherTestAccuracy: 0.9, teacherParams: 38170, agreementWithTeacher: 0.85, agreementMeasuredOn: "test set", testSize: 10000, trainSeconds: 1.5 };
  writeFileSync(join(distillDir, "results.json"), JSON.stringify(distillResult));
  const d = await buildRunReport(distillDir, { timing: false });
  assert.equal(d.kind, "distill");
  assert.deepEqual(d.evaluation!.models.map((m) => [m.name, m.teacher]), [["teacher", true], ["student", false]]);
  assert.equal(d.evaluation!.models[0].dir, join(tmp, "saved-teacher"));
  assert.equal(d.evaluation!.models[1].timing, null);
  assert.equal(d.evaluation!.comparisons[0].speedUp, null);
  // CPU time per 1,000 predictions (measured even without --timing) and the energy estimate at 5 W per core.
  assert.equal(d.energy!.wattsPerCore, 5);
  for (const side of [d.energy!.teacher!, d.energy!.student]) assert.ok(side.cpuMsPer1000 > 0 && Math.abs(side.joulesPer1000 - (side.cpuMsPer1000 / 1000) * 5) < 1e-12, JSON.stringify(side));
  assert.equal(d.energy!.cpuRatio, d.energy!.teacher!.cpuMsPer1000 / d.energy!.student.cpuMsPer1000);
  assert.deepEqual(d.results!.rows.map((x) => [x.name, x.accuracy, x.params]), [["teacher", 0.9, 38170], ["student", 0.8, 9550]]);
  assert.ok(!d.charts.includes("latency") && d.charts.includes("reliability-student") && d.charts.includes("confusion-teacher"));
  assert.deepEqual(d.notes, []);

  // The teacher has gone: the student is still evaluated, and a note says why the teacher is not.
  writeFileSync(join(distillDir, "config.json"), JSON.stringify({ command: "distill", teacher: "/nonexistent/teacher", student: "mlp:12", data: "mnist" }));
  const gone = await buildRunReport(distillDir, { timing: false });
  assert.deepEqual(gone.evaluation!.models.map((m) => m.name), ["student"]);
  assert.equal(gone.evaluation!.comparisons.length, 0);
  assert.equal(gone.notes.length, 1);
  assert.match(gone.notes[0], /\/nonexistent\/teacher.*not found/);

  // The run's data set has moved: no evaluation, a note; an explicit data set that fails is an error.
  writeFileSync(join(distillDir, "config.json"), JSON.stringify({ command: "distill", teacher: "saved-teacher", student: "mlp:12", data: "idx:/nonexistent/data" }));
  const moved = await buildRunReport(distillDir, { timing: false });
  assert.equal(moved.evaluation, null);
  assert.equal(moved.data, null);
  assert.match(moved.notes.join("\n"), /data set could not be loaded.*\/nonexistent\/data.*--data/);
  await assert.rejects(buildRunReport(distillDir, { data: "idx:/nonexistent/data" }), (e) => e instanceof DataError && e.message.includes("/nonexistent/data"));

  // --no-eval: curves and the results table only; written atomically next to the run.
  const { html, json, report } = await writeRunReport(distillDir, undefined, { evaluate: false });
  assert.equal(html, join(distillDir, "report.html"));
  assert.equal(json, join(distillDir, "report.json"));
  assert.equal(report.evaluation, null);
  assert.deepEqual(report.charts, ["test-accuracy", "loss-teacher", "loss-student-alone", "loss-distilled", "val-accuracy"]);
  assert.deepEqual(readdirSync(distillDir).filter((n) => n.startsWith(".")), [], "no temp files left");
  assert.deepEqual(JSON.parse(readFileSync(json, "utf8")), report);

  // results.json of train and recipe runs.
  assert.deepEqual(summarizeResults({ model: "mlp:16", params: 12730, testAccuracy: 0.9, testErrors: 1000, testSize: 10000, trainSeconds: 2 }).rows.map((x) => [x.name, x.spec, x.accuracy, x.errors]), [["model", "mlp:16", 0.9, 1000]]);
  const recipe = summarizeResults({ name: "r", student: { spec: "mlp:8", params: 100, accuracy: 0.7, errors: 3, agreementWithTeacher: 0.6 }, teacher: { params: 1000, accuracy: 0.8, errors: 2 }, agreementMeasuredOn: "test set", testSize: 10, stages: [], seconds: 4 });
  assert.equal(recipe.format, "recipe");
  assert.deepEqual(recipe.rows.map((x) => [x.name, x.spec, x.accuracy, x.errors, x.testSize, x.agreementWithTeacher]), [["teacher", null, 0.8, 2, 10, null], ["student", "mlp:8", 0.7, 3, 10, 0.6]]);
  const cached = summarizeResults({ student: "mlp:8", params: 100, testAccuracy: 0.7, testErrors: 3, teacherTestAccuracy: null, teacherParams: null, agreementWithTeacher: 0.5, testSize: 10 });
  assert.deepEqual(cached.rows.map((x) => x.name), ["student"], "a distill run from a teacher cache has no teacher row");
  assert.equal(summarizeResults([1, 2]).format, "unknown");
  assert.equal(jsonPathFor("/a/b.html"), "/a/b.json");
  assert.equal(jsonPathFor("/a/b"), "/a/b.json");
});

test("report: hostile strings are escaped; bad run folders fail with one-line errors", async () => {
  const r: RunReport = {
    ...(cliReport ?? (await buildRunReport(RUN, { evaluate: false }))),
    runName: `<img src="https://example.com/x.png">`,
    notes: [`</script><script>alert(1)</script>`],
  };
  const html = renderReportHtml(r);
  assert.doesNotMatch(html, /<img|<script>alert|src="https/);
  assert.deepEqual(embedded(html), JSON.parse(JSON.stringify(r)), "the embedded JSON survives a </script> inside it");

  await assert.rejects(reportCommand([]), (e) => e instanceof UsageError && /--run is required/.test(e.message));
  await assert.rejects(reportCommand(["--run", RUN, "--batch", "x"]), (e) => e instanceof UsageError && /--batch/.test(e.message));
  await assert.rejects(reportCommand(["--run", join(tmp, "nope"), "--no-eval"]), (e) => e instanceof DataError && e.message.includes(join(tmp, "nope")) && !e.message.includes("\n"));
  const empty = join(tmp, "empty");
  mkdirSync(empty);
  await assert.rejects(reportCommand(["--run", empty, "--no-eval"]), (e) => e instanceof DataError && /not a run folder/.test(e.message));
  const broken = join(tmp, "broken");
  mkdirSync(broken);
  writeFileSync(join(broken, "metrics.json"), "{oops");
  await assert.rejects(reportCommand(["--run", broken, "--no-eval"]), (e) => e instanceof DataError && e.message.includes(join(broken, "metrics.json")) && /not valid JSON/.test(e.message));
});
