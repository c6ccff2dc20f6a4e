// RKD distance (×25) + angle (×50) with their gradient, as tsdistill computes them (float64 loops over the Gram and
// distance matrices, src/losses/rkd-kernels.ts) against the same losses composed from tf ops the way the reference
// PyTorch code computes them ([B, B, d] unit vectors, [B, B, B] cosines), side by side on one backend.
// Run on a quiet machine:  node --import tsx bench/rkd-loss.ts [backend]   (default native)
import * as tf from "@tensorflow/tfjs-core";
import { useBackend } from "../src/engine/backend.js";
import { rkdAngle, rkdDistance } from "../src/losses/relation.js";

const backend = (process.argv[2] ?? "native") as Parameters<typeof useBackend>[0];
await useBackend(backend, { fallback: false });

// ---- the tf-op composition (baseline) ----
function huberMean(a: tf.Tensor, b: tf.Tensor): tf.Scalar {
  const ad = tf.abs(tf.sub(a, b));
  const q = tf.minimum(ad, 1); // ½q² + |d| − q = ½d² below 1, |d| − ½ above
  return tf.mean(tf.add(tf.mul(0.5, tf.square(q)), tf.sub(ad, q))) as tf.Scalar;
}
const pairDifferences = (e: tf.Tensor2D) => tf.sub(tf.expandDims(e, 0), tf.expandDims(e, 1)) as tf.Tensor3D;
const normalize = (x: tf.Tensor) => tf.div(x, tf.sqrt(tf.maximum(tf.sum(tf.square(x), -1, true), 1e-24)));
function composedDistance(es: tf.Tensor2D, et: tf.Tensor2D): tf.Scalar {
  const B = es.shape[0];
  const offDiag = tf.sub(1, tf.eye(B));
  const psi = (f: tf.Tensor2D) => {
    const d = tf.mul(tf.sqrt(tf.maximum(tf.sum(tf.square(pairDifferences(f)), 2), 1e-12)), offDiag);
    return tf.div(d, tf.div(tf.sum(d), B * (B - 1)));
  };
  return huberMean(psi(es), psi(et));
}
function composedAngle(es: tf.Tensor2D, et: tf.Tensor2D): tf.Scalar {
  const psi = (f: tf.Tensor2D) => {
    const unit = normalize(pairDifferences(f)) as tf.Tensor3D;
    return tf.matMul(unit, unit, false, true);
  };
  return huberMean(psi(es), psi(et));
}

type Pair = (s: tf.Tensor2D, t: tf.Tensor2D) => tf.Scalar;
function msPerStep(distance: Pair, angle: Pair, s: tf.Tensor2D, t: tf.Tensor2D): { ms: number; value: number } {
  const g = tf.valueAndGrad((x: tf.Tensor) => tf.add(tf.mul(distance(x as tf.Tensor2D, t), 25), tf.mul(angle(x as tf.Tensor2D, t), 50)) as tf.Scalar);
  const once = () => tf.tidy(() => {
    const { value, grad } = g(s);
    grad.dataSync();
    return value.dataSync()[0];
  });
  for (let i = 0; i < 2; i++) once();
  let best = Infinity;
  let value = 0;
  for (let r = 0; r < 5; r++) {
    const start = performance.now();
    value = once();
    best = Math.min(best, performance.now() - start);
  }
  return { ms: best, value };
}

console.log(`backend ${backend}; best of 5 value+gradient passes`);
console.log("| B | d | tf ops, ms | tsdistill, ms | ratio | |Δ value| |");
console.log("|--:|--:|--:|--:|--:|--:|");
for (const [B, d] of [[32, 64], [64, 64], [64, 128], [128, 64], [128, 128]]) {
  const s = tf.randomNormal([B, d], 0, 1, "float32", 1) as tf.Tensor2D;
  const t = tf.randomNormal([B, d], 0, 2, "float32", 2) as tf.Tensor2D;
  const base = msPerStep(composedDistance, composedAngle, s, t);
  const ours = msPerStep(rkdDistance, rkdAngle, s, t);
  console.log(`| ${B} | ${d} | ${base.ms.toFixed(1)} | ${ours.ms.toFixed(1)} | ${(base.ms / ours.ms).toFixed(1)}× | ${Math.abs(base.value - ours.value).toExponential(1)} |`);
  tf.dispose([s, t]);
}
