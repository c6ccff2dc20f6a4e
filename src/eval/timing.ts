import type { LatencyStats } from "./latency.js";

function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i];
}

function stats(times: number[]): LatencyStats {
  const sorted = [...times].sort((a, b) => a - b);
  return { runs: times.length, p50Ms: percentile(sorted, 0.5), p99Ms: percentile(sorted, 0.99), meanMs: times.reduce((a, b) => a + b, 0) / Math.max(times.length, 1) };
}

export interface InterleavedOptions {
  warmup?: number;
  runs?: number;
  /** Stop after this many seconds in all (but never before `minRuns` rounds). */
  maxSeconds?: number;
  minRuns?: number;
}

/**
 * Times several functions (each must finish its work synchronously, e.g. end in dataSync) in the same process,
 * round-robin: every round runs each function once, so drift in machine load affects all of them alike. The
 * percentiles follow measureLatency's rule (nearest rank).
 */
export function measureInterleaved(fns: (() => void)[], { warmup = 10, runs = 200, maxSeconds = 5, minRuns = 10 }: InterleavedOptions = {}): LatencyStats[] {
  for (let w = 0; w < warmup; w++) for (const fn of fns) fn();
  const times = fns.map(() => [] as number[]);
  const deadline = performance.now() + maxSeconds * 1000;
  for (let r = 0; r < runs && (r < minRuns || performance.now() < deadline); r++) {
    fns.forEach((fn, i) => {
      const t0 = performance.now();
      fn();
      times[i].push(performance.now() - t0);
    });
  }
  return times.map(stats);
}
