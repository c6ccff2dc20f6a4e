// Labelling throughput of `tsdistill label`: one process, and `label --queue` with 1 and 2 `tsdistill worker`
// processes on this machine (a local redis-server on 127.0.0.1). The teacher is an untrained mlp:1200-1200 over
// the MNIST transfer set; every run must give the same cache, byte for byte. Times are the coordinator's
// "seconds" (teacher runs and shard writes, after the data and teacher are loaded and checked); the workers are
// started and warmed up before each queued run, but load the data and open the teacher inside the timed part.
//   node --import tsx bench/queue-label.ts [--train-size N] [--shard-size N] [--backend wasm|cpu|native] [--teacher mlp:1200-1200]
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { useBackend } from "../src/engine/backend.js";
import { SequentialModel } from "../src/students/model.js";
import { modelConfigFromSpec } from "../src/students/spec.js";
import { saveModel } from "../src/students/io.js";
import { tempDir } from "../test/helpers.js";
import { cacheFiles, CliProcess, LocalRedis, redisMissing, startWorker } from "../test/queue-helpers.js";

const { values } = parseArgs({ options: { "train-size": { type: "string" }, "shard-size": { type: "string", default: "5000" }, backend: { type: "string", default: "wasm" }, teacher: { type: "string", default: "mlp:1200-1200" } } });
if (redisMissing) throw new Error(redisMissing);
const { dir, cleanup } = tempDir("tsdistill-bench-queue-");

async function label(out: string, queue?: string): Promise<{ seconds: number; samples: number; shards: number }> {
  const args = ["label", "--teacher", join(dir, "teacher"), "--out", out, "--shard-size", String(values["shard-size"]), "--backend", String(values.backend), "--json", "--quiet"];
  if (values["train-size"]) args.push("--train-size", String(values["train-size"]));
  if (queue) args.push("--queue", queue);
  const p = CliProcess.start(args);
  const r = await p.exited;
  if (r.code !== 0) throw new Error(`label failed: ${p.stderr}`);
  const res = JSON.parse(p.stdout) as { seconds: number; samples: number; shards: number };
  return res;
}

try {
  await useBackend("wasm");
  const model = new SequentialModel(modelConfigFromSpec(String(values.teacher), { inputShape: [28, 28, 1], numClasses: 10 }), 3);
  await saveModel(model, join(dir, "teacher"));
  model.dispose();
  const rows: { setup: string; r: { seconds: number; samples: number; shards: number } }[] = [];
  rows.push({ setup: "single process (tsdistill label)", r: await label(join(dir, "single")) });
  const redis = await LocalRedis.start(join(dir, "redis"));
  try {
    for (const n of [1, 2]) {
      const workers = Array.from({ length: n }, () => startWorker(redis.url));
      try {
        await Promise.all(workers.map((w) => w.waitFor(/ready: 1 slot/, 120_000)));
        rows.push({ setup: `label --queue, ${n} worker${n > 1 ? "s" : ""}`, r: await label(join(dir, `queue-${n}`), redis.url) });
      } finally {
        await Promise.all(workers.map((w) => w.stop()));
      }
    }
  } finally {
    await redis.stop();
  }
  const base = cacheFiles(join(dir, "single"));
  for (const n of [1, 2]) if (JSON.stringify([...cacheFiles(join(dir, `queue-${n}`))]) !== JSON.stringify([...base])) throw new Error(`the cache made with ${n} worker(s) differs from the single-process one`);
  console.log(`teacher ${values.teacher} (untrained), MNIST transfer set, shards of ${values["shard-size"]}, backend ${values.backend}; ${cpus().length} cores, load average ${loadavg()[0].toFixed(1)} at the end`);
  console.log("| setup | samples | shards | seconds | samples/s | vs single process |");
  console.log("|---|---:|---:|---:|---:|---:|");
  const s0 = rows[0].r.samples / rows[0].r.seconds;
  for (const { setup, r } of rows) {
    const rate = r.samples / r.seconds;
    console.log(`| ${setup} | ${r.samples} | ${r.shards} | ${r.seconds.toFixed(1)} | ${rate.toFixed(0)} | ${(rate / s0).toFixed(2)}× |`);
  }
  console.log("all three caches are byte-identical");
} finally {
  cleanup();
}
