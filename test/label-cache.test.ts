// The offline teacher cache: exact logits from the cache, top-k mode, the manifest, stale and corrupt caches,
// and resumable labelling (an in-process abort, and a real SIGKILL of a labelling process).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs-core";
import { InMemoryDataset } from "../src/data/dataset.js";
import { useBackend } from "../src/engine/backend.js";
import { decodeSafetensors } from "../src/teachers/safetensors.js";
import {
  hashDataset,
  hashFiles,
  labelDataset,
  openLabelCache,
  sha256File,
  type LabelCacheManifest,
} from "../src/teachers/label-cache.js";
import type { Teacher } from "../src/teachers/teacher.js";
import { DataError } from "../src/util/errors.js";
import { Rng } from "../src/util/rng.js";
import { NOW, NUM_SAMPLES, SHARD_SIZE, TEACHER_HASH, childOptions, makeData, makeTeacher } from "./fixtures/label-child.js";
import { maxAbsDiff, tempDir } from "./helpers.js";

await useBackend("wasm", { fallback: false });

const { dir: root, cleanup } = tempDir("tsdistill-label-cache-");
process.on("exit", cleanup);

const data = makeData();
const base = makeTeacher();
const C = 3;
const NUM_SHARDS = 5;

/** The teacher, counting its calls. */
function counting(teacher: Teacher = base): Teacher & { calls: number } {
  const t = {
    ...teacher,
    calls: 0,
    logits: (x: tf.Tensor) => {
      t.calls++;
      return teacher.logits(x);
    },
  };
  return t;
}

/** The teacher's logits for every row, one call per shard-sized batch (the same batches labelling uses). */
const expected = (() => {
  const out = new Float32Array(NUM_SAMPLES * C);
  for (let start = 0; start < NUM_SAMPLES; start += SHARD_SIZE) {
    const rows = Int32Array.from({ length: Math.min(SHARD_SIZE, NUM_SAMPLES - start) }, (_, i) => start + i);
    const b = data.gather(rows);
    out.set(tf.tidy(() => base.logits(tf.tensor(b.x, [b.size, 6])).dataSync() as Float32Array), start * C);
  }
  return out;
})();

function rowsOf(values: Float32Array, indices: Int32Array, c = C): Float32Array {
  const out = new Float32Array(indices.length * c);
  indices.forEach((r, i) => out.set(values.subarray(r * c, (r + 1) * c), i * c));
  return out;
}

/** File name → bytes, for every file in a folder. */
function snapshot(dir: string): Map<string, Buffer> {
  return new Map(readdirSync(dir).sort().map((f) => [f, readFileSync(join(dir, f))]));
}

function assertSameFolder(actual: string, reference: string): void {
  const a = snapshot(actual);
  const b = snapshot(reference);
  assert.deepEqual([...a.keys()], [...b.keys()], "same files");
  for (const [name, bytes] of b) assert.ok(a.get(name)!.equals(bytes), `${name} differs from the uninterrupted run`);
}

const shardNames = Array.from({ length: NUM_SHARDS }, (_, i) => `shard-0000${i}-of-00005.safetensors`);

function expectDataError(fn: () => unknown, ...patterns: (string | RegExp)[]): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof DataError, `expected a DataError, got ${err}`);
    for (const p of patterns) {
      if (typeof p === "string") assert.ok(err.message.includes(p), `"${err.message}" should mention ${p}`);
      else assert.match(err.message, p);
    }
    assert.ok(!err.message.includes("\n"));
    return true;
  });
}

async function expectDataErrorAsync(p: Promise<unknown>, ...patterns: (string | RegExp)[]): Promise<void> {
  let caught: unknown = null;
  try {
    await p;
  } catch (err) {
    caught = err;
  }
  expectDataError(() => {
    if (caught) throw caught;
  }, ...patterns);
}

// The uninterrupted reference run that the other tests compare against.
const refDir = join(root, "reference");
const refTeacher = counting();
const refManifest = await labelDataset(refTeacher, data, refDir, childOptions());

test("the cache holds exactly the teacher's logits, for any set of rows", () => {
  assert.equal(refTeacher.calls, NUM_SHARDS);
  const cache = openLabelCache(refDir, { teacherHash: TEACHER_HASH, datasetHash: hashDataset(data), numSamples: NUM_SAMPLES });
  const rng = new Rng(5, "rows");
  const sets = [
    Int32Array.from({ length: NUM_SAMPLES }, (_, i) => i),
    rng.permutation(NUM_SAMPLES),
    Int32Array.from([52, 0, 52, 11, 10, 43, 44, 0]), // repeats, shard edges, the short last shard
    Int32Array.from([7]),
    new Int32Array(0),
    Int32Array.from({ length: 200 }, () => Math.floor(rng.next() * NUM_SAMPLES)),
  ];
  for (const rows of sets) {
    const got = cache.logitsFor(rows);
    assert.equal(got.length, rows.length * C);
    assert.equal(maxAbsDiff(got, rowsOf(expected, rows)), 0);
    assert.ok(Buffer.from(got.buffer).equals(Buffer.from(rowsOf(expected, rows).buffer)), "bit-identical");
  }
  // Also equal to the teacher on the whole set at once (row results do not depend on the batch here).
  const whole = tf.tidy(() => base.logits(tf.tensor(data.x, [NUM_SAMPLES, 6])).dataSync() as Float32Array);
  assert.equal(maxAbsDiff(cache.logitsFor(sets[0]), whole), 0);
  assert.throws(() => cache.logitsFor(Int32Array.from([NUM_SAMPLES])), RangeError);
  assert.throws(() => cache.logitsFor(Int32Array.from([-1])), RangeError);
  assert.throws(() => cache.topKFor(Int32Array.from([0])), /stores full logits/);
  cache.close();
  assert.throws(() => cache.logitsFor(Int32Array.from([0])), /closed/);
});

test("manifest fields, shard files and folder contents", () => {
  const m = JSON.parse(readFileSync(join(refDir, "manifest.json"), "utf8")) as LabelCacheManifest;
  assert.deepEqual(m, refManifest);
  assert.equal(m.format, "tsdistill.teacher-cache");
  assert.equal(m.version, 1);
  assert.equal(m.teacherHash, TEACHER_HASH);
  assert.equal(m.datasetHash, hashDataset(data));
  assert.match(m.datasetHash, /^[0-9a-f]{64}$/);
  assert.equal(m.numSamples, NUM_SAMPLES);
  assert.equal(m.numClasses, C);
  assert.equal(m.shardSize, SHARD_SIZE);
  assert.equal(m.dtype, "float32");
  assert.equal(m.topK, null);
  assert.equal(m.createdAt, NOW.toISOString());
  assert.deepEqual(
    m.shards.map((s) => [s.file, s.start, s.count]),
    shardNames.map((f, i) => [f, i * SHARD_SIZE, i < 4 ? SHARD_SIZE : NUM_SAMPLES - 4 * SHARD_SIZE]),
  );
  // Only the shards and the manifest: no partial manifest, no temp files.
  assert.deepEqual(readdirSync(refDir).sort(), [...shardNames, "manifest.json"].sort());
  for (const s of m.shards) {
    const bytes = readFileSync(join(refDir, s.file));
    assert.equal(s.sha256, createHash("sha256").update(bytes).digest("hex"));
    assert.equal(s.sha256, sha256File(join(refDir, s.file)));
    const { tensors, metadata } = decodeSafetensors(bytes, s.file);
    assert.deepEqual(Object.keys(tensors).sort(), ["indices", "logits"]);
    assert.deepEqual(tensors.logits.shape, [s.count, C]);
    assert.equal(tensors.logits.dtype, "F32");
    assert.deepEqual(tensors.indices.shape, [s.count]);
    assert.equal(tensors.indices.dtype, "I32");
    assert.deepEqual(Array.from(tensors.indices.data as Int32Array), Array.from({ length: s.count }, (_, i) => s.start + i));
    assert.equal(maxAbsDiff(tensors.logits.data as Float32Array, expected.subarray(s.start * C, (s.start + s.count) * C)), 0);
    assert.equal(metadata?.teacherHash, TEACHER_HASH);
    assert.equal(metadata?.start, String(s.start));
  }
});

test("hashDataset and hashFiles", () => {
  const h = hashDataset(data);
  assert.equal(hashDataset(makeData()), h);
  const x = data.x.slice();
  x[100] = Math.fround(x[100] + 1e-3);
  assert.notEqual(hashDataset(new InMemoryDataset("t", x, data.y, [6], 3)), h);
  const y = data.y.slice();
  y[0] = (y[0] + 1) % 3;
  assert.notEqual(hashDataset(new InMemoryDataset("t", data.x, y, [6], 3)), h);
  assert.notEqual(hashDataset(new InMemoryDataset("t", data.x, data.y, [2, 3], 3)), h);
  // Documented recipe: sha256 over each file's hex sha256 + "\n", in order.
  const a = join(root, "a.bin");
  const b = join(root, "b.bin");
  writeFileSync(a, "hello");
  writeFileSync(b, Buffer.alloc(3 << 20, 7)); // larger than one read chunk
  const hex = (s: string | Buffer) => createHash("sha256").update(s).digest("hex");
  assert.equal(sha256File(b), hex(readFileSync(b)));
  assert.equal(hashFiles([a, b]), hex(`${hex("hello")}\n${hex(readFileSync(b))}\n`));
  assert.notEqual(hashFiles([b, a]), hashFiles([a, b]));
  expectDataError(() => hashFiles([join(root, "missing.bin")]), "missing.bin", "could not be read");
});

test("top-k mode stores the k most likely classes and their log-softmax values", async () => {
  const k = 2;
  const dir = join(root, "topk");
  const m = await labelDataset(counting(), data, dir, { ...childOptions(), topK: k });
  assert.equal(m.topK, k);
  const { tensors } = decodeSafetensors(readFileSync(join(dir, m.shards[0].file)), "shard0");
  assert.deepEqual(Object.keys(tensors).sort(), ["indices", "topk_indices", "topk_logprobs"]);
  assert.deepEqual(tensors.topk_indices.shape, [SHARD_SIZE, k]);
  assert.equal(tensors.topk_indices.dtype, "I32");
  assert.equal(tensors.topk_logprobs.dtype, "F32");

  const cache = openLabelCache(dir);
  const rows = new Rng(9, "topk-rows").permutation(NUM_SAMPLES);
  const got = cache.topKFor(rows);
  assert.equal(got.indices.length, rows.length * k);
  // Reference: tf's own log-softmax and top-k of the teacher's logits.
  const logp = tf.tidy(() => tf.logSoftmax(tf.tensor2d(expected, [NUM_SAMPLES, C])).dataSync() as Float32Array);
  const { values: tv, indices: ti } = tf.tidy(() => {
    const r = tf.topk(tf.tensor2d(expected, [NUM_SAMPLES, C]), k);
    return { values: r.values.dataSync() as Float32Array, indices: r.indices.dataSync() as Int32Array };
  });
  rows.forEach((r, i) => {
    for (let j = 0; j < k; j++) {
      const cls = got.indices[i * k + j];
      assert.equal(cls, ti[r * k + j], `row ${r} rank ${j}: class`);
      assert.equal(expected[r * C + cls], tv[r * k + j]);
      assert.ok(Math.abs(got.logprobs[i * k + j] - logp[r * C + cls]) < 1e-6, `row ${r} rank ${j}: log-prob ${got.logprobs[i * k + j]} vs ${logp[r * C + cls]}`);
    }
    assert.ok(got.logprobs[i * k] >= got.logprobs[i * k + 1]);
  });
  assert.throws(() => cache.logitsFor(Int32Array.from([0])), /top 2 classes/);
  // k = C keeps every class: the probabilities sum to 1.
  await labelDataset(base, data, join(root, "topk-all"), { ...childOptions(), topK: C });
  const all = openLabelCache(join(root, "topk-all"));
  const full = all.topKFor(Int32Array.from([0, 30]));
  for (let i = 0; i < 2; i++) {
    let s = 0;
    for (let j = 0; j < C; j++) s += Math.exp(full.logprobs[i * C + j]);
    assert.ok(Math.abs(s - 1) < 1e-6);
  }
  await assert.rejects(labelDataset(base, data, join(root, "topk-bad"), { ...childOptions(), topK: C + 1 }), /topK: expected an integer in \[1, 3\]/);
});

test("a finished cache is returned without recomputation; stale hashes and other settings are refused", async () => {
  const dir = join(root, "stale");
  cpSync(refDir, dir, { recursive: true });
  const t = counting();
  const again = await labelDataset(t, data, dir, { ...childOptions(), now: () => new Date(0) });
  assert.equal(t.calls, 0);
  assert.deepEqual(again, refManifest);
  assertSameFolder(dir, refDir);

  await expectDataErrorAsync(labelDataset(t, data, dir, { ...childOptions(), teacherHash: "other-teacher" }), join(dir, "manifest.json"), `stale cache: made by another teacher (teacher hash ${TEACHER_HASH} in the cache, other-teacher now); delete ${dir} or use another folder`);
  await expectDataErrorAsync(labelDataset(t, data, dir, { ...childOptions(), datasetHash: "other-data" }), `stale cache: made from other data (53 samples, data set hash ${hashDataset(data).slice(0, 12)}… in the cache, other-data now)`);
  await expectDataErrorAsync(labelDataset(t, data, dir, { ...childOptions(), shardSize: 20 }), "shardSize 11, now 20");
  await expectDataErrorAsync(labelDataset(t, data, dir, { ...childOptions(), topK: 1 }), "topK null, now 1");
  assert.equal(t.calls, 0);
  assertSameFolder(dir, refDir);

  expectDataError(() => openLabelCache(dir, { teacherHash: "other-teacher" }), "stale cache: made by another teacher", TEACHER_HASH, "other-teacher");
  expectDataError(() => openLabelCache(dir, { datasetHash: "other-data" }), "stale cache: made from other data", hashDataset(data).slice(0, 12), "other-data");
  expectDataError(() => openLabelCache(dir, { numSamples: 54 }), "stale cache: made from other data (53 samples in the cache, 54 now)");
  expectDataError(() => openLabelCache(dir, { teacherHash: "other-teacher", datasetHash: "other-data" }), "stale cache: made by another teacher (", ") and made from other data (");
  expectDataError(() => openLabelCache(join(root, "nowhere")), join(root, "nowhere", "manifest.json"), "not found");

  // overwrite: relabels from scratch with the new settings, leaving no file of the old cache behind.
  const m = await labelDataset(t, data, dir, { ...childOptions(), teacherHash: "other-teacher", shardSize: 20, batchSize: 20, overwrite: true });
  assert.equal(t.calls, 3);
  assert.equal(m.teacherHash, "other-teacher");
  assert.deepEqual(readdirSync(dir).sort(), ["manifest.json", "shard-00000-of-00003.safetensors", "shard-00001-of-00003.safetensors", "shard-00002-of-00003.safetensors"]);
  assert.equal(maxAbsDiff(openLabelCache(dir, { teacherHash: "other-teacher" }).logitsFor(Int32Array.from([0, 52])), rowsOf(expected, Int32Array.from([0, 52]))), 0);
});

test("a corrupt or missing shard is detected when read, and relabelling repairs just that shard", async () => {
  const dir = join(root, "corrupt");
  cpSync(refDir, dir, { recursive: true });
  const path2 = join(dir, shardNames[2]);
  const bytes = readFileSync(path2);
  bytes[bytes.length - 5] ^= 0x01; // one bit of one logit
  writeFileSync(path2, bytes);

  const cache = openLabelCache(dir);
  // Shards load lazily: rows in healthy shards still work...
  assert.equal(maxAbsDiff(cache.logitsFor(Int32Array.from([0, 12, 40])), rowsOf(expected, Int32Array.from([0, 12, 40]))), 0);
  // ...and the corrupt one is named when first touched.
  expectDataError(() => cache.logitsFor(Int32Array.from([25])), path2, "sha256");
  rmSync(join(dir, shardNames[4]));
  expectDataError(() => cache.logitsFor(Int32Array.from([50])), join(dir, shardNames[4]), "not found");

  const t = counting();
  await labelDataset(t, data, dir, childOptions());
  assert.equal(t.calls, 2, "only shards 2 and 4 are recomputed");
  assertSameFolder(dir, refDir);

  // A damaged manifest is named too.
  writeFileSync(join(dir, "manifest.json"), '{"format": "tsdistill.teacher-cache", ');
  expectDataError(() => openLabelCache(dir), join(dir, "manifest.json"), "not valid JSON");
  await expectDataErrorAsync(labelDataset(t, data, dir, childOptions()), join(dir, "manifest.json"), "not valid JSON");
  writeFileSync(join(dir, "manifest.json"), JSON.stringify({ ...refManifest, numClasses: "3" }));
  expectDataError(() => openLabelCache(dir), join(dir, "manifest.json"), "numClasses");
});

test("resume after an abort: only the missing shards are computed, and the result is byte-identical", async () => {
  const dir = join(root, "aborted");
  const ac = new AbortController();
  const first = counting();
  const done: number[] = [];
  await assert.rejects(
    labelDataset(first, data, dir, {
      ...childOptions(),
      signal: ac.signal,
      onShard: (i, n) => {
        assert.equal(n, NUM_SHARDS);
        done.push(i);
        if (done.length === 2) ac.abort();
      },
    }),
    (err: Error) => err.name === "AbortError",
  );
  assert.deepEqual(done, [0, 1]);
  assert.equal(first.calls, 2);
  assert.deepEqual(readdirSync(dir).sort(), ["manifest.partial.json", shardNames[0], shardNames[1]]);
  const partial = JSON.parse(readFileSync(join(dir, "manifest.partial.json"), "utf8")) as LabelCacheManifest;
  assert.deepEqual(partial.shards, refManifest.shards.slice(0, 2));
  expectDataError(() => openLabelCache(dir), "incomplete");

  const second = counting();
  const resumed: number[] = [];
  const m = await labelDataset(second, data, dir, { ...childOptions(), onShard: (i) => resumed.push(i) });
  assert.equal(second.calls, 3);
  assert.deepEqual(resumed, [2, 3, 4]);
  assert.deepEqual(m, refManifest);
  assertSameFolder(dir, refDir);
});

test("resume after a kill between a shard's rename and its manifest entry: the shard on disk is kept, not recomputed", async () => {
  for (const withPartial of [false, true]) {
    const dir = join(root, `orphan-${withPartial}`);
    // What a killed run leaves: shards 0 and 1 complete on disk, the partial manifest (if any) listing only shard 0.
    cpSync(join(refDir, shardNames[0]), join(dir, shardNames[0]), { recursive: false });
    cpSync(join(refDir, shardNames[1]), join(dir, shardNames[1]));
    if (withPartial) writeFileSync(join(dir, "manifest.partial.json"), JSON.stringify({ ...refManifest, shards: refManifest.shards.slice(0, 1) }, null, 2) + "\n");
    // A shard of another teacher's cache in the same place is not adopted.
    const t = counting();
    const resumed: number[] = [];
    const m = await labelDataset(t, data, dir, { ...childOptions(), onShard: (i) => resumed.push(i) });
    assert.deepEqual(resumed, [2, 3, 4], `only the shards missing on disk are computed (partial manifest: ${withPartial})`);
    assert.deepEqual(m, refManifest);
    assertSameFolder(dir, refDir);
    const other = join(root, `orphan-other-${withPartial}`);
    cpSync(join(refDir, shardNames[0]), join(other, shardNames[0]));
    const again: number[] = [];
    await labelDataset(counting(), data, other, { ...childOptions(), teacherHash: "another-teacher", onShard: (i) => again.push(i) });
    assert.deepEqual(again, [0, 1, 2, 3, 4], "a shard whose header names another teacher is computed again");
  }
});

test("resume after SIGKILL of a labelling process: byte-identical to an uninterrupted run, no temp files left", async (ctx) => {
  const dir = join(root, "killed");
  const child = spawn(process.execPath, ["--import", "tsx", fileURLToPath(new URL("./fixtures/label-child.ts", import.meta.url)), dir, "400"], {
    cwd: fileURLToPath(new URL("..", import.meta.url)),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  let exitedEarly = false;
  void exited.then(() => (exitedEarly = true));
  const firstShard = join(dir, shardNames[0]);
  const deadline = Date.now() + 20000;
  while (!existsSync(firstShard)) {
    assert.ok(!exitedEarly, `the labelling process exited before writing a shard: ${stderr}`);
    assert.ok(Date.now() < deadline, "no shard after 20 s");
    await new Promise((r) => setTimeout(r, 5));
  }
  child.kill("SIGKILL");
  await exited;
  assert.equal(child.signalCode, "SIGKILL");
  assert.ok(!existsSync(join(dir, "manifest.json")), "killed before finishing");

  // What the killed process left: shard 0, and (unless the kill fell between the two renames) a partial manifest.
  const partialPath = join(dir, "manifest.partial.json");
  const listed = existsSync(partialPath) ? (JSON.parse(readFileSync(partialPath, "utf8")) as LabelCacheManifest).shards.length : 0;
  assert.ok(listed <= 1, `${listed} shards listed`);
  // A shard renamed into place before the manifest caught up is complete: the rerun adopts it (not recomputed).
  const present = shardNames.filter((n) => existsSync(join(dir, n))).length;
  assert.ok(present >= listed, `${present} shard files, ${listed} listed`);
  ctx.diagnostic(`killed after shard 0 appeared; the partial manifest lists ${listed} shard(s), ${present} shard file(s) on disk`);
  // Temp files as a write cut short by the kill would leave them (writeFileAtomic's naming, with and without its
  // counter suffix, and the dead child's pid); a temp file of a live process and unrelated files are left alone.
  writeFileSync(join(dir, `.${shardNames[1]}.${child.pid}.${Date.now()}.tmp`), "half a shard");
  writeFileSync(join(dir, `.manifest.partial.json.${child.pid}.${Date.now()}.3.tmp`), "{");
  const live = `.${shardNames[2]}.${process.pid}.${Date.now()}.tmp`;
  writeFileSync(join(dir, live), "someone else's");
  writeFileSync(join(dir, "notes.txt"), "mine");

  const t = counting();
  await labelDataset(t, data, dir, childOptions());
  assert.equal(t.calls, NUM_SHARDS - present, "only the shards not finished before the kill are computed");
  assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith(".tmp") || f.includes("partial")), [live]);
  rmSync(join(dir, live));
  rmSync(join(dir, "notes.txt"));
  assertSameFolder(dir, refDir);
});
