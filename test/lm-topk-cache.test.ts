// The LM top-k logit cache (src/teachers/lm-topk-cache.ts) and the fp16 codec it stores with: round trips within
// the stated fp16 / int8 error, bytes per token, resuming an interrupted write, refusing stale or corrupt caches.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { useBackend } from "../src/engine/backend.js";
import { windowDataset } from "../src/data/token-sequences.js";
import { transformerConfigFromSpec } from "../src/students/spec.js";
import { TransformerModel } from "../src/students/transformer.js";
import { decodeSafetensors } from "../src/util/safetensors.js";
import { fromHalfBits, toHalfBits } from "../src/util/float16.js";
import { describeLmTopKCache, lmTopKBytesPerToken, openLmTopKCache, writeLmTopKCache, type LmTopKRows } from "../src/teachers/lm-topk-cache.js";
import { Rng } from "../src/util/rng.js";
import { tempDir } from "./helpers.js";

await useBackend("wasm", { fallback: false });

test("fp16: exact bit patterns, ties to even, subnormals, overflow; every fp16 value round-trips", () => {
  const cases: [number, number][] = [
    [0, 0x0000],
    [-0, 0x8000],
    [1, 0x3c00],
    [-2, 0xc000],
    [65504, 0x7bff],
    [65520, 0x7c00], // halfway to 2^16 rounds to even: ∞
    [1e6, 0x7c00],
    [2 ** -24, 0x0001],
    [2 ** -25, 0x0000], // halfway to the smallest subnormal rounds to even: 0
    [1.5 * 2 ** -24, 0x0002], // halfway between 1 and 2 subnormal units: even (2)
    [0.1, 0x2e66],
    [1 + 2 ** -11, 0x3c00], // halfway between 1 and 1 + 2^-10: even (1)
    [1 + 3 * 2 ** -11, 0x3c02],
    [Infinity, 0x7c00],
    [-Infinity, 0xfc00],
  ];
  for (const [v, bits] of cases) assert.equal(toHalfBits(v), bits, `toHalfBits(${v}) = 0x${toHalfBits(v).toString(16)}`);
  assert.ok(Number.isNaN(fromHalfBits(toHalfBits(NaN))));
  for (let h = 0; h < 0x10000; h++) {
    const v = fromHalfBits(h);
    if (!Number.isNaN(v)) assert.equal(toHalfBits(v), h, `0x${h.toString(16)}`);
  }
  const rng = new Rng(1, "fp16");
  for (let i = 0; i < 10000; i++) {
    const v = Math.fround((rng.next() - 0.5) * 2 ** (rng.int(36) - 20));
    const err = Math.abs(fromHalfBits(toHalfBits(v)) - v);
    assert.ok(err <= Math.abs(v) * 2 ** -11 + 2 ** -25, `${v}: error ${err}`);
  }
});

const CTX = 6;
const VOCAB = 260;
/** 10 windows of byte ids and a random-init causal LM with logits far from flat. */
function fixture(): { data: ReturnType<typeof windowDataset>; teacher: TransformerModel } {
  const rng = new Rng(2, "windows");
  const windows = Int32Array.from({ length: 10 * (CTX + 1) }, () => 97 + rng.int(26));
  const data = windowDataset("w", windows, CTX, VOCAB);
  const teacher = new TransformerModel(transformerConfigFromSpec({ layers: 1, dim: 16, heads: 2, ff: 32, ctx: CTX, causal: true }), 4);
  teacher.setWeights(teacher.params.map((p) => tf.tidy(() => (p.shape.length === 2 ? tf.mul(p, 15) : tf.clone(p)))));
  return { data, teacher };
}

/** The exact top-k per token (float64 log-softmax of the teacher's float32 logits). */
function exactTopK(teacher: TransformerModel, data: ReturnType<typeof windowDataset>, rows: number[], k: number): { ids: number[][]; lp: number[][]; tail: number[] } {
  const out = { ids: [] as number[][], lp: [] as number[][], tail: [] as number[] };
  for (const r of rows) {
    const logits = tf.tidy(() => teacher.forward(tf.tensor2d(data.x.subarray(r * CTX, (r + 1) * CTX), [1, CTX])).logits.arraySync());
    for (const row of logits) {
      const max = Math.max(...row);
      const lse = max + Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0));
      const order = row.map((_, j) => j).sort((a, b) => row[b] - row[a] || a - b).slice(0, k);
      out.ids.push(order);
      out.lp.push(order.map((j) => row[j] - lse));
      out.tail.push(1 - order.reduce((s, j) => s + Math.exp(row[j] - lse), 0));
    }
  }
  return out;
}

const source = (teacher: TransformerModel) => ({ vocab: VOCAB, logits: (x: tf.Tensor) => teacher.forward(x).logits });

test("round trip: fp16 within |lp|·2⁻¹¹ + 2⁻²⁵, int8 within scale/2 = range/510; tails within fp16; bytes per token", async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const { data, teacher } = fixture();
  for (const [values, k] of [["f16", 20], ["int8", 20], ["f16", 128], ["int8", 128]] as const) {
    const sub = join(dir, `${values}-${k}`);
    const manifest = await writeLmTopKCache(source(teacher), data, sub, { k, values, teacherHash: "t1", shardSize: 4, batchSize: 3 });
    t.diagnostic(describeLmTopKCache(manifest));
    assert.equal(manifest.bytesPerToken, lmTopKBytesPerToken(k, values, "u16"));
    assert.equal(manifest.bytesPerToken, k * 2 + (values === "f16" ? 2 * k : k + 4) + 2);
    // The shards' data (all but the "rows" index) is exactly bytesPerToken per token.
    let dataBytes = 0;
    for (const f of readdirSync(sub).filter((n) => n.endsWith(".safetensors"))) {
      const { tensors } = decodeSafetensors(readFileSync(join(sub, f)), f);
      for (const [name, tensor] of Object.entries(tensors)) if (name !== "rows") dataBytes += tensor.data.byteLength;
    }
    assert.equal(dataBytes, manifest.bytesPerToken * data.size * CTX);

    const cache = openLmTopKCache(sub, { teacherHash: "t1", numWindows: 10, ctx: CTX, vocab: VOCAB });
    const rows = [7, 0, 3];
    const got = cache.gather(Int32Array.from(rows));
    const want = exactTopK(teacher, data, rows, k);
    assert.deepEqual(Array.from(got.indices), want.ids.flat(), `${values} k=${k}: ids`);
    want.lp.forEach((lps, tok) => {
      const scale = -Math.min(...lps) / 255;
      lps.forEach((lp, j) => {
        const err = Math.abs(got.logprobs[tok * k + j] - lp);
        const bound = values === "f16" ? Math.abs(lp) * 2 ** -11 + 2 ** -25 + 1e-6 : scale / 2 + 1e-6;
        assert.ok(err <= bound, `${values} k=${k} token ${tok} entry ${j}: ${got.logprobs[tok * k + j]} vs ${lp} (error ${err} > ${bound})`);
      });
      const tailErr = Math.abs(got.tailMass[tok] - want.tail[tok]);
      assert.ok(tailErr <= want.tail[tok] * 2 ** -11 + 2 ** -25 + 1e-6, `tail ${got.tailMass[tok]} vs ${want.tail[tok]}`);
    });
    const tens = cache.tensors(Int32Array.from(rows));
    assert.deepEqual([tens.indices.shape, tens.indices.dtype, tens.logprobs.shape, tens.tailMass.shape], [[18, k], "int32", [18, k], [18]]);
    tf.dispose([tens.indices, tens.logprobs, tens.tailMass]);
    cache.close();
  }
  teacher.dispose();
});

/** An API-like source: deterministic top-k per token from the window ids, counting the windows it was asked for. */
function countingSource(calls: number[]): { vocab: number; topK: (x: Float32Array, n: number, rows: Int32Array) => LmTopKRows } {
  const k = 3;
  return {
    vocab: VOCAB,
    topK: (x, n, rows) => {
      calls.push(...rows);
      const tokens = n * CTX;
      const indices = Int32Array.from({ length: tokens * k }, (_, i) => (x[Math.floor(i / k)] + (i % k)) % VOCAB);
      const logprobs = Float32Array.from({ length: tokens * k }, (_, i) => -0.5 - (i % k) - (x[Math.floor(i / k)] % 7) / 10);
      const tailMass = Float32Array.from({ length: tokens }, (_, t) => 1 - [0, 1, 2].reduce((s, j) => s + Math.exp(logprobs[t * k + j]), 0));
      return { indices, logprobs, tailMass };
    },
  };
}

test("resume: an interrupted write keeps its finished shards, computes only the rest, and ends byte-identical", async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const { data, teacher } = fixture();
  teacher.dispose();
  const opts = { k: 3, teacherHash: "api", shardSize: 3, batchSize: 2, now: () => new Date(0) };
  const fresh = await writeLmTopKCache(countingSource([]), data, join(dir, "fresh"), opts);
  assert.equal(fresh.shards.length, 4);

  const sub = join(dir, "resumed");
  const controller = new AbortController();
  const first: number[] = [];
  await assert.rejects(writeLmTopKCache(countingSource(first), data, sub, { ...opts, onShard: (i) => i === 1 && controller.abort(new Error("stopped")), signal: controller.signal }), /stopped/);
  assert.deepEqual(first, [0, 1, 2, 3, 4, 5], "two shards done before the abort");
  assert.ok(readdirSync(sub).includes("manifest.partial.json") && !readdirSync(sub).includes("manifest.json"));
  assert.throws(() => openLmTopKCache(sub), /LM top-k cache is incomplete \(only manifest\.partial\.json\)/);
  writeFileSync(join(sub, ".shard-00002-of-00004.safetensors.999999999.1.1.tmp"), "half a shard of a killed writer");
  const second: number[] = [];
  const resumed = await writeLmTopKCache(countingSource(second), data, sub, opts);
  assert.deepEqual(second, [6, 7, 8, 9], "only the missing windows");
  assert.deepEqual(resumed.shards, fresh.shards, "same sha256 per shard as an uninterrupted run");
  assert.ok(!readdirSync(sub).some((n) => n.endsWith(".tmp")), "the dead writer's temp file is gone");
  // A complete cache is returned as is.
  const third: number[] = [];
  await writeLmTopKCache(countingSource(third), data, sub, opts);
  assert.deepEqual(third, []);
  const got = openLmTopKCache(sub).gather(Int32Array.from([9]));
  assert.deepEqual(Array.from(got.indices.subarray(0, 3)), [data.x[9 * CTX], data.x[9 * CTX] + 1, data.x[9 * CTX] + 2]);
});

test("a stale manifest is refused (writing and opening); overwrite replaces it; a corrupt shard is refused", async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const { data, teacher } = fixture();
  teacher.dispose();
  const opts = { k: 3, teacherHash: "teacher-a", shardSize: 5 };
  await writeLmTopKCache(countingSource([]), data, dir, opts);
  await assert.rejects(writeLmTopKCache(countingSource([]), data, dir, { ...opts, teacherHash: "teacher-b" }), /manifest\.json: stale cache: teacherHash is teacher-a in the cache, now teacher-b; delete .* or use another folder \(or pass overwrite\)/);
  await assert.rejects(writeLmTopKCache(countingSource([]), data, dir, { ...opts, values: "int8" }), /stale cache: values is f16 in the cache, now int8/);
  assert.throws(() => openLmTopKCache(dir, { teacherHash: "teacher-b" }), /stale cache: teacherHash is teacher-a in the cache, expected teacher-b/);
  assert.throws(() => openLmTopKCache(dir, { ctx: 8 }), /stale cache: ctx is 6 in the cache, expected 8/);
  const calls: number[] = [];
  const replaced = await writeLmTopKCache(countingSource(calls), data, dir, { ...opts, teacherHash: "teacher-b", overwrite: true });
  assert.equal(replaced.teacherHash, "teacher-b");
  assert.equal(calls.length, 10, "every window recomputed");
  const shard = join(dir, replaced.shards[1].file);
  const bytes = readFileSync(shard);
  bytes[bytes.length - 1] ^= 0xff;
  writeFileSync(shard, bytes);
  const cache = openLmTopKCache(dir);
  cache.gather(Int32Array.from([0]));
  assert.throws(() => cache.gather(Int32Array.from([7])), /corrupt LM top-k cache shard: sha256 does not match manifest\.json/);
  await assert.rejects(writeLmTopKCache({ vocab: VOCAB, topK: () => ({ indices: new Int32Array(1), logprobs: new Float32Array(1), tailMass: new Float32Array(1) }) }, data, join(dir, "bad"), opts), /the teacher returned 1 ids, 1 log-probs, 1 tail masses for 30 tokens at k = 3/);
  await assert.rejects(writeLmTopKCache(countingSource([]), data, join(dir, "k"), { ...opts, k: 300 }), /k 300: expected an integer in \[1, 260\]/);
});
