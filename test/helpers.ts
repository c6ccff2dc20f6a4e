// Shared test helpers (not a test file itself: the runner only picks up *.test.ts).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { InMemoryDataset } from "../src/data/dataset.js";
import { Rng } from "../src/util/rng.js";

/** A fresh temp folder, removed when the test ends (pass the test context's `after`). */
export function tempDir(prefix = "tsdistill-test-"): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

function flat(a: ArrayLike<number> | number[] | number): number[] {
  if (typeof a === "number") return [a];
  return Array.from(a as ArrayLike<number>);
}

/**
 * Asserts |a − b| ≤ atol + rtol·|b| element-wise, where atol = atolScale·max|b| (plus a tiny floor), and names
 * the worst element on failure.
 */
export function assertAllClose(
  actual: ArrayLike<number> | number,
  expected: ArrayLike<number> | number,
  { rtol = 1e-4, atolScale = 1e-5, atol: atolFixed = 0, what = "values" }: { rtol?: number; atolScale?: number; atol?: number; what?: string } = {},
): void {
  const a = flat(actual);
  const b = flat(expected);
  assert.equal(a.length, b.length, `${what}: length ${a.length} vs expected ${b.length}`);
  let maxAbs = 0;
  for (const v of b) maxAbs = Math.max(maxAbs, Math.abs(v));
  const atol = Math.max(atolFixed, atolScale * maxAbs, 1e-30);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(a[i]) || !Number.isFinite(b[i])) {
      if (!(Number.isNaN(a[i]) && Number.isNaN(b[i])) && a[i] !== b[i]) {
        worst = i;
        worstExcess = Infinity;
        break;
      }
      continue;
    }
    const excess = Math.abs(a[i] - b[i]) / (atol + rtol * Math.abs(b[i]));
    if (excess > 1 && excess > worstExcess) {
      worst = i;
      worstExcess = excess;
    }
  }
  if (worst >= 0) {
    assert.fail(
      `${what}: element ${worst} of ${a.length} is ${a[worst]}, expected ${b[worst]} ` +
        `(|diff| ${Math.abs(a[worst] - b[worst]).toExponential(3)} > atol ${atol.toExponential(3)} + rtol ${rtol} · |expected|; max|expected| ${maxAbs.toExponential(3)})`,
    );
  }
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

const ROOT = resolve(fileURLToPath(new URL("..", import.meta.url)));

/** Runs bin/tsdistill.js as users do (dist/ when built, else the sources via tsx) and collects its output. */
export function runCli(args: string[], timeoutMs = 120_000): Promise<Run> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [join(ROOT, "bin", "tsdistill.js"), ...args], { cwd: ROOT, env: { ...process.env, NO_COLOR: "1" }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      fail(new Error(`tsdistill ${args.join(" ")} timed out after ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    child.on("error", fail);
    child.on("close", (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr });
    });
  });
}

/** A teacher batch of n samples from row-major features (rows 0…n−1, no raw samples). */
export function featureBatch(x: Float32Array, n: number, sampleShape: number[]): { x: Float32Array; n: number; sampleShape: number[]; rows: Int32Array } {
  return { x, n, sampleShape, rows: Int32Array.from({ length: n }, (_, i) => i) };
}

/** n samples of 3 classes (i mod 3) in `dims` dimensions: the class's centre per dimension plus Gaussian noise, seeded. */
function gaussianBlobs(n: number, seed: number, dims: number, centre: (dim: number, label: number) => number, std: number): InMemoryDataset {
  const rng = new Rng(seed, "blobs");
  const x = new Float32Array(n * dims);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = i % 3;
    for (let d = 0; d < dims; d++) x[i * dims + d] = centre(d, y[i]) + rng.normal() * std;
  }
  return new InMemoryDataset(`blobs-${seed}`, x, y, [dims], 3);
}

/** Three Gaussian blobs in 8 dimensions, seeded. */
export function blobs(n: number, seed: number): InMemoryDataset {
  return gaussianBlobs(n, seed, 8, (d, k) => (d % 3 === k ? 1.5 : 0), 0.7);
}

/** Three blobs in 4 dimensions, one per axis 3 units out (seeded): separable for any small model. */
export function separableBlobs(n: number, seed: number): InMemoryDataset {
  return gaussianBlobs(n, seed, 4, (d, k) => (d === k ? 3 : 0), 0.5);
}
