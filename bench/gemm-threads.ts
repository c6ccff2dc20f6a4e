// One thread against all of them for the products a KD or CNN training step makes, to check the size below which
// native/gemm.c runs a product single-threaded (small_gemm_macs, thin_gemm_k); the threads are the addon's own
// (native/parallel.c), each running single-threaded OpenBLAS on its piece. Run on a quiet machine:
//   node --import tsx bench/gemm-threads.ts
import { cpus } from "node:os";
import { nativeAddon, nativeLoadError } from "../src/engine/native-addon.js";

if (!nativeAddon) throw new Error(`native addon not loaded: ${nativeLoadError}`);
const addon = nativeAddon;
const threads = cpus().length;
addon.setSmallGemm(0, 0);

// [transA, transB, m, n, k]: MLP 784-800-800-10 at batch 128 (forward, dX, dW) and CNN im2col products.
const SHAPES: [boolean, boolean, number, number, number][] = [
  [false, true, 128, 800, 10], [false, false, 128, 10, 800], [true, false, 800, 10, 128], [false, false, 128, 64, 64],
  [false, false, 128, 128, 128], [false, false, 128, 256, 256], [true, false, 256, 256, 128], [false, false, 128, 800, 32],
  [false, false, 128, 800, 64], [false, false, 512, 800, 10], [false, false, 6272, 32, 25], [true, false, 25, 32, 6272],
  [false, false, 1568, 64, 800], [false, false, 128, 1200, 1200], [true, false, 800, 800, 128],
  // The transformer step's (bench/transformer-step.ts) products and weight gradients, and a dense layer's k-long one.
  [false, false, 1024, 128, 128], [false, false, 1024, 512, 128], [true, false, 128, 128, 1024], [true, false, 128, 512, 1024],
  [true, false, 512, 128, 1024], [false, false, 128, 128, 3136],
];

function best(ta: boolean, tb: boolean, m: number, n: number, k: number, t: number): number {
  addon.setThreads(t);
  const a = new Float32Array(m * k).fill(0.5);
  const b = new Float32Array(k * n).fill(0.25);
  const c = new Float32Array(m * n);
  for (let i = 0; i < 5; i++) addon.gemm(ta, tb, m, n, k, a, b, c, 1, 0, 0);
  let ms = Infinity;
  for (let r = 0; r < 5; r++) {
    const reps = 20;
    const start = performance.now();
    for (let i = 0; i < reps; i++) addon.gemm(ta, tb, m, n, k, a, b, c, 1, 0, 0);
    ms = Math.min(ms, (performance.now() - start) / reps);
  }
  return ms;
}

console.log(`| product | multiply-adds | 1 thread (ms) | ${threads} threads (ms) | faster |`);
console.log("|---|--:|--:|--:|---|");
for (const [ta, tb, m, n, k] of SHAPES) {
  const one = best(ta, tb, m, n, k, 1);
  const all = best(ta, tb, m, n, k, threads);
  const name = `${ta ? "Aᵀ" : "A"}·${tb ? "Bᵀ" : "B"} ${m}×${n}×${k}`;
  console.log(`| ${name} | ${((m * n * k) / 1e6).toFixed(2)}M | ${one.toFixed(3)} | ${all.toFixed(3)} | ${one < all ? "1 thread" : `${threads} threads`} |`);
}
