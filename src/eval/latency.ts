export interface LatencyStats {
  runs: number;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
}

function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i];
}

/** Times `fn` (which must finish its work synchronously, e.g. end in dataSync) after a warm-up. */
export function measureLatency(fn: () => void, { warmup = 20, runs = 200, maxSeconds = 5 } = {}): LatencyStats {
  for (let i = 0; i < warmup; i++) fn();
  const times: number[] = [];
  const deadline = performance.now() + maxSeconds * 1000;
  for (let i = 0; i < runs && (i < 10 || performance.now() < deadline); i++) {
    const t0 = performance.now();
    fn();
    times.push(performance.now() - t0);
  }
  const sorted = [...times].sort((a, b) => a - b);
  return { runs: times.length, p50Ms: percentile(sorted, 0.5), p99Ms: percentile(sorted, 0.99), meanMs: times.reduce((a, b) => a + b, 0) / times.length };
}
