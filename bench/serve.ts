// Throughput and latency of `tsdistill serve` for both runtimes, side by side: an mlp:800-800 student on
// [28, 28, 1] (random weights: speed does not depend on training) saved to a temp folder and exported to ONNX,
// served in-process on 127.0.0.1 by TF.js (wasm) and by onnxruntime-node, and driven over HTTP keep-alive with a
// bounded number of requests. Client and servers share this process (and its event loop), so the numbers include
// the client's cost; both runtimes pay it alike.
// Run: node --import tsx bench/serve.ts   (about 15 s on 2 cores)
import http from "node:http";
import { cpus, tmpdir } from "node:os";
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { useBackend } from "../src/engine/backend.js";
import { saveOnnx } from "../src/export/onnx.js";
import { saveModel } from "../src/students/io.js";
import { SequentialModel } from "../src/students/model.js";
import { modelConfigFromSpec } from "../src/students/spec.js";
import { startServer, type RunningServer } from "../src/serve/server.js";
import { Rng } from "../src/util/rng.js";

const SPEC = "mlp:800-800";
const SHAPE = [28, 28, 1];
const SIZE = 784;

interface Scenario {
  name: string;
  batch: number;
  concurrency: number;
  requests: number;
}
const SCENARIOS: Scenario[] = [
  { name: "single, concurrency 1", batch: 1, concurrency: 1, requests: 500 },
  { name: "single, concurrency 8", batch: 1, concurrency: 8, requests: 2000 },
  { name: "batch 32, concurrency 8", batch: 32, concurrency: 8, requests: 200 },
];
const WARMUP = 50;

function sample(rng: Rng): number[] {
  return Array.from({ length: SIZE }, () => Math.round(rng.next() * 1e4) / 1e4);
}

/** A pool of distinct request bodies per batch size (reused round-robin). */
function bodies(batch: number, count: number, seed: number): Buffer[] {
  const rng = new Rng(seed, "bench-serve", batch);
  return Array.from({ length: count }, () =>
    Buffer.from(JSON.stringify(batch === 1 ? { input: sample(rng) } : { inputs: Array.from({ length: batch }, () => sample(rng)) })),
  );
}

function post(agent: http.Agent, url: URL, body: Buffer): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: url.hostname, port: url.port, path: "/predict", method: "POST", agent, headers: { "content-type": "application/json", "content-length": body.length } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

interface Result {
  requests: number;
  samples: number;
  seconds: number;
  p50: number;
  p99: number;
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

async function drive(server: RunningServer, sc: Scenario, pool: Buffer[], requests: number): Promise<Result> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: sc.concurrency });
  const url = new URL(server.url);
  const latencies: number[] = [];
  let next = 0;
  const t0 = performance.now();
  const worker = async () => {
    while (next < requests) {
      const i = next++;
      const t = performance.now();
      const { status, text } = await post(agent, url, pool[i % pool.length]);
      latencies.push(performance.now() - t);
      if (status !== 200) throw new Error(`${server.predictor.runtime}: HTTP ${status}: ${text.slice(0, 200)}`);
      if (i === 0 && (JSON.parse(text) as { predictions: unknown[] }).predictions.length !== sc.batch) throw new Error("wrong prediction count");
    }
  };
  await Promise.all(Array.from({ length: sc.concurrency }, worker));
  const seconds = (performance.now() - t0) / 1000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return { requests, samples: requests * sc.batch, seconds, p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99) };
}

async function classes(server: RunningServer, body: Buffer): Promise<number[]> {
  const agent = new http.Agent({ keepAlive: false });
  const { text } = await post(agent, new URL(server.url), body);
  return (JSON.parse(text) as { predictions: { class: number }[] }).predictions.map((p) => p.class);
}

async function main() {
  const backend = await useBackend("wasm");
  const work = mkdtempSync(join(tmpdir(), "tsdistill-bench-serve-"));
  const servers: RunningServer[] = [];
  try {
    const model = new SequentialModel(modelConfigFromSpec(SPEC, { inputShape: SHAPE, numClasses: 10 }), 42);
    const modelDir = join(work, "student");
    await saveModel(model, modelDir, { spec: SPEC });
    saveOnnx(model, `${modelDir}.onnx`);
    const params = model.paramCount;
    model.dispose();

    const tfjs = await startServer({ modelDir, backend });
    const onnx = await startServer({ modelDir, onnx: `${modelDir}.onnx`, backend });
    servers.push(tfjs, onnx);

    const pools = new Map<number, Buffer[]>();
    for (const sc of SCENARIOS) if (!pools.has(sc.batch)) pools.set(sc.batch, bodies(sc.batch, sc.batch === 1 ? 64 : 8, 7));

    // The two runtimes must answer the same classes (the comparison is of the same model).
    const check = pools.get(32) ?? bodies(32, 1, 8);
    const [a, b] = [await classes(tfjs, check[0]), await classes(onnx, check[0])];
    const agree = a.filter((c, i) => c === b[i]).length;

    const cpu = cpus();
    process.stdout.write(
      `tsdistill serve bench: ${SPEC} on [${SHAPE}] (${params.toLocaleString("en-US")} params), 127.0.0.1, HTTP/1.1 keep-alive, in-process client\n` +
        `node ${process.version}, ${cpu.length} × ${cpu[0]?.model.trim() ?? "?"}; TF.js backend ${backend}; onnxruntime-node CPU, 1 intra-op thread\n` +
        `same class on a 32-sample check batch: ${agree}/32\n\n`,
    );
    const rows: string[][] = [["runtime", "scenario", "requests", "wall s", "req/s", "samples/s", "p50 ms", "p99 ms"]];
    for (const sc of SCENARIOS) {
      const pool = pools.get(sc.batch)!;
      for (const [label, server] of [[`tfjs (${backend})`, tfjs], ["onnxruntime", onnx]] as const) {
        await drive(server, { ...sc }, pool, Math.min(WARMUP, sc.requests)); // warm-up (not timed)
        const r = await drive(server, sc, pool, sc.requests);
        rows.push([label, sc.name, String(r.requests), r.seconds.toFixed(2), (r.requests / r.seconds).toFixed(0), (r.samples / r.seconds).toFixed(0), r.p50.toFixed(2), r.p99.toFixed(2)]);
        process.stderr.write(`  done: ${label}, ${sc.name}\n`);
      }
    }
    const widths = rows[0].map((_, j) => Math.max(...rows.map((r) => r[j].length)));
    const fmt = (r: string[]) => r.map((c, j) => (j < 2 ? c.padEnd(widths[j]) : c.padStart(widths[j]))).join("  ");
    process.stdout.write([fmt(rows[0]), widths.map((w) => "-".repeat(w)).join("  "), ...rows.slice(1).map(fmt)].join("\n") + "\n");
  } finally {
    await Promise.all(servers.map((s) => s.close(100)));
    rmSync(work, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`bench/serve: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);
