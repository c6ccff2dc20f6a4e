// The measurement behind bench/embeddings-browser.ts: the teacher (USE-lite) and the students a run of
// recipes/use-embeddings.yaml saved, each loaded and timed in Node and in Chromium (playwright-core, Debian's
// /usr/bin/chromium) in the same process run, with the same timing code (src/eval/time-embedding.mjs) on the same
// sentences. What a page loads is counted by the local server; the page's vectors are compared with Node's.
//
//   teacher          Node: TF.js wasm (tfjs-backend-wasm)          page: tf.min.js + tf-backend-wasm (wasm, else cpu)
//   static, bag      Node: the embedding runtime (openEmbedder)    page: the documented snippet (embed-runtime.mjs)
//   classifier       Node: its ONNX export in onnxruntime-node     page: the same file in onnxruntime-web (wasm)
//
// One thread everywhere (onnxruntime-node intraOpNumThreads 1, onnxruntime-web numThreads 1, TF.js wasm
// setThreadsCount(1)). The page is cross-origin isolated, as a site using threaded wasm would be; that also makes
// its clock fine enough for sub-millisecond latencies. Everything is served from 127.0.0.1; nothing comes from the
// network.
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { extname, join, relative } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { useBackend } from "../src/engine/backend.js";
import { DEFAULT_FORTUNE_CATEGORIES, loadFortunes } from "../src/data/fortunes.js";
import { loadEmbeddingModel } from "../src/embeddings/embedding-model.js";
import { openEmbedder } from "../src/embeddings/transformer-embedder.js";
import { timeEmbedding, type EmbedTiming } from "../src/eval/embedding-metrics.js";
import { bytesOnDisk } from "../src/eval/size.js";
import { embeddingOnnxFeeds, saveEmbeddingOnnx } from "../src/export/onnx-embeddings.js";
import { parseEmbeddingRecipe } from "../src/experiments/embedding-recipe.js";
import { inferenceBytes, useLiteBytes, type EmbeddingRecipeResult } from "../src/experiments/embedding-run.js";
import { openUseLite, useLiteDir } from "../src/teachers/embedding/tfjs-embedding-teacher.js";
import { ortModule } from "../src/util/ort.js";
import { callPage, openPage, ORT_WEB, serveFiles, TFJS_BUNDLE } from "../test/browser-page.js";

export interface BenchModel {
  name: string;
  kind: "use-lite" | "runtime" | "onnx";
  /** The saved folder (students); the ONNX file is exported from it into a temporary folder. */
  dir: string | null;
}

export interface SideResult {
  /** What ran it, e.g. "TF.js wasm (SIMD)" or "onnxruntime-web wasm". */
  runs: string;
  /** Bytes of the model's files (Node: on disk; Chromium: what the page fetched, runtime code excluded). */
  bytes: number;
  loadMs: number;
  timing: EmbedTiming;
}

export interface ModelResult extends BenchModel {
  node: SideResult;
  chromium: SideResult;
  /** Largest |page − Node| over the check sentences' vectors. */
  maxAbsDiff: number;
  dim: number;
}

export interface BrowserBench {
  runDir: string;
  quick: boolean;
  sentences: number;
  chromiumVersion: string;
  nodeVersion: string;
  models: ModelResult[];
  /** Students that could not be opened in Node, with the reason. */
  skipped: string[];
}

/** The teacher and the students of a use-embeddings run: static tables, bag students, distilled classifiers. */
export function benchModels(runDir: string): { result: EmbeddingRecipeResult; models: BenchModel[] } {
  const file = join(runDir, "results.json");
  if (!existsSync(file)) throw new Error(`${runDir}: no results.json; expected a finished run of recipes/use-embeddings.yaml`);
  const result = JSON.parse(readFileSync(file, "utf8")) as EmbeddingRecipeResult;
  const teacher = result.rows.find((r) => r.role === "teacher")?.model ?? "";
  if (!teacher.startsWith("USE-lite")) throw new Error(`${file}: the teacher is "${teacher}"; this bench runs USE-lite (teacher: use-lite) in the page`);
  const models: BenchModel[] = [{ name: "USE-lite (teacher)", kind: "use-lite", dir: null }];
  for (const row of result.rows) {
    if (!row.dir) continue;
    const dir = join(runDir, row.dir);
    const { kind, context } = JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as { kind?: string; context?: number };
    if (row.role === "static") models.push({ name: row.model, kind: "runtime", dir });
    else if (row.role === "trained" && (kind === "bag" || (context ?? 0) > 0)) models.push({ name: row.model, kind: "runtime", dir });
    else if (row.role === "distilled classifier") models.push({ name: `${row.model} (ONNX)`, kind: "onnx", dir });
  }
  return { result, models };
}

type RawData = { dir?: unknown; categories?: unknown; perCategory?: unknown };
const pickData = (d: RawData | undefined) => (d ? { dir: d.dir, categories: d.categories, perCategory: d.perCategory } : undefined);

/**
 * The labelled quotes of the run (same categories, sample and seed), every k-th, `n` of them: the timed sentences.
 * Only the fields that choose them are read from the run's recipe (through the recipe schema, for its defaults), so
 * runs of recipes with fields this version does not know still work.
 */
export function benchSentences(runDir: string, n: number): string[] {
  const config = JSON.parse(readFileSync(join(runDir, "config.json"), "utf8")) as { file: string; recipe: { seed?: unknown; data?: RawData; quick?: { seed?: unknown; data?: RawData } } };
  const quick = (JSON.parse(readFileSync(join(runDir, "results.json"), "utf8")) as { quick: boolean }).quick;
  const raw = config.recipe;
  const sampling = { kind: "embedding", seed: raw.seed, data: pickData(raw.data), static: { dims: [32] }, ...(quick ? { quick: { seed: raw.quick?.seed, data: pickData(raw.quick?.data) } } : {}) };
  const r = parseEmbeddingRecipe(JSON.parse(JSON.stringify(sampling)), config.file, { quick });
  const texts = loadFortunes({ dir: r.data.dir, categories: r.data.categories ?? DEFAULT_FORTUNE_CATEGORIES, maxPerCategory: r.data.perCategory, seed: r.seed }).texts;
  const k = Math.max(1, Math.floor(texts.length / n));
  return texts.filter((_, i) => i % k === 0).slice(0, n);
}

// The page: window.__measure({ model, texts, check, timing }) opens one model as a page would, embeds the check
// sentences and times it with the shared timing module.
const PAGE = `<!doctype html><meta charset="utf-8"><script src="/tf.min.js"></script><script src="/tfwasm/tf-backend-wasm.min.js"></script><script type="module">
import * as ort from "/ort/ort.wasm.min.mjs";
import { timeEmbedding } from "/timing/time-embedding.mjs";
import { SentencePieceTokenizer, tokenizerFromJson } from "/rt/embed-runtime.mjs";
ort.env.wasm.wasmPaths = "/ort/";
ort.env.wasm.numThreads = 1;
tf.wasm.setWasmPaths("/tfwasm/");
tf.wasm.setThreadsCount(1);
const json = async (url) => (await fetch(url)).json();
const rowsOf = (data, n) => Array.from({ length: n }, (_, i) => data.subarray((i * data.length) / n, ((i + 1) * data.length) / n));
async function open(m) {
  if (m.kind === "use-lite") {
    if (!(await tf.setBackend("wasm"))) await tf.setBackend("cpu");
    await tf.ready();
    const graph = await tf.loadGraphModel(m.base + "model.json");
    const sp = new SentencePieceTokenizer(await json(m.base + "vocab.json"));
    const simd = tf.getBackend() === "wasm" && (await Promise.resolve().then(() => tf.env().getAsync("WASM_HAS_SIMD_SUPPORT")).catch(() => false));
    return {
      runs: "TF.js " + tf.getBackend() + (simd === true ? " (SIMD)" : ""),
      // As the Node teacher: the first maxTokens ids of each text as one sparse batch; a text without ids is zeros.
      embed: async (texts) => {
        const ids = texts.map((t) => sp.encode(t).slice(0, m.maxTokens));
        const kept = ids.map((r, i) => (r.length ? i : -1)).filter((i) => i >= 0);
        const out = new Float32Array(texts.length * 512);
        if (kept.length === 0) return rowsOf(out, texts.length);
        const indices = [], values = [];
        kept.forEach((row, i) => ids[row].forEach((id, j) => (indices.push(i, j), values.push(id))));
        const feeds = { indices: tf.tensor2d(indices, [values.length, 2], "int32"), values: tf.tensor1d(values, "int32") };
        const y = await graph.executeAsync(feeds);
        const data = await y.data();
        tf.dispose([y, feeds.indices, feeds.values]);
        const d = data.length / kept.length;
        kept.forEach((row, k) => out.set(data.subarray(k * d, (k + 1) * d), row * d));
        return rowsOf(out, texts.length);
      },
      dispose: () => graph.dispose(),
    };
  }
  if (m.kind === "onnx") {
    const tok = tokenizerFromJson(await json(m.base + "tokenizer.json"));
    const session = await ort.InferenceSession.create(m.onnx, { executionProviders: ["wasm"] });
    return {
      runs: "onnxruntime-web wasm",
      // As embeddingOnnxFeeds in Node: ids right-padded with 0 and the mask, int64 [n, longest].
      embed: async (texts) => {
        const rows = texts.map((t) => tok.encode(t));
        const T = Math.max(1, ...rows.map((r) => r.length));
        const ids = new BigInt64Array(texts.length * T), mask = new BigInt64Array(texts.length * T);
        rows.forEach((r, i) => r.forEach((id, j) => ((ids[i * T + j] = BigInt(id)), (mask[i * T + j] = 1n))));
        const out = await session.run({ input_ids: new ort.Tensor("int64", ids, [texts.length, T]), attention_mask: new ort.Tensor("int64", mask, [texts.length, T]) });
        return rowsOf(out.embeddings.data, texts.length);
      },
      dispose: () => session.release(),
    };
  }
  // The documented snippet: the runtime shipped in the model's folder, which fetches config, table and tokenizer.
  const { loadEmbeddingModel } = await import(m.base + "embed-runtime.mjs");
  const model = await loadEmbeddingModel(m.base);
  return { runs: "embed-runtime.mjs", embed: (texts) => model.embed(texts), dispose: () => {} };
}
window.__measure = async ({ model, texts, check, timing }) => {
  const t0 = performance.now();
  const e = await open(model);
  const loadMs = performance.now() - t0;
  const vectors = Array.from(await e.embed(check), (v) => Array.from(v));
  const result = await timeEmbedding(e.embed, texts, timing);
  await e.dispose();
  return { runs: e.runs, loadMs, vectors, timing: result };
};
window.__ready = true;
</script>`;

/** Files of a model that are not code: what the "MB" columns count. */
const isModelFile = (path: string) => extname(path) !== ".mjs";

interface NodeSide {
  runs: string;
  bytes: number;
  loadMs: number;
  embed: (texts: string[]) => Promise<Float32Array> | Float32Array;
  dispose: () => Promise<void> | void;
}

async function openInNode(m: BenchModel, maxTokens: number, onnxFile: string | null): Promise<NodeSide> {
  const t0 = performance.now();
  if (m.kind === "use-lite") {
    const teacher = await openUseLite({ maxTokens });
    const loadMs = performance.now() - t0;
    const simd = tf.getBackend() === "wasm" && (await Promise.resolve().then(() => tf.env().getAsync("WASM_HAS_SIMD_SUPPORT")).catch(() => false));
    return { runs: `TF.js ${tf.getBackend()}${simd === true ? " (SIMD)" : ""}`, bytes: useLiteBytes(), loadMs, embed: (t) => teacher.embed(t), dispose: () => teacher.close() };
  }
  if (m.kind === "onnx") {
    const { tokenizer, model } = loadEmbeddingModel(m.dir!);
    model.dispose();
    const session = await ortModule().InferenceSession.create(onnxFile!, { intraOpNumThreads: 1, interOpNumThreads: 1 });
    return {
      runs: "onnxruntime-node",
      bytes: bytesOnDisk(onnxFile!) + bytesOnDisk(join(m.dir!, "tokenizer.json")),
      loadMs: performance.now() - t0,
      embed: async (t) => (await session.run(embeddingOnnxFeeds(tokenizer, t))).embeddings.data as Float32Array,
      dispose: () => session.release(),
    };
  }
  const e = await openEmbedder(m.dir!);
  return { runs: "embed-runtime.mjs", bytes: inferenceBytes(m.dir!), loadMs: performance.now() - t0, embed: (t) => e.embed(t), dispose: () => e.dispose() };
}

export interface MeasureOptions {
  /** Sentences timed at batch 1 (all of them) and passed over in batches of 32 (default 64). */
  sentences?: number;
  /** Seconds of throughput passes per model and side (at least one pass; default 4). */
  throughputSeconds?: number;
  /** Sentences whose vectors are compared between the page and Node (default 8). */
  check?: number;
  /** Only these models (by name prefix); default all. */
  only?: (m: BenchModel) => boolean;
  info?: (line: string) => void;
}

/** Every model of the run in Node and in Chromium: bytes, load time, batch-1 latency, batch-32 throughput, Δ. */
export async function measureEmbeddingsBrowser(runDir: string, opts: MeasureOptions = {}): Promise<BrowserBench> {
  const info = opts.info ?? (() => {});
  const n = opts.sentences ?? 64;
  const { result, models: all } = benchModels(runDir);
  const models = all.filter(opts.only ?? (() => true));
  const texts = benchSentences(runDir, n);
  const check = texts.slice(0, opts.check ?? 8);
  // minSamples = every sentence: the median is over all of them whatever the budget.
  const timing = { warmup: 10, batchSize: 32, maxSeconds: 2 * (opts.throughputSeconds ?? 4), minSamples: texts.length };
  await useBackend("wasm");
  const onnxDir = mkdtempSync(join(tmpdir(), "tsdistill-embed-browser-"));
  let served = 0;
  const server = await serveFiles(PAGE, {
    roots: {
      ...ORT_WEB,
      "/tfwasm/": "node_modules/@tensorflow/tfjs-backend-wasm/dist/",
      "/timing/": "src/eval/",
      "/rt/": "src/embeddings/runtime/",
      "/use/": `${useLiteDir()}/`,
      "/x/": `${runDir}/`,
      "/onnx/": `${onnxDir}/`,
    },
    files: { "/tf.min.js": readFileSync(TFJS_BUNDLE) },
    // Cross-origin isolation: performance.now() ticks in 5 µs instead of 100 µs (static tables take ~0.05 ms).
    isolated: true,
    onServe: (path, bytes) => {
      if (/^\/(use|x|onnx)\//.test(path) && isModelFile(path)) served += bytes;
    },
  });
  const { browser, page, errors, close } = await openPage(server, { timeoutMs: 120_000 });
  const out: ModelResult[] = [];
  const skipped: string[] = [];
  try {
    for (const m of models) {
      let onnxFile: string | null = null;
      let base = "/use/";
      if (m.dir) base = `/x/${relative(runDir, m.dir)}/`;
      let node: NodeSide;
      try {
        if (m.kind === "onnx") {
          const { model } = loadEmbeddingModel(m.dir!);
          onnxFile = join(onnxDir, `${out.length}.onnx`);
          saveEmbeddingOnnx(model, onnxFile);
          model.dispose();
        }
        node = await openInNode(m, result.data.maxTokens, onnxFile);
      } catch (err) {
        // A student folder this version cannot open (e.g. written by a newer tsdistill): named, not measured.
        if (m.kind === "use-lite") throw err;
        skipped.push(`${m.name}: ${(err as Error).message.split("\n")[0]}`);
        info(`skipped ${skipped[skipped.length - 1]}`);
        continue;
      }
      let nodeVectors: Float32Array;
      let nodeTiming: EmbedTiming;
      try {
        nodeVectors = Float32Array.from(await node.embed(check));
        nodeTiming = await timeEmbedding(node.embed, texts, timing);
      } finally {
        await node.dispose();
      }
      served = 0;
      const spec = { kind: m.kind, base, maxTokens: result.data.maxTokens, onnx: onnxFile ? `/onnx/${out.length}.onnx` : null };
      const web = await callPage<{ runs: string; loadMs: number; vectors: number[][]; timing: EmbedTiming }>(page, "__measure", { model: spec, texts, check, timing });
      if (errors.length) throw new Error(`${m.name}: page errors: ${errors.join("; ")}`);
      const flat = web.vectors.flat();
      const dim = nodeVectors.length / check.length;
      if (flat.length !== nodeVectors.length) throw new Error(`${m.name}: the page returned ${flat.length} values for ${check.length} sentences; Node ${nodeVectors.length}`);
      let maxAbsDiff = 0;
      for (let i = 0; i < flat.length; i++) maxAbsDiff = Math.max(maxAbsDiff, Math.abs(flat[i] - nodeVectors[i]));
      const r: ModelResult = {
        ...m,
        dim,
        maxAbsDiff,
        node: { runs: node.runs, bytes: node.bytes, loadMs: node.loadMs, timing: nodeTiming },
        chromium: { runs: web.runs, bytes: served, loadMs: web.loadMs, timing: web.timing },
      };
      out.push(r);
      info(`${m.name}: Node ${nodeTiming.msPerSentence.toFixed(3)} ms, ${nodeTiming.sentencesPerSecond.toFixed(0)}/s; Chromium ${web.timing.msPerSentence.toFixed(3)} ms, ${web.timing.sentencesPerSecond.toFixed(0)}/s; max |Δ| ${maxAbsDiff.toExponential(1)}`);
    }
    return { runDir, quick: result.quick, sentences: texts.length, chromiumVersion: browser.version(), nodeVersion: process.version, models: out, skipped };
  } finally {
    await close();
    rmSync(onnxDir, { recursive: true, force: true });
  }
}
