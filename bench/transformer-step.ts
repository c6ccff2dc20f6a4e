// Training-step speed of a small causal transformer LM (bench/transformer-model.ts: 2 layers, dim 128, 4 heads,
// ff 512, context 64, batch 16, byte vocabulary, Adam) on each backend, in tokens/s. Each backend runs in its own
// process and the backends alternate within each round, so machine load hits every side alike; best round shown.
// Run: node --import tsx bench/transformer-step.ts [--backends native,wasm,cpu] [--seconds S] [--rounds N]
//      node --import tsx bench/transformer-step.ts --profile native [--steps N] [--top K]   (per-kernel time)
//      node --import tsx bench/transformer-step.ts --check native                           (determinism)
import { spawnSync } from "node:child_process";
import { cpus, loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs-core";
import { useBackend, type BackendName } from "../src/engine/backend.js";
import { BENCH_TRANSFORMER, randomTokens, TinyTransformer, transformerTrainer } from "./transformer-model.js";

const BATCH = 16;
const argv = process.argv.slice(2);
const flag = (name: string, dflt: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : dflt;
};

async function start(backend: BackendName) {
  if ((await useBackend(backend, { fallback: false })) !== backend) throw new Error(`backend ${backend} did not start`);
  const cfg = BENCH_TRANSFORMER;
  const model = new TinyTransformer(cfg, 1);
  const trainer = transformerTrainer(model);
  const data = Array.from({ length: 4 }, (_, i) => randomTokens(BATCH, cfg.ctx, cfg.vocab, i));
  let i = 0;
  return { model, trainer, step: () => trainer.step(data[i++ % data.length]), tokens: BATCH * cfg.ctx };
}

async function worker(backend: BackendName, seconds: number): Promise<void> {
  const { step, tokens } = await start(backend);
  const warmup = backend === "cpu" ? 1 : 3;
  for (let i = 0; i < warmup; i++) step();
  const t0 = performance.now();
  let n = 0;
  let loss = NaN;
  while (n < 2 || performance.now() - t0 < seconds * 1000) {
    loss = step();
    n++;
  }
  const dt = (performance.now() - t0) / 1000;
  process.stdout.write(JSON.stringify({ tokens_per_s: (n * tokens) / dt, ms_per_step: (dt * 1000) / n, steps: n, loss }) + "\n");
}

/** Per-kernel wall time of a step (tf.profile), as bench/profile-step.ts does for the MLP/CNN steps. */
async function profile(backend: BackendName, steps: number, top: number): Promise<void> {
  const { step, tokens } = await start(backend);
  for (let i = 0; i < 3; i++) step();
  const r0 = process.resourceUsage();
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) step();
  const r1 = process.resourceUsage();
  const wall = (performance.now() - t0) / steps;
  console.log(`transformer step on ${backend}: ${wall.toFixed(1)} ms/step (${Math.round((tokens * 1000) / wall).toLocaleString("en-US")} tokens/s), ` +
    `user ${((r1.userCPUTime - r0.userCPUTime) / 1000 / steps).toFixed(1)} ms, system ${((r1.systemCPUTime - r0.systemCPUTime) / 1000 / steps).toFixed(1)} ms, ` +
    `${Math.round((r1.minorPageFault - r0.minorPageFault) / steps).toLocaleString("en-US")} minor page faults per step`);
  const total = new Map<string, number>();
  const byName = new Map<string, number>();
  for (let r = 0; r < steps; r++) {
    const info = await tf.profile(() => void step());
    for (const k of info.kernels) {
      if (k.name.endsWith("__op") || k.name === "unnamed scope" || k.name === "forward") continue; // scopes, not kernels
      const key = `${k.name} ${JSON.stringify(k.inputShapes)}`;
      total.set(key, (total.get(key) ?? 0) + (k.kernelTimeMs as number) / steps);
      byName.set(k.name, (byName.get(k.name) ?? 0) + (k.kernelTimeMs as number) / steps);
    }
  }
  const sum = [...total.values()].reduce((a, b) => a + b, 0);
  console.log(`| kernel | ms / step | share |\n|:--|--:|--:|`);
  for (const [k, ms] of [...byName].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`| ${k} | ${ms.toFixed(2)} | ${((ms / sum) * 100).toFixed(1)}% |`);
  console.log(`\n| kernel (input shapes) | ms / step | share |\n|:--|--:|--:|`);
  for (const [k, ms] of [...total].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`| ${k} | ${ms.toFixed(2)} | ${((ms / sum) * 100).toFixed(1)}% |`);
  console.log(`| all kernels | ${sum.toFixed(2)} | 100% |`);
}

/** Two fresh models from the same seed, three steps each: losses and every parameter must agree bit for bit. */
async function check(backend: BackendName): Promise<void> {
  const runs: { losses: number[]; params: Float32Array[] }[] = [];
  for (let r = 0; r < 2; r++) {
    const { model, trainer, step } = await start(backend);
    const losses = [step(), step(), step()];
    runs.push({ losses, params: model.params.map((p) => Float32Array.from(p.dataSync() as Float32Array)) });
    trainer.dispose();
    model.dispose();
  }
  const same = runs[0].losses.every((l, i) => Object.is(l, runs[1].losses[i])) && runs[0].params.every((p, i) => p.every((v, j) => Object.is(v, runs[1].params[i][j])));
  console.log(`${backend}: losses ${runs[0].losses.map((l) => l.toFixed(6)).join(", ")} | ${runs[1].losses.map((l) => l.toFixed(6)).join(", ")} → ${same ? "identical" : "DIFFERENT"}`);
  if (!same) process.exitCode = 1;
}

async function orchestrate(): Promise<void> {
  const backends = flag("backends", "native,wasm,cpu").split(",") as BackendName[];
  const seconds = Number(flag("seconds", "6"));
  const rounds = Number(flag("rounds", "2"));
  const results = new Map<BackendName, { tokens_per_s: number; ms_per_step: number; steps: number; loss: number }[]>();
  const load0 = loadavg()[0];
  const started = Date.now();
  for (let round = 0; round < rounds; round++) {
    for (const b of backends) {
      const r = spawnSync(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url), "--worker", b, String(seconds)], { encoding: "utf8", timeout: 600_000 });
      const line = (r.stdout ?? "").trim().split("\n").pop() ?? "";
      try {
        const parsed = JSON.parse(line);
        results.set(b, [...(results.get(b) ?? []), parsed]);
        console.log(`round ${round + 1} ${b}: ${Math.round(parsed.tokens_per_s).toLocaleString("en-US")} tokens/s (${parsed.ms_per_step.toFixed(1)} ms/step, ${parsed.steps} steps)`);
      } catch {
        console.log(`round ${round + 1} ${b}: failed: ${(r.stderr ?? "").trim().split("\n").slice(-3).join(" ")}`);
      }
    }
  }
  const c = BENCH_TRANSFORMER;
  console.log(`\n${c.layers} layers, dim ${c.dim}, ${c.heads} heads, ff ${c.ff}, context ${c.ctx}, batch ${BATCH}, vocab ${c.vocab}; ` +
    `${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, Node ${process.version}; load average ${load0.toFixed(2)} → ${loadavg()[0].toFixed(2)}; ${((Date.now() - started) / 60000).toFixed(1)} min\n`);
  console.log("| backend | tokens/s (best round) | ms/step | rounds |\n|:--|--:|--:|:--|");
  for (const b of backends) {
    const rs = results.get(b) ?? [];
    if (rs.length === 0) {
      console.log(`| ${b} | failed | | |`);
      continue;
    }
    const best = rs.reduce((x, y) => (y.tokens_per_s > x.tokens_per_s ? y : x));
    console.log(`| ${b} | ${Math.round(best.tokens_per_s).toLocaleString("en-US")} | ${best.ms_per_step.toFixed(1)} | ${rs.map((r) => Math.round(r.tokens_per_s)).join(", ")} |`);
  }
}

if (argv[0] === "--worker") await worker(argv[1] as BackendName, Number(argv[2]));
else if (argv[0] === "--profile") await profile(argv[1] as BackendName, Number(flag("steps", "5")), Number(flag("top", "25")));
else if (argv[0] === "--check") await check(argv[1] as BackendName);
else await orchestrate();
