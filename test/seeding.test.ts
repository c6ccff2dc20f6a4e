// Reproducibility: the seeded Rng, dataset splits and shuffles, and whole training runs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { useBackend } from "../src/engine/backend.js";
import { Rng } from "../src/util/rng.js";
import { InMemoryDataset, type Batch } from "../src/data/dataset.js";
import { loadMnist } from "../src/data/mnist.js";
import { SequentialModel } from "../src/students/model.js";
import { modelConfigFromSpec } from "../src/students/spec.js";
import { train } from "../src/train/distill.js";

await useBackend("wasm", { fallback: false });

const stream = (rng: Rng, n = 64) => Array.from({ length: n }, () => rng.nextUint32());

// ---- Rng --------------------------------------------------------------------------------------------------

test("Rng: same seed and labels give the same stream", () => {
  assert.deepEqual(stream(new Rng(42)), stream(new Rng(42)));
  assert.deepEqual(stream(new Rng(7, "shuffle", 3)), stream(new Rng(7, "shuffle", 3)));
  const a = new Rng(1, "x");
  const b = new Rng(1, "x");
  for (let i = 0; i < 100; i++) assert.equal(a.next(), b.next());
});

test("Rng: different seeds or labels give different streams", () => {
  const streams = [
    stream(new Rng(42)),
    stream(new Rng(43)),
    stream(new Rng(0)),
    stream(new Rng(42, "init")),
    stream(new Rng(42, "shuffle")),
    stream(new Rng(42, "shuffle", 0)),
    stream(new Rng(42, "shuffle", 1)),
    stream(new Rng(42, "dropout", 0)),
    stream(new Rng(42, "a", "b")),
    stream(new Rng(42, "b", "a")),
  ];
  const keys = new Set(streams.map((s) => s.join(",")));
  assert.equal(keys.size, streams.length, "all streams are distinct");
  // Not just different: streams of nearby seeds share (almost) no values.
  const s0 = new Set(streams[0]);
  assert.ok(streams[1].filter((v) => s0.has(v)).length <= 1, "seeds 42 and 43 share values");
});

test("Rng: next() is in [0, 1), int(n) in [0, n) and roughly uniform", () => {
  const rng = new Rng(123, "uniform");
  for (let i = 0; i < 10000; i++) {
    const v = rng.next();
    assert.ok(v >= 0 && v < 1, `next() = ${v}`);
  }
  for (const n of [1, 2, 3, 7, 10, 1000, 2 ** 31]) {
    for (let i = 0; i < 2000; i++) {
      const k = rng.int(n);
      assert.ok(Number.isInteger(k) && k >= 0 && k < n, `int(${n}) = ${k}`);
    }
  }
  // Chi-square over 10 bins, 20000 draws: 9 dof, P(χ² > 35) < 1e-4.
  const counts = new Array(10).fill(0);
  for (let i = 0; i < 20000; i++) counts[rng.int(10)]++;
  const chi2 = counts.reduce((s, c) => s + (c - 2000) ** 2 / 2000, 0);
  assert.ok(chi2 < 35, `chi² = ${chi2}, counts ${counts}`);
});

test("Rng: normal() has mean ≈ 0 and variance ≈ 1", () => {
  const rng = new Rng(5, "normal");
  const n = 20000;
  let sum = 0;
  let sq = 0;
  for (let i = 0; i < n; i++) {
    const v = rng.normal();
    assert.ok(Number.isFinite(v), `normal() = ${v}`);
    sum += v;
    sq += v * v;
  }
  const mean = sum / n;
  const variance = sq / n - mean * mean;
  assert.ok(Math.abs(mean) < 0.05, `mean ${mean}`);
  assert.ok(Math.abs(variance - 1) < 0.05, `variance ${variance}`);
});

test("Rng: permutation(n) is a permutation of 0..n-1, seeded", () => {
  for (const n of [0, 1, 2, 5, 1000]) {
    const p = new Rng(9, "perm", n).permutation(n);
    assert.ok(p instanceof Int32Array, "permutation is an Int32Array");
    assert.equal(p.length, n);
    assert.deepEqual(Array.from(p).sort((a, b) => a - b), Array.from({ length: n }, (_, i) => i));
  }
  const a = new Rng(9, "perm").permutation(1000);
  assert.deepEqual(a, new Rng(9, "perm").permutation(1000));
  assert.notDeepEqual(a, new Rng(10, "perm").permutation(1000));
  assert.notDeepEqual(Array.from(a), Array.from({ length: 1000 }, (_, i) => i), "actually shuffled");
});

test("Rng: fork gives a deterministic stream independent of the parent's", () => {
  const p1 = new Rng(3);
  const p2 = new Rng(3);
  const f1 = p1.fork("child");
  const f2 = p2.fork("child");
  assert.deepEqual(stream(f1), stream(f2));
  assert.deepEqual(stream(p1), stream(p2), "parents stay in step");
  assert.notDeepEqual(stream(new Rng(3).fork("child")), stream(new Rng(3).fork("other")));
});

// ---- InMemoryDataset --------------------------------------------------------------------------------------

/** n samples of shape [2, 2, 1] whose values encode their index: sample i is [i, i+0.25, i+0.5, i+0.75]. */
function indexedDataset(n: number, name = "synthetic"): InMemoryDataset {
  const x = new Float32Array(n * 4);
  for (let i = 0; i < n; i++) for (let j = 0; j < 4; j++) x[i * 4 + j] = i + j / 4;
  const y = Int32Array.from({ length: n }, (_, i) => i % 3);
  return new InMemoryDataset(name, x, y, [2, 2, 1], 3);
}

/** The original indices of a dataset built from indexedDataset (first value of each sample). */
const origin = (ds: InMemoryDataset) => Array.from({ length: ds.size }, (_, i) => ds.x[i * ds.sampleSize]);

test("InMemoryDataset checks that inputs and labels agree", () => {
  assert.throws(() => new InMemoryDataset("bad", new Float32Array(7), new Int32Array(2), [2, 2, 1], 3), /7 input values do not make 2 samples/);
});

test("split is deterministic, disjoint and covers all samples", () => {
  const ds = indexedDataset(257);
  const a = ds.split(50, 42);
  const b = ds.split(50, 42);
  assert.equal(a.train.size, 207);
  assert.equal(a.validation.size, 50);
  assert.deepEqual(a.train.x, b.train.x);
  assert.deepEqual(a.validation.x, b.validation.x);
  assert.deepEqual(a.train.y, b.train.y);
  const tr = origin(a.train);
  const va = origin(a.validation);
  const seen = new Set([...tr, ...va]);
  assert.equal(seen.size, 257, "disjoint and complete");
  assert.deepEqual([...seen].sort((p, q) => p - q), Array.from({ length: 257 }, (_, i) => i));
  // Each part keeps dataset order, and labels travel with their samples.
  assert.deepEqual(tr, [...tr].sort((p, q) => p - q));
  assert.deepEqual(va, [...va].sort((p, q) => p - q));
  tr.forEach((o, i) => assert.equal(a.train.y[i], o % 3));
  va.forEach((o, i) => assert.equal(a.validation.y[i], o % 3));
  // Not simply the first or last samples.
  assert.ok(va.some((o) => o < 100) && va.some((o) => o > 157), `validation samples spread over the data: ${va}`);
  assert.equal(a.train.name, "synthetic/train");
  assert.equal(a.validation.name, "synthetic/validation");
  assert.deepEqual(a.train.sampleShape, [2, 2, 1]);
  assert.equal(a.train.numClasses, 3);
});

test("split depends on the seed; validation sizes are checked", () => {
  const ds = indexedDataset(100);
  assert.notDeepEqual(origin(ds.split(20, 1).validation), origin(ds.split(20, 2).validation));
  const none = ds.split(0, 1);
  assert.equal(none.validation.size, 0);
  assert.equal(none.train.size, 100);
  assert.deepEqual(origin(none.train), origin(ds));
  assert.throws(() => ds.split(100, 1), /validation size 100/);
  assert.throws(() => ds.split(-1, 1), /validation size -1/);
});

test("subset and take copy the right samples", () => {
  const ds = indexedDataset(10);
  const sub = ds.subset([7, 2, 2, 9]);
  assert.deepEqual(origin(sub), [7, 2, 2, 9]);
  assert.deepEqual(Array.from(sub.y), [1, 2, 2, 0]);
  assert.deepEqual(Array.from(sub.x.subarray(0, 4)), [7, 7.25, 7.5, 7.75]);
  assert.deepEqual(origin(ds.take(3)), [0, 1, 2]);
  assert.equal(ds.take(50).size, 10);
});

function collect(ds: InMemoryDataset, batchSize: number, rng?: Rng, dropLast?: boolean): Batch[] {
  return [...ds.batchesSync({ batchSize, rng, dropLast })];
}

test("batches: same Rng seed → same order; no Rng → dataset order; every sample once per epoch", async () => {
  const ds = indexedDataset(103);
  const a = collect(ds, 10, new Rng(42, "shuffle", 0));
  const b = collect(ds, 10, new Rng(42, "shuffle", 0));
  const c = collect(ds, 10, new Rng(42, "shuffle", 1));
  const order = (bs: Batch[]) => bs.flatMap((bt) => Array.from(bt.indices));
  assert.deepEqual(order(a), order(b));
  assert.notDeepEqual(order(a), order(c));
  assert.deepEqual([...order(a)].sort((p, q) => p - q), Array.from({ length: 103 }, (_, i) => i));
  assert.deepEqual(a.map((bt) => bt.size), [10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 3]);
  // Each batch's x and y are the samples its indices name.
  for (const bt of a) {
    assert.equal(bt.x.length, bt.size * 4);
    bt.indices.forEach((idx, i) => {
      assert.equal(bt.x[i * 4], idx);
      assert.equal(bt.x[i * 4 + 3], idx + 0.75);
      assert.equal(bt.y[i], idx % 3);
    });
  }
  assert.deepEqual(order(collect(ds, 16)), Array.from({ length: 103 }, (_, i) => i));
  assert.deepEqual(
    collect(ds, 10, new Rng(1), true).map((bt) => bt.size),
    new Array(10).fill(10),
  );
  // The async iterator yields the same batches.
  const asyncOrder: number[] = [];
  for await (const bt of ds.batches({ batchSize: 10, rng: new Rng(42, "shuffle", 0) })) asyncOrder.push(...bt.indices);
  assert.deepEqual(asyncOrder, order(a));
});

// ---- Whole training runs ----------------------------------------------------------------------------------

const mnist = loadMnist();
const small = mnist.train.take(1000);

async function trainRun(seed: number, { initSeed = seed, dropout = 0.2 } = {}): Promise<{ weights: Float32Array[]; losses: number[] }> {
  const config = modelConfigFromSpec("mlp:32", { inputShape: small.sampleShape, numClasses: 10, dropout, inputDropout: dropout });
  const model = new SequentialModel(config, initSeed);
  try {
    const result = await train(model, small, { epochs: 2, batchSize: 64, seed });
    return { weights: model.params.map((p) => Float32Array.from(p.dataSync() as Float32Array)), losses: result.history.map((h) => h.loss) };
  } finally {
    model.dispose();
  }
}

const bytes = (ws: Float32Array[]) => ws.map((w) => new Uint8Array(w.buffer, w.byteOffset, w.byteLength));

test("same seed → bit-identical weights after training (mlp:32, dropout 0.2); another seed → different", async () => {
  const a = await trainRun(7);
  const b = await trainRun(7);
  assert.equal(a.weights.length, 4);
  assert.deepEqual(bytes(a.weights), bytes(b.weights), "same seed gives bit-identical weights");
  assert.deepEqual(a.losses, b.losses);
  assert.ok(a.losses[1] < a.losses[0], `loss decreases: ${a.losses}`);

  const c = await trainRun(8);
  for (let i = 0; i < a.weights.length; i++) assert.notDeepEqual(bytes([a.weights[i]]), bytes([c.weights[i]]), `weight ${i} differs with another seed`);

  // Same initial weights, different training seed (shuffle + dropout masks): still different weights.
  const d = await trainRun(8, { initSeed: 7 });
  assert.notDeepEqual(bytes(a.weights), bytes(d.weights));
  // Dropout is active while training: the same run without dropout ends elsewhere.
  const e = await trainRun(7, { dropout: 0 });
  assert.notDeepEqual(bytes(a.weights), bytes(e.weights));
});

test("same model seed → identical initial weights; different seed → different", () => {
  const config = modelConfigFromSpec("cnn:conv4-pool-dense8", { inputShape: [8, 8, 1], numClasses: 3 });
  const init = (seed: number) => {
    const m = new SequentialModel(config, seed);
    const w = m.params.map((p) => Float32Array.from(p.dataSync() as Float32Array));
    m.dispose();
    return w;
  };
  assert.deepEqual(init(3), init(3));
  assert.notDeepEqual(init(3)[0], init(4)[0]);
});
