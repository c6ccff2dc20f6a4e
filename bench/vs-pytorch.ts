// tsdistill-native, tsdistill-wasm (and ONNX Runtime for inference) against PyTorch on the same workloads, run
// in alternation in one invocation so machine load hits every side alike; writes docs/PERFORMANCE.md.
// Run: node --import tsx bench/vs-pytorch.ts [--seconds S] [--rounds N] [--no-skylakex] [--group mlp|transformer]
// [--results FILE] [--resume] (< 10 minutes by default). The OPENBLAS_CORETYPE=SkylakeX pass runs one round of the OpenBLAS users (native,
// PyTorch) of the MLP/CNN group only. Each group's table goes between its own markers in docs/PERFORMANCE.md.
// Each measurement is its own process (fresh peak RSS); PyTorch runs bench/pytorch_bench.py under /usr/bin/python3.
import { spawnSync } from "node:child_process";
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { cpus, loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs-core";
import { useBackend, type BackendName } from "../src/engine/backend.js";
import { nativeAddon, nativeLoadError } from "../src/engine/native-addon.js";
import { SequentialModel } from "../src/students/model.js";
import { SHAPE, trainStep, type TrainWorkload } from "./train-step.js";
import { modelConfigFromSpec } from "../src/students/spec.js";
import { exportOnnx } from "../src/export/onnx.js";
import { OnnxRunner } from "../src/export/onnx-runtime.js";
import { Rng } from "../src/util/rng.js";
import { writeFileAtomic } from "../src/util/files.js";
import { runTransformerWorkload, STUDENT_SPEC, TEACHER_SPEC, TRANSFORMER_WORKLOADS, type TransformerWorkload } from "./transformer-workloads.js";

type Workload = "kd-mlp" | "cnn" | "infer" | TransformerWorkload;
type Group = "mlp" | "transformer";
type System = "native" | "wasm" | "onnx" | "pytorch" | "pytorch-tuned";
interface Result {
  samples_per_s: number;
  p50_ms?: number;
  peak_rss_mb: number;
  final_loss?: number;
  steps: number;
  /** Minor page faults per timed step (fresh memory touched for the first time). */
  faults_per_step?: number;
  error?: string;
}

const PYTHON = "/usr/bin/python3";
const here = fileURLToPath(new URL(".", import.meta.url));

function batches(batch: number, count = 8): { x: tf.Tensor; y: tf.Tensor1D }[] {
  const rng = new Rng(0, "bench");
  return Array.from({ length: count }, () => ({
    x: tf.tensor(Float32Array.from({ length: batch * 784 }, () => rng.next()), [batch, 28, 28, 1]),
    y: tf.tensor1d(Int32Array.from({ length: batch }, () => rng.int(10)), "int32"),
  }));
}

let faultsPerStep: number | undefined;

/** Warm-up steps, then steps until `seconds` have passed (at least minSteps); notes minor page faults per timed step. */
async function timed(step: (i: number) => Promise<void> | void, seconds: number, warmup = 3, minSteps = 3): Promise<{ n: number; dt: number }> {
  for (let i = 0; i < warmup; i++) await step(i);
  const faults = process.resourceUsage().minorPageFault;
  const start = performance.now();
  let n = 0;
  while (n < minSteps || performance.now() - start < seconds * 1000) await step(n++);
  faultsPerStep = (process.resourceUsage().minorPageFault - faults) / n;
  return { n, dt: (performance.now() - start) / 1000 };
}

async function train(workload: TrainWorkload, batch: number, seconds: number): Promise<Omit<Result, "peak_rss_mb">> {
  const step = trainStep(workload);
  const data = batches(batch);
  let loss = NaN;
  const { n, dt } = await timed((i) => {
    loss = step(data[i % data.length].x, data[i % data.length].y);
  }, seconds, workload === "cnn" ? 1 : 3);
  return { samples_per_s: (n * batch) / dt, steps: n, final_loss: loss };
}

async function infer(system: System, batch: number, seconds: number): Promise<Omit<Result, "peak_rss_mb">> {
  const student = new SequentialModel(modelConfigFromSpec("mlp:800-800", SHAPE), 2);
  const data = batches(batch);
  const times: number[] = [];
  let step: (i: number) => Promise<void> | void;
  if (system === "onnx") {
    const runner = await OnnxRunner.create(exportOnnx(student), { threads: 2 });
    const inputs = data.map((d) => d.x.dataSync() as Float32Array);
    step = async (i) => {
      const t0 = performance.now();
      await runner.run(inputs[i % inputs.length], [batch, 28, 28, 1]);
      times.push(performance.now() - t0);
    };
  } else {
    step = (i) => {
      const t0 = performance.now();
      tf.tidy(() => student.forward(data[i % data.length].x).logits.dataSync());
      times.push(performance.now() - t0);
    };
  }
  const { n, dt } = await timed(step, seconds, 20);
  const sorted = times.slice(20).sort((a, b) => a - b);
  return { samples_per_s: (n * batch) / dt, p50_ms: sorted[Math.floor(sorted.length / 2)], steps: n };
}

async function worker(system: System, workload: Workload, batch: number, seconds: number): Promise<void> {
  const backend: BackendName = system === "wasm" ? "wasm" : system === "native" ? "native" : "wasm";
  if ((await useBackend(backend, { fallback: false })) !== backend) throw new Error(`backend ${backend} did not start`);
  const r = TRANSFORMER_WORKLOADS.includes(workload)
    ? await runTransformerWorkload(workload as TransformerWorkload, system === "onnx", batch, seconds, timed)
    : workload === "infer"
      ? await infer(system, batch, seconds)
      : await train(workload as TrainWorkload, batch, seconds);
  process.stdout.write(JSON.stringify({ ...r, peak_rss_mb: process.resourceUsage().maxRSS / 1024, faults_per_step: faultsPerStep }) + "\n");
}

// ---- orchestration ---------------------------------------------------------------------------------------

/**
 * PyTorch's best settings found here: glibc keeps freed blocks for reuse (what the native addon sets in-process
 * with mallopt; without it every step's fresh tensors are faulted in again, ~14 µs per 4 KiB page on this VM),
 * and for the MLP one ATen thread beside OpenBLAS's threads plus Adam's foreach update (bench/pytorch_bench.py).
 */
const TUNED_TORCH_ENV = { GLIBC_TUNABLES: "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=1073741824", TSDISTILL_BENCH_TORCH: "tuned" };

function runOne(system: System, workload: Workload, batch: number, seconds: number, baseEnv: NodeJS.ProcessEnv): Result {
  const env = system === "pytorch-tuned" ? { ...baseEnv, ...TUNED_TORCH_ENV } : baseEnv;
  const [cmd, args] =
    system === "pytorch" || system === "pytorch-tuned"
      ? [PYTHON, [`${here}pytorch_bench.py`, workload, String(batch), String(seconds)]]
      : [process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url), "--worker", system, workload, String(batch), String(seconds)]];
  const r = spawnSync(cmd, args, { env, encoding: "utf8", timeout: 600_000 });
  const line = (r.stdout ?? "").trim().split("\n").pop() ?? "";
  try {
    return JSON.parse(line) as Result;
  } catch {
    return { samples_per_s: NaN, peak_rss_mb: NaN, steps: 0, error: `${(r.stderr ?? "").trim().split("\n").pop() ?? "no output"}` };
  }
}

interface Case {
  name: string;
  group: Group;
  workload: Workload;
  batch: number;
  systems: System[];
  /** Compared by p50 latency (ms) instead of throughput. */
  latency?: boolean;
}

const CASES: Case[] = [
  { name: "KD training MLP, batch 128", group: "mlp", workload: "kd-mlp", batch: 128, systems: ["native", "wasm", "pytorch", "pytorch-tuned"] },
  { name: "KD training MLP, batch 512", group: "mlp", workload: "kd-mlp", batch: 512, systems: ["native", "wasm", "pytorch", "pytorch-tuned"] },
  { name: "CNN training, batch 128", group: "mlp", workload: "cnn", batch: 128, systems: ["native", "wasm", "pytorch", "pytorch-tuned"] },
  { name: "MLP inference, batch 1", group: "mlp", workload: "infer", batch: 1, systems: ["native", "wasm", "onnx", "pytorch", "pytorch-tuned"], latency: true },
  { name: "MLP inference, batch 256", group: "mlp", workload: "infer", batch: 256, systems: ["native", "wasm", "onnx", "pytorch", "pytorch-tuned"] },
  { name: "LM training, batch 16 × 128", group: "transformer", workload: "lm-train", batch: 16, systems: ["native", "pytorch", "pytorch-tuned"] },
  { name: "LM KD (2×-wide teacher), batch 16 × 128", group: "transformer", workload: "lm-kd", batch: 16, systems: ["native", "pytorch", "pytorch-tuned"] },
  { name: "LM generation, batch 1, per token", group: "transformer", workload: "lm-gen", batch: 1, systems: ["native", "wasm", "onnx", "pytorch", "pytorch-tuned"], latency: true },
  { name: "LM forward, batch 32 × 128", group: "transformer", workload: "lm-fwd", batch: 32, systems: ["native", "onnx", "pytorch", "pytorch-tuned"] },
];
const LABEL: Record<System, string> = {
  native: "tsdistill-native",
  wasm: "tsdistill-wasm",
  onnx: "ONNX Runtime (exported student)",
  pytorch: "PyTorch",
  "pytorch-tuned": "PyTorch, tuned",
};

function best(rs: Result[], c: Case): Result {
  const ok = rs.filter((r) => !r.error);
  if (ok.length === 0) return rs[0];
  // Best round: machine load only ever slows a run down.
  const key = (r: Result) => (c.latency ? -(r.p50_ms ?? Infinity) : r.samples_per_s);
  return ok.reduce((a, b) => (key(b) > key(a) ? b : a));
}

function ratio(r: Result, base: Result | undefined, latencyCase: boolean): string {
  if (!base || base.error) return "–";
  return latencyCase ? `${((base.p50_ms ?? NaN) / (r.p50_ms ?? NaN)).toFixed(2)}× (latency)` : `${(r.samples_per_s / base.samples_per_s).toFixed(2)}×`;
}

function table(results: Map<string, Result>, envName: string, cases: Case[]): string[] {
  const unit = cases[0]?.group === "transformer" ? "tokens/s" : "samples/s";
  const lines = [`| workload | system | ${unit} | p50 latency | peak RSS | page faults / step | vs PyTorch | vs PyTorch, tuned |`, `|:--|:--|--:|--:|--:|--:|--:|--:|`];
  for (const c of cases) {
    const torch = results.get(`${envName}|${c.name}|pytorch`);
    const tuned = results.get(`${envName}|${c.name}|pytorch-tuned`);
    for (const s of c.systems) {
      const r = results.get(`${envName}|${c.name}|${s}`);
      if (!r) continue;
      if (r.error) {
        lines.push(`| ${c.name} | ${LABEL[s]} | failed: ${r.error} | | | | | |`);
        continue;
      }
      const latencyCase = Boolean(c.latency);
      lines.push(`| ${c.name} | ${LABEL[s]} | ${Math.round(r.samples_per_s).toLocaleString("en-US")} | ${r.p50_ms !== undefined ? `${r.p50_ms.toFixed(3)} ms` : "–"} | ${Math.round(r.peak_rss_mb)} MB | ${r.faults_per_step === undefined || r.faults_per_step === null ? "–" : Math.round(r.faults_per_step).toLocaleString("en-US")} | ${ratio(r, torch, latencyCase)} | ${ratio(r, tuned, latencyCase)} |`);
    }
  }
  return lines;
}

/** Replaces the text between `<!-- NAME:start … -->` and `<!-- NAME:end -->` in docs/PERFORMANCE.md (appends it when absent). */
function writeSection(marker: string, lines: string[]): void {
  const path = `${here}../docs/PERFORMANCE.md`;
  const measured = [`<!-- ${marker}:start (written by bench/vs-pytorch.ts) -->`, ...lines, `<!-- ${marker}:end -->`].join("\n");
  const old = existsSync(path) ? readFileSync(path, "utf8") : "# Performance: tsdistill (native BLAS backend, wasm) vs PyTorch\n";
  const m = new RegExp(`<!-- ${marker}:start[^]*?<!-- ${marker}:end -->`).exec(old);
  writeFileAtomic(path, m ? old.replace(m[0], () => measured) : `${old.trimEnd()}\n\n${measured}\n`);
}

async function orchestrate(argv: string[]): Promise<void> {
  const opt = (name: string, dflt: number) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? Number(argv[i + 1]) : dflt;
  };
  const seconds = opt("seconds", 2);
  const rounds = opt("rounds", 2);
  const gi = argv.indexOf("--group");
  const groups: Group[] = gi >= 0 ? [argv[gi + 1] as Group] : ["mlp", "transformer"];
  if (!groups.every((g) => g === "mlp" || g === "transformer")) throw new Error(`--group: expected mlp or transformer, got ${argv[gi + 1]}`);
  const cases = CASES.filter((c) => groups.includes(c.group));
  if (!nativeAddon) console.log(`note: native addon not loaded (${nativeLoadError}); its rows will show the failure`);
  const hasTorch = spawnSync(PYTHON, ["-c", "import torch"], { stdio: "ignore" }).status === 0;
  const envs: [string, NodeJS.ProcessEnv][] = [["default", { ...process.env }]];
  if (!argv.includes("--no-skylakex") && groups.includes("mlp")) envs.push(["OPENBLAS_CORETYPE=SkylakeX", { ...process.env, OPENBLAS_CORETYPE: "SkylakeX" }]);
  // Every measurement is appended to a results file as it comes and the tables are rewritten, so a run stopped
  // early keeps what it measured; --resume continues a stopped run (same options) from that file.
  const ri = argv.indexOf("--results");
  const resultsFile = ri >= 0 ? argv[ri + 1] : `${here}../.tmp/vs-pytorch-results.jsonl`;
  const all = new Map<string, Result[]>();
  const done = new Set<string>();
  if (argv.includes("--resume") && existsSync(resultsFile)) {
    for (const line of readFileSync(resultsFile, "utf8").split("\n").filter(Boolean)) {
      const e = JSON.parse(line) as { key: string; round: number; result: Result };
      all.set(e.key, [...(all.get(e.key) ?? []), e.result]);
      done.add(`${e.key}|${e.round}`);
    }
    console.log(`resuming: ${done.size} measurements from ${resultsFile}`);
  } else {
    mkdirSync(dirname(resultsFile), { recursive: true });
    writeFileSync(resultsFile, "");
  }
  const started = Date.now();
  const loadStart = loadavg();
  let gflops = "";
  function writeDocs(print = false): void {
    const results = new Map([...all].map(([k, rs]) => {
      const c = CASES.find((x) => k.includes(`|${x.name}|`)) as Case;
      return [k, best(rs, c)];
    }));
    const minutes = ((Date.now() - started) / 60000).toFixed(1);
    const doctor = nativeAddon ? nativeAddon.blasInfo() : null;
    const command = `node --import tsx bench/vs-pytorch.ts --seconds ${seconds} --rounds ${rounds}${gi >= 0 ? ` --group ${groups[0]}` : ""}${argv.includes("--resume") ? " --resume" : ""}`;
    const machine =
      `CPU ${cpus()[0]?.model} × ${cpus().length}, Node ${process.version}, ${doctor ? `OpenBLAS: ${doctor.config}` : `native addon not loaded (${nativeLoadError})`}. ` +
      "PyTorch: Debian python3-torch 1.13 on the system OpenBLAS (libblas.so.3 → openblas-pthread), `torch.set_num_threads(2)`.";
    if (groups.includes("mlp")) {
      const md = [
        "",
        `Measured by \`${command}\` on ${new Date().toISOString().slice(0, 10)}, ${minutes} min, ${machine}`,
        "",
        "Each cell is the best of the rounds; every measurement is its own process (so peak RSS is per workload), and the",
        "systems run in alternation within each round, so machine load hits every side alike. " +
          `1-minute load average at the start ${loadStart[0].toFixed(2)}, at the end ${loadavg()[0].toFixed(2)} (the benchmark itself keeps it near 2). ` +
          "Data are synthetic MNIST-shaped batches (uniform pixels, random labels): speed does not depend on the values.",
        "PyTorch, tuned: the same run with glibc keeping freed memory (`GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:" +
          "glibc.malloc.trim_threshold=1073741824`, what the native addon sets in-process), and for the KD MLP one ATen thread " +
          "(`torch.set_num_threads(1)`; OpenBLAS keeps its 2) and Adam with `foreach=True`.",
        "",
        "Workloads: KD = Hinton KD step (T = 4, α = 0.1, Adam) of the 784-800-800-10 student with the 784-1200-1200-10",
        "teacher's forward pass every step; CNN = cross-entropy training of conv5×5×32-pool-conv5×5×64-pool-dense128-10",
        "('same' padding, Adam); inference = the 784-800-800-10 student (ONNX Runtime: the student exported by",
        "src/export/onnx.ts, 2 intra-op threads).",
        "",
      ];
      for (const [envName] of envs) md.push(`## Environment: ${envName}`, "", ...table(results, envName, cases.filter((c) => c.group === "mlp")), "");
      writeSection("bench", md);
      if (print) console.log(md.join("\n"));
    }
    if (groups.includes("transformer")) {
      const md = [
        "## Transformer student vs PyTorch",
        "",
        `Measured by \`${command}\` on ${new Date().toISOString().slice(0, 10)}, ${minutes} min, ${machine} ` +
          `PyTorch's 1024³ sgemm at the start: ${gflops || "–"}.`,
        "",
        `**Machine load**: 1/5/15-minute load average ${loadStart.map((v) => v.toFixed(1)).join(" / ")} at the start and ` +
          `${loadavg().map((v) => v.toFixed(1)).join(" / ")} at the end on ${cpus().length} cores (other jobs shared the machine; ` +
          "the sides alternate in every round so the load hits all alike, and each cell is the best of the rounds).",
        "",
        `Model (both sides, layer for layer): \`${STUDENT_SPEC}\`, byte-level vocabulary (260 ids), untied LM head, no`,
        "dropout; random byte windows (speed does not depend on the values). Training: next-token cross-entropy + Adam,",
        `batch 16 × 128 tokens. KD: the same step plus the forward pass of a 2×-wide teacher (\`${TEACHER_SPEC.replace("transformer:", "")}\`)`,
        "outside the tape / under no_grad, loss 0.5·CE + 0.5·token forward KL. Generation: batch 1, greedy, 64 new tokens",
        "after a 64-token prompt, median ms per token over the runs (tsdistill: src/generate's KvCache; PyTorch: the same",
        "KV cache in the model; ONNX Runtime: the student exported with `pastKeyValues`, its present.* fed back as",
        "past_key_values.*, 1 intra-op thread: 2 were 2–3× slower per token here). Forward: batch 32 × 128 tokens, all",
      "logits; ONNX Runtime with 2 intra-op threads. wasm runs",
        "the generation row only (its training and batch-32 steps take minutes each on this machine; not a target).",
        "PyTorch, tuned: glibc keeps freed memory (`GLIBC_TUNABLES` as above), Adam with `foreach=True`, and one ATen",
      "thread for generation.",
        "",
        ...table(results, "default", cases.filter((c) => c.group === "transformer")),
        "",
      ];
      writeSection("bench-transformer", md);
      if (print) console.log(md.join("\n"));
    }
  }
  for (const [envName, env] of envs) {
    const gemm = hasTorch ? runOne("pytorch", "sgemm" as Workload, 0, 1, env) : null;
    if (gemm) console.log(`[${envName}] PyTorch 1024³ sgemm: ${(gemm as unknown as { gflops: number }).gflops?.toFixed(0)} GFLOPS (${(gemm as unknown as { blas: string }).blas})`);
    if (gemm && envName === "default") gflops = `${(gemm as unknown as { gflops: number }).gflops?.toFixed(0)} GFLOPS`;
    for (let round = 0; round < rounds; round++) {
      for (const c of cases) {
        for (const s of c.systems) {
          if ((s === "pytorch" || s === "pytorch-tuned") && !hasTorch) continue;
          // wasm and ONNX Runtime do not use OpenBLAS: the core type changes nothing for them.
          if (envName !== "default" && (s === "wasm" || s === "onnx")) continue;
          if (envName !== "default" && (round > 0 || c.group !== "mlp")) continue;
          // wasm at batch 512 (and on the transformer) takes long per step and is not a target: one round is enough.
          if (s === "wasm" && (c.batch === 512 || c.group === "transformer") && round > 0) continue;
          const key = `${envName}|${c.name}|${s}`;
          if (done.has(`${key}|${round}`)) continue;
          const r = runOne(s, c.workload, c.batch, seconds, env);
          all.set(key, [...(all.get(key) ?? []), r]);
          appendFileSync(resultsFile, JSON.stringify({ key, round, result: r }) + "\n");
          writeDocs();
          const unit = c.group === "transformer" ? (c.latency ? "tokens/s generated" : "tokens/s") : "samples/s";
          console.log(`[${envName}] round ${round + 1} ${c.name} ${LABEL[s]}: ${r.error ? `failed (${r.error})` : `${Math.round(r.samples_per_s)} ${unit}${r.p50_ms !== undefined ? `, p50 ${r.p50_ms.toFixed(3)} ms` : ""}, peak RSS ${Math.round(r.peak_rss_mb)} MB`}`);
        }
      }
    }
  }
  writeDocs(true);
}

const argv = process.argv.slice(2);
if (argv[0] === "--worker") {
  await worker(argv[1] as System, argv[2] as Workload, Number(argv[3]), Number(argv[4]));
  process.exit(0);
} else {
  await orchestrate(argv);
}
