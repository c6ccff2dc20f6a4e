// Helpers for the queue tests (not a test file itself): a local redis-server (Debian's) on 127.0.0.1 with a free
// port and its own temp folder, `tsdistill worker` processes, and a small labelling problem (a CSV data set and
// a function teacher whose batches take a while, so that a worker can be killed mid-shard).
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Rng } from "../src/util/rng.js";
import { needs } from "./prerequisites.js";

export const ROOT = resolve(fileURLToPath(new URL("..", import.meta.url)));
export const REDIS_SERVER = process.env.REDIS_SERVER ?? "/usr/bin/redis-server";
export const redisMissing = needs(existsSync(REDIS_SERVER), REDIS_SERVER, "sudo apt-get install -y redis-server");

export function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const srv = createServer();
    srv.on("error", fail);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => done(port));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A local stand-in for the shared Redis: redis-server on 127.0.0.1, no persistence (a restart forgets every job). */
export class LocalRedis {
  private proc: ChildProcess | null = null;
  log = "";

  private constructor(
    readonly port: number,
    private readonly dir: string,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(dir: string): Promise<LocalRedis> {
    mkdirSync(dir, { recursive: true });
    const r = new LocalRedis(await freePort(), dir);
    await r.up();
    return r;
  }

  private async up(): Promise<void> {
    const proc = spawn(REDIS_SERVER, ["--port", String(this.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", this.dir, "--protected-mode", "yes"], { stdio: ["ignore", "pipe", "pipe"] });
    this.proc = proc;
    proc.stdout!.setEncoding("utf8").on("data", (d) => (this.log += d));
    proc.stderr!.setEncoding("utf8").on("data", (d) => (this.log += d));
    for (let i = 0; i < 200 && !/Ready to accept connections/.test(this.log); i++) {
      if (proc.exitCode !== null) break;
      await sleep(25);
    }
    if (!/Ready to accept connections/.test(this.log)) throw new Error(`redis-server did not start: ${this.log}`);
  }

  /** Stops the server (SIGKILL: nothing is saved) and starts a fresh one on the same port. */
  async restart(downMs = 500): Promise<void> {
    await this.stop();
    await sleep(downMs);
    this.log = "";
    await this.up();
  }

  async stop(): Promise<void> {
    const p = this.proc;
    this.proc = null;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once("exit", r));
    p.kill("SIGKILL");
    await exited;
  }
}

/** A `tsdistill` child process (worker or coordinator) whose stderr is collected. */
export class CliProcess {
  stdout = "";
  stderr = "";
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(
    readonly args: string[],
    readonly proc: ChildProcess,
  ) {
    proc.stdout!.setEncoding("utf8").on("data", (d) => (this.stdout += d));
    proc.stderr!.setEncoding("utf8").on("data", (d) => (this.stderr += d));
    this.exited = new Promise((done) => proc.once("exit", (code, signal) => done({ code, signal })));
  }

  static start(args: string[], cwd = ROOT): CliProcess {
    return new CliProcess(args, spawn(process.execPath, [join(ROOT, "bin", "tsdistill.js"), ...args], { cwd, env: { ...process.env, NO_COLOR: "1" }, stdio: ["ignore", "pipe", "pipe"] }));
  }

  /** Waits until stderr matches (or the process exits, or the time is up: both errors). */
  async waitFor(pattern: RegExp, timeoutMs = 60_000): Promise<RegExpMatchArray> {
    const t0 = Date.now();
    for (;;) {
      const m = this.stderr.match(pattern);
      if (m) return m;
      if (this.proc.exitCode !== null || this.proc.signalCode !== null) throw new Error(`tsdistill ${this.args.join(" ")} exited (${this.proc.exitCode ?? this.proc.signalCode}) before ${pattern}; stderr: ${this.stderr}`);
      if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${pattern} from tsdistill ${this.args.join(" ")}; stderr: ${this.stderr}`);
      await sleep(50);
    }
  }

  async stop(signal: NodeJS.Signals = "SIGTERM", timeoutMs = 15_000): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.proc.kill(signal);
    const timer = setTimeout(() => this.proc.kill("SIGKILL"), timeoutMs);
    await this.exited;
    clearTimeout(timer);
  }
}

export function startWorker(url: string, extra: string[] = []): CliProcess {
  return CliProcess.start(["worker", "--queue", url, "--lock-seconds", "1.5", ...extra]);
}

/**
 * A CSV of `rows` samples (4 numeric features, 3 classes) and a function teacher over it: fixed linear logits of
 * the features, after `delayMs` of waiting per batch (a slow remote teacher that costs no CPU).
 */
export function writeLabelProblem(dir: string, { rows = 240, delayMs = 0 } = {}): { data: string; teacher: string } {
  mkdirSync(dir, { recursive: true });
  const rng = new Rng(11, "queue-problem");
  const lines = ["a,b,c,d,label"];
  for (let i = 0; i < rows; i++) {
    const c = i % 3;
    lines.push([0, 1, 2, 3].map((j) => (rng.normal() + (j === c ? 2 : 0)).toFixed(4)).join(",") + `,k${c}`);
  }
  const csv = join(dir, "points.csv");
  writeFileSync(csv, lines.join("\n") + "\n");
  const teacher = join(dir, "teacher.mjs");
  writeFileSync(
    teacher,
    `// Linear logits of the features; waits ${delayMs} ms per batch.
const W = [[1.5, -0.5, 0.25], [-0.5, 1.25, 0.5], [0.25, -0.75, 1.5], [0.1, 0.2, -0.3]];
export default async function teacher({ x, n }) {
  if (${delayMs} > 0) await new Promise((r) => setTimeout(r, ${delayMs}));
  const out = new Float32Array(n * 3);
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) {
    let s = 0.1 * c;
    for (let j = 0; j < 4; j++) s += x[i * 4 + j] * W[j][c];
    out[i * 3 + c] = s;
  }
  return out;
}
`,
  );
  return { data: `csv:${csv}`, teacher: `fn:${teacher}` };
}

/** Every file of a cache folder (base64), manifest.json without its createdAt; temp files included. */
export function cacheFiles(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const f of readdirSync(dir).sort()) {
    let text = readFileSync(join(dir, f)).toString("base64");
    if (f === "manifest.json") {
      const m = JSON.parse(readFileSync(join(dir, f), "utf8"));
      delete m.createdAt;
      text = JSON.stringify(m);
    }
    out.set(f, text);
  }
  return out;
}
