// How far a mean of static rows can go: a residual tanh MLP (d → H → d, output = x + MLP(x)) trained with the
// cosine loss on a refined table's frozen sentence vectors towards the projected teacher vectors, on the same text
// the recipe refines on (the unlabeled quotes + the fixed split's training quotes); prints the cosine to the teacher
// on the fixed split's test quotes (never refinement text) and the fixed split's probe, before and every 5 epochs. Teacher vectors from
// runs/embedding-cache (a full run of recipes/use-embeddings.yaml writes them; U = its data.unlabeled).
//   U=20000 nice -n 10 node --import tsx bench/embedding-static-ceiling.ts RUN_DIR [d=96] [H=256] [epochs=30]
import * as tf from "@tensorflow/tfjs-core";
import { join } from "node:path";
import { useBackend } from "../src/engine/backend.js";
import { stratifiedSplit } from "../src/data/stratified-split.js";
import { bagEmbedder, loadEmbeddingModel, projectTeacher } from "../src/embeddings/embedding-model.js";
import { meanCosine, pickRows } from "../src/eval/embedding-metrics.js";
import { cachedTeacherVectors, probeOnSplit, recipeData } from "./embedding-bench-data.js";
import { Rng } from "../src/util/rng.js";
await useBackend("wasm");
const run = process.argv[2], d = Number(process.argv[3] ?? 96), H = Number(process.argv[4] ?? 256), epochs = Number(process.argv[5] ?? 30), U = Number(process.env.U ?? 20000);
const data = recipeData(U);
const L = data.labelled, C = 6, D = 512;
const tL = cachedTeacherVectors(L.texts), tU = cachedTeacherVectors(data.unlabeled);
const s0 = stratifiedSplit(L.labels, 0.2, 0);
const texts = [...data.unlabeled, ...Array.from(s0.train, (i) => L.texts[i])];
const tv = new Float32Array(texts.length * D); tv.set(tU); tv.set(pickRows(tL, D, s0.train), tU.length);
const { model, tokenizer, projection } = loadEmbeddingModel(join(run, `static-${d}-refined`));
const e = bagEmbedder(model, tokenizer);
const X = e.embed(texts), XL = e.embed(L.texts);
const Y = projectTeacher(projection!, tv, texts.length), YL = projectTeacher(projection!, tL, L.texts.length);
const probe = (v: Float32Array, dim: number) => probeOnSplit(L.labels, C, v, dim, 0);
const cosTest = (v: Float32Array) => meanCosine(pickRows(v, d, s0.test), pickRows(YL, d, s0.test), s0.test.length);
console.log(`base: cos ${cosTest(XL).toFixed(3)} probe ${(100 * probe(XL, d)).toFixed(1)}`);
const W1 = tf.variable(tf.randomNormal([d, H], 0, 1 / Math.sqrt(d), "float32", 1)), b1 = tf.variable(tf.zeros([H]));
const W2 = tf.variable(tf.zeros([H, d])), b2 = tf.variable(tf.zeros([d]));
const f = (x: tf.Tensor2D) => tf.add(x, tf.add(tf.matMul(tf.tanh(tf.add(tf.matMul(x, W1), b1)), W2), b2)) as tf.Tensor2D;
const opt = tf.train.adam(Number(process.env.LR ?? 0.003));
const n = texts.length, B = 128;
const xs = tf.tensor2d(X, [n, d]), ys = tf.tensor2d(Y, [n, d]);
for (let ep = 0; ep < epochs; ep++) {
  const perm = new Rng(0, "static-ceiling-shuffle", ep).permutation(n); let sum = 0; // seeded: same run, same numbers
  for (let b = 0; b < n; b += B) {
    const idx = tf.tensor1d(Int32Array.from(perm.slice(b, b + B)), "int32");
    const l = opt.minimize(() => tf.tidy(() => { const xb = tf.gather(xs, idx) as tf.Tensor2D, yb = tf.gather(ys, idx); const p = f(xb); return tf.mean(tf.sub(1, tf.sum(tf.mul(tf.div(p, tf.norm(p, 2, 1, true)), tf.div(yb, tf.add(tf.norm(yb, 2, 1, true), 1e-8))), 1))) as tf.Scalar; }), true, [W1, b1, W2, b2])!;
    sum += l.dataSync()[0] * Math.min(B, n - b); l.dispose(); idx.dispose();
  }
  if (ep % 5 === 4 || ep === epochs - 1) {
    const out = tf.tidy(() => { const p = f(tf.tensor2d(XL, [L.texts.length, d])); return tf.div(p, tf.norm(p, 2, 1, true)).dataSync() as Float32Array; });
    console.log(`ep ${ep + 1} train ${(sum / n).toFixed(4)} cos ${cosTest(out).toFixed(3)} probe ${(100 * probe(out, d)).toFixed(1)}`);
  }
}
