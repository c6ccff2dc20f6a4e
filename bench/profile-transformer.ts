// Where a training step of the benchmark's transformer student goes (bench/transformer-workloads.ts's lm-train
// model: 4 layers, dim 256, 4 heads, ff 1024, context 128, batch 16): wall time, CPU time, page faults, and
// per-kernel time from tf.profile, grouped by kernel name.
// Run: node --import tsx bench/profile-transformer.ts [--backend native] [--steps N] [--top K] [--batch B]
import * as tf from "@tensorflow/tfjs-core";
import { useBackend, type BackendName } from "../src/engine/backend.js";
import { nextTokenCrossEntropy } from "../src/losses/next-token.js";
import { transformerConfigFromSpec } from "../src/students/spec.js";
import { TransformerModel } from "../src/students/transformer.js";
import { createOptimizer, OptimizerConfig } from "../src/train/optimizers.js";
import { Rng } from "../src/util/rng.js";
import { STUDENT_SPEC } from "./transformer-workloads.js";

const argv = process.argv.slice(2);
const flag = (name: string, dflt: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : dflt;
};
const backend = flag("backend", "native") as BackendName;
const steps = Number(flag("steps", "2"));
const top = Number(flag("top", "20"));
const batch = Number(flag("batch", "16"));
if ((await useBackend(backend, { fallback: false })) !== backend) throw new Error(`backend ${backend} did not start`);

const model = new TransformerModel(transformerConfigFromSpec(STUDENT_SPEC, {}), 1);
const T = model.config.ctx;
const rng = new Rng(0, "tokens");
const x = tf.tensor2d(Float32Array.from({ length: batch * T }, () => rng.int(256)), [batch, T]);
const y = tf.tensor1d(Int32Array.from({ length: batch }, () => rng.int(256)), "int32");
const opt = createOptimizer(OptimizerConfig.parse({ kind: "adam", lr: 1e-3 }));
const step = () => {
  const { value, grads } = tf.variableGrads(() => nextTokenCrossEntropy(model.forward(x, { training: true }).logits, x, y), model.params);
  opt.step(model.params, model.params.map((p) => grads[p.name]), 1e-3);
  value.dataSync();
  tf.dispose([value, ...Object.values(grads)]);
};

step();
const r0 = process.resourceUsage();
const t0 = performance.now();
for (let i = 0; i < steps; i++) step();
const r1 = process.resourceUsage();
const wall = (performance.now() - t0) / steps;
console.log(`${STUDENT_SPEC}, batch ${batch} on ${backend}: ${wall.toFixed(0)} ms/step (${Math.round((batch * T * 1000) / wall).toLocaleString("en-US")} tokens/s), ` +
  `user ${((r1.userCPUTime - r0.userCPUTime) / 1000 / steps).toFixed(0)} ms, system ${((r1.systemCPUTime - r0.systemCPUTime) / 1000 / steps).toFixed(0)} ms, ` +
  `${Math.round((r1.minorPageFault - r0.minorPageFault) / steps).toLocaleString("en-US")} minor page faults per step`);
const byName = new Map<string, { ms: number; calls: number }>();
let profiledWall = 0;
for (let r = 0; r < steps; r++) {
  const p0 = performance.now();
  const info = await tf.profile(() => void step());
  profiledWall += (performance.now() - p0) / steps;
  for (const k of info.kernels) {
    if (k.name.endsWith("__op") || k.name === "unnamed scope" || k.name === "forward") continue;
    const e = byName.get(k.name) ?? { ms: 0, calls: 0 };
    e.ms += (k.kernelTimeMs as number) / steps;
    e.calls += 1 / steps;
    byName.set(k.name, e);
  }
}
const sum = [...byName.values()].reduce((a, b) => a + b.ms, 0);
console.log(`kernels ${sum.toFixed(0)} ms of a ${profiledWall.toFixed(0)} ms profiled step (${byName.size} kernel names, ${Math.round([...byName.values()].reduce((a, b) => a + b.calls, 0))} calls)`);
console.log(`| kernel | calls / step | ms / step | share of kernel time |\n|:--|--:|--:|--:|`);
for (const [k, e] of [...byName].sort((a, b) => b[1].ms - a[1].ms).slice(0, top)) console.log(`| ${k} | ${Math.round(e.calls)} | ${e.ms.toFixed(1)} | ${((e.ms / sum) * 100).toFixed(1)}% |`);
