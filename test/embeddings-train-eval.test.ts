// Trained embedding students (bag-of-embeddings, transformer with head "embed") on a toy teacher, the evaluation
// metrics (cosine, nearest-neighbour overlap, linear probe) on hand-checkable inputs, and the fortunes loader.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { useBackend } from "../src/engine/backend.js";
import { BagOfEmbeddingsModel, bagEmbedder } from "../src/embeddings/embedding-model.js";
import { keptTokens, trainEmbeddingStudent } from "../src/distill/train-embedding.js";
import { openEmbedder } from "../src/embeddings/transformer-embedder.js";
import { linearProbe, meanCosine, neighbourOverlap, pickRows } from "../src/eval/embedding-metrics.js";
import { DEFAULT_FORTUNE_CATEGORIES, FORTUNES_DIR, loadFortunes, parseFortunes } from "../src/data/fortunes.js";
import { TransformerModel } from "../src/students/transformer.js";
import { resolveTransformerConfig } from "../src/students/transformer-config.js";
import { saveTransformer } from "../src/students/transformer-io.js";
import { trainBpe } from "../src/tokenizers/bpe-train.js";
import type { ProgressEvent } from "../src/train/reporter.js";
import { Rng } from "../src/util/rng.js";
import { augmentTexts } from "../src/data/text-augment.js";
import { loadEmbeddingData, loadProbeSet } from "../src/experiments/embedding-data.js";
import { checkEmbeddingRecipe, parseEmbeddingRecipe } from "../src/experiments/embedding-recipe.js";
import { assertAllClose, tempDir } from "./helpers.js";
import { needs } from "./prerequisites.js";

test("meanCosine, neighbourOverlap and pickRows on hand-checked inputs", () => {
  assertAllClose(meanCosine(Float32Array.of(1, 0, 0, 2), Float32Array.of(1, 1, 0, -3), 2), (Math.SQRT1_2 - 1) / 2, { rtol: 1e-6 });
  // Unit vectors at random angles: neighbours by cosine; a rotated copy has the same neighbourhoods, a shuffled one not.
  const n = 30;
  const angle = Array.from({ length: n }, (_, i) => new Rng(5, "angle", i).next() * Math.PI); // distinct: no ties
  const v = Float32Array.from({ length: n * 2 }, (_, k) => (k % 2 ? Math.sin(angle[k >> 1]) : Math.cos(angle[k >> 1])));
  const rotated = Float32Array.from({ length: n * 2 }, (_, k) => (k % 2 ? -v[k - 1] : v[k + 1])); // (x, y) → (y, −x), exact
  assert.equal(neighbourOverlap(v, rotated, n, 5), 1);
  const order = new Rng(3, "shuffle").permutation(n);
  const shuffled = pickRows(v, 2, order);
  assert.ok(neighbourOverlap(v, shuffled, n, 5) < 0.5);
  assert.deepEqual(Array.from(pickRows(Float32Array.of(1, 2, 3, 4, 5, 6), 2, [2, 0])), [5, 6, 1, 2]);
  assert.throws(() => neighbourOverlap(v, v, 5, 10), /5 texts; expected more than k = 10/);
});

test("linearProbe: separable classes are learned; same seed, same numbers; the split sizes are reported", () => {
  const rng = new Rng(1, "probe");
  const make = (n: number) => {
    const x = new Float32Array(n * 4);
    const y = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      y[i] = i % 3;
      for (let j = 0; j < 4; j++) x[i * 4 + j] = rng.normal() * 0.3 + (j === y[i] ? 2 : 0);
    }
    return { x, y };
  };
  const train = make(90);
  const testSet = make(30);
  const a = linearProbe(train, testSet, 3, { epochs: 30, seed: 2 });
  assert.equal(a.testAccuracy, 1);
  assert.deepEqual([a.trainSize, a.testSize], [90, 30]);
  assert.deepEqual(linearProbe(train, testSet, 3, { epochs: 30, seed: 2 }), a);
  // Labels that no feature explains: the probe cannot beat chance on held-out rows by much.
  const noise = { x: train.x, y: Int32Array.from(train.y, (_, i) => new Rng(9, "noise", i).int(3)) };
  assert.ok(linearProbe(noise, { x: testSet.x, y: Int32Array.from(testSet.y, (_, i) => new Rng(8, "noise", i).int(3)) }, 3, { epochs: 30 }).testAccuracy < 0.7);
});

test("parseFortunes and loadFortunes: quotes between % lines, overstrikes removed, labelled by category", (t) => {
  assert.deepEqual(parseFortunes("First one.\n%\nSecond\n  line.\n%\n\n%\nB\bBold and _\bu_\bn_\bd_\be_\br.\n%\n"), ["First one.", "Second\n  line.", "Bold and under."]);
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  mkdirSync(join(dir, "f"));
  writeFileSync(join(dir, "f", "cats"), "A cat is a fine thing to have around.\n%\nCats sleep most of the day, it seems.\n%\nshort\n");
  writeFileSync(join(dir, "f", "dogs"), "Dogs bark at the mail carrier every day.\n%\n");
  writeFileSync(join(dir, "f", "dogs.dat"), "binary index");
  const f = loadFortunes({ dir: join(dir, "f"), categories: ["cats", "dogs"] });
  assert.deepEqual(f.classNames, ["cats", "dogs"]);
  assert.deepEqual(Array.from(f.labels), [0, 0, 1]);
  assert.equal(loadFortunes({ dir: join(dir, "f"), categories: ["cats", "dogs"], maxPerCategory: 1, seed: 4 }).texts.length, 2);
  assert.throws(() => loadFortunes({ dir: join(dir, "f"), categories: ["cats", "birds"] }), /birds: no such fortune category; expected one of cats, dogs/);
});

test("transfer set: on-topic quotes are the labelled categories' undrawn ones, never a labelled quote (repeats across files included)", (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const f = join(dir, "f");
  mkdirSync(f);
  const quotes = (tag: string, n: number) => Array.from({ length: n }, (_, i) => `${tag} quote number ${i} is long enough.`);
  const shared = "This quote is in the cats file and in the misc file.";
  writeFileSync(join(f, "cats"), [...quotes("cat", 9), shared].join("\n%\n"));
  writeFileSync(join(f, "dogs"), quotes("dog", 6).join("\n%\n"));
  writeFileSync(join(f, "misc"), [...quotes("misc", 5), shared].join("\n%\n"));
  const base = { dir: f, categories: ["cats", "dogs"], perCategory: 4 };
  for (const seed of [0, 1, 2, 3]) {
    const on = loadEmbeddingData({ ...base, unlabeled: 100, unlabeledFrom: "labelled-categories" }, seed);
    assert.equal(on.labelled.texts.length, 8);
    const labelled = new Set(on.labelled.texts);
    // 10 cats + 6 dogs − 8 drawn; the shared quote is out when drawn, in when not.
    assert.equal(on.unlabeled.length, 8);
    assert.equal(on.onTopic, 8);
    for (const u of on.unlabeled) assert.ok(!labelled.has(u) && !u.startsWith("misc"), `seed ${seed}: ${u}`);
    const both = loadEmbeddingData({ ...base, unlabeled: 11, unlabeledFrom: "both" }, seed);
    assert.deepEqual(both.unlabeled.slice(0, 8), on.unlabeled, "on-topic first");
    assert.equal(both.unlabeled.length, 11);
    assert.ok(both.unlabeled.slice(8).every((u) => u.startsWith("misc") || u === shared));
    assert.equal(new Set(both.unlabeled).size, 11, "no text twice");
    for (const u of both.unlabeled) assert.ok(!labelled.has(u));
    const off = loadEmbeddingData({ ...base, unlabeled: 100, unlabeledFrom: "other-categories" }, seed);
    assert.equal(off.onTopic, 0);
    assert.deepEqual(new Set(off.unlabeled), new Set([...quotes("misc", 5), ...(labelled.has(shared) ? [] : [shared])]));
  }
});

test("Debian's fortunes: with the recipe's settings no test (or training) quote is in the transfer set", { skip: needs(existsSync(FORTUNES_DIR), FORTUNES_DIR, "sudo apt-get install -y fortunes fortunes-min") }, () => {
  const d = loadEmbeddingData({ dir: FORTUNES_DIR, perCategory: 150, unlabeled: 2000, unlabeledFrom: "both" }, 0);
  const labelled = new Set(d.labelled.texts);
  assert.ok(d.onTopic > 1000, `${d.onTopic} on-topic quotes`);
  assert.equal(d.unlabeled.length, 2000);
  assert.equal(d.unlabeled.filter((u) => labelled.has(u)).length, 0);
});

test("augmentTexts (Tang et al. 2019): words dropped with the mask probability, n-grams of 1–5 words, seeded", () => {
  const texts = ["one two three four five six seven eight nine ten eleven twelve", "alpha beta gamma delta"];
  const a = augmentTexts(texts, { copies: 2000, mask: 0.1, ngram: 0.25 }, 7);
  assert.deepEqual(augmentTexts(texts, { copies: 2000, mask: 0.1, ngram: 0.25 }, 7), a, "same seed, same texts");
  assert.notDeepEqual(augmentTexts(texts, { copies: 2000, mask: 0.1, ngram: 0.25 }, 8), a);
  const long = a.filter((t) => !/alpha|beta|gamma|delta/.test(t)).map((t) => t.split(" "));
  const order = texts[0].split(" ");
  for (const w of long) for (let i = 1; i < w.length; i++) assert.ok(order.indexOf(w[i]) > order.indexOf(w[i - 1]), `words keep their order: ${w.join(" ")}`);
  const cut = long.filter((w) => w.length <= 5).length / long.length;
  // Unchanged copies are skipped (0.9¹² of the uncut ones), so of the copies kept 0.25 / (0.25 + 0.75 · (1 − 0.9¹²)) ≈ 0.32 are cut.
  assert.ok(cut > 0.26 && cut < 0.37, `about a third of the copies cut to an n-gram: ${cut}`);
  const kept = long.filter((w) => w.length > 5).reduce((n, w) => n + w.length, 0) / (long.filter((w) => w.length > 5).length * 12);
  // 90 % of the words kept, given that at least one was dropped: (10.8 − 12 · 0.9¹²) / (1 − 0.9¹²) / 12 ≈ 0.86.
  assert.ok(kept > 0.84 && kept < 0.88, `about 86 % of the words kept: ${kept}`);
  assert.deepEqual(augmentTexts(texts, { copies: 3, mask: 0, ngram: 0 }, 1), [], "no change, no copy");
  // minN … maxN: windows of 3–5 contiguous words, every length drawn.
  const windows = augmentTexts([texts[0]], { copies: 300, mask: 0, ngram: 1, minN: 3, maxN: 5 }, 3).map((t) => t.split(" "));
  assert.deepEqual([...new Set(windows.map((w) => w.length))].sort(), [3, 4, 5]);
  for (const w of windows) assert.ok(texts[0].includes(w.join(" ")), `a contiguous window: ${w.join(" ")}`);
});

test("probe sets: a seeded sample of perClass texts per label; a missing file names the command that makes it", (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const file = join(dir, "p.jsonl");
  writeFileSync(file, Array.from({ length: 30 }, (_, i) => JSON.stringify({ text: `text ${i}`, label: i % 3 === 0 ? "spam" : "ham" })).join("\n"));
  const p = loadProbeSet({ name: "spam", data: file, perClass: 5 }, 1);
  assert.deepEqual(p.classNames, ["ham", "spam"]);
  assert.deepEqual(Array.from(p.labels), [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]);
  assert.deepEqual(loadProbeSet({ name: "spam", data: file, perClass: 5 }, 1).texts, p.texts);
  assert.notDeepEqual(loadProbeSet({ name: "spam", data: file, perClass: 5 }, 2).texts, p.texts);
  const r = parseEmbeddingRecipe({ kind: "embedding", static: { dims: [8] }, probes: [{ name: "spam", data: join(dir, "none.jsonl"), prepare: "node scripts/prepare-spam.mjs" }] }, "r.yaml");
  assert.throws(() => checkEmbeddingRecipe(r, "r.yaml"), /r\.yaml: probes: spam needs .*none\.jsonl, which is missing; prepare it with: node scripts\/prepare-spam\.mjs$/);
});

test("Debian's fortunes: the default categories have enough quotes for a probe", { skip: needs(existsSync(FORTUNES_DIR), FORTUNES_DIR, "sudo apt-get install -y fortunes fortunes-min") }, () => {
  const f = loadFortunes();
  assert.deepEqual(f.classNames, DEFAULT_FORTUNE_CATEGORIES);
  for (let c = 0; c < f.classNames.length; c++) {
    const count = f.labels.filter((y) => y === c).length;
    assert.ok(count >= 140, `${f.classNames[c]}: ${count} quotes`);
  }
});

const CORPUS = [
  "the cat sat on the mat", "a dog barked at the cat", "stocks fell sharply today", "the market rallied after the news",
  "my code compiles but the tests fail", "the compiler reported a type error", "the dog chased the cat up a tree", "bonds and stocks both fell",
];

/** Toy teacher vectors: per text, 6 topic-ish features from word counts (a deterministic stand-in for a sentence encoder). */
function toyTargets(texts: string[]): Float32Array {
  const topics = [["cat", "dog", "tree", "mat"], ["stocks", "market", "bonds", "news"], ["code", "compiler", "tests", "error"]];
  return Float32Array.from(texts.flatMap((t) => {
    const w = t.split(" ");
    return topics.flatMap((ws) => [ws.filter((x) => w.includes(x)).length + 0.1, w.length / 10]);
  }));
}

test("bag-of-embeddings student: cosine (+ MSE, RKD, SP terms) training lowers its loss, deterministically", async () => {
  await useBackend("cpu");
  const tok = trainBpe(CORPUS, { vocabSize: 300 });
  const targets = toyTargets(CORPUS);
  const run = async (terms?: { loss: string; weight?: number }[]) => {
    const model = new BagOfEmbeddingsModel({ vocab: tok.vocabSize, width: 8, dim: 6, padId: tok.special.pad }, { seed: 2 });
    const r = await trainEmbeddingStudent(model, tok, CORPUS, targets, { epochs: 25, batchSize: 4, optimizer: { lr: 0.02 }, terms, seed: 1 });
    const cos = meanCosine(bagEmbedder(model, tok).embed(CORPUS), Float32Array.from(targets), CORPUS.length);
    model.dispose();
    return { ...r, cos };
  };
  const plain = await run();
  assert.ok(plain.losses[plain.losses.length - 1] < plain.losses[0] / 2, `cosine loss ${plain.losses[0].toFixed(4)} → ${plain.losses.at(-1)!.toFixed(4)}`);
  assert.ok(plain.cos > 0.9, `mean cosine to the targets after training: ${plain.cos}`);
  assert.deepEqual((await run()).losses, plain.losses, "same seed, same losses");
  const mixed = await run([{ loss: "cosine" }, { loss: "logit-mse", weight: 0.5 }, { loss: "rkd-distance", weight: 1 }, { loss: "sp", weight: 10 }]);
  assert.ok(mixed.losses.every(Number.isFinite) && mixed.losses.at(-1)! < mixed.losses[0], `mixed terms: ${mixed.losses[0]} → ${mixed.losses.at(-1)}`);
});

test("token dropout and the anchor: seeded word dropout keeps at least one token (and BOS); a strong anchor holds the table at its start", async () => {
  const rng = new Rng(4, "drop");
  const seq = Int32Array.from({ length: 40 }, (_, i) => 100 + i);
  const half = keptTokens(seq, 0.5, 0, rng);
  assert.ok(half.length > 5 && half.length < 35 && half.every((id, k) => k === 0 || id > half[k - 1]), `kept ${half.length} of 40, in order`);
  assert.deepEqual(Array.from(keptTokens(seq, 0, 0, rng)), Array.from(seq));
  for (let k = 0; k < 20; k++) {
    assert.ok(keptTokens(seq.subarray(0, 3), 0.999, 0, rng).length >= 1);
    const withBos = keptTokens(Int32Array.of(1, 7, 8), 0.999, 1, rng);
    assert.equal(withBos[0], 1);
    assert.equal(withBos.length, 2, "BOS and one token");
  }
  await useBackend("cpu");
  const tok = trainBpe(CORPUS, { vocabSize: 300 });
  const targets = toyTargets(CORPUS);
  const run = async (o: { tokenDropout?: number; anchor?: number }) => {
    const model = new BagOfEmbeddingsModel({ vocab: tok.vocabSize, width: 8, dim: 6, padId: tok.special.pad }, { seed: 2 });
    const before = model.table.tensor.dataSync().slice();
    const r = await trainEmbeddingStudent(model, tok, CORPUS, targets, { epochs: 5, batchSize: 4, optimizer: { lr: 0.02 }, seed: 1, ...o });
    const after = model.table.tensor.dataSync() as Float32Array;
    let moved = 0;
    after.forEach((v, i) => (moved += (v - before[i]) ** 2));
    moved /= after.length;
    model.dispose();
    return { losses: r.losses, moved };
  };
  const plain = await run({});
  const dropped = await run({ tokenDropout: 0.3 });
  assert.notDeepEqual(dropped.losses, plain.losses);
  assert.deepEqual((await run({ tokenDropout: 0.3 })).losses, dropped.losses, "same seed, same dropout");
  const held = await run({ anchor: 1e4 });
  assert.ok(held.moved < 0.1 * plain.moved, `mean squared change of the table: ${held.moved} anchored vs ${plain.moved}`);
  await assert.rejects(run({ tokenDropout: 1 }), /tokenDropout: expected a probability in \[0, 1\), got 1/);
  await assert.rejects(run({ anchor: -1 }), /anchor: expected a weight ≥ 0, got -1/);
});

test("the embedding trainer reports fit's ProgressEvents (batch and epoch, label) and an AbortSignal stops it before the next batch", async () => {
  await useBackend("cpu");
  const tok = trainBpe(CORPUS, { vocabSize: 300 });
  const targets = toyTargets(CORPUS);
  const model = new BagOfEmbeddingsModel({ vocab: tok.vocabSize, width: 8, dim: 6, padId: tok.special.pad }, { seed: 2 });
  const events: ProgressEvent[] = [];
  const ended: string[] = [];
  const reporter = { onBatch: (e: ProgressEvent) => events.push(e), onEpoch: (e: ProgressEvent) => events.push(e), onPhaseEnd: (l: string) => ended.push(l) };
  const r = await trainEmbeddingStudent(model, tok, CORPUS, targets, { epochs: 2, batchSize: 4, optimizer: { lr: 0.02 }, seed: 1, reporter, label: "bag" });
  const steps = Math.ceil(CORPUS.length / 4);
  const expected = [1, 2].flatMap((epoch) => [...Array.from({ length: steps }, (_, i) => `batch:${epoch}/2:${i + 1}/${steps}`), `epoch:${epoch}/2:${steps}/${steps}`]);
  assert.deepEqual(events.map((e) => `${e.kind}:${e.epoch}/${e.epochs}:${e.step}/${e.stepsPerEpoch}`), expected);
  assert.deepEqual(events.filter((e) => e.kind === "epoch").map((e) => e.metrics!.loss), r.losses, "epoch events carry the returned losses");
  assert.ok(events.every((e) => e.label === "bag" && e.samplesPerSecond > 0 && Number.isFinite(e.loss)));
  assert.deepEqual(ended, ["bag"]);

  const controller = new AbortController();
  let batches = 0;
  const stopped = trainEmbeddingStudent(model, tok, CORPUS, targets, { epochs: 3, batchSize: 4, seed: 1, signal: controller.signal, reporter: { onBatch: () => void (++batches === 3 && controller.abort(new Error("stop here"))) } });
  await assert.rejects(stopped, /stop here/);
  assert.equal(batches, 3, "no batch runs after the abort");
  model.dispose();
});

test("transformer student with head 'embed': trained to the teacher's vectors, saved, and opened as an embedder", async (t) => {
  await useBackend("cpu");
  const tok = trainBpe(CORPUS, { vocabSize: 300 });
  const targets = toyTargets(CORPUS);
  const config = resolveTransformerConfig({ layers: 1, dim: 16, heads: 2, ctx: 16, head: "embed", embedDim: 6 }, { vocab: tok.vocabSize, padId: tok.special.pad });
  const model = new TransformerModel(config, 3);
  const r = await trainEmbeddingStudent(model, tok, CORPUS, targets, { epochs: 20, batchSize: 4, optimizer: { lr: 0.01 }, ctx: 16, seed: 1 });
  assert.ok(r.losses.at(-1)! < r.losses[0] / 2, `transformer cosine loss ${r.losses[0].toFixed(4)} → ${r.losses.at(-1)!.toFixed(4)}`);
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  await saveTransformer(model, join(dir, "s"), { tokenizer: tok, metadata: { embedding: { normalize: true, addBos: false } } });
  const e = await openEmbedder(join(dir, "s"));
  t.after(() => e.dispose());
  assert.equal(e.kind, "transformer");
  const v = e.embed(CORPUS);
  assert.ok(meanCosine(v, targets, CORPUS.length) > 0.8);
  assert.ok(Math.abs(Math.hypot(...v.subarray(0, 6)) - 1) < 1e-5, "normalised");
  model.dispose();
});
