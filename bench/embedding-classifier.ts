// Fine-tune-then-distil classifier variants of the use-embeddings recipe on its fixed split (seed 0) and K other
// seeded splits: for each split the head is fitted on the teacher's vectors of that split's training quotes, the
// augmented copies are re-drawn from them, and each variant starts from the same table (a folder, e.g. a run's
// static-128-refined; refined on the fixed split's training quotes: their teacher vectors, never their labels).
//   K=4 nice -n 10 node --import tsx bench/embedding-classifier.ts TABLE_DIR VARIANT...
// VARIANT: name=key:value,… with keys transfer (all | ontopic | ontopicbal: on-topic, at most the rarest teacher
// class's count per teacher class | labelled: the training quotes only; +aug adds the
// augmented copies, e.g. ontopic+aug), hard (α), T, epochs, lr, conf (keep unlabeled rows whose teacher max-prob ≥
// conf), freeze (1: the table is frozen, only the head trains), balance (1: classBalancedWeights on the soft term), fixedOnly (1: the fixed split alone),
// soft (kl | mse: the soft term on the logits), copies (augmented copies of each training quote, default 2).
// BACKEND: wasm (default) or native. TABLE_DIR may be a contextual table (static.context): the student keeps its layer.
// U: the unlabeled quotes drawn as the recipe draws them (default 4000, the draw of the numbers documented before
// 2026-12-03; the recipe now takes all: U=20000).
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { stratifiedSplit } from "../src/data/stratified-split.js";
import { useBackend } from "../src/engine/backend.js";
import { augmentTexts } from "../src/data/text-augment.js";
import { classBalancedWeights, classifierFromStatic, distillClassifier } from "../src/distill/embedding-classifier.js";
import { bagEmbedder, loadEmbeddingModel } from "../src/embeddings/embedding-model.js";
import { accuracyOf, argmaxRows, chooseProbeL2, fitLinearClassifier, pickRows } from "../src/eval/embedding-metrics.js";
import { loadEmbeddingData } from "../src/experiments/embedding-data.js";
import { embedAll, type EmbeddingTeacher } from "../src/teachers/embedding/embedding-teacher.js";
import { openUseLite } from "../src/teachers/embedding/tfjs-embedding-teacher.js";
import { writeFileAtomic } from "../src/util/files.js";
import { cacheFileOf, EMBEDDING_CACHE, MAX_TOKENS, USE_LITE_CACHE_PREFIX } from "./embedding-bench-data.js";

const K = Number(process.env.K ?? 4);
const [tableDir, ...variantArgs] = process.argv.slice(2);
const variants = variantArgs.map((a) => {
  const [name, spec = ""] = a.split("=");
  const kv = Object.fromEntries(spec.split(",").filter(Boolean).map((p) => p.split(":")));
  return { name, transfer: kv.transfer ?? "all+aug", hard: Number(kv.hard ?? 0.5), T: Number(kv.T ?? 2), epochs: Number(kv.epochs ?? 8), lr: Number(kv.lr ?? 0.003), conf: Number(kv.conf ?? 0), freeze: kv.freeze === "1", balance: kv.balance === "1", fixedOnly: kv.fixedOnly === "1", soft: (kv.soft ?? "kl") as "kl" | "mse", copies: Number(kv.copies ?? 2) };
});
await useBackend((process.env.BACKEND ?? "wasm") as Parameters<typeof useBackend>[0]); // wasm: as `tsdistill run` trains the recipe's students
mkdirSync(EMBEDDING_CACHE, { recursive: true });
const data = loadEmbeddingData({ dir: "/usr/share/games/fortunes", categories: ["computers", "food", "law", "love", "politics", "sports"], perCategory: 150, unlabeled: Number(process.env.U ?? 4000), unlabeledFrom: "both" }, 0);
const L = data.labelled;
const C = L.classNames.length;
const D = 512;
let teacher: EmbeddingTeacher | null = null;
const teacherHash = USE_LITE_CACHE_PREFIX.slice("USE-lite-".length);
async function vectors(texts: string[]): Promise<Float32Array> {
  const file = cacheFileOf(texts);
  if (existsSync(file)) return new Float32Array(readFileSync(file).buffer.slice(0));
  teacher ??= await openUseLite({ maxTokens: MAX_TOKENS });
  if (!teacher.hash?.startsWith(teacherHash)) throw new Error(`teacher hash ${teacher.hash}; expected ${teacherHash}…`);
  const v = await embedAll(teacher, texts, { batchSize: 32 });
  writeFileAtomic(file, new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
  return v;
}
const tL = await vectors(L.texts);
const tU = await vectors(data.unlabeled);
const onTopic = data.onTopic;
const pct = (x: number) => (100 * x).toFixed(1);
const results = new Map<string, number[]>();
const seeds = [0, ...Array.from({ length: K }, (_, k) => 100 + k)];
for (const seed of seeds) {
  const s = stratifiedSplit(L.labels, 0.2, seed);
  const yTrain = Int32Array.from(s.train, (i) => L.labels[i]);
  const yTest = Int32Array.from(s.test, (i) => L.labels[i]);
  const trainTexts = Array.from(s.train, (i) => L.texts[i]);
  const testTexts = Array.from(s.test, (i) => L.texts[i]);
  const headX = pickRows(tL, D, s.train);
  const l2 = chooseProbeL2({ x: headX, y: yTrain }, C, { epochs: 100, lr: 0.01, seed: 0 }).l2;
  const head = fitLinearClassifier({ x: headX, y: yTrain }, C, { epochs: 100, lr: 0.01, l2, seed: 0 });
  const fineTuned = accuracyOf(head.predict(pickRows(tL, D, s.test), s.test.length), yTest);
  const augs = new Map<number, { texts: string[]; logits: Float32Array }>();
  for (const copies of new Set(variants.map((v) => v.copies))) {
    const texts = augmentTexts(trainTexts, { copies, mask: 0.1, ngram: 0.25 }, 0);
    augs.set(copies, { texts, logits: head.logits(await vectors(texts), texts.length) });
  }
  const lTrain = head.logits(headX, trainTexts.length);
  const lU = head.logits(tU, data.unlabeled.length);
  const maxProb = (l: Float32Array, i: number) => { let m = -Infinity; for (let c = 0; c < C; c++) m = Math.max(m, l[i * C + c]); let z = 0; for (let c = 0; c < C; c++) z += Math.exp(l[i * C + c] - m); return 1 / z; };
  console.log(`split ${seed}: fine-tuned teacher ${pct(fineTuned)} %`);
  (results.get("fine-tuned teacher") ?? results.set("fine-tuned teacher", []).get("fine-tuned teacher")!).push(fineTuned);
  for (const v of variants) {
    if (v.fixedOnly && seed !== 0) continue;
    const texts: string[] = [...trainTexts];
    const logits: number[] = [...lTrain];
    const labels: number[] = [...yTrain];
    const add = (t: string[], l: Float32Array, keep: (i: number) => boolean) => t.forEach((x, i) => { if (!keep(i)) return; texts.push(x); for (let c = 0; c < C; c++) logits.push(l[i * C + c]); labels.push(-1); });
    const [pool, aug] = v.transfer.split("+");
    if (pool === "all" || pool === "ontopic") add(data.unlabeled, lU, (i) => (pool === "all" || i < onTopic) && maxProb(lU, i) >= v.conf);
    if (pool === "ontopicbal") {
      // On-topic quotes, at most as many per teacher class (argmax) as the rarest class present among them has.
      const cls = Array.from({ length: onTopic }, (_, i) => { let b = 0; for (let c = 1; c < C; c++) if (lU[i * C + c] > lU[i * C + b]) b = c; return b; });
      const count = new Array<number>(C).fill(0);
      for (const c of cls) count[c]++;
      const cap = Math.min(...count.filter((c) => c > 0));
      const taken = new Array<number>(C).fill(0);
      add(data.unlabeled, lU, (i) => i < onTopic && taken[cls[i]]++ < cap);
    }
    if (aug === "aug") add(augs.get(v.copies)!.texts, augs.get(v.copies)!.logits, () => true);
    const st = loadEmbeddingModel(tableDir);
    const model = classifierFromStatic(st.model, st.tokenizer, C, { texts: trainTexts, labels: yTrain, probe: { epochs: 100, lr: 0.01, l2 } }, 0);
    st.model.dispose();
    const t0 = performance.now();
    await distillClassifier(model, st.tokenizer, texts, Float32Array.from(logits), Int32Array.from(labels), { epochs: v.epochs, optimizer: { lr: v.lr }, temperature: v.T, hardWeight: v.hard, soft: v.soft, ctx: MAX_TOKENS, seed: 0, ...(v.freeze ? { freeze: [model.table.tensor] } : {}), ...(v.balance ? { weights: classBalancedWeights(Float32Array.from(logits), Int32Array.from(labels), C) } : {}) });
    const acc = accuracyOf(argmaxRows(bagEmbedder(model, st.tokenizer).embed(testTexts), testTexts.length, C), yTest);
    model.dispose();
    (results.get(v.name) ?? results.set(v.name, []).get(v.name)!).push(acc);
    console.log(`split ${seed}: ${v.name} (${texts.length} texts, ${((performance.now() - t0) / 1000).toFixed(0)} s): ${pct(acc)} %`);
  }
}
for (const [name, accs] of results) {
  const others = accs.slice(1);
  const m = others.length ? others.reduce((a, b) => a + b, 0) / others.length : NaN;
  console.log(`${name.padEnd(28)} fixed ${pct(accs[0])}  other splits ${others.length ? pct(m) : "–"} [${others.map(pct).join(" ")}]`);
}
await (teacher as EmbeddingTeacher | null)?.close(); // assigned inside vectors()
