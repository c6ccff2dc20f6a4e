// Where a training step's time goes on a backend: per-kernel wall time (tf.profile, summed per kernel name and
// input shapes, averaged over steps), plus wall, user and system time and minor page faults per step.
// Run: node --import tsx bench/profile-step.ts [kd-mlp|cnn] [--backend native|wasm|cpu] [--steps N] [--top K]
import * as tf from "@tensorflow/tfjs-core";
import { useBackend, type BackendName } from "../src/engine/backend.js";
import { trainStep } from "./train-step.js";

const argv = process.argv.slice(2);
const flag = (name: string, dflt: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : dflt;
};
const workload = argv[0] === "cnn" ? "cnn" : "kd-mlp";
const backend = flag("backend", "native") as BackendName;
const steps = Number(flag("steps", "10"));
const top = Number(flag("top", "15"));
if ((await useBackend(backend, { fallback: false })) !== backend) throw new Error(`backend ${backend} did not start`);

const x = tf.randomUniform([128, 28, 28, 1], 0, 1, "float32", 3);
const y = tf.tensor1d(Array.from({ length: 128 }, (_, i) => i % 10), "int32");
const trainOn = trainStep(workload);
const step = (): void => void trainOn(x, y);

for (let i = 0; i < 3; i++) step();
const r0 = process.resourceUsage();
const t0 = performance.now();
for (let i = 0; i < steps; i++) step();
const r1 = process.resourceUsage();
const wall = (performance.now() - t0) / steps;
console.log(`${workload} on ${backend}, batch 128: ${wall.toFixed(1)} ms/step (${Math.round((128 * 1000) / wall).toLocaleString("en-US")} samples/s), ` +
  `user ${((r1.userCPUTime - r0.userCPUTime) / 1000 / steps).toFixed(1)} ms, system ${((r1.systemCPUTime - r0.systemCPUTime) / 1000 / steps).toFixed(1)} ms, ` +
  `${Math.round((r1.minorPageFault - r0.minorPageFault) / steps).toLocaleString("en-US")} minor page faults per step`);

// Kernel times: only leaf kernels (tf.profile also lists the scopes that contain them).
const SCOPES = new Set(["forward", "unnamed scope", "logSoftmax__op"]);
const total = new Map<string, number>();
for (let r = 0; r < steps; r++) {
  const info = await tf.profile(() => step());
  for (const k of info.kernels) {
    if (SCOPES.has(k.name) || k.name.endsWith("__op")) continue;
    const key = `${k.name} ${JSON.stringify(k.inputShapes)}`;
    total.set(key, (total.get(key) ?? 0) + (k.kernelTimeMs as number) / steps);
  }
}
const sum = [...total.values()].reduce((a, b) => a + b, 0);
console.log(`| kernel (input shapes) | ms / step | share |\n|:--|--:|--:|`);
for (const [k, ms] of [...total].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`| ${k} | ${ms.toFixed(2)} | ${((ms / sum) * 100).toFixed(1)}% |`);
console.log(`| all kernels | ${sum.toFixed(2)} | 100% |`);
