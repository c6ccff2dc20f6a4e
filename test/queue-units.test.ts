// The queue's parts without child processes: --queue addresses, paths made absolute for other machines, a
// worker's label-shard job (same bytes as labelDataset, reuse of a shard already on disk, refusal of another
// teacher or a missing folder), and a shard whose teacher keeps failing: the coordinator stops with one line
// naming the shard and the worker's error, keeping the finished shards (local stand-in Redis, in-process worker).
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { useBackend } from "../src/engine/backend.js";
import { loadSplits } from "../src/data/sources.js";
import { parseDataSpec } from "../src/data/data-spec.js";
import { labelDataset, PARTIAL_MANIFEST_FILE, shardFileName, type LabelCacheSettings } from "../src/teachers/label-cache.js";
import { openTeachers } from "../src/teachers/open-teacher.js";
import { parseQueueUrl, shownUrl } from "../src/queue/connection.js";
import { absoluteDataSpec, absoluteTeacherSpec } from "../src/queue/paths.js";
import { closeLabelSource, runLabelShard } from "../src/queue/label-shard.js";
import { queueShardRunner } from "../src/queue/label-remote.js";
import { runQueueWorker } from "../src/queue/worker.js";
import type { LabelShardJob, LabelSource, QueueJob } from "../src/queue/jobs.js";
import { JobTracker } from "../src/queue/tracker.js";
import type { Queue } from "bullmq";
import { TsdistillError, UsageError } from "../src/util/errors.js";
import { tempDir } from "./helpers.js";
import { LocalRedis, redisMissing, writeLabelProblem } from "./queue-helpers.js";

await useBackend("cpu");

test("--queue takes redis://HOST:PORT[/DB] and refuses anything else in one line", () => {
  assert.equal(parseQueueUrl("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
  assert.equal(parseQueueUrl("redis://queue.local:6380/3"), "redis://queue.local:6380/3");
  assert.equal(shownUrl(parseQueueUrl("redis://:s3cret@queue.local:6380")), "redis://:***@queue.local:6380", "a password never shows in logs");
  for (const bad of ["127.0.0.1:6379", "http://127.0.0.1:6379", "redis://h:1/16", "redis://h:1?db=2", "redis://:6379"]) {
    assert.throws(() => parseQueueUrl(bad), (e: Error) => e instanceof UsageError && /^--queue: /.test(e.message) && !e.message.includes("\n"), bad);
  }
});

test("job paths are made absolute: data files and test=/unlabeled= options, teacher folders and fn: modules", () => {
  const spec = absoluteDataSpec("csv:data/points.csv?label=kind&test=data/test%20rows.csv&standardize=false", "/work/a");
  const p = parseDataSpec(spec, "");
  assert.equal(p.kind, "csv");
  assert.equal(p.path, "/work/a/data/points.csv");
  assert.deepEqual([...p.options], [["label", "kind"], ["test", "/work/a/data/test rows.csv"], ["standardize", "false"]]);
  assert.equal(absoluteDataSpec("images:/srv/img?gray&size=8x8", "/x"), "images:/srv/img?gray&size=8x8");
  assert.equal(absoluteDataSpec("mnist", "/x"), "mnist");
  assert.equal(absoluteTeacherSpec("fn:teachers/t.mjs#score", "/work/a"), "fn:/work/a/teachers/t.mjs#score");
  assert.equal(absoluteTeacherSpec("runs/teacher/model", "/work/a"), "/work/a/runs/teacher/model");
  assert.equal(absoluteTeacherSpec("/abs/model.onnx", "/work/a"), "/abs/model.onnx");
});

test("a worker's label-shard job writes the bytes labelDataset writes, reuses a shard already there, and refuses another teacher or a missing folder", async () => {
  const { dir, cleanup } = tempDir("tsdistill-queue-units-");
  try {
    const problem = writeLabelProblem(join(dir, "problem"), { rows: 150 });
    const split = { seed: 42 };
    const data = loadSplits(problem.data, split).train;
    const opened = await openTeachers([problem.teacher], data);
    const manifest = await labelDataset(opened.teacher, data, join(dir, "local"), { teacherHash: opened.hash, shardSize: 25 });
    await opened.close();
    const { shards: _s, createdAt: _c, ...settings } = manifest;
    const source: LabelSource = { teachers: [problem.teacher], data: problem.data, split, splitName: "train", backend: "cpu" };
    const out = join(dir, "remote");
    mkdirSync(out);
    const numShards = manifest.shards.length;
    const job = (s: LabelCacheSettings, d = out): LabelShardJob => ({ kind: "label-shard", source, dir: d, settings: s, index: 2, numShards, batchSize: 25 });

    const r = await runLabelShard(job(settings), "test-worker");
    assert.equal(r.reused, false);
    const file = shardFileName(2, numShards);
    assert.deepEqual(readFileSync(join(out, file)), readFileSync(join(dir, "local", file)), "same bytes as labelDataset");
    assert.equal(r.sha256, manifest.shards[2].sha256);
    const again = await runLabelShard(job(settings), "test-worker");
    assert.equal(again.reused, true, "a complete shard on disk is not computed or written again");

    await assert.rejects(runLabelShard({ ...job({ ...settings, teacherHash: "f".repeat(64) }), index: 3 }, "w"), (e: Error) => e.name === "SourceMismatch" && /teacher hash/.test(e.message));
    await assert.rejects(runLabelShard({ ...job({ ...settings, datasetHash: "0".repeat(64) }), index: 3 }, "w"), (e: Error) => e.name === "SourceMismatch" && /data set hash/.test(e.message));
    await assert.rejects(runLabelShard(job(settings, join(dir, "not-mounted")), "w"), (e: Error) => e.name === "SourceMismatch" && /does not exist on this machine/.test(e.message));
    assert.ok(!existsSync(join(out, shardFileName(3, numShards))));
  } finally {
    await closeLabelSource();
    cleanup();
  }
});

test("label via the queue (local stand-in Redis, in-process worker): a shard whose teacher keeps failing stops the coordinator with one line naming it; finished shards stay for a rerun", { skip: redisMissing, timeout: 120_000 }, async () => {
  const { dir, cleanup } = tempDir("tsdistill-queue-fail-");
  const redis = await LocalRedis.start(join(dir, "redis"));
  const stop = new AbortController();
  const lines: string[] = [];
  let worker: Promise<unknown> | null = null;
  try {
    const problem = writeLabelProblem(join(dir, "problem"), { rows: 150 });
    // The same logits, except that rows 40–59 make it throw.
    const failing = join(dir, "problem", "failing.mjs");
    writeFileSync(failing, `import base from "./teacher.mjs";\nexport default async function (input) {\n  if (input.rows.some((r) => r >= 40 && r < 60)) throw new Error("teacher exploded on row 40");\n  return base(input);\n}\n`);
    const teacherSpec = `fn:${failing}`;
    const split = { seed: 42 };
    const data = loadSplits(problem.data, split).train;
    const opened = await openTeachers([teacherSpec], data);
    worker = runQueueWorker({ url: redis.url, concurrency: 1, lockMs: 1500, log: (l) => lines.push(l), signal: stop.signal });
    const out = join(dir, "cache");
    const err = await labelDataset(opened.teacher, data, out, {
      teacherHash: opened.hash,
      shardSize: 20,
      shardRunner: queueShardRunner({ url: redis.url, source: { teachers: [teacherSpec], data: problem.data, split, splitName: "train", backend: "cpu" }, log: (l) => lines.push(l), pollMs: 100 }),
    }).then(
      () => null,
      (e: Error) => e,
    );
    await opened.close();
    assert.ok(err instanceof TsdistillError, `the run failed with a TsdistillError (${err})`);
    assert.match(err.message, /^label --queue: shard 3\/\d+ failed on worker \S+: teacher exploded on row 40$/);
    assert.equal((lines.join("\n").match(/failed shard 3\//g) ?? []).length, 3, "the job was tried 3 times");
    const partial = JSON.parse(readFileSync(join(out, PARTIAL_MANIFEST_FILE), "utf8")) as { shards: { file: string }[] };
    assert.ok(partial.shards.length >= 2, "finished shards are kept in the partial manifest");
    assert.ok(partial.shards.every((s) => !s.file.startsWith("shard-00002-")), "the failed shard is not among them");
  } finally {
    stop.abort();
    await worker;
    await redis.stop();
    cleanup();
  }
});

test("the tracker reads a job's state before the job: a job that completes between the two reads is never reported completed without its result (in-memory stand-in for the queue)", async () => {
  // One record that finishes right after the first read of either kind, as a worker may between two Redis calls.
  const record = { state: "active" as string, returnvalue: null as unknown, progress: {}, failedReason: "" };
  let reads = 0;
  const finishAfterFirstRead = () => {
    if (++reads === 1) Object.assign(record, { state: "completed", returnvalue: { latencyMs: 1.5 } });
  };
  const standIn = {
    add: async () => undefined,
    getJobState: async () => {
      const s = record.state;
      finishAfterFirstRead();
      return s;
    },
    getJob: async () => {
      const snapshot = { ...record, processedBy: undefined };
      finishAfterFirstRead();
      return snapshot;
    },
  };
  const tracker = new JobTracker(standIn as unknown as Queue, { attempts: 1 });
  await tracker.add("j1", { kind: "auto", label: "latency probe mlp:8", job: { kind: "measure" } } as unknown as QueueJob);
  const seen = [await tracker.status("j1"), await tracker.status("j1")];
  for (const s of seen) if (s.state === "completed") assert.deepEqual(s.result, { latencyMs: 1.5 }, "completed with its return value");
  assert.equal(seen[1].state, "completed");
});
