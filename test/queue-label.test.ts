// `tsdistill label --queue` against a local stand-in for the shared Redis (Debian's redis-server on 127.0.0.1,
// a free port, no persistence) with 2–3 `tsdistill worker` processes: the cache equals a single-process run byte
// for byte; a worker killed with SIGKILL mid-shard hands its job to another and no shard is written twice; a
// Redis restart mid-run (every job forgotten) loses no finished shard and the run still completes.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { cacheFiles, CliProcess, LocalRedis, redisMissing, startWorker, writeLabelProblem } from "./queue-helpers.js";
import { tempDir } from "./helpers.js";

const { dir, cleanup } = tempDir("tsdistill-queue-label-");
let problem: { data: string; teacher: string };
let baseline: Map<string, string>;
// 173 transfer samples in shards of 20: 9 shards; each teacher batch (one per shard) waits 800 ms.
const labelArgs = (out: string, queue?: string) => ["label", "--teacher", problem.teacher, "--data", problem.data, "--out", out, "--shard-size", "20", "--backend", "cpu", "--json", ...(queue ? ["--queue", queue] : [])];

before(async () => {
  if (redisMissing) return;
  problem = writeLabelProblem(join(dir, "problem"), { rows: 240, delayMs: 800 });
  const single = CliProcess.start([...labelArgs(join(dir, "single")), "--quiet"]);
  const r = await single.exited;
  assert.equal(r.code, 0, single.stderr);
  baseline = cacheFiles(join(dir, "single"));
  assert.equal([...baseline.keys()].filter((f) => f.startsWith("shard-")).length, 9);
});
after(() => cleanup());

/** "wrote shard i/n" lines per shard index over the workers' logs. */
function writes(workers: CliProcess[]): Map<number, string[]> {
  const out = new Map<number, string[]>();
  workers.forEach((w, k) => {
    for (const m of w.stderr.matchAll(/wrote shard (\d+)\/\d+/g)) (out.get(Number(m[1])) ?? out.set(Number(m[1]), []).get(Number(m[1]))!).push(`worker ${k}`);
  });
  return out;
}

test("label --queue, 3 workers (local stand-in Redis), one SIGKILLed mid-shard: its job goes to another worker, every shard is written once, the cache is byte-identical to a single-process label", { skip: redisMissing, timeout: 180_000 }, async () => {
  const redis = await LocalRedis.start(join(dir, "redis-a"));
  const workers = [startWorker(redis.url), startWorker(redis.url), startWorker(redis.url)];
  try {
    await Promise.all(workers.map((w) => w.waitFor(/ready: 1 slot/)));
    const out = join(dir, "queued-a");
    const coord = CliProcess.start(labelArgs(out, redis.url));
    // Kill the first worker that starts a shard, while its teacher batch is still waiting.
    let victim = -1;
    let shard = 0;
    for (let tries = 0; victim < 0 && tries < 1200; tries++) {
      workers.forEach((w, k) => {
        const m = victim < 0 ? /started shard (\d+)\/9/.exec(w.stderr) : null;
        if (m) [victim, shard] = [k, Number(m[1])];
      });
      if (victim < 0) await new Promise((r) => setTimeout(r, 25));
    }
    assert.ok(victim >= 0, `no worker started a shard; coordinator: ${coord.stderr}`);
    workers[victim].proc.kill("SIGKILL");
    const r = await coord.exited;
    assert.equal(r.code, 0, coord.stderr);
    const res = JSON.parse(coord.stdout);
    assert.equal(res.shards, 9);
    assert.equal(res.shardsComputed, 9);

    assert.doesNotMatch(workers[victim].stderr, new RegExp(`wrote shard ${shard}/`), "the killed worker never finished its shard");
    const w = writes(workers);
    assert.equal(w.get(shard)?.length, 1, `shard ${shard} was written by exactly one other worker`);
    assert.notEqual(w.get(shard)![0], `worker ${victim}`);
    for (let i = 1; i <= 9; i++) assert.equal(w.get(i)?.length, 1, `shard ${i} written once (${JSON.stringify([...w])})`);
    assert.match(coord.stderr, new RegExp(`shard ${shard}/9 written by (?!\\S*:${workers[victim].proc.pid}\\b)`), "the coordinator names the worker that wrote it");
    assert.match(coord.stderr, /running: \S+ \(1\), \S+ \(1\)/, "the coordinator shows the jobs running per worker");
    assert.deepEqual(cacheFiles(out), baseline, "same files, same bytes (manifest without its time) as a single-process label");
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    await redis.stop();
  }
});

test("label --queue, 2 workers (local stand-in Redis): a Redis restart mid-run (all jobs forgotten) loses no finished shard; the coordinator queues the missing ones again and the cache is byte-identical", { skip: redisMissing, timeout: 180_000 }, async () => {
  const redis = await LocalRedis.start(join(dir, "redis-b"));
  const workers = [startWorker(redis.url), startWorker(redis.url)];
  try {
    await Promise.all(workers.map((w) => w.waitFor(/ready: 1 slot/)));
    const out = join(dir, "queued-b");
    const coord = CliProcess.start(labelArgs(out, redis.url));
    await coord.waitFor(/\(2\/9 on disk\)/, 120_000);
    const onDisk = readdirSync(out).filter((f) => /^shard-.*\.safetensors$/.test(f));
    await redis.restart(800);
    const r = await coord.exited;
    assert.equal(r.code, 0, coord.stderr);
    assert.match(coord.stderr, /Redis no longer knew its job \(restarted\?\); queued it again/, "the coordinator noticed the lost jobs");
    assert.match(workers[0].stderr + workers[1].stderr, /Redis at .* is back/, "the workers reconnected");
    assert.deepEqual(cacheFiles(out), baseline, "same files, same bytes as a single-process label");
    // Finished work survived: the shards on disk before the restart were never computed again.
    const after = writes(workers);
    for (const f of onDisk) {
      const i = Number(/^shard-(\d+)/.exec(f)![1]) + 1;
      assert.equal(after.get(i)?.length ?? 0, 1, `shard ${i} (on disk before the restart) was written once`);
    }
    assert.ok(!existsSync(join(out, "manifest.partial.json")));
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    await redis.stop();
  }
});
