// Embedding students in Chromium beside Node (issue 17: "size, batch-1 latency and throughput in Node and
// Chromium"): USE-lite (the teacher) and the students a run of recipes/use-embeddings.yaml saved — static tables,
// bag students (both through the documented browser snippet, embed-runtime.mjs) and the distilled classifiers
// (their ONNX export: onnxruntime-web in the page, onnxruntime-node in Node) — each loaded and timed in both, in
// one run: MB the page loads, batch-1 ms/sentence (median over every timed sentence, after 10 warm-up calls) and
// sentences/s at batch 32, with the ratios to the teacher and the largest |page − Node| difference of the vectors.
// How each side runs a model: bench/embeddings-browser-measure.ts.
//
//   npx tsdistill run recipes/use-embeddings.yaml [--quick]       # the students (runs/<time>-use-embeddings[-quick])
//   nice -n 10 node --import tsx bench/embeddings-browser.ts [RUN_DIR] [--sentences 64] [--seconds 4] [--write] [--note TEXT]
//
// RUN_DIR defaults to the newest finished use-embeddings run under runs/. --write replaces the "embeddings-browser"
// section of docs/RESULTS.md (between its markers). Needs /usr/bin/chromium (apt-get install chromium).
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { writeFileAtomic } from "../src/util/files.js";
import { measureEmbeddingsBrowser, type BrowserBench, type ModelResult } from "./embeddings-browser-measure.js";
import { replaceSection } from "./sections.js";

export const SECTION = "embeddings-browser";

/** The newest finished run of recipes/use-embeddings.yaml (full or --quick) under `root`. */
export function newestEmbeddingRun(root = "runs"): string | null {
  if (!existsSync(root)) return null;
  const runs = readdirSync(root)
    .filter((d) => /-use-embeddings(-quick)?$/.test(d) && existsSync(join(root, d, "results.json")))
    .map((d) => ({ dir: join(root, d), t: statSync(join(root, d, "results.json")).mtimeMs }))
    .sort((a, b) => b.t - a.t);
  return runs[0]?.dir ?? null;
}

const ms = (x: number) => (x < 1 ? x.toFixed(3) : x < 100 ? x.toFixed(1) : x.toFixed(0));
const ratio = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));

/** The side-by-side table: each model in Node and in Chromium, and its ratios to the teacher on the same side. */
export function browserTable(b: BrowserBench): string {
  const teacher = b.models.find((m) => m.kind === "use-lite");
  const vs = (m: ModelResult, f: (t: ModelResult, x: ModelResult) => number) => (teacher ? ratio(f(teacher, m)) : "–");
  return [
    "| model | runs as (Node / Chromium) | MB loaded | × smaller | ms/sentence Node | ms/sentence Chromium | × faster Node / Chromium | sentences/s Node | sentences/s Chromium | × throughput Node / Chromium | Chromium ÷ Node (batch 1) | load ms Node / Chromium | max \\|page − Node\\| |",
    "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ...b.models.map((m) => {
      const n = m.node.timing;
      const c = m.chromium.timing;
      return [
        m.name,
        `${m.node.runs} / ${m.chromium.runs}`,
        (m.chromium.bytes / 1e6).toFixed(2),
        vs(m, (t, x) => t.chromium.bytes / x.chromium.bytes),
        ms(n.msPerSentence),
        ms(c.msPerSentence),
        `${vs(m, (t, x) => t.node.timing.msPerSentence / x.node.timing.msPerSentence)} / ${vs(m, (t, x) => t.chromium.timing.msPerSentence / x.chromium.timing.msPerSentence)}`,
        n.sentencesPerSecond.toFixed(0),
        c.sentencesPerSecond.toFixed(0),
        `${vs(m, (t, x) => x.node.timing.sentencesPerSecond / t.node.timing.sentencesPerSecond)} / ${vs(m, (t, x) => x.chromium.timing.sentencesPerSecond / t.chromium.timing.sentencesPerSecond)}`,
        ratio(c.msPerSentence / n.msPerSentence),
        `${m.node.loadMs.toFixed(0)} / ${m.chromium.loadMs.toFixed(0)}`,
        m.maxAbsDiff === 0 ? "0" : m.maxAbsDiff.toExponential(1),
      ].join(" | ");
    }).map((row) => `| ${row} |`),
  ].join("\n");
}

/** One sentence of ranges read off the table: students vs the teacher per side, and Chromium vs Node. */
function summary(b: BrowserBench, teacher: ModelResult): string {
  const students = b.models.filter((m) => m !== teacher);
  if (students.length === 0) return "";
  const range = (xs: number[]) => `${ratio(Math.min(...xs))}–${ratio(Math.max(...xs))}×`;
  const faster = (side: "node" | "chromium") => range(students.map((m) => teacher[side].timing.msPerSentence / m[side].timing.msPerSentence));
  const chromeOverNode = range(b.models.map((m) => m.chromium.timing.msPerSentence / m.node.timing.msPerSentence));
  return `At batch 1 the students were ${faster("node")} faster than the teacher in Node and ${faster("chromium")} in Chromium; Chromium's batch-1 time was ${chromeOverNode} Node's across all rows (this run, this load).`;
}

function section(b: BrowserBench, command: string, seconds: number, note: string): string {
  const teacher = b.models.find((m) => m.kind === "use-lite");
  return [
    "## Embedding students in Chromium and Node (`bench/embeddings-browser.ts`)",
    "",
    `Command: \`${command}\` — ${new Date().toISOString().slice(0, 10)}, on the students of \`${b.runDir}\` (${b.quick ? "`--quick` run" : "full run"} of recipes/use-embeddings.yaml), ` +
      `${b.sentences} fortune quotes of that run, Chromium ${b.chromiumVersion} (headless, playwright-core) and Node ${b.nodeVersion} in the same run, ${Math.round(seconds)} s; ` +
      `${cpus().length} cores shared with other jobs (load average ${loadavg()[0].toFixed(0)} when this was written): timings are noisy, compare within a row.${note ? ` ${note}` : ""}`,
    "",
    "Batch 1: median ms over every sentence, one call each, after 10 warm-up calls; throughput: whole passes over the sentences in batches of 32. " +
      "One thread on both sides (onnxruntime `intraOpNumThreads`/`numThreads` 1, TF.js wasm `setThreadsCount(1)`); the page is cross-origin isolated (its clock then ticks in 5 µs, not 100 µs). " +
      "MB loaded: bytes of model files the page fetched (teacher: model.json, weight shards, vocab.json; static and bag: config.json, embeddings.safetensors, tokenizer.json; classifier: the .onnx file and tokenizer.json), not the runtime code; Node reads the same files. " +
      "× smaller / faster / throughput: against the teacher on the same side. max |page − Node|: largest difference of the vectors (classifiers: logits) of the first sentences.",
    "",
    browserTable(b),
    ...(teacher ? ["", `Teacher in Node: ${teacher.node.runs}; in Chromium: ${teacher.chromium.runs}. ${summary(b, teacher)}`] : []),
    ...(b.skipped.length ? ["", `Not measured: ${b.skipped.join("; ")}.`] : []),
  ].join("\n");
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { sentences: { type: "string", default: "64" }, seconds: { type: "string", default: "4" }, write: { type: "boolean", default: false }, note: { type: "string", default: "" } },
  });
  const runDir = positionals[0] ?? newestEmbeddingRun();
  if (!runDir) {
    process.stderr.write("bench/embeddings-browser.ts: no use-embeddings run under runs/; run `npx tsdistill run recipes/use-embeddings.yaml --quick` first or pass RUN_DIR\n");
    process.exit(2);
  }
  const sentences = Number(values.sentences);
  const seconds = Number(values.seconds);
  if (!(Number.isInteger(sentences) && sentences >= 1) || !(seconds > 0)) {
    process.stderr.write("--sentences: expected a positive integer; --seconds: a positive number\n");
    process.exit(2);
  }
  const t0 = performance.now();
  const b = await measureEmbeddingsBrowser(runDir, { sentences, throughputSeconds: seconds, info: (l) => process.stderr.write(`${l}\n`) });
  const elapsed = (performance.now() - t0) / 1000;
  const table = browserTable(b);
  process.stdout.write(`${table}\n${b.skipped.length ? `not measured: ${b.skipped.join("; ")}\n` : ""}`);
  if (values.write) {
    const args = [runDir, ...(values.sentences !== "64" ? ["--sentences", values.sentences!] : []), ...(values.seconds !== "4" ? ["--seconds", values.seconds!] : [])];
    const command = `nice -n 10 node --import tsx bench/embeddings-browser.ts ${args.join(" ")} --write`;
    const file = "docs/RESULTS.md";
    writeFileAtomic(file, replaceSection(existsSync(file) ? readFileSync(file, "utf8") : "# Results\n", SECTION, section(b, command, elapsed, values.note!)));
    process.stdout.write(`wrote ${file} (section ${SECTION})\n`);
  }
}

// Bad input (no run, not a use-embeddings run, a missing file): one line and exit 1, nothing written.
await main().catch((err: Error) => {
  process.stderr.write(`bench/embeddings-browser.ts: ${err.message.split("\n")[0]}\n`);
  process.exit(1);
});
