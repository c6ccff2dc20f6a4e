import { test } from "node:test";
import assert from "node:assert/strict";
import { InMemoryDataset } from "../src/data/dataset.js";
import { textDataset, textsOf } from "../src/data/text-dataset.js";
import { asUnlabeled, assertLabeled, buildTransferSet, concatDatasets, countUnlabeled, labeledOnly, mixup, noiseCopies, sampleBeta, shiftCopies } from "../src/data/transfer.js";
import { DataError } from "../src/util/errors.js";
import { Rng } from "../src/util/rng.js";

function tabular(n: number, d = 3): InMemoryDataset {
  const x = Float32Array.from({ length: n * d }, (_, i) => (i % 7) / 7);
  return new InMemoryDataset("t", x, Int32Array.from({ length: n }, (_, i) => i % 2), [d], 2);
}

test("gaussian noise copies: seeded, the right spread, labels kept or marked unlabeled, clipping", () => {
  const base = tabular(500, 4);
  const a = noiseCopies(base, { copies: 2, std: 0.1 }, 7);
  assert.deepEqual(Array.from(a.x), Array.from(noiseCopies(base, { copies: 2, std: 0.1 }, 7).x), "same seed → same noise");
  assert.notDeepEqual(Array.from(a.x), Array.from(noiseCopies(base, { copies: 2, std: 0.1 }, 8).x), "another seed → other noise");
  assert.equal(a.size, 1000);
  assert.deepEqual(Array.from(a.y), [...base.y, ...base.y]);
  const diffs = Array.from(a.x, (v, k) => v - base.x[k % base.x.length]);
  const mean = diffs.reduce((s, v) => s + v, 0) / diffs.length;
  const std = Math.sqrt(diffs.reduce((s, v) => s + (v - mean) ** 2, 0) / diffs.length);
  assert.ok(Math.abs(mean) < 0.005 && Math.abs(std - 0.1) < 0.005, `noise mean ${mean}, std ${std} over ${diffs.length} values`);
  assert.notDeepEqual(Array.from(a.x.subarray(0, 2000)), Array.from(a.x.subarray(2000)), "the two copies differ");
  const u = noiseCopies(base, { copies: 1, std: 2, clip: [0, 1], labels: "unlabeled" }, 1);
  assert.ok(u.x.every((v) => v >= 0 && v <= 1), "clipped to [0, 1]");
  assert.equal(countUnlabeled(u), 500);
});

test("Beta(a, a) draws have the right mean and variance", () => {
  for (const a of [0.4, 2]) {
    const rng = new Rng(3, "beta-test");
    const xs = Array.from({ length: 20000 }, () => sampleBeta(rng, a, a));
    const m = xs.reduce((s, v) => s + v, 0) / xs.length;
    const v = xs.reduce((s, x) => s + (x - m) ** 2, 0) / xs.length;
    const want = 1 / (4 * (2 * a + 1));
    assert.ok(xs.every((x) => x >= 0 && x <= 1), "λ in [0, 1]");
    assert.ok(Math.abs(m - 0.5) < 0.01 && Math.abs(v - want) < 0.006, `Beta(${a}, ${a}): mean ${m}, variance ${v} (expected 0.5, ${want})`);
  }
});

test("mixup: seeded pairs and λ, blends λ·x_i + (1−λ)·x_j, labels −1 unless dominant", () => {
  const base = tabular(10, 3);
  const m = mixup(base, { count: 50, alpha: 0.4 }, 11);
  const again = mixup(base, { count: 50, alpha: 0.4 }, 11);
  assert.deepEqual(Array.from(m.data.x), Array.from(again.data.x), "same seed → same blends");
  assert.deepEqual(Array.from(m.lambdas), Array.from(again.lambdas));
  assert.notDeepEqual(Array.from(mixup(base, { count: 50, alpha: 0.4 }, 12).lambdas), Array.from(m.lambdas), "another seed → other λ");
  for (let k = 0; k < 50; k++) {
    const i = m.pairs[2 * k];
    const j = m.pairs[2 * k + 1];
    const lam = m.lambdas[k];
    assert.ok(i !== j, "a pair is two different samples");
    for (let t = 0; t < 3; t++) assert.ok(Math.abs(m.data.x[k * 3 + t] - (lam * base.x[i * 3 + t] + (1 - lam) * base.x[j * 3 + t])) < 1e-6, `blend ${k}[${t}]`);
  }
  assert.equal(countUnlabeled(m.data), 50, "the teacher labels the blends");
  const dom = mixup(base, { count: 50, alpha: 0.4, labels: "dominant" }, 11);
  for (let k = 0; k < 50; k++) assert.equal(dom.data.y[k], base.y[m.lambdas[k] >= 0.5 ? m.pairs[2 * k] : m.pairs[2 * k + 1]], `dominant label ${k}`);
});

test("random shift copies move each image by at most maxShift pixels, seeded", () => {
  const h = 9;
  const n = 40;
  const x = new Float32Array(n * h * h);
  for (let i = 0; i < n; i++) x[i * h * h + 4 * h + 4] = 1; // one bright pixel in the centre
  const base = new InMemoryDataset("img", x, new Int32Array(n), [h, h, 1], 2);
  const s = shiftCopies(base, { copies: 2, maxShift: 2 }, 5);
  assert.equal(s.size, 80);
  assert.deepEqual(Array.from(s.x), Array.from(shiftCopies(base, { copies: 2, maxShift: 2 }, 5).x), "same seed → same shifts");
  const seen = new Set<string>();
  for (let i = 0; i < s.size; i++) {
    const p = s.x.subarray(i * h * h, (i + 1) * h * h).indexOf(1);
    const dy = Math.floor(p / h) - 4;
    const dx = (p % h) - 4;
    assert.ok(p >= 0 && Math.abs(dy) <= 2 && Math.abs(dx) <= 2, `image ${i} moved by (${dy}, ${dx})`);
    seen.add(`${dy},${dx}`);
  }
  assert.ok(seen.size >= 10, `shifts vary (${seen.size} distinct of 25 possible)`);
  assert.throws(() => shiftCopies(tabular(3), { copies: 1, maxShift: 1 }, 0), DataError);
});

test("unlabeled samples: marked −1, refused where hard labels are needed, dropped by labeledOnly", () => {
  const base = tabular(6);
  const u = asUnlabeled(tabular(4));
  assert.deepEqual(Array.from(u.y), [-1, -1, -1, -1]);
  const all = buildTransferSet(base, { unlabeled: u, noise: { copies: 1, std: 0.05 }, mixup: { count: 3, alpha: 1 }, seed: 9 });
  assert.equal(all.size, 6 + 4 + 6 + 3);
  assert.deepEqual(Array.from(all.y.subarray(0, 16)), [...base.y, -1, -1, -1, -1, ...base.y]);
  assert.equal(countUnlabeled(all), 7);
  assert.deepEqual(Array.from(buildTransferSet(base, { unlabeled: u, noise: { copies: 1, std: 0.05 }, mixup: { count: 3, alpha: 1 }, seed: 9 }).x), Array.from(all.x), "same seed → same transfer set");
  assert.throws(() => assertLabeled(all, "cross-entropy"), (e: unknown) => e instanceof DataError && /7 unlabeled samples/.test(e.message) && !e.message.includes("\n"));
  assert.doesNotThrow(() => assertLabeled(base, "cross-entropy"));
  const kept = labeledOnly(all);
  assert.equal(kept.size, 12);
  assert.equal(countUnlabeled(kept), 0);
});

test("concatenating text datasets keeps the raw texts in order", () => {
  const a = textDataset("a", new Float32Array(4), Int32Array.from([0, 1]), [2], 2, ["x", "y"]);
  const b = asUnlabeled(textDataset("b", new Float32Array(2), Int32Array.from([1]), [2], 2, ["z"]));
  const c = concatDatasets([a, b], "c");
  assert.deepEqual(textsOf(c), ["x", "y", "z"]);
  assert.deepEqual(Array.from(c.y), [0, 1, -1]);
  assert.deepEqual(textsOf(c.subset([2, 0])), ["z", "x"]);
  assert.throws(() => concatDatasets([a, tabular(2)], "bad"), DataError);
});
